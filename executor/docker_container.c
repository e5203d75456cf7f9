/* SPDX-License-Identifier: MIT */
#include "executor/docker_container.h"

#include "executor/docker_errors.h"

#include <time.h>

#include "executor/limits.h"
#include "executor/rx_json.h"
#include "executor/rx_util.h"

/* Container ids come from the engine, but are still checked before they go
 * into a URL path. */
static bool
valid_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > 128)
        return false;
    for (const char *p = id; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

static int
call(struct docker_client *dc, const char *method, const char *path, struct json_object *body,
     long timeout_ms, bool cancellable, struct docker_resp *resp, struct rx_error **err)
{
    const char *b = body ? rx_json_compact(body) : NULL;
    struct docker_req req = {
        .method = method,
        .path = path,
        .content_type = body ? "application/json"
                             : (strcmp(method, "POST") == 0 ? "application/json" : NULL),
        .body = b,
        .body_len = b ? strlen(b) : 0,
        .resp_cap = LIMIT_ENGINE_INSPECT_BYTES,
        .timeout_ms = timeout_ms,
        .cancellable = cancellable,
    };
    return docker_http_do(dc->http, &req, resp, err);
}

/* The create reply never came (or made no sense): the engine may still have
 * made the container, so remove it, found by name, but only if it is this
 * run's (its ralph.run label, from the body): the name may be another's by
 * now (a uid's name is held by whichever job runs as it). */
static void
remove_by_name(struct docker_client *dc, const char *name, struct json_object *body)
{
    const char *run = rx_json_get_str(rx_json_get(body, "Labels"), "ralph.run");
    if (name == NULL || run == NULL)
        return;
    struct rx_error *e = NULL;
    cleanup_json struct json_object *ins = docker_container_inspect(dc, name, &e);
    rx_error_free(&e);
    const char *id = rx_json_get_str(ins, "Id");
    const char *theirs =
        rx_json_get_str(rx_json_get(rx_json_get(ins, "Config"), "Labels"), "ralph.run");
    if (id != NULL && valid_id(id) && theirs != NULL && strcmp(theirs, run) == 0)
        docker_container_remove(dc, id, NULL);
}

char *
docker_container_create(struct docker_client *dc, const char *name, struct json_object *body,
                        struct rx_error **err)
{
    cleanup_resp struct docker_resp resp = {0};
    cleanup_free char *path = name ? xasprintf("/containers/create?name=%s", name)
                                   : xstrdup("/containers/create");
    if (call(dc, "POST", path, body, 60000, false, &resp, err) < 0) {
        remove_by_name(dc, name, body);
        return NULL;
    }
    if (resp.status != 201) {
        docker_resp_error(&resp, err, "create container");
        return NULL;
    }
    cleanup_json struct json_object *o =
        rx_json_parse(resp.body.data, resp.body.len, "engine reply to create", err);
    if (o == NULL) {
        remove_by_name(dc, name, body);
        return NULL;
    }
    const char *id = rx_json_get_str(o, "Id");
    if (id == NULL || !valid_id(id)) {
        remove_by_name(dc, name, body);
        return rx_error_set(err, EPROTO, "create container: engine reply has no valid Id"), NULL;
    }
    char *cid = xstrdup(id);
    struct json_object *w = rx_json_get(o, "Warnings");
    if (w != NULL && json_object_is_type(w, json_type_array) && json_object_array_length(w) > 0) {
        const char *first = json_object_get_string(json_object_array_get_idx(w, 0));
        struct rx_error *rerr = NULL;
        docker_container_remove(dc, cid, &rerr);
        rx_error_set(err, EPERM,
                     "create container: the engine could not apply every limit, so the job was "
                     "not run: %.500s%s%s",
                     first ? first : "(empty warning)", rerr ? "; and removing it failed: " : "",
                     rerr ? rerr->msg : "");
        rx_error_free(&rerr);
        free(cid);
        return NULL;
    }
    return cid;
}

char *
docker_exec_create(struct docker_client *dc, const char *id, struct json_object *body,
                   struct rx_error **err)
{
    cleanup_free char *path = xasprintf("/containers/%s/exec", id);
    cleanup_resp struct docker_resp resp = {0};
    if (call(dc, "POST", path, body, 60000, false, &resp, err) < 0)
        return NULL;
    if (resp.status != 201) {
        docker_resp_error(&resp, err, "create exec");
        return NULL;
    }
    cleanup_json struct json_object *o =
        rx_json_parse(resp.body.data, resp.body.len, "engine reply to exec", err);
    if (o == NULL)
        return NULL;
    const char *eid = rx_json_get_str(o, "Id");
    if (eid == NULL || !valid_id(eid))
        return rx_error_set(err, EPROTO, "create exec: engine reply has no valid Id"), NULL;
    return xstrdup(eid);
}

int
docker_exec_inspect(struct docker_client *dc, const char *exec_id, bool *running, int *exit_code,
                    long long *pid, struct rx_error **err)
{
    cleanup_free char *path = xasprintf("/exec/%s/json", exec_id);
    cleanup_resp struct docker_resp resp = {0};
    if (call(dc, "GET", path, NULL, 30000, true, &resp, err) < 0)
        return -1;
    if (resp.status != 200)
        return docker_resp_error(&resp, err, "inspect exec");
    cleanup_json struct json_object *o =
        rx_json_parse(resp.body.data, resp.body.len, "engine reply to exec inspect", err);
    if (o == NULL)
        return -1;
    struct json_object *r = rx_json_get(o, "Running");
    struct json_object *ec = rx_json_get(o, "ExitCode");
    if (r == NULL || !json_object_is_type(r, json_type_boolean))
        return rx_error_set(err, EPROTO, "inspect exec: engine reply has no Running");
    *running = json_object_get_boolean(r);
    *exit_code = ec != NULL && json_object_is_type(ec, json_type_int) ? json_object_get_int(ec)
                                                                      : -1;
    if (pid != NULL) {
        struct json_object *p = rx_json_get(o, "Pid");
        *pid = p != NULL && json_object_is_type(p, json_type_int) ? json_object_get_int64(p) : 0;
    }
    return 0;
}

int
docker_container_start(struct docker_client *dc, const char *id, struct rx_error **err)
{
    cleanup_free char *path = xasprintf("/containers/%s/start", id);
    cleanup_resp struct docker_resp resp = {0};
    int r = call(dc, "POST", path, NULL, 60000, false, &resp, err);
    if (r == 0 && resp.status != 204 && resp.status != 304)
        r = docker_resp_error(&resp, err, "start container");
    return r;
}

int
docker_container_update(struct docker_client *dc, const char *id, struct json_object *body,
                        struct rx_error **err)
{
    cleanup_free char *path = xasprintf("/containers/%s/update", id);
    cleanup_resp struct docker_resp resp = {0};
    int r = call(dc, "POST", path, body, 30000, true, &resp, err);
    if (r == 0 && resp.status != 200)
        r = docker_resp_error(&resp, err, "update container");
    return r;
}

int
docker_container_wait(struct docker_client *dc, const char *id, const char *condition,
                      long timeout_ms, int *status_code, struct rx_error **err)
{
    cleanup_free char *path = xasprintf("/containers/%s/wait?condition=%s", id, condition);
    cleanup_resp struct docker_resp resp = {0};
    if (timeout_ms < 1)
        timeout_ms = 1;
    int r = call(dc, "POST", path, NULL, timeout_ms, true, &resp, err);
    if (r < 0)
        return -1;
    if (resp.status != 200) {
        docker_resp_error(&resp, err, "wait for container");
        return -1;
    }
    cleanup_json struct json_object *o =
        rx_json_parse(resp.body.data, resp.body.len, "engine reply to wait", err);
    if (o == NULL)
        return -1;
    struct json_object *sc = rx_json_get(o, "StatusCode");
    if (sc == NULL || !json_object_is_type(sc, json_type_int))
        return rx_error_set(err, EPROTO, "wait: engine reply has no StatusCode");
    struct json_object *e = rx_json_get(o, "Error");
    const char *emsg = rx_json_get_str(e, "Message");
    if (emsg != NULL && emsg[0] != '\0')
        return rx_error_set(err, EIO, "wait for container: %.500s", emsg);
    *status_code = json_object_get_int(sc);
    return 0;
}

int
docker_container_kill(struct docker_client *dc, const char *id, struct rx_error **err)
{
    cleanup_free char *path = xasprintf("/containers/%s/kill?signal=SIGKILL", id);
    cleanup_resp struct docker_resp resp = {0};
    int r = call(dc, "POST", path, NULL, 30000, false, &resp, err);
    /* 409 (Docker) or 500 (Podman 4) when it is not running: already dead. */
    if (r == 0 && resp.status != 204 && resp.status != 409 && resp.status != 304 &&
        docker_error_meaning(resp.status, resp.body.data) != DOCKER_ERROR_NOT_RUNNING)
        r = docker_resp_error(&resp, err, "kill container");
    return r;
}

struct json_object *
docker_container_inspect(struct docker_client *dc, const char *id, struct rx_error **err)
{
    cleanup_free char *path = xasprintf("/containers/%s/json", id);
    cleanup_resp struct docker_resp resp = {0};
    if (call(dc, "GET", path, NULL, 30000, false, &resp, err) < 0)
        return NULL;
    if (resp.truncated) {
        rx_error_set(err, EFBIG, "inspect container: reply larger than %u MiB",
                     LIMIT_ENGINE_INSPECT_BYTES >> 20);
        return NULL;
    }
    if (resp.status != 200) {
        docker_resp_error(&resp, err, "inspect container");
        return NULL;
    }
    return rx_json_parse(resp.body.data, resp.body.len, "engine reply to inspect", err);
}

/* Seconds since the epoch of an engine timestamp ("2026-11-22T05:40:47.12Z",
 * or with a +hh:mm offset); -1 when it is not one.  The events endpoint of
 * Engine 20.10 takes only Unix time. */
static long long
rfc3339_seconds(const char *t)
{
    struct tm tm = {0};
    int used = 0;
    if (t == NULL ||
        sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &used) != 6 ||
        used != 19)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    const char *p = t + used;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            ;
    long long off = 0;
    int oh, om;
    if ((*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d", &oh, &om) == 2)
        off = (*p == '+' ? 1 : -1) * (oh * 3600LL + om * 60LL);
    else if (*p != 'Z')
        return -1;
    time_t s = timegm(&tm);
    return s == (time_t)-1 ? -1 : (long long)s - off;
}

int
docker_container_oom_event(struct docker_client *dc, const char *id, const char *since,
                           long grace_ms, struct rx_error **err)
{
    if (!valid_id(id))
        return rx_error_set(err, EINVAL, "oom events: bad container id");
    /* {"type":{"container":true},"event":{"oom":true},"container":{ID:true}} */
    cleanup_json struct json_object *f = json_object_new_object();
    const char *pairs[][2] = {{"type", "container"}, {"event", "oom"}, {"container", id}};
    for (size_t i = 0; i < RX_ARRAY_SIZE(pairs); i++) {
        struct json_object *set = json_object_new_object();
        json_object_object_add(set, pairs[i][1], json_object_new_boolean(true));
        json_object_object_add(f, pairs[i][0], set);
    }
    cleanup_free char *q = docker_http_escape(rx_json_compact(f));
    /* A second early: the timestamp's fraction is dropped.  No `until`: the
     * host's clock need not agree with the engine's.  The stream stays
     * open; the call's own timeout is the window. */
    long long from = rfc3339_seconds(since);
    cleanup_free char *path =
        xasprintf("/events?since=%lld&filters=%s", from > 0 ? from - 1 : 0, q);
    cleanup_resp struct docker_resp resp = {0};
    struct docker_req req = {.method = "GET",
                             .path = path,
                             .resp_cap = LIMIT_ENGINE_ERROR_BYTES,
                             .timeout_ms = grace_ms > 0 ? grace_ms : 1,
                             .first_byte_only = true};
    struct rx_error *e = NULL;
    int r;
    if (docker_http_do(dc->http, &req, &resp, &e) < 0) {
        /* The window passed with the stream open and silent. */
        r = e->code == ETIMEDOUT && resp.status == 200 ? 0 : -1;
        if (r < 0 && err != NULL) {
            *err = e;
            e = NULL;
            rx_error_prefix(err, "oom events");
        }
        rx_error_free(&e);
    } else if (resp.status != 200) {
        r = docker_resp_error(&resp, err, "oom events");
    } else {
        r = resp.truncated || resp.body.len > 0;
    }
    return r;
}

int
docker_container_remove(struct docker_client *dc, const char *id, struct rx_error **err)
{
    cleanup_free char *path = xasprintf("/containers/%s?force=1&v=1", id);
    for (int attempt = 0; attempt < 20; attempt++) {
        cleanup_resp struct docker_resp resp = {0};
        struct rx_error *e = NULL;
        /* A job can leave millions of files: removing them can take minutes. */
        int r = call(dc, "DELETE", path, NULL, 300000, false, &resp, &e);
        if (r < 0) {
            if (err != NULL) {
                *err = e;
                rx_error_prefix(err, "remove container %.12s", id);
            } else {
                rx_error_free(&e);
            }
            return -1;
        }
        long st = resp.status;
        bool in_progress = docker_error_meaning(st, resp.body.data) ==
                           DOCKER_ERROR_REMOVAL_IN_PROGRESS;
        if (st == 204 || st == 200 || st == 404)
            return 0;
        if (!in_progress) {
            docker_resp_error(&resp, err, "remove container");
            return -1;
        }
        rx_sleep_ms(250);
    }
    return rx_error_set(err, EBUSY, "remove container %.12s: removal still in progress", id);
}

struct json_object *
docker_container_list_labelled(struct docker_client *dc, const char *label, struct rx_error **err)
{
    return docker_client_list_labelled(dc, "containers", label, err);
}
