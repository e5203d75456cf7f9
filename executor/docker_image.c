/* SPDX-License-Identifier: MIT */
#include "executor/docker_image.h"

#include "executor/limits.h"
#include "executor/rx_json.h"
#include "executor/rx_util.h"

static int
call(struct docker_client *dc, const char *method, const char *path, struct docker_resp *resp,
     struct rx_error **err)
{
    struct docker_req req = {
        .method = method,
        .path = path,
        .content_type = strcmp(method, "POST") == 0 ? "application/json" : NULL,
        .resp_cap = LIMIT_ENGINE_INSPECT_BYTES,
        .timeout_ms = 60000,
    };
    return docker_http_do(dc->http, &req, resp, err);
}

struct json_object *
docker_image_inspect(struct docker_client *dc, const char *name, struct rx_error **err)
{
    cleanup_free char *q = docker_http_escape(name);
    cleanup_free char *path = xasprintf("/images/%s/json", q);
    cleanup_resp struct docker_resp resp = {0};
    if (call(dc, "GET", path, &resp, err) < 0)
        return NULL;
    if (resp.status != 200) {
        docker_resp_error(&resp, err, "inspect image");
        return NULL;
    }
    struct json_object *o = rx_json_parse(resp.body.data, resp.body.len, "image inspect", err);
    if (o != NULL && !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return rx_error_set(err, EPROTO, "inspect image: reply is not an object"), NULL;
    }
    return o;
}

int
docker_image_build(struct docker_client *dc, const char *query, const void *context,
                   size_t context_len, long timeout_ms, struct rx_buf *log, bool *log_cut,
                   struct rx_error **err)
{
    cleanup_free char *path = xasprintf("/build?%s", query);
    cleanup_resp struct docker_resp resp = {0};
    struct docker_req req = {
        .method = "POST",
        .path = path,
        .content_type = "application/x-tar",
        .body = context,
        .body_len = context_len,
        .resp_cap = LIMIT_DEPS_BUILD_REPLY_BYTES,
        .timeout_ms = timeout_ms,
        .cancellable = true,
        .keep_tail = true,
    };
    if (docker_http_do(dc->http, &req, &resp, err) < 0)
        return -1;
    if (resp.status != 200)
        return docker_resp_error(&resp, err, "build image");
    *log_cut = resp.truncated;
    rx_buf_free(log);
    *log = resp.body;
    rx_buf_init(&resp.body, 0);
    return 0;
}

int
docker_image_tag(struct docker_client *dc, const char *name, const char *repo, const char *tag,
                 struct rx_error **err)
{
    cleanup_free char *qn = docker_http_escape(name);
    cleanup_free char *qr = docker_http_escape(repo);
    cleanup_free char *qt = docker_http_escape(tag);
    cleanup_free char *path = xasprintf("/images/%s/tag?repo=%s&tag=%s", qn, qr, qt);
    cleanup_resp struct docker_resp resp = {0};
    if (call(dc, "POST", path, &resp, err) < 0)
        return -1;
    if (resp.status != 201 && resp.status != 200)
        return docker_resp_error(&resp, err, "tag image");
    return 0;
}

struct json_object *
docker_image_list_labelled(struct docker_client *dc, const char *label, struct rx_error **err)
{
    return docker_client_list_labelled(dc, "images", label, err);
}

int
docker_image_remove(struct docker_client *dc, const char *name, struct rx_error **err)
{
    cleanup_free char *q = docker_http_escape(name);
    cleanup_free char *path = xasprintf("/images/%s", q);
    cleanup_resp struct docker_resp resp = {0};
    if (call(dc, "DELETE", path, &resp, err) < 0)
        return -1;
    if (resp.status == 200 || resp.status == 404)
        return 0;
    if (resp.status == 409)
        return 1;
    return docker_resp_error(&resp, err, "remove image");
}
