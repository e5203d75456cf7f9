/* SPDX-License-Identifier: MIT */
/* The hardening, in one place: a validated job and the operator's options
 * become the engine's create body.  Every setting here is always on; none is
 * a job's to loosen. */
#ifndef CONTAINER_SPEC_H
#define CONTAINER_SPEC_H

#include <json-c/json.h>

#include "executor/job_spec.h"
#include "executor/limits.h"
#include "executor/rx_error.h"

/* The uids jobs run as unless the policy sets uid_range: each job running
 * on an engine gets one of its own (gid the same), so that the kernel's
 * per-user limits (inotify instances, message queue bytes, pending signals,
 * nproc) are never shared between jobs.  Above every Debian account range
 * and the subordinate ids handed out from 100000 for rootless engines. */
#define SANDBOX_UID_FIRST 1000000000ll
#define SANDBOX_UID_LAST (SANDBOX_UID_FIRST + 65535)
/* The container's main process (`sleep` until the run's deadline): it only
 * holds the container up while the job, exec'd beside it, runs and until
 * its output is copied out (the workspace tmpfs is unmounted when the
 * container stops).  It runs as SANDBOX_HOLDER_UID, not as the job: the job
 * can neither signal nor ptrace it (nor its init), so it cannot stop its
 * own container early.  Any image with a `sleep` (coreutils, busybox) can
 * run jobs. */
#define SANDBOX_HOLDER_UID 65534
#define SANDBOX_NOFILE 1024
#define SANDBOX_TMP_BYTES (64ll << 20)
#define SANDBOX_SHM_BYTES (16ll << 20)
/* What ralph-exec writes on a code job's harness's stdin: the go-ahead
 * (its input was copied in), or the input itself (a header with the byte
 * lengths of the code and of the inputs' JSON, then those bytes).  The
 * protocol: docs/harness.md. */
#define SANDBOX_HARNESS_GO "\n"
#define SANDBOX_HARNESS_INPUT "RALPH-INPUT %zu %zu\n"
/* The harness's exit status when stdin ended before its input did (the
 * image's python3 could exit so too: it is reported as the job's error). */
#define SANDBOX_HARNESS_NO_INPUT 3
/* A warm sandbox's harness given modules to preload (container_spec_opts):
 * its line on stdout once they are imported, before it waits, read by the
 * pool (executor.c), never a job's; and its exit status when one of them
 * could not be imported. */
#define SANDBOX_HARNESS_READY "RALPH-READY\n"
#define SANDBOX_HARNESS_PRELOAD_FAILED 4

/* The embedded harness (executor/harness.py), run as `python3 -I -B -u -c`. */
extern const char harness_py[];
extern const char harness_py_end[];

struct container_spec_opts {
    const char *owner;    /* ralph.owner label: who made the container */
    const char *queue;    /* ralph.queue label (workers), or NULL */
    long long deadline_s; /* ralph.deadline label: wall-clock epoch seconds */
    long long tmp_bytes;  /* size of the /tmp tmpfs */
    long long shm_bytes;  /* size of /dev/shm */
    const char *seccomp;  /* a compact seccomp profile to send inline, or NULL (engine default) */
    bool podman;          /* Podman's compat API (see container_spec_engine_check) */
    long long uid;        /* the job's own uid (and gid) */
    const char *run_id;   /* ralph.run label: this run's own (docker_container_create) */
    const char *image;    /* the image to run: a deps image (deps.h); NULL: the job's */
    bool unassigned;      /* a warm sandbox (executor.h): its ralph.task_id label empty */
    /* A warm sandbox's harness: Python modules it imports before it waits
     * (comma-separated; ralph-worker --warm-preload), an extra argv
     * element of a code job's exec.  NULL for every cold run. */
    const char *preload;
};

/* Podman mounts its own writable tmpfs on /run and /var/tmp of a read-only
 * rootfs (4.3: "ReadWriteTmpFS", not switchable through the compat API).
 * ralph-exec declares them itself instead, read-only (the image's content is
 * copied up first, as Podman does), so that read-only means read-only except
 * /workspace and /tmp, as on Docker. */
#define SANDBOX_PODMAN_RO_TMPFS_BYTES (1ll << 20)

/* Podman (4.3) raises an nproc the request leaves unset to 1048576, above
 * the hard limit its service usually has, and runc cannot raise it without
 * CAP_SYS_RESOURCE: start fails ("error setting rlimit type 6").  Its "-1"
 * (the service's own limit) is a CLI feature; through the compat API it
 * becomes unlimited and fails the same way.  So a number is sent: the
 * largest pids_limit a job may have, which the service's own hard limit
 * (32768 for a root service on bookworm) must allow.  Like any nproc it
 * counts the job's uid's processes host-wide (its own uid); PidsLimit bounds
 * each job. */
#define SANDBOX_PODMAN_NPROC LIMIT_JOB_PIDS_MAX

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
const char *container_spec_runtime(const char *sandbox);

/* What the engine cannot honour for this job, refused before any engine
 * call: 0 when the job can run, or -1 with *err set (an RX_ERR_INFRA error
 * naming what and why).  On Podman (4.3): a seccomp profile of our own (its
 * compat API reads an inline profile as a path on the engine's host) and
 * gVisor (not registered with Podman here; nothing proves the profile and
 * limits would hold). */
int container_spec_engine_check(const struct job_spec *job, const struct container_spec_opts *opts,
                                struct rx_error **err);

/* The POST /containers/create body for job.  Returns a new object. */
struct json_object *container_spec_create_body(const struct job_spec *job,
                                               const struct container_spec_opts *opts);

/* The POST /containers/{id}/exec body that runs the job itself: the
 * harness for a code job, the job's argv otherwise, as the job's uid in
 * /workspace, stdin attached when something comes on it.  A new object. */
struct json_object *container_spec_exec_body(const struct job_spec *job,
                                             const struct container_spec_opts *opts);
/* Whether the job's exec gets stdin: a code job's input or go-ahead, a
 * command's stdin. */
bool container_spec_exec_stdin(const struct job_spec *job);

/* The container's PidsLimit: the job's pids_limit, or under gVisor what its
 * sandbox's own processes need beside it. */
long long container_spec_pids_limit(const struct job_spec *job);

/* A warm sandbox (executor.h) is a job's container made ahead of its job.
 * Its limits on memory, CPU and processes are set for the job that takes
 * it, through POST /containers/{id}/update, where the runtime can: runc
 * (runsc has no `update`: a refused update kills the gVisor sandbox), not
 * on Podman.  The update's body: */
struct json_object *container_spec_update_body(const struct job_spec *job);
bool container_spec_updatable(const struct job_spec *job, const struct container_spec_opts *opts);
/* What a job's container must have been made with to take it: its create
 * body without its deadline, run, task id and (where updatable) the limits
 * update sets.  A job fits a warm sandbox when their keys are equal, made
 * with the sandbox's uid.  Owned string. */
char *container_spec_warm_key(const struct job_spec *job, const struct container_spec_opts *opts);

/* The limits as applied, for the result (a new object). */
struct json_object *container_spec_limits(const struct job_spec *job,
                                          const struct container_spec_opts *opts);

#endif
