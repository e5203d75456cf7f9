/* SPDX-License-Identifier: MIT */
/* The engine client against a fake daemon on a unix socket: version
 * negotiation, error bodies, body caps, the exact shape of the create
 * request, and feeding a job's stdin over attach.  (The real engine is
 * exercised by tests/integration.) */
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <curl/curl.h>

#include "executor/docker_attach.h"
#include "executor/docker_client.h"
#include "executor/docker_container.h"
#include "executor/executor.h"
#include "executor/job_spec.h"
#include "executor/rx_json.h"
#include "executor/rx_util.h"
#include "executor/container_spec.h"
#include "executor/docker_errors.h"
#include "tests/lib/tap.h"

#define JOB_T1 "{\"task_id\":\"t1\",\"command\":[\"true\"]}"
/* GET /version of a Docker 20.10 engine. */
#define ENGINE_2010 "{\"Version\":\"20.10.24\",\"ApiVersion\":\"1.41\",\"MinAPIVersion\":\"1.12\"}"
/* The Server header of GET /_ping from Docker 20.10 and Podman 4.3. */
#define SERVER_2010 "Docker/20.10.24 (linux)"
#define SERVER_PODMAN "Libpod/4.3.1 (linux)"
static char sock_path[108];
static char log_path[128];

/* Listen on sock_path and fork: the parent gets the child's pid, the child
 * (0) the listening socket in *s. */
static pid_t
fake_fork(int *s)
{
    unlink(sock_path);
    *s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, sock_path);
    if (bind(*s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(*s, 8) < 0) {
        perror("fake daemon");
        exit(1);
    }
    pid_t pid = fork();
    if (pid != 0)
        close(*s);
    return pid;
}

/* Serve the canned replies in order (keep-alive: several per connection),
 * appending each request (head and body) to log_path. */
static pid_t
fake_daemon(const char *const *replies, size_t n)
{
    int s;
    pid_t pid = fake_fork(&s);
    if (pid != 0)
        return pid;
    FILE *log = fopen(log_path, "w");
    size_t next = 0;
    while (next < n) {
        int c = accept(s, NULL, NULL);
        if (c < 0)
            _exit(1);
        static char buf[1 << 20];
        size_t len = 0;
        for (;;) {
            ssize_t r = read(c, buf + len, sizeof(buf) - 1 - len);
            if (r <= 0)
                break;
            len += (size_t)r;
            buf[len] = '\0';
            char *end;
            while ((end = strstr(buf, "\r\n\r\n")) != NULL) {
                size_t head = (size_t)(end - buf) + 4;
                size_t body = 0;
                char *cl = strcasestr(buf, "Content-Length:");
                if (cl && cl < end)
                    body = strtoul(cl + 15, NULL, 10);
                if (len < head + body)
                    break;
                fwrite(buf, 1, head + body, log);
                fputs("\n=====\n", log);
                fflush(log);
                const char *rep = next < n ? replies[next++] : "HTTP/1.1 500 X\r\n\r\n";
                ssize_t w = write(c, rep, strlen(rep));
                (void)w;
                memmove(buf, buf + head + body, len - head - body);
                len -= head + body;
                buf[len] = '\0';
                if (next == n)
                    break;
            }
            if (next == n)
                break;
        }
        close(c);
    }
    fclose(log);
    _exit(0);
}

static char *
reply(int status, const char *body)
{
    return xasprintf("HTTP/1.1 %d X\r\nContent-Type: application/json\r\nApi-Version: 1.41\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     status, strlen(body), body);
}

/* A reply to GET /_ping: its headers (NULL: left out), an empty body. */
static char *
ping_reply(const char *api, const char *server)
{
    return xasprintf("HTTP/1.1 200 OK\r\n%s%s%s%s%s%sContent-Length: 2\r\n\r\nOK",
                     api ? "Api-Version: " : "", api ? api : "", api ? "\r\n" : "",
                     server ? "Server: " : "", server ? server : "", server ? "\r\n" : "");
}

static char *
read_log(void)
{
    FILE *f = fopen(log_path, "r");
    if (!f)
        return xstrdup("");
    char *b = xcalloc(1, 1 << 20);
    size_t n = fread(b, 1, (1 << 20) - 1, f);
    b[n] = '\0';
    fclose(f);
    return b;
}

/* Connect to a fake engine that answers GET /_ping with these headers and,
 * when version_body is not NULL, GET /version with it. */
static struct docker_client *
connect_with(const char *api, const char *server, const char *version_body, struct rx_error **err,
             pid_t *pid)
{
    char *r0 = ping_reply(api, server);
    char *r1 = version_body ? reply(200, version_body) : NULL;
    const char *reps[] = {r0, r1};
    *pid = fake_daemon(reps, version_body ? 2 : 1);
    char host[160];
    snprintf(host, sizeof(host), "unix://%s", sock_path);
    struct docker_client *dc = docker_client_new(host, -1, err);
    waitpid(*pid, NULL, 0);
    free(r0);
    free(r1);
    return dc;
}

static void
negotiation(void)
{
    struct rx_error *err = NULL;
    pid_t pid;
    struct docker_client *dc = connect_with("1.41", SERVER_2010, NULL, &err, &pid);
    ok(dc && strcmp(dc->api_version, "1.41") == 0, "20.10 engine: speak 1.41");
    ok(dc && strcmp(dc->engine_version, "20.10.24") == 0 && !dc->podman,
       "engine version recorded from the ping's Server header");
    cleanup_free char *log = read_log();
    like(log, "GET /_ping HTTP/1.1", "negotiation uses unversioned GET /_ping");
    ok(strstr(log, "/version") == NULL, "and no GET /version (dockerd runs runc for it)");
    docker_client_free(dc);

    dc = connect_with("1.45", "Docker/26.1.5+dfsg1 (linux)", NULL, &err, &pid);
    ok(dc && strcmp(dc->api_version, "1.45") == 0 &&
           strcmp(dc->engine_version, "26.1.5+dfsg1") == 0,
       "26.1 engine: speak 1.45");
    docker_client_free(dc);

    dc = connect_with("1.52", "Docker/29.0.0 (linux)", NULL, &err, &pid);
    ok(dc && strcmp(dc->api_version, DOCKER_CLIENT_MAX_API) == 0,
       "29.0 engine: speak our max " DOCKER_CLIENT_MAX_API);
    docker_client_free(dc);

    dc = connect_with("1.40", "Docker/19.03 (linux)", NULL, &err, &pid);
    ok(dc == NULL && err && strstr(err->msg, "too old"), "engine below 1.41 refused");
    rx_error_free(&err);

    dc = connect_with("1.41", SERVER_PODMAN, NULL, &err, &pid);
    ok(dc && dc->podman && strcmp(dc->engine_version, "4.3.1") == 0,
       "Podman recognised from the ping's Server header");
    docker_client_free(dc);

    dc = connect_with("banana", SERVER_2010, NULL, &err, &pid);
    ok(dc == NULL && err && strstr(err->msg, "unreadable API version"), "garbage version refused");
    rx_error_free(&err);

    /* A ping that does not say enough: GET /version decides, with its
     * minimum checked. */
    dc = connect_with("1.41", NULL, ENGINE_2010, &err, &pid);
    ok(dc && strcmp(dc->api_version, "1.41") == 0 && strcmp(dc->engine_version, "20.10.24") == 0,
       "no Server header: negotiated from GET /version");
    docker_client_free(dc);
    dc = connect_with(NULL, "Something/1.0", ENGINE_2010, &err, &pid);
    ok(dc && strcmp(dc->api_version, "1.41") == 0, "an unknown server: GET /version");
    docker_client_free(dc);
    dc = connect_with(NULL, NULL,
                      "{\"Version\":\"99\",\"ApiVersion\":\"1.60\",\"MinAPIVersion\":\"1.50\"}",
                      &err, &pid);
    ok(dc == NULL && err && strstr(err->msg, "requires API 1.50"),
       "engine whose minimum is above our maximum refused (GET /version)");
    rx_error_free(&err);
    dc = connect_with(NULL, NULL,
                      "{\"Version\":\"4.3.1\",\"ApiVersion\":\"1.41\",\"MinAPIVersion\":\"1.24\","
                      "\"Components\":[{\"Name\":\"Podman Engine\"}]}",
                      &err, &pid);
    ok(dc && dc->podman, "Podman recognised from GET /version's Components");
    docker_client_free(dc);

    char v[16];
    bool pm = true;
    ok(docker_server_header_parse("Docker/20.10.24+dfsg1 (linux)", v, sizeof(v), &pm) == 0 &&
           strcmp(v, "20.10.24+dfsg1") == 0 && !pm,
       "Server header: Docker's version");
    ok(docker_server_header_parse("Docker/ (linux)", v, sizeof(v), &pm) < 0 &&
           docker_server_header_parse("nginx/1.22", v, sizeof(v), &pm) < 0 &&
           docker_server_header_parse("Docker/123456789012345678 (linux)", v, sizeof(v), &pm) < 0 &&
           docker_server_header_parse(NULL, v, sizeof(v), &pm) < 0 &&
           docker_server_header_parse("Docker/1.0\x1b[2J (linux)", v, sizeof(v), &pm) < 0,
       "Server header: empty, foreign, too long, odd or missing versions refused");

    /* An error reply carries the engine's message. */
    char *r = reply(500, "{\"message\":\"daemon on fire\"}");
    const char *reps[] = {r};
    pid = fake_daemon(reps, 1);
    char host[160];
    snprintf(host, sizeof(host), "unix://%s", sock_path);
    dc = docker_client_new(host, -1, &err);
    waitpid(pid, NULL, 0);
    ok(dc == NULL && err && strstr(err->msg, "daemon on fire") && err->http_status == 500,
       "engine's {\"message\"} and status carried into the error");
    rx_error_free(&err);
    free(r);

    /* A reply larger than its cap is cut, not swallowed whole. */
    size_t big = 400 << 10;
    char *huge = xmalloc(big + 1);
    memset(huge, ' ', big);
    huge[big] = '\0';
    huge[0] = '{';
    huge[big - 1] = '}';
    r = reply(200, huge);
    char *ping = ping_reply("1.41", NULL);
    const char *reps2[] = {ping, r};
    pid = fake_daemon(reps2, 2);
    dc = docker_client_new(host, -1, &err);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    ok(dc == NULL && err != NULL, "oversized /version reply refused (cap 256 KiB)");
    rx_error_free(&err);
    free(r);
    free(ping);
    free(huge);
}

static void
pure(void)
{
    ok(docker_version_cmp("1.9", "1.10") < 0, "1.9 < 1.10 (numeric, not strcmp)");
    ok(docker_version_cmp("1.41", "1.41") == 0, "1.41 == 1.41");
    ok(docker_version_cmp("2.0", "1.99") > 0, "2.0 > 1.99");
    int a, b;
    ok(docker_version_parse("1.41", &a, &b) == 0 && a == 1 && b == 41, "parse 1.41");
    ok(docker_version_parse("1.", &a, &b) < 0, "parse '1.' fails");
    ok(docker_version_parse("v1.41", &a, &b) < 0, "parse 'v1.41' fails");
    ok(docker_version_parse("1.41.2", &a, &b) < 0, "parse '1.41.2' fails");
    char out[16];
    ok(docker_version_negotiate("1.43", NULL, out, NULL) == 0 && strcmp(out, "1.43") == 0,
       "1.43 engine without a minimum: 1.43");

    struct rx_error *err = NULL;
    char *s = docker_client_socket_from_host(NULL, &err);
    is_str(s, "/var/run/docker.sock", "default socket");
    free(s);
    s = docker_client_socket_from_host("unix:///run/podman/podman.sock", &err);
    is_str(s, "/run/podman/podman.sock", "unix:// honoured");
    free(s);
    s = docker_client_socket_from_host("tcp://10.0.0.1:2375", &err);
    ok(s == NULL && err && strstr(err->msg, "only unix://"), "tcp:// refused");
    rx_error_free(&err);
    s = docker_client_socket_from_host("unix://relative.sock", &err);
    ok(s == NULL && err && strstr(err->msg, "absolute"), "relative unix path refused");
    rx_error_free(&err);
    /* A missing socket is named in the error. */
    struct docker_client *dc = docker_client_new("unix:///nonexistent/docker.sock", -1, &err);
    ok(dc == NULL && err && strstr(err->msg, "no socket at /nonexistent/docker.sock"),
       "missing socket named");
    rx_error_free(&err);
}

static void
create_shape(void)
{
    struct rx_error *err = NULL;
    char *r0 = ping_reply("1.41", SERVER_2010);
    char *r1 = reply(201, "{\"Id\":\"abc123\",\"Warnings\":[\"Your kernel does not support swap "
                          "limit capabilities\"]}");
    char *r2 = xasprintf("HTTP/1.1 204 No Content\r\n\r\n");
    const char *reps[] = {r0, r1, r2};
    pid_t pid = fake_daemon(reps, 3);
    char host[160];
    snprintf(host, sizeof(host), "unix://%s", sock_path);
    struct docker_client *dc = docker_client_new(host, -1, &err);
    ok(dc != NULL, "client connects to the fake daemon");
    struct job_spec *job = job_spec_parse(JOB_T1, strlen(JOB_T1), NULL, &err);
    struct container_spec_opts so = {.owner = "test-owner",
                                     .deadline_s = 123,
                                     .tmp_bytes = 1 << 20,
                                     .shm_bytes = 1 << 20,
                                     .uid = 1000000007};
    struct json_object *body = container_spec_create_body(job, &so);
    char *id = dc ? docker_container_create(dc, "ralph-test", body, &err) : NULL;
    waitpid(pid, NULL, 0);
    ok(id == NULL && err && strstr(err->msg, "swap limit"),
       "a create warning fails the job instead of running it unbounded");
    rx_error_free(&err);
    cleanup_free char *log = read_log();
    like(log, "POST /v1.41/containers/create?name=ralph-test HTTP/1.1",
         "create is versioned and names the container");
    like(log, "Content-Type: application/json", "create has an explicit Content-Type");
    like(log, "\"ReadonlyRootfs\":true", "body: read-only rootfs");
    like(log, "\"CapDrop\":[\"ALL\"]", "body: all capabilities dropped");
    like(log, "\"NetworkMode\":\"none\"", "body: no network");
    like(log, "\"User\":\"65534:65534\"", "body: the holder runs as 65534, never as the job");
    like(log, "\"Cmd\":[\"sleep\",\"", "body: the holder, sleep, is the main process");
    like(log,
         "\"Mounts\":[{\"Type\":\"volume\",\"Target\":\"/workspace\",\"ReadOnly\":false,"
         "\"VolumeOptions\":{\"DriverConfig\":{\"Name\":\"local\",\"Options\":{\"type\":"
         "\"tmpfs\",\"device\":\"tmpfs\",\"o\":\"size=",
         "body: the workspace is a tmpfs volume of the local driver");
    like(log, "uid=1000000007,gid=1000000007,mode=0700,nosuid,nodev",
         "body: ... owned by the job's uid");
    like(log, "\"AutoRemove\":false", "body: no AutoRemove");
    like(log, "\"LogConfig\":{\"Type\":\"none\"", "body: the engine keeps no log");
    like(log, "\"ralph.owner\":\"test-owner\"", "body: owner label");
    ok(strstr(log, "Binds") == NULL, "body: no bind mounts");
    like(log, "DELETE /v1.41/containers/abc123?force=1&v=1", "the warned container is removed");
    json_object_put(body);
    job_spec_free(job);
    docker_client_free(dc);
    free(r0);
    free(r1);
    free(r2);
}

/* GET /info's MemTotal, the worker's default memory budget; a reply
 * without one is an error, not a budget of 0 (which would mean off). */
static void
memory_shape(void)
{
    char *r0 = ping_reply("1.41", SERVER_2010);
    char *r1 = reply(200, "{\"MemTotal\":25276157952,\"NCPU\":2}");
    char *r2 = reply(200, "{\"NCPU\":2}");
    const char *reps[] = {r0, r1, r2};
    pid_t pid = fake_daemon(reps, 3);
    char host[160];
    snprintf(host, sizeof(host), "unix://%s", sock_path);
    struct rx_error *err = NULL;
    struct docker_client *dc = docker_client_new(host, -1, &err);
    long long total = 0;
    ok(dc && docker_client_memory(dc, &total, &err) == 0 && total == 25276157952LL,
       "memory: MemTotal of GET /info");
    total = 0;
    ok(dc && docker_client_memory(dc, &total, &err) < 0 && total == 0 && err &&
           strstr(err->msg, "MemTotal"),
       "memory: a reply without MemTotal is an error naming it");
    waitpid(pid, NULL, 0);
    rx_error_free(&err);
    cleanup_free char *log = read_log();
    like(log, "GET /v1.41/info HTTP/1.1", "memory: asks GET /info, versioned");
    docker_client_free(dc);
    free(r0);
    free(r1);
    free(r2);
}

/* An engine without runsc: a gVisor job fails as infra_error saying how to
 * install and register it (no engine here needs to lack it for real). */
static void
no_gvisor(void)
{
    struct rx_error *err = NULL;
    char *r0 = ping_reply("1.41", SERVER_2010);
    char *r1 = reply(400, "{\"message\":\"Unknown runtime specified runsc\"}");
    const char *reps[] = {r0, r1};
    pid_t pid = fake_daemon(reps, 2);
    char host[160];
    snprintf(host, sizeof(host), "unix://%s", sock_path);
    struct docker_client *dc = docker_client_new(host, -1, &err);
    const char *j = "{\"task_id\":\"g1\",\"sandbox\":\"gvisor\",\"command\":[\"true\"]}";
    struct job_spec *job = job_spec_parse(j, strlen(j), NULL, &err);
    struct executor_opts opts;
    executor_opts_defaults(&opts);
    struct job_result res;
    job_result_init(&res);
    if (dc != NULL && job != NULL)
        executor_run(dc, job, &opts, &res);
    waitpid(pid, NULL, 0);
    ok(res.status == JOB_INFRA_ERROR && res.error && strstr(res.error, "install") &&
           strstr(res.error, "runsc") && strstr(res.error, "daemon.json") &&
           strstr(res.error, "--network=none"),
       "no runsc: infra_error saying how to install and register it");
    if (res.error)
        diag("  %s", res.error);
    cleanup_free char *log = read_log();
    like(log, "\"Runtime\":\"runsc\"", "a gvisor job asks the engine for runsc");
    job_result_free(&res);
    job_spec_free(job);
    docker_client_free(dc);
    free(r0);
    free(r1);
}

#define PODMAN_VERSION                                                           \
    "{\"Version\":\"4.3.1\",\"ApiVersion\":\"1.41\",\"MinAPIVersion\":\"1.24\"," \
    "\"Components\":[{\"Name\":\"Podman Engine\"}]}"

/* The ulimit named name in a create body's HostConfig, or NULL. */
static struct json_object *
find_ulimit(struct json_object *body, const char *name)
{
    struct json_object *ul = rx_json_get(rx_json_get(body, "HostConfig"), "Ulimits");
    for (size_t i = 0; ul && i < json_object_array_length(ul); i++) {
        struct json_object *u = json_object_array_get_idx(ul, i);
        const char *n = rx_json_get_str(u, "Name");
        if (n && strcmp(n, name) == 0)
            return u;
    }
    return NULL;
}

static struct job_spec *
parse_job(const char *text)
{
    struct rx_error *err = NULL;
    struct job_spec *job = job_spec_parse(text, strlen(text), NULL, &err);
    rx_error_free(&err);
    return job;
}

/* Whether two jobs fit the same warm sandbox: equal keys (uid 1000000009). */
static bool
same_key(const char *a, const char *b)
{
    struct container_spec_opts so = {.owner = "o",
                                     .tmp_bytes = 1 << 20,
                                     .shm_bytes = 1 << 20,
                                     .uid = 1000000009};
    cleanup_job_spec struct job_spec *ja = parse_job(a);
    cleanup_job_spec struct job_spec *jb = parse_job(b);
    if (ja == NULL || jb == NULL)
        return false;
    cleanup_free char *ka = container_spec_warm_key(ja, &so);
    cleanup_free char *kb = container_spec_warm_key(jb, &so);
    return strcmp(ka, kb) == 0;
}

/* The warm pool's decisions (executor.h): which jobs fit a sandbox made for
 * another, and the update that gives a job its limits. */
static void
warm_shapes(void)
{
    const char *code = "{\"task_id\":\"a\",\"code\":\"x = 1\"}";
    const char *cmd = "{\"task_id\":\"b\",\"command\":[\"true\"],\"timeout\":5}";
    ok(same_key(code, cmd), "a code job and a command job with the defaults fit one sandbox");
    ok(same_key(code, "{\"task_id\":\"c\",\"command\":[\"true\"],\"memory_limit\":\"512m\","
                      "\"workspace_limit\":\"128m\",\"pids_limit\":9,\"cpu_limit\":0.5}"),
       "runc: memory, CPU and pids differ, the workspace is the same: it fits (update)");
    ok(!same_key(code, "{\"task_id\":\"c\",\"code\":\"x\",\"memory_limit\":\"512m\"}"),
       "a workspace of another size (half the memory by default) does not fit");
    ok(!same_key(code, "{\"task_id\":\"c\",\"code\":\"x\",\"file_size_limit\":\"1m\"}"),
       "another file size rlimit does not fit");
    ok(!same_key(code, "{\"task_id\":\"c\",\"code\":\"x\",\"runtime\":\"other:1\"}"),
       "another image does not fit");
    ok(!same_key("{\"task_id\":\"a\",\"code\":\"x\",\"sandbox\":\"gvisor\"}", code),
       "another runtime does not fit");
    ok(!same_key("{\"task_id\":\"a\",\"code\":\"x\",\"sandbox\":\"gvisor\"}",
                 "{\"task_id\":\"a\",\"code\":\"x\",\"sandbox\":\"gvisor\",\"pids_limit\":9}"),
       "gVisor (no update): another pids limit does not fit");
    ok(same_key("{\"task_id\":\"a\",\"code\":\"x\",\"sandbox\":\"gvisor\"}",
                "{\"task_id\":\"b\",\"command\":[\"true\"],\"sandbox\":\"gvisor\"}"),
       "gVisor: the same limits fit");

    cleanup_job_spec struct job_spec *job = parse_job(
        "{\"task_id\":\"c\",\"command\":[\"true\"],\"memory_limit\":\"300m\",\"workspace_limit\":\"128m\","
        "\"pids_limit\":9}");
    cleanup_json struct json_object *u = container_spec_update_body(job);
    ok(json_object_get_int64(rx_json_get(u, "Memory")) == 300 << 20 &&
           json_object_get_int64(rx_json_get(u, "MemorySwap")) == 300 << 20 &&
           json_object_get_int64(rx_json_get(u, "NanoCpus")) == 1000000000 &&
           json_object_get_int64(rx_json_get(u, "PidsLimit")) == 9 &&
           json_object_object_length(u) == 4,
       "update: the job's memory (no swap), CPU and pids, nothing else");

    /* executor_warm_fits: the key, and the sandbox's deadline. */
    struct executor_opts o;
    executor_opts_defaults(&o);
    o.owner = "o";
    cleanup_job_spec struct job_spec *tmpl = parse_job(code);
    struct container_spec_opts so = {.owner = "o",
                                     .tmp_bytes = o.tmp_bytes,
                                     .shm_bytes = o.shm_bytes,
                                     .uid = 1000000009};
    struct warm_sandbox ws = {.uid = 1000000009,
                              .deadline_s = rx_wall_s() + 3600 + 300,
                              .key = container_spec_warm_key(tmpl, &so)};
    ok(executor_warm_fits(&ws, job, &o, false), "a job that fits, within the sandbox's deadline");
    cleanup_job_spec struct job_spec *slow =
        parse_job("{\"task_id\":\"c\",\"command\":[\"true\"],\"timeout\":599}");
    ws.deadline_s = rx_wall_s() + 600;
    ok(!executor_warm_fits(&ws, slow, &o, false),
       "a job that would outlive the sandbox's deadline does not");
    ws.deadline_s = rx_wall_s() + 599 + 300 + 60;
    ok(executor_warm_fits(&ws, slow, &o, false), "... and fits a sandbox that lives long enough");
    cleanup_job_spec struct job_spec *slower =
        parse_job("{\"task_id\":\"c\",\"command\":[\"true\"],\"timeout\":601}");
    ws.deadline_s = rx_wall_s() + 86400;
    ok(!executor_warm_fits(&ws, slower, &o, false),
       "a job longer than WARM_JOB_TIMEOUT_S never fits (the holder's deadline bounds it)");
    cleanup_job_spec struct job_spec *reqs =
        parse_job("{\"task_id\":\"c\",\"code\":\"x\",\"requirements\":[\"six\"]}");
    ok(reqs && !executor_warm_fits(&ws, reqs, &o, false),
       "a job with requirements (its own image) does not");
    /* A sandbox made for a code job has its harness exec'd: only code jobs
     * whose exec would have been the same fit. */
    cleanup_json struct json_object *eb = container_spec_exec_body(tmpl, &so);
    ws.exec_key = xstrdup(rx_json_compact(eb));
    cleanup_job_spec struct job_spec *code2 = parse_job("{\"task_id\":\"d\",\"code\":\"y = 2\"}");
    ok(executor_warm_fits(&ws, code2, &o, false),
       "harness: another code job with the same env fits");
    ok(!executor_warm_fits(&ws, job, &o, false), "harness: a command job does not");
    cleanup_job_spec struct job_spec *env =
        parse_job("{\"task_id\":\"d\",\"code\":\"y\",\"env\":{\"A\":\"1\"}}");
    ok(env && !executor_warm_fits(&ws, env, &o, false),
       "harness: a code job with its own env does not");
    cleanup_job_spec struct job_spec *outp =
        parse_job("{\"task_id\":\"d\",\"code\":\"y\",\"output_path\":\"out/r.json\"}");
    ok(outp && !executor_warm_fits(&ws, outp, &o, false),
       "harness: a code job with another output file does not");
    /* --warm-preload: its harness imported modules before it waited (an
     * argv element of its exec, absent from every cold one); only a code
     * job whose own files or PYTHONPATH could not have shadowed one fits. */
    cleanup_json struct json_object *cold = container_spec_exec_body(code2, &so);
    so.preload = "numpy,json";
    cleanup_json struct json_object *pre = container_spec_exec_body(tmpl, &so);
    struct json_object *argv = rx_json_get(pre, "Cmd");
    ok(json_object_array_length(argv) == 8 &&
           strcmp(json_object_get_string(json_object_array_get_idx(argv, 7)), "numpy,json") == 0 &&
           json_object_array_length(rx_json_get(cold, "Cmd")) == 7,
       "preload: the harness's last argv element, and a cold exec has none");
    free(ws.exec_key);
    ws.exec_key = xstrdup(rx_json_compact(pre));
    ws.preload = xstrdup(so.preload);
    cleanup_job_spec struct job_spec *files =
        parse_job("{\"task_id\":\"d\",\"code\":\"y\",\"files\":{\"numpy.py\":\"x = 1\"}}");
    cleanup_job_spec struct job_spec *ppath =
        parse_job("{\"task_id\":\"d\",\"code\":\"y\",\"env\":{\"PYTHONPATH\":\"lib\"}}");
    ok(executor_warm_preloadable(code2) && !executor_warm_preloadable(files) &&
           !executor_warm_preloadable(ppath) && !executor_warm_preloadable(job),
       "preloadable: a code job without files or PYTHONPATH; not one with, nor a command job");
    ok(executor_warm_fits(&ws, code2, &o, false), "preload: a code job without files fits");
    ok(files && !executor_warm_fits(&ws, files, &o, false),
       "preload: a code job with files (one could shadow a module cold) does not");
    ok(ppath && !executor_warm_fits(&ws, ppath, &o, false),
       "preload: a code job with PYTHONPATH does not");
    ok(!executor_warm_fits(&ws, job, &o, false), "preload: a command job does not");
    free(steal_pointer(&ws.preload));
    ok(!executor_warm_fits(&ws, code2, &o, false),
       "a sandbox that did not preload the same modules does not fit");
    free(ws.exec_key);
    ws.exec_key = xstrdup(rx_json_compact(cold));
    ok(executor_warm_fits(&ws, code2, &o, false) && executor_warm_fits(&ws, files, &o, false),
       "without a preload, code jobs with and without files fit alike");
    o.seccomp_strict = true;
    ok(!executor_warm_fits(&ws, code2, &o, false), "under another seccomp profile it does not");
    executor_warm_free(&ws);
}

/* What changes on Podman: the create body, the refusals, the OOM reading and
 * the remedies put in front of its errors. */
static void
podman_shapes(void)
{
    struct rx_error *err = NULL;
    struct job_spec *job = job_spec_parse(JOB_T1, strlen(JOB_T1), NULL, &err);
    struct container_spec_opts so = {.owner = "o",
                                     .deadline_s = 1,
                                     .tmp_bytes = 1 << 20,
                                     .shm_bytes = 1 << 20};

    /* Docker: no nproc (per-uid, host-wide) and no tmpfs but /tmp. */
    struct json_object *body = container_spec_create_body(job, &so);
    struct json_object *tmpfs = rx_json_get(rx_json_get(body, "HostConfig"), "Tmpfs");
    ok(find_ulimit(body, "nproc") == NULL, "Docker: no nproc ulimit");
    ok(tmpfs && json_object_object_length(tmpfs) == 1, "Docker: /tmp is the only tmpfs");
    ok(container_spec_engine_check(job, &so, &err) == 0, "Docker: the job may run");
    json_object_put(body);

    so.podman = true;
    body = container_spec_create_body(job, &so);
    struct json_object *np = find_ulimit(body, "nproc");
    ok(np && json_object_get_int64(rx_json_get(np, "Soft")) == SANDBOX_PODMAN_NPROC &&
           json_object_get_int64(rx_json_get(np, "Hard")) == SANDBOX_PODMAN_NPROC,
       "Podman: an explicit nproc (Soft = Hard = %d), so start does not fail",
       SANDBOX_PODMAN_NPROC);
    ok(find_ulimit(body, "nofile") != NULL, "Podman: an explicit nofile");
    tmpfs = rx_json_get(rx_json_get(body, "HostConfig"), "Tmpfs");
    const char *run = rx_json_get_str(tmpfs, "/run"), *vtmp = rx_json_get_str(tmpfs, "/var/tmp");
    ok(run && strncmp(run, "ro,", 3) == 0 && strstr(run, "noexec"),
       "Podman: /run declared read-only (not Podman's writable tmpfs)");
    ok(vtmp && strncmp(vtmp, "ro,", 3) == 0, "Podman: /var/tmp declared read-only");
    ok(strncmp(rx_json_get_str(tmpfs, "/tmp"), "rw,", 3) == 0, "Podman: /tmp stays writable");
    ok(container_spec_engine_check(job, &so, &err) == 0, "Podman: a runc job may run");
    json_object_put(body);

    so.seccomp = "{\"defaultAction\":\"SCMP_ACT_ERRNO\"}";
    ok(container_spec_engine_check(job, &so, &err) < 0 && err && strstr(err->msg, "seccomp") &&
           strstr(err->msg, "Podman") && err->kind == RX_ERR_INFRA,
       "Podman: the strict seccomp profile is refused as an infra error");
    rx_error_free(&err);
    so.seccomp = NULL;
    const char *gj = "{\"task_id\":\"g\",\"sandbox\":\"gvisor\",\"command\":[\"true\"]}";
    struct job_spec *gjob = job_spec_parse(gj, strlen(gj), NULL, &err);
    ok(gjob && container_spec_engine_check(gjob, &so, &err) < 0 && err &&
           strstr(err->msg, "gvisor"),
       "Podman: a gVisor job is refused");
    rx_error_free(&err);
    job_spec_free(gjob);
    job_spec_free(job);

    /* A missing catatonit: the remedy comes first, the engine's text stays. */
    char *r0 = ping_reply("1.41", SERVER_PODMAN);
    char *r1 = reply(500, "{\"cause\":\"no such file or directory\",\"message\":\"container-init "
                          "binary not found on the host: stat /usr/libexec/podman/catatonit: no "
                          "such file or directory\",\"response\":500}");
    const char *reps[] = {r0, r1};
    pid_t pid = fake_daemon(reps, 2);
    char host[160];
    snprintf(host, sizeof(host), "unix://%s", sock_path);
    struct docker_client *dc = docker_client_new(host, -1, &err);
    job = job_spec_parse(JOB_T1, strlen(JOB_T1), NULL, &err);
    so.podman = true;
    body = container_spec_create_body(job, &so);
    char *id = dc ? docker_container_create(dc, "ralph-pm", body, &err) : NULL;
    waitpid(pid, NULL, 0);
    const struct docker_error_context pctx = {.call = DOCKER_CALL_CREATE, .podman = true};
    ok(docker_error_explain(&err, &pctx) == DOCKER_ERROR_PODMAN_NO_INIT,
       "Podman without catatonit: the reply's text is read as such");
    ok(id == NULL && err && strstr(err->msg, "apt-get install catatonit") &&
           strstr(err->msg, "container-init binary not found"),
       "Podman without catatonit: the error says to install it, and keeps Podman's text");
    if (err)
        diag("  %s", err->msg);
    rx_error_free(&err);
    cleanup_free char *log = read_log();
    like(log, "\"Name\":\"nproc\",\"Soft\":32768,\"Hard\":32768",
         "the request to Podman carries the nproc ulimit");
    like(log, "\"/run\":\"ro,noexec,nosuid,nodev,size=1048576\"",
         "the request to Podman declares /run read-only");
    json_object_put(body);
    job_spec_free(job);
    docker_client_free(dc);
    free(r0);
    free(r1);
}

/* The late OOM notice: the events query names the container and the "oom"
 * event, and an event, no event and a refusal are told apart. */
#define CREATED "2026-11-22T05:50:00.123456789Z"

static void
oom_event_shape(void)
{
    struct rx_error *err = NULL;
    char *r0 = ping_reply("1.41", SERVER_2010);
    char *r1 = reply(200, "{\"status\":\"oom\",\"id\":\"abc123\",\"Type\":\"container\","
                          "\"Action\":\"oom\"}\n");
    char *r2 = reply(200, "");
    char *r3 = reply(400, "{\"message\":\"invalid filter\"}");
    const char *reps[] = {r0, r1, r2, r3};
    pid_t pid = fake_daemon(reps, 4);
    char host[160];
    snprintf(host, sizeof(host), "unix://%s", sock_path);
    struct docker_client *dc = docker_client_new(host, -1, &err);
    ok(dc != NULL, "client connects to the fake daemon");
    ok(dc && docker_container_oom_event(dc, "abc123", CREATED, 50, &err) == 1,
       "an oom event in the window: 1");
    ok(dc && docker_container_oom_event(dc, "abc123", CREATED, 50, &err) == 0,
       "the window passes with no event: 0");
    ok(dc && docker_container_oom_event(dc, "abc123", CREATED, 50, &err) < 0 && err &&
           err->http_status == 400 && strstr(err->msg, "invalid filter"),
       "the engine refuses the query: -1 with its status");
    rx_error_free(&err);
    ok(dc && docker_container_oom_event(dc, "../x", NULL, 50, &err) < 0 && err,
       "a malformed container id never reaches a URL");
    rx_error_free(&err);
    waitpid(pid, NULL, 0);
    cleanup_free char *log = read_log();
    like(log, "GET /v1.41/events?since=1795326599&filters=",
         "events: since a second before the container's creation, in the engine's own time");
    ok(strstr(log, "until=") == NULL, "events: no until from this host's clock");
    like(log, "%22event%22%3A%7B%22oom%22%3Atrue%7D", "events: only oom events");
    like(log, "%22container%22%3A%7B%22abc123%22%3Atrue%7D", "events: only this container");
    docker_client_free(dc);
    free(r0);
    free(r1);
    free(r2);
    free(r3);
}

/* A code job: the harness comes in argv (started before its input is copied
 * in, isolated from the job's PYTHON* variables) and waits for its go-ahead
 * on stdin, so stdin is open and closed once. */
static void
code_job_shape(void)
{
    struct rx_error *err = NULL;
    const char *js = "{\"task_id\":\"c1\",\"code\":\"def calculate(i):\\n    return 1\\n\"}";
    struct job_spec *job = job_spec_parse(js, strlen(js), NULL, &err);
    ok(job != NULL, "a code job parses");
    struct container_spec_opts so = {.owner = "o",
                                     .deadline_s = 1,
                                     .tmp_bytes = 1 << 20,
                                     .shm_bytes = 1 << 20,
                                     .uid = 1000000009};
    cleanup_json struct json_object *body = job ? container_spec_exec_body(job, &so) : NULL;
    struct json_object *cmd = rx_json_get(body, "Cmd");
    size_t hl = (size_t)(harness_py_end - harness_py);
    const char *want[] = {"python3", "-I", "-B", "-u", "-c"};
    bool same = cmd && json_object_array_length(cmd) == 7;
    for (size_t i = 0; same && i < RX_ARRAY_SIZE(want); i++)
        same = strcmp(json_object_get_string(json_object_array_get_idx(cmd, i)), want[i]) == 0;
    struct json_object *src = same ? json_object_array_get_idx(cmd, 5) : NULL;
    ok(same && json_object_get_string_len(src) == (int)hl &&
           memcmp(json_object_get_string(src), harness_py, hl) == 0 &&
           strcmp(json_object_get_string(json_object_array_get_idx(cmd, 6)), job->output_path) == 0,
       "code job: Cmd is python3 -I -B -u -c HARNESS OUTPUT_PATH, the harness byte for byte");
    ok(hl < 65536, "the harness fits one argv element with room to spare (kernel limit 128 KiB)");
    ok(json_object_get_boolean(rx_json_get(body, "AttachStdin")) &&
           strcmp(rx_json_get_str(body, "User"), "1000000009:1000000009") == 0 &&
           strcmp(rx_json_get_str(body, "WorkingDir"), "/workspace") == 0,
       "code job: its exec has stdin for the go-ahead, runs as its uid in /workspace");
    cleanup_json struct json_object *cbody = job ? container_spec_create_body(job, &so) : NULL;
    ok(!json_object_get_boolean(rx_json_get(cbody, "OpenStdin")) &&
           !json_object_get_boolean(rx_json_get(cbody, "AttachStdout")),
       "code job: nothing attaches to the container's holder");
    job_spec_free(job);
}

/* How the fake attach endpoint treats the job's stdin. */
enum feed_peer {
    PEER_READS_SOME,  /* reads 1000 bytes, writes "boom" on stderr, ends its output
                      * but reads no more for 2 s (as dockerd does when the job
                      * exits without reading its stdin) */
    PEER_READS_ALL,   /* reads to EOF, writes "ok" on stdout, closes */
    PEER_NEVER_READS, /* reads nothing for 2 s, then closes */
    PEER_LATE_OUTPUT, /* writes "a\n", then "alive\n" 600 ms later, then closes: output
                       * the engine passes on after the process has gone */
};

/* One connection: the attach upgrade, then the peer's behaviour. */
static pid_t
fake_attach(enum feed_peer peer)
{
    int s;
    pid_t pid = fake_fork(&s);
    if (pid != 0)
        return pid;
    int c = accept(s, NULL, NULL);
    char buf[65536];
    size_t len = 0;
    ssize_t r;
    while (len < sizeof(buf) - 1 && (r = read(c, buf + len, 1)) == 1) {
        len++;
        buf[len] = '\0';
        if (len >= 4 && memcmp(buf + len - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    static const char up[] = "HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\n"
                             "Upgrade: tcp\r\n\r\n";
    static const char boom[] = {2, 0, 0, 0, 0, 0, 0, 5, 'b', 'o', 'o', 'm', '\n'};
    static const char okf[] = {1, 0, 0, 0, 0, 0, 0, 2, 'o', 'k'};
    ssize_t w = write(c, up, sizeof(up) - 1);
    if (peer == PEER_READS_SOME) {
        for (size_t got = 0; got < 1000 && (r = read(c, buf, 1000 - got)) > 0;)
            got += (size_t)r;
        w = write(c, boom, sizeof(boom));
        shutdown(c, SHUT_WR);
        sleep(2);
    } else if (peer == PEER_READS_ALL) {
        while (read(c, buf, sizeof(buf)) > 0)
            ;
        w = write(c, okf, sizeof(okf));
    } else if (peer == PEER_LATE_OUTPUT) {
        static const char a1[] = {1, 0, 0, 0, 0, 0, 0, 2, 'a', '\n'};
        static const char a2[] = {1, 0, 0, 0, 0, 0, 0, 6, 'a', 'l', 'i', 'v', 'e', '\n'};
        w = write(c, a1, sizeof(a1));
        usleep(600000);
        w = write(c, a2, sizeof(a2));
        usleep(100000);
    } else {
        sleep(2);
    }
    (void)w;
    close(c);
    _exit(0);
}

static int
watch_says_gone(void *ud)
{
    ++*(int *)ud;
    return 1;
}

/* The watch says the process has gone while its last output is still on
 * its way (the engine passes it on late when the host is busy): the stream
 * is still read to its end, nothing is lost. */
static void
late_output(void)
{
    struct rx_error *err = NULL;
    pid_t vpid;
    struct docker_client *dc = connect_with("1.41", SERVER_2010, NULL, &err, &vpid);
    pid_t pid = fake_attach(PEER_LATE_OUTPUT);
    struct docker_attach *a = dc ? docker_attach_open(dc, "abc123", false, &err) : NULL;
    struct docker_demux d;
    docker_demux_init(&d, 1024, 1024);
    int asked = 0;
    if (a != NULL)
        docker_attach_watch(a, 100, watch_says_gone, &asked);
    int pr = a ? docker_attach_pump(a, NULL, 0, &d, rx_now_ms() + 5000, &err) : -1;
    ok(asked >= 1, "the watch was asked once the stream was quiet");
    ok(pr == DOCKER_ATTACH_EOF && d.out[0].len == 8 && memcmp(d.out[0].data, "a\nalive\n", 8) == 0,
       "output passed on 500 ms after the watch saw the process gone is kept, to the stream's end");
    rx_error_free(&err);
    docker_demux_free(&d);
    docker_attach_close(a);
    docker_client_free(dc);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* A code job's input goes to the harness's stdin through docker_attach_feed
 * while the output is read: all of it (SENT, stdin left open), or how the
 * stream ended first, never a wait on a peer that has gone. */
static void
feed_shapes(void)
{
    size_t big = 4u << 20;
    char *data = xmalloc(big);
    memset(data, 'x', big);
    enum feed_peer peers[] = {PEER_READS_ALL, PEER_READS_SOME, PEER_NEVER_READS};
    for (size_t i = 0; i < RX_ARRAY_SIZE(peers); i++) {
        struct rx_error *err = NULL;
        pid_t vpid;
        struct docker_client *dc = connect_with("1.41", SERVER_2010, NULL, &err, &vpid);
        pid_t pid = fake_attach(peers[i]);
        struct docker_attach *a = dc ? docker_attach_open(dc, "abc123", true, &err) : NULL;
        struct docker_demux d;
        docker_demux_init(&d, 1024, 1024);
        long long t0 = rx_now_ms();
        size_t n = peers[i] == PEER_READS_ALL ? 100 : big;
        int fr = a ? docker_attach_feed(a, data, n, &d, t0 + 500, &err) : -1;
        long long took = rx_now_ms() - t0;
        int pr = a && fr >= 0 ? docker_attach_pump(a, NULL, 0, &d, t0 + 5000, &err) : -1;
        if (peers[i] == PEER_READS_ALL) {
            ok(fr == DOCKER_ATTACH_SENT, "feed: a peer that reads: all sent, stdin open");
            ok(pr == DOCKER_ATTACH_EOF && d.out[0].len == 2 && memcmp(d.out[0].data, "ok", 2) == 0,
               "feed: then the pump closes stdin and reads the output to the end");
        } else if (peers[i] == PEER_READS_SOME) {
            ok(fr == DOCKER_ATTACH_EOF,
               "feed: a job that exits after 1000 bytes of 4 MiB: EOF when its output ends, "
               "no wait for the deadline");
            ok(pr == DOCKER_ATTACH_EOF && d.out[1].len == 5 &&
                   memcmp(d.out[1].data, "boom\n", 5) == 0,
               "feed: what it wrote before exiting is kept");
        } else {
            ok(fr == DOCKER_ATTACH_DEADLINE && took >= 500,
               "feed: a peer that never reads: DEADLINE, not before the deadline");
        }
        rx_error_free(&err);
        docker_demux_free(&d);
        docker_attach_close(a);
        docker_client_free(dc);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    free(data);
}

int
main(void)
{
    curl_global_init(CURL_GLOBAL_NOTHING);
    char dir[] = "/tmp/ralph-test-XXXXXX";
    if (mkdtemp(dir) == NULL)
        return 1;
    snprintf(sock_path, sizeof(sock_path), "%s/d.sock", dir);
    snprintf(log_path, sizeof(log_path), "%s/requests.log", dir);
    pure();
    negotiation();
    create_shape();
    no_gvisor();
    memory_shape();
    podman_shapes();
    warm_shapes();
    oom_event_shape();
    code_job_shape();
    feed_shapes();
    late_output();
    unlink(sock_path);
    unlink(log_path);
    rmdir(dir);
    curl_global_cleanup();
    return done_testing();
}
