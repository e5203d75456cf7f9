/* SPDX-License-Identifier: MIT */
/* An engine client: where the socket is, and which API version both sides
 * speak (negotiated once, with GET /version). */
#ifndef DOCKER_CLIENT_H
#define DOCKER_CLIENT_H

#include <stdbool.h>

#include "executor/docker_http.h"
#include "executor/rx_error.h"

/* Requests are built in the 1.41 shape (Engine 20.10), which every later
 * engine still accepts; we speak at most DOCKER_CLIENT_MAX_API. */
#define DOCKER_CLIENT_MIN_API "1.41"
#define DOCKER_CLIENT_MAX_API "1.47"
#define DOCKER_DEFAULT_SOCKET "/var/run/docker.sock"

struct docker_client {
    struct docker_http *http;
    char api_version[16];    /* the version used, e.g. "1.41" */
    char engine_version[64]; /* e.g. "20.10.24" */
    char engine_api_max[16];
    bool podman;
};

/* The socket path for a DOCKER_HOST value (NULL or "" -> the default).
 * Only unix:// is accepted.  Returns a new string or NULL with *err set. */
char *docker_client_socket_from_host(const char *docker_host, struct rx_error **err);

/* Parse "1.41" into major/minor; -1 when malformed. */
int docker_version_parse(const char *s, int *major, int *minor);
/* Compare numerically: <0, 0, >0 ("1.9" < "1.10"). Malformed sorts lowest. */
int docker_version_cmp(const char *a, const char *b);
/* Choose the version to speak: min(client max, engine max); refuse when that
 * is below the engine's minimum or below ours.  engine_min may be NULL.
 * Writes the choice to out (16 bytes). */
int docker_version_negotiate(const char *engine_max, const char *engine_min, char out[16],
                             struct rx_error **err);

/* The engine's version and kind from a Server header of GET /_ping
 * ("Docker/26.1.5+dfsg1 (linux)", "Libpod/4.3.1 (linux)"): the version
 * into version (size bytes), *podman for Libpod.  -1 for anything else. */
int docker_server_header_parse(const char *server, char *version, size_t size, bool *podman);

/* Connect (lazily) and negotiate (GET /_ping, or GET /version when the
 * ping's headers do not say enough).  docker_host as for
 * docker_client_socket_from_host (NULL: the DOCKER_HOST environment
 * variable).  cancel_fd as for docker_http_new. */
struct docker_client *docker_client_new(const char *docker_host, int cancel_fd,
                                        struct rx_error **err);
void docker_client_free(struct docker_client *dc);

/* GET a versioned path and parse the JSON reply (capped at 4 MiB).  A reply
 * other than 200 is an error carrying the engine's message and status. */
struct json_object *docker_client_get_json(struct docker_client *dc, const char *path,
                                           struct rx_error **err);

/* GET /KIND/json ("containers", stopped ones included, or "images")
 * filtered by the presence of a label ("key" or "key=value"): the engine's
 * array (new reference), or NULL with *err set. */
struct json_object *docker_client_list_labelled(struct docker_client *dc, const char *kind,
                                                const char *label, struct rx_error **err);

/* The engine host's memory in bytes (GET /info, MemTotal): a reply
 * without a positive MemTotal is an error (EPROTO). */
int docker_client_memory(struct docker_client *dc, long long *bytes, struct rx_error **err);

static inline void
docker_client_freep(struct docker_client **dc)
{
    docker_client_free(*dc);
}
#define cleanup_docker_client __attribute__((cleanup(docker_client_freep)))

#endif
