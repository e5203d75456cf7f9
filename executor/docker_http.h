/* SPDX-License-Identifier: MIT */
/* Everything about libcurl: one kept-alive easy handle per client, talking
 * HTTP/1.1 to the engine over its unix socket.  Every body read is capped. */
#ifndef DOCKER_HTTP_H
#define DOCKER_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "executor/rx_buf.h"
#include "executor/rx_error.h"

/* Every call has a timeout unless a caller gives its own deadline. */
#define DOCKER_HTTP_DEFAULT_TIMEOUT_MS 60000

struct docker_http;

/* How many response headers one request may keep. */
#define DOCKER_HTTP_HEADERS 2

struct docker_req {
    const char *method; /* "GET", "POST", "PUT", "DELETE", "HEAD" */
    const char *path;   /* e.g. "/containers/create"; the version prefix is added */
    bool unversioned;   /* send without the /vX.Y prefix (GET /version) */
    const char *content_type;
    const void *body;
    size_t body_len;
    size_t resp_cap;  /* 0: LIMIT_ENGINE_REPLY_BYTES */
    long timeout_ms;  /* 0: DOCKER_HTTP_DEFAULT_TIMEOUT_MS */
    bool cancellable; /* abort when the cancel fd becomes readable */
    /* response headers to keep (NULL: none), e.g. "X-Docker-Container-Path-Stat" */
    const char *want_header[DOCKER_HTTP_HEADERS];
    bool first_byte_only; /* a 200's body ends the call at its first byte (resp->truncated set):
                           * a stream watched for one event; other statuses are read whole */
    bool keep_tail;       /* past resp_cap, drop the oldest bytes and read on to the end
                           * (resp->truncated set): a progress stream whose end matters */
};

struct docker_resp {
    long status;
    struct rx_buf body;
    bool truncated;                          /* body passed resp_cap; the transfer was cut */
    char *header_value[DOCKER_HTTP_HEADERS]; /* the value of each want_header that came */
};

/* A client for the socket at socket_path.  cancel_fd < 0 disables
 * cancellation.  Returns NULL with *err set. */
struct docker_http *docker_http_new(const char *socket_path, int cancel_fd, struct rx_error **err);
void docker_http_free(struct docker_http *dh);
/* Set the "/v1.41" style prefix used for versioned paths. */
void docker_http_set_prefix(struct docker_http *dh, const char *prefix);
const char *docker_http_socket(const struct docker_http *dh);
/* True once the cancel fd is readable. */
bool docker_http_cancelled(const struct docker_http *dh);
int docker_http_cancel_fd(const struct docker_http *dh);

/* Perform one request.  Returns 0 when an HTTP reply arrived, whatever its
 * status (inspect resp->status); -1 with *err set on transport failure,
 * timeout (code ETIMEDOUT), cancellation (kind RX_ERR_CANCELLED) or a reply
 * over its cap when truncation was not asked for.  resp must be freed with
 * docker_resp_free. */
int docker_http_do(struct docker_http *dh, const struct docker_req *req, struct docker_resp *resp,
                   struct rx_error **err);
void docker_resp_free(struct docker_resp *resp);
/* Frees a docker_resp when it goes out of scope; initialise it ({0}) first. */
#define cleanup_resp __attribute__((cleanup(docker_resp_free)))

/* Make an error from a non-success reply: the engine's {"message": ...}
 * (or the raw text) with the HTTP status, prefixed by `what`. */
int docker_resp_error(const struct docker_resp *resp, struct rx_error **err, const char *what);

/* Percent-encode a query value into a new string. */
char *docker_http_escape(const char *s);

#endif
