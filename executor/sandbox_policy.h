/* SPDX-License-Identifier: MIT */
/* The hardening, in one place: a validated job and the operator's options
 * become the engine's create body.  Every setting here is always on; none is
 * a job's to loosen. */
#ifndef SANDBOX_POLICY_H
#define SANDBOX_POLICY_H

#include <json-c/json.h>

#include "executor/job_spec.h"

#define SANDBOX_UID 65534
#define SANDBOX_GID 65534
#define SANDBOX_NOFILE 1024
#define SANDBOX_TMP_BYTES (64ll << 20)
#define SANDBOX_SHM_BYTES (16ll << 20)
#define SANDBOX_HARNESS_DIR JOB_WORKSPACE "/" JOB_RESERVED_DIR

struct sandbox_opts {
    const char *owner;      /* ralph.owner label: who made the container */
    const char *queue;      /* ralph.queue label (workers), or NULL */
    long long deadline_s;   /* ralph.deadline label: wall-clock epoch seconds */
    long long tmp_bytes;    /* size of the /tmp tmpfs */
    long long shm_bytes;    /* size of /dev/shm */
    const char *seccomp;    /* a compact seccomp profile to send inline, or NULL (engine default) */
};

/* Under gVisor (ptrace platform) every process of the job has host-side stub
 * processes and the sentry has its own threads, all in the container's pids
 * cgroup: a job at its limit would exhaust the cgroup first and the whole
 * sandbox would die (exit 2) instead of the job seeing EAGAIN.  So the job's
 * limit is enforced inside gVisor, by its own kernel, as RLIMIT_NPROC (per
 * sandbox there, not per host uid), and the host cgroup gets this much room
 * per allowed process, plus a base for the sentry: still a bound, never the
 * one a job meets first.  Measured on runsc 2022-12 (bookworm). */
#define SANDBOX_GVISOR_PIDS_PER_TASK 8
#define SANDBOX_GVISOR_PIDS_BASE 256

/* The engine runtime for a sandbox name ("gvisor" -> "runsc"), NULL for runc. */
const char *sandbox_policy_runtime(const char *sandbox);

/* The POST /containers/create body for job.  Returns a new object. */
struct json_object *sandbox_policy_create_body(const struct job_spec *job,
                                               const struct sandbox_opts *opts);

/* The limits as applied, for the result (a new object). */
struct json_object *sandbox_policy_limits(const struct job_spec *job,
                                          const struct sandbox_opts *opts);

#endif
