/* SPDX-License-Identifier: MIT */
/* job.json -> a fully validated struct job_spec.  Nothing talks to the engine
 * before this has passed; every rejection names the field at fault. */
#ifndef JOB_SPEC_H
#define JOB_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <json-c/json.h>

#include "executor/limits.h"
#include "executor/rx_error.h"

/* The bounds on what a job may carry are in executor/limits.h. */

#define JOB_SPEC_DEFAULT_IMAGE "ralph-sandbox:python"
#define JOB_SPEC_DEFAULT_TIMEOUT_S 30.0
#define JOB_SPEC_DEFAULT_MEMORY (256ll << 20)
#define JOB_SPEC_DEFAULT_CPU 1.0
#define JOB_SPEC_DEFAULT_PIDS 64
#define JOB_SPEC_DEFAULT_FSIZE (64ll << 20)
#define JOB_SPEC_DEFAULT_OUTPUT "output.json"

/* The workspace directory in the container and the harness's private
 * directory inside it (reserved: jobs may not put files there). */
#define JOB_WORKSPACE "/workspace"
#define JOB_RESERVED_DIR ".ralph"

enum job_kind {
    JOB_CODE,    /* Python source defining calculate(inputs) */
    JOB_COMMAND, /* an argv run as is */
};

struct job_file {
    char *path;    /* validated relative path */
    char *content; /* owned, may contain any byte */
    size_t len;
};

struct job_spec {
    char *task_id;
    bool task_id_generated;
    enum job_kind kind;

    char *code; /* JOB_CODE */
    size_t code_len;
    char *inputs_json; /* JOB_CODE: serialised inputs ("null" when absent) */

    char **command; /* JOB_COMMAND, NULL-terminated */
    size_t n_command;
    char *stdin_data; /* NULL when no stdin */
    size_t stdin_len;

    struct job_file *files;
    size_t n_files;

    char *image;
    long long timeout_ms;
    long long memory_bytes;
    long long nano_cpus;
    long long pids_limit;
    long long file_size_bytes;
    long long workspace_bytes; /* what /workspace may hold (see job_spec_workspace_bytes) */
    char **env;                /* "KEY=VALUE", NULL-terminated */
    size_t n_env;
    char *output_path; /* relative to JOB_WORKSPACE */
    char *sandbox;     /* "runc" or "gvisor"; NULL: the operator's default */
    /* `requirements`, each in its normal form (job_spec_requirement_normalise),
     * sorted by strcmp, no two naming the same package; NULL-terminated, NULL
     * when the job gave none (or an empty array). */
    char **requirements;
    size_t n_requirements;
    unsigned set; /* which fields the job gave (see job_spec_has) */
};

/* The workspace's size: workspace_limit when the job gave one, else half
 * its memory_limit.  The workspace is held in memory (a tmpfs charged to the
 * job's memory cgroup), so its files count toward memory_limit too: at half,
 * a job's own memory and its files both have room, and a full workspace is
 * ENOSPC before it is an OOM kill. */
long long job_spec_workspace_bytes(const struct job_spec *job);
/* Once the limits are final (after the operator's policy): the workspace
 * fits within memory_limit, and the job's input fits in the workspace.
 * Rejects (RX_ERR_REJECTED) naming the field otherwise. */
int job_spec_check_workspace(const struct job_spec *job, struct rx_error **err);

/* Did the job document give this field (rather than take the default)? */
bool job_spec_has(const struct job_spec *job, const char *field);

/* Validate a parsed job document.  Returns a new job_spec, or NULL with *err
 * set (kind RX_ERR_REJECTED) naming the field. */
struct job_spec *job_spec_from_json(struct json_object *doc, struct rx_error **err);
/* Read and validate a job file ("-" is standard input), at most
 * LIMIT_JOB_BYTES.  On rejection, *task_id_out (if not NULL) gets the
 * document's task_id when one could be read, so the result can carry it. */
struct job_spec *job_spec_load(const char *path, char **task_id_out, struct rx_error **err);
/* What job_spec_load reads: the file (or standard input for "-"), at most
 * LIMIT_JOB_BYTES, into *bytes (caller frees, NUL-terminated).  Errors are
 * RX_ERR_REJECTED and name the file. */
int job_spec_read(const char *path, char **bytes, size_t *len, struct rx_error **err);
/* The size check job_spec_parse starts with, for a job measured before it
 * is read (the worker's queues): 0, or -1 with *err (RX_ERR_REJECTED). */
int job_spec_check_size(size_t len, struct rx_error **err);
/* Parse from memory (the worker's queue payloads). */
struct job_spec *job_spec_parse(const char *data, size_t len, char **task_id_out,
                                struct rx_error **err);
void job_spec_free(struct job_spec *job);

/* "256m", "1g", "65536" -> bytes.  Returns 0, or -1 when malformed. */
int job_spec_parse_size(const char *s, long long *out);
/* Check a relative path for the workspace: no absolute paths, no ".." or "."
 * components, no empty components, no NUL or control characters, and not in
 * the reserved directory.  Returns 0 or -1 with *why set to a static reason. */
int job_spec_check_path(const char *p, size_t len, const char **why);
/* Check one `requirements` entry (s, len bytes: not NUL-terminated, may hold
 * any byte) against the strict subset of PEP 508 jobs may use: a name,
 * optional [extras], optional version specifiers, ASCII only, single spaces
 * between tokens; no URL, path, `@` reference, `;` marker or pip option.
 * Returns 0 with *out its normal form (caller frees): the name and extras
 * lower-cased with each run of "-_." one "-" (PEP 503), the extras sorted
 * without repeats, the specifiers in the order given, no spaces.  Else -1
 * with *why a static reason ("a direct reference (@) is not allowed: ...").
 * Pure: no allocation on failure. */
int job_spec_requirement_normalise(const char *s, size_t len, char **out, const char **why);

static inline void
job_spec_freep(struct job_spec **j)
{
    job_spec_free(*j);
}
#define cleanup_job_spec __attribute__((cleanup(job_spec_freep)))

#endif
