/* SPDX-License-Identifier: MIT */
/* What an engine's error reply means, decided in one table (docker_errors.c)
 * from the HTTP status and the message text, for every engine we run on:
 * Docker 20.10 (API 1.41), Docker 26 (API 1.45) and Podman 4.3's compat API
 * word some of them differently.  Pure: no engine needed to test it. */
#ifndef DOCKER_ERRORS_H
#define DOCKER_ERRORS_H

#include <stdbool.h>

#include "executor/rx_error.h"

enum docker_error_meaning {
    DOCKER_ERROR_OTHER = 0,           /* nothing we know: the engine's own message */
    DOCKER_ERROR_NO_RUNTIME,          /* create: the named runtime (runsc) is not registered */
    DOCKER_ERROR_CPU_RANGE,           /* create: more CPUs than the host has */
    DOCKER_ERROR_MEMORY_MINIMUM,      /* create: a memory limit below the engine's minimum */
    DOCKER_ERROR_NO_IMAGE,            /* create: the image is not on the engine */
    DOCKER_ERROR_API_TOO_OLD,         /* any call: the engine's minimum API is above ours */
    DOCKER_ERROR_DIR_COLLISION,       /* archive PUT: a file would replace a directory */
    DOCKER_ERROR_NOT_RUNNING,         /* kill: the container has already stopped */
    DOCKER_ERROR_REMOVAL_IN_PROGRESS, /* remove: another removal of it is under way */
    DOCKER_ERROR_PODMAN_NO_INIT,      /* Podman: no catatonit for Init: true */
    DOCKER_ERROR_PODMAN_RLIMIT,       /* Podman: its service's hard limits are below the job's */
    DOCKER_ERROR_NAME_IN_USE,         /* create: a container has that name (its uid is taken) */
};

/* The meaning of an error reply with HTTP status and message (the body's
 * "message", or the error text that carries it); DOCKER_ERROR_OTHER when
 * no row of the table matches.  message may be NULL. */
enum docker_error_meaning docker_error_meaning(long status, const char *message);

/* The calls whose errors have meanings of their own. */
enum docker_call {
    DOCKER_CALL_CREATE = 1 << 0,
    DOCKER_CALL_PUT = 1 << 1, /* the input archive */
    DOCKER_CALL_ATTACH = 1 << 2,
    DOCKER_CALL_START = 1 << 3,
};

/* What a failed call was about, for the remedies that name it. */
struct docker_error_context {
    enum docker_call call;   /* the call that failed: a row applies only to its own */
    bool podman;             /* the Podman rows apply only there */
    const char *image;       /* the job's image */
    const char *api_version; /* the API version ralph-exec speaks */
    int nofile, nproc;       /* the ulimits sent (Podman's service must allow them) */
};

/* Give an engine's error reply its meaning in ralph-exec's terms, from the
 * same table: the kind (a job that asked for what this host cannot give is
 * rejected; the rest stay infra_error) and a remedy put before the engine's
 * own text, which stays, when the failed call is one the meaning is about
 * (a job's CPUs refused at create, not at start).  An error without an
 * HTTP status (a stream that failed) is read as the server error it was;
 * one with a status below 400 is no engine error.  Returns the meaning;
 * DOCKER_ERROR_OTHER leaves *err as it was. */
enum docker_error_meaning docker_error_explain(struct rx_error **err,
                                               const struct docker_error_context *ctx);

/* What ralph-exec knows to differ on an engine of this kind (podman) whose
 * API maximum is api_max ("1.41"), one line for `doctor`; a static string. */
const char *docker_engine_differences(bool podman, const char *api_max);

#endif
