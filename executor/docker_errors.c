/* SPDX-License-Identifier: MIT */
#include "executor/docker_errors.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "executor/docker_client.h"
#include "executor/rx_util.h"

/* One row per message an engine is known to send; status 0 matches any
 * error status.  The texts, as each engine words them (checked against the
 * live engines, 2026-12):
 *   unknown runtime   20.10 "Unknown runtime specified runsc"
 *                     26.1  "unknown or invalid runtime name: runsc"
 *   CPUs              both  "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"
 *   memory            both  "Minimum memory limit allowed is 6MB"
 *   image             both  "No such image: NAME" (404); Podman: "...no such image..."
 *   directory         20.10 "Error processing tar file(exit status 1): cannot overwrite
 *                            directory \"/workspace/d\" with non-directory ..." (500)
 *                     26.1  "cannot overwrite directory \"/workspace/d\" with non-directory ..."
 *   not running       20.10 "Cannot kill container: ID: Container ID is not running" (409)
 *                     26.1  "cannot kill container: ID: container ID is not running" (409)
 *                     Podman 4.3: 500 "... can only kill running containers ... not running"
 *   removal           both  "removal of container ID is already in progress" (409)
 *   name              both  "Conflict. The container name \"/N\" is already in use by
 *                            container \"ID\". You have to remove (or rename) ..." (409)
 *                     Podman 4.3: "... that name is already in use" (500)
 *   API version       both  "client version 1.47 is too old. Minimum supported API version
 *                            is 1.50, please upgrade your client to a newer version" (400)
 * Matching is case-insensitive: 26 lower-cased several of 20.10's messages.
 * A row marked anchored matches only at the start of the engine's own
 * message (after 20.10's "Error processing tar file(exit status 1): "):
 * the directory message quotes paths the job chose, which must not be able
 * to pass for it.  Rows are tried in order, the first match wins. */
static const struct {
    long status;
    bool anchored;
    const char *needle;
    enum docker_error_meaning meaning;
} rows[] = {
    {400, false, "unknown runtime specified", DOCKER_ERROR_NO_RUNTIME},
    {400, false, "unknown or invalid runtime name", DOCKER_ERROR_NO_RUNTIME},
    {400, false, "range of cpus", DOCKER_ERROR_CPU_RANGE},
    {400, false, "minimum memory limit", DOCKER_ERROR_MEMORY_MINIMUM},
    {400, false, "minimum supported api version", DOCKER_ERROR_API_TOO_OLD},
    {404, false, "no such image", DOCKER_ERROR_NO_IMAGE},
    {500, true, "cannot overwrite directory \"", DOCKER_ERROR_DIR_COLLISION},
    {0, false, "container-init binary not found", DOCKER_ERROR_PODMAN_NO_INIT},
    {0, false, "catatonit", DOCKER_ERROR_PODMAN_NO_INIT},
    {0, false, "error setting rlimit", DOCKER_ERROR_PODMAN_RLIMIT},
    {409, false, "is not running", DOCKER_ERROR_NOT_RUNNING},
    {500, false, "not running", DOCKER_ERROR_NOT_RUNNING},
    {409, false, "already in progress", DOCKER_ERROR_REMOVAL_IN_PROGRESS},
    {0, false, "is already in use", DOCKER_ERROR_NAME_IN_USE},
};

/* What each meaning is in ralph-exec's terms: the kind it gives the error,
 * and the remedy put before the engine's text, with what it names. */
enum remedy_arg { ARG_NONE, ARG_IMAGE, ARG_API, ARG_ULIMITS };

#define ANY_CALL 0u

static const struct {
    unsigned calls; /* the docker_call values it is about; ANY_CALL: every one */
    bool podman_only;
    enum rx_error_kind kind;
    enum remedy_arg arg;
    const char *remedy; /* a format taking what arg names; NULL: none */
} meanings[] = {
    [DOCKER_ERROR_OTHER] = {ANY_CALL, false, RX_ERR_INFRA, ARG_NONE, NULL},
    [DOCKER_ERROR_NO_RUNTIME] =
        {DOCKER_CALL_CREATE, false, RX_ERR_INFRA, ARG_NONE,
         "the engine has no gVisor runtime \"runsc\": install Debian's runsc package and "
         "register it in /etc/docker/daemon.json as {\"runtimes\": {\"runsc\": {\"path\": "
         "\"/usr/bin/runsc\", \"runtimeArgs\": [\"--network=none\"]}}}, then reload dockerd "
         "(kill -HUP)"},
    /* A limit this host cannot give: the job asked for it. */
    [DOCKER_ERROR_CPU_RANGE] = {DOCKER_CALL_CREATE, false, RX_ERR_REJECTED, ARG_NONE,
                                "`cpu_limit`"},
    [DOCKER_ERROR_MEMORY_MINIMUM] = {DOCKER_CALL_CREATE, false, RX_ERR_REJECTED, ARG_NONE,
                                     "`memory_limit`"},
    [DOCKER_ERROR_NO_IMAGE] =
        {DOCKER_CALL_CREATE, false, RX_ERR_INFRA, ARG_IMAGE,
         "image \"%s\" is not on the engine (ralph-exec never pulls): build it with "
         "`make images`, or load it with `docker pull`/`docker load`"},
    [DOCKER_ERROR_API_TOO_OLD] =
        {ANY_CALL, false, RX_ERR_INFRA, ARG_API,
         "the engine no longer accepts API %s, the newest ralph-exec speaks (ralph-exec "
         "doctor checks the range)"},
    /* The job named that file: rejected, never an infra_error (which
     * would count toward a worker's breaker). */
    [DOCKER_ERROR_DIR_COLLISION] =
        {DOCKER_CALL_PUT, false, RX_ERR_REJECTED, ARG_IMAGE,
         "`files`: a file would replace a directory that image \"%s\" has in /workspace"},
    [DOCKER_ERROR_NOT_RUNNING] = {ANY_CALL, false, RX_ERR_INFRA, ARG_NONE, NULL},
    [DOCKER_ERROR_REMOVAL_IN_PROGRESS] = {ANY_CALL, false, RX_ERR_INFRA, ARG_NONE, NULL},
    [DOCKER_ERROR_PODMAN_NO_INIT] =
        {ANY_CALL, true, RX_ERR_INFRA, ARG_NONE,
         "Podman runs jobs with an init process (Init: true) and needs catatonit for it: "
         "install it on the engine's host (apt-get install catatonit)"},
    [DOCKER_ERROR_PODMAN_RLIMIT] =
        {ANY_CALL, true, RX_ERR_INFRA, ARG_ULIMITS,
         "the Podman service's own hard limits are below the job's ulimits (nofile %d, nproc "
         "%d): start `podman system service` with at least those (ulimit -Hn, ulimit -Hu)"},
    [DOCKER_ERROR_NAME_IN_USE] = {DOCKER_CALL_CREATE, false, RX_ERR_INFRA, ARG_NONE, NULL},
};

/* The engine's own message in an error text: what follows our
 * "...: engine answered NNN: " (docker_resp_error), else all of it. */
static const char *
engine_message(const char *msg)
{
    const char *p = strstr(msg, "engine answered ");
    if (p != NULL && (p = strstr(p, ": ")) != NULL)
        msg = p + 2;
    static const char tar_prefix[] = "Error processing tar file(exit status 1): ";
    if (strncasecmp(msg, tar_prefix, sizeof(tar_prefix) - 1) == 0)
        msg += sizeof(tar_prefix) - 1;
    return msg;
}

enum docker_error_meaning
docker_error_meaning(long status, const char *message)
{
    if (status < 400 || message == NULL)
        return DOCKER_ERROR_OTHER;
    const char *own = engine_message(message);
    for (size_t i = 0; i < RX_ARRAY_SIZE(rows); i++) {
        if (rows[i].status != 0 && rows[i].status != status)
            continue;
        if (rows[i].anchored ? strncasecmp(own, rows[i].needle, strlen(rows[i].needle)) == 0
                             : strcasestr(message, rows[i].needle) != NULL)
            return rows[i].meaning;
    }
    return DOCKER_ERROR_OTHER;
}

enum docker_error_meaning
docker_error_explain(struct rx_error **err, const struct docker_error_context *ctx)
{
    if (err == NULL || *err == NULL)
        return DOCKER_ERROR_OTHER;
    long st = (*err)->http_status == 0 ? 500 : (*err)->http_status;
    enum docker_error_meaning m = docker_error_meaning(st, (*err)->msg);
    if (meanings[m].remedy == NULL || (meanings[m].podman_only && !ctx->podman) ||
        (meanings[m].calls != ANY_CALL && !(meanings[m].calls & (unsigned)ctx->call)))
        return m;
    (*err)->kind = meanings[m].kind;
    const char *fmt = meanings[m].remedy;
    /* The formats are the table's own literals, each with the arguments its
     * arg names (checked by tests/unit/test_engine_errors.c). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    switch (meanings[m].arg) {
    case ARG_NONE: rx_error_prefix(err, "%s", fmt); break;
    case ARG_IMAGE: rx_error_prefix(err, fmt, ctx->image ? ctx->image : "?"); break;
    case ARG_API: rx_error_prefix(err, fmt, ctx->api_version ? ctx->api_version : "?"); break;
    case ARG_ULIMITS: rx_error_prefix(err, fmt, ctx->nofile, ctx->nproc); break;
    }
#pragma GCC diagnostic pop
    return m;
}

const char *
docker_engine_differences(bool podman, const char *api_max)
{
    if (podman)
        return "Podman's compat API: no gVisor and no inline seccomp profile (such jobs are "
               "refused), OOM kills inferred from exit 137, /run and /var/tmp mounted read-only "
               "by ralph-exec, a file copied over an image's directory replaces it";
    if (docker_version_cmp(api_max, "1.44") >= 0)
        return "Docker 25 or newer (API 1.44+): archive copies cost a few ms; the engine "
               "validates a container's settings at create rather than at start";
    if (docker_version_cmp(api_max, "1.42") < 0)
        return "Docker 20.10 (API 1.41): every archive copy re-executes dockerd (60-150 ms); "
               "an OOM kill may be recorded after the exit (read from its last 256 events); "
               "an unknown wait condition is taken as not-running";
    return "Docker 23-24 (API 1.42-1.43): not tested by this project; the 1.41 request shapes "
           "are accepted";
}
