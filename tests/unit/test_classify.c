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

    /* The job's exit code and its OOM verdict from the engine's evidence: one
     * row per reason a rule of run_oom_judge exists. */
#define DOCKER .podman = false
#define PODMAN .podman = true
#define GVISOR .gvisor = true
#define KILLED .exit_code = 128 + SIGKILL
    static const struct {
        const char *what;
        struct run_evidence e;
        int exit_code;
        bool oom;
        const char *why; /* inferred_why contains this; NULL: not inferred */
        enum run_oom_ask ask;
    } judged[] = {
        {"an ordinary exit: no OOM, nothing asked",
         {DOCKER, .exit_code = 0},
         0,
         false,
         NULL,
         RUN_OOM_ASK_NOTHING},
        {"OOMKilled (Docker 26 sets it with the container still running): the engine's word",
         {DOCKER, KILLED, .state_oom_killed = true},
         137,
         true,
         NULL,
         RUN_OOM_ASK_NOTHING},
        {"OOMKilled after our kill at the deadline: still an OOM (the timeout says so)",
         {DOCKER, KILLED, .timed_out = true, .state_oom_killed = true},
         137,
         true,
         NULL,
         RUN_OOM_ASK_NOTHING},
        {"our kill at the deadline: no OOM, nothing asked",
         {DOCKER, GVISOR, KILLED, .timed_out = true},
         137,
         false,
         NULL,
         RUN_OOM_ASK_NOTHING},
        {"Podman never sets OOMKilled: a SIGKILL we did not send is inferred, said so",
         {PODMAN, KILLED},
         137,
         true,
         "Podman does not report OOM kills",
         RUN_OOM_ASK_NOTHING},
        {"Podman: our timeout kill is not an OOM",
         {PODMAN, KILLED, .timed_out = true},
         137,
         false,
         NULL,
         RUN_OOM_ASK_NOTHING},
        {"Podman: exit 1 is not an OOM, and it has no event log to ask",
         {PODMAN, .exit_code = 1},
         1,
         false,
         NULL,
         RUN_OOM_ASK_NOTHING},
        {"Podman: an OOMKilled it did report is not inferred",
         {PODMAN, KILLED, .state_oom_killed = true},
         137,
         true,
         NULL,
         RUN_OOM_ASK_NOTHING},
        {"Docker: a SIGKILL we did not send waits for the event log (a notice still on its way)",
         {DOCKER, KILLED},
         137,
         false,
         NULL,
         RUN_OOM_ASK_AWAITED},
        {"Docker: the late event came: an OOM, not inferred",
         {DOCKER, KILLED, .event = RUN_OOM_EVENT_SEEN},
         137,
         true,
         NULL,
         RUN_OOM_ASK_NOTHING},
        {"runc, no event: the job's own kill -9 stays its error",
         {DOCKER, KILLED, .event = RUN_OOM_EVENT_NONE},
         137,
         false,
         NULL,
         RUN_OOM_ASK_NOTHING},
        {"runc, the event log could not tell: not an OOM",
         {DOCKER, KILLED, .event = RUN_OOM_EVENT_UNKNOWN},
         137,
         false,
         NULL,
         RUN_OOM_ASK_NOTHING},
        {"gVisor, no event: the shim missed a kill made as the sandbox started, inferred",
         {DOCKER, GVISOR, KILLED, .event = RUN_OOM_EVENT_NONE},
         137,
         true,
         "under gVisor the engine misses OOM kills made as the sandbox starts",
         RUN_OOM_ASK_NOTHING},
        {"gVisor, the event log could not tell: inferred too",
         {DOCKER, GVISOR, KILLED, .event = RUN_OOM_EVENT_UNKNOWN},
         137,
         true,
         "under gVisor",
         RUN_OOM_ASK_NOTHING},
        {"gVisor, the event came: an OOM, not inferred",
         {DOCKER, GVISOR, KILLED, .event = RUN_OOM_EVENT_SEEN},
         137,
         true,
         NULL,
         RUN_OOM_ASK_NOTHING},
        {"Docker 20.10: a child OOM-killed under a parent that exits 5: the log asked briefly",
         {DOCKER, .exit_code = 5},
         5,
         false,
         NULL,
         RUN_OOM_ASK_LOGGED},
        {"... and its event logged: an OOM, with the parent's exit code",
         {DOCKER, .exit_code = 5, .event = RUN_OOM_EVENT_SEEN},
         5,
         true,
         NULL,
         RUN_OOM_ASK_NOTHING},
        {"... no event: the job's error, never inferred, even under gVisor",
         {DOCKER, GVISOR, .exit_code = 5, .event = RUN_OOM_EVENT_NONE},
         5,
         false,
         NULL,
         RUN_OOM_ASK_NOTHING},
        {"gVisor's sandbox killed whole: its exec said 128, the stopped container's 137 is the "
         "job's, and the log is awaited",
         {DOCKER, GVISOR, .exit_code = 128, .container_stopped = true, .container_exit = 137},
         137,
         false,
         NULL,
         RUN_OOM_ASK_AWAITED},
        {"a container stopped by our kill: the exec's exit code stands",
         {DOCKER, .exit_code = 128, .timed_out = true, .container_stopped = true,
          .container_exit = 137},
         128,
         false,
         NULL,
         RUN_OOM_ASK_NOTHING},
        {"a stopped container with no exit code of its own: the exec's stands",
         {DOCKER, .exit_code = 3, .container_stopped = true, .container_exit = 0},
         3,
         false,
         NULL,
         RUN_OOM_ASK_LOGGED},
        {"a running container's exit code is not the job's",
         {DOCKER, .exit_code = 1, .container_exit = 137},
         1,
         false,
         NULL,
         RUN_OOM_ASK_LOGGED},
    };
    for (size_t i = 0; i < RX_ARRAY_SIZE(judged); i++) {
        struct run_oom_verdict jv;
        run_oom_judge(&judged[i].e, &jv);
        bool good = jv.exit_code == judged[i].exit_code && jv.oom_killed == judged[i].oom &&
                    jv.ask == judged[i].ask &&
                    (judged[i].why ? jv.inferred_why && strstr(jv.inferred_why, judged[i].why)
                                   : jv.inferred_why == NULL);
        ok(good, "%s", judged[i].what);
        if (!good)
            diag("  got exit %d, oom %d, ask %d, why %s", jv.exit_code, jv.oom_killed, jv.ask,
                 jv.inferred_why ? jv.inferred_why : "none");
    }

    /* When an exec's exit code is to be checked against its container's. */
    ok(run_exec_exit_unsure(128, false, true),
       "gVisor: an exec's 128 may be its sandbox's death (runsc exec)");
    ok(!run_exec_exit_unsure(128, false, false), "runc: an exec's 128 is the job's own");
    ok(!run_exec_exit_unsure(128, true, true), "after our kill the container's end is known");
    ok(!run_exec_exit_unsure(137, false, true), "gVisor: another exit code is the job's");
    return done_testing();
}
