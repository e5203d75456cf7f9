/* SPDX-License-Identifier: MIT */
/* The fleet queue: Redis through hiredis.  Producers LPUSH job JSON onto
 * P:jobs; a worker BLMOVEs one into P:processing:WORKER and keeps
 * P:lease:WORKER alive.  Completing (result SET NX + done push + removal)
 * and requeueing (attempt count, dead letter) are Lua scripts, so each is
 * atomic on the server. */
#include <hiredis/hiredis.h>
#include <time.h>

#include "executor/job_spec.h"
#include "executor/rx_json.h"
#include "executor/rx_util.h"
#include "worker/queue.h"

#define REDIS_IO_TIMEOUT_MS 10000

struct queue_redis {
    struct queue base;
    redisContext *c;
    char *host;
    int port;
    int db;
    char *prefix;
    char *worker_id;
    long long lease_ms;
    int max_attempts;
    long long result_ttl_s;
    char *k_jobs, *k_proc, *k_lease, *k_workers, *k_done, *k_dead, *k_attempts, *k_stats;
};

/* KEYS: result, done, processing, stats, attempts.  ARGV: result, ttl,
 * task_id, payload, outcome field ("done" or "failed"). */
static const char complete_lua[] =
    "if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then\n"
    "  redis.call('LPUSH', KEYS[2], ARGV[3])\n"
    "  redis.call('HINCRBY', KEYS[4], ARGV[5], 1)\n"
    "end\n"
    "redis.call('LREM', KEYS[3], 1, ARGV[4])\n"
    "redis.call('HDEL', KEYS[5], redis.sha1hex(ARGV[4]))\n"
    "return 1\n";

/* KEYS: processing, jobs, attempts, dead, stats.  ARGV: payload, count (0/1),
 * max attempts, reason.  Returns 1 when dead-lettered, 0 when requeued,
 * -1 when the item was not in the processing list (someone else moved it). */
static const char release_lua[] =
    "if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return -1 end\n"
    "if ARGV[2] == '1' then\n"
    "  local h = redis.sha1hex(ARGV[1])\n"
    "  local a = redis.call('HINCRBY', KEYS[3], h, 1)\n"
    "  if a >= tonumber(ARGV[3]) then\n"
    "    redis.call('LPUSH', KEYS[4], cjson.encode({job=ARGV[1], error=ARGV[4], attempts=a}))\n"
    "    redis.call('HDEL', KEYS[3], h)\n"
    "    redis.call('HINCRBY', KEYS[5], 'dead', 1)\n"
    "    return 1\n"
    "  end\n"
    "end\n"
    "redis.call('RPUSH', KEYS[2], ARGV[1])\n"
    "return 0\n";

/* KEYS: lease, processing, jobs, attempts, dead, stats, workers.  ARGV:
 * max attempts, reason, worker id, force.  -1 if the worker is alive (and
 * force is not "1"), else the number of jobs moved back (or dead-lettered). */
static const char reap_lua[] =
    "if ARGV[4] ~= '1' and redis.call('EXISTS', KEYS[1]) == 1 then return -1 end\n"
    "local n = 0\n"
    "while true do\n"
    "  local item = redis.call('RPOP', KEYS[2])\n"
    "  if not item then break end\n"
    "  local h = redis.sha1hex(item)\n"
    "  local a = redis.call('HINCRBY', KEYS[4], h, 1)\n"
    "  if a >= tonumber(ARGV[1]) then\n"
    "    redis.call('LPUSH', KEYS[5], cjson.encode({job=item, error=ARGV[2], attempts=a}))\n"
    "    redis.call('HDEL', KEYS[4], h)\n"
    "    redis.call('HINCRBY', KEYS[6], 'dead', 1)\n"
    "  else\n"
    "    redis.call('RPUSH', KEYS[3], item)\n"
    "  end\n"
    "  n = n + 1\n"
    "end\n"
    "redis.call('SREM', KEYS[7], ARGV[3])\n"
    "return n\n";

static void
drop(struct queue_redis *r)
{
    if (r->c != NULL)
        redisFree(r->c);
    r->c = NULL;
}

static int
connect_redis(struct queue_redis *r, struct rx_error **err)
{
    if (r->c != NULL)
        return 0;
    struct timeval tv = {2, 0};
    r->c = redisConnectWithTimeout(r->host, r->port, tv);
    if (r->c == NULL)
        rx_oom();
    if (r->c->err) {
        rx_error_set(err, ECONNREFUSED, "redis %s:%d: %s", r->host, r->port, r->c->errstr);
        drop(r);
        return -1;
    }
    struct timeval io = {REDIS_IO_TIMEOUT_MS / 1000, 0};
    redisSetTimeout(r->c, io);
    if (r->db != 0) {
        redisReply *rep = redisCommand(r->c, "SELECT %d", r->db);
        bool ok = rep && rep->type == REDIS_REPLY_STATUS;
        if (rep)
            freeReplyObject(rep);
        if (!ok) {
            rx_error_set(err, EIO, "redis %s:%d: SELECT %d failed", r->host, r->port, r->db);
            drop(r);
            return -1;
        }
    }
    return 0;
}

/* Run one command (binary-safe).  On a connection error the context is
 * dropped, so the next call reconnects.  Returns the reply or NULL. */
static redisReply *
cmd(struct queue_redis *r, struct rx_error **err, int argc, const char **argv, const size_t *lens)
{
    if (connect_redis(r, err) < 0)
        return NULL;
    redisReply *rep = redisCommandArgv(r->c, argc, argv, lens);
    if (rep == NULL) {
        rx_error_set(err, EIO, "redis %s:%d: %s: %s", r->host, r->port, argv[0],
                     r->c->errstr[0] ? r->c->errstr : "connection lost");
        drop(r);
        return NULL;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        rx_error_set(err, EIO, "redis: %s: %.300s", argv[0], rep->str);
        freeReplyObject(rep);
        return NULL;
    }
    return rep;
}

/* A command of NUL-terminated strings. */
static redisReply *
cmds(struct queue_redis *r, struct rx_error **err, int argc, const char **argv)
{
    size_t lens[24];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    return cmd(r, err, argc, argv, lens);
}

static int
redis_claim(struct queue *q, int timeout_ms, struct queue_job **out, struct rx_error **err)
{
    struct queue_redis *r = (struct queue_redis *)q;
    *out = NULL;
    if (connect_redis(r, err) < 0)
        return -1;
    char tmo[32];
    snprintf(tmo, sizeof(tmo), "%.3f", timeout_ms / 1000.0);
    struct timeval io = {(REDIS_IO_TIMEOUT_MS + timeout_ms) / 1000, 0};
    redisSetTimeout(r->c, io);
    const char *argv[] = {"BLMOVE", r->k_jobs, r->k_proc, "RIGHT", "LEFT", tmo};
    redisReply *rep = cmds(r, err, 6, argv);
    if (r->c != NULL) {
        struct timeval io2 = {REDIS_IO_TIMEOUT_MS / 1000, 0};
        redisSetTimeout(r->c, io2);
    }
    if (rep == NULL)
        return -1;
    if (rep->type == REDIS_REPLY_STRING) {
        struct queue_job *j = xcalloc(1, sizeof(*j));
        j->payload = xmalloc(rep->len + 1);
        memcpy(j->payload, rep->str, rep->len);
        j->payload[rep->len] = '\0';
        j->len = rep->len;
        j->handle = xmalloc(rep->len + 1);
        memcpy(j->handle, rep->str, rep->len + 1);
        *out = j;
    }
    freeReplyObject(rep);
    return 0;
}

static int
redis_result_exists(struct queue *q, const char *task_id, bool *exists, struct rx_error **err)
{
    struct queue_redis *r = (struct queue_redis *)q;
    cleanup_free char *key = xasprintf("%s:result:%s", r->prefix, task_id);
    const char *argv[] = {"EXISTS", key};
    redisReply *rep = cmds(r, err, 2, argv);
    if (rep == NULL)
        return -1;
    *exists = rep->type == REDIS_REPLY_INTEGER && rep->integer > 0;
    freeReplyObject(rep);
    return 0;
}

static int
redis_complete(struct queue *q, struct queue_job *job, const char *task_id, const char *result,
               bool success, struct rx_error **err)
{
    struct queue_redis *r = (struct queue_redis *)q;
    cleanup_free char *key = xasprintf("%s:result:%s", r->prefix, task_id);
    char ttl[32];
    snprintf(ttl, sizeof(ttl), "%lld", r->result_ttl_s);
    if (result == NULL) {
        /* Already done elsewhere: only take it off our list. */
        const char *argv[] = {"LREM", r->k_proc, "1", job->handle};
        size_t lens[] = {4, strlen(r->k_proc), 1, job->len};
        redisReply *rep = cmd(r, err, 4, argv, lens);
        if (rep == NULL)
            return -1;
        freeReplyObject(rep);
        return 0;
    }
    const char *argv[] = {"EVAL", complete_lua, "5", key, r->k_done, r->k_proc, r->k_stats,
                          r->k_attempts, result, ttl, task_id, job->handle,
                          success ? "done" : "failed"};
    size_t lens[13];
    for (int i = 0; i < 13; i++)
        lens[i] = strlen(argv[i]);
    lens[11] = job->len;
    redisReply *rep = cmd(r, err, 13, argv, lens);
    if (rep == NULL)
        return -1;
    freeReplyObject(rep);
    return 0;
}

static int
redis_release(struct queue *q, struct queue_job *job, bool count, const char *why,
              struct rx_error **err)
{
    struct queue_redis *r = (struct queue_redis *)q;
    char maxa[16];
    snprintf(maxa, sizeof(maxa), "%d", r->max_attempts);
    const char *argv[] = {"EVAL", release_lua, "5", r->k_proc, r->k_jobs, r->k_attempts,
                          r->k_dead, r->k_stats, job->handle, count ? "1" : "0", maxa,
                          why ? why : "unknown"};
    size_t lens[12];
    for (int i = 0; i < 12; i++)
        lens[i] = strlen(argv[i]);
    lens[8] = job->len;
    redisReply *rep = cmd(r, err, 12, argv, lens);
    if (rep == NULL)
        return -1;
    int dead = rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
    freeReplyObject(rep);
    return dead ? 1 : 0;
}

static int
redis_heartbeat(struct queue *q, int inflight, int concurrency, struct rx_error **err)
{
    struct queue_redis *r = (struct queue_redis *)q;
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "host", json_object_new_string(host));
    json_object_object_add(o, "pid", json_object_new_int((int)getpid()));
    json_object_object_add(o, "inflight", json_object_new_int(inflight));
    json_object_object_add(o, "concurrency", json_object_new_int(concurrency));
    json_object_object_add(o, "ts", json_object_new_int64(rx_wall_s()));
    char px[32];
    snprintf(px, sizeof(px), "%lld", r->lease_ms);
    const char *argv[] = {"SET", r->k_lease, rx_json_compact(o), "PX", px};
    redisReply *rep = cmds(r, err, 5, argv);
    json_object_put(o);
    if (rep == NULL)
        return -1;
    freeReplyObject(rep);
    const char *argv2[] = {"SADD", r->k_workers, r->worker_id};
    rep = cmds(r, err, 3, argv2);
    if (rep == NULL)
        return -1;
    freeReplyObject(rep);
    return 0;
}

static int
redis_reap(struct queue *q, int *n, struct rx_error **err)
{
    struct queue_redis *r = (struct queue_redis *)q;
    *n = 0;
    const char *argv[] = {"SMEMBERS", r->k_workers};
    redisReply *rep = cmds(r, err, 2, argv);
    if (rep == NULL)
        return -1;
    char maxa[16];
    snprintf(maxa, sizeof(maxa), "%d", r->max_attempts);
    for (size_t i = 0; rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++) {
        const char *wid = rep->element[i]->str;
        if (wid == NULL || strcmp(wid, r->worker_id) == 0)
            continue;
        cleanup_free char *lease = xasprintf("%s:lease:%s", r->prefix, wid);
        cleanup_free char *proc = xasprintf("%s:processing:%s", r->prefix, wid);
        const char *a2[] = {"EVAL", reap_lua, "7", lease, proc, r->k_jobs, r->k_attempts,
                            r->k_dead, r->k_stats, r->k_workers, maxa,
                            "the worker running it stopped heartbeating", wid, "0"};
        struct rx_error *e2 = NULL;
        redisReply *r2 = cmds(r, &e2, 14, a2);
        if (r2 == NULL) {
            freeReplyObject(rep);
            if (err)
                *err = e2;
            else
                rx_error_free(&e2);
            return -1;
        }
        if (r2->type == REDIS_REPLY_INTEGER && r2->integer > 0)
            *n += (int)r2->integer;
        freeReplyObject(r2);
    }
    freeReplyObject(rep);
    return 0;
}

static int
redis_recover(struct queue *q, int *n, struct rx_error **err)
{
    struct queue_redis *r = (struct queue_redis *)q;
    char maxa[16];
    snprintf(maxa, sizeof(maxa), "%d", r->max_attempts);
    const char *argv[] = {"EVAL", reap_lua, "7", r->k_lease, r->k_proc, r->k_jobs, r->k_attempts,
                          r->k_dead, r->k_stats, r->k_workers, maxa,
                          "the worker running it was restarted", r->worker_id, "1"};
    redisReply *rep = cmds(r, err, 14, argv);
    if (rep == NULL)
        return -1;
    *n = rep->type == REDIS_REPLY_INTEGER && rep->integer > 0 ? (int)rep->integer : 0;
    freeReplyObject(rep);
    return 0;
}

static int
redis_worker_alive(struct queue *q, const char *wid, bool *alive, struct rx_error **err)
{
    struct queue_redis *r = (struct queue_redis *)q;
    cleanup_free char *lease = xasprintf("%s:lease:%s", r->prefix, wid);
    const char *argv[] = {"EXISTS", lease};
    redisReply *rep = cmds(r, err, 2, argv);
    if (rep == NULL)
        return -1;
    *alive = rep->type == REDIS_REPLY_INTEGER && rep->integer > 0;
    freeReplyObject(rep);
    return 0;
}

static long long
int_reply(struct queue_redis *r, struct rx_error **err, int argc, const char **argv)
{
    redisReply *rep = cmds(r, err, argc, argv);
    if (rep == NULL)
        return -1;
    long long v = rep->type == REDIS_REPLY_INTEGER ? rep->integer
                  : rep->type == REDIS_REPLY_STRING ? strtoll(rep->str, NULL, 10)
                                                    : 0;
    freeReplyObject(rep);
    return v;
}

static int
redis_status(struct queue *q, struct json_object **out, struct rx_error **err)
{
    struct queue_redis *r = (struct queue_redis *)q;
    const char *a1[] = {"LLEN", r->k_jobs};
    long long queued = int_reply(r, err, 2, a1);
    if (queued < 0)
        return -1;
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "queued", json_object_new_int64(queued));
    struct json_object *proc = json_object_new_object();
    const char *a2[] = {"SMEMBERS", r->k_workers};
    redisReply *rep = cmds(r, err, 2, a2);
    for (size_t i = 0; rep && rep->type == REDIS_REPLY_ARRAY && i < rep->elements; i++) {
        const char *wid = rep->element[i]->str;
        cleanup_free char *lease = xasprintf("%s:lease:%s", r->prefix, wid);
        const char *a3[] = {"GET", lease};
        redisReply *hb = cmds(r, NULL, 2, a3);
        if (hb && hb->type == REDIS_REPLY_STRING) {
            struct json_object *h = rx_json_parse(hb->str, hb->len, "lease", NULL);
            struct json_object *v = rx_json_get(h, "inflight");
            json_object_object_add(proc, wid, json_object_new_int(v ? json_object_get_int(v) : 0));
            if (h)
                json_object_put(h);
        }
        if (hb)
            freeReplyObject(hb);
    }
    if (rep)
        freeReplyObject(rep);
    json_object_object_add(o, "processing", proc);
    const char *fields[] = {"done", "failed"};
    for (int i = 0; i < 2; i++) {
        const char *a4[] = {"HGET", r->k_stats, fields[i]};
        long long v = int_reply(r, NULL, 3, a4);
        json_object_object_add(o, fields[i], json_object_new_int64(v < 0 ? 0 : v));
    }
    const char *a5[] = {"LLEN", r->k_dead};
    long long dead = int_reply(r, NULL, 2, a5);
    json_object_object_add(o, "dead", json_object_new_int64(dead < 0 ? 0 : dead));
    *out = o;
    return 0;
}

static int
redis_identity(struct queue *q, char **id, struct rx_error **err)
{
    struct queue_redis *r = (struct queue_redis *)q;
    cleanup_free char *key = xasprintf("%s:queue-id", r->prefix);
    cleanup_free char *fresh = queue_identity_new();
    const char *set[] = {"SET", key, fresh, "NX"};
    redisReply *rep = cmds(r, err, 4, set);
    if (rep == NULL)
        return -1;
    freeReplyObject(rep);
    const char *get[] = {"GET", key};
    rep = cmds(r, err, 2, get);
    if (rep == NULL)
        return -1;
    if (rep->type != REDIS_REPLY_STRING || !queue_identity_valid(rep->str, rep->len)) {
        freeReplyObject(rep);
        return rx_error_set(err, EPROTO, "redis key %s: not a queue id (delete it to make a new one)",
                            key);
    }
    *id = xstrndup(rep->str, rep->len);
    freeReplyObject(rep);
    return 0;
}

static void
redis_unregister(struct queue *q)
{
    struct queue_redis *r = (struct queue_redis *)q;
    const char *a1[] = {"DEL", r->k_lease};
    redisReply *rep = cmds(r, NULL, 2, a1);
    if (rep)
        freeReplyObject(rep);
    const char *a2[] = {"LLEN", r->k_proc};
    if (int_reply(r, NULL, 2, a2) == 0) {
        const char *a3[] = {"SREM", r->k_workers, r->worker_id};
        rep = cmds(r, NULL, 3, a3);
        if (rep)
            freeReplyObject(rep);
    }
}

static void
redis_close(struct queue *q)
{
    struct queue_redis *r = (struct queue_redis *)q;
    drop(r);
    free(r->host);
    free(r->prefix);
    free(r->worker_id);
    free(r->k_jobs);
    free(r->k_proc);
    free(r->k_lease);
    free(r->k_workers);
    free(r->k_done);
    free(r->k_dead);
    free(r->k_attempts);
    free(r->k_stats);
    free(r);
}

static const struct queue_ops redis_ops = {
    .kind = "redis",
    .claim = redis_claim,
    .result_exists = redis_result_exists,
    .complete = redis_complete,
    .release = redis_release,
    .heartbeat = redis_heartbeat,
    .reap = redis_reap,
    .recover = redis_recover,
    .worker_alive = redis_worker_alive,
    .status = redis_status,
    .identity = redis_identity,
    .unregister = redis_unregister,
    .close = redis_close,
};

struct queue *
queue_redis_open(const char *url, const struct queue_cfg *cfg, struct rx_error **err)
{
    /* redis://HOST:PORT[/DB] */
    const char *p = url + strlen("redis://");
    const char *colon = strrchr(p, ':');
    const char *slash = strchr(p, '/');
    if (colon == NULL || colon == p || (slash && slash < colon))
        return rx_error_reject(err, "queue %s: expected redis://HOST:PORT[/DB]", url), NULL;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    long db = 0;
    if (port < 1 || port > 65535 || (*end != '\0' && *end != '/'))
        return rx_error_reject(err, "queue %s: bad port", url), NULL;
    if (*end == '/') {
        db = strtol(end + 1, &end, 10);
        if (*end != '\0' || db < 0 || db > 100000)
            return rx_error_reject(err, "queue %s: bad database number", url), NULL;
    }
    struct queue_redis *r = xcalloc(1, sizeof(*r));
    r->base.ops = &redis_ops;
    r->host = xstrndup(p, (size_t)(colon - p));
    r->port = (int)port;
    r->db = (int)db;
    r->prefix = xstrdup(cfg->prefix ? cfg->prefix : "ralph");
    r->worker_id = xstrdup(cfg->worker_id);
    r->lease_ms = cfg->lease_ms;
    r->max_attempts = cfg->max_attempts;
    r->result_ttl_s = cfg->result_ttl_s;
    r->k_jobs = xasprintf("%s:jobs", r->prefix);
    r->k_proc = xasprintf("%s:processing:%s", r->prefix, r->worker_id);
    r->k_lease = xasprintf("%s:lease:%s", r->prefix, r->worker_id);
    r->k_workers = xasprintf("%s:workers", r->prefix);
    r->k_done = xasprintf("%s:done", r->prefix);
    r->k_dead = xasprintf("%s:dead", r->prefix);
    r->k_attempts = xasprintf("%s:attempts", r->prefix);
    r->k_stats = xasprintf("%s:stats", r->prefix);
    if (connect_redis(r, err) < 0) {
        redis_close(&r->base);
        return NULL;
    }
    return &r->base;
}
