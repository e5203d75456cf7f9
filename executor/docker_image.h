/* SPDX-License-Identifier: MIT */
/* Image calls, for a job's deps image: inspect, build, tag, list, remove. */
#ifndef DOCKER_IMAGE_H
#define DOCKER_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <json-c/json.h>

#include "executor/docker_client.h"

/* GET /images/{name}/json: a new reference, or NULL with *err set (an
 * image that does not exist: http_status 404). */
struct json_object *docker_image_inspect(struct docker_client *dc, const char *name,
                                         struct rx_error **err);

/* POST /build?QUERY with an uncompressed tar as the context, waiting at most
 * timeout_ms (cancellable).  The engine answers 200 and then streams its
 * progress, a failed step included, as JSON lines: *log gets that stream
 * (its newest LIMIT_DEPS_BUILD_REPLY_BYTES; *log_cut when older bytes were
 * dropped) for deps_stream_parse.  A status other than 200 is an error
 * with the engine's message; a timeout is ETIMEDOUT. */
int docker_image_build(struct docker_client *dc, const char *query, const void *context,
                       size_t context_len, long timeout_ms, struct rx_buf *log, bool *log_cut,
                       struct rx_error **err);

/* POST /images/{name}/tag?repo=REPO&tag=TAG. */
int docker_image_tag(struct docker_client *dc, const char *name, const char *repo, const char *tag,
                     struct rx_error **err);

/* GET /images/json filtered by the presence of a label: the engine's array
 * (new reference) or NULL. */
struct json_object *docker_image_list_labelled(struct docker_client *dc, const char *label,
                                               struct rx_error **err);

/* DELETE /images/{name}, never forced: 0 when removed (or already gone),
 * 1 when the engine refused because a container uses it (409), -1 with
 * *err set otherwise. */
int docker_image_remove(struct docker_client *dc, const char *name, struct rx_error **err);

#endif
