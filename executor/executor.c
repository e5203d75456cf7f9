/* SPDX-License-Identifier: MIT */
#include "executor/executor.h"

#include "executor/docker_archive.h"
#include "executor/docker_attach.h"
#include "executor/docker_container.h"
#include "executor/docker_errors.h"
#include "executor/run_classify.h"
#include "executor/rx_json.h"
#include "executor/operator_policy.h"
#include "executor/rx_util.h"
#include "executor/container_spec.h"
#include "executor/tar_stream.h"

#include <signal.h>
#include <time.h>
#include <uuid/uuid.h>

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
    o->stdout_cap = LIMIT_STREAM_BYTES;
    o->stderr_cap = LIMIT_STREAM_BYTES;
    o->output_cap = LIMIT_OUTPUT_BYTES;
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
        e[k++] = (struct tar_entry_in){JOB_RESERVED_DIR "/job.py", job->code, job->code_len, 0644};
        e[k++] = (struct tar_entry_in){JOB_RESERVED_DIR "/inputs.json", job->inputs_json,
                                       strlen(job->inputs_json), 0644};
    }
    for (size_t i = 0; i < job->n_files; i++)
        e[k++] = (struct tar_entry_in){job->files[i].path, job->files[i].content, job->files[i].len,
                                       0644};
    rx_buf_init(tar, LIMIT_INPUT_TAR_BYTES);
    int r = tar_build(e, k, SANDBOX_UID, SANDBOX_GID, tar, err);
    free(e);
    if (r < 0 && tar->overflow) {
        rx_error_free(err);
        return rx_error_reject(err, "the job's files come to more than %u bytes",
                               LIMIT_INPUT_TAR_BYTES);
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
            rx_error_set(err, EINVAL, "output file %s: %s is %s", rel,
                         parent + strlen(JOB_WORKSPACE) + 1,
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
    if (docker_archive_get(dc, id, path, cap + LIMIT_TAR_OVERHEAD_BYTES, &tar, &truncated, &size,
                           &mode, err) < 0) {
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
    if (fetch_file(dc, id, JOB_RESERVED_DIR "/error.json", LIMIT_ERROR_FILE_BYTES, &data, &len,
                   &e) < 0) {
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

/* What the steps of one run share.  Every step returns 0, or -1 with err
 * set (or cancelled): the run then ends in run_fail. */
struct run {
    struct docker_client *dc;
    const struct job_spec *job;
    const struct executor_opts *opts;
    struct job_result *res;
    struct rx_error *err;
    bool cancelled;

    struct container_spec_opts spec;
    struct json_object *seccomp; /* the strict profile, when sent */
    struct rx_buf tar;           /* the input archive, until copied in */
    struct docker_demux demux;   /* the job's stdout and stderr */
    struct docker_attach *att;
    char *id; /* the container, once created */
    bool started;
    bool exited; /* the engine saw it stop: nothing left to kill */

    /* A code job's harness waits for its input or its go-ahead on stdin,
     * so its container is started first (container_spec.h).  Without files
     * the input goes through stdin and nothing is copied: on Engine 20.10 a
     * copy re-executes dockerd (60-90 ms).  With files, or when the harness
     * could not write the input under the job's file size limit, it is
     * copied in after the start, while Python starts.  A command runs at
     * once: its input first. */
    bool input_after_start;
    bool input_on_stdin;
    long long send_ms;   /* how long the interpreter has to take its input */
    long long run_start; /* the job's own time starts: its input is complete */
    long long deadline;  /* ... and runs out */
    struct run_facts facts;
};

/* Give an engine error its meaning (docker_errors.c): the kind and remedy. */
static enum docker_error_meaning
explain(struct run *r, enum docker_call call)
{
    struct docker_error_context ctx = {
        .call = call,
        .podman = r->dc->podman,
        .image = r->job->image,
        .api_version = r->dc->api_version,
        .nofile = SANDBOX_NOFILE,
        .nproc = SANDBOX_PODMAN_NPROC,
    };
    return docker_error_explain(&r->err, &ctx);
}

static bool
cancelled_by(const struct rx_error *err)
{
    return err != NULL && err->kind == RX_ERR_CANCELLED;
}

/* The result's identity, the container's settings and limits, what the
 * engine cannot honour, and the input archive: all before the engine is
 * asked for anything, so a job that cannot run costs it nothing. */
static int
step_prepare(struct run *r)
{
    const struct job_spec *job = r->job;
    struct job_result *res = r->res;
    res->task_id = xstrdup(job->task_id);
    res->image = xstrdup(job->image);
    res->engine_version = xstrdup(r->dc->engine_version);
    res->api_version = xstrdup(r->dc->api_version);
    res->engine_kind = r->dc->podman ? "podman" : "docker";
    r->spec = (struct container_spec_opts){
        .owner = r->opts->owner,
        .queue = r->opts->queue,
        .deadline_s = rx_wall_s() + (job->timeout_ms + 999) / 1000 + 300,
        .tmp_bytes = r->opts->tmp_bytes,
        .shm_bytes = r->opts->shm_bytes,
        .podman = r->dc->podman,
    };
    if (r->opts->seccomp_strict) {
        r->seccomp = rx_json_parse(seccomp_strict_profile,
                                   (size_t)(seccomp_strict_profile_end - seccomp_strict_profile),
                                   "seccomp-strict.json", NULL);
        r->spec.seccomp = r->seccomp ? rx_json_compact(r->seccomp) : NULL;
        if (r->spec.seccomp == NULL)
            return rx_error_set(&r->err, EINVAL, "the built-in strict seccomp profile is invalid");
    }
    res->limits = container_spec_limits(job, &r->spec);
    json_object_object_add(res->limits, "stdout_bytes",
                           json_object_new_int64((int64_t)r->opts->stdout_cap));
    json_object_object_add(res->limits, "stderr_bytes",
                           json_object_new_int64((int64_t)r->opts->stderr_cap));
    json_object_object_add(res->limits, "output_bytes",
                           json_object_new_int64((int64_t)r->opts->output_cap));
    if (container_spec_engine_check(job, &r->spec, &r->err) < 0)
        return -1;

    r->input_after_start = job->kind == JOB_CODE;
    r->input_on_stdin = r->input_after_start && job->n_files == 0 &&
                        (long long)job->code_len <= job->file_size_bytes &&
                        (long long)strlen(job->inputs_json) <= job->file_size_bytes;
    r->send_ms = job->timeout_ms > INPUT_SEND_MS ? job->timeout_ms : INPUT_SEND_MS;
    if (!r->input_on_stdin)
        return build_input(job, &r->tar, &r->err);
    return 0;
}

static int
step_create(struct run *r)
{
    long long t = rx_now_ms();
    cleanup_json struct json_object *body = container_spec_create_body(r->job, &r->spec);
    uuid_t u;
    char us[37], name[48];
    uuid_generate_random(u);
    uuid_unparse_lower(u, us);
    snprintf(name, sizeof(name), "ralph-%s", us);
    r->id = docker_container_create(r->dc, name, body, &r->err);
    r->res->timings.create_ms = rx_now_ms() - t;
    if (r->id == NULL) {
        if (explain(r, DOCKER_CALL_CREATE) == DOCKER_ERROR_NO_IMAGE &&
            job_spec_has(r->job, "runtime"))
            r->res->infra_cause = JOB_INFRA_JOB_IMAGE;
        return -1;
    }
    r->res->container_id = xstrdup(r->id);
    return 0;
}

/* A command's files go in before it starts. */
static int
step_input_before_start(struct run *r)
{
    if (r->input_after_start)
        return 0;
    long long t = rx_now_ms();
    if (docker_archive_put(r->dc, r->id, JOB_WORKSPACE, r->tar.data, r->tar.len, &r->err) < 0) {
        explain(r, DOCKER_CALL_PUT);
        return -1;
    }
    rx_buf_free(&r->tar);
    r->res->timings.input_ms = rx_now_ms() - t;
    return 0;
}

static int
step_attach(struct run *r)
{
    long long t = rx_now_ms();
    bool with_stdin = r->job->stdin_data != NULL || r->input_after_start;
    r->att = docker_attach_open(r->dc, r->id, with_stdin, &r->err);
    if (r->att == NULL) {
        explain(r, DOCKER_CALL_ATTACH);
        return -1;
    }
    r->res->timings.attach_ms = rx_now_ms() - t;
    return 0;
}

static int
step_start(struct run *r)
{
    if (docker_http_cancelled(r->dc->http)) {
        r->cancelled = true;
        return -1;
    }
    long long t = rx_now_ms();
    if (docker_container_start(r->dc, r->id, &r->err) < 0) {
        explain(r, DOCKER_CALL_START);
        return -1;
    }
    r->started = true;
    r->res->timings.start_ms = rx_now_ms() - t;
    return 0;
}

/* A code job's input (copied in, or sent on stdin), then its go-ahead.
 * facts.input_lost: the input or the go-ahead did not all reach the
 * harness.  Nothing of the job's has run then: its exit code tells why
 * (no python3 on PATH, too little memory to start).  The job's to the end,
 * as the image and its interpreter are: an exit status from inside the
 * container never makes an infra_error. */
static int
step_input_after_start(struct run *r)
{
    if (!r->input_after_start)
        return 0;
    long long t = rx_now_ms();
    if (!r->input_on_stdin &&
        docker_archive_put(r->dc, r->id, JOB_WORKSPACE, r->tar.data, r->tar.len, &r->err) < 0) {
        /* Podman cannot copy into a container that has exited (it enters
         * the container's mount namespace): an interpreter that could not
         * start is the job's failure, its exit code later. */
        if (explain(r, DOCKER_CALL_PUT) == DOCKER_ERROR_DIR_COLLISION ||
            !container_exits(r->dc, r->id))
            return -1;
        rx_error_free(&r->err);
        r->facts.input_lost = true;
    }
    rx_buf_free(&r->tar);
    /* The input, or the go-ahead after the copy; then stdin closes
     * (StdinOnce).  The harness's output is read meanwhile: an interpreter
     * that exits before taking it all ends the stream. */
    int fr = r->facts.input_lost ? DOCKER_ATTACH_SENT
                                 : feed_harness(r->att, r->job, r->input_on_stdin, &r->demux,
                                                rx_now_ms() + r->send_ms, &r->err);
    if (fr < 0)
        return -1;
    /* Started, yet its interpreter has not taken the input (beyond what
     * the stream buffers) in the job's timeout or 30 s, whichever is
     * longer: too little CPU or memory to start (the job's limits). */
    if (fr == DOCKER_ATTACH_DEADLINE) {
        r->facts.input_timed_out = r->facts.timed_out = true;
        docker_container_kill(r->dc, r->id, NULL);
    }
    if (fr != DOCKER_ATTACH_SENT)
        r->facts.input_lost = true;
    r->res->timings.input_ms = rx_now_ms() - t;
    return 0;
}

/* The job's stdin in, its output out, until it closes or the deadline; the
 * job's time starts when its input is complete. */
static int
step_stream(struct run *r)
{
    r->run_start = rx_now_ms();
    r->deadline = r->run_start + (r->facts.input_timed_out ? KILL_WAIT_MS : r->job->timeout_ms);
    int pr = docker_attach_pump(r->att, r->job->stdin_data, r->job->stdin_len, &r->demux,
                                r->deadline, &r->err);
    docker_attach_close(steal_pointer(&r->att));
    if (pr < 0)
        return -1;
    if (pr == DOCKER_ATTACH_DEADLINE) {
        r->facts.timed_out = true;
        docker_container_kill(r->dc, r->id, NULL);
    }
    return 0;
}

/* The output closes a moment before the engine records the exit; a job
 * that closed its output early is still bound by the deadline. */
static int
step_wait(struct run *r)
{
    int code = -1;
    long long left = r->facts.timed_out ? KILL_WAIT_MS : r->deadline - rx_now_ms();
    if (wait_exit(r->dc, r->id, left > 0 ? left : 1, &code, &r->err) < 0) {
        if (cancelled_by(r->err) || r->err->code != ETIMEDOUT || r->facts.timed_out)
            return -1;
        rx_error_free(&r->err);
        r->facts.timed_out = true;
        if (docker_container_kill(r->dc, r->id, &r->err) < 0 ||
            wait_exit(r->dc, r->id, KILL_WAIT_MS, &code, &r->err) < 0)
            return -1;
    }
    r->exited = true;
    r->res->timings.run_ms = rx_now_ms() - r->run_start;
    return 0;
}

/* How it ended, as the engine tells it: the exit code and the evidence of
 * an OOM kill.  A SIGKILL we did not send: the engine's "oom" event may
 * still be on its way (see docker_container_oom_event).  Under gVisor the
 * shim can miss the kill altogether: it starts watching the cgroup only once
 * `runsc start` returns, and a job can fill its memory before that (1-3% of
 * OOM jobs at two at a time, seen 2026-11); so there an unexplained SIGKILL
 * is inferred, as on Podman. */
static int
step_inspect(struct run *r)
{
    long long t = rx_now_ms();
    cleanup_json struct json_object *ins = docker_container_inspect(r->dc, r->id, &r->err);
    if (ins == NULL)
        return -1;
    struct json_object *state = rx_json_get(ins, "State");
    const char *image_id = rx_json_get_str(ins, "Image");
    if (image_id != NULL)
        r->res->image_id = xstrdup(image_id);
    struct json_object *ec = rx_json_get(state, "ExitCode");
    r->res->timings.inspect_ms = rx_now_ms() - t;
    if (ec == NULL || !json_object_is_type(ec, json_type_int))
        return rx_error_set(&r->err, EPROTO, "inspect: engine reply has no State.ExitCode");
    struct run_facts *f = &r->facts;
    f->exit_code = json_object_get_int(ec);
    f->oom_killed = docker_container_oom(r->dc, state, f->timed_out, &f->oom_inferred_why);
    if (!run_sigkill_unexplained(f, r->dc->podman))
        return 0;
    struct rx_error *e = NULL;
    int ev = docker_container_oom_event(r->dc, r->id, rx_json_get_str(ins, "Created"),
                                        OOM_EVENT_GRACE_MS, &e);
    if (ev < 0)
        f->event_note = xasprintf("; the engine's event log could not tell: %s", e->msg);
    rx_error_free(&e);
    f->oom_killed = ev > 0;
    if (!f->oom_killed && (f->oom_inferred_why = run_oom_inferred_without_event(r->job->sandbox)))
        f->oom_killed = true;
    return 0;
}

/* The status (run_classify: pure), then what it needs copied out. */
static int
step_classify_collect(struct run *r)
{
    struct job_result *res = r->res;
    struct run_facts *f = &r->facts;
    f->kind = r->job->kind;
    f->timeout_ms = r->job->timeout_ms;
    f->memory_bytes = r->job->memory_bytes;
    f->send_ms = r->send_ms;
    f->output_path = r->job->output_path;
    struct run_verdict v;
    run_classify(f, &v);
    res->has_exit_code = v.has_exit_code;
    res->exit_code = v.has_exit_code ? f->exit_code : -1;
    long long t = rx_now_ms();
    cleanup_free char *why = v.ask_harness ? harness_error(r->dc, r->id) : NULL;
    bool missing = false;
    int rc = 0;
    if (v.collect != RUN_COLLECT_NONE &&
        collect_output(r->dc, r->id, r->job, r->opts, res, &missing, &r->err) < 0) {
        if (v.collect == RUN_COLLECT_REQUIRED)
            rc = -1;
        else
            rx_error_free(&r->err); /* a failed command's output is a bonus */
    }
    if (rc == 0) {
        run_classify_output(f, missing, &v);
        if (v.status == JOB_SUCCESS)
            res->status = JOB_SUCCESS;
        else
            job_result_fail(res, v.status, "%s", why ? why : v.message);
    }
    res->timings.output_ms = rx_now_ms() - t;
    run_verdict_free(&v);
    return rc;
}

/* A run that ended early: its status from the error (cancelled: an
 * infra_error saying so), and a container still running stopped at once. */
static void
run_fail(struct run *r)
{
    if (r->started && !r->exited)
        docker_container_kill(r->dc, r->id, NULL);
    if (r->cancelled || cancelled_by(r->err)) {
        r->res->infra_cause = JOB_INFRA_CANCELLED;
        job_result_fail(r->res, JOB_INFRA_ERROR,
                        "interrupted before the job finished; its container was removed");
    } else if (r->err != NULL) {
        job_result_from_error(r->res, r->err);
    } else {
        job_result_fail(r->res, JOB_INFRA_ERROR, "internal error: failure without a message");
    }
}

/* On every path: the container removed (or left for executor_remove), the
 * streams handed to the result. */
static void
run_finish(struct run *r)
{
    rx_error_free(&r->err);
    docker_attach_close(steal_pointer(&r->att));
    if (r->id != NULL) {
        r->res->remove_pending = true;
        if (!r->opts->defer_remove && executor_remove(r->dc, r->res, &r->err) < 0)
            rx_error_free(&r->err);
    }
    free(r->id);
    for (int i = 0; i < 2; i++) {
        r->res->out[i] = r->demux.out[i];
        rx_buf_init(&r->demux.out[i], 0);
    }
    docker_demux_free(&r->demux);
    rx_buf_free(&r->tar);
    json_object_put(r->seccomp);
    free((char *)r->facts.event_note);
    r->res->duration_ms = rx_now_ms() - r->res->started_ms;
}

void
executor_run(struct docker_client *dc, const struct job_spec *job, const struct executor_opts *opts,
             struct job_result *res)
{
    static int (*const steps[])(struct run *) = {
        step_prepare,          step_create, step_input_before_start,
        step_attach,           step_start,  step_input_after_start,
        step_stream,           step_wait,   step_inspect,
        step_classify_collect,
    };
    struct run r = {.dc = dc, .job = job, .opts = opts, .res = res};
    docker_demux_init(&r.demux, opts->stdout_cap, opts->stderr_cap);
    rx_buf_init(&r.tar, 0);
    for (size_t i = 0; i < RX_ARRAY_SIZE(steps); i++) {
        if (steps[i](&r) < 0) {
            run_fail(&r);
            break;
        }
    }
    run_finish(&r);
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
