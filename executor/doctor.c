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

int
doctor_run(const char *policy_path, bool json)
{
    struct report r = {.checks = json_object_new_array(), .json = json};
    struct rx_error *err = NULL;
    char *ipath = NULL; /* freed at out: (no cleanup attribute across the gotos) */

    /* The policy, first: the rest is checked against it. */
    struct operator_policy policy;
    if (operator_policy_load(policy_path, &policy, &err) < 0) {
        check(&r, "policy", true, false, "fix the file or pass a valid --policy", "%s", err->msg);
        rx_error_free(&err);
        operator_policy_free(&policy);
        operator_policy_load(NULL, &policy, NULL);
    } else {
        check(&r, "policy", true, true, NULL, "%s (default sandbox %s, seccomp %s)", policy.source,
              policy.default_sandbox, policy.seccomp_strict ? "strict" : "default");
    }

    char *sock = docker_client_socket_from_host(getenv("DOCKER_HOST"), &err);
    struct docker_client *dc = NULL;
    if (sock == NULL) {
        check(&r, "engine socket", true, false, "set DOCKER_HOST=unix:///path/to/docker.sock", "%s",
              err->msg);
        rx_error_free(&err);
        goto out;
    }
    struct stat st;
    if (stat(sock, &st) < 0) {
        check(&r, "engine socket", true, false,
              "start the engine (as root: scripts/ensure-engine.sh, or dockerd &), or point "
              "DOCKER_HOST=unix://... at its socket",
              "no socket at %s (%s)", sock, strerror(errno));
        goto out;
    }
    if (!S_ISSOCK(st.st_mode)) {
        check(&r, "engine socket", true, false, "point DOCKER_HOST at the engine's socket",
              "%s exists but is not a socket", sock);
        goto out;
    }
    if (access(sock, R_OK | W_OK) < 0) {
        check(&r, "engine socket", true, false,
              "run as root, or add this user to the socket's group (usually docker); mind that "
              "access to the socket is root on the host",
              "permission denied on %s", sock);
        goto out;
    }
    check(&r, "engine socket", true, true, NULL, "%s", sock);

    dc = docker_client_new(NULL, -1, &err);
    if (dc == NULL) {
        check(&r, "engine", true, false,
              "make sure dockerd runs and answers GET /_ping; ralph-exec needs Engine API 1.41 "
              "(Docker 20.10) or newer",
              "%s", err->msg);
        rx_error_free(&err);
        goto out;
    }
    check(&r, "engine", true, true, NULL, "%s %s, API %s (engine's maximum %s)",
          dc->podman ? "Podman" : "Docker", dc->engine_version, dc->api_version,
          dc->engine_api_max);
    check(&r, "engine differences", false, true, NULL, "%s",
          docker_engine_differences(dc->podman, dc->engine_api_max));
    /* Jobs negotiate from GET /_ping, which does not give the engine's
     * minimum API version: check it here, once. */
    {
        struct json_object *v = docker_client_get_json(dc, "/version", &err);
        const char *min = rx_json_get_str(v, "MinAPIVersion");
        char use[16];
        if (v == NULL) {
            check(&r, "API range", true, false, "check the engine's log", "%s", err->msg);
            rx_error_free(&err);
        } else if (docker_version_negotiate(dc->engine_api_max, min, use, &err) < 0) {
            check(&r, "API range", true, false,
                  "use an engine that still accepts API " DOCKER_CLIENT_MAX_API, "%s", err->msg);
            rx_error_free(&err);
        } else {
            check(&r, "API range", true, true, NULL, "the engine accepts %s to %s; jobs use %s",
                  min ? min : "?", dc->engine_api_max, dc->api_version);
        }
        json_object_put(v);
    }

    struct json_object *info = docker_client_get_json(dc, "/info", &err);
    if (info == NULL) {
        check(&r, "engine info", true, false, "check the engine's log", "%s", err->msg);
        rx_error_free(&err);
    } else {
        const char *cg = rx_json_get_str(info, "CgroupVersion");
        const char *drv = rx_json_get_str(info, "CgroupDriver");
        check(&r, "cgroups", true, cg != NULL, "the engine must manage cgroups for limits",
              "cgroup v%s (driver %s)", cg ? cg : "?", drv ? drv : "?");
        struct json_object *so = rx_json_get(info, "SecurityOptions");
        check(&r, "seccomp", true, has_string(so, "name=seccomp"),
              "use an engine built with seccomp support (Debian's docker.io is)", "%s",
              has_string(so, "name=seccomp") ? "supported by the engine"
                                             : "the engine reports no seccomp support");
        struct json_object *rt = rx_json_get(info, "Runtimes");
        bool runc = rx_json_get(rt, "runc") != NULL;
        bool runsc = rx_json_get(rt, "runsc") != NULL;
        check(&r, "runtime runc", true, runc, "reinstall the engine (docker.io ships runc)", "%s",
              runc ? "available" : "missing");
        bool need_gvisor = strcmp(policy.default_sandbox, "gvisor") == 0;
        if (dc->podman) {
            /* ralph-exec refuses gVisor and its own seccomp profile on
             * Podman (container_spec_engine_check): a policy that makes
             * them the default fails every job there. */
            check(&r, "runtime runsc (gVisor)", need_gvisor, !need_gvisor,
                  "use a Docker engine for gVisor, or set default_sandbox to runc", "%s",
                  "not used on Podman: gVisor jobs are refused there");
            check(&r, "policy on Podman", true, !policy.seccomp_strict,
                  "use a Docker engine, or drop \"seccomp\": \"strict\" from the policy", "%s",
                  policy.seccomp_strict
                      ? "seccomp strict cannot be given to Podman: every job would be refused"
                      : "nothing in it that Podman cannot honour");
        } else {
            check(&r, "runtime runsc (gVisor)", need_gvisor, runsc,
                  "apt-get install runsc; add {\"runtimes\": {\"runsc\": {\"path\": "
                  "\"/usr/bin/runsc\", \"runtimeArgs\": [\"--network=none\"]}}} to "
                  "/etc/docker/daemon.json; kill -HUP dockerd (scripts/ensure-engine.sh does "
                  "this)",
                  "%s", runsc ? "available" : "not registered with the engine");
        }
        json_object_put(info);
    }

    ipath = xasprintf("/images/%s/json", JOB_SPEC_DEFAULT_IMAGE);
    struct json_object *img = docker_client_get_json(dc, ipath, &err);
    check(&r, "default image", true, img != NULL, "make images (builds it offline)", "%s %s",
          JOB_SPEC_DEFAULT_IMAGE, img ? "present" : "missing");
    rx_error_free(&err);
    if (img)
        json_object_put(img);

    /* A canary: a real job, hardened as always, then proof it is gone. */
    {
        static const char canary[] =
            "{\"task_id\":\"doctor-canary\",\"timeout\":30,\"command\":[\"sh\",\"-c\","
            "\"grep -E '^(NoNewPrivs|Seccomp|CapEff):' /proc/self/status; id -u; "
            "echo '{\\\"ok\\\": true}' > output.json\"]}";
        struct job_spec *job = job_spec_parse(canary, strlen(canary), NULL, &err);
        struct executor_opts opts;
        executor_opts_defaults(&opts);
        opts.owner = "ralph-exec/doctor";
        if (job != NULL && operator_policy_apply(&policy, job, &opts, &err) == 0) {
            struct job_result res;
            job_result_init(&res);
            executor_run(dc, job, &opts, &res);
            const char *out = res.out[0].data ? res.out[0].data : "";
            bool ran = res.status == JOB_SUCCESS;
            check(&r, "canary job", true, ran, "run it by hand: ralph-exec examples/demo.json",
                  "%s in %lld ms%s%s", job_status_name(res.status), res.duration_ms,
                  res.error ? ": " : "", res.error ? res.error : "");
            if (ran) {
                check(&r, "no-new-privileges", true, strstr(out, "NoNewPrivs:\t1") != NULL,
                      "use a kernel of 4.10 or newer", "%s",
                      strstr(out, "NoNewPrivs:\t1") ? "on in the job" : "off in the job");
                check(&r, "seccomp filter", true, strstr(out, "Seccomp:\t2") != NULL,
                      "use an engine and kernel with seccomp", "%s",
                      strstr(out, "Seccomp:\t2") ? "filtering in the job" : "not filtering");
                check(&r, "capabilities", true, strstr(out, "CapEff:\t0000000000000000") != NULL,
                      "report this: CapDrop ALL was not applied", "%s",
                      strstr(out, "CapEff:\t0000000000000000") ? "none in the job"
                                                               : "the job has capabilities");
                check(&r, "job user", true, strstr(out, "\n65534\n") != NULL,
                      "report this: the job did not run as 65534", "%s",
                      strstr(out, "\n65534\n") ? "uid 65534" : "not uid 65534");
            }
            if (res.container_id != NULL) {
                cleanup_free char *cpath = xasprintf("/containers/%s/json", res.container_id);
                struct json_object *gone = docker_client_get_json(dc, cpath, &err);
                bool removed = gone == NULL && err != NULL && err->http_status == 404;
                check(&r, "canary cleaned up", true, removed,
                      "remove it: docker rm -fv <id>; check the engine's log", "container %.12s %s",
                      res.container_id, removed ? "and its volume removed" : "still present");
                rx_error_free(&err);
                if (gone)
                    json_object_put(gone);
            }
            job_result_free(&res);
        } else {
            check(&r, "canary job", true, false, "fix the policy", "%s",
                  err ? err->msg : "rejected");
            rx_error_free(&err);
        }
        job_spec_free(job);
    }

out:
    free(ipath);
    free(sock);
    docker_client_free(dc);
    operator_policy_free(&policy);
    if (json) {
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "ok", json_object_new_boolean(!r.failed));
        json_object_object_add(o, "checks", r.checks);
        printf("%s\n", rx_json_compact(o));
        json_object_put(o);
    } else {
        printf("%s\n", r.failed ? "doctor: some required checks failed"
                                : "doctor: all required checks passed");
        json_object_put(r.checks);
    }
    return r.failed ? 1 : 0;
}
