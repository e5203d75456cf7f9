/* SPDX-License-Identifier: MIT */
/* ralph-worker submit: hand jobs to a fleet's queue, and wait for them. */
#ifndef SUBMIT_H
#define SUBMIT_H

#include <stdbool.h>
#include <stddef.h>

struct submit_opts {
    const char *queue_url;
    const char *prefix;      /* Redis key prefix */
    const char *policy_path; /* NULL: /etc/ralph-exec/policy.json if present */
    bool wait;
    long long timeout_ms; /* with wait: 0, no limit */
    char *const *files;   /* job files, "-" for standard input */
    size_t n_files;
};

/* Beyond ralph-exec's codes for a result's status (0 success ... 5
 * result_invalid): a job refused before anything was queued, a wait that
 * timed out (the jobs stay queued), the queue unreachable. */
enum {
    SUBMIT_EXIT_REJECTED = 2,
    SUBMIT_EXIT_TIMEOUT = 124,
    SUBMIT_EXIT_INFRA = 125,
};

/* Check every job as a worker would (the same admission and policy), then
 * queue each under its task id (a job without one gets one, written into
 * what is queued) unless that id has a result already.  Without wait, one
 * line each on stdout: the task id, or the existing result.  With wait,
 * each result as it is stored, one line each; the exit code is that of the
 * first job (in order) that did not succeed, as ralph-exec's.  Returns the
 * process exit code; messages go to stderr. */
int worker_submit(const struct submit_opts *o);

#endif
