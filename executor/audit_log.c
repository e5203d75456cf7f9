/* SPDX-License-Identifier: MIT */
#include "executor/audit_log.h"

#include <fcntl.h>
#include <time.h>

#include "executor/rx_json.h"
#include "executor/rx_util.h"

int
audit_log_append(const char *path, const struct job_result *res, const char *sandbox,
                 struct rx_error **err)
{
    struct json_object *o = json_object_new_object();
    char when[32];
    rx_iso8601_now(when);
    json_object_object_add(o, "ts", json_object_new_string(when));
    json_object_object_add(o, "task_id",
                           res->task_id ? json_object_new_string(res->task_id) : NULL);
    json_object_object_add(o, "status", json_object_new_string(job_status_name(res->status)));
    json_object_object_add(o, "exit_code",
                           res->has_exit_code ? json_object_new_int(res->exit_code) : NULL);
    json_object_object_add(o, "oom", json_object_new_boolean(res->status == JOB_OOM));
    json_object_object_add(o, "timed_out", json_object_new_boolean(res->status == JOB_TIMEOUT));
    json_object_object_add(o, "image", res->image ? json_object_new_string(res->image) : NULL);
    json_object_object_add(o, "image_id",
                           res->image_id ? json_object_new_string(res->image_id) : NULL);
    json_object_object_add(o, "sandbox", sandbox ? json_object_new_string(sandbox) : NULL);
    json_object_object_add(o, "runtime",
                           json_object_new_string(sandbox && strcmp(sandbox, "gvisor") == 0
                                                      ? "runsc"
                                                      : "runc"));
    json_object_object_add(o, "container_id",
                           res->container_id ? json_object_new_string(res->container_id) : NULL);
    /* The hardening as sent: fixed settings and the job's limits. */
    struct json_object *h = json_object_new_object();
    json_object_object_add(h, "read_only_rootfs", json_object_new_boolean(true));
    struct json_object *caps = json_object_new_array();
    json_object_array_add(caps, json_object_new_string("ALL"));
    json_object_object_add(h, "cap_drop", caps);
    json_object_object_add(h, "no_new_privileges", json_object_new_boolean(true));
    json_object_object_add(h, "network", json_object_new_string("none"));
    const char *user = rx_json_get_str(res->limits, "user");
    json_object_object_add(h, "user", user ? json_object_new_string(user) : NULL);
    json_object_object_add(h, "limits", res->limits ? json_object_get(res->limits) : NULL);
    json_object_object_add(o, "hardening", h);
    json_object_object_add(o, "stdout_truncated", json_object_new_boolean(res->out[0].overflow));
    json_object_object_add(o, "stderr_truncated", json_object_new_boolean(res->out[1].overflow));
    json_object_object_add(o, "stdout_bytes", json_object_new_int64((int64_t)res->out[0].total));
    json_object_object_add(o, "stderr_bytes", json_object_new_int64((int64_t)res->out[1].total));
    json_object_object_add(o, "duration_ms", json_object_new_int64(res->duration_ms));
    struct json_object *t = json_object_new_object();
    json_object_object_add(t, "create", json_object_new_int64(res->timings.create_ms));
    json_object_object_add(t, "run", json_object_new_int64(res->timings.run_ms));
    json_object_object_add(t, "remove", json_object_new_int64(res->timings.remove_ms));
    json_object_object_add(o, "timings_ms", t);
    /* Only engine-side messages: job-side ones may quote the job's data. */
    json_object_object_add(o, "infra_error",
                           res->status == JOB_INFRA_ERROR && res->error
                               ? json_object_new_string(res->error)
                               : NULL);
    json_object_object_add(o, "removal_error",
                           res->removal_error ? json_object_new_string(res->removal_error) : NULL);
    cleanup_free char *line = xasprintf("%s\n", rx_json_compact(o));
    json_object_put(o);

    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd < 0)
        return rx_error_set(err, errno, "audit log %s: %s", path, strerror(errno));
    size_t len = strlen(line);
    ssize_t w = write(fd, line, len); /* one write: lines from many processes never interleave */
    int e = errno;
    close(fd);
    if (w != (ssize_t)len)
        return rx_error_set(err, w < 0 ? e : EIO, "audit log %s: %s", path,
                            w < 0 ? strerror(e) : "short write");
    return 0;
}
