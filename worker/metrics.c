/* SPDX-License-Identifier: MIT */
#include "worker/metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "executor/job_result.h"
#include "executor/limits.h"
#include "executor/rx_buf.h"
#include "executor/rx_json.h"
#include "executor/rx_util.h"

/* The server's bounds: connections at once (in all, and from one address),
 * seconds a connection may stay idle (its memory: limits.h). */
#define METRICS_MAX_CONNECTIONS 16
#define METRICS_MAX_PER_IP 4
#define METRICS_TIMEOUT_S 5

/* ralph_job_duration_seconds' buckets (upper bounds, seconds). */
static const double BUCKETS[] = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};
#define N_BUCKETS (sizeof(BUCKETS) / sizeof(BUCKETS[0]))
#define N_STATUSES (JOB_INFRA_ERROR + 1)

struct metrics {
    pthread_mutex_t lock;
    char *version;
    long long jobs[N_STATUSES];
    long long bucket[N_BUCKETS]; /* cumulative when printed */
    long long duration_count;
    double duration_sum;
    long long infra_errors, requeued, dead;
    bool breaker_open, draining;
    long long gauge[METRICS_GAUGES];
    struct MHD_Daemon *daemon;
};

struct metrics *
metrics_new(const char *version)
{
    struct metrics *m = xcalloc(1, sizeof(*m));
    pthread_mutex_init(&m->lock, NULL);
    m->version = xstrdup(version ? version : "unknown");
    m->gauge[METRICS_QUEUE_DEPTH] = -1;
    m->gauge[METRICS_QUEUE_OK] = 1;
    m->gauge[METRICS_ENGINE_OK] = 1;
    return m;
}

void
metrics_free(struct metrics *m)
{
    if (m == NULL)
        return;
    if (m->daemon != NULL)
        MHD_stop_daemon(m->daemon);
    pthread_mutex_destroy(&m->lock);
    free(m->version);
    free(m);
}

static int
status_index(const char *name)
{
    for (int i = 0; name != NULL && i < (int)N_STATUSES; i++)
        if (strcmp(name, job_status_name((enum job_status)i)) == 0)
            return i;
    return -1;
}

void
metrics_event(struct metrics *m, const char *event, struct json_object *fields)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->lock);
    if (strcmp(event, "job_done") == 0) {
        int st = status_index(rx_json_get_str(fields, "status"));
        if (st >= 0)
            m->jobs[st]++;
        struct json_object *d = rx_json_get(fields, "duration_ms");
        if (d != NULL && json_object_is_type(d, json_type_int)) {
            double s = (double)json_object_get_int64(d) / 1000.0;
            for (size_t i = 0; i < N_BUCKETS; i++)
                if (s <= BUCKETS[i]) {
                    m->bucket[i]++;
                    break;
                }
            m->duration_count++;
            m->duration_sum += s;
        }
    } else if (strcmp(event, "job_requeued") == 0) {
        m->requeued++;
    } else if (strcmp(event, "job_dead") == 0) {
        m->dead++;
    } else if (strcmp(event, "job_infra_error") == 0 || strcmp(event, "engine_unavailable") == 0) {
        m->infra_errors++;
    } else if (strcmp(event, "breaker_tripped") == 0) {
        m->breaker_open = true;
        m->draining = true;
    } else if (strcmp(event, "stopping") == 0) {
        m->draining = true;
    }
    pthread_mutex_unlock(&m->lock);
}

void
metrics_set(struct metrics *m, enum metrics_gauge g, long long value)
{
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->lock);
    m->gauge[g] = value;
    pthread_mutex_unlock(&m->lock);
}

static void put(struct rx_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void
put(struct rx_buf *b, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n > 0)
        rx_buf_append(b, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

char *
metrics_text(struct metrics *m)
{
    struct rx_buf b;
    rx_buf_init(&b, LIMIT_METRICS_TEXT_BYTES);
    pthread_mutex_lock(&m->lock);
    put(&b,
        "# HELP ralph_build_info The worker's version.\n# TYPE ralph_build_info gauge\n"
        "ralph_build_info{version=\"%s\"} 1\n",
        m->version);
    put(&b, "# HELP ralph_jobs_total Jobs finished, by status.\n# TYPE ralph_jobs_total counter\n");
    for (int i = 0; i < (int)N_STATUSES; i++)
        if (i != JOB_INFRA_ERROR) /* an infra_error is put back, not finished */
            put(&b, "ralph_jobs_total{status=\"%s\"} %lld\n", job_status_name((enum job_status)i),
                m->jobs[i]);
    put(&b, "# HELP ralph_job_duration_seconds A finished job's duration_ms (as in its result), "
            "for jobs that ran.\n"
            "# TYPE ralph_job_duration_seconds histogram\n");
    long long cum = 0;
    for (size_t i = 0; i < N_BUCKETS; i++) {
        cum += m->bucket[i];
        put(&b, "ralph_job_duration_seconds_bucket{le=\"%g\"} %lld\n", BUCKETS[i], cum);
    }
    put(&b, "ralph_job_duration_seconds_bucket{le=\"+Inf\"} %lld\n", m->duration_count);
    put(&b, "ralph_job_duration_seconds_sum %.3f\nralph_job_duration_seconds_count %lld\n",
        m->duration_sum, m->duration_count);
    static const struct {
        const char *name, *type, *help;
        int gauge; /* index into m->gauge, or -1 */
    } simple[] = {
        {"ralph_slots", "gauge", "Slots (--concurrency).", METRICS_SLOTS},
        {"ralph_slots_busy", "gauge", "Jobs claimed: running or waiting for memory.",
         METRICS_SLOTS_BUSY},
        {"ralph_queue_depth", "gauge", "Jobs waiting in the queue, as of the last look.",
         METRICS_QUEUE_DEPTH},
    };
    for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++) {
        long long v = m->gauge[simple[i].gauge];
        if (v < 0)
            continue; /* not known yet */
        put(&b, "# HELP %s %s\n# TYPE %s %s\n%s %lld\n", simple[i].name, simple[i].help,
            simple[i].name, simple[i].type, simple[i].name, v);
    }
    put(&b,
        "# HELP ralph_infra_errors_total Infrastructure errors (jobs put back).\n"
        "# TYPE ralph_infra_errors_total counter\nralph_infra_errors_total %lld\n",
        m->infra_errors);
    put(&b,
        "# HELP ralph_requeued_total Jobs put back on the queue.\n"
        "# TYPE ralph_requeued_total counter\nralph_requeued_total %lld\n",
        m->requeued);
    put(&b,
        "# HELP ralph_dead_total Jobs dead-lettered.\n"
        "# TYPE ralph_dead_total counter\nralph_dead_total %lld\n",
        m->dead);
    put(&b,
        "# HELP ralph_breaker_open 1 once the infrastructure-error breaker tripped.\n"
        "# TYPE ralph_breaker_open gauge\nralph_breaker_open %d\n",
        m->breaker_open ? 1 : 0);
    pthread_mutex_unlock(&m->lock);
    size_t len;
    char *out = rx_buf_steal(&b, &len);
    return out ? out : xstrdup("");
}

int
metrics_engine_seen(enum job_status st, enum job_infra_cause cause, bool answered)
{
    switch (st) {
    case JOB_REJECTED: return -1; /* refused before the engine, or by policy */
    case JOB_INFRA_ERROR:
        /* Stopped by the worker: says nothing; else the probe tells. */
        return cause == JOB_INFRA_CANCELLED ? -1 : answered;
    default: return 1; /* it ran the job: success, error, timeout, oom, result_invalid */
    }
}

bool
metrics_ready(struct metrics *m, const char **why)
{
    pthread_mutex_lock(&m->lock);
    *why = m->breaker_open                ? "the breaker is open"
           : m->draining                  ? "draining: taking no more jobs"
           : !m->gauge[METRICS_TAKING]    ? "not taking jobs (starting, or done)"
           : !m->gauge[METRICS_QUEUE_OK]  ? "the queue is not reachable"
           : !m->gauge[METRICS_ENGINE_OK] ? "the engine is not reachable"
                                          : NULL;
    pthread_mutex_unlock(&m->lock);
    return *why == NULL;
}

static enum MHD_Result
reply(struct MHD_Connection *c, unsigned status, const char *type, const char *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
           const char *version RX_UNUSED, const char *upload RX_UNUSED, size_t *upload_len,
           void **state RX_UNUSED)
{
    struct metrics *m = cls;
    if (*upload_len != 0)
        return MHD_NO; /* no bodies: the connection is closed */
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return reply(c, 405, "text/plain", "only GET\n");
    if (strcmp(url, "/metrics") == 0) {
        cleanup_free char *text = metrics_text(m);
        return reply(c, 200, "text/plain; version=0.0.4; charset=utf-8", text);
    }
    if (strcmp(url, "/healthz") == 0)
        return reply(c, 200, "text/plain", "ok\n");
    if (strcmp(url, "/readyz") == 0) {
        const char *why = NULL;
        if (metrics_ready(m, &why))
            return reply(c, 200, "text/plain", "ready\n");
        char body[128];
        snprintf(body, sizeof(body), "not ready: %s\n", why);
        return reply(c, 503, "text/plain", body);
    }
    return reply(c, 404, "text/plain", "not found: /metrics, /healthz, /readyz\n");
}

/* "PORT", "HOST:PORT" or "[V6]:PORT" into a socket address. */
static int
parse_addr(const char *addr, struct sockaddr_storage *ss, struct rx_error **err)
{
    memset(ss, 0, sizeof(*ss));
    const char *colon = strrchr(addr, ':');
    const char *port_s = colon ? colon + 1 : addr;
    cleanup_free char *host = colon ? xstrndup(addr, (size_t)(colon - addr)) : xstrdup("127.0.0.1");
    char *end = NULL;
    errno = 0;
    long port = strtol(port_s, &end, 10);
    if (errno != 0 || end == port_s || *end != '\0' || port < 1 || port > 65535)
        return rx_error_reject(err, "metrics: \"%s\": no port (PORT, HOST:PORT or [V6]:PORT)",
                               addr);
    size_t hl = strlen(host);
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        host[hl - 1] = '\0';
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) == 1)
            return 0;
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, host, &s4->sin_addr) == 1)
            return 0;
    }
    return rx_error_reject(err, "metrics: \"%s\": not a numeric address", addr);
}

int
metrics_serve(struct metrics *m, const char *addr, struct rx_error **err)
{
    struct sockaddr_storage ss;
    if (parse_addr(addr, &ss, err) < 0)
        return -1;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    m->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, m, MHD_OPTION_SOCK_ADDR,
                                 (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
                                 (unsigned)METRICS_MAX_CONNECTIONS,
                                 MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)METRICS_MAX_PER_IP,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)METRICS_TIMEOUT_S,
                                 MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                                 (size_t)LIMIT_METRICS_CONNECTION_BYTES, MHD_OPTION_END);
    if (m->daemon == NULL)
        return rx_error_set(err, EADDRINUSE,
                            "metrics: cannot listen on %s (in use, or not an address of this host)",
                            addr);
    return 0;
}
