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

/* gVisor's own processes (sentry, gofer, ptrace stubs) count in the
 * container's pids cgroup: this much is added so the job keeps what it asked. */
#define SANDBOX_GVISOR_PIDS_EXTRA 64

/* The engine runtime for a sandbox name ("gvisor" -> "runsc"), NULL for runc. */
const char *sandbox_policy_runtime(const char *sandbox);

/* The POST /containers/create body for job.  Returns a new object. */
struct json_object *sandbox_policy_create_body(const struct job_spec *job,
                                               const struct sandbox_opts *opts);

/* The limits as applied, for the result (a new object). */
struct json_object *sandbox_policy_limits(const struct job_spec *job,
                                          const struct sandbox_opts *opts);

#endif
