/* SPDX-License-Identifier: MIT */
#include "worker/warm_pool.h"

#include <fcntl.h>
#include <pthread.h>
#include <time.h>

#include "executor/docker_container.h"
#include "executor/rx_json.h"
#include "executor/rx_util.h"

/* How long the maker waits between looks at the pool (room comes back as
 * jobs end, which nothing signals), and after a sandbox it could not make. */
#define WARM_LOOK_MS 200
#define WARM_RETRY_MS 5000

struct warm_pool {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
    bool running;
    bool stopping;
    int target;
    long long ttl_ms;
    struct job_spec *tmpl;
    struct executor_opts opts;
    struct warm_pool_hooks hooks;
    struct warm_sandbox *idle; /* target entries, n_idle of them used */
    int n_idle;
    bool failing;  /* the last make failed: said once, until one works */
    bool disabled; /* the engine cannot have a pool (Podman): nothing more is made */
    int cancel[2]; /* written by warm_pool_stop: a make in flight ends at once */
};

static void
note(struct warm_pool *p, const char *level, const char *event, const char *id, const char *why)
{
    struct json_object *f = json_object_new_object();
    if (id != NULL)
        json_object_object_add(f, "container_id", json_object_new_string(id));
    if (why != NULL)
        json_object_object_add(f, "error", json_object_new_string(why));
    p->hooks.note(p->hooks.ud, level, event, f);
}

/* Remove an idle sandbox (lock not held); one that cannot be is said, with
 * its id, for the sweep (its deadline) or the operator. */
static void
remove_sandbox(struct warm_pool *p, struct docker_client **dc, struct warm_sandbox *ws)
{
    struct rx_error *err = NULL;
    if (*dc == NULL)
        *dc = docker_client_new(NULL, p->cancel[0], &err);
    if (*dc != NULL && docker_container_remove(*dc, ws->id, &err) == 0) {
        executor_warm_free(ws);
        return;
    }
    note(p, "warn", "warm_not_removed", ws->id, err ? err->msg : "no engine client");
    rx_error_free(&err);
    docker_client_free(steal_pointer(dc)); /* a fresh one next time */
    executor_warm_free(ws);
}

static void
wait_ms(struct warm_pool *p, long long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&p->cond, &p->lock, &ts);
}

/* The first idle sandbox past its TTL, taken out (lock held); false: none. */
static bool
take_expired(struct warm_pool *p, struct warm_sandbox *out)
{
    long long now = rx_now_ms();
    for (int i = 0; i < p->n_idle; i++) {
        if (now - p->idle[i].made_ms < p->ttl_ms)
            continue;
        *out = p->idle[i];
        p->idle[i] = p->idle[--p->n_idle];
        return true;
    }
    return false;
}

/* One sandbox made (lock released meanwhile); false when it failed. */
static bool
make_one(struct warm_pool *p, struct docker_client **dc)
{
    struct rx_error *err = NULL;
    struct warm_sandbox ws;
    pthread_mutex_unlock(&p->lock);
    if (*dc == NULL)
        *dc = docker_client_new(NULL, p->cancel[0], &err);
    int r = *dc == NULL ? -1 : executor_warm_make(*dc, p->tmpl, &p->opts, p->ttl_ms, &ws, &err);
    if (r < 0) {
        if (!p->failing && err->kind != RX_ERR_CANCELLED) /* cancelled: stopping */
            note(p, "warn", "warm_failed", NULL, err->msg);
        p->failing = true;
        p->disabled = err->code == ENOTSUP;
        rx_error_free(&err);
        docker_client_free(*dc);
        *dc = NULL;
        pthread_mutex_lock(&p->lock);
        return false;
    }
    p->failing = false;
    pthread_mutex_lock(&p->lock);
    if (p->stopping || p->n_idle >= p->target) {
        pthread_mutex_unlock(&p->lock);
        remove_sandbox(p, dc, &ws);
        pthread_mutex_lock(&p->lock);
        return true;
    }
    p->idle[p->n_idle++] = ws;
    return true;
}

static void *
maker_main(void *arg)
{
    struct warm_pool *p = arg;
    struct docker_client *dc = NULL;
    pthread_mutex_lock(&p->lock);
    while (!p->stopping) {
        struct warm_sandbox old;
        if (take_expired(p, &old)) {
            pthread_mutex_unlock(&p->lock);
            note(p, "info", "warm_recycled", old.id, NULL);
            remove_sandbox(p, &dc, &old);
            pthread_mutex_lock(&p->lock);
            continue;
        }
        if (!p->disabled && p->n_idle < p->target && p->hooks.room(p->hooks.ud, p->n_idle)) {
            if (!make_one(p, &dc))
                wait_ms(p, WARM_RETRY_MS);
            continue;
        }
        wait_ms(p, WARM_LOOK_MS);
    }
    /* Stopping: every idle sandbox goes. */
    while (p->n_idle > 0) {
        struct warm_sandbox ws = p->idle[--p->n_idle];
        pthread_mutex_unlock(&p->lock);
        remove_sandbox(p, &dc, &ws);
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    docker_client_free(dc);
    return NULL;
}

struct warm_pool *
warm_pool_new(int target, long long ttl_ms, struct job_spec *tmpl, const struct executor_opts *opts,
              const struct warm_pool_hooks *hooks)
{
    struct warm_pool *p = xcalloc(1, sizeof(*p));
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cond, &ca);
    pthread_condattr_destroy(&ca);
    p->target = target;
    p->ttl_ms = ttl_ms;
    p->tmpl = tmpl;
    p->opts = *opts;
    p->hooks = *hooks;
    p->idle = xcalloc((size_t)target, sizeof(*p->idle));
    if (pipe2(p->cancel, O_CLOEXEC | O_NONBLOCK) < 0)
        rx_oom();
    return p;
}

int
warm_pool_start(struct warm_pool *p)
{
    p->running = pthread_create(&p->thread, NULL, maker_main, p) == 0;
    return p->running ? 0 : -1;
}

bool
warm_pool_take(struct warm_pool *p, const struct job_spec *job, const struct executor_opts *opts,
               bool podman, struct warm_sandbox *ws)
{
    bool found = false;
    pthread_mutex_lock(&p->lock);
    for (int i = 0; i < p->n_idle && !found; i++) {
        if (!executor_warm_fits(&p->idle[i], job, opts, podman))
            continue;
        *ws = p->idle[i];
        p->idle[i] = p->idle[--p->n_idle];
        found = true;
    }
    if (found)
        pthread_cond_signal(&p->cond); /* one to make again */
    pthread_mutex_unlock(&p->lock);
    return found;
}

int
warm_pool_idle(struct warm_pool *p)
{
    pthread_mutex_lock(&p->lock);
    int n = p->n_idle;
    pthread_mutex_unlock(&p->lock);
    return n;
}

void
warm_pool_stop(struct warm_pool *p)
{
    pthread_mutex_lock(&p->lock);
    if (!p->stopping) {
        /* Removals are never cancelled (docker_container_remove): the
         * drain goes on. */
        ssize_t w RX_UNUSED = write(p->cancel[1], "x", 1);
    }
    p->stopping = true;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

void
warm_pool_free(struct warm_pool *p)
{
    if (p == NULL)
        return;
    warm_pool_stop(p);
    if (p->running)
        pthread_join(p->thread, NULL);
    for (int i = 0; i < p->n_idle; i++)
        executor_warm_free(&p->idle[i]); /* never started: nothing to remove */
    free(p->idle);
    close(p->cancel[0]);
    close(p->cancel[1]);
    job_spec_free(p->tmpl);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
