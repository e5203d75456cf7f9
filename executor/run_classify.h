/* SPDX-License-Identifier: MIT */
/* What status and message a job that ran gets: a pure decision over the
 * facts executor_run gathered (how it ended, what the engine said about
 * memory, whether its input arrived), tested from a table without an engine
 * (tests/unit/test_classify.c).  An exit status from inside the container
 * never makes an infra_error: infrastructure failures end a run before it
 * gets here. */
#ifndef RUN_CLASSIFY_H
#define RUN_CLASSIFY_H

#include <stdbool.h>

#include "executor/job_result.h"
#include "executor/job_spec.h"

struct run_facts {
    enum job_kind kind;
    long long timeout_ms;   /* the job's */
    long long memory_bytes; /* the job's */
    long long send_ms;      /* how long its interpreter had to take its input */
    const char *output_path;
    int exit_code;                /* State.ExitCode */
    bool timed_out;               /* we killed it at its deadline */
    bool input_timed_out;         /* ... before its interpreter took its input */
    bool input_lost;              /* its input or go-ahead did not all reach the harness */
    bool oom_killed;              /* run_oom_judge's verdict */
    const char *oom_inferred_why; /* non-NULL: inferred from exit 137, and why */
    const char *event_note;       /* non-NULL: "; the engine's event log could not tell: ..." */
};

/* What to copy out once the status is known. */
enum run_collect {
    RUN_COLLECT_NONE,
    RUN_COLLECT_OPTIONAL, /* a failed command may still have left its output file */
    RUN_COLLECT_REQUIRED, /* exit 0: the output file is the result */
};

struct run_verdict {
    enum job_status status;
    bool has_exit_code;
    /* A code job that failed: the harness's account of the exception
     * (.ralph/error.json), when there is one, replaces message. */
    bool ask_harness;
    enum run_collect collect;
    char *message; /* owned; NULL for a success (so far) */
};

/* The verdict on how the container ended.  v is overwritten. */
void run_classify(const struct run_facts *f, struct run_verdict *v);

/* After a RUN_COLLECT_REQUIRED copy: a code job that exited 0 without an
 * output file has no result (result_invalid); a command need not write one. */
void run_classify_output(const struct run_facts *f, bool output_missing, struct run_verdict *v);

/* What the steps gathered about how the job's process ended and about its
 * memory, for run_oom_judge: the engine's words, never a conclusion. */
enum run_oom_event {
    RUN_OOM_EVENT_UNASKED, /* the event log was not asked (yet) */
    RUN_OOM_EVENT_SEEN,    /* it holds an "oom" event for this container */
    RUN_OOM_EVENT_NONE,    /* none came in the window */
    RUN_OOM_EVENT_UNKNOWN, /* the query failed */
};

struct run_evidence {
    bool podman;            /* the engine kind: Podman, not Docker */
    bool gvisor;            /* the sandbox kind: gVisor (runsc), not runc */
    bool timed_out;         /* we killed it */
    int exit_code;          /* the exec's, or the container's when it stopped first */
    bool container_stopped; /* inspect: State.Running is false */
    int container_exit;     /* inspect: State.ExitCode; 0 when it has none */
    bool state_oom_killed;  /* inspect: State.OOMKilled */
    enum run_oom_event event;
};

/* What the engine's event log is asked, when the rest cannot tell. */
enum run_oom_ask {
    RUN_OOM_ASK_NOTHING,
    RUN_OOM_ASK_LOGGED,  /* for a kill already past, its event already logged: briefly */
    RUN_OOM_ASK_AWAITED, /* for a notice that may still be on its way */
};

struct run_oom_verdict {
    int exit_code;            /* the job's */
    bool oom_killed;          /* the engine said so, or it is inferred */
    const char *inferred_why; /* static; non-NULL: inferred from exit 137, and why */
    enum run_oom_ask ask;     /* not NOTHING: ask, set e->event, judge again */
};

/* Whether the job's exit code, and whether it ran out of memory: the rules
 * for each engine and sandbox, over the evidence alone (run_classify.c says
 * why each exists).  With e->event RUN_OOM_EVENT_UNASKED the verdict may ask
 * for the engine's event log; judged again with its answer, it never asks. */
void run_oom_judge(const struct run_evidence *e, struct run_oom_verdict *v);

/* Whether an exec's exit code may be its sandbox's death rather than the
 * job's (gVisor's `runsc exec` ends 128 then): if so the container's own
 * stop, if it comes at once, tells the job's exit code. */
bool run_exec_exit_unsure(int exec_exit, bool timed_out, bool gvisor);

void run_verdict_free(struct run_verdict *v);

#endif
