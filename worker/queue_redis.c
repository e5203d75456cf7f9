/* SPDX-License-Identifier: MIT */
/* The fleet queue: Redis through hiredis.  Producers LPUSH job JSON onto
 * P:jobs; a worker BLMOVEs one into P:processing:WORKER and keeps
 * P:lease:WORKER alive.  Completing (result SET NX + done push + removal)
 * and requeueing (attempt count, dead letter) are Lua scripts, so each is
 * atomic on the server. */
#include <hiredis/hiredis.h>
#include <time.h>

#include "executor/limits.h"
#include "executor/rx_json.h"
#include "executor/rx_util.h"
#include "worker/queue.h"

#define REDIS_IO_TIMEOUT_MS 10000
/* The longest a run lock outlives a worker that vanished without a trace
 * (its lease key deleted by hand, say): longer than any job's timeout. */
#define REDIS_LOCK_MAX_MS (2LL * 86400 * 1000)

static void
reply_freep(redisReply **rep)
{
    if (*rep != NULL)
        freeReplyObject(*rep);
}
/* Frees a hiredis reply when it goes out of scope. */
#define cleanup_reply __attribute__((cleanup(reply_freep)))

struct queue_redis {
    struct queue base;
    redisContext *c;
    bool claim_ok; /* this connection's BLMOVE and CLIENT REPLY were checked */
    char *host;
    int port;
    int db;
    char *prefix;
    char *worker_id;
    char *run_id;
    char *me; /* "WORKER RUN": a claim's lock value is this and a token */
    long long lease_ms;
    int max_attempts;
    long long result_ttl_s;
    queue_note_fn *note; /* may be NULL */
    void *note_ud;
    unsigned long long noted[LIMIT_REDIS_NOTED]; /* hashes of members reap_failed was said of */
    unsigned n_noted;
    long long last_beat_ms; /* when this run's lease was last renewed; 0: never */
    char reap_cursor[24];   /* where the reaper's walk of P:workers is ("0": a new walk) */
    char *k_jobs, *k_proc, *k_claiming, *k_lease, *k_workers, *k_done, *k_dead, *k_attempts,
        *k_stats, *k_lease_prefix;
};

/* Lua prelude: refuse keys of the wrong type before any write, so that a
 * script never stops half-way (Redis does not undo what a failed script
 * already did: a job taken off one list and not put on the next is lost).
 * A producer can write any key; a key of the wrong type is an error the
 * worker logs, never a lost job. */
#define LUA_GUARD                                                                               \
    "local function wrong(k, want)\n"                                                           \
    "  local t = redis.call('TYPE', k)['ok']\n"                                                 \
    "  if t ~= 'none' and t ~= want then\n"                                                     \
    "    return redis.error_reply('the key ' .. k .. ' holds a ' .. t .. ', not a ' .. want)\n" \
    "  end\n"                                                                                   \
    "end\n"

/* KEYS: claiming, jobs, processing.  ARGV: the job size cap.  Takes the
 * oldest job: one a blocking claim staged in claiming (see redis_claim),
 * else the next one on jobs, onto the processing list.  A job over the cap
 * is measured here, on the server, and dropped: only its length comes back
 * (an integer), so the worker never receives it.  nil when there is none. */
static const char take_lua[] = LUA_GUARD "for i = 1, 3 do\n"
                                         "  local e = wrong(KEYS[i], 'list')\n"
                                         "  if e then return e end\n"
                                         "end\n"
                                         "local item = redis.call('RPOP', KEYS[1])\n"
                                         "if not item then item = redis.call('RPOP', KEYS[2]) end\n"
                                         "if not item then return false end\n"
                                         "if #item > tonumber(ARGV[1]) then return #item end\n"
                                         "redis.call('LPUSH', KEYS[3], item)\n"
                                         "return item\n";

/* KEYS: running.  ARGV: this claim ("WORKER RUN TOKEN"), lease key
 * prefix, expiry (ms).  1 when the lock is ours (taken now, or by this
 * same claim before: a retry after a lost reply), 0 when a live run holds
 * it: a holder whose lease is gone, or whose lease is a later run's (it
 * was restarted), has stopped running it. */
static const char lock_lua[] =
    "local t = redis.call('TYPE', KEYS[1])['ok']\n"
    "if t == 'string' then\n"
    "  local v = redis.call('GET', KEYS[1])\n"
    "  local w, run = string.match(v, '^(%S+) (%S+)')\n"
    "  if v == ARGV[1] then w = nil end\n"
    "  if w then\n"
    "    local l = redis.pcall('GET', ARGV[2] .. w)\n"
    "    if type(l) == 'string' then\n"
    "      local ok, h = pcall(cjson.decode, l)\n"
    "      if ok and type(h) == 'table' and h.run == run then return 0 end\n"
    "    end\n"
    "  end\n"
    "elseif t ~= 'none' then\n"
    "  redis.call('DEL', KEYS[1])\n"
    "end\n"
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])\n"
    "return 1\n";

/* KEYS: a key written by workers that anyone may overwrite.  ARGV: the
 * most bytes the worker reads of it.  nil when it is not a string. */
static const char small_get_lua[] =
    "if redis.call('TYPE', KEYS[1])['ok'] ~= 'string' then return false end\n"
    "if redis.call('STRLEN', KEYS[1]) > tonumber(ARGV[1]) then\n"
    "  return redis.error_reply('the key ' .. KEYS[1] .. ' holds more than ' .. ARGV[1] .. ' bytes')\n"
    "end\n"
    "return redis.call('GET', KEYS[1])\n";

/* KEYS: this worker's lease.  ARGV: the heartbeat, its expiry (ms).
 * Renews the lease, whatever the key held, and says only whether there was
 * one (1, else 0): never what it held, which anyone may have made 512 MB
 * (SET ... GET sent that back, once per heartbeat). */
static const char beat_lua[] = "local had = redis.call('EXISTS', KEYS[1])\n"
                               "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
                               "return had\n";

/* Give up the run lock KEYS[i] if ARGV[j] (this run) holds it. */
#define LUA_UNLOCK(K, A)                                                   \
    "if " K " ~= '' and redis.call('TYPE', " K ")['ok'] == 'string' and\n" \
    "   redis.call('GET', " K ") == " A " then\n"                          \
    "  redis.call('DEL', " K ")\n"                                         \
    "end\n"

/* KEYS: running ('' if none).  ARGV: this claim's lock value. */
static const char unlock_lua[] = LUA_UNLOCK("KEYS[1]", "ARGV[1]") "return 1\n";

/* KEYS: result, done, processing, stats, attempts, running ('' if none).
 * ARGV: result ('' drops the job as a duplicate), ttl, task_id, the item,
 * outcome field ("done" or "failed"), this claim's lock value, '1' when the item is on
 * the processing list (a job too large to read is not).  The bookkeeping (done, stats, attempts) is done
 * with pcall: a producer's key of the wrong type there must not keep a
 * result from being stored. */
static const char complete_lua[] = LUA_GUARD
    "local e = wrong(KEYS[3], 'list')\n"
    "if e then return e end\n"
    "if ARGV[1] == '' then\n"
    "  redis.pcall('HINCRBY', KEYS[4], 'duplicates', 1)\n"
    "elseif redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then\n"
    "  redis.pcall('LPUSH', KEYS[2], ARGV[3])\n"
    "  redis.pcall('HINCRBY', KEYS[4], ARGV[5], 1)\n"
    "end\n"
    "if ARGV[7] == '1' then\n"
    "  redis.call('LREM', KEYS[3], 1, ARGV[4])\n"
    "  redis.pcall('HDEL', KEYS[5], redis.sha1hex(ARGV[4]))\n"
    "end\n" LUA_UNLOCK("KEYS[6]", "ARGV[6]") "return 1\n";

/* KEYS: workers.  ARGV: an SSCAN cursor, the longest worker id, how many
 * names to send, this worker's id, '1' to remove the members that are no
 * worker id.  Walks the set on the server from the cursor, SSCAN step by
 * step (at most 256 of them), until it has that many names or the walk is
 * done.  A member that cannot be a worker id (too long, or a byte no id
 * has) is never sent, and is removed when asked: anyone may SADD a 300 MB
 * one, which SMEMBERS sent whole at every heartbeat.  Returns {the next
 * cursor ('0': the walk is done), names...}: at most the names asked for,
 * plus the rest of the last step's (a set small enough to be stored
 * compactly is one step: set-max-listpack-entries and
 * set-max-intset-entries, 128 and 512 by default, bound it). */
static const char members_lua[] =
    "local t = redis.call('TYPE', KEYS[1])['ok']\n"
    "if t == 'none' then return {'0'} end\n"
    "if t ~= 'set' then\n"
    "  return redis.error_reply('the key ' .. KEYS[1] .. ' holds a ' .. t .. ', not a set')\n"
    "end\n"
    "local cursor, maxlen, want = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local out, steps = {'0'}, 0\n"
    "repeat\n"
    "  local r = redis.call('SSCAN', KEYS[1], cursor, 'COUNT', 16)\n"
    "  cursor, steps = r[1], steps + 1\n"
    "  for _, m in ipairs(r[2]) do\n"
    "    if #m > maxlen or not string.find(m, '^[%w._-]+$') then\n"
    "      if ARGV[5] == '1' then redis.call('SREM', KEYS[1], m) end\n"
    "    elseif m ~= ARGV[4] then\n"
    "      out[#out + 1] = m\n"
    "    end\n"
    "  end\n"
    "until cursor == '0' or #out > want or steps >= 256\n"
    "out[1] = cursor\n"
    "return out\n";

/* Dead-letter or requeue ITEM (attempt count A, or nil when not counted):
 * a dead list or attempts hash of the wrong type requeues it instead. */
#define LUA_REQUEUE                                                                                 \
    "local function requeue(item, count, maxa, why, jobs, attempts, dead, stats)\n"                 \
    "  if count then\n"                                                                             \
    "    local h = redis.sha1hex(item)\n"                                                           \
    "    local a = redis.pcall('HINCRBY', attempts, h, 1)\n"                                        \
    "    if type(a) == 'number' and a >= tonumber(maxa) then\n"                                     \
    "      local d = redis.pcall('LPUSH', dead, cjson.encode({job=item, error=why, attempts=a}))\n" \
    "      if type(d) == 'number' then\n"                                                           \
    "        redis.pcall('HDEL', attempts, h)\n"                                                    \
    "        redis.pcall('HINCRBY', stats, 'dead', 1)\n"                                            \
    "        return 1\n"                                                                            \
    "      end\n"                                                                                   \
    "    end\n"                                                                                     \
    "  end\n"                                                                                       \
    "  redis.call('RPUSH', jobs, item)\n"                                                           \
    "  return 0\n"                                                                                  \
    "end\n"

/* KEYS: processing, jobs, attempts, dead, stats, running ('' if none),
 * result, done.  ARGV: payload, count (0/1), max attempts, reason, this
 * claim's lock value, the result to store when dead-lettered ('' none),
 * its ttl, task id.  Returns 1 when dead-lettered (the result stored as
 * complete_lua stores one, never over one there: with pcall, as a key of
 * the wrong type must not stop the script half-way), 0 when requeued, -1
 * when the item was not in the processing list (someone else moved it). */
static const char release_lua[] = LUA_GUARD LUA_REQUEUE
    "for _, i in ipairs({1, 2}) do\n"
    "  local e = wrong(KEYS[i], 'list')\n"
    "  if e then return e end\n"
    "end\n" LUA_UNLOCK(
        "KEYS[6]",
        "ARGV[5]") "if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return -1 end\n"
                   "local r = requeue(ARGV[1], ARGV[2] == '1', ARGV[3], ARGV[4], KEYS[2], KEYS[3], KEYS[4], KEYS[5])\n"
                   "if r == 1 and ARGV[6] ~= '' then\n"
                   "  local s = redis.pcall('SET', KEYS[7], ARGV[6], 'NX', 'EX', ARGV[7])\n"
                   "  if type(s) == 'table' and s['ok'] then\n"
                   "    redis.pcall('LPUSH', KEYS[8], ARGV[8])\n"
                   "    redis.pcall('HINCRBY', KEYS[5], 'failed', 1)\n"
                   "  end\n"
                   "end\n"
                   "return r\n";

/* KEYS: lease, processing, jobs, attempts, dead, stats, workers, claiming.
 * ARGV: max attempts, reason, worker id, force.  -1 if the worker is alive
 * (and force is not "1"), else the number of jobs moved back (or
 * dead-lettered).  Jobs staged in claiming never started: they go back
 * without an attempt counted. */
static const char reap_lua[] = LUA_GUARD LUA_REQUEUE
    "if ARGV[4] ~= '1' and redis.call('EXISTS', KEYS[1]) == 1 then return -1 end\n"
    "for _, i in ipairs({2, 3, 8}) do\n"
    "  local e = wrong(KEYS[i], 'list')\n"
    "  if e then return e end\n"
    "end\n"
    "local n = 0\n"
    "while true do\n"
    "  local item = redis.call('RPOP', KEYS[8])\n"
    "  if not item then break end\n"
    "  redis.call('RPUSH', KEYS[3], item)\n"
    "  n = n + 1\n"
    "end\n"
    "while true do\n"
    "  local item = redis.call('RPOP', KEYS[2])\n"
    "  if not item then break end\n"
    "  requeue(item, true, ARGV[1], ARGV[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])\n"
    "  n = n + 1\n"
    "end\n"
    "redis.pcall('SREM', KEYS[7], ARGV[3])\n"
    "return n\n";

static void
drop(struct queue_redis *r)
{
    if (r->c != NULL)
        redisFree(r->c);
    r->c = NULL;
    r->claim_ok = false;
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
        cleanup_reply redisReply *rep = redisCommand(r->c, "SELECT %d", r->db);
        if (rep == NULL || rep->type != REDIS_REPLY_STATUS) {
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
    cleanup_reply redisReply *rep = redisCommandArgv(r->c, argc, argv, lens);
    if (rep == NULL) {
        rx_error_set(err, EIO, "redis %s:%d: %s: %s", r->host, r->port, argv[0],
                     r->c->errstr[0] ? r->c->errstr : "connection lost");
        drop(r);
        return NULL;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        rx_error_set(err, EIO, "redis: %s: %.300s", argv[0], rep->str);
        return NULL;
    }
    return steal_pointer(&rep);
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

/* Give hiredis's read buffer back after a large reply: it keeps the size
 * of the largest reply until the next one is read (hiredis 0.14 and 1.x),
 * which would be one more copy of the job for as long as it runs. */
static void
shrink_reader(struct queue_redis *r)
{
    if (r->c == NULL || r->c->reader == NULL || r->c->reader->len != 0)
        return;
    redisReader *fresh = redisReaderCreate();
    if (fresh == NULL)
        rx_oom();
    fresh->maxbuf = r->c->reader->maxbuf;
    redisReaderFree(r->c->reader);
    r->c->reader = fresh;
}

/* The reply of the take script as a job (or none). */
static int
take_reply(struct queue_redis *r, redisReply *rep, struct queue_job **out, struct rx_error **err)
{
    if (rep->type == REDIS_REPLY_NIL)
        return 0;
    if (rep->type == REDIS_REPLY_INTEGER) {
        struct queue_job *j = queue_job_new();
        j->too_large = true;
        j->len = (size_t)rep->integer;
        *out = j;
        return 0;
    }
    if (rep->type != REDIS_REPLY_STRING)
        return rx_error_set(err, EPROTO, "redis: claiming from %s: an unexpected reply (type %d)",
                            r->k_jobs, rep->type);
    struct queue_job *j = queue_job_new();
    j->payload = xmalloc(rep->len + 1);
    memcpy(j->payload, rep->str, rep->len);
    j->payload[rep->len] = '\0';
    j->len = rep->len;
    *out = j;
    return 0;
}

/* Check once per connection what the blocking claim needs of the server,
 * so that it fails clearly instead of silently: BLMOVE (Redis 6.2; with
 * its reply skipped a refused one would be no error, and the slot would
 * spin) and CLIENT REPLY SKIP (refused by an ACL it is an extra reply).
 * The BLMOVE moves a list no one else can name (P:claiming:WORKER:probe:
 * and a fresh random UUID) onto itself: there is none, so it waits a
 * millisecond and replies nil.  Never the claiming list: a BLMOVE replies
 * with the element it moves, whole, and a producer may push a 300 MB one
 * there between the take script (which measures what it finds) and this
 * check. */
static int
check_claim(struct queue_redis *r, struct rx_error **err)
{
    if (r->claim_ok)
        return 0;
    if (connect_redis(r, err) < 0)
        return -1;
    cleanup_free char *nonce = queue_identity_new();
    cleanup_free char *probe = xasprintf("%s:probe:%s", r->k_claiming, nonce);
    const char *bl[] = {"BLMOVE", probe, probe, "RIGHT", "RIGHT", "0.001"};
    cleanup_reply redisReply *rep = redisCommandArgv(r->c, 6, bl, NULL);
    if (rep == NULL) {
        rx_error_set(err, EIO, "redis %s:%d: BLMOVE: %s", r->host, r->port,
                     r->c->errstr[0] ? r->c->errstr : "connection lost");
        drop(r);
        return -1;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        rx_error_set(err, ENOTSUP,
                     "redis %s:%d: BLMOVE is refused (%.200s): the worker needs Redis 6.2 or "
                     "later, and an ACL that allows BLMOVE",
                     r->host, r->port, rep->str);
        drop(r);
        return -1;
    }
    /* CLIENT REPLY SKIP, PING, PING: the first PING's reply is skipped, so
     * one reply (PONG) when it works, three (an error first) when not. */
    const char *skip[] = {"CLIENT", "REPLY", "SKIP"};
    const char *ping[] = {"PING"};
    if (redisAppendCommandArgv(r->c, 3, skip, NULL) != REDIS_OK ||
        redisAppendCommandArgv(r->c, 1, ping, NULL) != REDIS_OK ||
        redisAppendCommandArgv(r->c, 1, ping, NULL) != REDIS_OK)
        rx_oom();
    void *v = NULL;
    if (redisGetReply(r->c, &v) != REDIS_OK || v == NULL) {
        rx_error_set(err, EIO, "redis %s:%d: CLIENT REPLY: %s", r->host, r->port,
                     r->c->errstr[0] ? r->c->errstr : "connection lost");
        drop(r);
        return -1;
    }
    cleanup_reply redisReply *pong = v;
    if (pong->type != REDIS_REPLY_STATUS || strcmp(pong->str, "PONG") != 0) {
        rx_error_set(err, ENOTSUP,
                     "redis %s:%d: CLIENT REPLY SKIP is refused (%.200s): the worker needs it "
                     "(an ACL must allow CLIENT REPLY)",
                     r->host, r->port,
                     pong->type == REDIS_REPLY_ERROR ? pong->str : "an unexpected reply");
        drop(r); /* the PINGs' replies may still be on their way */
        return -1;
    }
    r->claim_ok = true;
    return 0;
}

/* Claim a job in one script (take_lua) that measures it on the server: a
 * job over the size cap never crosses the wire.  None waiting: block with
 * BLMOVE into this worker's claiming list, its reply switched off (CLIENT
 * REPLY SKIP: a 300 MB job is not sent), then take the job it staged in
 * the same round trip.  Any claim takes what is staged, so a job staged
 * for a claim that timed out is taken by the next; one staged by a worker
 * that died goes back with its other jobs (reap_lua). */
static int
redis_claim(struct queue *q, int timeout_ms, struct queue_job **out, struct rx_error **err)
{
    struct queue_redis *r = (struct queue_redis *)q;
    *out = NULL;
    char cap[32];
    snprintf(cap, sizeof(cap), "%u", LIMIT_JOB_BYTES);
    const char *take[] = {"EVAL", take_lua, "3", r->k_claiming, r->k_jobs, r->k_proc, cap};
    cleanup_reply redisReply *taken = cmds(r, err, 7, take);
    if (taken == NULL)
        return -1;
    int rc = take_reply(r, taken, out, err);
    if (rc < 0 || *out != NULL) {
        if (*out != NULL && (*out)->len > LIMIT_REDIS_READER_KEEP_BYTES)
            shrink_reader(r);
        return rc;
    }

    if (check_claim(r, err) < 0)
        return -1;
    char tmo[32];
    snprintf(tmo, sizeof(tmo), "%.3f", timeout_ms / 1000.0);
    const char *skip[] = {"CLIENT", "REPLY", "SKIP"};
    const char *wait[] = {"BLMOVE", r->k_jobs, r->k_claiming, "RIGHT", "LEFT", tmo};
    if (redisAppendCommandArgv(r->c, 3, skip, NULL) != REDIS_OK ||
        redisAppendCommandArgv(r->c, 6, wait, NULL) != REDIS_OK ||
        redisAppendCommandArgv(r->c, 7, take, NULL) != REDIS_OK)
        rx_oom();
    struct timeval io = {(REDIS_IO_TIMEOUT_MS + timeout_ms) / 1000, 0};
    redisSetTimeout(r->c, io);
    void *v = NULL;
    if (redisGetReply(r->c, &v) != REDIS_OK || v == NULL) {
        rx_error_set(err, EIO, "redis %s:%d: claim: %s", r->host, r->port,
                     r->c->errstr[0] ? r->c->errstr : "connection lost");
        drop(r);
        return -1;
    }
    struct timeval io2 = {REDIS_IO_TIMEOUT_MS / 1000, 0};
    redisSetTimeout(r->c, io2);
    cleanup_reply redisReply *rep = v;
    /* One reply is expected (the take script's).  An error may be the
     * refused CLIENT REPLY's, with the BLMOVE's and the script's replies
     * still to come: past any error or odd reply, how many replies are
     * pending is unknown, and the connection is dropped rather than have
     * the next command read this one's reply (a job taken twice). */
    if (rep->type == REDIS_REPLY_ERROR)
        rc = rx_error_set(err, EIO, "redis: claim: %.300s", rep->str);
    else
        rc = take_reply(r, rep, out, err);
    if (rc < 0) {
        drop(r);
        return rc;
    }
    if (*out != NULL && (*out)->len > LIMIT_REDIS_READER_KEEP_BYTES)
        shrink_reader(r);
    return rc;
}

/* GET a key anyone may write, at most cap bytes of it (a larger value is an
 * error; a nil reply when it is no string). */
static redisReply *
get_capped(struct queue_redis *r, const char *key, size_t cap, struct rx_error **err)
{
    char max[24];
    snprintf(max, sizeof(max), "%zu", cap);
    const char *argv[] = {"EVAL", small_get_lua, "1", key, max};
    return cmds(r, err, 5, argv);
}

/* The same, at most LIMIT_REDIS_SMALL_VALUE_BYTES. */
static redisReply *
get_small(struct queue_redis *r, const char *key, struct rx_error **err)
{
    return get_capped(r, key, LIMIT_REDIS_SMALL_VALUE_BYTES, err);
}

static int
redis_result_exists(struct queue *q, const char *task_id, bool *exists, struct rx_error **err)
{
    struct queue_redis *r = (struct queue_redis *)q;
    cleanup_free char *key = xasprintf("%s:result:%s", r->prefix, task_id);
    const char *argv[] = {"EXISTS", key};
    cleanup_reply redisReply *rep = cmds(r, err, 2, argv);
    if (rep == NULL)
        return -1;
    *exists = rep->type == REDIS_REPLY_INTEGER && rep->integer > 0;
    return 0;
}

static int
redis_lock(struct queue *q, struct queue_job *job, const char *task_id, bool *got,
           struct rx_error **err)
{
    struct queue_redis *r = (struct queue_redis *)q;
    cleanup_free char *key = xasprintf("%s:running:%s", r->prefix, task_id);
    char ms[32];
    snprintf(ms, sizeof(ms), "%lld", REDIS_LOCK_MAX_MS + r->lease_ms);
    /* The value is this claim's, not this run's: a retry after a lost
     * reply finds its own lock and takes it (it is no other live run). */
    if (job->lock_token == NULL) {
        cleanup_free char *token = queue_identity_new();
        job->lock_token = xasprintf("%s %s", r->me, token);
    }
    /* Kept whatever the outcome: a lock whose reply is lost may be held,
     * and unlocking one that is not (it checks the value) does nothing. */
    free(job->lock);
    job->lock = steal_pointer(&key);
    const char *argv[] = {"EVAL", lock_lua, "1", job->lock, job->lock_token, r->k_lease_prefix, ms};
    cleanup_reply redisReply *rep = cmds(r, err, 7, argv);
    if (rep == NULL)
        return -1;
    *got = rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
    return 0;
}

static int
redis_unlock(struct queue *q, struct queue_job *job, struct rx_error **err)
{
    struct queue_redis *r = (struct queue_redis *)q;
    if (job->lock == NULL || job->lock_token == NULL)
        return 0;
    const char *argv[] = {"EVAL", unlock_lua, "1", job->lock, job->lock_token};
    cleanup_reply redisReply *rep = cmds(r, err, 5, argv);
    if (rep == NULL)
        return -1;
    free(steal_pointer(&job->lock));
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
    /* A job too large to read was taken off the queue by the claim. */
    const char *item = job->payload != NULL ? job->payload : "";
    const char *argv[] = {"EVAL",
                          complete_lua,
                          "6",
                          key,
                          r->k_done,
                          r->k_proc,
                          r->k_stats,
                          r->k_attempts,
                          job->lock ? job->lock : "",
                          result ? result : "",
                          ttl,
                          task_id,
                          item,
                          success ? "done" : "failed",
                          job->lock_token ? job->lock_token : "",
                          job->payload != NULL ? "1" : "0"};
    size_t lens[16];
    for (int i = 0; i < 16; i++)
        lens[i] = strlen(argv[i]);
    lens[12] = job->payload != NULL ? job->len : 0;
    cleanup_reply redisReply *rep = cmd(r, err, 16, argv, lens);
    if (rep == NULL)
        return -1;
    free(steal_pointer(&job->lock));
    return 0;
}

static int
redis_release(struct queue *q, struct queue_job *job, bool count, const char *why,
              const char *task_id, const char *dead_result, struct rx_error **err)
{
    struct queue_redis *r = (struct queue_redis *)q;
    if (job->payload == NULL)
        return rx_error_set(err, EINVAL, "redis: a job too large to read is not put back");
    if (task_id == NULL)
        dead_result = NULL;
    char maxa[16];
    snprintf(maxa, sizeof(maxa), "%d", r->max_attempts);
    char ttl[32];
    snprintf(ttl, sizeof(ttl), "%lld", r->result_ttl_s);
    cleanup_free char *key = xasprintf("%s:result:%s", r->prefix, task_id ? task_id : "");
    const char *argv[] = {"EVAL",
                          release_lua,
                          "8",
                          r->k_proc,
                          r->k_jobs,
                          r->k_attempts,
                          r->k_dead,
                          r->k_stats,
                          job->lock ? job->lock : "",
                          key,
                          r->k_done,
                          job->payload,
                          count ? "1" : "0",
                          maxa,
                          why ? why : "unknown",
                          job->lock_token ? job->lock_token : "",
                          dead_result ? dead_result : "",
                          ttl,
                          task_id ? task_id : ""};
    size_t lens[19];
    for (int i = 0; i < 19; i++)
        lens[i] = strlen(argv[i]);
    lens[11] = job->len;
    cleanup_reply redisReply *rep = cmd(r, err, 19, argv, lens);
    if (rep == NULL)
        return -1;
    int dead = rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
    free(steal_pointer(&job->lock));
    return dead ? 1 : 0;
}

static int
redis_heartbeat(struct queue *q, const struct queue_beat *beat, struct rx_error **err)
{
    struct queue_redis *r = (struct queue_redis *)q;
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    struct json_object *o = queue_beat_json(r->worker_id, beat);
    json_object_object_add(o, "host", json_object_new_string(host));
    /* Read by lock_lua: a run lock is live while its run's lease is. */
    json_object_object_add(o, "run", json_object_new_string(r->run_id));
    char px[32];
    snprintf(px, sizeof(px), "%lld", r->lease_ms);
    /* Whether there was a lease to renew.  None after a first renewal
     * means the lease lapsed between two heartbeats (this worker stalled,
     * or Redis was out of reach): the other workers may have taken back
     * its jobs and run them again, which the log must say. */
    const char *argv[] = {"EVAL", beat_lua, "1", r->k_lease, rx_json_compact(o), px};
    cleanup_reply redisReply *set = cmds(r, err, 6, argv);
    json_object_put(o);
    if (set == NULL)
        return -1;
    long long now = rx_now_ms();
    if (set->type == REDIS_REPLY_INTEGER && set->integer == 0 && r->last_beat_ms > 0 &&
        r->note != NULL) {
        struct json_object *f = json_object_new_object();
        json_object_object_add(f, "since_last_heartbeat_ms",
                               json_object_new_int64(now - r->last_beat_ms));
        json_object_object_add(f, "lease_ms", json_object_new_int64(r->lease_ms));
        r->note(r->note_ud, "warn", "lease_lapsed", f);
    }
    r->last_beat_ms = now;
    const char *argv2[] = {"SADD", r->k_workers, r->worker_id};
    cleanup_reply redisReply *sadd = cmds(r, err, 3, argv2);
    return sadd == NULL ? -1 : 0;
}

/* Was wid reported before?  Remembers it if not (FNV-1a hashes). */
static bool
noted_before(struct queue_redis *r, const char *wid)
{
    unsigned long long h = 0xcbf29ce484222325ULL;
    for (const char *p = wid; *p; p++)
        h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
    unsigned n = r->n_noted < LIMIT_REDIS_NOTED ? r->n_noted : LIMIT_REDIS_NOTED;
    for (unsigned i = 0; i < n; i++)
        if (r->noted[i] == h)
            return true;
    r->noted[r->n_noted++ % LIMIT_REDIS_NOTED] = h;
    return false;
}

/* One slice of the names in P:workers, from cursor on (members_lua):
 * the reply's elements after the first are names, each a well-formed
 * worker id other than self; *next gets the cursor to go on from ("0"
 * when the walk is done).  With prune, the members that are no worker id
 * are removed on the way. */
static redisReply *
workers_slice(struct queue_redis *r, const char *cursor, const char *self, bool prune,
              char next[24], struct rx_error **err)
{
    char maxlen[16], want[16];
    snprintf(maxlen, sizeof(maxlen), "%d", LIMIT_WORKER_ID_BYTES);
    snprintf(want, sizeof(want), "%d", LIMIT_REDIS_WORKERS_PER_CALL);
    const char *argv[] = {"EVAL", members_lua, "1",  r->k_workers,     cursor,
                          maxlen, want,        self, prune ? "1" : "0"};
    cleanup_reply redisReply *rep = cmds(r, err, 9, argv);
    if (rep == NULL)
        return NULL;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 1 ||
        rep->element[0]->type != REDIS_REPLY_STRING || rep->element[0]->len >= 24)
        return rx_error_set(err, EPROTO, "redis: walking %s: an unexpected reply", r->k_workers),
               NULL;
    memcpy(next, rep->element[0]->str, rep->element[0]->len + 1);
    return steal_pointer(&rep);
}

/* The name at element i of a workers_slice reply, or NULL. */
static const char *
slice_name(const redisReply *rep, size_t i)
{
    const redisReply *e = rep->element[i];
    return e->type == REDIS_REPLY_STRING && e->len <= LIMIT_WORKER_ID_BYTES ? e->str : NULL;
}

/* Reap the workers of one slice of P:workers, going on where the last
 * reap stopped: a heartbeat reads and reaps a bounded number of members
 * however many a producer added. */
static int
redis_reap(struct queue *q, int *n, struct rx_error **err)
{
    struct queue_redis *r = (struct queue_redis *)q;
    *n = 0;
    char next[24];
    cleanup_reply redisReply *rep = workers_slice(r, r->reap_cursor, r->worker_id, true, next, err);
    if (rep == NULL)
        return -1;
    char maxa[16];
    snprintf(maxa, sizeof(maxa), "%d", r->max_attempts);
    for (size_t i = 1; i < rep->elements; i++) {
        const char *wid = slice_name(rep, i);
        if (wid == NULL || strcmp(wid, r->worker_id) == 0)
            continue;
        cleanup_free char *lease = xasprintf("%s:lease:%s", r->prefix, wid);
        cleanup_free char *proc = xasprintf("%s:processing:%s", r->prefix, wid);
        cleanup_free char *claiming = xasprintf("%s:claiming:%s", r->prefix, wid);
        const char *a2[] = {"EVAL",
                            reap_lua,
                            "8",
                            lease,
                            proc,
                            r->k_jobs,
                            r->k_attempts,
                            r->k_dead,
                            r->k_stats,
                            r->k_workers,
                            claiming,
                            maxa,
                            "the worker running it stopped heartbeating",
                            wid,
                            "0"};
        struct rx_error *e2 = NULL;
        cleanup_reply redisReply *r2 = cmds(r, &e2, 15, a2);
        if (r2 == NULL) {
            /* One member's keys (a producer's `SADD P:workers x` and a
             * string at P:processing:x) must not keep the other crashed
             * workers' jobs from going back: say so and go on. */
            if (r->note != NULL && !noted_before(r, wid)) {
                struct json_object *f = json_object_new_object();
                json_object_object_add(f, "member", json_object_new_string(wid));
                json_object_object_add(f, "error", json_object_new_string(e2->msg));
                r->note(r->note_ud, "warn", "reap_failed", f);
            }
            rx_error_free(&e2);
            if (r->c == NULL && connect_redis(r, err) < 0)
                return -1; /* the server is gone: the next heartbeat tries this slice again */
            continue;
        }
        if (r2->type == REDIS_REPLY_INTEGER && r2->integer > 0)
            *n += (int)r2->integer;
    }
    memcpy(r->reap_cursor, next, sizeof(next));
    return 0;
}

static int
redis_recover(struct queue *q, int *n, struct rx_error **err)
{
    struct queue_redis *r = (struct queue_redis *)q;
    char maxa[16];
    snprintf(maxa, sizeof(maxa), "%d", r->max_attempts);
    const char *argv[] = {"EVAL",
                          reap_lua,
                          "8",
                          r->k_lease,
                          r->k_proc,
                          r->k_jobs,
                          r->k_attempts,
                          r->k_dead,
                          r->k_stats,
                          r->k_workers,
                          r->k_claiming,
                          maxa,
                          "the worker running it was restarted",
                          r->worker_id,
                          "1"};
    cleanup_reply redisReply *rep = cmds(r, err, 15, argv);
    if (rep == NULL)
        return -1;
    *n = rep->type == REDIS_REPLY_INTEGER && rep->integer > 0 ? (int)rep->integer : 0;
    return 0;
}

static int
redis_worker_alive(struct queue *q, const char *wid, bool *alive, struct rx_error **err)
{
    struct queue_redis *r = (struct queue_redis *)q;
    cleanup_free char *lease = xasprintf("%s:lease:%s", r->prefix, wid);
    const char *argv[] = {"EXISTS", lease};
    cleanup_reply redisReply *rep = cmds(r, err, 2, argv);
    if (rep == NULL)
        return -1;
    *alive = rep->type == REDIS_REPLY_INTEGER && rep->integer > 0;
    return 0;
}

static long long
int_reply(struct queue_redis *r, struct rx_error **err, int argc, const char **argv)
{
    cleanup_reply redisReply *rep = cmds(r, err, argc, argv);
    if (rep == NULL)
        return -1;
    long long v = rep->type == REDIS_REPLY_INTEGER  ? rep->integer
                  : rep->type == REDIS_REPLY_STRING ? strtoll(rep->str, NULL, 10)
                                                    : 0;
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
    struct json_object *workers = json_object_new_object();
    /* The whole set, a slice at a time; what is no worker id is skipped
     * (a status reads, the reaper prunes). */
    char cursor[24] = "0";
    do {
        char next[24];
        cleanup_reply redisReply *rep = workers_slice(r, cursor, "", false, next, NULL);
        if (rep == NULL)
            break;
        for (size_t i = 1; i < rep->elements; i++) {
            const char *wid = slice_name(rep, i);
            if (wid == NULL)
                continue;
            cleanup_free char *lease = xasprintf("%s:lease:%s", r->prefix, wid);
            cleanup_reply redisReply *hb = get_small(r, lease, NULL);
            if (hb && hb->type == REDIS_REPLY_STRING)
                queue_status_add_worker(proc, workers, wid, hb->str, hb->len);
        }
        memcpy(cursor, next, sizeof(next));
    } while (strcmp(cursor, "0") != 0);
    json_object_object_add(o, "processing", proc);
    json_object_object_add(o, "workers", workers);
    const char *fields[] = {"done", "failed", "duplicates"};
    for (int i = 0; i < 3; i++) {
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
    cleanup_reply redisReply *setnx = cmds(r, err, 4, set);
    if (setnx == NULL)
        return -1;
    cleanup_reply redisReply *rep = get_small(r, key, err);
    if (rep == NULL)
        return -1;
    if (rep->type != REDIS_REPLY_STRING || !queue_identity_valid(rep->str, rep->len))
        return rx_error_set(err, EPROTO,
                            "redis key %s: not a queue id (delete it to make a new one)", key);
    *id = xstrndup(rep->str, rep->len);
    return 0;
}

static void
redis_unregister(struct queue *q)
{
    struct queue_redis *r = (struct queue_redis *)q;
    const char *a1[] = {"DEL", r->k_lease};
    cleanup_reply redisReply *del = cmds(r, NULL, 2, a1);
    const char *a2[] = {"LLEN", r->k_proc};
    const char *a2c[] = {"LLEN", r->k_claiming};
    if (int_reply(r, NULL, 2, a2) == 0 && int_reply(r, NULL, 2, a2c) == 0) {
        const char *a3[] = {"SREM", r->k_workers, r->worker_id};
        cleanup_reply redisReply *srem = cmds(r, NULL, 3, a3);
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
    free(r->run_id);
    free(r->me);
    free(r->k_jobs);
    free(r->k_proc);
    free(r->k_claiming);
    free(r->k_lease_prefix);
    free(r->k_lease);
    free(r->k_workers);
    free(r->k_done);
    free(r->k_dead);
    free(r->k_attempts);
    free(r->k_stats);
    free(r);
}

static int
redis_enqueue(struct queue *q, const char *task_id RX_UNUSED, const char *payload, size_t len,
              bool *queued, struct rx_error **err)
{
    struct queue_redis *r = (struct queue_redis *)q;
    cleanup_free char *item = xstrndup(payload, len);
    const char *argv[] = {"LPUSH", r->k_jobs, item};
    cleanup_reply redisReply *rep = cmds(r, err, 3, argv);
    *queued = rep != NULL;
    return rep != NULL ? 0 : -1;
}

static int
redis_result_get(struct queue *q, const char *task_id, char **json, size_t *len,
                 struct rx_error **err)
{
    struct queue_redis *r = (struct queue_redis *)q;
    cleanup_free char *key = xasprintf("%s:result:%s", r->prefix, task_id);
    cleanup_reply redisReply *rep = get_capped(r, key, LIMIT_RESULT_READ_BYTES, err);
    *json = NULL;
    if (rep == NULL)
        return -1;
    if (rep->type == REDIS_REPLY_STRING) {
        *json = xstrndup(rep->str, rep->len);
        *len = rep->len;
    }
    return 0;
}

static int
redis_depth(struct queue *q, long long *n, struct rx_error **err)
{
    struct queue_redis *r = (struct queue_redis *)q;
    const char *argv[] = {"LLEN", r->k_jobs};
    cleanup_reply redisReply *rep = cmds(r, err, 2, argv);
    if (rep == NULL)
        return -1;
    *n = rep->type == REDIS_REPLY_INTEGER ? rep->integer : 0;
    return 0;
}

static const struct queue_ops redis_ops = {
    .mends_itself = true,
    .claim = redis_claim,
    .result_exists = redis_result_exists,
    .lock = redis_lock,
    .unlock = redis_unlock,
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
    .enqueue = redis_enqueue,
    .result_get = redis_result_get,
    .depth = redis_depth,
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
    r->note = cfg->note;
    r->note_ud = cfg->note_ud;
    r->k_jobs = xasprintf("%s:jobs", r->prefix);
    r->run_id = cfg->run_id ? xstrdup(cfg->run_id) : queue_identity_new();
    r->me = xasprintf("%s %s", r->worker_id, r->run_id);
    r->k_proc = xasprintf("%s:processing:%s", r->prefix, r->worker_id);
    r->k_claiming = xasprintf("%s:claiming:%s", r->prefix, r->worker_id);
    r->k_lease_prefix = xasprintf("%s:lease:", r->prefix);
    r->k_lease = xasprintf("%s:lease:%s", r->prefix, r->worker_id);
    r->k_workers = xasprintf("%s:workers", r->prefix);
    r->k_done = xasprintf("%s:done", r->prefix);
    r->k_dead = xasprintf("%s:dead", r->prefix);
    r->k_attempts = xasprintf("%s:attempts", r->prefix);
    r->k_stats = xasprintf("%s:stats", r->prefix);
    snprintf(r->reap_cursor, sizeof(r->reap_cursor), "0");
    if (connect_redis(r, err) < 0) {
        redis_close(&r->base);
        return NULL;
    }
    return &r->base;
}
