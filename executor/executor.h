/* SPDX-License-Identifier: MIT */
/* One job, one container: create (with a uid of its own) -> start (a
 * holder process keeps it up) -> copy in -> exec the job -> stream its output
 * until it exits or the deadline -> (kill) -> inspect -> copy out -> remove.
 * The workspace is a tmpfs that lives only while the container runs, which
 * is why the job is exec'd and its output copied before the end.  The
 * container and its volume are removed on every path. */
#ifndef EXECUTOR_H
#define EXECUTOR_H

#include <stddef.h>

#include "executor/deps.h"
#include "executor/docker_client.h"
#include "executor/job_result.h"
#include "executor/job_spec.h"
#include "executor/limits.h"

struct executor_opts {
    size_t stdout_cap;
    size_t stderr_cap;
    size_t output_cap;
    const char *owner; /* ralph.owner label */
    const char *queue; /* ralph.queue label (workers), or NULL */
    long long tmp_bytes;
    long long shm_bytes;
    bool seccomp_strict;     /* send the strict profile (images/seccomp-strict.json) */
    long long uid_first;     /* the uids jobs run as (policy uid_range): one of */
    long long uid_last;      /* its own for each job running on the engine */
    bool defer_remove;       /* leave the container for executor_remove() (see below) */
    struct deps_policy deps; /* how a job's requirements are built (the policy's keys) */
    /* Python modules a warm sandbox's harness imports before it waits
     * (comma-separated; ralph-worker --warm-preload), or NULL.  Read by
     * executor_warm_make alone: never by a cold run. */
    const char *warm_preload;
};

void executor_opts_defaults(struct executor_opts *o);

/* Run job in a fresh container and fill res (initialised by the caller with
 * job_result_init).  Every failure becomes a status in res: this never
 * aborts and never leaves a container behind that it could remove.  A
 * cancellation through the client's cancel fd ends the job as infra_error
 * after removing the container. */
void executor_run(struct docker_client *dc, const struct job_spec *job,
                  const struct executor_opts *opts, struct job_result *res);

/* A warm sandbox: a job's container made and started before any job, for
 * exactly one job (the worker's --warm pool).  Its holder runs; nothing of
 * any job's has.  Its labels are a job's, its task id empty (unassigned);
 * a job that takes it gets its limits through an update where the runtime
 * can (container_spec.h), checked by inspect before anything of the job's
 * goes in. */
struct warm_sandbox {
    char *id;
    char *key; /* container_spec_warm_key: which jobs fit */
    /* Made for a code job: its harness, exec'd and waiting on stdin for its
     * input; then only code jobs of the same exec body (env, output path)
     * fit.  NULL otherwise. */
    char *exec_id;
    char *exec_key;
    char *preload; /* the modules its harness imported (opts->warm_preload), or NULL */
    struct docker_attach *att;
    long long uid;        /* the uid its job runs as */
    char run_id[37];      /* its ralph.run label */
    long long deadline_s; /* its ralph.deadline label */
    long long made_ms;    /* started, rx_now_ms() */
};

/* The longest job a warm sandbox takes, in seconds; longer ones run cold.
 * Its holder's deadline (made + TTL + this + 300 s) is fixed when it is
 * made: what bounds a job whose worker was killed before it could remove
 * it, when no other worker of its queue sweeps it. */
#define WARM_JOB_TIMEOUT_S 600

/* Make and start a sandbox for jobs like tmpl (the worker's defaults), that
 * stays usable for ttl_ms.  On Podman: refused (ENOTSUP). */
int executor_warm_make(struct docker_client *dc, const struct job_spec *tmpl,
                       const struct executor_opts *opts, long long ttl_ms, struct warm_sandbox *ws,
                       struct rx_error **err);
/* Whether job may run in ws (pure but for the clock): made for the same
 * image, sandbox, hardening and rlimits, and its deadline far enough; where
 * its harness preloaded modules, a job executor_warm_preloadable says may
 * find them imported. */
bool executor_warm_fits(const struct warm_sandbox *ws, const struct job_spec *job,
                        const struct executor_opts *opts, bool podman);
/* executor_run, in ws: it is the job's (ws->id is taken).  A sandbox that
 * cannot be used (its holder gone, its limits not applied) is removed and
 * the job runs cold; res->warm_refused says why. */
void executor_run_warm(struct docker_client *dc, const struct job_spec *job,
                       const struct executor_opts *opts, struct warm_sandbox *ws,
                       struct job_result *res);
void executor_warm_free(struct warm_sandbox *ws);
/* Whether a job may run where modules were imported before its input came
 * (--warm-preload): a code job without `files` or PYTHONPATH, whose import
 * of a module finds the image's, cold as warm (a file or a PYTHONPATH
 * entry in /workspace could shadow it cold, not once it is imported). */
bool executor_warm_preloadable(const struct job_spec *job);

/* What `ralph-exec prepare` does: the job's deps image found or built
 * (deps_build.h), nothing run.  res as for executor_run: success with
 * deps_image set (null without requirements), or the failure. */
void executor_prepare(struct docker_client *dc, const struct job_spec *job,
                      const struct executor_opts *opts, struct job_result *res);

/* With opts->defer_remove, executor_run() leaves the stopped container in
 * place (res->remove_pending) so that a worker can hand the result on
 * first; it must then call this, on every path, with the same client.
 * Removes the container and its volume, sets res->removal_error on failure
 * (also returned as -1 with *err set).  A no-op when nothing is pending. */
int executor_remove(struct docker_client *dc, struct job_result *res, struct rx_error **err);

/* A job document, as either program has it. */
struct job_doc {
    const char *path;            /* a job file ("-": standard input), or NULL: */
    const char *bytes;           /* the document in memory; NULL: a queue measured */
    size_t len;                  /* len bytes, too many to read (rejected unread) */
    const char *default_task_id; /* a queue's name for it, when the document gives none */
};

struct operator_policy;

/* The operator's side of both programs' start, before any job: the policy
 * (policy_path NULL: the default file when it exists) and the audit log
 * that audit_override or else the policy names, checked writable (created
 * 0640).  *audit_path then points at audit_override or into p.  An error
 * (RX_ERR_REJECTED) names the file: -1 for the policy, -2 for the audit
 * log; p must be freed either way. */
int executor_setup(const char *policy_path, const char *audit_override, struct operator_policy *p,
                   const char **audit_path, struct rx_error **err);

/* The one way into a run, for ralph-exec and the worker alike: parse and
 * validate the document, check it against the operator's policy and apply
 * its defaults (to the job) and caps (into opts, by executor_opts_from_policy,
 * once the job is admitted).  Returns the job, ready for
 * executor_run; or NULL with res filled as its rejection (task id: the
 * document's when it had a usable one, else doc->default_task_id, else
 * NULL). */
struct job_spec *executor_admit(const struct job_doc *doc, const struct operator_policy *policy,
                                struct executor_opts *opts, struct job_result *res);

/* The operator's policy's part of the options: its output and log caps,
 * seccomp profile, uid range and requirements keys, over what opts held
 * (executor_opts_defaults).  A field the policy leaves 0 or NULL (one not
 * made by operator_policy_load) keeps opts's.  opts->deps's strings point
 * into p, which must outlive the run. */
void executor_opts_from_policy(struct executor_opts *opts, const struct operator_policy *p);

/* The end of every job, run or not, in one order for both programs: its
 * result document handed to deliver (ralph-exec prints it, a worker stores
 * it; NULL: not delivered, a job going back to its queue), then its
 * container removed if executor_run left it (defer_remove), then its line
 * in the audit log (when audit_path), which records the removal's outcome.
 * A failed removal or audit sets remove_err or audit_err: the result
 * stands. */
struct executor_finish {
    const char *audit_path;
    const char *sandbox; /* the job's, or NULL (rejected before it had one) */
    void (*deliver)(const struct job_result *res, const char *json, void *ud);
    void *ud;
    struct rx_error *remove_err; /* out */
    struct rx_error *audit_err;  /* out */
};
void executor_finish(struct docker_client *dc, struct job_result *res, struct executor_finish *f);

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
