/* SPDX-License-Identifier: MIT */
/* The worker's metrics and health, for Prometheus and an orchestrator: the
 * counters are kept from the worker's own log events (one place every job's
 * end passes), the gauges set by the worker, and served over HTTP by
 * libmicrohttpd on a thread of its own, bounded in connections, time and
 * memory, so that a slow or hostile client cannot stall a job or grow the
 * worker. */
#ifndef METRICS_H
#define METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <json-c/json.h>

#include "executor/job_result.h"
#include "executor/rx_error.h"

struct metrics;

enum metrics_gauge {
    METRICS_SLOTS,       /* --concurrency */
    METRICS_SLOTS_BUSY,  /* jobs claimed: running or waiting for memory */
    METRICS_QUEUE_DEPTH, /* jobs queued, as of the last look (-1: not known) */
    METRICS_QUEUE_OK,    /* the last heartbeat reached the queue */
    METRICS_ENGINE_OK,   /* the engine answered the last time it was asked */
    METRICS_TAKING,      /* the slots take jobs: started, not stopped (0 at first) */
    METRICS_GAUGES,
};

struct metrics *metrics_new(const char *version);
void metrics_free(struct metrics *m); /* stops the server first */

/* A log event the worker wrote (event name, its fields): job_done counts
 * a job by status and duration, job_requeued, job_dead, job_infra_error,
 * engine_unavailable count, breaker_tripped opens the breaker, stopping
 * marks the worker draining. */
void metrics_event(struct metrics *m, const char *event, struct json_object *fields);
void metrics_set(struct metrics *m, enum metrics_gauge g, long long value);

/* What the end of a job's run says of the engine, for METRICS_ENGINE_OK,
 * without another engine call: 1 it answered, 0 it did not, -1 nothing
 * learned (the gauge is kept).  answered: for an infra_error, whether the
 * engine answered the worker's probe afterwards. */
int metrics_engine_seen(enum job_status st, enum job_infra_cause cause, bool answered);

/* The Prometheus text exposition (version 0.0.4) of m; caller frees. */
char *metrics_text(struct metrics *m);
/* Whether the worker takes jobs: not draining, breaker closed, queue and
 * engine reachable.  *why gets the first reason it does not (static). */
bool metrics_ready(struct metrics *m, const char **why);

/* Serve GET /metrics, /healthz and /readyz on addr ("PORT" for loopback,
 * "HOST:PORT", "[V6]:PORT"; a numeric address).  Errors name the
 * address. */
int metrics_serve(struct metrics *m, const char *addr, struct rx_error **err);

#endif
