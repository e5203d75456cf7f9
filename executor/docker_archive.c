/* SPDX-License-Identifier: MIT */
#include "executor/docker_archive.h"

#include "executor/limits.h"
#include "executor/rx_json.h"
#include "executor/rx_util.h"

int
docker_archive_put(struct docker_client *dc, const char *id, const char *dir, const void *tar,
                   size_t len, struct rx_error **err)
{
    cleanup_free char *qdir = docker_http_escape(dir);
    /* noOverwriteDirNonDir: the tar may not replace a directory with a file. */
    cleanup_free char *path =
        xasprintf("/containers/%s/archive?path=%s&noOverwriteDirNonDir=1", id, qdir);
    /* The explicit type matters: a form-encoded body is silently dropped. */
    struct docker_req req = {.method = "PUT",
                             .path = path,
                             .content_type = "application/x-tar",
                             .body = tar,
                             .body_len = len,
                             .resp_cap = LIMIT_ENGINE_ERROR_BYTES,
                             .timeout_ms = 120000};
    cleanup_resp struct docker_resp resp = {0};
    int r = docker_http_do(dc->http, &req, &resp, err);
    if (r == 0 && resp.status != 200)
        r = docker_resp_error(&resp, err, "copy input files into the container");
    return r;
}

static int
b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* Decode base64 (standard or URL alphabet, padding optional) into a new
 * NUL-terminated string; NULL when malformed. */
static char *
b64decode(const char *s, size_t *outlen)
{
    size_t n = strlen(s);
    char *out = xmalloc(n / 4 * 3 + 4);
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '=')
            break;
        int v = b64val((unsigned char)s[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[o] = '\0';
    *outlen = o;
    return out;
}

/* Size and mode from an X-Docker-Container-Path-Stat value (-1 if absent). */
static void
parse_stat(const char *value, long long *size, long long *mode)
{
    *size = -1;
    *mode = -1;
    if (value == NULL)
        return;
    size_t jl = 0;
    cleanup_free char *js = b64decode(value, &jl);
    cleanup_json struct json_object *st = js ? rx_json_parse(js, jl, "path stat", NULL) : NULL;
    struct json_object *sz = rx_json_get(st, "size"), *md = rx_json_get(st, "mode");
    if (sz != NULL && json_object_is_type(sz, json_type_int))
        *size = json_object_get_int64(sz);
    if (md != NULL && json_object_is_type(md, json_type_int))
        *mode = json_object_get_int64(md);
}

int
docker_archive_stat(struct docker_client *dc, const char *id, const char *path,
                    long long *stat_size, long long *stat_mode, struct rx_error **err)
{
    cleanup_free char *qpath = docker_http_escape(path);
    cleanup_free char *url = xasprintf("/containers/%s/archive?path=%s", id, qpath);
    struct docker_req req = {.method = "HEAD",
                             .path = url,
                             .resp_cap = LIMIT_ENGINE_ERROR_BYTES,
                             .timeout_ms = 60000,
                             .want_header = {"X-Docker-Container-Path-Stat"}};
    cleanup_resp struct docker_resp resp = {0};
    if (docker_http_do(dc->http, &req, &resp, err) < 0)
        return -1;
    int r = 0;
    if (resp.status != 200)
        r = docker_resp_error(&resp, err, "stat in the workspace");
    else
        parse_stat(resp.header_value[0], stat_size, stat_mode);
    return r;
}

int
docker_archive_get(struct docker_client *dc, const char *id, const char *path, size_t cap,
                   struct rx_buf *tar, bool *truncated, long long *stat_size, long long *stat_mode,
                   struct rx_error **err)
{
    cleanup_free char *qpath = docker_http_escape(path);
    cleanup_free char *url = xasprintf("/containers/%s/archive?path=%s", id, qpath);
    struct docker_req req = {.method = "GET",
                             .path = url,
                             .resp_cap = cap,
                             .timeout_ms = 120000,
                             .want_header = {"X-Docker-Container-Path-Stat"}};
    cleanup_resp struct docker_resp resp = {0};
    *stat_size = -1;
    *stat_mode = -1;
    *truncated = false;
    if (docker_http_do(dc->http, &req, &resp, err) < 0)
        return -1;
    if (resp.status != 200) {
        docker_resp_error(&resp, err, "copy the output file out");
        return -1;
    }
    parse_stat(resp.header_value[0], stat_size, stat_mode);
    *truncated = resp.truncated;
    rx_buf_free(tar);
    *tar = resp.body;
    rx_buf_init(&resp.body, 0);
    return 0;
}
