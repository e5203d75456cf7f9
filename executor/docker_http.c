/* SPDX-License-Identifier: MIT */
#include "executor/docker_http.h"

#include <ctype.h>
#include <curl/curl.h>
#include <poll.h>
#include <sys/stat.h>

#include "executor/limits.h"
#include "executor/rx_json.h"
#include "executor/rx_util.h"

struct docker_http {
    CURL *curl;
    char *socket_path;
    char prefix[32];
    int cancel_fd;
    char errbuf[CURL_ERROR_SIZE];
};

struct xfer {
    struct docker_http *dh;
    const struct docker_req *req;
    struct docker_resp *resp;
    bool cancelled;
};

const char *
docker_http_socket(const struct docker_http *dh)
{
    return dh->socket_path;
}

int
docker_http_cancel_fd(const struct docker_http *dh)
{
    return dh->cancel_fd;
}

bool
docker_http_cancelled(const struct docker_http *dh)
{
    if (dh->cancel_fd < 0)
        return false;
    struct pollfd p = {.fd = dh->cancel_fd, .events = POLLIN};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP));
}

struct docker_http *
docker_http_new(const char *socket_path, int cancel_fd, struct rx_error **err)
{
    /* sun_path holds 108 bytes including the NUL. */
    if (strlen(socket_path) > 107)
        return rx_error_set(err, ENAMETOOLONG, "engine socket path is longer than 107 bytes: %s",
                            socket_path),
               NULL;
    struct docker_http *dh = xcalloc(1, sizeof(*dh));
    dh->curl = curl_easy_init();
    if (dh->curl == NULL) {
        free(dh);
        return rx_error_set(err, ENOMEM, "curl_easy_init failed"), NULL;
    }
    dh->socket_path = xstrdup(socket_path);
    dh->cancel_fd = cancel_fd;
    return dh;
}

void
docker_http_free(struct docker_http *dh)
{
    if (dh == NULL)
        return;
    curl_easy_cleanup(dh->curl);
    free(dh->socket_path);
    free(dh);
}

void
docker_http_set_prefix(struct docker_http *dh, const char *prefix)
{
    snprintf(dh->prefix, sizeof(dh->prefix), "%s", prefix);
}

/* Append to a buffer that keeps the newest bytes: past its cap, the oldest
 * are dropped so that at most half of it is old and the rest new. */
static void
append_tail(struct rx_buf *b, const char *p, size_t n)
{
    size_t half = b->cap / 2;
    if (b->len + n <= b->cap) {
        rx_buf_append(b, p, n);
        return;
    }
    if (n > half) {
        p += n - half;
        n = half;
    }
    if (b->data != NULL) {
        size_t keep = b->len < half ? b->len : half;
        memmove(b->data, b->data + b->len - keep, keep);
        b->len = keep;
        b->data[keep] = '\0';
    }
    rx_buf_append(b, p, n);
}

static size_t
on_body(char *p, size_t size, size_t n, void *ud)
{
    struct xfer *x = ud;
    size_t len = size * n;
    if (x->req->first_byte_only && len > 0) {
        long st = 0;
        curl_easy_getinfo(x->dh->curl, CURLINFO_RESPONSE_CODE, &st);
        if (st == 200) {
            x->resp->truncated = true;
            return 0;
        }
    }
    if (x->req->keep_tail && x->resp->body.len + len > x->resp->body.cap) {
        append_tail(&x->resp->body, p, len);
        x->resp->truncated = true;
        return len;
    }
    if (rx_buf_append(&x->resp->body, p, len) < 0) {
        x->resp->truncated = true;
        return 0; /* abort: the cap is the cap */
    }
    return len;
}

static size_t
on_header(char *p, size_t size, size_t n, void *ud)
{
    struct xfer *x = ud;
    size_t len = size * n;
    for (size_t i = 0; i < DOCKER_HTTP_HEADERS; i++) {
        const char *want = x->req->want_header[i];
        size_t wl = want ? strlen(want) : 0;
        if (want == NULL || len <= wl + 1 || strncasecmp(p, want, wl) != 0 || p[wl] != ':')
            continue;
        const char *v = p + wl + 1;
        const char *end = p + len;
        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
        while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
            end--;
        /* Cap what we keep of one header. */
        size_t vl = (size_t)(end - v);
        if (vl > LIMIT_ENGINE_HEADER_BYTES)
            vl = LIMIT_ENGINE_HEADER_BYTES;
        free(x->resp->header_value[i]);
        x->resp->header_value[i] = xstrndup(v, vl);
    }
    return len;
}

static int
on_progress(void *ud, curl_off_t dt RX_UNUSED, curl_off_t dn RX_UNUSED, curl_off_t ut RX_UNUSED,
            curl_off_t un RX_UNUSED)
{
    struct xfer *x = ud;
    if (x->req->cancellable && docker_http_cancelled(x->dh)) {
        x->cancelled = true;
        return 1;
    }
    return 0;
}

/* Say what went wrong reaching the engine in words a user can act on. */
static int
transport_error(struct docker_http *dh, CURLcode rc, const char *method, const char *path,
                struct rx_error **err)
{
    const char *detail = dh->errbuf[0] ? dh->errbuf : curl_easy_strerror(rc);
    if (rc == CURLE_COULDNT_CONNECT) {
        struct stat st;
        if (stat(dh->socket_path, &st) < 0 && errno == ENOENT)
            return rx_error_set(err, ENOENT,
                                "cannot reach the engine: no socket at %s (is dockerd running? "
                                "set DOCKER_HOST=unix:///path/to/docker.sock)",
                                dh->socket_path);
        if (access(dh->socket_path, R_OK | W_OK) < 0 && errno == EACCES)
            return rx_error_set(err, EACCES,
                                "cannot reach the engine: permission denied on %s (run as root "
                                "or as a member of the socket's group)",
                                dh->socket_path);
        return rx_error_set(err, ECONNREFUSED,
                            "cannot reach the engine at %s: %s (the socket exists but nothing "
                            "answers: is dockerd running?)",
                            dh->socket_path, detail);
    }
    if (rc == CURLE_OPERATION_TIMEDOUT)
        return rx_error_set(err, ETIMEDOUT, "%s %s: engine did not answer in time", method, path);
    return rx_error_set(err, EIO, "%s %s: %s", method, path, detail);
}

int
docker_http_do(struct docker_http *dh, const struct docker_req *req, struct docker_resp *resp,
               struct rx_error **err)
{
    memset(resp, 0, sizeof(*resp));
    rx_buf_init(&resp->body, req->resp_cap ? req->resp_cap : LIMIT_ENGINE_REPLY_BYTES);
    if (req->cancellable && docker_http_cancelled(dh)) {
        rx_error_set(err, ECANCELED, "%s %s: cancelled", req->method, req->path);
        (*err)->kind = RX_ERR_CANCELLED;
        return -1;
    }

    CURL *c = dh->curl;
    /* Reset keeps the live connection, so calls reuse one kept-alive socket. */
    curl_easy_reset(c);
    dh->errbuf[0] = '\0';
    cleanup_free char *url =
        xasprintf("http://localhost%s%s", req->unversioned ? "" : dh->prefix, req->path);
    struct xfer x = {.dh = dh, .req = req, .resp = resp};
    struct curl_slist *hdrs = NULL;
    cleanup_free char *ct = NULL;
    if (req->content_type != NULL) {
        ct = xasprintf("Content-Type: %s", req->content_type);
        hdrs = curl_slist_append(hdrs, ct);
    }
    /* No "Expect: 100-continue" round trip on uploads. */
    hdrs = curl_slist_append(hdrs, "Expect:");
    if (hdrs == NULL)
        rx_oom();

    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, dh->socket_path);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, dh->errbuf);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &x);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                     req->timeout_ms > 0 ? req->timeout_ms : (long)DOCKER_HTTP_DEFAULT_TIMEOUT_MS);

    if (strcmp(req->method, "GET") == 0) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(req->method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(req->method, "DELETE") == 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
    } else {
        /* POST and PUT carry a body (possibly empty) with an explicit type. */
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? req->body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        if (strcmp(req->method, "POST") != 0)
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
    }

    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(hdrs);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    if (x.cancelled) {
        rx_error_set(err, ECANCELED, "%s %s: cancelled", req->method, req->path);
        (*err)->kind = RX_ERR_CANCELLED;
        return -1;
    }
    if (rc == CURLE_WRITE_ERROR && resp->truncated)
        return 0; /* caller sees resp->truncated */
    if (rc != CURLE_OK)
        return transport_error(dh, rc, req->method, req->path, err);
    return 0;
}

void
docker_resp_free(struct docker_resp *resp)
{
    rx_buf_free(&resp->body);
    for (size_t i = 0; i < DOCKER_HTTP_HEADERS; i++) {
        free(resp->header_value[i]);
        resp->header_value[i] = NULL;
    }
}

int
docker_resp_error(const struct docker_resp *resp, struct rx_error **err, const char *what)
{
    const char *msg = NULL;
    cleanup_json struct json_object *o = NULL;
    if (resp->body.len > 0) {
        o = rx_json_parse(resp->body.data, resp->body.len, "reply", NULL);
        msg = rx_json_get_str(o, "message");
    }
    cleanup_free char *raw = NULL;
    if (msg == NULL) {
        /* Text replies (old API versions, proxies): keep a printable prefix. */
        size_t n = resp->body.len < LIMIT_ENGINE_TEXT_ERROR_BYTES ? resp->body.len
                                                                  : LIMIT_ENGINE_TEXT_ERROR_BYTES;
        raw = xstrndup(resp->body.data ? resp->body.data : "", n);
        for (char *p = raw; *p; p++)
            if (!isprint((unsigned char)*p))
                *p = ' ';
        msg = raw[0] ? raw : "(no message)";
    }
    int code = resp->status == 404   ? ENOENT
               : resp->status == 409 ? EBUSY
               : resp->status == 400 ? EINVAL
               : resp->status == 403 ? EPERM
                                     : EIO;
    rx_error_set(err, code, "%s: engine answered %ld: %.1000s", what, resp->status, msg);
    if (err != NULL && *err != NULL)
        (*err)->http_status = (int)resp->status;
    return -1;
}

char *
docker_http_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = xmalloc(strlen(s) * 3 + 1), *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || strchr("-._~", *p)) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}
