/* SPDX-License-Identifier: MIT */
/* The result of one job: what ralph-exec prints and the worker stores. */
#ifndef JOB_RESULT_H
#define JOB_RESULT_H

#include <stdbool.h>
#include <stdio.h>
#include <json-c/json.h>

#include "executor/rx_buf.h"
#include "executor/rx_error.h"

enum job_status {
    JOB_SUCCESS = 0,
    JOB_ERROR,
    JOB_TIMEOUT,
    JOB_OOM,
    JOB_RESULT_INVALID,
    JOB_REJECTED,
    JOB_INFRA_ERROR,
};

/* What an infra_error came from, for the callers that act on it (a worker
 * counts only JOB_INFRA_ENGINE toward its breaker). */
enum job_infra_cause {
    JOB_INFRA_NONE = 0,  /* not an infra_error */
    JOB_INFRA_ENGINE,    /* the engine or the host failed, or could not be reached */
    JOB_INFRA_JOB_IMAGE, /* the image the job named in `runtime` is not on the engine:
                          * the engine is fine */
    JOB_INFRA_CANCELLED, /* stopped through the cancel fd before the job finished */
    JOB_INFRA_DEPS,      /* the job's requirements could not be built (the index, the
                          * build): the engine is fine */
};

struct job_timings {
    long long deps_ms, create_ms, input_ms, attach_ms, start_ms, run_ms, inspect_ms, output_ms,
        remove_ms;
    long long warm_ms; /* a warm sandbox taken: its update and inspect; -1: none */
};

struct job_result {
    char *task_id;
    enum job_status status;
    int exit_code; /* -1 when the job never exited by itself */
    bool has_exit_code;
    struct json_object *output; /* owned; NULL prints as null */
    char *error;                /* owned; NULL on success */
    struct rx_buf out[2];       /* stdout, stderr as kept */
    long long started_ms;
    long long duration_ms;
    char *image;
    char *container_id;
    char *image_id;   /* the image's digest as the engine resolved it */
    char *deps_image; /* the deps image the job ran on (deps.h), NULL without requirements */
    char *engine_version;
    char *api_version;
    const char *engine_kind;    /* static: "docker" or "podman"; NULL when unknown */
    struct json_object *limits; /* owned */
    struct job_timings timings;
    char *removal_error; /* the container could not be confirmed removed */
    bool remove_pending; /* container_id still exists: executor_remove() must run */
    char *warm_refused;  /* a warm sandbox offered and not used: why (not in the JSON) */
    enum job_infra_cause infra_cause;
};

void job_result_init(struct job_result *r);
void job_result_free(struct job_result *r);
/* Set status and message (printf), unless a message is already set. */
void job_result_fail(struct job_result *r, enum job_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Map an error to a status (rejected, result_invalid, infra_error). */
void job_result_from_error(struct job_result *r, const struct rx_error *e);

const char *job_status_name(enum job_status st);
/* The process exit code for a status: 0 success, 1 error, 2 rejected,
 * 3 timeout, 4 oom, 5 result_invalid, 125 infra_error. */
int job_status_exit_code(enum job_status st);

/* A readable summary for logs and terminals.  The job's own bytes are
 * shown with control characters escaped (\xHH), so a hostile job cannot
 * drive the reader's terminal; each stream is shown up to max_stream bytes. */
void job_result_print_text(const struct job_result *r, FILE *f, size_t max_stream);

/* The result object (new reference). */
struct json_object *job_result_to_json(const struct job_result *r);

static inline void
job_result_freep(struct job_result *r)
{
    job_result_free(r);
}
#define cleanup_job_result __attribute__((cleanup(job_result_freep)))

#endif
