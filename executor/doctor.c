/* SPDX-License-Identifier: MIT */
#include "executor/doctor.h"

#include <stdarg.h>
#include <sys/stat.h>

#include "executor/docker_client.h"
#include "executor/docker_errors.h"
#include "executor/executor.h"
#include "executor/rx_json.h"
#include "executor/operator_policy.h"
#include "executor/rx_util.h"

struct report {
    struct json_object *checks;
    bool json;
    bool failed;
};

static void check(struct report *r, const char *name, bool required, bool pass, const char *remedy,
                  const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void
check(struct report *r, const char *name, bool required, bool pass, const char *remedy,
      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *detail = NULL;
    if (vasprintf(&detail, fmt, ap) < 0)
        rx_oom();
    va_end(ap);
    const char *verdict = pass ? "ok" : required ? "FAIL" : "warn";
    if (!pass && required)
        r->failed = true;
    if (r->json) {
        struct json_object *c = json_object_new_object();
        json_object_object_add(c, "name", json_object_new_string(name));
        json_object_object_add(c, "status",
                               json_object_new_string(pass       ? "ok"
                                                      : required ? "fail"
                                                                 : "warn"));
        json_object_object_add(c, "required", json_object_new_boolean(required));
        json_object_object_add(c, "detail", rx_json_string_from_bytes(detail, strlen(detail)));
        json_object_object_add(c, "remedy",
                               !pass && remedy ? json_object_new_string(remedy) : NULL);
        json_object_array_add(r->checks, c);
    } else {
        printf("%-5s %-22s %s\n", verdict, name, detail);
        if (!pass && remedy != NULL)
            printf("      %-22s remedy: %s\n", "", remedy);
    }
    free(detail);
}

static bool
has_string(struct json_object *arr, const char *prefix)
{
    for (size_t i = 0;
         arr && json_object_is_type(arr, json_type_array) && i < json_object_array_length(arr);
         i++) {
        const char *s = json_object_get_string(json_object_array_get_idx(arr, i));
        if (s != NULL && strstr(s, prefix) != NULL)
            return true;
    }
    return false;
}

/* What the checks share: the report, the operator's policy (the rest is
 * checked against it), the engine once reached and what it said about
 * itself.  Each step adds its checks to the report and returns 0, or -1 when
 * the steps after it cannot run (no engine to ask). */
struct doctor {
    struct report r;
    const char *policy_path; /* --policy, or NULL for the default path */
    struct operator_policy policy;
    struct docker_client *dc;
    struct json_object *info; /* GET /info, or NULL when it failed */
};

static int
step_policy(struct doctor *d)
{
    struct rx_error *err = NULL;
    if (operator_policy_load(d->policy_path, &d->policy, &err) < 0) {
        check(&d->r, "policy", true, false, "fix the file or pass a valid --policy", "%s",
              err->msg);
        rx_error_free(&err);
        /* Go on with the built-in defaults: the engine's checks still tell. */
        operator_policy_free(&d->policy);
        operator_policy_load(NULL, &d->policy, NULL);
    } else {
        check(&d->r, "policy", true, true, NULL, "%s (default sandbox %s, seccomp %s)",
              d->policy.source, d->policy.default_sandbox,
              d->policy.seccomp_strict ? "strict" : "default");
    }
    return 0;
}

/* DOCKER_HOST names a unix socket that is there and that we may use. */
static int
step_socket(struct doctor *d)
{
    struct rx_error *err = NULL;
    cleanup_free char *sock = docker_client_socket_from_host(getenv("DOCKER_HOST"), &err);
    if (sock == NULL) {
        check(&d->r, "engine socket", true, false, "set DOCKER_HOST=unix:///path/to/docker.sock",
              "%s", err->msg);
        rx_error_free(&err);
        return -1;
    }
    struct stat st;
    if (stat(sock, &st) < 0) {
        check(&d->r, "engine socket", true, false,
              "start the engine (as root: scripts/ensure-engine.sh, or dockerd &), or point "
              "DOCKER_HOST=unix://... at its socket",
              "no socket at %s (%s)", sock, strerror(errno));
        return -1;
    }
    if (!S_ISSOCK(st.st_mode)) {
        check(&d->r, "engine socket", true, false, "point DOCKER_HOST at the engine's socket",
              "%s exists but is not a socket", sock);
        return -1;
    }
    if (access(sock, R_OK | W_OK) < 0) {
        check(&d->r, "engine socket", true, false,
              "run as root, or add this user to the socket's group (usually docker); mind that "
              "access to the socket is root on the host",
              "permission denied on %s", sock);
        return -1;
    }
    check(&d->r, "engine socket", true, true, NULL, "%s", sock);
    return 0;
}

/* The engine answers; which one it is and how it differs from the others. */
static int
step_engine(struct doctor *d)
{
    struct rx_error *err = NULL;
    d->dc = docker_client_new(NULL, -1, &err);
    if (d->dc == NULL) {
        check(&d->r, "engine", true, false,
              "make sure dockerd runs and answers GET /_ping; ralph-exec needs Engine API 1.41 "
              "(Docker 20.10) or newer",
              "%s", err->msg);
        rx_error_free(&err);
        return -1;
    }
    check(&d->r, "engine", true, true, NULL, "%s %s, API %s (engine's maximum %s)",
          d->dc->podman ? "Podman" : "Docker", d->dc->engine_version, d->dc->api_version,
          d->dc->engine_api_max);
    check(&d->r, "engine differences", false, true, NULL, "%s",
          docker_engine_differences(d->dc->podman, d->dc->engine_api_max));
    return 0;
}

/* Jobs negotiate from GET /_ping, which does not give the engine's minimum
 * API version: check it here, once. */
static int
step_api_range(struct doctor *d)
{
    struct rx_error *err = NULL;
    cleanup_json struct json_object *v = docker_client_get_json(d->dc, "/version", &err);
    const char *min = rx_json_get_str(v, "MinAPIVersion");
    char use[16];
    if (v == NULL) {
        check(&d->r, "API range", true, false, "check the engine's log", "%s", err->msg);
        rx_error_free(&err);
    } else if (docker_version_negotiate(d->dc->engine_api_max, min, use, &err) < 0) {
        check(&d->r, "API range", true, false,
              "use an engine that still accepts API " DOCKER_CLIENT_MAX_API, "%s", err->msg);
        rx_error_free(&err);
    } else {
        check(&d->r, "API range", true, true, NULL, "the engine accepts %s to %s; jobs use %s",
              min ? min : "?", d->dc->engine_api_max, d->dc->api_version);
    }
    return 0;
}

/* GET /info: cgroups for the limits, seccomp for the filter. */
static int
step_info(struct doctor *d)
{
    struct rx_error *err = NULL;
    d->info = docker_client_get_json(d->dc, "/info", &err);
    if (d->info == NULL) {
        check(&d->r, "engine info", true, false, "check the engine's log", "%s", err->msg);
        rx_error_free(&err);
        return 0;
    }
    const char *cg = rx_json_get_str(d->info, "CgroupVersion");
    const char *drv = rx_json_get_str(d->info, "CgroupDriver");
    check(&d->r, "cgroups", true, cg != NULL, "the engine must manage cgroups for limits",
          "cgroup v%s (driver %s)", cg ? cg : "?", drv ? drv : "?");
    struct json_object *so = rx_json_get(d->info, "SecurityOptions");
    check(&d->r, "seccomp", true, has_string(so, "name=seccomp"),
          "use an engine built with seccomp support (Debian's docker.io is)", "%s",
          has_string(so, "name=seccomp") ? "supported by the engine"
                                         : "the engine reports no seccomp support");
    return 0;
}

/* The runtimes GET /info lists, against what the policy makes the default;
 * on Podman, what the policy asks that Podman cannot give. */
static int
step_runtimes(struct doctor *d)
{
    if (d->info == NULL)
        return 0; /* step_info said why */
    struct json_object *rt = rx_json_get(d->info, "Runtimes");
    bool runc = rx_json_get(rt, "runc") != NULL;
    bool runsc = rx_json_get(rt, "runsc") != NULL;
    check(&d->r, "runtime runc", true, runc, "reinstall the engine (docker.io ships runc)", "%s",
          runc ? "available" : "missing");
    bool need_gvisor = strcmp(d->policy.default_sandbox, "gvisor") == 0;
    if (!d->dc->podman) {
        check(&d->r, "runtime runsc (gVisor)", need_gvisor, runsc,
              "apt-get install runsc; add {\"runtimes\": {\"runsc\": {\"path\": "
              "\"/usr/bin/runsc\", \"runtimeArgs\": [\"--network=none\"]}}} to "
              "/etc/docker/daemon.json; kill -HUP dockerd (scripts/ensure-engine.sh does "
              "this)",
              "%s", runsc ? "available" : "not registered with the engine");
        return 0;
    }
    /* ralph-exec refuses gVisor and its own seccomp profile on Podman
     * (container_spec_engine_check): a policy that makes them the default
     * fails every job there. */
    check(&d->r, "runtime runsc (gVisor)", need_gvisor, !need_gvisor,
          "use a Docker engine for gVisor, or set default_sandbox to runc", "%s",
          "not used on Podman: gVisor jobs are refused there");
    check(&d->r, "policy on Podman", true, !d->policy.seccomp_strict,
          "use a Docker engine, or drop \"seccomp\": \"strict\" from the policy", "%s",
          d->policy.seccomp_strict
              ? "seccomp strict cannot be given to Podman: every job would be refused"
              : "nothing in it that Podman cannot honour");
    return 0;
}

static int
step_image(struct doctor *d)
{
    struct rx_error *err = NULL;
    cleanup_free char *ipath = xasprintf("/images/%s/json", JOB_SPEC_DEFAULT_IMAGE);
    cleanup_json struct json_object *img = docker_client_get_json(d->dc, ipath, &err);
    check(&d->r, "default image", true, img != NULL, "make images (builds it offline)", "%s %s",
          JOB_SPEC_DEFAULT_IMAGE, img ? "present" : "missing");
    rx_error_free(&err);
    return 0;
}

/* The canary prints these lines of its /proc/self/status and its uid; each
 * must be there for the hardening to have held. */
static const struct {
    const char *name, *evidence, *remedy, *held, *failed;
} canary_evidence[] = {
    {"no-new-privileges", "NoNewPrivs:\t1", "use a kernel of 4.10 or newer", "on in the job",
     "off in the job"},
    {"seccomp filter", "Seccomp:\t2", "use an engine and kernel with seccomp",
     "filtering in the job", "not filtering"},
    {"capabilities", "CapEff:\t0000000000000000", "report this: CapDrop ALL was not applied",
     "none in the job", "the job has capabilities"},
};

/* A number the canary printed as "\nKEY=N"; -1 when it did not. */
static long long
canary_number(const char *out, const char *key)
{
    cleanup_free char *k = xasprintf("\n%s=", key);
    const char *p = strstr(out, k);
    return p ? strtoll(p + strlen(k), NULL, 10) : -1;
}

/* The canary ran as the uid its result names, never 0, and its workspace
 * is a filesystem no larger than its workspace_limit (never the engine's
 * disk): an engine that took the options but not the bound fails here. */
static void
canary_identity(struct doctor *d, const char *out, const struct job_result *res)
{
    const char *user = rx_json_get_str(res->limits, "user");
    long long want_uid = user ? strtoll(user, NULL, 10) : -1;
    long long uid = canary_number(out, "uid");
    check(&d->r, "job user", true, uid > 0 && uid == want_uid,
          "report this: the job did not run as the uid it was given", "uid %lld (given %s)", uid,
          user ? user : "none");
    struct json_object *ws = rx_json_get(res->limits, "workspace_bytes");
    long long limit = ws ? json_object_get_int64(ws) : -1;
    long long size = canary_number(out, "workspace");
    check(&d->r, "workspace bound", true, size > 0 && size <= limit,
          "this engine cannot bound the workspace (a tmpfs volume of the local driver on Docker, "
          "a tmpfs on Podman): use Docker 20.10 or newer, or Podman 4",
          "%lld bytes (workspace_limit %lld)", size, limit);
}

/* The hardening as seen from inside the canary, from what it printed. */
static void
canary_hardening(struct doctor *d, const char *out)
{
    for (size_t i = 0; i < RX_ARRAY_SIZE(canary_evidence); i++) {
        bool held = strstr(out, canary_evidence[i].evidence) != NULL;
        check(&d->r, canary_evidence[i].name, true, held, canary_evidence[i].remedy, "%s",
              held ? canary_evidence[i].held : canary_evidence[i].failed);
    }
}

/* The canary's container, and its volume, are gone. */
static void
canary_removed(struct doctor *d, const char *id)
{
    struct rx_error *err = NULL;
    cleanup_free char *cpath = xasprintf("/containers/%s/json", id);
    cleanup_json struct json_object *gone = docker_client_get_json(d->dc, cpath, &err);
    bool removed = gone == NULL && err != NULL && err->http_status == 404;
    check(&d->r, "canary cleaned up", true, removed,
          "remove it: docker rm -fv <id>; check the engine's log", "container %.12s %s", id,
          removed ? "and its volume removed" : "still present");
    rx_error_free(&err);
}

/* A canary: a real job, hardened as always, then proof it is gone. */
static int
step_canary(struct doctor *d)
{
    static const char canary[] =
        "{\"task_id\":\"doctor-canary\",\"timeout\":30,\"command\":[\"sh\",\"-c\","
        "\"grep -E '^(NoNewPrivs|Seccomp|CapEff):' /proc/self/status; echo uid=$(id -u); "
        "echo workspace=$(df -B1 --output=size /workspace | tail -n 1); "
        "echo '{\\\"ok\\\": true}' > output.json\"]}";
    struct rx_error *err = NULL;
    cleanup_job_spec struct job_spec *job = job_spec_parse(canary, strlen(canary), NULL, &err);
    struct executor_opts opts;
    executor_opts_defaults(&opts);
    opts.owner = "ralph-exec/doctor";
    if (job == NULL || operator_policy_apply(&d->policy, job, &err) != 0) {
        check(&d->r, "canary job", true, false, "fix the policy", "%s",
              err ? err->msg : "rejected");
        rx_error_free(&err);
        return 0;
    }
    executor_opts_from_policy(&opts, &d->policy);
    struct job_result res;
    job_result_init(&res);
    executor_run(d->dc, job, &opts, &res);
    bool ran = res.status == JOB_SUCCESS;
    check(&d->r, "canary job", true, ran, "run it by hand: ralph-exec examples/demo.json",
          "%s in %lld ms%s%s", job_status_name(res.status), res.duration_ms, res.error ? ": " : "",
          res.error ? res.error : "");
    if (ran) {
        const char *out = res.out[0].data ? res.out[0].data : "";
        canary_hardening(d, out);
        canary_identity(d, out, &res);
    }
    if (res.container_id != NULL)
        canary_removed(d, res.container_id);
    job_result_free(&res);
    return 0;
}

/* Print the verdict (the checks themselves were printed as they ran, or
 * are printed now as one JSON object); the exit status. */
static int
report_finish(struct report *r)
{
    if (r->json) {
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "ok", json_object_new_boolean(!r->failed));
        json_object_object_add(o, "checks", r->checks);
        printf("%s\n", rx_json_compact(o));
        json_object_put(o);
    } else {
        printf("%s\n", r->failed ? "doctor: some required checks failed"
                                 : "doctor: all required checks passed");
        json_object_put(r->checks);
    }
    return r->failed ? 1 : 0;
}

/* The checks, in the order they print; the first step that cannot let the
 * others run ends the list. */
static int (*const steps[])(struct doctor *) = {
    step_policy,    /* policy (first: the rest is checked against it) */
    step_socket,    /* engine socket */
    step_engine,    /* engine, engine differences */
    step_api_range, /* API range */
    step_info,      /* engine info, or cgroups and seccomp */
    step_runtimes,  /* runtime runc, runtime runsc (gVisor), policy on Podman */
    step_image,     /* default image */
    step_canary,    /* canary job, what it saw of its hardening, canary cleaned up */
};

int
doctor_run(const char *policy_path, bool json)
{
    struct doctor d = {.r = {.checks = json_object_new_array(), .json = json},
                       .policy_path = policy_path};
    for (size_t i = 0; i < RX_ARRAY_SIZE(steps); i++)
        if (steps[i](&d) < 0)
            break;
    json_object_put(d.info);
    docker_client_free(d.dc);
    operator_policy_free(&d.policy);
    return report_finish(&d.r);
}
