/* SPDX-License-Identifier: MIT */
/* A job's deps image on the engine (see deps.h): found, or built once. */
#ifndef DEPS_BUILD_H
#define DEPS_BUILD_H

#include <stdbool.h>
#include <stddef.h>

#include "executor/deps.h"
#include "executor/docker_client.h"

/* The deps image for reqs (normalised, sorted) on the runtime image, under
 * policy p: the existing one when its label holds the key (its tag then
 * renewed: least recently used is judged by the tag's time), else built
 * now.  One build per key at a time on the engine, whoever asks: the
 * builder holds a lock container named ralph-deps-lock-TAG (labelled with
 * owner and a deadline, so the sweep removes one a crashed builder left);
 * the others wait for its image, at most p->timeout_ms.  A build that
 * fails or is cut off tags nothing.  *image gets "ralph-deps:TAG" (caller
 * frees), *built whether this call built it.  Errors: RX_ERR_REJECTED when
 * the requirements cannot be installed (deps_failure), RX_ERR_INFRA
 * otherwise (ETIMEDOUT past p->timeout_ms). */
int deps_prepare(struct docker_client *dc, const char *runtime, char *const *reqs, size_t n,
                 const struct deps_policy *p, const char *owner, char **image, bool *built,
                 struct rx_error **err);

/* Remove deps images beyond max_images, least recently tagged first,
 * never `keep` and never one a container uses (the engine refuses those:
 * they are skipped).  *removed gets how many went. */
int deps_prune(struct docker_client *dc, long long max_images, const char *keep, int *removed,
               struct rx_error **err);

#endif
