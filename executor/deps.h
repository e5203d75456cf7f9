/* SPDX-License-Identifier: MIT */
/* A job's `requirements`: installed once, with network, into a deps image
 * made from the job's runtime image, then run on that image without network
 * like any other job.  The image is named from a hash of everything that
 * decides its contents (the runtime image's id, the normalised requirement
 * set, the index, the installer image's id, whether sdists may be built)
 * and labelled with that key in full. */
#ifndef DEPS_H
#define DEPS_H

#include <stdbool.h>
#include <stddef.h>

#include "executor/rx_error.h"

/* The policy key `requirements`. */
enum deps_mode {
    DEPS_WHEELS, /* default: wheels only (pip --only-binary=:all:) */
    DEPS_ANY,    /* sdists may be built (their code runs during the build) */
    DEPS_OFF,    /* every job with requirements is rejected */
};

/* What the operator's policy says about requirements (operator_policy_apply
 * fills it into executor_opts; deps_policy_defaults gives the built-in one). */
struct deps_policy {
    enum deps_mode mode;
    const char *index_url;   /* a PEP 503 index; NULL: pip's default */
    const char *network;     /* the build's network mode: "bridge" (default) or "host" */
    long long timeout_ms;    /* the build's own wall-clock limit */
    long long max_images;    /* deps images kept (least recently used removed beyond) */
    const char *pip_image;   /* the installer image (DEPS_PIP_IMAGE) */
};

#define DEPS_PIP_IMAGE "ralph-pip:bookworm"
#define DEPS_DEFAULT_TIMEOUT_MS 300000
#define DEPS_DEFAULT_MAX_IMAGES 20
#define DEPS_IMAGE_REPO "ralph-deps"
/* Labels on a deps image: its key in full, and that it is one. */
#define DEPS_LABEL_KEY "io.ralph-exec.deps-key"

void deps_policy_defaults(struct deps_policy *p);

#endif
