/* SPDX-License-Identifier: MIT */
/* Admission by memory: a slot starts a job only when the memory limits of
 * the jobs this worker runs, plus this one's, fit in the worker's budget.
 * The decision is a pure function (mem_budget_decide); the gate around it
 * (struct mem_budget) is shared by the slots, who wait in it in the order
 * they came, on a condition variable. */
#ifndef MEM_BUDGET_H
#define MEM_BUDGET_H

#include <pthread.h>
#include <stdbool.h>

/* A budget of MEM_BUDGET_OFF admits every job; MEM_BUDGET_UNKNOWN is one
 * not known yet (the engine's memory, read once it answers). */
#define MEM_BUDGET_OFF 0LL
#define MEM_BUDGET_UNKNOWN (-1LL)

/* The reserve kept out of the engine's memory for a default budget: the
 * larger of MEM_BUDGET_RESERVE_MIN and MEM_BUDGET_RESERVE_PERCENT of it,
 * plus the worker's own memory bound (it runs on that host too). */
#define MEM_BUDGET_RESERVE_MIN (512LL << 20)
#define MEM_BUDGET_RESERVE_PERCENT 10

enum mem_verdict {
    MEM_RUN,    /* it fits (or admission is off): start it */
    MEM_WAIT,   /* it fits the budget, not next to what runs: wait */
    MEM_REJECT, /* it is larger than the whole budget: it never will */
    MEM_CLOSED, /* mem_budget_take only: the gate closed while it waited */
};

/* Whether a job needing `need` bytes may start with `in_use` bytes of
 * limits already running under `budget` (MEM_BUDGET_OFF: always). */
enum mem_verdict mem_budget_decide(long long budget, long long in_use, long long need);

/* The reserve on an engine host of mem_total bytes, the worker's bound
 * aside: the larger of MEM_BUDGET_RESERVE_MIN and the percentage. */
long long mem_budget_reserve(long long mem_total);
/* The default budget on an engine host of mem_total bytes for a worker
 * whose own memory bound is worker_bytes: mem_total less the reserve, at
 * least 1 byte (a host too small for the reserve rejects every job, and
 * the rejection names the budget). */
long long mem_budget_default(long long mem_total, long long worker_bytes);

struct mem_budget {
    pthread_mutex_t lock;
    pthread_cond_t changed; /* memory given back, the budget set, the gate closed */
    long long budget;       /* bytes, MEM_BUDGET_OFF or MEM_BUDGET_UNKNOWN */
    long long in_use;       /* the limits of the jobs granted and not given back */
    int running;            /* those jobs */
    int waiting;            /* jobs in line */
    unsigned long long next_ticket, serving; /* the line: first come, first served */
    bool closed;
};

/* What status reports, read at once under the lock. */
struct mem_budget_usage {
    long long budget, in_use;
    int running, waiting;
};

/* Bytes of one job, held from mem_budget_take until mem_grant_release. */
struct mem_grant {
    struct mem_budget *b;
    long long bytes;
};

void mem_budget_init(struct mem_budget *b, long long budget);
void mem_budget_destroy(struct mem_budget *b);
/* Set a budget that was MEM_BUDGET_UNKNOWN; true when this call set it (the
 * first of racing slots), false when it was known already. */
bool mem_budget_set(struct mem_budget *b, long long budget);
long long mem_budget_get(struct mem_budget *b);
void mem_budget_usage(struct mem_budget *b, struct mem_budget_usage *u);

/* Called once, without the gate's lock, when a job has to wait. */
typedef void mem_wait_fn(void *ud, const struct mem_budget_usage *u);

/* Take `need` bytes for a job into *grant: MEM_RUN at once or after
 * waiting in line (on_wait, if not NULL, called before the first wait);
 * MEM_REJECT when it is larger than the whole budget (nothing taken);
 * MEM_CLOSED when the gate was closed before its turn came (nothing
 * taken).  The budget must be known. */
enum mem_verdict mem_budget_take(struct mem_budget *b, long long need, struct mem_grant *grant,
                                 mem_wait_fn *on_wait, void *ud);
/* Give a grant's bytes back and wake the line; a no-op on an empty grant. */
void mem_grant_release(struct mem_grant *grant);
#define cleanup_mem_grant __attribute__((cleanup(mem_grant_release)))
/* The worker is stopping: every job waiting, and any that comes, gets
 * MEM_CLOSED.  Jobs that hold memory keep it until they give it back. */
void mem_budget_close(struct mem_budget *b);

#endif
