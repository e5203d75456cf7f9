/* SPDX-License-Identifier: MIT */
#include "worker/mem_budget.h"

enum mem_verdict
mem_budget_decide(long long budget, long long in_use, long long need)
{
    if (budget == MEM_BUDGET_OFF)
        return MEM_RUN;
    if (budget < 0)
        return MEM_WAIT; /* not known yet */
    if (need > budget)
        return MEM_REJECT;
    return need <= budget - in_use ? MEM_RUN : MEM_WAIT;
}

long long
mem_budget_reserve(long long mem_total)
{
    long long reserve = mem_total * MEM_BUDGET_RESERVE_PERCENT / 100;
    return reserve > MEM_BUDGET_RESERVE_MIN ? reserve : MEM_BUDGET_RESERVE_MIN;
}

long long
mem_budget_default(long long mem_total, long long worker_bytes)
{
    long long left = mem_total - mem_budget_reserve(mem_total) - worker_bytes;
    return left > 0 ? left : 1;
}

void
mem_budget_init(struct mem_budget *b, long long budget)
{
    *b = (struct mem_budget){.budget = budget};
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->changed, NULL);
}

void
mem_budget_destroy(struct mem_budget *b)
{
    pthread_cond_destroy(&b->changed);
    pthread_mutex_destroy(&b->lock);
}

bool
mem_budget_set(struct mem_budget *b, long long budget)
{
    pthread_mutex_lock(&b->lock);
    bool unknown = b->budget == MEM_BUDGET_UNKNOWN;
    if (unknown) {
        b->budget = budget;
        pthread_cond_broadcast(&b->changed);
    }
    pthread_mutex_unlock(&b->lock);
    return unknown;
}

long long
mem_budget_get(struct mem_budget *b)
{
    pthread_mutex_lock(&b->lock);
    long long v = b->budget;
    pthread_mutex_unlock(&b->lock);
    return v;
}

static void
usage_locked(const struct mem_budget *b, struct mem_budget_usage *u)
{
    *u = (struct mem_budget_usage){.budget = b->budget,
                                   .in_use = b->in_use,
                                   .running = b->running,
                                   .waiting = b->waiting};
}

void
mem_budget_usage(struct mem_budget *b, struct mem_budget_usage *u)
{
    pthread_mutex_lock(&b->lock);
    usage_locked(b, u);
    pthread_mutex_unlock(&b->lock);
}

/* With the lock held: MEM_WAIT until it is the turn of `ticket`, then
 * whether the job fits (MEM_REJECT: the budget, unknown when it came, is
 * now known and smaller than the job). */
static enum mem_verdict
turn(const struct mem_budget *b, unsigned long long ticket, long long need)
{
    return ticket == b->serving ? mem_budget_decide(b->budget, b->in_use, need) : MEM_WAIT;
}

enum mem_verdict
mem_budget_take(struct mem_budget *b, long long need, struct mem_grant *grant, mem_wait_fn *on_wait,
                void *ud)
{
    *grant = (struct mem_grant){0};
    pthread_mutex_lock(&b->lock);
    enum mem_verdict v = mem_budget_decide(b->budget, 0, need);
    if (v == MEM_REJECT || b->closed) {
        v = b->closed ? MEM_CLOSED : v;
        pthread_mutex_unlock(&b->lock);
        return v;
    }
    /* In line even when it fits: a large job is not overtaken for ever by
     * the small ones that keep coming after it. */
    unsigned long long ticket = b->next_ticket++;
    bool in_line = false;
    while (!b->closed && (v = turn(b, ticket, need)) == MEM_WAIT) {
        if (!in_line) {
            in_line = true;
            b->waiting++;
            if (on_wait != NULL) {
                struct mem_budget_usage u;
                usage_locked(b, &u);
                pthread_mutex_unlock(&b->lock);
                on_wait(ud, &u);
                pthread_mutex_lock(&b->lock);
                continue; /* memory may have come back meanwhile */
            }
        }
        pthread_cond_wait(&b->changed, &b->lock);
    }
    if (in_line)
        b->waiting--;
    if (b->closed) {
        v = MEM_CLOSED;
    } else {
        b->serving++; /* the next in line's turn, whether this one runs or not */
        if (v == MEM_RUN) {
            b->in_use += need;
            b->running++;
            *grant = (struct mem_grant){.b = b, .bytes = need};
        }
    }
    /* The next in line may fit too (or must see the gate closed). */
    pthread_cond_broadcast(&b->changed);
    pthread_mutex_unlock(&b->lock);
    return v;
}

void
mem_grant_release(struct mem_grant *grant)
{
    struct mem_budget *b = grant->b;
    if (b == NULL)
        return;
    pthread_mutex_lock(&b->lock);
    b->in_use -= grant->bytes;
    b->running--;
    pthread_cond_broadcast(&b->changed);
    pthread_mutex_unlock(&b->lock);
    *grant = (struct mem_grant){0};
}

void
mem_budget_close(struct mem_budget *b)
{
    pthread_mutex_lock(&b->lock);
    b->closed = true;
    pthread_cond_broadcast(&b->changed);
    pthread_mutex_unlock(&b->lock);
}
