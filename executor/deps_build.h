/* SPDX-License-Identifier: MIT */
/* A job's deps image on the engine (see deps.h): found, or built once. */
#ifndef DEPS_BUILD_H
#define DEPS_BUILD_H

#include <stdbool.h>
#include <stddef.h>

#include "executor/deps.h"
#include "executor/docker_client.h"

/* What a preparation needs of the job and its run. */
struct deps_request {
    const char *runtime; /* the job's image */
    char *const *reqs;   /* its requirements, normalised and sorted */
    size_t n;
    const char *owner; /* ralph.owner of the build lock */
    const char *queue; /* ralph.queue of the build lock (workers), or NULL */
};

/* Whose fault a failed preparation is, for a worker's breaker. */
enum deps_cause {
    DEPS_CAUSE_IMAGE,  /* the job's image is not on the engine */
    DEPS_CAUSE_ENGINE, /* the engine failed or the installer image is missing */
    DEPS_CAUSE_BUILD,  /* the set, the index or the build (the engine answered) */
};

/* The deps image for req's set on its runtime image, under policy p: the
 * existing one when its label holds the key (its tag then renewed: least
 * recently used is judged by the tag's time), else built now.  One build
 * per key at a time on the engine, whoever asks: the builder holds a lock
 * container named ralph-deps-lock-TAG (labelled like a job's container with
 * owner, queue and a deadline, so the sweep removes one a crashed worker
 * left; a ralph-exec of this host and pid namespace that is gone loses it
 * at once), the others wait for its image, at most p->timeout_ms.  A build
 * that fails or is cut off tags nothing, and its installer stage's images
 * are removed either way.  *image gets "ralph-deps:TAG" (caller frees),
 * *built whether this call built it, *cause whose fault a failure is.
 * Errors: RX_ERR_REJECTED when the requirements cannot be installed
 * (deps_failure), RX_ERR_INFRA otherwise (ETIMEDOUT past p->timeout_ms). */
int deps_prepare(struct docker_client *dc, const struct deps_request *req,
                 const struct deps_policy *p, char **image, bool *built, enum deps_cause *cause,
                 struct rx_error **err);

/* Remove deps images beyond max_images, least recently tagged first,
 * never `keep` and never one a container uses (the engine refuses those:
 * they are skipped).  *removed gets how many went. */
int deps_prune(struct docker_client *dc, long long max_images, const char *keep, int *removed,
               struct rx_error **err);

#endif
