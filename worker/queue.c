/* SPDX-License-Identifier: MIT */
#include "worker/queue.h"

#include "executor/rx_json.h"
#include "executor/rx_util.h"

#include <uuid/uuid.h>

struct queue *
queue_open(const char *url, const struct queue_cfg *cfg, struct rx_error **err)
{
    if (strncmp(url, "dir:", 4) == 0)
        return queue_dir_open(url + 4, cfg, err);
    if (strncmp(url, "redis://", 8) == 0)
        return queue_redis_open(url, cfg, err);
    return rx_error_reject(err, "--queue %.200s: expected dir:PATH or redis://HOST:PORT[/DB]", url),
           NULL;
}

char *
queue_label(const char *url, const struct queue_cfg *cfg)
{
    if (strncmp(url, "dir:", 4) == 0) {
        char *abs = realpath(url + 4, NULL);
        char *s = xasprintf("dir:%s", abs ? abs : url + 4);
        free(abs);
        return s;
    }
    return xasprintf("%s#%s", url, cfg->prefix ? cfg->prefix : "ralph");
}

char *
queue_identity_new(void)
{
    uuid_t u;
    char s[37];
    uuid_generate_random(u);
    uuid_unparse_lower(u, s);
    return xstrdup(s);
}

bool
queue_identity_valid(const char *id, size_t len)
{
    char s[37];
    uuid_t u;
    if (len != 36)
        return false;
    memcpy(s, id, 36);
    s[36] = '\0';
    return uuid_parse(s, u) == 0;
}

struct queue_job *
queue_job_new(void)
{
    struct queue_job *j = xcalloc(1, sizeof(*j));
    j->lock_fd = -1;
    return j;
}

void
queue_job_free(struct queue_job *job)
{
    if (job == NULL)
        return;
    if (job->lock_fd >= 0)
        close(job->lock_fd);
    free(job->lock);
    free(job->lock_token);
    free(job->payload);
    free(job->handle);
    free(job->default_task_id);
    free(job);
}

struct json_object *
queue_beat_json(const char *worker_id, const struct queue_beat *beat)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "worker_id", json_object_new_string(worker_id));
    json_object_object_add(o, "pid", json_object_new_int((int)getpid()));
    json_object_object_add(o, "inflight", json_object_new_int(beat->inflight));
    json_object_object_add(o, "concurrency", json_object_new_int(beat->concurrency));
    json_object_object_add(o, "memory_budget",
                           beat->memory_budget < 0 ? NULL
                                                   : json_object_new_int64(beat->memory_budget));
    json_object_object_add(o, "memory_in_use", json_object_new_int64(beat->memory_in_use));
    json_object_object_add(o, "memory_waiting", json_object_new_int(beat->memory_waiting));
    json_object_object_add(o, "warm_idle", json_object_new_int(beat->warm_idle));
    json_object_object_add(o, "ts", json_object_new_int64(rx_wall_s()));
    return o;
}

void
queue_status_add_worker(struct json_object *processing, struct json_object *workers,
                        const char *wid, const char *hb, size_t len)
{
    cleanup_json struct json_object *h = rx_json_parse(hb, len, "heartbeat", NULL);
    struct json_object *v = rx_json_get(h, "inflight");
    json_object_object_add(processing, wid, json_object_new_int(v ? json_object_get_int(v) : 0));
    static const char *const keys[] = {"inflight",      "concurrency",    "memory_budget",
                                       "memory_in_use", "memory_waiting", "warm_idle"};
    struct json_object *w = json_object_new_object();
    for (size_t i = 0; i < RX_ARRAY_SIZE(keys); i++) {
        struct json_object *k = NULL; /* a JSON null stays one */
        if (json_object_object_get_ex(h, keys[i], &k) &&
            (k == NULL || json_object_is_type(k, json_type_int)))
            json_object_object_add(w, keys[i], json_object_get(k));
    }
    json_object_object_add(workers, wid, w);
}
