/* SPDX-License-Identifier: MIT */
/* The worker's metrics without a worker: what its log events count, the
 * exposition's lines, when it is ready, which addresses it serves on. */
#include "worker/metrics.c"

#include "tests/lib/tap.h"

static void
event(struct metrics *m, const char *name, const char *status, long long ms)
{
    struct json_object *f = json_object_new_object();
    if (status != NULL)
        json_object_object_add(f, "status", json_object_new_string(status));
    if (ms >= 0)
        json_object_object_add(f, "duration_ms", json_object_new_int64(ms));
    metrics_event(m, name, f);
    json_object_put(f);
}

/* What a job's end says of the engine (readyz's engine check between two
 * sweeps): a table of outcomes. */
static void
engine_seen(void)
{
    static const struct {
        enum job_status st;
        enum job_infra_cause cause;
        bool answered;
        int want;
        const char *what;
    } cases[] = {
        {JOB_SUCCESS, JOB_INFRA_NONE, true, 1, "a job that ran: the engine answered"},
        {JOB_ERROR, JOB_INFRA_NONE, false, 1, "an error is the job's: the engine ran it"},
        {JOB_TIMEOUT, JOB_INFRA_NONE, false, 1, "a timeout: the engine ran it"},
        {JOB_OOM, JOB_INFRA_NONE, false, 1, "oom: the engine ran it"},
        {JOB_RESULT_INVALID, JOB_INFRA_NONE, false, 1, "result_invalid: the engine ran it"},
        {JOB_REJECTED, JOB_INFRA_NONE, true, -1, "rejected: nothing learned"},
        {JOB_INFRA_ERROR, JOB_INFRA_ENGINE, false, 0, "engine gone, the probe unanswered: 0"},
        {JOB_INFRA_ERROR, JOB_INFRA_ENGINE, true, 1, "an engine error, the probe answered: 1"},
        {JOB_INFRA_ERROR, JOB_INFRA_JOB_IMAGE, true, 1, "a missing image, the engine up: 1"},
        {JOB_INFRA_ERROR, JOB_INFRA_JOB_IMAGE, false, 0, "a missing image, the engine gone: 0"},
        {JOB_INFRA_ERROR, JOB_INFRA_DEPS, true, 1, "a failed requirements build: 1"},
        {JOB_INFRA_ERROR, JOB_INFRA_CANCELLED, false, -1, "stopped by the worker: nothing"},
    };
    for (size_t i = 0; i < RX_ARRAY_SIZE(cases); i++)
        ok(metrics_engine_seen(cases[i].st, cases[i].cause, cases[i].answered) == cases[i].want,
           "%s", cases[i].what);
}

int
main(void)
{
    engine_seen();
    struct metrics *m = metrics_new("v1-test");
    metrics_set(m, METRICS_SLOTS, 4);
    event(m, "job_done", "success", 80);
    event(m, "job_done", "success", 3000);
    event(m, "job_done", "error", 400);
    event(m, "job_done", "rejected", -1);
    event(m, "job_requeued", NULL, -1);
    event(m, "job_infra_error", NULL, -1);
    event(m, "job_dead", NULL, -1);
    event(m, "job_start", NULL, -1); /* counted by nothing */
    char *t = metrics_text(m);
    like(t, "ralph_build_info{version=\"v1-test\"} 1\n", "build info");
    like(t, "# TYPE ralph_jobs_total counter\n", "jobs_total is a counter");
    like(t, "ralph_jobs_total{status=\"success\"} 2\n", "two successes");
    like(t, "ralph_jobs_total{status=\"error\"} 1\n", "one error");
    like(t, "ralph_jobs_total{status=\"rejected\"} 1\n", "one rejected (no duration)");
    like(t, "ralph_jobs_total{status=\"timeout\"} 0\n", "statuses never seen are 0");
    ok(strstr(t, "status=\"infra_error\"") == NULL, "infra_error is no finished job's status");
    like(t, "ralph_job_duration_seconds_bucket{le=\"0.1\"} 1\n", "0.08 s in the 0.1 bucket");
    like(t, "ralph_job_duration_seconds_bucket{le=\"0.5\"} 2\n", "buckets are cumulative");
    like(t, "ralph_job_duration_seconds_bucket{le=\"5\"} 3\n", "3 s by the 5 s bucket");
    like(t, "ralph_job_duration_seconds_bucket{le=\"+Inf\"} 3\n", "+Inf holds every timed job");
    like(t, "ralph_job_duration_seconds_sum 3.480\nralph_job_duration_seconds_count 3\n",
         "sum and count");
    like(t, "ralph_slots 4\n", "slots");
    ok(strstr(t, "ralph_queue_depth") == NULL, "no queue depth before one is known");
    like(t, "ralph_requeued_total 1\n", "requeued");
    like(t, "ralph_infra_errors_total 1\n", "infra errors");
    like(t, "ralph_dead_total 1\n", "dead");
    like(t, "ralph_breaker_open 0\n", "breaker closed");
    free(t);

    const char *why = NULL;
    ok(!metrics_ready(m, &why) && strstr(why, "not taking") != NULL,
       "not ready before the slots take jobs");
    metrics_set(m, METRICS_TAKING, 1);
    ok(metrics_ready(m, &why), "ready once they do");
    metrics_set(m, METRICS_QUEUE_OK, 0);
    ok(!metrics_ready(m, &why) && strstr(why, "queue") != NULL, "not ready: the queue (%s)",
       why ? why : "");
    metrics_set(m, METRICS_QUEUE_OK, 1);
    metrics_set(m, METRICS_ENGINE_OK, 0);
    ok(!metrics_ready(m, &why) && strstr(why, "engine") != NULL, "not ready: the engine");
    metrics_set(m, METRICS_ENGINE_OK, 1);
    event(m, "stopping", NULL, -1);
    ok(!metrics_ready(m, &why) && strstr(why, "draining") != NULL, "not ready: draining");
    event(m, "breaker_tripped", NULL, -1);
    ok(!metrics_ready(m, &why) && strstr(why, "breaker") != NULL, "not ready: the breaker");
    t = metrics_text(m);
    like(t, "ralph_breaker_open 1\n", "breaker open");
    free(t);

    static const char *const bad[] = {"",      "x",          "127.0.0.1:", "localhost:9100",
                                      "70000", "1.2.3:9100", "[::1:9100",  "0"};
    for (size_t i = 0; i < RX_ARRAY_SIZE(bad); i++) {
        struct rx_error *err = NULL;
        struct sockaddr_storage ss;
        ok(parse_addr(bad[i], &ss, &err) < 0 && err->kind == RX_ERR_REJECTED,
           "address \"%s\" refused", bad[i]);
        rx_error_free(&err);
    }
    static const struct {
        const char *addr;
        int family;
    } good[] = {{"9100", AF_INET}, {"0.0.0.0:9100", AF_INET}, {"[::1]:9100", AF_INET6}};
    for (size_t i = 0; i < RX_ARRAY_SIZE(good); i++) {
        struct rx_error *err = NULL;
        struct sockaddr_storage ss;
        ok(parse_addr(good[i].addr, &ss, &err) == 0 && ss.ss_family == good[i].family,
           "address \"%s\" taken", good[i].addr);
        rx_error_free(&err);
    }
    struct sockaddr_storage ss;
    struct rx_error *err = NULL;
    parse_addr("9100", &ss, &err);
    ok(((struct sockaddr_in *)&ss)->sin_addr.s_addr == htonl(INADDR_LOOPBACK),
       "a port alone listens on loopback");
    metrics_free(m);
    return done_testing();
}
