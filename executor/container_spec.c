/* SPDX-License-Identifier: MIT */
#include "executor/container_spec.h"

#include "executor/limits.h"
#include "executor/rx_json.h"
#include "executor/rx_util.h"

static void
add_str(struct json_object *o, const char *k, const char *v)
{
    json_object_object_add(o, k, json_object_new_string(v));
}
static void
add_int(struct json_object *o, const char *k, long long v)
{
    json_object_object_add(o, k, json_object_new_int64(v));
}
static void
add_bool(struct json_object *o, const char *k, bool v)
{
    json_object_object_add(o, k, json_object_new_boolean(v));
}
static struct json_object *
strv(const char *const *v, size_t n)
{
    struct json_object *a = json_object_new_array();
    for (size_t i = 0; i < n; i++)
        json_object_array_add(a, json_object_new_string(v[i]));
    return a;
}
static struct json_object *
ulimit(const char *name, long long v)
{
    struct json_object *u = json_object_new_object();
    add_str(u, "Name", name);
    add_int(u, "Soft", v);
    add_int(u, "Hard", v);
    return u;
}

static bool
env_has(const struct job_spec *job, const char *key)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i < job->n_env; i++)
        if (strncmp(job->env[i], key, kl) == 0 && job->env[i][kl] == '=')
            return true;
    return false;
}

const char *
container_spec_runtime(const char *sandbox)
{
    return sandbox != NULL && strcmp(sandbox, "gvisor") == 0 ? "runsc" : NULL;
}

/* The parts of the create body.  Each adds its keys to the object it is
 * given; json-c keeps insertion order, so the order of the calls is the
 * order of the keys on the wire (unchanged since the body was one function:
 * a captured request from before compares equal). */

static void
add_user(struct json_object *b, const struct container_spec_opts *opts)
{
    char user[48];
    snprintf(user, sizeof(user), "%lld:%lld", opts->uid, opts->uid);
    add_str(b, "User", user);
}

/* Who runs, where, with which image; no network and no image ENTRYPOINT. */
static void
add_identity(struct json_object *b, const struct job_spec *job,
             const struct container_spec_opts *opts)
{
    add_str(b, "Image", opts->image ? opts->image : job->image);
    add_str(b, "Hostname", "sandbox");
    char holder[32];
    snprintf(holder, sizeof(holder), "%d:%d", SANDBOX_HOLDER_UID, SANDBOX_HOLDER_UID);
    add_str(b, "User", holder);
    add_str(b, "WorkingDir", JOB_WORKSPACE);
    /* No network at all, and no network stack set up for it either: with
     * NetworkDisabled the engine skips its network sandbox (on Engine 20.10
     * a re-exec of dockerd, ~160 ms of every start) and the runtime gives the
     * container a fresh, empty network namespace with only loopback.
     * NetworkMode stays "none" for engines that ignore this field. */
    add_bool(b, "NetworkDisabled", true);
    /* Clear any ENTRYPOINT of the image: the job's argv is run as given. */
    json_object_object_add(b, "Entrypoint", json_object_new_array());
}

/* Cmd: the embedded harness for a code job, the job's own argv otherwise
 * (of the job's exec). */
static void
add_cmd(struct json_object *b, const struct job_spec *job, const struct container_spec_opts *opts)
{
    if (job->kind == JOB_CODE) {
        /* The harness is started before the job's input is in place (it
         * waits on stdin for the input or a go-ahead, container_spec.h), so
         * it comes as an argument, not as a file: argv is passed as is,
         * never through a shell.  -I: nothing the job controls (PYTHON*
         * variables such as PYTHONPATH, a user site under HOME) runs code
         * before its input is complete; the harness applies the job's
         * PYTHONPATH after that.  -u and -B stand for the
         * PYTHONUNBUFFERED and PYTHONDONTWRITEBYTECODE that -I ignores.
         * A warm sandbox's preload comes last, when there is one. */
        cleanup_free char *src = xstrndup(harness_py, (size_t)(harness_py_end - harness_py));
        const char *cmd[] = {"python3",        "-I",         "-B", "-u", "-c", src,
                             job->output_path, opts->preload};
        json_object_object_add(b, "Cmd", strv(cmd, RX_ARRAY_SIZE(cmd) - (opts->preload == NULL)));
    } else {
        json_object_object_add(b, "Cmd", strv((const char *const *)job->command, job->n_command));
    }
}

/* Env: the job's variables, then the defaults it did not set itself. */
static void
add_env(struct json_object *b, const struct job_spec *job)
{
    struct json_object *env = strv((const char *const *)job->env, job->n_env);
    if (!env_has(job, "HOME"))
        json_object_array_add(env, json_object_new_string("HOME=/tmp"));
    if (job->kind == JOB_CODE) {
        if (!env_has(job, "PYTHONUNBUFFERED"))
            json_object_array_add(env, json_object_new_string("PYTHONUNBUFFERED=1"));
        if (!env_has(job, "PYTHONDONTWRITEBYTECODE"))
            json_object_array_add(env, json_object_new_string("PYTHONDONTWRITEBYTECODE=1"));
    }
    json_object_object_add(b, "Env", env);
}

/* Labels: what the reaper and the operator find a job's container by. */
static void
add_labels(struct json_object *b, const struct job_spec *job,
           const struct container_spec_opts *opts)
{
    struct json_object *labels = json_object_new_object();
    add_str(labels, "ralph.task_id", opts->unassigned ? "" : job->task_id);
    char dl[32];
    snprintf(dl, sizeof(dl), "%lld", opts->deadline_s);
    add_str(labels, "ralph.deadline", dl);
    add_str(labels, "ralph.owner", opts->owner ? opts->owner : "unknown");
    if (opts->run_id != NULL)
        add_str(labels, "ralph.run", opts->run_id);
    if (opts->queue != NULL)
        add_str(labels, "ralph.queue", opts->queue);
    json_object_object_add(b, "Labels", labels);
}

bool
container_spec_exec_stdin(const struct job_spec *job)
{
    /* Code jobs: the harness's go-ahead comes on stdin (container_spec.h). */
    return job->stdin_data != NULL || job->kind == JOB_CODE;
}

/* The container: no TTY, nothing attached (the holder says nothing). */
static void
add_stdio(struct json_object *b)
{
    add_bool(b, "Tty", false);
    add_bool(b, "AttachStdout", false);
    add_bool(b, "AttachStderr", false);
    add_bool(b, "AttachStdin", false);
    add_bool(b, "OpenStdin", false);
    add_bool(b, "StdinOnce", false);
}

/* HostConfig's hardening: read-only rootfs, no capabilities, no new
 * privileges, the operator's seccomp profile, the runtime, no network. */
static void
hc_security(struct json_object *h, const struct container_spec_opts *opts, const char *runtime)
{
    add_bool(h, "ReadonlyRootfs", true);
    const char *capdrop[] = {"ALL"};
    json_object_object_add(h, "CapDrop", strv(capdrop, 1));
    struct json_object *secopt = json_object_new_array();
    json_object_array_add(secopt, json_object_new_string("no-new-privileges"));
    /* runsc (registered without --oci-seccomp) applies no profile inside the
     * sandbox: the job's calls meet gVisor's kernel, whose sentry runs under
     * its own filters.  So none is sent, and the limits say so. */
    if (opts->seccomp != NULL && runtime == NULL) {
        /* The engine takes the profile's text, never a path (it reads no files). */
        cleanup_free char *sc = xasprintf("seccomp=%s", opts->seccomp);
        json_object_array_add(secopt, json_object_new_string(sc));
    }
    json_object_object_add(h, "SecurityOpt", secopt);
    if (runtime != NULL)
        add_str(h, "Runtime", runtime);
    add_str(h, "NetworkMode", "none");
}

/* The rlimits every process of the job gets. */
static struct json_object *
ulimits(const struct job_spec *job, const struct container_spec_opts *opts, const char *runtime)
{
    struct json_object *ul = json_object_new_array();
    json_object_array_add(ul, ulimit("nofile", SANDBOX_NOFILE));
    json_object_array_add(ul, ulimit("fsize", job->file_size_bytes));
    json_object_array_add(ul, ulimit("core", 0));
    /* No nproc under runc: PidsLimit bounds each job (nproc counts a uid's
     * processes host-wide; each job has a uid of its own, but the cgroup's
     * bound is the one every runtime keeps).  Under gVisor nproc is the job's bound (see container_spec.h);
     * on Podman a number must be sent (SANDBOX_PODMAN_NPROC). */
    if (runtime != NULL)
        json_object_array_add(ul, ulimit("nproc", job->pids_limit));
    else if (opts->podman)
        json_object_array_add(ul, ulimit("nproc", SANDBOX_PODMAN_NPROC));
    return ul;
}

long long
container_spec_pids_limit(const struct job_spec *job)
{
    return container_spec_runtime(job->sandbox)
               ? job->pids_limit * SANDBOX_GVISOR_PIDS_PER_TASK + SANDBOX_GVISOR_PIDS_BASE
               : job->pids_limit;
}

/* HostConfig's limits: memory without swap, CPU, processes, rlimits. */
static void
hc_limits(struct json_object *h, const struct job_spec *job, const struct container_spec_opts *opts,
          const char *runtime)
{
    add_int(h, "Memory", job->memory_bytes);
    add_int(h, "MemorySwap", job->memory_bytes); /* equal: no swap */
    add_int(h, "NanoCpus", job->nano_cpus);
    add_int(h, "PidsLimit", container_spec_pids_limit(job));
    json_object_object_add(h, "Ulimits", ulimits(job, opts, runtime));
}

/* Tmpfs: a writable /tmp; on Podman, the workspace (hc_storage), and its
 * own writable /run and /var/tmp replaced by read-only ones
 * (SANDBOX_PODMAN_RO_TMPFS_BYTES). */
static void
hc_tmpfs(struct json_object *h, const struct job_spec *job, const struct container_spec_opts *opts)
{
    struct json_object *tmpfs = json_object_new_object();
    char tmpopt[96];
    snprintf(tmpopt, sizeof(tmpopt), "rw,noexec,nosuid,nodev,size=%lld,mode=1777", opts->tmp_bytes);
    add_str(tmpfs, "/tmp", tmpopt);
    if (opts->podman) {
        /* Podman (4.3) takes neither the volume's options nor uid=,
         * mode= or nr_inodes= here: the size holds, the inodes are bounded
         * by the job's memory (each is charged to it), and the first copy
         * in gives the directory to the job's uid, 0700 (executor.c).
         * Nothing of the image's /workspace is copied up, as on Docker. */
        snprintf(tmpopt, sizeof(tmpopt), "rw,nosuid,nodev,notmpcopyup,size=%lld",
                 job_spec_workspace_bytes(job));
        add_str(tmpfs, JOB_WORKSPACE, tmpopt);
        snprintf(tmpopt, sizeof(tmpopt), "ro,noexec,nosuid,nodev,size=%lld",
                 SANDBOX_PODMAN_RO_TMPFS_BYTES);
        add_str(tmpfs, "/run", tmpopt);
        add_str(tmpfs, "/var/tmp", tmpopt);
    }
    json_object_object_add(h, "Tmpfs", tmpfs);
}

/* Private IPC and cgroup namespaces, an init as PID 1, never privileged,
 * and first to go under host memory pressure. */
static void
hc_process(struct json_object *h, const struct container_spec_opts *opts)
{
    add_str(h, "IpcMode", "private");
    add_int(h, "ShmSize", opts->shm_bytes);
    add_str(h, "CgroupnsMode", "private");
    add_bool(h, "Init", true);
    add_bool(h, "Privileged", false);
    add_bool(h, "AutoRemove", false);
    add_int(h, "OomScoreAdj", 1000); /* under host memory pressure, jobs go first */
}

/* The workspace: a tmpfs of workspace_limit bytes and as many inodes per
 * LIMIT_WORKSPACE_BYTES_PER_INODE, owned by the job's uid, charged to the
 * job's memory; never the engine's disk.  On Docker an anonymous volume of
 * the local driver, type tmpfs (removed with v=1); its content exists only
 * while the container runs (the engine mounts it at start, unmounts it at
 * exit), hence the holder and the exec.  On Podman a plain tmpfs
 * (hc_tmpfs): its compat API ignores a volume's options. */
static void
hc_workspace(struct json_object *h, const struct job_spec *job,
             const struct container_spec_opts *opts)
{
    struct json_object *mounts = json_object_new_array();
    if (!opts->podman) {
        long long bytes = job_spec_workspace_bytes(job);
        char o[160];
        snprintf(o, sizeof(o), "size=%lld,nr_inodes=%lld,uid=%lld,gid=%lld,mode=0700,nosuid,nodev",
                 bytes, bytes / LIMIT_WORKSPACE_BYTES_PER_INODE, opts->uid, opts->uid);
        struct json_object *dopts = json_object_new_object();
        add_str(dopts, "type", "tmpfs");
        add_str(dopts, "device", "tmpfs");
        add_str(dopts, "o", o);
        struct json_object *driver = json_object_new_object();
        add_str(driver, "Name", "local");
        json_object_object_add(driver, "Options", dopts);
        struct json_object *vo = json_object_new_object();
        json_object_object_add(vo, "DriverConfig", driver);
        struct json_object *ws = json_object_new_object();
        add_str(ws, "Type", "volume"); /* no Source: anonymous, removed with v=1 */
        add_str(ws, "Target", JOB_WORKSPACE);
        add_bool(ws, "ReadOnly", false);
        add_bool(vo, "NoCopy", true); /* nothing of the image's /workspace */
        json_object_object_add(ws, "VolumeOptions", vo);
        json_object_array_add(mounts, ws);
    }
    json_object_object_add(h, "Mounts", mounts);
}

/* No log kept by the engine; never restarted. */
static void
hc_storage(struct json_object *h)
{
    struct json_object *log = json_object_new_object();
    add_str(log, "Type", "none"); /* output is read live; the host keeps no copy */
    json_object_object_add(log, "Config", json_object_new_object());
    json_object_object_add(h, "LogConfig", log);
    struct json_object *rp = json_object_new_object();
    add_str(rp, "Name", "no");
    json_object_object_add(h, "RestartPolicy", rp);
}

/* HostConfig: everything the engine enforces from outside the job. */
static struct json_object *
host_config(const struct job_spec *job, const struct container_spec_opts *opts)
{
    const char *runtime = container_spec_runtime(job->sandbox);
    struct json_object *h = json_object_new_object();
    hc_security(h, opts, runtime);
    hc_limits(h, job, opts, runtime);
    hc_tmpfs(h, job, opts);
    hc_process(h, opts);
    hc_workspace(h, job, opts);
    hc_storage(h);
    return h;
}

struct json_object *
container_spec_create_body(const struct job_spec *job, const struct container_spec_opts *opts)
{
    struct json_object *b = json_object_new_object();
    add_identity(b, job, opts);
    /* The holder ends by itself at the run's deadline, should nothing
     * remove its container (a ralph-exec killed with SIGKILL). */
    char secs[32];
    long long left = opts->deadline_s - rx_wall_s();
    snprintf(secs, sizeof(secs), "%lld", left > 60 ? left : 60);
    const char *holder[] = {"sleep", secs};
    json_object_object_add(b, "Cmd", strv(holder, RX_ARRAY_SIZE(holder)));
    add_labels(b, job, opts);
    add_stdio(b);
    json_object_object_add(b, "HostConfig", host_config(job, opts));
    struct json_object *nc = json_object_new_object();
    json_object_object_add(nc, "EndpointsConfig", json_object_new_object());
    json_object_object_add(b, "NetworkingConfig", nc);
    return b;
}

struct json_object *
container_spec_exec_body(const struct job_spec *job, const struct container_spec_opts *opts)
{
    struct json_object *b = json_object_new_object();
    bool with_stdin = container_spec_exec_stdin(job);
    add_bool(b, "AttachStdin", with_stdin);
    add_bool(b, "AttachStdout", true);
    add_bool(b, "AttachStderr", true);
    add_bool(b, "Tty", false);
    add_bool(b, "Privileged", false);
    add_user(b, opts);
    add_str(b, "WorkingDir", JOB_WORKSPACE);
    add_cmd(b, job, opts);
    add_env(b, job); /* the job's alone: the holder keeps the image's */
    return b;
}

struct json_object *
container_spec_limits(const struct job_spec *job, const struct container_spec_opts *opts)
{
    struct json_object *l = json_object_new_object();
    json_object_object_add(l, "timeout", json_object_new_double(job->timeout_ms / 1000.0));
    add_int(l, "memory_bytes", job->memory_bytes);
    json_object_object_add(l, "cpu_limit", json_object_new_double(job->nano_cpus / 1e9));
    add_int(l, "pids_limit", job->pids_limit);
    add_int(l, "file_size_bytes", job->file_size_bytes);
    add_int(l, "nofile", SANDBOX_NOFILE);
    add_int(l, "tmp_bytes", opts->tmp_bytes);
    add_int(l, "shm_bytes", opts->shm_bytes);
    long long ws = job_spec_workspace_bytes(job);
    add_int(l, "workspace_bytes", ws);
    if (!opts->podman)
        add_int(l, "workspace_inodes", ws / LIMIT_WORKSPACE_BYTES_PER_INODE);
    add_str(l, "network", "none");
    char user[48];
    snprintf(user, sizeof(user), "%lld:%lld", opts->uid, opts->uid);
    add_str(l, "user", user);
    add_bool(l, "read_only_rootfs", true);
    add_str(l, "sandbox", job->sandbox ? job->sandbox : "runc");
    add_str(l, "seccomp",
            container_spec_runtime(job->sandbox) ? "gvisor-sentry"
            : opts->seccomp                      ? "strict"
                                                 : "default");
    return l;
}

int
container_spec_engine_check(const struct job_spec *job, const struct container_spec_opts *opts,
                            struct rx_error **err)
{
    if (!opts->podman)
        return 0;
    if (container_spec_runtime(job->sandbox) != NULL)
        return rx_error_set(err, ENOTSUP,
                            "sandbox \"gvisor\" is not available on Podman: ralph-exec runs "
                            "gVisor jobs only on Docker, where the runsc runtime is registered "
                            "and tested; use sandbox \"runc\" (or a policy whose default_sandbox "
                            "is runc) on Podman, or a Docker engine for gVisor");
    if (opts->seccomp != NULL)
        return rx_error_set(err, ENOTSUP,
                            "the policy asks for the strict seccomp profile, which Podman (4.3) "
                            "cannot take: its Docker-compatible API reads an inline profile as a "
                            "file path on the engine's host; the job was not run rather than run "
                            "under Podman's default profile; use a Docker engine, or a policy "
                            "without \"seccomp\": \"strict\"");
    return 0;
}

/* The limits POST /containers/{id}/update sets, as hc_limits has them. */
static const char *const update_keys[] = {"Memory", "MemorySwap", "NanoCpus", "PidsLimit"};

struct json_object *
container_spec_update_body(const struct job_spec *job)
{
    struct json_object *b = json_object_new_object();
    cleanup_json struct json_object *h = json_object_new_object();
    hc_limits(h, job, &(struct container_spec_opts){0}, container_spec_runtime(job->sandbox));
    for (size_t i = 0; i < RX_ARRAY_SIZE(update_keys); i++)
        json_object_object_add(b, update_keys[i], json_object_get(rx_json_get(h, update_keys[i])));
    return b;
}

bool
container_spec_updatable(const struct job_spec *job, const struct container_spec_opts *opts)
{
    return container_spec_runtime(job->sandbox) == NULL && !opts->podman;
}

char *
container_spec_warm_key(const struct job_spec *job, const struct container_spec_opts *opts)
{
    struct container_spec_opts o = *opts;
    o.deadline_s = 0;
    o.run_id = NULL;
    cleanup_json struct json_object *b = container_spec_create_body(job, &o);
    json_object_object_del(b, "Cmd"); /* the holder's sleep: the deadline's */
    struct json_object *labels = rx_json_get(b, "Labels");
    json_object_object_del(labels, "ralph.task_id");
    json_object_object_del(labels, "ralph.deadline");
    if (container_spec_updatable(job, opts)) {
        struct json_object *h = rx_json_get(b, "HostConfig");
        for (size_t i = 0; i < RX_ARRAY_SIZE(update_keys); i++)
            json_object_object_del(h, update_keys[i]);
    }
    return xstrdup(rx_json_compact(b));
}
