/* SPDX-License-Identifier: MIT */
/* Container resource calls: create, start, wait, kill, inspect, remove. */
#ifndef DOCKER_CONTAINER_H
#define DOCKER_CONTAINER_H

#include <stdbool.h>
#include <json-c/json.h>

#include "executor/docker_client.h"

/* POST /containers/create?name=NAME with a body built by container_spec.
 * The name lets a container be found and removed when the engine made it
 * but its reply was lost, if its ralph.run label is the body's (the name
 * may be another run's by then).  Any engine
 * warning (a limit it could not apply) is an error: the container is
 * removed and NULL returned, so no job runs weaker than asked.  Returns the
 * new id (caller frees) or NULL with *err set. */
char *docker_container_create(struct docker_client *dc, const char *name, struct json_object *body,
                              struct rx_error **err);
/* POST /start; "already running" (304) counts as success. */
int docker_container_start(struct docker_client *dc, const char *id, struct rx_error **err);
/* POST /update: a running container's resources (body: Memory, NanoCpus...). */
int docker_container_update(struct docker_client *dc, const char *id, struct json_object *body,
                            struct rx_error **err);
/* POST /wait?condition=COND with a timeout (cancellable).  *status_code gets
 * the exit status.  Timeout: -1 with code ETIMEDOUT. */
int docker_container_wait(struct docker_client *dc, const char *id, const char *condition,
                          long timeout_ms, int *status_code, struct rx_error **err);
/* POST /containers/{id}/exec: a process to run in the running container
 * (body: container_spec_exec_body).  Returns the exec's id (caller frees)
 * or NULL with *err set. */
char *docker_exec_create(struct docker_client *dc, const char *id, struct json_object *body,
                         struct rx_error **err);
/* GET /exec/{id}/json: whether the process still runs, its exit code once
 * it has ended (-1 when the engine gives none) and its pid on the engine's
 * host (0 until the runtime has started it; pid may be NULL).  0 or -1 with
 * *err. */
int docker_exec_inspect(struct docker_client *dc, const char *exec_id, bool *running,
                        int *exit_code, long long *pid, struct rx_error **err);

/* POST /kill (SIGKILL); a container that is not running is not an error. */
int docker_container_kill(struct docker_client *dc, const char *id, struct rx_error **err);
/* GET /json; returns a new reference or NULL. */
struct json_object *docker_container_inspect(struct docker_client *dc, const char *id,
                                             struct rx_error **err);
/* Whether the engine logged an "oom" event for this container since
 * `since` (an engine timestamp, RFC 3339 as in inspect's Created; NULL or
 * malformed: all it keeps),
 * waiting up to grace_ms for one still on its way.  Docker 20.10 sets
 * OOMKilled only when the shim's OOM notice reaches the daemon before the
 * exit; under gVisor it often comes 15-50 ms after (seen 2026-11: 5-10% of
 * OOM kills at two concurrent jobs), and a late one never updates State.
 * Bounded, so not cancellable.  Returns 1 at the first event, 0 when none
 * came in the window, -1 with *err set when the engine refused the query. */
int docker_container_oom_event(struct docker_client *dc, const char *id, const char *since,
                               long grace_ms, struct rx_error **err);
/* DELETE ?force=1&v=1, retrying while a removal is already in progress;
 * a container that is already gone counts as removed.  Not cancellable. */
int docker_container_remove(struct docker_client *dc, const char *id, struct rx_error **err);

/* GET /containers/json?all=1 filtered by the presence of a label; returns
 * the engine's array (new reference) or NULL. */
struct json_object *docker_container_list_labelled(struct docker_client *dc, const char *label,
                                                   struct rx_error **err);

#endif
