/* SPDX-License-Identifier: MIT */
/* One job, one container: create -> copy in -> attach -> start -> stream
 * output until exit or deadline -> (kill) -> wait -> inspect -> copy out ->
 * remove.  The container and its volume are removed on every path. */
#ifndef EXECUTOR_H
#define EXECUTOR_H

#include <stddef.h>

#include "executor/docker_client.h"
#include "executor/job_result.h"
#include "executor/job_spec.h"
#include "executor/limits.h"

/* Kept for executor.c until it names LIMIT_STREAM_BYTES and
 * LIMIT_OUTPUT_BYTES (executor/limits.h) itself. */
#define RX_DEFAULT_STREAM_CAP LIMIT_STREAM_BYTES
#define RX_DEFAULT_OUTPUT_CAP LIMIT_OUTPUT_BYTES

struct executor_opts {
    size_t stdout_cap;
    size_t stderr_cap;
    size_t output_cap;
    const char *owner; /* ralph.owner label */
    const char *queue; /* ralph.queue label (workers), or NULL */
    long long tmp_bytes;
    long long shm_bytes;
    bool seccomp_strict; /* send the strict profile (images/seccomp-strict.json) */
    bool defer_remove;   /* leave the container for executor_remove() (see below) */
};

void executor_opts_defaults(struct executor_opts *o);

/* Run job in a fresh container and fill res (initialised by the caller with
 * job_result_init).  Every failure becomes a status in res: this never
 * aborts and never leaves a container behind that it could remove.  A
 * cancellation through the client's cancel fd ends the job as infra_error
 * after removing the container. */
void executor_run(struct docker_client *dc, const struct job_spec *job,
                  const struct executor_opts *opts, struct job_result *res);

/* With opts->defer_remove, executor_run() leaves the stopped container in
 * place (res->remove_pending) so that a worker can hand the result on
 * first; it must then call this, on every path, with the same client.
 * Removes the container and its volume, sets res->removal_error on failure
 * (also returned as -1 with *err set).  A no-op when nothing is pending. */
int executor_remove(struct docker_client *dc, struct job_result *res, struct rx_error **err);

/* Fill res for a job that never reached the engine (rejected, or no engine):
 * status from err, the task id if known. */
void executor_result_from_error(struct job_result *res, const char *task_id, const char *image,
                                const struct rx_error *err);

/* Remove the containers labelled ralph.owner whose deadline (ralph.deadline)
 * has passed, or which is_dead(owner, queue label, ud) says belong to a
 * worker that is gone.  Containers of `self` only once past their deadline.  *removed gets
 * how many were removed. */
int executor_sweep(struct docker_client *dc, const char *self,
                   bool (*is_dead)(const char *owner, const char *queue, void *ud), void *ud,
                   int *removed, struct rx_error **err);

#endif
