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
    bool oom_killed;              /* the engine said so, or it is inferred (below) */
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

/* Whether an exit 137 that the engine did not call an OOM kill needs the
 * engine's event log (a SIGKILL we did not send), and whether, when that
 * log is silent too, the sandbox makes it an inferred OOM kill: under
 * gVisor the shim can miss a kill made as the sandbox starts. */
bool run_sigkill_unexplained(const struct run_facts *f, bool podman);
const char *run_oom_inferred_without_event(const char *sandbox);

void run_verdict_free(struct run_verdict *v);

#endif
