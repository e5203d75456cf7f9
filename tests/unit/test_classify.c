/* SPDX-License-Identifier: MIT */
/* What status a job that ran gets (run_classify.c), from the facts alone:
 * how it ended, the engine's word on memory, whether its input arrived.
 * One row per case a user would see; no engine. */
#include <signal.h>
#include <string.h>

#include "executor/container_spec.h"
#include "executor/rx_util.h"
#include "executor/run_classify.h"
#include "tests/lib/tap.h"

#define CODE JOB_CODE
#define CMD JOB_COMMAND

int
main(void)
{
    static const struct {
        const char *what;
        struct run_facts f;
        enum job_status want;
        bool has_exit_code;
        enum run_collect collect;
        bool ask_harness;
        const char *says; /* the message contains this; NULL: no message */
    } rows[] = {
        {"exit 0: a success, once its output is read",
         {.kind = CODE, .exit_code = 0},
         JOB_SUCCESS,
         true,
         RUN_COLLECT_REQUIRED,
         false,
         NULL},
        {"a command's exit 0: the same",
         {.kind = CMD, .exit_code = 0},
         JOB_SUCCESS,
         true,
         RUN_COLLECT_REQUIRED,
         false,
         NULL},
        {"a code job's exit 1: an error, told by its harness if it can",
         {.kind = CODE, .exit_code = 1},
         JOB_ERROR,
         true,
         RUN_COLLECT_NONE,
         true,
         "exited with code 1"},
        {"a command's exit 1: an error, its output file still read if there",
         {.kind = CMD, .exit_code = 1},
         JOB_ERROR,
         true,
         RUN_COLLECT_OPTIONAL,
         false,
         "exited with code 1"},
        {"exit 127: command not found",
         {.kind = CMD, .exit_code = 127},
         JOB_ERROR,
         true,
         RUN_COLLECT_OPTIONAL,
         false,
         "(command not found)"},
        {"exit 126: not executable",
         {.kind = CMD, .exit_code = 126},
         JOB_ERROR,
         true,
         RUN_COLLECT_OPTIONAL,
         false,
         "(command not executable)"},
        {"exit 143: killed by a signal",
         {.kind = CMD, .exit_code = 143},
         JOB_ERROR,
         true,
         RUN_COLLECT_OPTIONAL,
         false,
         "(killed by a signal)"},
        {"our kill at the deadline: a timeout, no exit code",
         {.kind = CODE, .exit_code = 137, .timed_out = true, .timeout_ms = 2000},
         JOB_TIMEOUT,
         false,
         RUN_COLLECT_NONE,
         false,
         "timed out after 2 s and was killed"},
        {"a timeout that had also run out of memory: still a timeout",
         {.kind = CMD, .exit_code = 137, .timed_out = true, .oom_killed = true, .timeout_ms = 1500},
         JOB_TIMEOUT,
         false,
         RUN_COLLECT_NONE,
         false,
         "(a process had also run out of memory)"},
        {"an interpreter that never took its input: a timeout before its code ran",
         {.kind = CODE,
          .exit_code = 137,
          .timed_out = true,
          .input_timed_out = true,
          .input_lost = true,
          .send_ms = 30000},
         JOB_TIMEOUT,
         false,
         RUN_COLLECT_NONE,
         false,
         "timed out before its code ran"},
        {"the engine's OOM kill: oom, with the limit",
         {.kind = CODE, .exit_code = 137, .oom_killed = true, .memory_bytes = 67108864},
         JOB_OOM,
         true,
         RUN_COLLECT_NONE,
         false,
         "at the 67108864-byte limit"},
        {"an inferred OOM kill says it is inferred, and why",
         {.kind = CMD,
          .exit_code = 137,
          .oom_killed = true,
          .memory_bytes = 1,
          .oom_inferred_why = "WHY"},
         JOB_OOM,
         true,
         RUN_COLLECT_NONE,
         false,
         "(inferred from exit 137: WHY"},
        {"an OOM kill with an event log that could not tell says so",
         {.kind = CMD, .exit_code = 137, .oom_killed = true, .event_note = "; NOTE"},
         JOB_OOM,
         true,
         RUN_COLLECT_NONE,
         false,
         "; NOTE"},
        {"input cut short and the harness's no-input exit: the job's error, nothing ran",
         {.kind = CODE, .exit_code = SANDBOX_HARNESS_NO_INPUT, .input_lost = true},
         JOB_ERROR,
         true,
         RUN_COLLECT_NONE,
         false,
         "nothing of the job's code ran"},
        {"input cut short, another exit: an error that says so",
         {.kind = CODE, .exit_code = 1, .input_lost = true},
         JOB_ERROR,
         true,
         RUN_COLLECT_NONE,
         true,
         "before it had all its input"},
        {"exit 3 with all its input: an ordinary error",
         {.kind = CODE, .exit_code = SANDBOX_HARNESS_NO_INPUT},
         JOB_ERROR,
         true,
         RUN_COLLECT_NONE,
         true,
         "exited with code 3"},
        {"an unexplained SIGKILL the engine did not call an OOM: the job's error",
         {.kind = CMD, .exit_code = 128 + SIGKILL},
         JOB_ERROR,
         true,
         RUN_COLLECT_OPTIONAL,
         false,
         "(killed by a signal)"},
    };
    for (size_t i = 0; i < RX_ARRAY_SIZE(rows); i++) {
        struct run_verdict v;
        run_classify(&rows[i].f, &v);
        bool good =
            v.status == rows[i].want && v.has_exit_code == rows[i].has_exit_code &&
            v.collect == rows[i].collect && v.ask_harness == rows[i].ask_harness &&
            (rows[i].says ? v.message && strstr(v.message, rows[i].says) : v.message == NULL);
        ok(good, "%s", rows[i].what);
        if (!good)
            diag("  got %s (%s)", job_status_name(v.status), v.message ? v.message : "no message");
        run_verdict_free(&v);
    }

    /* Exit 0, then the output file. */
    struct run_facts code0 = {.kind = CODE, .output_path = "output.json"};
    struct run_facts cmd0 = {.kind = CMD, .output_path = "output.json"};
    struct run_verdict v;
    run_classify(&code0, &v);
    run_classify_output(&code0, true, &v);
    ok(v.status == JOB_RESULT_INVALID && v.has_exit_code && v.message &&
           strstr(v.message, "wrote no output file output.json"),
       "a code job that exited 0 without its output file: result_invalid, naming the file");
    run_verdict_free(&v);
    run_classify(&code0, &v);
    run_classify_output(&code0, false, &v);
    ok(v.status == JOB_SUCCESS && v.message == NULL, "a code job with its output file: success");
    run_verdict_free(&v);
    run_classify(&cmd0, &v);
    run_classify_output(&cmd0, true, &v);
    ok(v.status == JOB_SUCCESS, "a command need not write an output file");
    run_verdict_free(&v);
    struct run_facts cmd1 = {.kind = CMD, .exit_code = 1, .output_path = "o"};
    run_classify(&cmd1, &v);
    run_classify_output(&cmd1, true, &v);
    ok(v.status == JOB_ERROR, "a failed job stays failed whatever its output");
    run_verdict_free(&v);

    /* When an exit 137 needs the engine's event log. */
    struct run_facts k = {.exit_code = 137};
    ok(run_sigkill_unexplained(&k, false), "Docker: a SIGKILL we did not send asks the events");
    ok(!run_sigkill_unexplained(&k, true), "Podman: its own inference stands (no events)");
    k.timed_out = true;
    ok(!run_sigkill_unexplained(&k, false), "our own kill needs no explaining");
    k = (struct run_facts){.exit_code = 137, .oom_killed = true};
    ok(!run_sigkill_unexplained(&k, false), "an OOM kill the engine reported needs none");
    k = (struct run_facts){.exit_code = 1};
    ok(!run_sigkill_unexplained(&k, false), "nor does an ordinary exit");
    ok(run_oom_inferred_without_event("gvisor") != NULL,
       "gVisor: a silent event log still makes an inferred OOM kill");
    ok(run_oom_inferred_without_event("runc") == NULL &&
           run_oom_inferred_without_event(NULL) == NULL,
       "runc: a silent event log leaves the job's own SIGKILL its error");
    return done_testing();
}
