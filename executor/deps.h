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

/* What the operator's policy says about requirements (executor_opts_from_policy
 * fills it into executor_opts; deps_policy_defaults gives the built-in one). */
struct deps_policy {
    enum deps_mode mode;
    const char *index_url; /* a PEP 503 index; NULL: pip's default */
    const char *network;   /* the build's network mode: "bridge" (default) or "host" */
    long long timeout_ms;  /* the build's own wall-clock limit */
    long long max_images;  /* deps images kept (least recently used removed beyond) */
    const char *pip_image; /* the installer image (DEPS_PIP_IMAGE) */
};

#define DEPS_PIP_IMAGE "ralph-pip:bookworm"
#define DEPS_DEFAULT_TIMEOUT_MS 300000
#define DEPS_DEFAULT_MAX_IMAGES 20
#define DEPS_IMAGE_REPO "ralph-deps"
/* Labels on a deps image: its key in full, and that it is one. */
#define DEPS_LABEL_KEY "io.ralph-exec.deps-key"

void deps_policy_defaults(struct deps_policy *p);

struct rx_buf;

/* The deps image's key: everything that decides what the build makes, one
 * fact a line (its format is versioned by the first line).  reqs: the
 * job's normalised, sorted requirement list. */
char *deps_key(const char *runtime_id, const char *pip_id, const struct deps_policy *p,
               char *const *reqs, size_t n);
/* The image's tag for a key: 32 hex digits of a name-based (SHA-1) UUID of
 * it.  The full key is also the image's DEPS_LABEL_KEY label, checked on
 * every use, so two keys sharing a tag can never swap images. */
void deps_tag(const char *key, char out[33]);

/* The label on the installer stage's images (value: the tag), by which a
 * build's leftovers are found and removed: the classic builder keeps every
 * stage's images as its cache, the downloaded wheels in them. */
#define DEPS_LABEL_STAGE "io.ralph-exec.deps-stage"

/* The build context for tag: a Dockerfile whose first stage installs reqs with the
 * installer image (as its non-root user, wheels only unless p->mode is
 * DEPS_ANY), and whose last stage is the runtime image with what was
 * installed copied in (into a directory on the default sys.path of its
 * Python).  An uncompressed tar into out (initialised with a cap). */
int deps_context(const char *tag, const char *runtime_id, const char *pip_id,
                 const struct deps_policy *p, char *const *reqs, size_t n, struct rx_buf *out,
                 struct rx_error **err);

/* What a build's progress stream said. */
struct deps_outcome {
    bool built;      /* "Successfully built ID" came, and no error after it */
    char *error;     /* the engine's error (the last), or NULL */
    char *installer; /* the installer's ERROR: lines (bounded), or NULL */
    bool network;    /* the installer could not reach the index */
};
/* Read the stream (JSON objects, a line each; when cut, its first line is
 * a fragment and skipped).  Never fails: what cannot be read is ignored. */
void deps_stream_parse(const char *log, size_t len, bool cut, struct deps_outcome *o);
void deps_outcome_free(struct deps_outcome *o);

/* Which failure a build that did not succeed is: the job's own (a package
 * or version that does not exist, no wheel, an unbuildable sdist, a set
 * that cannot be resolved: RX_ERR_REJECTED, with the installer's words) or
 * the infrastructure's (the index unreachable, the engine failing:
 * RX_ERR_INFRA).  Sets *err; returns -1. */
int deps_failure(const struct deps_outcome *o, const struct deps_policy *p, struct rx_error **err);

/* Whether a job whose container create failed prepares its deps image
 * again and creates once more: the engine said the image is missing
 * (no_image), the job runs on a deps image (on_deps), and this is the first
 * such failure (retries == 0).  Another process's build prunes the least
 * recently used deps images beyond max_deps_images, and only those that
 * containers use are kept: one a job has found but not yet created its
 * container from can go in between.  Once only: a second loss is an
 * infra_error like any missing image. */
bool deps_retry_create(bool no_image, bool on_deps, int retries);
#endif
