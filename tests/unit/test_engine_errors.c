/* SPDX-License-Identifier: MIT */
/* What an engine's error reply means (docker_errors.c), for the exact texts
 * Docker 20.10, Docker 26 and Podman 4.3 send: the same meaning from each,
 * and nothing read into a status or a text that does not say it. */
#include "executor/docker_errors.h"
#include "executor/rx_util.h"

#include <errno.h>
#include <string.h>
#include "tests/lib/tap.h"

#define ID "672d82cf0f7bd74686657278484c651592833bc09b86a37d87db3b63084e9c80"

int
main(void)
{
    static const struct {
        long status;
        const char *msg;
        enum docker_error_meaning want;
        const char *what;
    } cases[] = {
        {400, "Unknown runtime specified runsc", DOCKER_ERROR_NO_RUNTIME, "20.10: no runsc"},
        {400, "unknown or invalid runtime name: runsc", DOCKER_ERROR_NO_RUNTIME, "26.1: no runsc"},
        {400, "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available",
         DOCKER_ERROR_CPU_RANGE, "20.10 and 26.1: too many CPUs"},
        {400, "Minimum memory limit allowed is 6MB", DOCKER_ERROR_MEMORY_MINIMUM,
         "20.10 and 26.1: too little memory"},
        {404, "No such image: nosuchimage:x", DOCKER_ERROR_NO_IMAGE, "Docker: no such image"},
        {404, "nosuchimage:x: image not known: no such image", DOCKER_ERROR_NO_IMAGE,
         "Podman: no such image"},
        {500,
         "Error processing tar file(exit status 1): cannot overwrite directory \"/workspace/d\" "
         "with non-directory \"/workspace\"",
         DOCKER_ERROR_DIR_COLLISION, "20.10: a file over an image's directory"},
        {500, "cannot overwrite directory \"/workspace/d\" with non-directory \"/workspace\"",
         DOCKER_ERROR_DIR_COLLISION, "26.1: a file over an image's directory"},
        {409, "Cannot kill container: " ID ": Container " ID " is not running",
         DOCKER_ERROR_NOT_RUNNING, "20.10: kill of a stopped container"},
        {409, "cannot kill container: " ID ": container " ID " is not running",
         DOCKER_ERROR_NOT_RUNNING, "26.1: kill of a stopped container"},
        {500,
         "can only kill running containers. " ID " is in state exited: container state "
         "improper: not running",
         DOCKER_ERROR_NOT_RUNNING, "Podman 4.3: kill of a stopped container"},
        {409, "removal of container " ID " is already in progress",
         DOCKER_ERROR_REMOVAL_IN_PROGRESS, "20.10 and 26.1: a removal under way"},
        {500, "container-init binary not found on the host", DOCKER_ERROR_PODMAN_NO_INIT,
         "Podman: no catatonit"},
        {500, "crun: error setting rlimit type 6: Operation not permitted",
         DOCKER_ERROR_PODMAN_RLIMIT, "Podman: service hard limits"},
        {400,
         "client version 1.47 is too old. Minimum supported API version is 1.50, please upgrade "
         "your client to a newer version",
         DOCKER_ERROR_API_TOO_OLD, "an engine whose minimum API is above ours"},
        {500,
         "copy the input in: engine answered 500: Error processing tar file(exit status 1): "
         "cannot overwrite directory \"/workspace/d\" with non-directory \"/workspace\"",
         DOCKER_ERROR_DIR_COLLISION, "20.10, as ralph-exec's error text carries it"},
        /* Nothing read into what does not say it. */
        {500,
         "copy the input in: engine answered 500: Error processing tar file(exit status 1): "
         "open /workspace/x/cannot overwrite directory \"/workspace/y: no space left on device",
         DOCKER_ERROR_OTHER, "a job's file named like the collision message, failing otherwise"},
        {500, "cannot write /workspace/cannot overwrite directory \"x\"", DOCKER_ERROR_OTHER,
         "the collision text anywhere but at the start of the engine's message"},
        {404, "Cannot kill container: " ID ": No such container: " ID, DOCKER_ERROR_OTHER,
         "no such container is no 'not running'"},
        {500, "Unknown runtime specified runsc", DOCKER_ERROR_OTHER,
         "the runtime text under another status"},
        {400, "No such image: x", DOCKER_ERROR_OTHER, "the image text under another status"},
        {200, "cannot overwrite directory \"/x\"", DOCKER_ERROR_OTHER,
         "a success is never an error"},
        {500, NULL, DOCKER_ERROR_OTHER, "no message"},
        {500, "", DOCKER_ERROR_OTHER, "an empty message"},
        {409, "Conflict. The container name \"/x\" is already in use", DOCKER_ERROR_NAME_IN_USE,
         "a name conflict is not a removal under way: its uid is taken"},
        {500,
         "creating container storage: the container name \"ralph-uid-7\" is already in "
         "use by ID. You have to remove that container to be able to reuse that name: "
         "that name is already in use",
         DOCKER_ERROR_NAME_IN_USE, "Podman's name conflict"},
    };
    for (size_t i = 0; i < RX_ARRAY_SIZE(cases); i++)
        is_int(docker_error_meaning(cases[i].status, cases[i].msg), cases[i].want, cases[i].what);

    /* What each meaning becomes: the kind, and the remedy before the
     * engine's own text, which stays. */
    static const struct {
        enum docker_call call;
        bool podman;
        long status;
        const char *msg;
        enum rx_error_kind kind;
        const char *starts; /* the message then starts with this; NULL: unchanged */
        const char *what;
    } explained[] = {
        {DOCKER_CALL_CREATE, false, 400, "Unknown runtime specified runsc", RX_ERR_INFRA,
         "the engine has no gVisor runtime \"runsc\": install Debian's runsc",
         "no runsc: infra_error with how to register it"},
        {DOCKER_CALL_CREATE, false, 400,
         "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available", RX_ERR_REJECTED,
         "`cpu_limit`: Range of CPUs", "too many CPUs: the job's cpu_limit, rejected"},
        {DOCKER_CALL_CREATE, false, 400, "Minimum memory limit allowed is 6MB", RX_ERR_REJECTED,
         "`memory_limit`: Minimum", "too little memory: the job's memory_limit, rejected"},
        {DOCKER_CALL_CREATE, false, 404, "No such image: img:1", RX_ERR_INFRA,
         "image \"img:1\" is not on the engine (ralph-exec never pulls)",
         "no image: infra_error naming the image"},
        {DOCKER_CALL_CREATE, false, 400,
         "client version 1.47 is too old. Minimum supported API version is 1.50, please upgrade "
         "your client to a newer version",
         RX_ERR_INFRA, "the engine no longer accepts API 1.41, the newest ralph-exec speaks",
         "API too old: names the version we speak"},
        {DOCKER_CALL_PUT, false, 500,
         "cannot overwrite directory \"/workspace/d\" with non-directory", RX_ERR_REJECTED,
         "`files`: a file would replace a directory that image \"img:1\" has in /workspace",
         "a file over the image's directory: the job's files, rejected"},
        {DOCKER_CALL_CREATE, true, 500,
         "crun: error setting rlimit type 6: Operation not permitted", RX_ERR_INFRA,
         "the Podman service's own hard limits are below the job's ulimits (nofile 1024, nproc "
         "32768)",
         "Podman's rlimits: the numbers sent"},
        {DOCKER_CALL_CREATE, false, 500,
         "crun: error setting rlimit type 6: Operation not permitted", RX_ERR_INFRA, NULL,
         "the Podman remedies are not given on Docker"},
        {DOCKER_CALL_CREATE, true, 0, "attach: container-init binary not found", RX_ERR_INFRA,
         "Podman runs jobs with an init process",
         "an error without a status (a failed stream) is read as a server error"},
        {DOCKER_CALL_CREATE, false, 500, "something else entirely", RX_ERR_INFRA, NULL,
         "anything else: unchanged"},
        {DOCKER_CALL_CREATE, false, 409, "removal of container x is already in progress",
         RX_ERR_INFRA, NULL, "a meaning without a remedy: unchanged"},
        {DOCKER_CALL_START, false, 400,
         "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available", RX_ERR_INFRA,
         NULL, "a limit refused at start, not create: not read as the job's request"},
        {DOCKER_CALL_ATTACH, false, 500,
         "cannot overwrite directory \"/workspace/d\" with non-directory", RX_ERR_INFRA, NULL,
         "the collision text outside the input copy: unchanged"},
        {DOCKER_CALL_PUT, false, 200,
         "cannot overwrite directory \"/workspace/d\" with non-directory", RX_ERR_INFRA, NULL,
         "a status below 400 is no engine error"},
    };
    for (size_t i = 0; i < RX_ARRAY_SIZE(explained); i++) {
        const struct docker_error_context ctx = {
            .call = explained[i].call,
            .podman = explained[i].podman,
            .image = "img:1",
            .api_version = "1.41",
            .nofile = 1024,
            .nproc = 32768,
        };
        struct rx_error *e = NULL;
        rx_error_set(&e, EIO, "%s", explained[i].msg);
        e->http_status = (int)explained[i].status;
        docker_error_explain(&e, &ctx);
        const char *want = explained[i].starts ? explained[i].starts : explained[i].msg;
        ok(e->kind == explained[i].kind && strncmp(e->msg, want, strlen(want)) == 0 &&
               strstr(e->msg, explained[i].msg) != NULL,
           "%s", explained[i].what);
        if (strncmp(e->msg, want, strlen(want)) != 0)
            diag("  got: %s", e->msg);
        rx_error_free(&e);
    }

    ok(strstr(docker_engine_differences(false, "1.41"), "Docker 20.10") != NULL,
       "doctor: API 1.41 is Docker 20.10, with its costly archive copies");
    ok(strstr(docker_engine_differences(false, "1.45"), "Docker 25 or newer") != NULL &&
           strstr(docker_engine_differences(false, "1.47"), "Docker 25 or newer") != NULL,
       "doctor: API 1.45 and 1.47 are the newer engines");
    ok(strstr(docker_engine_differences(false, "1.43"), "not tested") != NULL,
       "doctor: API 1.42-1.43 said to be untested");
    ok(strstr(docker_engine_differences(true, "1.41"), "Podman") != NULL,
       "doctor: Podman whatever its API version");
    return done_testing();
}
