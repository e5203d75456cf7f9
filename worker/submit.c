/* SPDX-License-Identifier: MIT */
/* ralph-worker submit: a producer for a fleet.  Each job is checked as a
 * worker would check it (the same executor_admit and policy) before any is
 * queued, then queued under its task id, and with --wait its result is
 * waited for and printed.  Steps: load and admit every job, enqueue each
 * (one that already has a result is not queued again), then print the
 * task ids or wait for the results. */
#include "worker/submit.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "executor/executor.h"
#include "executor/job_result.h"
#include "executor/operator_policy.h"
#include "executor/rx_json.h"
#include "executor/rx_util.h"
#include "worker/queue.h"

/* How long the first look for a result waits, and the most any wait does:
 * doubling between them, so that a long job costs a look a second. */
#define SUBMIT_POLL_FIRST_MS 50
#define SUBMIT_POLL_MAX_MS 1000

/* One job on the command line. */
struct entry {
    const char *file;
    char *payload; /* what is queued: the document, with a task_id added if it had none */
    size_t len;
    char *task_id;
    char *result; /* the stored result, once there */
};

struct submit {
    const struct submit_opts *o;
    struct entry *e;
    size_t n;
    struct queue *q;
    struct operator_policy policy;
    bool policy_loaded;
};

static void print_result(const char *json);

/* The document as queued: as written when it names its task id, else with
 * the id admission gave it (so that the result can be found). */
static void
with_task_id(struct entry *e, const struct job_spec *job)
{
    e->task_id = xstrdup(job->task_id);
    if (!job->task_id_generated)
        return;
    cleanup_json struct json_object *o = rx_json_parse(e->payload, e->len, "job", NULL);
    json_object_object_add(o, "task_id", json_object_new_string(job->task_id));
    free(e->payload);
    e->payload = xstrdup(rx_json_compact(o));
    e->len = strlen(e->payload);
}

/* Every job read and admitted before any is queued: one refused job
 * refuses the submission (exit 2), naming its file and field. */
static int
step_admit(struct submit *s, struct rx_error **err)
{
    if (operator_policy_load(s->o->policy_path, &s->policy, err) < 0)
        return -1;
    s->policy_loaded = true;
    for (size_t i = 0; i < s->n; i++) {
        struct entry *e = &s->e[i];
        if (job_spec_read(e->file, &e->payload, &e->len, err) < 0)
            return -1;
        struct executor_opts opts;
        executor_opts_defaults(&opts);
        cleanup_job_result struct job_result res;
        job_result_init(&res);
        const struct job_doc doc = {.bytes = e->payload, .len = e->len};
        cleanup_job_spec struct job_spec *job = executor_admit(&doc, &s->policy, &opts, &res);
        if (job == NULL)
            return rx_error_reject(err, "%s: %s", e->file, res.error ? res.error : "rejected");
        with_task_id(e, job);
    }
    return 0;
}

/* Each job queued, unless its task id already has a result (printed, not
 * run again); without --wait each line is printed as its job is queued,
 * so that a failure part way still says what went in. */
static int
step_enqueue(struct submit *s, struct rx_error **err)
{
    /* A producer, not a worker: it never claims, beats or registers. */
    cleanup_free char *me = xasprintf("submit-%ld", (long)getpid());
    struct queue_cfg c = {.worker_id = me,
                          .prefix = s->o->prefix,
                          .lease_ms = 30000,
                          .max_attempts = 1,
                          .must_exist = true};
    s->q = queue_open(s->o->queue_url, &c, err);
    if (s->q == NULL)
        return -1;
    for (size_t i = 0; i < s->n; i++) {
        struct entry *e = &s->e[i];
        size_t len = 0;
        if (s->q->ops->result_get(s->q, e->task_id, &e->result, &len, err) < 0)
            return -1;
        bool queued = false;
        if (e->result == NULL &&
            s->q->ops->enqueue(s->q, e->task_id, e->payload, e->len, &queued, err) < 0)
            return -1;
        if (e->result == NULL && !queued)
            fprintf(stderr,
                    "ralph-worker submit: %s: a job is already queued as %s: this one was not "
                    "queued (its result will be that job's)\n",
                    e->file, e->task_id);
        if (!s->o->wait && e->result != NULL)
            print_result(e->result);
        else if (!s->o->wait)
            printf("%s\n", e->task_id);
        fflush(stdout);
    }
    return 0;
}

/* The results, as they come: a look at each missing one, then a wait
 * that doubles up to SUBMIT_POLL_MAX_MS.  0 when all came, 1 at the
 * timeout. */
static int
step_wait(struct submit *s, struct rx_error **err)
{
    long long deadline = s->o->timeout_ms > 0 ? rx_now_ms() + s->o->timeout_ms : 0;
    long pause = SUBMIT_POLL_FIRST_MS;
    for (;;) {
        size_t missing = 0;
        for (size_t i = 0; i < s->n; i++) {
            size_t len = 0;
            if (s->e[i].result == NULL &&
                s->q->ops->result_get(s->q, s->e[i].task_id, &s->e[i].result, &len, err) < 0)
                return -1;
            missing += s->e[i].result == NULL;
        }
        if (missing == 0)
            return 0;
        if (deadline > 0 && rx_now_ms() >= deadline)
            return 1;
        long left = deadline > 0 ? (long)(deadline - rx_now_ms()) : pause;
        rx_sleep_ms(pause < left ? pause : left);
        pause = pause * 2 < SUBMIT_POLL_MAX_MS ? pause * 2 : SUBMIT_POLL_MAX_MS;
    }
}

/* A result as printed: one line (a spool file may end with a newline). */
static void
print_result(const char *json)
{
    size_t n = strlen(json);
    while (n > 0 && (json[n - 1] == '\n' || json[n - 1] == '\r'))
        n--;
    printf("%.*s\n", (int)n, json);
}

/* A stored result's exit code, as ralph-exec's for its status. */
static int
result_exit_code(const char *json)
{
    cleanup_json struct json_object *o = rx_json_parse(json, strlen(json), "result", NULL);
    const char *st = rx_json_get_str(o, "status");
    for (int i = 0; st != NULL && i <= JOB_INFRA_ERROR; i++)
        if (strcmp(st, job_status_name((enum job_status)i)) == 0)
            return job_status_exit_code((enum job_status)i);
    return SUBMIT_EXIT_INFRA; /* not a result we can read */
}

int
worker_submit(const struct submit_opts *o)
{
    struct submit s = {.o = o, .n = o->n_files};
    s.e = xcalloc(s.n ? s.n : 1, sizeof(*s.e));
    for (size_t i = 0; i < s.n; i++)
        s.e[i].file = o->files[i];
    struct rx_error *err = NULL;
    int code = 0;
    if (step_admit(&s, &err) < 0) {
        code = SUBMIT_EXIT_REJECTED;
    } else if (step_enqueue(&s, &err) < 0) {
        code = err->kind == RX_ERR_REJECTED ? SUBMIT_EXIT_REJECTED : SUBMIT_EXIT_INFRA;
    } else if (!o->wait) {
        for (size_t i = 0; i < s.n; i++)
            if (s.e[i].result != NULL && code == 0)
                code = result_exit_code(s.e[i].result);
    } else {
        int w = step_wait(&s, &err);
        /* What came is printed, whatever ended the wait. */
        for (size_t i = 0; i < s.n; i++) {
            if (s.e[i].result == NULL)
                continue;
            print_result(s.e[i].result);
            int rc = result_exit_code(s.e[i].result);
            code = code == 0 ? rc : code;
        }
        if (w == 1) {
            fprintf(stderr, "ralph-worker submit: timed out waiting; still queued:");
            for (size_t i = 0; i < s.n; i++)
                if (s.e[i].result == NULL)
                    fprintf(stderr, " %s", s.e[i].task_id);
            fputc('\n', stderr);
            code = SUBMIT_EXIT_TIMEOUT;
        }
        if (w < 0)
            code = SUBMIT_EXIT_INFRA;
    }
    if (err != NULL)
        fprintf(stderr, "ralph-worker submit: %s\n", err->msg);
    rx_error_free(&err);
    fflush(stdout);
    if (s.q != NULL)
        s.q->ops->close(s.q);
    if (s.policy_loaded)
        operator_policy_free(&s.policy);
    for (size_t i = 0; i < s.n; i++) {
        free(s.e[i].payload);
        free(s.e[i].task_id);
        free(s.e[i].result);
    }
    free(s.e);
    return code;
}
