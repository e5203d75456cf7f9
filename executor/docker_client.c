/* SPDX-License-Identifier: MIT */
#include "executor/docker_client.h"

#include <ctype.h>
#include <limits.h>

#include "executor/limits.h"
#include "executor/rx_json.h"
#include "executor/rx_util.h"

char *
docker_client_socket_from_host(const char *docker_host, struct rx_error **err)
{
    if (docker_host == NULL || docker_host[0] == '\0')
        return xstrdup(DOCKER_DEFAULT_SOCKET);
    static const char scheme[] = "unix://";
    if (strncmp(docker_host, scheme, sizeof(scheme) - 1) != 0)
        return rx_error_set(err, EINVAL,
                            "DOCKER_HOST=%.200s is not supported: only unix:///path/to/socket "
                            "(tcp:// and ssh:// would expose the engine without the socket's "
                            "file permissions)",
                            docker_host),
               NULL;
    const char *path = docker_host + sizeof(scheme) - 1;
    if (path[0] != '/')
        return rx_error_set(err, EINVAL, "DOCKER_HOST=%.200s: the socket path must be absolute",
                            docker_host),
               NULL;
    return xstrdup(path);
}

int
docker_version_parse(const char *s, int *major, int *minor)
{
    if (s == NULL || !isdigit((unsigned char)s[0]))
        return -1;
    char *end = NULL;
    errno = 0;
    long ma = strtol(s, &end, 10);
    if (errno != 0 || *end != '.' || ma < 0 || ma > 1000 || !isdigit((unsigned char)end[1]))
        return -1;
    const char *m = end + 1;
    long mi = strtol(m, &end, 10);
    if (errno != 0 || *end != '\0' || mi < 0 || mi > 100000)
        return -1;
    *major = (int)ma;
    *minor = (int)mi;
    return 0;
}

int
docker_version_cmp(const char *a, const char *b)
{
    int am, an, bm, bn;
    bool va = docker_version_parse(a, &am, &an) == 0;
    bool vb = docker_version_parse(b, &bm, &bn) == 0;
    if (!va || !vb)
        return (int)va - (int)vb;
    if (am != bm)
        return am < bm ? -1 : 1;
    if (an != bn)
        return an < bn ? -1 : 1;
    return 0;
}

int
docker_version_negotiate(const char *engine_max, const char *engine_min, char out[16],
                         struct rx_error **err)
{
    int ma, mi;
    if (docker_version_parse(engine_max, &ma, &mi) < 0)
        return rx_error_set(err, EPROTO, "engine reported an unreadable API version \"%.40s\"",
                            engine_max ? engine_max : "(none)");
    const char *use = docker_version_cmp(engine_max, DOCKER_CLIENT_MAX_API) < 0
                          ? engine_max
                          : DOCKER_CLIENT_MAX_API;
    if (docker_version_cmp(use, DOCKER_CLIENT_MIN_API) < 0)
        return rx_error_set(err, EPROTO,
                            "engine API %s is too old: ralph-exec needs at least %s "
                            "(Docker Engine 20.10)",
                            engine_max, DOCKER_CLIENT_MIN_API);
    if (engine_min != NULL && engine_min[0] != '\0') {
        if (docker_version_parse(engine_min, &ma, &mi) < 0)
            return rx_error_set(err, EPROTO,
                                "engine reported an unreadable minimum API version \"%.40s\"",
                                engine_min);
        if (docker_version_cmp(use, engine_min) < 0)
            return rx_error_set(err, EPROTO,
                                "engine requires API %s or newer but ralph-exec speaks at most "
                                "%s",
                                engine_min, DOCKER_CLIENT_MAX_API);
    }
    snprintf(out, 16, "%s", use);
    return 0;
}

/* Use the API version chosen in dc->api_version from here on. */
static void
set_prefix(struct docker_client *dc)
{
    char prefix[32];
    snprintf(prefix, sizeof(prefix), "/v%s", dc->api_version);
    docker_http_set_prefix(dc->http, prefix);
}

/* Negotiate from GET /version: the engine's maximum and minimum API
 * versions, its version, and Podman from its Components. */
static int
negotiate_version(struct docker_client *dc, struct rx_error **err)
{
    struct docker_req req = {.method = "GET",
                             .path = "/version",
                             .unversioned = true,
                             .resp_cap = LIMIT_ENGINE_VERSION_BYTES,
                             .timeout_ms = 10000};
    cleanup_resp struct docker_resp resp = {0};
    int r = docker_http_do(dc->http, &req, &resp, err);
    if (r < 0)
        return -1;
    if (resp.status != 200 || resp.truncated) {
        docker_resp_error(&resp, err, "GET /version");
        return -1;
    }
    cleanup_json struct json_object *v =
        rx_json_parse(resp.body.data, resp.body.len, "engine reply to GET /version", err);
    if (v == NULL)
        return -1;
    const char *api = rx_json_get_str(v, "ApiVersion");
    const char *min = rx_json_get_str(v, "MinAPIVersion");
    const char *ver = rx_json_get_str(v, "Version");
    if (docker_version_negotiate(api, min, dc->api_version, err) < 0)
        return -1;
    snprintf(dc->engine_version, sizeof(dc->engine_version), "%s", ver ? ver : "unknown");
    snprintf(dc->engine_api_max, sizeof(dc->engine_api_max), "%s", api);
    /* Podman names itself in Components; its compat API differs (see notes). */
    struct json_object *comps = rx_json_get(v, "Components");
    if (comps != NULL && json_object_is_type(comps, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(comps); i++) {
            const char *name = rx_json_get_str(json_object_array_get_idx(comps, i), "Name");
            if (name != NULL && strcasestr(name, "podman") != NULL)
                dc->podman = true;
        }
    }
    set_prefix(dc);
    return 0;
}

int
docker_server_header_parse(const char *server, char *version, size_t size, bool *podman)
{
    static const struct {
        const char *product;
        bool podman;
    } known[] = {{"Docker/", false}, {"Libpod/", true}};
    if (server == NULL)
        return -1;
    for (size_t i = 0; i < RX_ARRAY_SIZE(known); i++) {
        size_t pl = strlen(known[i].product);
        if (strncmp(server, known[i].product, pl) != 0)
            continue;
        const char *v = server + pl;
        size_t vl =
            strspn(v, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.+~-_");
        if (vl == 0 || vl >= size || (v[vl] != '\0' && v[vl] != ' '))
            return -1;
        memcpy(version, v, vl);
        version[vl] = '\0';
        *podman = known[i].podman;
        return 0;
    }
    return -1;
}

/* Negotiate from GET /_ping's headers: Api-Version (the engine's maximum)
 * and Server ("Docker/20.10.24+dfsg1 (linux)", "Libpod/4.3.1 (linux)").
 * /version makes dockerd run `runc --version` and `docker-init --version`
 * (7-30 ms of every one-off job on Engine 20.10); /_ping costs under 1.
 * The engine's minimum is not in the headers: an engine whose minimum is
 * above the version chosen refuses the first versioned call with its own
 * "client version ... is too old" message, which is carried as the error.
 * A reply without both headers (a proxy, an unknown engine) falls back to
 * GET /version. */
static int
negotiate(struct docker_client *dc, struct rx_error **err)
{
    struct docker_req req = {.method = "GET",
                             .path = "/_ping",
                             .unversioned = true,
                             .resp_cap = LIMIT_ENGINE_PING_BYTES,
                             .timeout_ms = 10000,
                             .want_header = {"Api-Version", "Server"}};
    cleanup_resp struct docker_resp resp = {0};
    if (docker_http_do(dc->http, &req, &resp, err) < 0)
        return -1;
    if (resp.status != 200) {
        docker_resp_error(&resp, err, "GET /_ping");
        return -1;
    }
    bool podman = false;
    char version[sizeof(dc->engine_version)];
    const char *api = resp.header_value[0];
    if (api == NULL ||
        docker_server_header_parse(resp.header_value[1], version, sizeof(version), &podman) < 0) {
        return negotiate_version(dc, err);
    }
    int r = docker_version_negotiate(api, NULL, dc->api_version, err);
    if (r == 0) {
        snprintf(dc->engine_version, sizeof(dc->engine_version), "%s", version);
        snprintf(dc->engine_api_max, sizeof(dc->engine_api_max), "%s", api);
        dc->podman = podman;
        set_prefix(dc);
    }
    return r;
}

struct docker_client *
docker_client_new(const char *docker_host, int cancel_fd, struct rx_error **err)
{
    if (docker_host == NULL)
        docker_host = getenv("DOCKER_HOST");
    cleanup_free char *sock = docker_client_socket_from_host(docker_host, err);
    if (sock == NULL)
        return NULL;
    struct docker_client *dc = xcalloc(1, sizeof(*dc));
    dc->http = docker_http_new(sock, cancel_fd, err);
    if (dc->http == NULL || negotiate(dc, err) < 0) {
        docker_client_free(dc);
        return NULL;
    }
    return dc;
}

void
docker_client_free(struct docker_client *dc)
{
    if (dc == NULL)
        return;
    docker_http_free(dc->http);
    free(dc);
}

struct json_object *
docker_client_get_json(struct docker_client *dc, const char *path, struct rx_error **err)
{
    struct docker_req req = {.method = "GET", .path = path, .timeout_ms = 30000};
    cleanup_resp struct docker_resp resp = {0};
    if (docker_http_do(dc->http, &req, &resp, err) < 0)
        return NULL;
    if (resp.status != 200 || resp.truncated) {
        docker_resp_error(&resp, err, path);
        return NULL;
    }
    return rx_json_parse(resp.body.data, resp.body.len, path, err);
}

int
docker_client_memory(struct docker_client *dc, long long *bytes, struct rx_error **err)
{
    cleanup_json struct json_object *info = docker_client_get_json(dc, "/info", err);
    if (info == NULL)
        return -1;
    struct json_object *v = rx_json_get(info, "MemTotal");
    errno = 0;
    long long total = json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : 0;
    if (total <= 0 || errno != 0)
        return rx_error_set(err, EPROTO, "engine reply to GET /info: no usable MemTotal");
    *bytes = total;
    return 0;
}

struct json_object *
docker_client_list_labelled(struct docker_client *dc, const char *kind, const char *label,
                            struct rx_error **err)
{
    cleanup_json struct json_object *filter = json_object_new_object();
    struct json_object *labels = json_object_new_array();
    json_object_array_add(labels, json_object_new_string(label));
    json_object_object_add(filter, "label", labels);
    cleanup_free char *q = docker_http_escape(rx_json_compact(filter));
    /* Containers: stopped ones too. */
    cleanup_free char *path = xasprintf("/%s/json?%sfilters=%s", kind,
                                        strcmp(kind, "containers") == 0 ? "all=1&" : "", q);
    cleanup_free char *what = xasprintf("list %s", kind);
    cleanup_resp struct docker_resp resp = {0};
    struct docker_req req = {.method = "GET",
                             .path = path,
                             .resp_cap = LIMIT_ENGINE_INSPECT_BYTES,
                             .timeout_ms = 30000};
    if (docker_http_do(dc->http, &req, &resp, err) < 0)
        return NULL;
    if (resp.status != 200 || resp.truncated) {
        docker_resp_error(&resp, err, what);
        return NULL;
    }
    struct json_object *o = rx_json_parse(resp.body.data, resp.body.len, what, err);
    if (o != NULL && !json_object_is_type(o, json_type_array)) {
        json_object_put(o);
        return rx_error_set(err, EPROTO, "%s: reply is not an array", what), NULL;
    }
    return o;
}
