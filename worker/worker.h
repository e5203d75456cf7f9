/* SPDX-License-Identifier: MIT */
/* The worker: N slots, each a thread with its own queue connection and
 * engine client, taking a job only when free; the main thread keeps the
 * lease, reaps dead workers' jobs, sweeps orphan containers and handles
 * signals and circuit breakers. */
#ifndef WORKER_H
#define WORKER_H

#include <stddef.h>

#include "executor/limits.h"
#include "executor/rx_error.h"

/* The worker's memory bound: LIMIT_WORKER_BASE_MEMORY and
 * LIMIT_WORKER_JOB_MEMORY_FACTOR (executor/limits.h). */

struct worker_cfg {
    char *queue_url;
    int concurrency;
    char *worker_id;
    char *prefix;
    long long lease_ms;
    long long heartbeat_ms;
    int max_attempts;
    long long result_ttl_s;
    long long max_jobs;       /* 0: no limit */
    long long max_runtime_ms; /* 0: no limit */
    int max_infra_errors;
    long long grace_ms;
    char *policy_path;       /* NULL: /etc/ralph-exec/policy.json if present */
    char *audit_path;        /* NULL: the policy's audit_log */
    long long memory_budget; /* bytes; MEM_BUDGET_OFF, or MEM_BUDGET_UNKNOWN: the
                              * engine's memory less a reserve (worker/mem_budget.h) */
    char *metrics_addr;      /* --metrics: serve /metrics, /healthz, /readyz; NULL: not */
    int warm;                /* --warm: started sandboxes kept for the default job; 0: none */
    long long warm_ttl_ms;   /* an idle one is replaced after this long */
    char *warm_job_path;     /* --warm-job: the job the sandboxes are made for; NULL: defaults */
    char *warm_preload;      /* --warm-preload: modules their harness imports; NULL: none */
    const char *version;     /* the program's version (ralph_build_info), static */
};

/* Exit codes of ralph-worker. */
enum {
    WORKER_EXIT_OK = 0,
    WORKER_EXIT_USAGE = 2,
    WORKER_EXIT_BREAKER = 3,
    WORKER_EXIT_QUEUE = 125,
};

void worker_cfg_defaults(struct worker_cfg *cfg);
void worker_cfg_free(struct worker_cfg *cfg);
/* Apply a JSON config object (keys are the long option names). */
int worker_cfg_from_json(struct worker_cfg *cfg, const char *path, struct rx_error **err);
/* The options worker_cfg_set takes, by index: WORKER_CFG_N_OPTIONS of them,
 * each a long option of the command line and a key of the --config file.
 * worker_cfg_option_name returns the i-th one's name (static), or NULL
 * past the last. */
#define WORKER_CFG_N_OPTIONS 20
const char *worker_cfg_option_name(size_t i);
/* Set one option by its long name from a string value. */
int worker_cfg_set(struct worker_cfg *cfg, const char *name, const char *value,
                   struct rx_error **err);
/* Check the whole configuration (heartbeat < lease, ...). */
int worker_cfg_check(struct worker_cfg *cfg, struct rx_error **err);

/* Run until stopped; returns the process exit code. */
int worker_run(const struct worker_cfg *cfg);
/* Print the queue's status as JSON; returns the exit code. */
int worker_status(const struct worker_cfg *cfg);

#endif
