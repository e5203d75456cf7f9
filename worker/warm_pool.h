/* SPDX-License-Identifier: MIT */
/* The warm pool (--warm N): up to N started sandboxes for the worker's
 * default job (executor.h, struct warm_sandbox), each taken by at most one
 * job, then removed like any job's container.  A thread of its own makes
 * them, off the jobs' path, while the worker has room: idle sandboxes and
 * jobs in flight together below --concurrency, and the default job's memory
 * within the budget when there is one.  Idle ones older than the TTL are
 * removed and made again; every idle one is removed when the pool stops. */
#ifndef WARM_POOL_H
#define WARM_POOL_H

#include <stdbool.h>

#include "executor/executor.h"

struct warm_pool;

/* The worker's side: log lines, and whether a sandbox more fits now
 * (idle: the sandboxes the pool holds). */
struct warm_pool_hooks {
    void (*note)(void *ud, const char *level, const char *event, struct json_object *fields);
    bool (*room)(void *ud, int idle);
    void *ud;
};

/* tmpl and opts: the default job and its options as admission made them
 * (tmpl is the pool's from now on; opts is copied, its strings must
 * outlive the pool). */
struct warm_pool *warm_pool_new(int target, long long ttl_ms, struct job_spec *tmpl,
                                const struct executor_opts *opts,
                                const struct warm_pool_hooks *hooks);
/* The maker's thread: -1 when it could not be started (no pool then). */
int warm_pool_start(struct warm_pool *p);
/* A sandbox that fits job, taken out of the pool into *ws: true; false
 * when none does (the job runs cold). */
bool warm_pool_take(struct warm_pool *p, const struct job_spec *job,
                    const struct executor_opts *opts, bool podman, struct warm_sandbox *ws);
int warm_pool_idle(struct warm_pool *p);
/* Stop making sandboxes; the maker's thread removes the idle ones (the
 * worker is stopping: nothing takes one any more).  Never waits: the
 * caller keeps the heartbeat.  Again: nothing. */
void warm_pool_stop(struct warm_pool *p);
/* warm_pool_stop, wait for the idle ones to be removed, then free. */
void warm_pool_free(struct warm_pool *p);

#endif
