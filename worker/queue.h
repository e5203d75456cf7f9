/* SPDX-License-Identifier: MIT */
/* The queue interface the worker drives (one ops table per backend, as in
 * crun's cgroup managers).  A struct queue is used by one thread only: each
 * slot opens its own (a Redis connection is not shared between threads). */
#ifndef QUEUE_H
#define QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <json-c/json.h>

#include "executor/rx_error.h"

/* What a queue sets aside or cannot do on its own (a spool entry that is no
 * job, a claim that failed for another reason than a race), for the
 * worker's log: event name and fields (the callee takes the object). */
typedef void queue_note_fn(void *ud, const char *level, const char *event,
                           struct json_object *fields);

struct queue_cfg {
    const char *worker_id;
    const char *run_id; /* this process's run of worker_id (a restart gets a new one) */
    const char *prefix; /* Redis key prefix */
    long long lease_ms;
    int max_attempts;
    long long result_ttl_s;
    queue_note_fn *note; /* may be NULL */
    bool must_exist;     /* a producer's: a spool that is not there is an error, not made */
    void *note_ud;
};

/* One claimed job.  A job larger than LIMIT_JOB_BYTES is never read:
 * payload is NULL, too_large is set and len is its size, measured where it
 * lies (fstat, or a script on the Redis server). */
struct queue_job {
    char *payload; /* the job JSON as the producer wrote it, or NULL */
    size_t len;
    bool too_large;
    char *handle;          /* spool: the claimed path; Redis: NULL (the item is the payload) */
    char *default_task_id; /* for jobs without a task_id (spool: the file name), or NULL */
    char *lock;            /* the run lock held for its task id (see queue_ops.lock), or NULL;
                             * Redis: also one that may be held (a lock whose reply was lost) */
    char *lock_token;      /* Redis: "WORKER RUN TOKEN", this claim's value of its locks */
    int lock_fd;           /* spool: the lock file, flocked; meaningful only with lock */
};

/* What a worker's heartbeat tells `status` about it. */
struct queue_beat {
    int inflight; /* jobs claimed: running, or waiting for their turn */
    int concurrency;
    long long memory_budget; /* bytes; 0: admission off; -1: not known yet */
    long long memory_in_use; /* the memory limits of the jobs it runs */
    int memory_waiting;      /* jobs waiting for memory */
    int warm_idle;           /* started sandboxes waiting for a job (--warm) */
};

struct queue;

struct queue_ops {
    /* After a failed claim: true, the queue mends itself (Redis reconnects
     * on its next call); false, the worker closes it and opens it again
     * (a spool whose directory was replaced or remounted). */
    bool mends_itself;
    /* Wait up to timeout_ms for a job; 0 with *out == NULL when none came. */
    int (*claim)(struct queue *q, int timeout_ms, struct queue_job **out, struct rx_error **err);
    int (*result_exists)(struct queue *q, const char *task_id, bool *exists, struct rx_error **err);
    /* Take the run lock of task_id for this job: at most one job per task id
     * holds it at a time, across slots and workers.  *got false: another
     * live run holds it (a holder whose worker is gone, or was restarted,
     * is taken over).  complete and release give it up. */
    int (*lock)(struct queue *q, struct queue_job *job, const char *task_id, bool *got,
                struct rx_error **err);
    /* Store the result (once per task id) and remove the job from the
     * worker's claimed set, atomically where the backend allows.  A NULL
     * result drops the job as a duplicate (counted in status). */
    int (*complete)(struct queue *q, struct queue_job *job, const char *task_id,
                    const char *result_json, bool success, struct rx_error **err);
    /* Give up the run lock the job holds, if any, and nothing else: for a
     * job given up without complete or release succeeding (best effort,
     * errors are the caller's to log). */
    int (*unlock)(struct queue *q, struct queue_job *job, struct rx_error **err);
    /* Put a claimed job back.  count_attempt: this counts as a failed
     * attempt (after max_attempts the job is dead-lettered with `why`).
     * dead_result, when not NULL, is stored as task_id's result (never
     * over one already there) when the job is dead-lettered, so that
     * whoever waits for it learns it (spool: before the job moves to dead/,
     * so a crash in between leaves a duplicate, not a job without result;
     * Redis: in the same script, counted as failed and pushed on done).
     * Returns 0 when requeued, 1 when dead-lettered, -1 on error. */
    int (*release)(struct queue *q, struct queue_job *job, bool count_attempt, const char *why,
                   const char *task_id, const char *dead_result, struct rx_error **err);
    /* Keep this worker's lease alive (and so that of every job it has
     * claimed, running or waiting); beat is for status. */
    int (*heartbeat)(struct queue *q, const struct queue_beat *beat, struct rx_error **err);
    /* Return the jobs of workers whose lease expired; *n gets how many. */
    int (*reap)(struct queue *q, int *n, struct rx_error **err);
    /* At start: put back the jobs an earlier run under this same worker id
     * had claimed (counted as failed attempts); *n gets how many. */
    int (*recover)(struct queue *q, int *n, struct rx_error **err);
    /* Is worker_id a live worker of this queue? */
    int (*worker_alive)(struct queue *q, const char *worker_id, bool *alive, struct rx_error **err);
    /* {"queued", "processing": {worker: inflight}, "workers": {worker: {its
     * queue_beat}}, "done", "failed", "dead", "duplicates"} */
    int (*status)(struct queue *q, struct json_object **out, struct rx_error **err);
    /* The queue's own id: made at random by the first worker and stored in
     * the queue (the spool's queue-id file, Redis key P:queue-id), so that
     * two queues reached at the same address (one compose file, two
     * projects) are told apart in container labels.  Caller frees. */
    int (*identity)(struct queue *q, char **id, struct rx_error **err);
    /* A producer's side (`ralph-worker submit`): put a job on the queue
     * under task_id (spool: incoming/TASK_ID.json, written then linked in,
     * never replacing one there, *queued false then; Redis: LPUSH). */
    int (*enqueue)(struct queue *q, const char *task_id, const char *payload, size_t len,
                   bool *queued, struct rx_error **err);
    /* The stored result of task_id (at most LIMIT_RESULT_READ_BYTES: a
     * larger one is an error), or *json NULL when there is none yet.
     * Caller frees. */
    int (*result_get)(struct queue *q, const char *task_id, char **json, size_t *len,
                      struct rx_error **err);
    /* Jobs waiting in the queue, cheaply (a count, no job read): for the
     * metrics. */
    int (*depth)(struct queue *q, long long *n, struct rx_error **err);
    /* Clean exit: drop this worker's lease and registration. */
    void (*unregister)(struct queue *q);
    void (*close)(struct queue *q);
};

struct queue {
    const struct queue_ops *ops;
};

/* Open a queue from its URL (dir:PATH or redis://HOST:PORT[/DB]).  A
 * connection failure is an error (code ECONNREFUSED etc.); a bad URL is
 * of kind RX_ERR_REJECTED. */
struct queue *queue_open(const char *url, const struct queue_cfg *cfg, struct rx_error **err);
/* A stable name for the queue, for the ralph.queue label (caller frees). */
char *queue_label(const char *url, const struct queue_cfg *cfg);
/* A new, empty job (no lock held). */
struct queue_job *queue_job_new(void);
void queue_job_free(struct queue_job *job);
/* A heartbeat as a JSON object, for the backend to add its own fields to
 * and store (caller puts). */
struct json_object *queue_beat_json(const char *worker_id, const struct queue_beat *beat);
/* One live worker's stored heartbeat (hb, len bytes; unparsable: counted
 * as 0 in flight, nothing known) into a status object's "processing" and
 * "workers" objects. */
void queue_status_add_worker(struct json_object *processing, struct json_object *workers,
                             const char *wid, const char *hb, size_t len);
/* A fresh random queue id (caller frees), and the check of one read back. */
char *queue_identity_new(void);
bool queue_identity_valid(const char *id, size_t len);

struct queue *queue_dir_open(const char *path, const struct queue_cfg *cfg, struct rx_error **err);
struct queue *queue_redis_open(const char *url, const struct queue_cfg *cfg, struct rx_error **err);

#endif
