/* SPDX-License-Identifier: MIT */
#include "executor/executor.h"

#include "executor/deps_build.h"
#include "executor/docker_archive.h"
#include "executor/docker_attach.h"
#include "executor/docker_container.h"
#include "executor/docker_errors.h"
#include "executor/docker_image.h"
#include "executor/run_classify.h"
#include "executor/rx_json.h"
#include "executor/operator_policy.h"
#include "executor/rx_util.h"
#include "executor/container_spec.h"
#include "executor/tar_stream.h"

#include <time.h>
#include <uuid/uuid.h>

#define KILL_WAIT_MS 30000
/* How long a started code job's interpreter may take to read its input. */
#define INPUT_SEND_MS 30000 /* or the job's timeout, when longer */
/* How long a late "oom" event is waited for: seen 15-50 ms after the exit
 * under gVisor; only an exit 137 we did not cause pays it. */
#define OOM_EVENT_GRACE_MS 1000
/* How long the event log is read for an OOM kill already past (the reply's
 * headers and the logged events come at once; the stream stays open). */
#define OOM_EVENT_PAST_MS 150
/* How long the engine may take to record the end of a process whose stream
 * has closed. */
#define EXIT_GRACE_MS 2000
/* How long a gVisor container is given to stop once an exec ended with 128:
 * what `runsc exec` answers when the sandbox dies under it. */
#define SANDBOX_DEATH_WAIT_MS 1000

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
    o->uid_first = SANDBOX_UID_FIRST;
    o->uid_last = SANDBOX_UID_LAST;
    deps_policy_defaults(&o->deps);
}

/* Build the input tar: the code and the inputs for code jobs, and the job's
 * files, all owned by the job user. */
static int
build_input(const struct job_spec *job, long long uid, struct rx_buf *tar, struct rx_error **err)
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
    int r = tar_build(e, k, (unsigned)uid, (unsigned)uid, tar, err);
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

/* What a path in the container is, by the Go FileMode bits the engine's
 * stat gives ("a directory"), for an error; NULL for a regular file, or
 * when the engine gave no mode (mode < 0).  Not tar_stream.c's type_word:
 * Go's bits do not tell a character device from a block device, and have
 * an "irregular" kind of their own. */
static const char *
go_mode_word(long long mode)
{
    if (mode < 0)
        return NULL;
    if (mode & GO_MODE_DIR)
        return "a directory";
    if (mode & GO_MODE_SYMLINK)
        return "a symbolic link";
    if (mode & GO_MODE_PIPE)
        return "a FIFO";
    if (mode & (GO_MODE_DEVICE | GO_MODE_CHARDEV))
        return "a device";
    if (mode & GO_MODE_SOCKET)
        return "a socket";
    if (mode & GO_MODE_IRREGULAR)
        return "an irregular file";
    return NULL;
}

/* Copy one file out of the container, with every check: it must be a
 * single regular file of at most cap bytes.  ENOENT when it does not exist. */
static int
fetch_file(struct docker_client *dc, const char *id, const char *rel, size_t cap, char **content,
           size_t *len, struct rx_error **err)
{
    /* The engine follows symbolic links in the parent directories (within
     * the container's files, reading as root): a job linking out -> /etc
     * with output_path out/x would hand back /etc/x.  The job's process has
     * ended; one it left behind could still race these checks (within the
     * container's own files only: docs/security.md says so). */
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
    const char *what = go_mode_word(mode);
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
    /* One level less than a result may nest: the result holds it. */
    struct json_object *o = rx_json_parse_depth(data, len, LIMIT_JSON_DEPTH - 1, what, err);
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

/* How often the stream's watch asks whether the job's process has ended
 * (docker_attach_watch), and every how many asks the container too. */
#define EXEC_WATCH_MS 250
#define EXEC_WATCH_CONTAINER_EVERY 4
/* How long the runtime may take to start the job's process. */
#define EXEC_START_MS 60000
/* How many uids of the range a create tries (from a random place in it)
 * before it gives up: each one taken is a job running on the engine. */
#define UID_TRIES 64

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
    struct docker_attach *att;   /* the job's exec stream */
    char *id;                    /* the container, once created */
    char *exec_id;               /* the job's process in it, once created */
    char run_id[37];             /* ralph.run: this run's label */
    bool started;
    bool exited;     /* the container stopped: its workspace is gone */
    int watch_calls; /* how often the stream's watch has asked */
    bool exec_ended; /* the watch saw the job's process end */

    /* A code job's harness waits for its input or its go-ahead on stdin
     * (container_spec.h), so it is exec'd first and its input copied in
     * while Python starts.  Without files the input goes through stdin and
     * nothing is copied: on Engine 20.10 a copy re-executes dockerd (60-90
     * ms).  A command runs at once: its input first. */
    bool input_after_exec;
    bool input_on_stdin;
    long long send_ms;   /* how long the interpreter has to take its input */
    long long run_start; /* the job's own time starts: its input is complete */
    long long deadline;  /* ... and runs out */
    struct run_facts facts;

    struct warm_sandbox *warm; /* offered to this job (executor_run_warm), or NULL */
    bool adopted;              /* the job runs in it: no create, no start */
};

/* Give an engine error its meaning (docker_errors.c): the kind and remedy. */
static enum docker_error_meaning
explain(struct run *r, enum docker_call call)
{
    struct docker_error_context ctx = {
        .call = call,
        .podman = r->dc->podman,
        .image = r->spec.image ? r->spec.image : r->job->image, /* a deps image, when on one */
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

/* The result's limits (again once the uid is known). */
static void
record_limits(struct run *r)
{
    struct job_result *res = r->res;
    json_object_put(res->limits);
    res->limits = container_spec_limits(r->job, &r->spec);
    json_object_object_add(res->limits, "stdout_bytes",
                           json_object_new_int64((int64_t)r->opts->stdout_cap));
    json_object_object_add(res->limits, "stderr_bytes",
                           json_object_new_int64((int64_t)r->opts->stderr_cap));
    json_object_object_add(res->limits, "output_bytes",
                           json_object_new_int64((int64_t)r->opts->output_cap));
}

/* When the container's holder ends by itself (its ralph.deadline label):
 * the job's timeout and 300 s past the moment the container is made. */
static long long
container_deadline(const struct job_spec *job)
{
    return rx_wall_s() + (job->timeout_ms + 999) / 1000 + 300;
}

/* The hardening and labels of a run, before its uid and deadline. */
static struct container_spec_opts
base_spec(const struct executor_opts *opts, bool podman, const char *seccomp)
{
    return (struct container_spec_opts){
        .owner = opts->owner,
        .queue = opts->queue,
        .tmp_bytes = opts->tmp_bytes,
        .shm_bytes = opts->shm_bytes,
        .podman = podman,
        .uid = opts->uid_first,
        .seccomp = seccomp,
    };
}

/* The result's identity, the container's settings and limits, what the
 * engine cannot honour: all before the engine is asked for anything, so a
 * job that cannot run costs it nothing. */
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
    r->spec = base_spec(r->opts, r->dc->podman, NULL);
    r->spec.deadline_s = container_deadline(job);
    r->spec.run_id = r->run_id;
    uuid_t u;
    uuid_generate_random(u);
    uuid_unparse_lower(u, r->run_id);
    if (r->opts->seccomp_strict) {
        r->seccomp = rx_json_parse(seccomp_strict_profile,
                                   (size_t)(seccomp_strict_profile_end - seccomp_strict_profile),
                                   "seccomp-strict.json", NULL);
        r->spec.seccomp = r->seccomp ? rx_json_compact(r->seccomp) : NULL;
        if (r->spec.seccomp == NULL)
            return rx_error_set(&r->err, EINVAL, "the built-in strict seccomp profile is invalid");
    }
    /* The limits as asked, for a job refused here too; the uid comes with
     * the container (step_create). */
    record_limits(r);
    json_object_object_del(res->limits, "user");
    if (container_spec_engine_check(job, &r->spec, &r->err) < 0)
        return -1;
    r->input_after_exec = job->kind == JOB_CODE;
    r->input_on_stdin = r->input_after_exec && job->n_files == 0 &&
                        (long long)job->code_len <= job->file_size_bytes &&
                        (long long)strlen(job->inputs_json) <= job->file_size_bytes;
    r->send_ms = job->timeout_ms > INPUT_SEND_MS ? job->timeout_ms : INPUT_SEND_MS;
    return 0;
}

/* A job with requirements runs on its deps image: found, or built now
 * (deps_build.h).  The build's time is its own (requirements_timeout): the
 * job's timeout starts with the job. */
static int
step_deps(struct run *r)
{
    if (r->job->n_requirements == 0 || r->adopted)
        return 0;
    long long t = rx_now_ms();
    bool built = false;
    const struct deps_request req = {
        .runtime = r->job->image,
        .reqs = r->job->requirements,
        .n = r->job->n_requirements,
        .owner = r->opts->owner,
        .queue = r->opts->queue,
    };
    enum deps_cause cause;
    int rc =
        deps_prepare(r->dc, &req, &r->opts->deps, &r->res->deps_image, &built, &cause, &r->err);
    r->res->timings.deps_ms += rx_now_ms() - t; /* twice when step_create lost the image */
    if (rc < 0) {
        bool infra = r->err != NULL && r->err->kind == RX_ERR_INFRA;
        if (infra && cause == DEPS_CAUSE_IMAGE && job_spec_has(r->job, "runtime"))
            r->res->infra_cause = JOB_INFRA_JOB_IMAGE;
        else if (infra && cause == DEPS_CAUSE_BUILD)
            r->res->infra_cause = JOB_INFRA_DEPS;
        return -1;
    }
    r->spec.image = r->res->deps_image;
    /* The container's own deadline counts from now, not from before the build. */
    r->spec.deadline_s = container_deadline(r->job);
    if (built) {
        int removed = 0;
        struct rx_error *e = NULL;
        deps_prune(r->dc, r->opts->deps.max_images, r->res->deps_image, &removed, &e);
        rx_error_free(&e); /* the job runs either way; the next build prunes again */
    }
    return 0;
}

/* What makes a warm sandbox unfit for the job that takes it, read from its
 * inspect: NULL when it runs, is the one made (its run label) and has the
 * job's limits. */
static const char *
warm_unfit(struct run *r, struct json_object *ins, struct json_object *want, struct rx_error **err)
{
    struct json_object *running = rx_json_get(rx_json_get(ins, "State"), "Running");
    if (running == NULL || !json_object_get_boolean(running))
        return "its holder is gone (the container is not running)";
    const char *run =
        rx_json_get_str(rx_json_get(rx_json_get(ins, "Config"), "Labels"), "ralph.run");
    if (run == NULL || strcmp(run, r->run_id) != 0)
        return "its ralph.run label is not the one it was made with";
    /* The image its name names now: a tag moved since (a re-pull) would
     * have the job run on the old one. */
    cleanup_json struct json_object *img = docker_image_inspect(r->dc, r->job->image, err);
    if (img == NULL)
        return "the engine could not inspect the job's image";
    const char *now = rx_json_get_str(img, "Id"), *had = rx_json_get_str(ins, "Image");
    if (now == NULL || had == NULL || strcmp(now, had) != 0)
        return "its image is no longer the one the job's image name names";
    struct json_object *hc = rx_json_get(ins, "HostConfig");
    json_object_object_foreach(want, k, v)
    {
        struct json_object *got = rx_json_get(hc, k);
        if (got == NULL || json_object_get_int64(got) != json_object_get_int64(v))
            return "its limits are not the job's after the update";
    }
    return NULL;
}

/* Whether a warm sandbox's harness (its exec) runs, waiting for its input:
 * 0 it does, 1 it ended (*code: how, or -1), -1 the engine could not tell. */
static int
harness_waits(struct docker_client *dc, const char *exec_id, int *code, struct rx_error **err)
{
    bool running = false;
    long long pid = 0;
    if (docker_exec_inspect(dc, exec_id, &running, code, &pid, err) < 0)
        return -1;
    return running && pid > 0 ? 0 : 1;
}

/* A warm sandbox offered to the job (executor_run_warm): made for jobs like
 * it, given the job's limits where the runtime can take an update, then
 * checked by inspect (running, the one made, the job's limits).  Anything
 * wrong: it is removed, never used, and the job runs cold (the steps that
 * follow); only a cancellation ends the run. */
static int
step_adopt(struct run *r)
{
    struct warm_sandbox *ws = r->warm;
    if (ws == NULL)
        return 0;
    long long t = rx_now_ms();
    const char *why = NULL;
    if (!executor_warm_fits(ws, r->job, r->opts, r->dc->podman))
        why = "it was not made for this job";
    char *id = steal_pointer(&ws->id);
    memcpy(r->run_id, ws->run_id, sizeof(r->run_id));
    cleanup_json struct json_object *want = container_spec_update_body(r->job);
    struct rx_error *e = NULL;
    if (why == NULL && container_spec_updatable(r->job, &r->spec) &&
        docker_container_update(r->dc, id, want, &e) < 0)
        why = "the engine refused the job's limits";
    cleanup_json struct json_object *ins = why == NULL ? docker_container_inspect(r->dc, id, &e)
                                                       : NULL;
    if (why == NULL && ins == NULL)
        why = "the engine could not inspect it";
    if (why == NULL)
        why = warm_unfit(r, ins, want, &e);
    int code = -1;
    int hw = why == NULL && ws->exec_id != NULL ? harness_waits(r->dc, ws->exec_id, &code, &e) : 0;
    if (hw < 0)
        why = "the engine could not inspect its harness";
    else if (hw > 0)
        why = "its harness is gone (its exec is not running)";
    if (why != NULL) {
        bool cancelled = cancelled_by(e);
        struct rx_error *re = NULL;
        docker_container_remove(r->dc, id, &re);
        r->res->warm_refused = xasprintf("%s%s%s%s%s", why, e ? ": " : "", e ? e->msg : "",
                                         re ? "; and it could not be removed: " : "",
                                         re ? re->msg : "");
        rx_error_free(&e);
        rx_error_free(&re);
        free(id);
        docker_attach_close(steal_pointer(&ws->att)); /* its harness went with it */
        uuid_t u;
        uuid_generate_random(u);
        uuid_unparse_lower(u, r->run_id);
        if (cancelled) {
            r->cancelled = true;
            return -1;
        }
        return 0;
    }
    r->id = id;
    r->spec.uid = ws->uid;
    r->spec.deadline_s = ws->deadline_s;
    r->started = r->adopted = true;
    if (ws->att != NULL) {
        r->exec_id = steal_pointer(&ws->exec_id);
        r->att = steal_pointer(&ws->att);
        docker_attach_adopt(r->att, r->dc);
    }
    r->res->container_id = xstrdup(id);
    r->res->timings.warm_ms = rx_now_ms() - t;
    record_limits(r);
    return 0;
}

/* The container, with a uid of its own: the container's name holds it
 * (ralph-uid-N), so that no two containers on the engine, whoever made
 * them, run as one uid, and the uid is free again once its container is
 * removed.  A taken name: the next uid of the range.  A deps image gone
 * between step_deps and the create (another's build pruned it): step_deps
 * again and one more create (deps_retry_create). */
static int
create(struct run *r, int deps_retries)
{
    long long t = rx_now_ms();
    long long n = r->opts->uid_last - r->opts->uid_first + 1;
    uuid_t u;
    uuid_generate_random(u);
    long long at = (long long)(((unsigned)u[0] << 16 | (unsigned)u[1] << 8 | u[2]) % (unsigned)n);
    for (int i = 0; i < UID_TRIES && i < n; i++) {
        r->spec.uid = r->opts->uid_first + (at + i) % n;
        cleanup_json struct json_object *body = container_spec_create_body(r->job, &r->spec);
        char name[48];
        snprintf(name, sizeof(name), "ralph-uid-%lld", r->spec.uid);
        rx_error_free(&r->err);
        r->id = docker_container_create(r->dc, name, body, &r->err);
        if (r->id != NULL || explain(r, DOCKER_CALL_CREATE) != DOCKER_ERROR_NAME_IN_USE)
            break;
    }
    r->res->timings.create_ms = rx_now_ms() - t;
    record_limits(r);
    if (r->id == NULL) {
        if (r->err == NULL || cancelled_by(r->err))
            return -1;
        enum docker_error_meaning m = docker_error_meaning(r->err->http_status, r->err->msg);
        if (m == DOCKER_ERROR_NAME_IN_USE) {
            rx_error_free(&r->err);
            return rx_error_set(&r->err, EBUSY,
                                "no free uid: the %lld tried of uid_range [%lld, %lld] were all "
                                "taken by containers on the engine (ralph-uid-N)",
                                n < UID_TRIES ? n : (long long)UID_TRIES, r->opts->uid_first,
                                r->opts->uid_last);
        }
        bool on_deps = r->res->deps_image != NULL;
        if (deps_retry_create(m == DOCKER_ERROR_NO_IMAGE, on_deps, deps_retries)) {
            /* Pruned by another's build after step_deps found it: again. */
            rx_error_free(&r->err);
            r->spec.image = r->job->image;
            free(steal_pointer(&r->res->deps_image));
            if (step_deps(r) < 0)
                return -1;
            return create(r, deps_retries + 1);
        }
        if (m == DOCKER_ERROR_NO_IMAGE && on_deps)
            r->res->infra_cause = JOB_INFRA_DEPS;
        else if (m == DOCKER_ERROR_NO_IMAGE && job_spec_has(r->job, "runtime"))
            r->res->infra_cause = JOB_INFRA_JOB_IMAGE;
        return -1;
    }
    r->res->container_id = xstrdup(r->id);
    return 0;
}

static int
step_create(struct run *r)
{
    if (r->adopted)
        return 0;
    return create(r, 0);
}

/* The holder starts: the container is up, its workspace mounted. */
static int
step_start(struct run *r)
{
    if (r->adopted)
        return 0;
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

/* Copy the input archive into the running container's workspace. */
static int
copy_input(struct run *r)
{
    if (build_input(r->job, r->spec.uid, &r->tar, &r->err) < 0)
        return -1;
    if (docker_archive_put(r->dc, r->id, JOB_WORKSPACE, r->tar.data, r->tar.len, &r->err) < 0) {
        explain(r, DOCKER_CALL_PUT);
        return -1;
    }
    rx_buf_free(&r->tar);
    return 0;
}

/* Give the workspace to the job's uid: a copy of the tar's "./" alone.  On
 * Podman the workspace is a plain tmpfs, root's (its compat API takes
 * neither uid= nor mode= for it); a copy applies the tar's owner and mode
 * to the directory it lands in (2 ms). */
static int
own_workspace(struct run *r)
{
    struct rx_buf tar;
    rx_buf_init(&tar, LIMIT_INPUT_TAR_BYTES);
    int rc = tar_build(NULL, 0, (uid_t)r->spec.uid, (gid_t)r->spec.uid, &tar, &r->err);
    if (rc == 0 &&
        (rc = docker_archive_put(r->dc, r->id, JOB_WORKSPACE, tar.data, tar.len, &r->err)) < 0)
        explain(r, DOCKER_CALL_PUT);
    rx_buf_free(&tar);
    return rc;
}

/* A command's files go in before it runs (on Podman, always a copy: it
 * makes the workspace the job's, as on Docker; so for a code job whose
 * input comes on stdin). */
static int
step_input_before_exec(struct run *r)
{
    if (r->input_after_exec)
        return r->dc->podman && r->input_on_stdin ? own_workspace(r) : 0;
    if (r->job->n_files == 0 && !r->dc->podman)
        return 0;
    long long t = rx_now_ms();
    if (copy_input(r) < 0)
        return -1;
    r->res->timings.input_ms = rx_now_ms() - t;
    return 0;
}

/* The stream's watch: 1 once the job's process has ended (or the whole
 * container, under gVisor's OOM kill), though its stream stays open. */
static int
watch_exec(void *ud)
{
    struct run *r = ud;
    bool running = true;
    int code = -1;
    struct rx_error *e = NULL;
    int ir = docker_exec_inspect(r->dc, r->exec_id, &running, &code, NULL, &e);
    bool gone = e != NULL && e->http_status == 404; /* its container died: gone with it */
    rx_error_free(&e);
    if ((ir == 0 && !running) || gone) {
        r->exec_ended = true;
        return 1;
    }
    if (++r->watch_calls % EXEC_WATCH_CONTAINER_EVERY != 0)
        return 0;
    cleanup_json struct json_object *ins = docker_container_inspect(r->dc, r->id, &e);
    rx_error_free(&e);
    struct json_object *running_j = rx_json_get(rx_json_get(ins, "State"), "Running");
    return running_j != NULL && !json_object_get_boolean(running_j) ? 1 : 0;
}

/* The engine answers an exec's start before the runtime has started its
 * process (runsc exec can take a second): the job's time starts once it
 * runs, as a container's did when its start returned.  Its output waits in
 * the socket meanwhile. */
static int
exec_started(struct run *r)
{
    long long until = rx_now_ms() + EXEC_START_MS;
    for (int i = 0;; i++) {
        bool running = false;
        int code = -1;
        long long pid = 0;
        if (docker_exec_inspect(r->dc, r->exec_id, &running, &code, &pid, &r->err) < 0) {
            if (r->err->http_status != 404)
                return -1;
            rx_error_free(&r->err); /* gone with its container: step_exec_wait */
            return 0;
        }
        if (pid > 0 || code >= 0)
            return 0; /* started (or already ended) */
        if (rx_now_ms() >= until)
            return rx_error_set(&r->err, ETIMEDOUT,
                                "the engine did not start the job's process within %d s",
                                EXEC_START_MS / 1000);
        struct timespec ts = {0, (i < 10 ? 2 : 10) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* The job's process: exec'd in the running container as the job's uid,
 * its stream held from its start, so no output is missed. */
static int
exec_job(struct run *r)
{
    cleanup_json struct json_object *body = container_spec_exec_body(r->job, &r->spec);
    r->exec_id = docker_exec_create(r->dc, r->id, body, &r->err);
    if (r->exec_id == NULL) {
        if (explain(r, DOCKER_CALL_ATTACH) == DOCKER_ERROR_NOT_RUNNING) {
            rx_error_free(&r->err);
            r->exited = true;
            r->res->infra_cause = JOB_INFRA_JOB_IMAGE; /* the job's choice, not the engine */
            return rx_error_set(&r->err, ENOEXEC,
                                "image \"%s\" cannot hold a job: its container stopped at "
                                "once (ralph-exec runs `sleep` as the container's main process "
                                "while the job runs beside it; the image needs one on its PATH)",
                                r->job->image);
        }
        return -1;
    }
    r->att = docker_attach_exec(r->dc, r->exec_id, &r->err);
    if (r->att == NULL) {
        explain(r, DOCKER_CALL_ATTACH);
        return -1;
    }
    return exec_started(r);
}

/* The job's process, and the watch on it.  A warm sandbox made for a code
 * job came with its harness exec'd already (step_adopt). */
static int
step_exec(struct run *r)
{
    long long t = rx_now_ms();
    if (r->att == NULL && exec_job(r) < 0)
        return -1;
    docker_attach_watch(r->att, EXEC_WATCH_MS, watch_exec, r);
    r->res->timings.attach_ms = rx_now_ms() - t;
    return 0;
}

/* A code job's input (copied in, or sent on stdin), then its go-ahead.
 * facts.input_lost: the input or the go-ahead did not all reach the
 * harness.  Nothing of the job's has run then: its exit code tells why
 * (no python3 on PATH, too little memory to start).  The job's to the end,
 * as the image and its interpreter are: an exit status from inside the
 * container never makes an infra_error. */
static int
step_input_after_exec(struct run *r)
{
    if (!r->input_after_exec)
        return 0;
    long long t = rx_now_ms();
    if (!r->input_on_stdin && copy_input(r) < 0)
        return -1;
    /* The input, or the go-ahead after the copy; then stdin closes.  The
     * harness's output is read meanwhile: an interpreter that exits
     * before taking it all ends the stream. */
    int fr = feed_harness(r->att, r->job, r->input_on_stdin, &r->demux, rx_now_ms() + r->send_ms,
                          &r->err);
    if (fr < 0)
        return -1;
    /* Its interpreter has not taken the input (beyond what the stream
     * buffers) in the job's timeout or 30 s, whichever is longer: too
     * little CPU or memory to start (the job's limits). */
    if (fr == DOCKER_ATTACH_DEADLINE) {
        r->facts.input_timed_out = r->facts.timed_out = true;
        docker_container_kill(r->dc, r->id, NULL);
    }
    if (fr != DOCKER_ATTACH_SENT)
        r->facts.input_lost = true;
    r->res->timings.input_ms = rx_now_ms() - t;
    return 0;
}

/* The job's stdin in, its output out, until its process ends or the
 * deadline; the job's time starts when its input is complete.  At the
 * deadline the whole container is killed: nothing of the job's runs on. */
static int
step_stream(struct run *r)
{
    r->run_start = rx_now_ms();
    r->deadline = r->run_start + (r->facts.input_timed_out ? KILL_WAIT_MS : r->job->timeout_ms);
    int pr = DOCKER_ATTACH_EOF;
    if (!r->exec_ended)
        pr = docker_attach_pump(r->att, r->job->stdin_data, r->job->stdin_len, &r->demux,
                                r->deadline, &r->err);
    docker_attach_close(steal_pointer(&r->att));
    if (pr < 0)
        return -1;
    if (pr == DOCKER_ATTACH_DEADLINE && !r->facts.timed_out) {
        r->facts.timed_out = true;
        docker_container_kill(r->dc, r->id, NULL);
    }
    return 0;
}

static bool
is_gvisor(const char *sandbox)
{
    return sandbox != NULL && strcmp(sandbox, "gvisor") == 0;
}

/* `runsc exec` ends with 128, no signal, no status of the job's, when the
 * sandbox dies under it (the OOM killer took the whole sandbox: Docker 26
 * records the exec's end before the container's).  A container that stops
 * within a second had the job's end: its exit code is the job's.  A job that
 * exited 128 itself leaves the container running and costs that second. */
static void
take_sandbox_exit(struct run *r)
{
    int st = -1;
    struct rx_error *e = NULL;
    if (docker_container_wait(r->dc, r->id, "not-running", SANDBOX_DEATH_WAIT_MS, &st, &e) == 0) {
        r->exited = true;
        r->facts.exit_code = st;
    }
    rx_error_free(&e);
}

/* The job's exit code: its process has ended (the stream closes a moment
 * before the engine records it), or the container has stopped under it
 * (killed at the deadline, or the sandbox itself died): then the
 * container's. */
static int
step_exec_wait(struct run *r)
{
    long long grace_end = rx_now_ms() + EXIT_GRACE_MS;
    long long until = r->facts.timed_out ? rx_now_ms() + KILL_WAIT_MS : grace_end;
    for (;;) {
        bool running = true;
        int code = -1;
        if (docker_exec_inspect(r->dc, r->exec_id, &running, &code, NULL, &r->err) < 0) {
            /* The engine forgets the execs of a container that stopped (a
             * sandbox that died under gVisor): the container's exit tells. */
            if (r->err->http_status != 404)
                return -1;
            rx_error_free(&r->err);
        } else if (!running && code >= 0) {
            r->facts.exit_code = code;
            if (run_exec_exit_unsure(code, r->facts.timed_out, is_gvisor(r->job->sandbox)))
                take_sandbox_exit(r);
            break;
        }
        /* Soon after the stream's end, ask often; past that (a job whose
         * process closed its output and runs on), twice a second. */
        int st = -1;
        struct rx_error *e = NULL;
        long wait_ms = rx_now_ms() < grace_end ? 50 : 500;
        if (docker_container_wait(r->dc, r->id, "not-running", wait_ms, &st, &e) == 0) {
            r->exited = true;
            r->facts.exit_code = st;
            break;
        }
        bool cancelled = cancelled_by(e);
        rx_error_free(&e);
        if (cancelled) {
            r->cancelled = true;
            return -1;
        }
        if (rx_now_ms() >= until) {
            if (r->facts.timed_out)
                return rx_error_set(&r->err, ETIMEDOUT,
                                    "the job's container did not stop within %d s of its kill",
                                    KILL_WAIT_MS / 1000);
            /* Its stream ended, its process runs on: past its deadline
             * that is a timeout like any other. */
            until = r->deadline;
            if (rx_now_ms() >= until) {
                r->facts.timed_out = true;
                docker_container_kill(r->dc, r->id, NULL);
                until = rx_now_ms() + KILL_WAIT_MS;
            }
        }
    }
    r->res->timings.run_ms = rx_now_ms() - r->run_start;
    return 0;
}

/* How it ended, as the engine tells it: the evidence of an OOM kill, judged
 * by run_oom_judge (pure; its rules and why they exist are there), which
 * may ask for the engine's event log when the rest cannot tell. */
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
    struct run_facts *f = &r->facts;
    struct run_evidence ev = {
        .podman = r->dc->podman,
        .gvisor = is_gvisor(r->job->sandbox),
        .timed_out = f->timed_out,
        .exit_code = f->exit_code,
    };
    struct json_object *running = rx_json_get(state, "Running");
    struct json_object *cec = rx_json_get(state, "ExitCode");
    if (running != NULL && !json_object_get_boolean(running)) {
        r->exited = ev.container_stopped = true;
        if (cec != NULL && json_object_is_type(cec, json_type_int))
            ev.container_exit = json_object_get_int(cec);
    }
    struct json_object *oom = rx_json_get(state, "OOMKilled");
    ev.state_oom_killed = oom != NULL && json_object_get_boolean(oom);
    r->res->timings.inspect_ms = rx_now_ms() - t;
    struct run_oom_verdict v;
    run_oom_judge(&ev, &v);
    if (v.ask != RUN_OOM_ASK_NOTHING) {
        struct rx_error *e = NULL;
        int got = docker_container_oom_event(r->dc, r->id, rx_json_get_str(ins, "Created"),
                                             v.ask == RUN_OOM_ASK_LOGGED ? OOM_EVENT_PAST_MS
                                                                         : OOM_EVENT_GRACE_MS,
                                             &e);
        if (got < 0)
            f->event_note = xasprintf("; the engine's event log could not tell: %s", e->msg);
        rx_error_free(&e);
        ev.event = got < 0   ? RUN_OOM_EVENT_UNKNOWN
                   : got > 0 ? RUN_OOM_EVENT_SEEN
                             : RUN_OOM_EVENT_NONE;
        run_oom_judge(&ev, &v);
    }
    f->exit_code = v.exit_code;
    f->oom_killed = v.oom_killed;
    f->oom_inferred_why = v.inferred_why;
    return 0;
}

/* The status (run_classify: pure), then what it needs copied out, while
 * the container still runs: its workspace is a tmpfs that goes with it.
 * A container that stopped under the job (the job killed its holder, or
 * the sandbox died) has nothing left to copy: no output file. */
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
    cleanup_free char *why = v.ask_harness && !r->exited ? harness_error(r->dc, r->id) : NULL;
    bool missing = r->exited;
    int rc = 0;
    if (v.collect != RUN_COLLECT_NONE && !r->exited &&
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
 * infra_error saying so). */
static void
run_fail(struct run *r)
{
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

/* On every path: the container stopped (nothing of the job's runs on while
 * a worker hands the result on) and removed, or left for executor_remove;
 * the streams handed to the result. */
static void
run_finish(struct run *r)
{
    rx_error_free(&r->err);
    /* A warm sandbox offered and never taken (the run ended before
     * step_adopt): it is nobody's now. */
    if (r->warm != NULL && r->warm->id != NULL) {
        docker_container_remove(r->dc, r->warm->id, NULL);
        free(steal_pointer(&r->warm->id));
        docker_attach_close(steal_pointer(&r->warm->att));
    }
    docker_attach_close(steal_pointer(&r->att));
    if (r->id != NULL) {
        if (r->started && !r->exited && r->opts->defer_remove)
            docker_container_kill(r->dc, r->id, NULL);
        r->res->remove_pending = true;
        if (!r->opts->defer_remove && executor_remove(r->dc, r->res, &r->err) < 0)
            rx_error_free(&r->err);
    }
    free(r->id);
    free(r->exec_id);
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

/* The last step of `ralph-exec prepare`: its deps image is there. */
static int
step_prepared(struct run *r)
{
    r->res->status = JOB_SUCCESS;
    return 0;
}

/* Steps in order over one struct run, each returning on error; whatever
 * happened, run_finish. */
static void
run_steps(struct docker_client *dc, const struct job_spec *job, const struct executor_opts *opts,
          struct warm_sandbox *ws, struct job_result *res, int (*const *steps)(struct run *),
          size_t n)
{
    struct run r = {.dc = dc, .job = job, .opts = opts, .res = res, .warm = ws};
    docker_demux_init(&r.demux, opts->stdout_cap, opts->stderr_cap);
    rx_buf_init(&r.tar, 0);
    for (size_t i = 0; i < n; i++) {
        if (steps[i](&r) < 0) {
            run_fail(&r);
            break;
        }
    }
    run_finish(&r);
}

void
executor_run(struct docker_client *dc, const struct job_spec *job, const struct executor_opts *opts,
             struct job_result *res)
{
    static int (*const steps[])(struct run *) = {
        step_prepare,           step_deps,    step_create,           step_start,
        step_input_before_exec, step_exec,    step_input_after_exec, step_stream,
        step_exec_wait,         step_inspect, step_classify_collect,
    };
    run_steps(dc, job, opts, NULL, res, steps, RX_ARRAY_SIZE(steps));
}

void
executor_run_warm(struct docker_client *dc, const struct job_spec *job,
                  const struct executor_opts *opts, struct warm_sandbox *ws, struct job_result *res)
{
    static int (*const steps[])(struct run *) = {
        step_prepare, step_adopt,
        step_deps,    step_create,
        step_start,   step_input_before_exec,
        step_exec,    step_input_after_exec,
        step_stream,  step_exec_wait,
        step_inspect, step_classify_collect,
    };
    run_steps(dc, job, opts, ws, res, steps, RX_ARRAY_SIZE(steps));
}

/* The options a warm sandbox's key is made with (container_spec_warm_key),
 * for the sandbox and for a job alike: the strict profile's text is the
 * same for both, so a marker stands for it. */
static struct container_spec_opts
warm_spec(const struct executor_opts *opts, bool podman, long long uid)
{
    struct container_spec_opts o = base_spec(opts, podman, opts->seccomp_strict ? "strict" : NULL);
    o.uid = uid;
    return o;
}

bool
executor_warm_fits(const struct warm_sandbox *ws, const struct job_spec *job,
                   const struct executor_opts *opts, bool podman)
{
    if (ws->key == NULL)
        return false;
    if (job->n_requirements > 0 || job->timeout_ms > WARM_JOB_TIMEOUT_S * 1000LL)
        return false;
    if (container_deadline(job) > ws->deadline_s)
        return false;
    struct container_spec_opts o = warm_spec(opts, podman, ws->uid);
    cleanup_free char *key = container_spec_warm_key(job, &o);
    if (strcmp(key, ws->key) != 0)
        return false;
    if (ws->exec_key == NULL)
        return true;
    /* Its harness runs already: the job's exec would have been the same,
     * its preload included (only for a job that may have it). */
    if (job->kind != JOB_CODE)
        return false;
    o.preload = executor_warm_preloadable(job) ? ws->preload : NULL;
    cleanup_json struct json_object *eb = container_spec_exec_body(job, &o);
    return strcmp(rx_json_compact(eb), ws->exec_key) == 0;
}

bool
executor_warm_preloadable(const struct job_spec *job)
{
    if (job->kind != JOB_CODE || job->n_files > 0)
        return false;
    for (size_t i = 0; i < job->n_env; i++)
        if (strncmp(job->env[i], "PYTHONPATH=", strlen("PYTHONPATH=")) == 0)
            return false;
    return true;
}

/* How long a warm sandbox's harness may take to import its preload. */
#define WARM_PRELOAD_MS 60000

/* A harness with a preload: its ready line read (the job's stream starts
 * after it), or the error, with what it said on stderr. */
static int
harness_ready(struct run *r)
{
    const char *ready = SANDBOX_HARNESS_READY;
    struct docker_demux d;
    docker_demux_init(&d, strlen(ready), LIMIT_PRELOAD_STDERR_BYTES);
    int rc = docker_attach_read(r->att, strlen(ready), &d, rx_now_ms() + WARM_PRELOAD_MS, &r->err);
    const char *out = d.out[DOCKER_STREAM_STDOUT].data, *say = d.out[DOCKER_STREAM_STDERR].data;
    if (rc == DOCKER_ATTACH_OUTPUT && out != NULL && strcmp(out, ready) == 0)
        rc = 0;
    else if (rc >= 0)
        rc = rx_error_set(&r->err, ENOEXEC, "the harness %s its preload of %s (image \"%s\")%s%.*s",
                          rc == DOCKER_ATTACH_DEADLINE ? "had not finished in time"
                          : rc == DOCKER_ATTACH_EOF    ? "ended during"
                                                       : "wrote unexpected output during",
                          r->spec.preload, r->job->image, say ? ": " : "",
                          say ? (int)strcspn(say, "\n") : 0, say ? say : "");
    docker_demux_free(&d);
    return rc;
}

/* A new warm sandbox's harness waits for its input: not one that ended at
 * once (no python3 in the image, a harness that failed), which every job
 * would find gone; with a preload, not before its modules are imported. */
static int
harness_started(struct run *r)
{
    if (r->spec.preload != NULL && harness_ready(r) < 0)
        return -1;
    int code = -1;
    int hw = harness_waits(r->dc, r->exec_id, &code, &r->err);
    if (hw > 0)
        return rx_error_set(&r->err, ENOEXEC,
                            "the harness ended as soon as it started (exit code %d): image \"%s\" "
                            "cannot run a warm code job",
                            code, r->job->image);
    return hw;
}

int
executor_warm_make(struct docker_client *dc, const struct job_spec *tmpl,
                   const struct executor_opts *opts, long long ttl_ms, struct warm_sandbox *ws,
                   struct rx_error **err)
{
    *ws = (struct warm_sandbox){0};
    if (dc->podman)
        return rx_error_set(err, ENOTSUP,
                            "warm sandboxes are not made on Podman (its compat API's update "
                            "is not tested here): jobs run cold");
    cleanup_job_result struct job_result res;
    job_result_init(&res);
    struct executor_opts o = *opts;
    o.defer_remove = false;
    struct run r = {.dc = dc, .job = tmpl, .opts = &o, .res = &res};
    docker_demux_init(&r.demux, 0, 0);
    rx_buf_init(&r.tar, 0);
    int rc = -1;
    if (step_prepare(&r) == 0) {
        r.spec.unassigned = true;
        r.spec.preload = tmpl->kind == JOB_CODE ? opts->warm_preload : NULL;
        r.spec.deadline_s = rx_wall_s() + (ttl_ms + 999) / 1000 + WARM_JOB_TIMEOUT_S + 300;
        if (step_create(&r) == 0 && step_start(&r) == 0 &&
            (tmpl->kind != JOB_CODE || (exec_job(&r) == 0 && harness_started(&r) == 0))) {
            ws->id = steal_pointer(&r.id);
            ws->uid = r.spec.uid;
            memcpy(ws->run_id, r.run_id, sizeof(ws->run_id));
            ws->deadline_s = r.spec.deadline_s;
            ws->made_ms = rx_now_ms();
            struct container_spec_opts k = warm_spec(opts, false, ws->uid);
            ws->key = container_spec_warm_key(tmpl, &k);
            k.preload = r.spec.preload;
            if (r.att != NULL) {
                ws->preload = k.preload ? xstrdup(k.preload) : NULL;
                cleanup_json struct json_object *eb = container_spec_exec_body(tmpl, &k);
                ws->exec_key = xstrdup(rx_json_compact(eb));
                ws->exec_id = steal_pointer(&r.exec_id);
                ws->att = steal_pointer(&r.att);
            }
            rc = 0;
        }
    }
    if (rc < 0 && r.err == NULL)
        rx_error_set(&r.err, EINTR, "interrupted while making a warm sandbox");
    if (rc < 0)
        *err = steal_pointer(&r.err);
    run_finish(&r);
    return rc;
}

void
executor_warm_free(struct warm_sandbox *ws)
{
    docker_attach_close(ws->att);
    free(ws->exec_id);
    free(ws->exec_key);
    free(ws->preload);
    free(ws->id);
    free(ws->key);
    *ws = (struct warm_sandbox){0};
}

void
executor_prepare(struct docker_client *dc, const struct job_spec *job,
                 const struct executor_opts *opts, struct job_result *res)
{
    static int (*const steps[])(struct run *) = {step_prepare, step_deps, step_prepared};
    run_steps(dc, job, opts, NULL, res, steps, RX_ARRAY_SIZE(steps));
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
