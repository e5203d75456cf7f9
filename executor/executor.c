/* SPDX-License-Identifier: MIT */
#include "executor/executor.h"

#include "executor/docker_archive.h"
#include "executor/docker_attach.h"
#include "executor/docker_container.h"
#include "executor/docker_errors.h"
#include "executor/rx_json.h"
#include "executor/operator_policy.h"
#include "executor/rx_util.h"
#include "executor/container_spec.h"
#include "executor/tar_stream.h"

#include <signal.h>
#include <time.h>
#include <uuid/uuid.h>

#define INPUT_TAR_CAP (64u << 20)
#define ERROR_FILE_CAP (64u << 10)
#define KILL_WAIT_MS 30000
/* How long a started code job's interpreter may take to read its input. */
#define INPUT_SEND_MS 30000 /* or the job's timeout, when longer */
/* How long a late "oom" event is waited for: seen 15-50 ms after the exit
 * under gVisor; only an exit 137 we did not cause pays it. */
#define OOM_EVENT_GRACE_MS 1000
/* How long a container whose input copy failed may take to be seen exited. */
#define EXIT_GRACE_MS 2000

void
executor_opts_defaults(struct executor_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->stdout_cap = RX_DEFAULT_STREAM_CAP;
    o->stderr_cap = RX_DEFAULT_STREAM_CAP;
    o->output_cap = RX_DEFAULT_OUTPUT_CAP;
    o->owner = "ralph-exec";
    o->tmp_bytes = SANDBOX_TMP_BYTES;
    o->shm_bytes = SANDBOX_SHM_BYTES;
}

/* Build the input tar: the code and the inputs for code jobs, and the job's
 * files, all owned by the job user. */
static int
build_input(const struct job_spec *job, struct rx_buf *tar, struct rx_error **err)
{
    size_t n = job->n_files + 2, k = 0;
    struct tar_entry_in *e = xcalloc(n, sizeof(*e));
    if (job->kind == JOB_CODE) {
        e[k++] = (struct tar_entry_in){JOB_RESERVED_DIR "/job.py", job->code, job->code_len,
                                       0644};
        e[k++] = (struct tar_entry_in){JOB_RESERVED_DIR "/inputs.json", job->inputs_json,
                                       strlen(job->inputs_json), 0644};
    }
    for (size_t i = 0; i < job->n_files; i++)
        e[k++] = (struct tar_entry_in){job->files[i].path, job->files[i].content,
                                       job->files[i].len, 0644};
    rx_buf_init(tar, INPUT_TAR_CAP);
    int r = tar_build(e, k, SANDBOX_UID, SANDBOX_GID, tar, err);
    free(e);
    if (r < 0 && tar->overflow) {
        rx_error_free(err);
        return rx_error_reject(err, "the job's files come to more than %u bytes",
                               INPUT_TAR_CAP);
    }
    return r;
}

/* Send a code job's input, or its go-ahead, to the harness's stdin (see
 * container_spec.h): the header line, the code, the inputs' JSON, straight
 * from the job.  Returns as docker_attach_feed: DOCKER_ATTACH_SENT when all
 * of it was written. */
static int
feed_harness(struct docker_attach *att, const struct job_spec *job, bool input_on_stdin,
             struct docker_demux *d, long long deadline_ms, struct rx_error **err)
{
    if (!input_on_stdin)
        return docker_attach_feed(att, SANDBOX_HARNESS_GO, strlen(SANDBOX_HARNESS_GO), d,
                                  deadline_ms, err);
    size_t inputs_len = strlen(job->inputs_json);
    char head[64];
    int hl = snprintf(head, sizeof(head), SANDBOX_HARNESS_INPUT, job->code_len, inputs_len);
    const char *part[] = {head, job->code, job->inputs_json};
    size_t len[] = {(size_t)hl, job->code_len, inputs_len};
    int r = DOCKER_ATTACH_SENT;
    for (size_t i = 0; i < RX_ARRAY_SIZE(part) && r == DOCKER_ATTACH_SENT; i++)
        r = docker_attach_feed(att, part[i], len[i], d, deadline_ms, err);
    return r;
}

/* A failed copy of the input: when it is because a file of the job's would
 * replace a directory the image has in /workspace (Docker refuses it under
 * noOverwriteDirNonDir, with a 500), the job named that file: rejected,
 * never an infra_error (which would count toward a worker's breaker). */
static bool
input_collides(const struct job_spec *job, struct rx_error **err)
{
    if (*err == NULL ||
        docker_error_meaning((*err)->http_status, (*err)->msg) != DOCKER_ERROR_DIR_COLLISION)
        return false;
    (*err)->kind = RX_ERR_REJECTED;
    rx_error_prefix(err, "`files`: a file would replace a directory that image \"%s\" has in %s",
                    job->image, JOB_WORKSPACE);
    return true;
}

/* Copy one file out of the stopped container, with every check: it must be a
 * single regular file of at most cap bytes.  ENOENT when it does not exist. */
static int
fetch_file(struct docker_client *dc, const char *id, const char *rel, size_t cap, char **content,
           size_t *len, struct rx_error **err)
{
    /* The engine follows symbolic links in the parent directories (within
     * the container's files, reading as root): a job linking out -> /etc
     * with output_path out/x would hand back /etc/x.  The container has
     * stopped, so nothing changes between these checks and the read. */
    for (const char *s = strchr(rel, '/'); s != NULL; s = strchr(s + 1, '/')) {
        cleanup_free char *parent = xasprintf("%s/%.*s", JOB_WORKSPACE, (int)(s - rel), rel);
        long long psize = -1, pmode = -1;
        if (docker_archive_stat(dc, id, parent, &psize, &pmode, err) < 0)
            return -1; /* 404: the output is missing */
        if (pmode < 0 || (pmode & GO_MODE_SYMLINK) || !(pmode & GO_MODE_DIR)) {
            rx_error_set(err, EINVAL, "output file %s: %s is %s", rel, parent + strlen(JOB_WORKSPACE) + 1,
                         pmode >= 0 && (pmode & GO_MODE_SYMLINK) ? "a symbolic link"
                                                                 : "not a directory");
            (*err)->kind = RX_ERR_OUTPUT;
            return -1;
        }
    }
    cleanup_free char *path = xasprintf("%s/%s", JOB_WORKSPACE, rel);
    cleanup_buf struct rx_buf tar;
    rx_buf_init(&tar, 0);
    bool truncated = false;
    long long size = -1, mode = -1;
    /* Room for the tar headers and padding around the file itself. */
    if (docker_archive_get(dc, id, path, cap + (64u << 10), &tar, &truncated, &size, &mode,
                           err) < 0) {
        /* The job shaped its own workspace: a path through a file or a
         * symlink loop is its doing, not the engine's. */
        if ((*err)->http_status >= 400 && (*err)->http_status != 404) {
            int st = (*err)->http_status;
            rx_error_free(err);
            rx_error_set(err, EINVAL,
                         "output file %s could not be read from the workspace (engine status %d: "
                         "a path component is not a directory, or a symbolic link loop)",
                         rel, st);
            (*err)->kind = RX_ERR_OUTPUT;
        }
        return -1;
    }
    const char *slash = strrchr(rel, '/');
    const char *base = slash ? slash + 1 : rel;
    const char *what = NULL;
    if (mode >= 0) {
        if (mode & GO_MODE_DIR)
            what = "a directory";
        else if (mode & GO_MODE_SYMLINK)
            what = "a symbolic link";
        else if (mode & GO_MODE_PIPE)
            what = "a FIFO";
        else if (mode & (GO_MODE_DEVICE | GO_MODE_CHARDEV))
            what = "a device";
        else if (mode & GO_MODE_SOCKET)
            what = "a socket";
        else if (mode & GO_MODE_IRREGULAR)
            what = "an irregular file";
    }
    if (what != NULL) {
        rx_error_set(err, EINVAL, "output file %s is %s, not a regular file", rel, what);
        (*err)->kind = RX_ERR_OUTPUT;
        return -1;
    }
    if (size >= 0 && (unsigned long long)size > cap) {
        rx_error_set(err, EFBIG, "output file %s is %lld bytes, more than the %zu allowed", rel,
                     size, cap);
        (*err)->kind = RX_ERR_OUTPUT;
        return -1;
    }
    if (truncated) {
        rx_error_set(err, EFBIG, "output file %s is more than the %zu bytes allowed", rel, cap);
        (*err)->kind = RX_ERR_OUTPUT;
        return -1;
    }
    return tar_read_single_file(tar.data, tar.len, base, cap, content, len, err);
}

/* Copy the output file out of the stopped container and parse it into
 * res->output; a missing file leaves it NULL and sets *missing. */
static int
collect_output(struct docker_client *dc, const char *id, const struct job_spec *job,
               const struct executor_opts *opts, struct job_result *res, bool *missing,
               struct rx_error **err)
{
    cleanup_free char *data = NULL;
    size_t len = 0;
    struct rx_error *e = NULL;
    *missing = false;
    if (fetch_file(dc, id, job->output_path, opts->output_cap, &data, &len, &e) < 0) {
        if (e->code == ENOENT && e->http_status == 404) {
            rx_error_free(&e);
            *missing = true;
            return 0;
        }
        *err = e;
        return -1;
    }
    cleanup_free char *what = xasprintf("output file %s", job->output_path);
    struct json_object *o = rx_json_parse(data, len, what, err);
    if (o == NULL) {
        (*err)->kind = RX_ERR_OUTPUT;
        return -1;
    }
    res->output = o;
    return 0;
}

/* For a failed code job: the harness's account of the exception, copied
 * out of .ralph/error.json. */
static char *
harness_error(struct docker_client *dc, const char *id)
{
    cleanup_free char *data = NULL;
    size_t len = 0;
    struct rx_error *e = NULL;
    if (fetch_file(dc, id, JOB_RESERVED_DIR "/error.json", ERROR_FILE_CAP, &data, &len, &e) < 0) {
        rx_error_free(&e);
        return NULL;
    }
    cleanup_json struct json_object *o = rx_json_parse(data, len, "error.json", &e);
    rx_error_free(&e);
    const char *type = rx_json_get_str(o, "type");
    const char *msg = rx_json_get_str(o, "message");
    if (type == NULL || msg == NULL)
        return NULL;
    return xasprintf("calculate raised %.200s: %.4000s", type, msg);
}

/* Wait until the container is not running, at most timeout_ms. */
static int
wait_exit(struct docker_client *dc, const char *id, long long timeout_ms, int *code,
          struct rx_error **err)
{
    return docker_container_wait(dc, id, "not-running", (long)timeout_ms, code, err);
}

/* Whether the container stops running within EXIT_GRACE_MS (false when the
 * engine cannot say).  A copy into a container whose interpreter has just
 * failed can be refused (Podman) a moment before the engine records the
 * exit: the failure is the job's if the exit follows. */
static bool
container_exits(struct docker_client *dc, const char *id)
{
    struct rx_error *e = NULL;
    int code = -1;
    int r = wait_exit(dc, id, EXIT_GRACE_MS, &code, &e);
    rx_error_free(&e);
    return r == 0;
}

void
executor_run(struct docker_client *dc, const struct job_spec *job, const struct executor_opts *opts,
             struct job_result *res)
{
    struct rx_error *err = NULL;
    struct docker_attach *att = NULL;
    struct docker_demux demux;
    docker_demux_init(&demux, opts->stdout_cap, opts->stderr_cap);
    cleanup_free char *id = NULL;
    cleanup_buf struct rx_buf tar;
    rx_buf_init(&tar, 0);
    bool timed_out = false, cancelled = false;
    long long t;

    res->task_id = xstrdup(job->task_id);
    res->image = xstrdup(job->image);
    res->engine_version = xstrdup(dc->engine_version);
    res->api_version = xstrdup(dc->api_version);
    res->engine_kind = dc->podman ? "podman" : "docker";
    struct container_spec_opts so = {
        .owner = opts->owner,
        .queue = opts->queue,
        .deadline_s = rx_wall_s() + (job->timeout_ms + 999) / 1000 + 300,
        .tmp_bytes = opts->tmp_bytes,
        .shm_bytes = opts->shm_bytes,
        .podman = dc->podman,
    };
    cleanup_json struct json_object *profile = NULL;
    if (opts->seccomp_strict) {
        profile = rx_json_parse(seccomp_strict_profile, (size_t)(seccomp_strict_profile_end - seccomp_strict_profile),
                                "seccomp-strict.json", NULL);
        so.seccomp = profile ? rx_json_compact(profile) : NULL;
        if (so.seccomp == NULL) {
            job_result_fail(res, JOB_INFRA_ERROR, "the built-in strict seccomp profile is invalid");
            goto fail;
        }
    }
    res->limits = container_spec_limits(job, &so);
    json_object_object_add(res->limits, "stdout_bytes", json_object_new_int64((int64_t)opts->stdout_cap));
    json_object_object_add(res->limits, "stderr_bytes", json_object_new_int64((int64_t)opts->stderr_cap));
    json_object_object_add(res->limits, "output_bytes", json_object_new_int64((int64_t)opts->output_cap));
    if (container_spec_engine_check(job, &so, &err) < 0)
        goto fail;

    /* A code job's harness waits for its input or its go-ahead on stdin,
     * so the container is started first (container_spec.h).  Without files
     * the input goes through stdin and nothing is copied: on Engine 20.10 a
     * copy re-executes dockerd (60-90 ms).  With files, or when the harness
     * could not write the input under the job's file size limit, it is
     * copied in after the start, while Python starts.  A command runs at
     * once: its input first. */
    bool input_after_start = job->kind == JOB_CODE;
    bool input_on_stdin = input_after_start && job->n_files == 0 &&
                          (long long)job->code_len <= job->file_size_bytes &&
                          (long long)strlen(job->inputs_json) <= job->file_size_bytes;

    /* Build the input before creating anything, so an oversized job costs
     * the engine nothing. */
    if (!input_on_stdin && build_input(job, &tar, &err) < 0)
        goto fail;

    t = rx_now_ms();
    {
        cleanup_json struct json_object *body = container_spec_create_body(job, &so);
        uuid_t u;
        char us[37];
        uuid_generate_random(u);
        uuid_unparse_lower(u, us);
        char name[48];
        snprintf(name, sizeof(name), "ralph-%s", us);
        id = docker_container_create(dc, name, body, &err);
    }
    res->timings.create_ms = rx_now_ms() - t;
    if (id == NULL) {
        enum docker_error_meaning m = docker_error_meaning(err->http_status, err->msg);
        if (m == DOCKER_ERROR_NO_RUNTIME) {
            job_result_fail(res, JOB_INFRA_ERROR,
                            "the engine has no gVisor runtime \"runsc\": install Debian's runsc "
                            "package and register it in /etc/docker/daemon.json as {\"runtimes\": "
                            "{\"runsc\": {\"path\": \"/usr/bin/runsc\", \"runtimeArgs\": "
                            "[\"--network=none\"]}}}, then reload dockerd (kill -HUP)");
            rx_error_free(&err);
        } else if (m == DOCKER_ERROR_API_TOO_OLD) {
            rx_error_prefix(&err, "the engine no longer accepts API %s, the newest ralph-exec "
                                  "speaks (ralph-exec doctor checks the range)",
                            dc->api_version);
        } else if (m == DOCKER_ERROR_CPU_RANGE || m == DOCKER_ERROR_MEMORY_MINIMUM) {
            /* A limit this host cannot give: the job asked for it. */
            err->kind = RX_ERR_REJECTED;
            rx_error_prefix(&err, "`%s`", m == DOCKER_ERROR_CPU_RANGE ? "cpu_limit" : "memory_limit");
        } else if (m == DOCKER_ERROR_NO_IMAGE) {
            res->job_image_missing = job_spec_has(job, "runtime");
            job_result_fail(res, JOB_INFRA_ERROR,
                            "image \"%s\" is not on the engine (ralph-exec never pulls): build "
                            "it with `make images`, or load it with `docker pull`/`docker load`",
                            job->image);
            rx_error_free(&err);
        }
        goto fail;
    }
    res->container_id = xstrdup(id);

    if (!input_after_start) {
        t = rx_now_ms();
        if (docker_archive_put(dc, id, JOB_WORKSPACE, tar.data, tar.len, &err) < 0) {
            input_collides(job, &err);
            goto fail;
        }
        rx_buf_free(&tar);
        res->timings.input_ms = rx_now_ms() - t;
    }

    t = rx_now_ms();
    att = docker_attach_open(dc, id, job->stdin_data != NULL || input_after_start, &err);
    if (att == NULL)
        goto fail;
    res->timings.attach_ms = rx_now_ms() - t;

    if (docker_http_cancelled(dc->http)) {
        cancelled = true;
        goto fail;
    }
    t = rx_now_ms();
    if (docker_container_start(dc, id, &err) < 0)
        goto fail;
    res->timings.start_ms = rx_now_ms() - t;
    /* go_lost: the input or the go-ahead did not all reach the harness.
     * Nothing of the job's has run then: its exit code tells why (no
     * python3 on PATH, too little memory to start).  The job's to the
     * end, as the image and its interpreter are: an exit status from inside
     * the container never makes an infra_error. */
    bool go_lost = false, input_timed_out = false;
    long long send_ms = job->timeout_ms > INPUT_SEND_MS ? job->timeout_ms : INPUT_SEND_MS;
    if (input_after_start) {
        t = rx_now_ms();
        if (!input_on_stdin &&
            docker_archive_put(dc, id, JOB_WORKSPACE, tar.data, tar.len, &err) < 0) {
            /* Podman cannot copy into a container that has exited (it
             * enters the container's mount namespace): an interpreter that
             * could not start is the job's failure, its exit code below. */
            if (input_collides(job, &err) || !container_exits(dc, id)) {
                docker_container_kill(dc, id, NULL);
                goto fail;
            }
            rx_error_free(&err);
            go_lost = true;
        }
        rx_buf_free(&tar);
        /* The input, or the go-ahead after the copy; then stdin closes
         * (StdinOnce).  The harness's output is read meanwhile: an
         * interpreter that exits before taking it all ends the stream. */
        int fr = go_lost ? DOCKER_ATTACH_SENT
                         : feed_harness(att, job, input_on_stdin, &demux, rx_now_ms() + send_ms,
                                        &err);
        if (fr < 0) {
            if (err->kind == RX_ERR_CANCELLED)
                cancelled = true;
            docker_container_kill(dc, id, NULL);
            goto fail;
        }
        /* Started, yet its interpreter has not taken the input (beyond
         * what the stream buffers) in the job's timeout or 30 s, whichever
         * is longer: too little CPU or memory to start (the job's limits). */
        if (fr == DOCKER_ATTACH_DEADLINE) {
            input_timed_out = timed_out = true;
            docker_container_kill(dc, id, NULL);
        }
        if (fr != DOCKER_ATTACH_SENT)
            go_lost = true;
        res->timings.input_ms = rx_now_ms() - t;
    }
    /* The job's time starts when its input is complete. */
    long long run_start = rx_now_ms();
    long long deadline = run_start + (input_timed_out ? KILL_WAIT_MS : job->timeout_ms);

    int pr = docker_attach_pump(att, job->stdin_data, job->stdin_len, &demux, deadline, &err);
    docker_attach_close(att);
    att = NULL;
    if (pr < 0) {
        if (err->kind == RX_ERR_CANCELLED)
            cancelled = true;
        docker_container_kill(dc, id, NULL);
        goto fail;
    }
    if (pr == DOCKER_ATTACH_DEADLINE) {
        timed_out = true;
        docker_container_kill(dc, id, NULL);
    }

    /* The output closes a moment before the engine records the exit; a job
     * that closed its output early is still bound by the deadline. */
    int wait_code = -1;
    long long left = timed_out ? KILL_WAIT_MS : deadline - rx_now_ms();
    if (wait_exit(dc, id, left > 0 ? left : 1, &wait_code, &err) < 0) {
        if (err->kind == RX_ERR_CANCELLED) {
            cancelled = true;
            docker_container_kill(dc, id, NULL);
            goto fail;
        }
        if (err->code != ETIMEDOUT || timed_out)
            goto fail;
        rx_error_free(&err);
        timed_out = true;
        if (docker_container_kill(dc, id, &err) < 0 ||
            wait_exit(dc, id, KILL_WAIT_MS, &wait_code, &err) < 0)
            goto fail;
    }
    res->timings.run_ms = rx_now_ms() - run_start;

    t = rx_now_ms();
    {
        cleanup_json struct json_object *ins = docker_container_inspect(dc, id, &err);
        if (ins == NULL)
            goto fail;
        struct json_object *state = rx_json_get(ins, "State");
        const char *image_id = rx_json_get_str(ins, "Image");
        if (image_id != NULL)
            res->image_id = xstrdup(image_id);
        struct json_object *ec = rx_json_get(state, "ExitCode");
        res->timings.inspect_ms = rx_now_ms() - t;
        if (ec == NULL || !json_object_is_type(ec, json_type_int)) {
            rx_error_set(&err, EPROTO, "inspect: engine reply has no State.ExitCode");
            goto fail;
        }
        int exit_code = json_object_get_int(ec);
        const char *inferred_why = NULL;
        bool oom_killed = docker_container_oom(dc, state, timed_out, &inferred_why);
        /* A SIGKILL we did not send: the engine's "oom" event may still be on
         * its way (see docker_container_oom_event).  Under gVisor the shim
         * can miss the kill altogether: it starts watching the cgroup only
         * once `runsc start` returns, and a job can fill its memory before
         * that (1-3% of OOM jobs at two at a time, seen 2026-11); so there an
         * unexplained SIGKILL is inferred, as on Podman. */
        cleanup_free char *event_error = NULL;
        if (!oom_killed && !timed_out && !dc->podman && exit_code == 128 + SIGKILL) {
            struct rx_error *e = NULL;
            int r = docker_container_oom_event(dc, id, rx_json_get_str(ins, "Created"),
                                               OOM_EVENT_GRACE_MS, &e);
            if (r < 0)
                event_error = xasprintf("; the engine's event log could not tell: %s", e->msg);
            rx_error_free(&e);
            oom_killed = r > 0;
            if (!oom_killed && container_spec_runtime(job->sandbox) != NULL) {
                oom_killed = true;
                inferred_why = "under gVisor the engine misses OOM kills made as the sandbox "
                               "starts";
            }
        }

        t = rx_now_ms();
        bool missing = false;
        if (input_timed_out) {
            job_result_fail(res, JOB_TIMEOUT,
                            "timed out before its code ran: the interpreter did not take its "
                            "input within %.3g s (too little CPU or memory to start Python?) "
                            "and was killed",
                            send_ms / 1000.0);
        } else if (timed_out) {
            job_result_fail(res, JOB_TIMEOUT, "timed out after %.3g s and was killed%s",
                            job->timeout_ms / 1000.0,
                            oom_killed ? " (a process had also run out of memory)" : "");
        } else if (go_lost && exit_code == SANDBOX_HARNESS_NO_INPUT) {
            /* The harness, or whatever the image runs as python3, saw its
             * stdin end early (a cut stream, or an interpreter that never
             * read it): not provably the engine's, so not infra_error. */
            res->exit_code = exit_code;
            res->has_exit_code = true;
            job_result_fail(res, JOB_ERROR,
                            "exited with code %d before it had all its input: its stdin ended "
                            "early (the engine's stream, or an interpreter that did not read "
                            "it); nothing of the job's code ran",
                            exit_code);
        } else if (oom_killed) {
            res->exit_code = exit_code;
            res->has_exit_code = true;
            job_result_fail(res, JOB_OOM,
                            "ran out of memory: the kernel killed a process at the %lld-byte "
                            "limit%s%s%s%s",
                            job->memory_bytes,
                            inferred_why ? " (inferred from exit 137: " : "",
                            inferred_why ? inferred_why : "",
                            inferred_why ? ", and a SIGKILL sent by the job itself looks the same)"
                                         : "",
                            event_error ? event_error : "");
        } else if (exit_code != 0) {
            res->exit_code = exit_code;
            res->has_exit_code = true;
            char *why = job->kind == JOB_CODE ? harness_error(dc, id) : NULL;
            if (why != NULL) {
                job_result_fail(res, JOB_ERROR, "%s", why);
                free(why);
            } else {
                job_result_fail(res, JOB_ERROR, "exited with code %d%s%s%s", exit_code,
                                exit_code == 127   ? " (command not found)"
                                : exit_code == 126 ? " (command not executable)"
                                : exit_code > 128 && exit_code < 160 ? " (killed by a signal)"
                                                                      : "",
                                go_lost ? " before it had all its input" : "",
                                event_error ? event_error : "");
            }
            /* A failed command may still have left a useful output file. */
            if (job->kind == JOB_COMMAND &&
                collect_output(dc, id, job, opts, res, &missing, &err) < 0)
                rx_error_free(&err);
        } else {
            res->exit_code = 0;
            res->has_exit_code = true;
            if (collect_output(dc, id, job, opts, res, &missing, &err) < 0)
                goto fail;
            if (missing && job->kind == JOB_CODE)
                job_result_fail(res, JOB_RESULT_INVALID,
                                "the job exited 0 but wrote no output file %s",
                                job->output_path);
            else
                res->status = JOB_SUCCESS;
        }
        res->timings.output_ms = rx_now_ms() - t;
    }
    goto done;

fail:
    if (cancelled) {
        rx_error_free(&err);
        res->cancelled = true;
        job_result_fail(res, JOB_INFRA_ERROR,
                        "interrupted before the job finished; its container was removed");
    } else if (err != NULL) {
        job_result_from_error(res, err);
    } else if (res->error == NULL) {
        job_result_fail(res, JOB_INFRA_ERROR, "internal error: failure without a message");
    }
done:
    rx_error_free(&err);
    docker_attach_close(att);
    if (id != NULL) {
        res->remove_pending = true;
        if (!opts->defer_remove && executor_remove(dc, res, &err) < 0)
            rx_error_free(&err);
    }
    res->out[0] = demux.out[0];
    res->out[1] = demux.out[1];
    rx_buf_init(&demux.out[0], 0);
    rx_buf_init(&demux.out[1], 0);
    docker_demux_free(&demux);
    res->duration_ms = rx_now_ms() - res->started_ms;
}

int
executor_remove(struct docker_client *dc, struct job_result *res, struct rx_error **err)
{
    if (!res->remove_pending || res->container_id == NULL)
        return 0;
    long long t = rx_now_ms();
    int r = docker_container_remove(dc, res->container_id, err);
    res->timings.remove_ms = rx_now_ms() - t;
    res->remove_pending = false;
    if (r < 0) {
        free(res->removal_error);
        res->removal_error = xstrdup((*err)->msg);
    }
    return r;
}

void
executor_result_from_error(struct job_result *res, const char *task_id, const char *image,
                           const struct rx_error *err)
{
    free(res->task_id);
    res->task_id = task_id ? xstrdup(task_id) : NULL;
    if (image != NULL) {
        free(res->image);
        res->image = xstrdup(image);
    }
    job_result_from_error(res, err);
    res->duration_ms = rx_now_ms() - res->started_ms;
}

int
executor_sweep(struct docker_client *dc, const char *self,
               bool (*is_dead)(const char *owner, const char *queue, void *ud), void *ud,
               int *removed, struct rx_error **err)
{
    *removed = 0;
    cleanup_json struct json_object *list = docker_container_list_labelled(dc, "ralph.owner", err);
    if (list == NULL)
        return -1;
    long long now = rx_wall_s();
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        struct json_object *c = json_object_array_get_idx(list, i);
        const char *id = rx_json_get_str(c, "Id");
        struct json_object *labels = rx_json_get(c, "Labels");
        const char *owner = rx_json_get_str(labels, "ralph.owner");
        const char *queue = rx_json_get_str(labels, "ralph.queue");
        const char *deadline = rx_json_get_str(labels, "ralph.deadline");
        if (id == NULL || owner == NULL)
            continue;
        /* Past its deadline (the job's timeout + 300 s) a container is a
         * leftover whoever made it, self included: one whose removal failed. */
        bool expired = deadline != NULL && strtoll(deadline, NULL, 10) < now;
        if (!expired && self != NULL && strcmp(owner, self) == 0)
            continue;
        if (!expired && (is_dead == NULL || !is_dead(owner, queue, ud)))
            continue;
        if (docker_container_remove(dc, id, NULL) == 0)
            (*removed)++;
    }
    return 0;
}
