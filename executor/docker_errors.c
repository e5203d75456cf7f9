/* SPDX-License-Identifier: MIT */
#include "executor/docker_errors.h"

#include <stddef.h>
#include <string.h>

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
 * Matching is case-insensitive: 26 lower-cased several of 20.10's messages. */
static const struct {
    long status;
    const char *needle;
    enum docker_error_meaning meaning;
} rows[] = {
    {400, "unknown runtime specified", DOCKER_ERROR_NO_RUNTIME},
    {400, "unknown or invalid runtime name", DOCKER_ERROR_NO_RUNTIME},
    {400, "range of cpus", DOCKER_ERROR_CPU_RANGE},
    {400, "minimum memory limit", DOCKER_ERROR_MEMORY_MINIMUM},
    {404, "no such image", DOCKER_ERROR_NO_IMAGE},
    {0, "cannot overwrite directory", DOCKER_ERROR_DIR_COLLISION},
    {409, "is not running", DOCKER_ERROR_NOT_RUNNING},
    {500, "not running", DOCKER_ERROR_NOT_RUNNING},
    {409, "already in progress", DOCKER_ERROR_REMOVAL_IN_PROGRESS},
    {0, "container-init binary not found", DOCKER_ERROR_PODMAN_NO_INIT},
    {0, "catatonit", DOCKER_ERROR_PODMAN_NO_INIT},
    {0, "error setting rlimit", DOCKER_ERROR_PODMAN_RLIMIT},
};

enum docker_error_meaning
docker_error_meaning(long status, const char *message)
{
    if (status < 400 || message == NULL)
        return DOCKER_ERROR_OTHER;
    for (size_t i = 0; i < RX_ARRAY_SIZE(rows); i++)
        if ((rows[i].status == 0 || rows[i].status == status) &&
            strcasestr(message, rows[i].needle) != NULL)
            return rows[i].meaning;
    return DOCKER_ERROR_OTHER;
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
