/* SPDX-License-Identifier: MIT */
/* Admission by memory (worker/mem_budget.c), without an engine: the pure
 * decision (fits, waits, rejects), the default budget, and the gate the
 * slots wait in (a job waits for memory to come back, in line behind the
 * ones that came first, and leaves when the worker stops).  The module's
 * source is compiled in (it is the worker's, not part of libexecutor.a). */
#include "worker/mem_budget.c"

#include <stdatomic.h>
#include <unistd.h>

#include "executor/rx_util.h"
#include "tests/lib/tap.h"

#define MIB (1LL << 20)
#define GIB (1LL << 30)

/* One job taking memory from the gate in a thread of its own. */
struct taker {
    struct mem_budget *b;
    long long need;
    pthread_t thread;
    struct mem_grant grant;
    atomic_int verdict; /* -1 until mem_budget_take returned */
    atomic_int waits;   /* times on_wait was called */
};

static void
on_wait(void *ud, const struct mem_budget_usage *u RX_UNUSED)
{
    struct taker *t = ud;
    atomic_fetch_add(&t->waits, 1);
}

static void *
take_main(void *arg)
{
    struct taker *t = arg;
    enum mem_verdict v = mem_budget_take(t->b, t->need, &t->grant, on_wait, t);
    atomic_store(&t->verdict, (int)v);
    return NULL;
}

static void
start_taker(struct taker *t, struct mem_budget *b, long long need)
{
    t->b = b;
    t->need = need;
    t->grant = (struct mem_grant){0};
    atomic_store(&t->verdict, -1);
    atomic_store(&t->waits, 0);
    pthread_create(&t->thread, NULL, take_main, t);
}

/* Up to 5 s for the gate to have `waiting` jobs in line. */
static bool
until_waiting(struct mem_budget *b, int waiting)
{
    for (int i = 0; i < 500; i++) {
        struct mem_budget_usage u;
        mem_budget_usage(b, &u);
        if (u.waiting == waiting)
            return true;
        usleep(10000);
    }
    return false;
}

/* Up to 5 s for a taker's verdict. */
static int
until_verdict(struct taker *t)
{
    for (int i = 0; i < 500 && atomic_load(&t->verdict) < 0; i++)
        usleep(10000);
    return atomic_load(&t->verdict);
}

static void
test_decide(void)
{
    is_int(mem_budget_decide(512 * MIB, 0, 256 * MIB), MEM_RUN,
           "decide: 256m in an idle 512m runs");
    is_int(mem_budget_decide(512 * MIB, 256 * MIB, 256 * MIB), MEM_RUN,
           "decide: 256m next to 256m in 512m runs (exactly full)");
    is_int(mem_budget_decide(512 * MIB, 512 * MIB, 256 * MIB), MEM_WAIT,
           "decide: a third 256m in 512m waits");
    is_int(mem_budget_decide(512 * MIB, 256 * MIB + 1, 256 * MIB), MEM_WAIT,
           "decide: one byte over waits");
    is_int(mem_budget_decide(512 * MIB, 0, GIB), MEM_REJECT, "decide: 1g in 512m is rejected");
    is_int(mem_budget_decide(512 * MIB, 0, 512 * MIB + 1), MEM_REJECT,
           "decide: one byte more than the whole budget is rejected");
    is_int(mem_budget_decide(512 * MIB, 0, 512 * MIB), MEM_RUN,
           "decide: a job of the whole budget runs when nothing else does");
    is_int(mem_budget_decide(MEM_BUDGET_OFF, 100 * GIB, GIB), MEM_RUN, "decide: off admits all");
    is_int(mem_budget_decide(MEM_BUDGET_UNKNOWN, 0, 6 * MIB), MEM_WAIT,
           "decide: an unknown budget waits");
}

static void
test_default(void)
{
    long long worker = 192 * MIB;
    is_int(mem_budget_default(24 * GIB, worker), 24 * GIB - 24 * GIB / 10 - worker,
           "default on 24 GiB: less 10% and the worker's own bound");
    is_int(mem_budget_default(2 * GIB, worker), 2 * GIB - 512 * MIB - worker,
           "default on 2 GiB: less 512 MiB (more than 10%) and the worker's bound");
    is_int(mem_budget_reserve(4 * GIB), 512 * MIB, "reserve on 4 GiB: 512 MiB (10% is less)");
    is_int(mem_budget_reserve(10 * GIB), GIB, "reserve on 10 GiB: 10%");
    is_int(mem_budget_default(512 * MIB, worker), 1, "default on a host below the reserve: 1 byte");
}

static void
test_gate_waits(void)
{
    struct mem_budget b;
    mem_budget_init(&b, 512 * MIB);
    struct mem_grant g1, g2;
    is_int(mem_budget_take(&b, 256 * MIB, &g1, NULL, NULL), MEM_RUN, "gate: first 256m runs");
    is_int(mem_budget_take(&b, 256 * MIB, &g2, NULL, NULL), MEM_RUN, "gate: second 256m runs");
    struct taker t;
    start_taker(&t, &b, 256 * MIB);
    ok(until_waiting(&b, 1), "gate: the third 256m waits");
    is_int(atomic_load(&t.verdict), -1, "gate: ... and has not started");
    mem_grant_release(&g1);
    is_int(until_verdict(&t), MEM_RUN, "gate: it runs once 256m came back");
    pthread_join(t.thread, NULL);
    is_int(atomic_load(&t.waits), 1, "gate: on_wait was called once for the job");
    struct mem_budget_usage u;
    mem_budget_usage(&b, &u);
    ok(u.in_use == 512 * MIB && u.running == 2 && u.waiting == 0,
       "gate: usage 512m by 2 jobs, none waiting");
    mem_grant_release(&t.grant);
    mem_grant_release(&t.grant); /* a second release is a no-op */
    mem_grant_release(&g2);
    mem_budget_usage(&b, &u);
    ok(u.in_use == 0 && u.running == 0, "gate: all given back");
    struct mem_grant big;
    is_int(mem_budget_take(&b, GIB, &big, NULL, NULL), MEM_REJECT, "gate: 1g in 512m: rejected");
    ok(big.b == NULL, "gate: a rejected job holds nothing");
    mem_budget_destroy(&b);
}

/* A large job that waits is not overtaken by a small one that would fit. */
static void
test_gate_in_line(void)
{
    struct mem_budget b;
    mem_budget_init(&b, 512 * MIB);
    struct mem_grant g;
    mem_budget_take(&b, 256 * MIB, &g, NULL, NULL);
    struct taker large, small;
    start_taker(&large, &b, 512 * MIB);
    ok(until_waiting(&b, 1), "line: 512m waits behind a running 256m");
    start_taker(&small, &b, 128 * MIB);
    ok(until_waiting(&b, 2), "line: 128m, which would fit, waits behind it");
    mem_grant_release(&g);
    is_int(until_verdict(&large), MEM_RUN, "line: the 512m runs first");
    usleep(50000);
    is_int(atomic_load(&small.verdict), -1, "line: the 128m waits for it");
    mem_grant_release(&large.grant);
    is_int(until_verdict(&small), MEM_RUN, "line: then the 128m runs");
    pthread_join(large.thread, NULL);
    pthread_join(small.thread, NULL);
    mem_grant_release(&small.grant);
    mem_budget_destroy(&b);
}

/* A budget not known when jobs came: they wait for it; one larger than it
 * turns out to be is rejected and the next in line goes on. */
static void
test_gate_unknown(void)
{
    struct mem_budget b;
    mem_budget_init(&b, MEM_BUDGET_UNKNOWN);
    struct taker large, small;
    start_taker(&large, &b, GIB);
    ok(until_waiting(&b, 1), "unknown: a job waits for the budget");
    start_taker(&small, &b, 256 * MIB);
    ok(until_waiting(&b, 2), "unknown: a second one too");
    ok(mem_budget_set(&b, 512 * MIB), "unknown: the first set sets it");
    ok(!mem_budget_set(&b, GIB), "unknown: a second set does not");
    is_int(mem_budget_get(&b), 512 * MIB, "unknown: the budget is the first one set");
    is_int(until_verdict(&large), MEM_REJECT, "unknown: 1g is rejected once it is 512m");
    is_int(until_verdict(&small), MEM_RUN, "unknown: the 256m behind it runs");
    pthread_join(large.thread, NULL);
    pthread_join(small.thread, NULL);
    mem_grant_release(&small.grant);
    mem_budget_destroy(&b);
}

static void
test_gate_close(void)
{
    struct mem_budget b;
    mem_budget_init(&b, 512 * MIB);
    struct mem_grant g;
    mem_budget_take(&b, 512 * MIB, &g, NULL, NULL);
    struct taker t;
    start_taker(&t, &b, 256 * MIB);
    ok(until_waiting(&b, 1), "close: a job waits");
    mem_budget_close(&b);
    is_int(until_verdict(&t), MEM_CLOSED, "close: the waiting job leaves");
    pthread_join(t.thread, NULL);
    ok(t.grant.b == NULL, "close: ... holding nothing");
    struct mem_grant g2;
    is_int(mem_budget_take(&b, 6 * MIB, &g2, NULL, NULL), MEM_CLOSED,
           "close: a job that comes after is not started");
    struct mem_budget_usage u;
    mem_budget_usage(&b, &u);
    ok(u.in_use == 512 * MIB && u.running == 1 && u.waiting == 0,
       "close: the running job keeps its memory");
    mem_grant_release(&g);
    mem_budget_destroy(&b);
}

int
main(void)
{
    test_decide();
    test_default();
    test_gate_waits();
    test_gate_in_line();
    test_gate_unknown();
    test_gate_close();
    return done_testing();
}
