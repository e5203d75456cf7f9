/* SPDX-License-Identifier: MIT */
/* The operator's policy: a file the operator controls and a job cannot
 * override.  A job may always ask for less than the policy allows; asking for
 * more is a rejection naming the limit.  Defaults a job did not ask for are
 * lowered to the policy's maximum instead. */
#ifndef OPERATOR_POLICY_H
#define OPERATOR_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "executor/deps.h"
#include "executor/job_spec.h"
#include "executor/rx_error.h"

#define OPERATOR_POLICY_DEFAULT_PATH "/etc/ralph-exec/policy.json"

struct operator_policy {
    char **allowed_images; /* exact names, or prefixes ending in '*'; NULL: any */
    size_t n_images;
    long long max_timeout_ms; /* 0: no maximum */
    long long max_memory_bytes;
    long long max_workspace_bytes;
    long long uid_first, uid_last; /* uid_range; 0, 0: the built-in range */
    long long max_nano_cpus;
    long long max_pids;
    size_t max_output_bytes; /* 0: the executor's default */
    size_t max_log_bytes;
    char **allowed_sandboxes; /* NULL: runc and gvisor */
    size_t n_sandboxes;
    char *default_sandbox; /* "runc" unless set */
    bool seccomp_strict;
    char *audit_log; /* NULL: no audit log unless --audit */
    /* A job's `requirements` (the policy's keys of the same names; what
     * executor_opts_from_policy fills into executor_opts.deps). */
    enum deps_mode requirements;       /* "wheels" (default), "any" or "off" */
    char *requirements_index_url;      /* http(s) URL; NULL: pip's default index */
    const char *requirements_network;  /* "bridge" (default) or "host"; static */
    long long requirements_timeout_ms; /* requirements_timeout; DEPS_DEFAULT_TIMEOUT_MS */
    long long max_requirements;        /* 1..LIMIT_JOB_REQUIREMENTS (the default) */
    long long max_deps_images;         /* >= 1; DEPS_DEFAULT_MAX_IMAGES */
    char *source;                      /* the file it came from, or "built-in defaults" */
};

/* Load a policy.  path NULL: OPERATOR_POLICY_DEFAULT_PATH when it exists, else the
 * built-in defaults.  A named file that is missing, unreadable or invalid
 * (unknown key, wrong type, bad value) is an error of kind RX_ERR_REJECTED;
 * never a silent fallback. */
int operator_policy_load(const char *path, struct operator_policy *p, struct rx_error **err);
void operator_policy_free(struct operator_policy *p);

/* Check a job against the policy and apply its defaults to the job (sandbox,
 * lowered limits).  Rejection names the limit.  The policy's caps and
 * requirements keys for the executor's options are executor_opts_from_policy's
 * (executor.h): this module knows only the job. */
int operator_policy_apply(const struct operator_policy *p, struct job_spec *job,
                          struct rx_error **err);

/* The strict seccomp profile (images/seccomp-strict.json, embedded). */
extern const char seccomp_strict_profile[];
extern const char seccomp_strict_profile_end[];

#endif
