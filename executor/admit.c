/* SPDX-License-Identifier: MIT */
/* What both programs do around executor_run: a job document and the
 * operator's policy become a job ready to run (or its rejection), and every
 * result, run or not, becomes its audit line and its document. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "executor/audit_log.h"
#include "executor/executor.h"
#include "executor/operator_policy.h"
#include "executor/rx_json.h"
#include "executor/rx_util.h"

int
executor_setup(const char *policy_path, const char *audit_override, struct operator_policy *p,
               const char **audit_path, struct rx_error **err)
{
    *audit_path = NULL;
    if (operator_policy_load(policy_path, p, err) < 0)
        return -1;
    const char *path = audit_override ? audit_override : p->audit_log;
    if (path != NULL) {
        int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (fd < 0)
            return rx_error_reject(err, "audit log %s: %s", path, strerror(errno)), -2;
        close(fd);
    }
    *audit_path = path;
    return 0;
}

struct job_spec *
executor_admit(const struct job_doc *doc, const struct operator_policy *policy,
               struct executor_opts *opts, struct job_result *res)
{
    struct rx_error *err = NULL;
    cleanup_free char *bad_task_id = NULL;
    struct job_spec *job;
    if (doc->path != NULL)
        job = job_spec_load(doc->path, &bad_task_id, &err);
    else if (doc->bytes == NULL)
        job = (job_spec_check_size(doc->len, &err), NULL);
    else
        job = job_spec_parse(doc->bytes, doc->len, &bad_task_id, &err);
    if (job != NULL && job->task_id_generated && doc->default_task_id != NULL) {
        free(job->task_id);
        job->task_id = xstrdup(doc->default_task_id);
    }
    if (job != NULL &&
        (operator_policy_apply(policy, job, &err) < 0 || job_spec_check_workspace(job, &err) < 0)) {
        free(bad_task_id);
        bad_task_id = xstrdup(job->task_id);
        job_spec_free(steal_pointer(&job));
    }
    if (job == NULL) {
        executor_result_from_error(res, bad_task_id ? bad_task_id : doc->default_task_id, NULL,
                                   err);
        rx_error_free(&err);
    } else if (opts != NULL) {
        executor_opts_from_policy(opts, policy);
    }
    return job;
}

void
executor_opts_from_policy(struct executor_opts *opts, const struct operator_policy *p)
{
    opts->deps.mode = p->requirements;
    opts->deps.index_url = p->requirements_index_url;
    if (p->requirements_network != NULL)
        opts->deps.network = p->requirements_network;
    if (p->requirements_timeout_ms > 0)
        opts->deps.timeout_ms = p->requirements_timeout_ms;
    if (p->max_deps_images > 0)
        opts->deps.max_images = p->max_deps_images;
    if (p->max_output_bytes > 0)
        opts->output_cap = p->max_output_bytes;
    if (p->max_log_bytes > 0)
        opts->stdout_cap = opts->stderr_cap = p->max_log_bytes;
    opts->seccomp_strict = p->seccomp_strict;
    if (p->uid_first > 0) {
        opts->uid_first = p->uid_first;
        opts->uid_last = p->uid_last;
    }
}

void
executor_finish(struct docker_client *dc, struct job_result *res, struct executor_finish *f)
{
    if (f->deliver != NULL) {
        cleanup_json struct json_object *o = job_result_to_json(res);
        f->deliver(res, rx_json_compact(o), f->ud);
    }
    if (dc != NULL)
        executor_remove(dc, res, &f->remove_err);
    if (f->audit_path != NULL)
        audit_log_append(f->audit_path, res, f->sandbox, &f->audit_err);
}
