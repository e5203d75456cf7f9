/* SPDX-License-Identifier: MIT */
#include "worker/worker.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/signalfd.h>

#include "executor/docker_client.h"
#include "executor/executor.h"
#include "executor/rx_json.h"
#include "executor/operator_policy.h"
#include "executor/rx_util.h"
#include "worker/mem_budget.h"
#include "worker/metrics.h"
#include "worker/queue.h"
#include "worker/warm_pool.h"

#define OWNER_PREFIX "ralph-worker/"
#define CLAIM_WAIT_MS 1000
/* How often a job waits to see whether the run of its task id has ended. */
#define LOCK_POLL_MS 250
/* Taking a run lock that fails this many times in a row (an error, not a
 * busy lock) gives the job back, uncounted, rather than hold the slot. */
#define LOCK_MAX_ERRORS 5
/* Tries to give up a run lock that complete or release did not. */
#define UNLOCK_TRIES 3
#define SWEEP_EVERY_MS 30000

struct worker;

struct slot {
    struct worker *w;
    int index;
    pthread_t thread;
    int cancel_pipe[2]; /* written by main to kill the running job */
};

struct worker {
    const struct worker_cfg *cfg;
    char *owner;       /* ralph.owner label of our containers */
    char *queue_label; /* ralph.queue label */
    char *run_id;      /* this run of cfg->worker_id (queue_cfg.run_id) */
    atomic_int stop_taking;
    atomic_int forced; /* running jobs were cancelled */
    atomic_int inflight;
    atomic_llong taken;      /* tickets for --max-jobs (claims in progress included) */
    atomic_llong finished;   /* jobs handled: results stored or put back */
    atomic_int infra_streak; /* consecutive infrastructure errors */
    atomic_int slots_done;
    pthread_mutex_t log_lock;
    struct mem_budget mem;         /* admission by memory, shared by the slots */
    struct operator_policy policy; /* read-only once the slots run */
    const char *audit_path;
    char breaker_reason[1024];
    struct slot *slots;
    struct metrics *metrics; /* counted from log events; served with --metrics */
    struct warm_pool *pool;  /* --warm: started sandboxes; NULL without */
    long long warm_memory;   /* the default job's memory limit (the pool's room) */
};

/* ---- structured logs --------------------------------------------------- */

static void
log_event(struct worker *w, const char *level, const char *event, struct json_object *fields)
{
    struct json_object *o = json_object_new_object();
    char when[32];
    rx_iso8601_now(when);
    json_object_object_add(o, "ts", json_object_new_string(when));
    json_object_object_add(o, "level", json_object_new_string(level));
    json_object_object_add(o, "event", json_object_new_string(event));
    json_object_object_add(o, "worker", json_object_new_string(w->cfg->worker_id));
    metrics_event(w->metrics, event, fields);
    if (fields != NULL) {
        json_object_object_foreach(fields, k, v) json_object_object_add(o, k, json_object_get(v));
        json_object_put(fields);
    }
    pthread_mutex_lock(&w->log_lock);
    fprintf(stderr, "%s\n", rx_json_compact(o));
    fflush(stderr);
    pthread_mutex_unlock(&w->log_lock);
    json_object_put(o);
}

/* Build a fields object from "key", "string value" pairs (NULL-terminated). */
static struct json_object *
kv(const char *k, ...)
{
    struct json_object *o = json_object_new_object();
    va_list ap;
    va_start(ap, k);
    while (k != NULL) {
        const char *v = va_arg(ap, const char *);
        /* Valid UTF-8 whatever a job put in it (an error quoting its
         * text may be cut mid-character): a log line is valid JSON. */
        json_object_object_add(o, k, v ? rx_json_string_from_bytes(v, strlen(v)) : NULL);
        k = va_arg(ap, const char *);
    }
    va_end(ap);
    return o;
}

/* Take no more jobs: slots stop claiming, and jobs waiting for memory
 * leave the line (they are put back). */
static void
stop_taking(struct worker *w)
{
    atomic_store(&w->stop_taking, 1);
    metrics_set(w->metrics, METRICS_TAKING, 0);
    mem_budget_close(&w->mem);
}

/* The worker's own memory bound with N slots (ralph-worker(8)), in bytes. */
static long long
worker_memory_bound(int concurrency)
{
    return (long long)(LIMIT_WORKER_BASE_MEMORY + (unsigned long long)concurrency *
                                                      LIMIT_WORKER_JOB_MEMORY_FACTOR *
                                                      LIMIT_JOB_BYTES);
}

/* Learn the default budget from the engine (once; the first to learn it
 * logs it).  A no-op when it is known: set by --memory-budget, or off. */
static int
learn_budget(struct worker *w, struct docker_client *dc, struct rx_error **err)
{
    if (mem_budget_get(&w->mem) != MEM_BUDGET_UNKNOWN)
        return 0;
    long long total = 0;
    if (docker_client_memory(dc, &total, err) < 0)
        return rx_error_prefix(err, "the engine's memory, for the memory budget");
    long long bound = worker_memory_bound(w->cfg->concurrency);
    long long budget = mem_budget_default(total, bound);
    if (!mem_budget_set(&w->mem, budget))
        return 0;
    struct json_object *f = json_object_new_object();
    json_object_object_add(f, "memory_budget", json_object_new_int64(budget));
    json_object_object_add(f, "engine_memory", json_object_new_int64(total));
    json_object_object_add(f, "reserve", json_object_new_int64(mem_budget_reserve(total)));
    json_object_object_add(f, "memory_bound", json_object_new_int64(bound));
    log_event(w, budget > 1 ? "info" : "warn", "memory_budget", f);
    return 0;
}

/* ---- one job ----------------------------------------------------------- */

static void
queue_note(void *ud, const char *level, const char *event, struct json_object *fields)
{
    log_event(ud, level, event, fields);
}

/* The queue configuration of a running worker (w), or of a status query. */
static struct queue_cfg
qcfg(const struct worker_cfg *cfg, struct worker *w)
{
    return (struct queue_cfg){.worker_id = cfg->worker_id,
                              .prefix = cfg->prefix,
                              .lease_ms = cfg->lease_ms,
                              .max_attempts = cfg->max_attempts,
                              .result_ttl_s = cfg->result_ttl_s,
                              .run_id = w ? w->run_id : NULL,
                              .note = w ? queue_note : NULL,
                              .note_ud = w};
}

/* The queue of a slot, opened (again) when it is not: NULL with *err set
 * when it cannot be. */
static struct queue *
slot_queue(struct worker *w, struct queue **q, struct rx_error **err)
{
    if (*q == NULL) {
        struct queue_cfg c = qcfg(w->cfg, w);
        *q = queue_open(w->cfg->queue_url, &c, err);
    }
    return *q;
}

static bool
pipe_readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) > 0;
}

/* Keep trying to store a result: losing it would mean running the job again
 * (harmless, results are written once), but a stored result is the goal.
 * Gives up only when the worker is forced to stop. */
static int
complete_with_retry(struct slot *s, struct queue **q, struct queue_job *job, const char *task_id,
                    const char *result, bool success)
{
    struct worker *w = s->w;
    for (int attempt = 0;; attempt++) {
        struct rx_error *err = NULL;
        if (slot_queue(w, q, &err) != NULL &&
            (*q)->ops->complete(*q, job, task_id, result, success, &err) == 0)
            return 0;
        if (attempt == 0 || attempt % 10 == 0)
            log_event(w, "warn", "store_retry",
                      kv("task_id", task_id, "error", err ? err->msg : "?", NULL));
        rx_error_free(&err);
        if (atomic_load(&w->forced))
            return -1;
        rx_sleep_ms(1000);
    }
}

/* Put the job back (or dead-letter it, with dead_result, when not NULL,
 * stored as its result), retrying for about 30 s; false when that failed
 * throughout (the queue unreachable). */
static bool
release_job(struct slot *s, struct queue **q, struct queue_job *job, const char *task_id,
            bool count, const char *why, const char *dead_result)
{
    struct worker *w = s->w;
    for (int attempt = 0; attempt < 30; attempt++) {
        struct rx_error *err = NULL;
        int r = slot_queue(w, q, &err) != NULL
                    ? (*q)->ops->release(*q, job, count, why, task_id, dead_result, &err)
                    : -1;
        if (r == 1) {
            log_event(w, "error", "job_dead", kv("task_id", task_id, "reason", why, NULL));
            return true;
        }
        if (r == 0) {
            log_event(w, "info", "job_requeued",
                      kv("task_id", task_id, "reason", why, "counted", count ? "yes" : "no", NULL));
            return true;
        }
        rx_error_free(&err);
        rx_sleep_ms(1000);
    }
    /* The lease will return it once this worker is gone; its run lock is
     * given up by drop_lock (slot_main). */
    log_event(w, "error", "requeue_failed", kv("task_id", task_id, NULL));
    return false;
}

/* Give up the run lock of a job that is being let go while it may still
 * hold it (complete or release failed, or was never reached): left, it
 * would keep every copy of its task id waiting while this worker lives. */
static void
drop_lock(struct slot *s, struct queue **q, struct queue_job *job)
{
    struct worker *w = s->w;
    for (int attempt = 0; job->lock != NULL && attempt < UNLOCK_TRIES; attempt++) {
        struct rx_error *err = NULL;
        if (slot_queue(w, q, &err) != NULL && (*q)->ops->unlock(*q, job, &err) == 0)
            return;
        if (attempt + 1 == UNLOCK_TRIES)
            log_event(w, "error", "unlock_failed",
                      kv("lock", job->lock, "error", err ? err->msg : "?", NULL));
        rx_error_free(&err);
        rx_sleep_ms(200);
    }
}

/* After an infrastructure error, wait a little (longer as they repeat) so a
 * broken engine does not spin the queue; cut short when stopping. */
static void
backoff(struct worker *w, int streak)
{
    int ms = streak < 5 ? streak * 200 : 1000;
    for (int waited = 0; waited < ms && !atomic_load(&w->stop_taking); waited += 50) {
        rx_sleep_ms(50);
    }
}

struct delivery {
    struct slot *s;
    struct queue **q;
    struct queue_job *qj;
};

static void
deliver_result(const struct job_result *res, const char *json, void *ud)
{
    struct delivery *d = ud;
    complete_with_retry(d->s, d->q, d->qj, res->task_id, json, res->status == JOB_SUCCESS);
}

/* executor_finish: the result stored (when deliver), the container removed
 * (the removal, ~40 ms, is off the path from claim to stored result), the
 * audit line written; what failed goes to the log. */
static void
finish_job(struct slot *s, struct queue **q, struct queue_job *qj, struct docker_client *dc,
           struct job_result *res, const char *sandbox, bool deliver)
{
    struct worker *w = s->w;
    struct delivery d = {s, q, qj};
    struct executor_finish f = {
        .audit_path = w->audit_path,
        .sandbox = sandbox,
        .deliver = deliver ? deliver_result : NULL,
        .ud = &d,
    };
    executor_finish(dc, res, &f);
    if (f.remove_err != NULL)
        log_event(w, "error", "container_not_removed",
                  kv("task_id", res->task_id, "container", res->container_id, "error",
                     f.remove_err->msg, NULL));
    if (f.audit_err != NULL)
        log_event(w, "error", "audit_failed", kv("error", f.audit_err->msg, NULL));
    rx_error_free(&f.remove_err);
    rx_error_free(&f.audit_err);
}

/* Wait until this job holds its task id's run lock: at most one job per
 * task id runs (or stores a result) at a time, across slots and workers.
 * false when the worker stopped meanwhile, or the lock failed with an
 * error LOCK_MAX_ERRORS times in a row (the job went back, uncounted): a
 * busy lock is waited for, a broken one does not hold the slot (unless
 * the queue cannot take the job back either: then it waits for it). */
static bool
wait_run_lock(struct slot *s, struct queue **q, struct queue_job *qj, const char *task_id)
{
    struct worker *w = s->w;
    bool said = false;
    int errors = 0;
    for (;;) {
        struct rx_error *err = NULL;
        bool got = false;
        if (slot_queue(w, q, &err) != NULL && (*q)->ops->lock(*q, qj, task_id, &got, &err) == 0 &&
            got)
            return true;
        if (err != NULL) {
            if (!said)
                log_event(w, "warn", "lock_failed",
                          kv("task_id", task_id, "error", err->msg, NULL));
            said = true;
            if (++errors >= LOCK_MAX_ERRORS) {
                char why[512];
                snprintf(why, sizeof(why), "its run lock failed %d times: %s", errors, err->msg);
                rx_error_free(&err);
                log_event(w, "error", "lock_given_up", kv("task_id", task_id, "error", why, NULL));
                if (release_job(s, q, qj, task_id, false, why, NULL))
                    return false;
                /* The queue is unreachable (it cannot take the job back
                 * either): the job stays here and waits for it. */
                errors = 0;
            }
            rx_error_free(&err);
        } else {
            errors = 0; /* busy: a live run holds it */
            if (!said)
                log_event(w, "info", "job_waiting",
                          kv("task_id", task_id, "reason", "a run of this task id is in progress",
                             NULL));
            said = true;
        }
        if (atomic_load(&w->stop_taking)) {
            release_job(s, q, qj, task_id, false, "the worker is stopping", NULL);
            return false;
        }
        rx_sleep_ms(LOCK_POLL_MS);
    }
}

/* A fresh id for a job that has no usable one, so its result is still stored. */
static char *
rejected_task_id(void)
{
    cleanup_free char *u = queue_identity_new();
    return xasprintf("rejected-%s", u);
}

/* One more infrastructure error in a row (counts false: one that is not
 * the engine's, which leaves the streak as it is); the streak is returned.
 * Its message is kept for the breaker's lines, under log_lock: slots write
 * it, the main thread reads it. */
static int
note_infra_error(struct worker *w, const char *why, bool counts)
{
    if (!counts)
        return atomic_load(&w->infra_streak);
    /* The reason first: the main thread trips the breaker on the count. */
    pthread_mutex_lock(&w->log_lock);
    snprintf(w->breaker_reason, sizeof(w->breaker_reason), "%s", why);
    pthread_mutex_unlock(&w->log_lock);
    return atomic_fetch_add(&w->infra_streak, 1) + 1;
}

/* A rejected job's result stored, its run lock held. */
static void
store_rejection(struct slot *s, struct queue **q, struct queue_job *qj, struct job_result *res)
{
    cleanup_free char *task_id = xstrdup(res->task_id);
    finish_job(s, q, qj, NULL, res, NULL, true);
    log_event(s->w, "info", "job_done",
              kv("task_id", task_id, "status", "rejected", "error", res->error, NULL));
}

/* A job rejected before it ran: its result stored under its task id. */
static void
reject_job(struct slot *s, struct queue **q, struct queue_job *qj, struct job_result *res)
{
    if (res->task_id == NULL)
        res->task_id = rejected_task_id();
    if (wait_run_lock(s, q, qj, res->task_id))
        store_rejection(s, q, qj, res);
}

/* A result for this task id is already stored: this copy is a duplicate,
 * done without running. */
static bool
skip_duplicate(struct slot *s, struct queue **q, struct queue_job *qj, const char *task_id)
{
    bool exists = false;
    struct rx_error *err = NULL;
    if ((*q)->ops->result_exists(*q, task_id, &exists, &err) < 0) {
        rx_error_free(&err);
        return false;
    }
    if (exists) {
        complete_with_retry(s, q, qj, task_id, NULL, true);
        log_event(s->w, "info", "job_skipped",
                  kv("task_id", task_id, "reason", "a result already exists: a duplicate", NULL));
    }
    return exists;
}

/* What a job's end said of the engine, for readyz at once rather than at
 * the next sweep (no engine call of its own). */
static void
note_engine(struct worker *w, const struct job_result *res, bool answered)
{
    int seen = metrics_engine_seen(res->status, res->infra_cause, answered);
    if (seen >= 0)
        metrics_set(w->metrics, METRICS_ENGINE_OK, seen);
}

/* The slot's engine connection, opened if it is not, and the memory
 * budget known (the default is the engine's memory less a reserve); when
 * either cannot be, the job goes back without using up an attempt (not
 * its fault).  A connection opened (it asks the engine its version) tells
 * the metrics the engine answers; a failure, that it does not. */
static struct docker_client *
slot_engine(struct slot *s, struct queue **q, struct docker_client **dc, struct queue_job *qj,
            const char *task_id)
{
    struct rx_error *err = NULL;
    bool opened = *dc == NULL;
    if (*dc == NULL)
        *dc = docker_client_new(NULL, s->cancel_pipe[0], &err);
    if (*dc != NULL && learn_budget(s->w, *dc, &err) == 0) {
        if (opened)
            metrics_set(s->w->metrics, METRICS_ENGINE_OK, 1);
        return *dc;
    }
    metrics_set(s->w->metrics, METRICS_ENGINE_OK, 0);
    docker_client_free(steal_pointer(dc));
    char why[512];
    snprintf(why, sizeof(why), "%s", err->msg);
    rx_error_free(&err);
    int streak = note_infra_error(s->w, why, true);
    log_event(s->w, "error", "engine_unavailable", kv("task_id", task_id, "error", why, NULL));
    release_job(s, q, qj, task_id, false, why, NULL);
    backoff(s->w, streak);
    return NULL;
}

/* The result a job gets when it is dead-lettered after its infra_error
 * res: the same result, its error saying that it was given up (caller
 * frees). */
static char *
dead_letter_result(const struct worker *w, struct job_result *res)
{
    char *last = steal_pointer(&res->error);
    res->error = xasprintf("dead-lettered after --max-attempts %d: %s", w->cfg->max_attempts,
                           last ? last : "infrastructure error");
    cleanup_json struct json_object *o = job_result_to_json(res);
    free(res->error);
    res->error = last;
    return xstrdup(rx_json_compact(o));
}

/* A job that ended in infra_error goes back to its queue: uncounted when
 * the worker stopped it or the engine went away, counted (the retry and
 * dead-letter rules) when the engine still answers (a missing image, say). */
static void
give_back(struct slot *s, struct queue **q, struct docker_client **dc, struct queue_job *qj,
          struct job_result *res, const char *sandbox)
{
    struct worker *w = s->w;
    const char *task_id = res->task_id;
    const char *why = res->error ? res->error : "infrastructure error";
    finish_job(s, q, qj, *dc, res, sandbox, false);
    /* A fresh engine connection next time: the engine may have restarted. */
    docker_client_free(steal_pointer(dc));
    if (res->infra_cause == JOB_INFRA_CANCELLED || pipe_readable(s->cancel_pipe[0])) {
        release_job(s, q, qj, task_id, false, "the worker was stopped", NULL);
        return;
    }
    /* The breaker is for an engine that fails; an image the job named and
     * the engine lacks is the job's, and a build of its requirements that
     * failed (the index, the set) is not the engine's: retried and
     * dead-lettered as usual, or a handful of such jobs could stop every
     * worker. */
    int streak = note_infra_error(w, why,
                                  res->infra_cause != JOB_INFRA_JOB_IMAGE &&
                                      res->infra_cause != JOB_INFRA_DEPS);
    log_event(w, "error", "job_infra_error", kv("task_id", task_id, "error", res->error, NULL));
    struct rx_error *perr = NULL;
    struct docker_client *probe = docker_client_new(NULL, -1, &perr);
    bool engine_up = probe != NULL;
    docker_client_free(probe);
    rx_error_free(&perr);
    note_engine(w, res, engine_up);
    /* Counted, this may be its last attempt: an infra_error result then,
     * or whoever waits for the task id (submit --wait) would wait for ever. */
    cleanup_free char *dead = engine_up ? dead_letter_result(w, res) : NULL;
    release_job(s, q, qj, task_id, engine_up, why, dead);
    backoff(w, streak);
}

/* A job larger than the whole memory budget: rejected, naming both. */
static void
reject_over_budget(struct slot *s, struct queue **q, struct queue_job *qj,
                   const struct job_spec *job, struct job_result *res)
{
    struct rx_error *err = NULL;
    rx_error_reject(&err,
                    "memory_limit %lld bytes is more than this worker's memory budget "
                    "(%lld bytes, %s)",
                    job->memory_bytes, mem_budget_get(&s->w->mem),
                    s->w->cfg->memory_budget == MEM_BUDGET_UNKNOWN
                        ? "the engine's memory less a reserve; see --memory-budget"
                        : "--memory-budget");
    executor_result_from_error(res, job->task_id, NULL, err);
    rx_error_free(&err);
    store_rejection(s, q, qj, res);
}

struct memory_wait {
    struct worker *w;
    const struct job_spec *job;
};

/* The one line a job waiting for memory logs. */
static void
note_memory_wait(void *ud, const struct mem_budget_usage *u)
{
    struct memory_wait *m = ud;
    struct json_object *f = kv("task_id", m->job->task_id, NULL);
    json_object_object_add(f, "memory_limit", json_object_new_int64(m->job->memory_bytes));
    json_object_object_add(f, "memory_in_use", json_object_new_int64(u->in_use));
    json_object_object_add(f, "memory_budget", json_object_new_int64(u->budget));
    json_object_object_add(f, "jobs_running", json_object_new_int(u->running));
    log_event(m->w, "info", "memory_wait", f);
}

/* Wait until the job's memory limit fits in the budget beside those of
 * the jobs running (its claim kept, and kept alive by the heartbeat);
 * *grant then holds it.  false when the job went instead: rejected as
 * larger than the whole budget (its result stored), or put back, no
 * attempt counted, as the worker is stopping. */
static bool
wait_for_memory(struct slot *s, struct queue **q, struct queue_job *qj, const struct job_spec *job,
                struct job_result *res, struct mem_grant *grant)
{
    struct memory_wait m = {s->w, job};
    switch (mem_budget_take(&s->w->mem, job->memory_bytes, grant, note_memory_wait, &m)) {
    case MEM_RUN: return true;
    case MEM_REJECT: reject_over_budget(s, q, qj, job, res); return false;
    default:
        release_job(s, q, qj, job->task_id, false, "the worker is stopping", NULL);
        return false;
    }
}

static void
run_one(struct slot *s, struct queue **q, struct docker_client **dc, struct queue_job *qj)
{
    struct worker *w = s->w;
    cleanup_job_result struct job_result res;
    job_result_init(&res);
    struct executor_opts opts;
    executor_opts_defaults(&opts);
    opts.owner = w->owner;
    opts.queue = w->queue_label;
    /* A job too large to read is rejected by the size its queue measured:
     * it is never in this process. */
    const struct job_doc doc = {
        .bytes = qj->too_large ? NULL : qj->payload,
        .len = qj->len,
        .default_task_id = qj->default_task_id,
    };
    cleanup_job_spec struct job_spec *job = executor_admit(&doc, &w->policy, &opts, &res);
    if (job == NULL) {
        reject_job(s, q, qj, &res);
        return;
    }
    const char *task_id = job->task_id;
    if (!wait_run_lock(s, q, qj, task_id))
        return;
    /* The job has been parsed: its document is no longer needed here (a
     * Redis job's item stays: it names the job on the processing list). */
    if (qj->handle != NULL)
        free(steal_pointer(&qj->payload));
    if (skip_duplicate(s, q, qj, task_id) || slot_engine(s, q, dc, qj, task_id) == NULL)
        return;
    /* Held until the job's container is gone (the end of this function). */
    cleanup_mem_grant struct mem_grant grant = {0};
    if (!wait_for_memory(s, q, qj, job, &res, &grant))
        return;

    /* duration_ms is the run's, creation to removal: not the time it
     * waited for its run lock or for memory. */
    res.started_ms = rx_now_ms();
    log_event(w, "info", "job_start", kv("task_id", task_id, NULL));
    /* The container is removed after the result is handed on (finish_job).
     * A worker that dies in between leaves it to the sweep (deadline and
     * owner labels). */
    opts.defer_remove = true;
    struct warm_sandbox ws;
    if (w->pool != NULL && warm_pool_take(w->pool, job, &opts, (*dc)->podman, &ws)) {
        cleanup_free char *offered = xstrdup(ws.id);
        executor_run_warm(*dc, job, &opts, &ws, &res);
        executor_warm_free(&ws);
        if (res.warm_refused != NULL)
            log_event(w, "warn", "warm_refused",
                      kv("task_id", task_id, "container_id", offered, "error", res.warm_refused,
                         NULL));
    } else {
        executor_run(*dc, job, &opts, &res);
    }
    if (res.status == JOB_INFRA_ERROR) {
        give_back(s, q, dc, qj, &res, job->sandbox);
        return;
    }
    atomic_store(&w->infra_streak, 0);
    note_engine(w, &res, true);
    finish_job(s, q, qj, *dc, &res, job->sandbox, true);
    struct json_object *f = kv("task_id", task_id, "status", job_status_name(res.status), NULL);
    json_object_object_add(f, "duration_ms", json_object_new_int64(res.duration_ms));
    json_object_object_add(f, "warm", json_object_new_boolean(res.timings.warm_ms >= 0));
    /* A warm sandbox's labels name no task: its container is told here. */
    if (res.container_id != NULL)
        json_object_object_add(f, "container_id", json_object_new_string(res.container_id));
    log_event(w, "info", "job_done", f);
}

static void *
slot_main(void *arg)
{
    struct slot *s = arg;
    struct worker *w = s->w;
    const struct worker_cfg *cfg = w->cfg;
    struct queue *q = NULL;
    struct docker_client *dc = NULL;
    int backoff_ms = 200;
    while (!atomic_load(&w->stop_taking)) {
        if (atomic_load(&w->infra_streak) >= cfg->max_infra_errors)
            break;
        /* A ticket for --max-jobs, taken before claiming. */
        long long ticket = atomic_fetch_add(&w->taken, 1);
        if (cfg->max_jobs > 0 && ticket >= cfg->max_jobs) {
            metrics_set(w->metrics, METRICS_TAKING, 0); /* --max-jobs reached */
            break;
        }
        struct rx_error *err = NULL;
        struct queue_job *job = NULL;
        if (slot_queue(w, &q, &err) == NULL || q->ops->claim(q, CLAIM_WAIT_MS, &job, &err) < 0) {
            atomic_fetch_sub(&w->taken, 1);
            log_event(w, "warn", "queue_unavailable", kv("error", err ? err->msg : "?", NULL));
            rx_error_free(&err);
            if (q != NULL && !q->ops->mends_itself) {
                q->ops->close(q);
                q = NULL;
            }
            rx_sleep_ms(backoff_ms);
            backoff_ms = backoff_ms < 5000 ? backoff_ms * 2 : 5000;
            continue;
        }
        backoff_ms = 200;
        if (job == NULL) {
            atomic_fetch_sub(&w->taken, 1);
            continue;
        }
        if (atomic_load(&w->stop_taking) && !job->too_large) {
            /* Stopping began while we waited for this job: hand it back (one
             * too large to read is no longer on the queue: it is rejected). */
            atomic_fetch_sub(&w->taken, 1);
            struct rx_error *rerr = NULL;
            if (q->ops->release(q, job, false, "the worker is stopping", NULL, NULL, &rerr) < 0)
                rx_error_free(&rerr);
            queue_job_free(job);
            break;
        }
        atomic_fetch_add(&w->inflight, 1);
        run_one(s, &q, &dc, job);
        drop_lock(s, &q, job);
        atomic_fetch_add(&w->finished, 1);
        atomic_fetch_sub(&w->inflight, 1);
        queue_job_free(job);
        /* Drop a cancel that arrived after the job had ended anyway. */
        char buf[16];
        if (!atomic_load(&w->forced))
            while (read(s->cancel_pipe[0], buf, sizeof(buf)) > 0) {
            }
    }
    docker_client_free(dc);
    if (q != NULL)
        q->ops->close(q);
    atomic_fetch_add(&w->slots_done, 1);
    return NULL;
}

/* ---- the main thread: lease, reaper, signals; the sweeper's thread ------ */

struct sweep_ctx {
    struct worker *w;
    struct queue *q;
    bool startup; /* before any slot runs: containers under our own name are leftovers */
};

static bool
owner_is_dead(const char *owner, const char *queue, void *ud)
{
    struct sweep_ctx *c = ud;
    /* At start, containers under our own name are an earlier run's, if
     * they are of this queue (another queue may have a worker of that id). */
    if (c->startup && strcmp(owner, c->w->owner) == 0)
        return queue != NULL && strcmp(queue, c->w->queue_label) == 0;
    /* Only workers of this very queue can be judged by its leases. */
    if (queue == NULL || strcmp(queue, c->w->queue_label) != 0)
        return false;
    if (strncmp(owner, OWNER_PREFIX, strlen(OWNER_PREFIX)) != 0)
        return false;
    bool alive = true;
    struct rx_error *err = NULL;
    if (c->q->ops->worker_alive(c->q, owner + strlen(OWNER_PREFIX), &alive, &err) < 0) {
        rx_error_free(&err);
        return false; /* unknown: leave it to the deadline */
    }
    return !alive;
}

static void
sweep(struct worker *w, struct queue *q, struct docker_client **dc, bool startup)
{
    struct rx_error *err = NULL;
    if (*dc == NULL)
        *dc = docker_client_new(NULL, -1, &err);
    if (*dc == NULL) {
        metrics_set(w->metrics, METRICS_ENGINE_OK, 0);
        rx_error_free(&err);
        return;
    }
    struct sweep_ctx c = {.w = w, .q = q, .startup = startup};
    int removed = 0;
    int r = executor_sweep(*dc, startup ? NULL : w->owner, owner_is_dead, &c, &removed, &err);
    metrics_set(w->metrics, METRICS_ENGINE_OK, r == 0);
    if (r < 0) {
        log_event(w, "warn", "sweep_failed", kv("error", err->msg, NULL));
        rx_error_free(&err);
        docker_client_free(*dc);
        *dc = NULL;
        return;
    }
    if (removed > 0) {
        struct json_object *f = json_object_new_object();
        json_object_object_add(f, "removed", json_object_new_int(removed));
        log_event(w, "info", "container_swept", f);
    }
}

/* The queue's depth for the metrics, read with the heartbeat when they are
 * served (a count: LLEN, or the names in incoming/). */
static void
queue_depth(struct worker *w, struct queue *q)
{
    struct rx_error *err = NULL;
    long long n = 0;
    if (q->ops->depth(q, &n, &err) < 0) {
        rx_error_free(&err);
        return;
    }
    metrics_set(w->metrics, METRICS_QUEUE_DEPTH, n);
}

static void
housekeeping(struct worker *w, struct queue **q)
{
    const struct worker_cfg *cfg = w->cfg;
    struct rx_error *err = NULL;
    struct mem_budget_usage u;
    mem_budget_usage(&w->mem, &u);
    struct queue_beat beat = {.inflight = atomic_load(&w->inflight),
                              .concurrency = cfg->concurrency,
                              .memory_budget = u.budget,
                              .memory_in_use = u.in_use,
                              .memory_waiting = u.waiting,
                              .warm_idle = w->pool ? warm_pool_idle(w->pool) : 0};
    metrics_set(w->metrics, METRICS_SLOTS_BUSY, beat.inflight);
    if (slot_queue(w, q, &err) == NULL || (*q)->ops->heartbeat(*q, &beat, &err) < 0) {
        metrics_set(w->metrics, METRICS_QUEUE_OK, 0);
        log_event(w, "warn", "heartbeat_failed", kv("error", err ? err->msg : "?", NULL));
        rx_error_free(&err);
        return;
    }
    metrics_set(w->metrics, METRICS_QUEUE_OK, 1);
    if (cfg->metrics_addr != NULL)
        queue_depth(w, *q);
    int n = 0;
    if ((*q)->ops->reap(*q, &n, &err) < 0) {
        rx_error_free(&err);
    } else if (n > 0) {
        struct json_object *f = json_object_new_object();
        json_object_object_add(f, "jobs", json_object_new_int(n));
        log_event(w, "info", "lease_reaped", f);
    }
}

static void
force_cancel(struct worker *w)
{
    if (atomic_exchange(&w->forced, 1))
        return;
    for (int i = 0; i < w->cfg->concurrency; i++) {
        ssize_t r RX_UNUSED = write(w->slots[i].cancel_pipe[1], "x", 1);
    }
}

/* The periodic sweep runs in a thread of its own, with its own queue
 * connection and engine client.  An engine slow to list or to remove (a
 * hundred containers starting at once) must never hold up the heartbeat:
 * a lease that lapses lets the other workers take back, and run again,
 * jobs that are still running here. */
struct sweeper {
    struct worker *w;
    pthread_t thread;
    bool running;
    int stop_pipe[2];
    struct docker_client *dc; /* the startup sweep's, then the thread's */
};

static void *
sweeper_main(void *arg)
{
    struct sweeper *sw = arg;
    struct queue *q = NULL;
    for (;;) {
        struct pollfd p = {.fd = sw->stop_pipe[0], .events = POLLIN};
        int r = poll(&p, 1, SWEEP_EVERY_MS);
        if (r > 0 || (r < 0 && errno != EINTR))
            break;
        if (r < 0)
            continue;
        struct rx_error *err = NULL;
        if (slot_queue(sw->w, &q, &err) == NULL) {
            rx_error_free(&err);
            continue;
        }
        sweep(sw->w, q, &sw->dc, false);
    }
    if (q != NULL)
        q->ops->close(q);
    return NULL;
}

static void
sweeper_start(struct sweeper *sw)
{
    if (pipe2(sw->stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        rx_oom();
    sw->running = pthread_create(&sw->thread, NULL, sweeper_main, sw) == 0;
    if (!sw->running) {
        log_event(sw->w, "warn", "sweep_failed",
                  kv("error", "no thread for the periodic sweep", NULL));
        close(sw->stop_pipe[0]);
        close(sw->stop_pipe[1]);
    }
}

static void
sweeper_stop(struct sweeper *sw)
{
    if (!sw->running)
        return;
    ssize_t r RX_UNUSED = write(sw->stop_pipe[1], "x", 1);
    pthread_join(sw->thread, NULL);
    close(sw->stop_pipe[0]);
    close(sw->stop_pipe[1]);
    sw->running = false;
}

/* What the main thread keeps while the slots run. */
struct supervisor {
    struct worker *w;
    struct queue *q;
    struct sweeper sweeper;
    int sfd; /* SIGTERM, SIGINT, SIGHUP */
    int exit_code;
    const char *reason; /* why it stopped */
    long long started;
    long long next_beat;
    long long grace_deadline; /* -1: no stop under way */
};

/* The operator's policy, the audit log, the queue and the label that names
 * it on our containers: any problem here stops us before any job. */
static int
worker_open(struct supervisor *m)
{
    struct worker *w = m->w;
    const struct worker_cfg *cfg = w->cfg;
    struct rx_error *err = NULL;
    m->exit_code = WORKER_EXIT_USAGE;
    int r = executor_setup(cfg->policy_path, cfg->audit_path, &w->policy, &w->audit_path, &err);
    if (r < 0) {
        log_event(w, "error", r == -2 ? "audit_log_unwritable" : "bad_policy",
                  kv("error", err->msg, NULL));
        fprintf(stderr, "ralph-worker: %s\n", err->msg);
        rx_error_free(&err);
        return -1;
    }
    struct queue_cfg c = qcfg(cfg, w);
    w->queue_label = queue_label(cfg->queue_url, &c);
    m->q = queue_open(cfg->queue_url, &c, &err);
    /* The sweep judges containers labelled with this queue by its leases:
     * the label must name this queue and no other one at the same address. */
    cleanup_free char *qid = NULL;
    if (m->q == NULL || m->q->ops->identity(m->q, &qid, &err) < 0) {
        m->exit_code = err->kind == RX_ERR_REJECTED ? WORKER_EXIT_USAGE : WORKER_EXIT_QUEUE;
        log_event(w, "error", "queue_unavailable", kv("error", err->msg, NULL));
        rx_error_free(&err);
        return -1;
    }
    char *label = xasprintf("%s@%s", w->queue_label, qid);
    free(w->queue_label);
    w->queue_label = label;
    m->exit_code = WORKER_EXIT_OK;
    return 0;
}

/* Signals go to the main thread only, through a signalfd; then the start
 * line, with the memory bound the worker keeps to. */
static void
worker_announce(struct supervisor *m)
{
    const struct worker_cfg *cfg = m->w->cfg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    m->sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);

    struct json_object *f = kv("queue", cfg->queue_url, NULL);
    json_object_object_add(f, "concurrency", json_object_new_int(cfg->concurrency));
    json_object_object_add(f, "memory_bound",
                           json_object_new_int64(worker_memory_bound(cfg->concurrency)));
    /* null: the engine's memory less a reserve, logged (memory_budget)
     * once the engine has told it. */
    json_object_object_add(f, "memory_budget",
                           cfg->memory_budget == MEM_BUDGET_UNKNOWN
                               ? NULL
                               : json_object_new_int64(cfg->memory_budget));
    log_event(m->w, "info", "start", f);
}

/* --metrics: the server's thread starts once signals are blocked (they go
 * to the main thread's signalfd only).  An address it cannot listen on
 * stops the worker before any job (exit 2). */
static int
worker_metrics(struct supervisor *m)
{
    struct worker *w = m->w;
    struct rx_error *err = NULL;
    metrics_set(w->metrics, METRICS_SLOTS, w->cfg->concurrency);
    if (w->cfg->metrics_addr == NULL || metrics_serve(w->metrics, w->cfg->metrics_addr, &err) == 0)
        return 0;
    log_event(w, "error", "metrics_unavailable", kv("error", err->msg, NULL));
    fprintf(stderr, "ralph-worker: %s\n", err->msg);
    rx_error_free(&err);
    m->exit_code = WORKER_EXIT_USAGE;
    return -1;
}

/* A lease under our id is either a crashed run of ours (it expires within
 * the lease) or a live worker (it never does): wait up to twice the lease
 * to tell which.  Then what a crashed run of ours left is taken back, and
 * leftover containers swept. */
static int
worker_take_id(struct supervisor *m)
{
    struct worker *w = m->w;
    const struct worker_cfg *cfg = w->cfg;
    struct rx_error *err = NULL;
    bool taken = false;
    long long wait_until = rx_now_ms() + 2 * cfg->lease_ms + 1000;
    while (m->q->ops->worker_alive(m->q, cfg->worker_id, &taken, &err) == 0 && taken &&
           rx_now_ms() < wait_until) {
        rx_sleep_ms(250);
    }
    rx_error_free(&err);
    if (taken) {
        fprintf(stderr,
                "ralph-worker: worker id %s is in use by a live worker (its lease is "
                "fresh): choose another --worker-id, or wait for the lease to expire\n",
                cfg->worker_id);
        log_event(w, "error", "worker_id_in_use", NULL);
        m->exit_code = WORKER_EXIT_USAGE;
        return -1;
    }
    int recovered = 0;
    if (m->q->ops->recover(m->q, &recovered, &err) < 0) {
        log_event(w, "warn", "recover_failed", kv("error", err->msg, NULL));
        rx_error_free(&err);
    } else if (recovered > 0) {
        struct json_object *rf = json_object_new_object();
        json_object_object_add(rf, "jobs", json_object_new_int(recovered));
        log_event(w, "info", "jobs_recovered", rf);
    }
    sweep(w, m->q, &m->sweeper.dc, true);
    /* The default budget, for the first heartbeat; an engine that does not
     * answer yet leaves it to the first slot with a job. */
    if (m->sweeper.dc != NULL && learn_budget(w, m->sweeper.dc, &err) < 0) {
        log_event(w, "warn", "engine_unavailable", kv("error", err->msg, NULL));
        rx_error_free(&err);
    }
    housekeeping(w, &m->q);
    return 0;
}

/* Room for a sandbox more: idle ones and jobs in flight below the slots,
 * and the warm job's memory, for each idle sandbox and this one, within the
 * budget beside the jobs'. */
static bool
warm_room(void *ud, int idle)
{
    struct worker *w = ud;
    if (atomic_load(&w->stop_taking) || atomic_load(&w->inflight) + idle >= w->cfg->concurrency)
        return false;
    struct mem_budget_usage u;
    mem_budget_usage(&w->mem, &u);
    return u.budget <= 0 || u.in_use + (long long)(idle + 1) * w->warm_memory <= u.budget;
}

/* --warm: the pool's job as admission makes it (--warm-job, or a code job
 * with nothing set: the policy's defaults), and the pool's thread.  A
 * --warm-job that admission refuses stops the worker before any job. */
static int
warm_start(struct supervisor *m)
{
    struct worker *w = m->w;
    if (w->cfg->warm == 0)
        return 0;
    static const char doc_text[] = "{\"code\": \"pass\"}";
    struct job_doc doc = {.bytes = doc_text, .len = strlen(doc_text), .default_task_id = "warm"};
    if (w->cfg->warm_job_path != NULL)
        doc = (struct job_doc){.path = w->cfg->warm_job_path, .default_task_id = "warm"};
    struct executor_opts opts;
    executor_opts_defaults(&opts);
    opts.owner = w->owner;
    opts.queue = w->queue_label;
    cleanup_job_result struct job_result res;
    job_result_init(&res);
    struct job_spec *tmpl = executor_admit(&doc, &w->policy, &opts, &res);
    if (tmpl == NULL) {
        const char *why = res.error ? res.error : "refused";
        log_event(w, "error", "warm_failed", kv("error", why, NULL));
        fprintf(stderr, "ralph-worker: --warm-job %s: %s\n",
                w->cfg->warm_job_path ? w->cfg->warm_job_path : "(the policy's defaults)", why);
        m->exit_code = WORKER_EXIT_USAGE;
        return -1;
    }
    if (w->cfg->warm_preload != NULL && !executor_warm_preloadable(tmpl)) {
        const char *why = "--warm-preload needs a code job without `files` or PYTHONPATH in its "
                          "env (no job could have its own module shadow a preloaded one)";
        log_event(w, "error", "warm_failed", kv("error", why, NULL));
        fprintf(stderr, "ralph-worker: --warm-job %s: %s\n",
                w->cfg->warm_job_path ? w->cfg->warm_job_path : "(the policy's defaults)", why);
        job_spec_free(tmpl);
        m->exit_code = WORKER_EXIT_USAGE;
        return -1;
    }
    opts.warm_preload = w->cfg->warm_preload;
    w->warm_memory = tmpl->memory_bytes;
    const struct warm_pool_hooks hooks = {.note = queue_note, .room = warm_room, .ud = w};
    w->pool = warm_pool_new(w->cfg->warm, w->cfg->warm_ttl_ms, tmpl, &opts, &hooks);
    if (warm_pool_start(w->pool) < 0) {
        log_event(w, "warn", "warm_failed",
                  kv("error", "no thread for the pool: jobs run cold", NULL));
        warm_pool_free(steal_pointer(&w->pool));
    }
    return 0;
}

static void
slots_start(struct worker *w)
{
    w->slots = xcalloc((size_t)w->cfg->concurrency, sizeof(struct slot));
    for (int i = 0; i < w->cfg->concurrency; i++) {
        struct slot *s = &w->slots[i];
        s->w = w;
        s->index = i;
        if (pipe2(s->cancel_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
            rx_oom();
        pthread_create(&s->thread, NULL, slot_main, s);
    }
}

/* The first signal stops the taking of jobs and starts the grace period; a
 * second one cancels the running jobs at once. */
static void
on_signal(struct supervisor *m)
{
    struct signalfd_siginfo si;
    if (m->sfd < 0 || read(m->sfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
        return;
    struct worker *w = m->w;
    if (atomic_load(&w->stop_taking)) {
        force_cancel(w);
        return;
    }
    m->reason = strsignal((int)si.ssi_signo);
    stop_taking(w);
    m->grace_deadline = rx_now_ms() + w->cfg->grace_ms;
    log_event(w, "info", "stopping",
              kv("reason", m->reason, "running_jobs_get", "the grace period", NULL));
}

/* Consecutive infrastructure errors: stop, and give the jobs in flight back. */
static void
check_breaker(struct supervisor *m)
{
    struct worker *w = m->w;
    if (atomic_load(&w->infra_streak) < w->cfg->max_infra_errors || m->exit_code != WORKER_EXIT_OK)
        return;
    m->exit_code = WORKER_EXIT_BREAKER;
    m->reason = "infrastructure-error breaker";
    stop_taking(w);
    pthread_mutex_lock(&w->log_lock);
    struct json_object *bf = kv("last_error", w->breaker_reason, NULL);
    pthread_mutex_unlock(&w->log_lock);
    json_object_object_add(bf, "consecutive_infra_errors",
                           json_object_new_int(atomic_load(&w->infra_streak)));
    log_event(w, "error", "breaker_tripped", bf);
    force_cancel(w);
}

/* Until every slot has ended: signals, the limits on the run, the breaker
 * and the heartbeat (the sweep has its thread). */
static void
supervise(struct supervisor *m)
{
    struct worker *w = m->w;
    const struct worker_cfg *cfg = w->cfg;
    m->started = rx_now_ms();
    m->next_beat = m->started + cfg->heartbeat_ms;
    m->grace_deadline = -1;
    while (atomic_load(&w->slots_done) < cfg->concurrency) {
        struct pollfd p = {.fd = m->sfd, .events = POLLIN};
        poll(&p, 1, 250);
        on_signal(m);
        long long now = rx_now_ms();
        if (cfg->max_runtime_ms > 0 && now - m->started >= cfg->max_runtime_ms &&
            !atomic_load(&w->stop_taking)) {
            m->reason = "max-runtime reached";
            stop_taking(w);
            log_event(w, "info", "stopping", kv("reason", m->reason, NULL));
        }
        check_breaker(m);
        /* Stopping: nothing takes a warm sandbox any more. */
        if (w->pool != NULL && atomic_load(&w->stop_taking))
            warm_pool_stop(w->pool);
        if (m->grace_deadline >= 0 && now >= m->grace_deadline)
            force_cancel(w);
        if (now >= m->next_beat) {
            housekeeping(w, &m->q);
            m->next_beat = now + cfg->heartbeat_ms;
        }
    }
}

/* Every slot joined, the queue told we are gone, the stop line. */
static void
worker_stop(struct supervisor *m)
{
    struct worker *w = m->w;
    for (int i = 0; i < w->cfg->concurrency; i++) {
        pthread_join(w->slots[i].thread, NULL);
        close(w->slots[i].cancel_pipe[0]);
        close(w->slots[i].cancel_pipe[1]);
    }
    m->q->ops->unregister(m->q);
    struct json_object *sf = kv("reason", m->reason ? m->reason : "max-jobs reached", NULL);
    json_object_object_add(sf, "jobs", json_object_new_int64(atomic_load(&w->finished)));
    json_object_object_add(sf, "exit_code", json_object_new_int(m->exit_code));
    if (m->exit_code == WORKER_EXIT_BREAKER)
        json_object_object_add(sf, "last_error", json_object_new_string(w->breaker_reason));
    log_event(w, m->exit_code ? "error" : "info", "stop", sf);
    if (m->exit_code == WORKER_EXIT_BREAKER)
        fprintf(stderr, "ralph-worker: stopped after %d consecutive infrastructure errors: %s\n",
                atomic_load(&w->infra_streak), w->breaker_reason);
}

int
worker_run(const struct worker_cfg *cfg)
{
    struct worker w = {.cfg = cfg};
    struct supervisor m = {.w = &w, .sfd = -1, .exit_code = WORKER_EXIT_OK};
    pthread_mutex_init(&w.log_lock, NULL);
    mem_budget_init(&w.mem, cfg->memory_budget);
    w.metrics = metrics_new(cfg->version);
    w.owner = xasprintf(OWNER_PREFIX "%s", cfg->worker_id);
    w.run_id = queue_identity_new();
    if (worker_open(&m) == 0) {
        worker_announce(&m);
        if (worker_metrics(&m) == 0 && worker_take_id(&m) == 0 && warm_start(&m) == 0) {
            slots_start(&w);
            m.sweeper.w = &w;
            sweeper_start(&m.sweeper);
            metrics_set(w.metrics, METRICS_TAKING, !atomic_load(&w.stop_taking));
            supervise(&m);
            sweeper_stop(&m.sweeper);
            warm_pool_free(steal_pointer(&w.pool));
            worker_stop(&m);
        }
    }
    if (m.q != NULL)
        m.q->ops->close(m.q);
    docker_client_free(m.sweeper.dc);
    if (m.sfd >= 0)
        close(m.sfd);
    free(w.slots);
    operator_policy_free(&w.policy);
    free(w.owner);
    free(w.run_id);
    free(w.queue_label);
    metrics_free(w.metrics);
    pthread_mutex_destroy(&w.log_lock);
    mem_budget_destroy(&w.mem);
    return m.exit_code;
}

int
worker_status(const struct worker_cfg *cfg)
{
    struct queue_cfg c = qcfg(cfg, NULL);
    struct rx_error *err = NULL;
    struct queue *q = queue_open(cfg->queue_url, &c, &err);
    if (q == NULL) {
        fprintf(stderr, "ralph-worker: %s\n", err->msg);
        int code = err->kind == RX_ERR_REJECTED ? WORKER_EXIT_USAGE : WORKER_EXIT_QUEUE;
        rx_error_free(&err);
        return code;
    }
    struct json_object *o = NULL;
    int r = q->ops->status(q, &o, &err);
    q->ops->close(q);
    if (r < 0) {
        fprintf(stderr, "ralph-worker: status: %s\n", err->msg);
        rx_error_free(&err);
        return WORKER_EXIT_QUEUE;
    }
    printf("%s\n", rx_json_compact(o));
    json_object_put(o);
    return 0;
}
