/* SPDX-License-Identifier: MIT */
#include "executor/run_classify.h"

#include <signal.h>
#include <stdlib.h>

#include "executor/container_spec.h"
#include "executor/rx_util.h"

static const char *
exit_note(int code)
{
    if (code == 127)
        return " (command not found)";
    if (code == 126)
        return " (command not executable)";
    if (code > 128 && code < 160)
        return " (killed by a signal)";
    return "";
}

static void
verdict(struct run_verdict *v, enum job_status st, bool has_exit_code, char *message)
{
    free(v->message);
    v->status = st;
    v->has_exit_code = has_exit_code;
    v->message = message;
}

void
run_classify(const struct run_facts *f, struct run_verdict *v)
{
    *v = (struct run_verdict){.status = JOB_SUCCESS};
    const char *note = f->event_note ? f->event_note : "";
    if (f->input_timed_out) {
        verdict(v, JOB_TIMEOUT, false,
                xasprintf("timed out before its code ran: the interpreter did not take its "
                          "input within %.3g s (too little CPU or memory to start Python?) and "
                          "was killed",
                          f->send_ms / 1000.0));
    } else if (f->timed_out) {
        verdict(v, JOB_TIMEOUT, false,
                xasprintf("timed out after %.3g s and was killed%s", f->timeout_ms / 1000.0,
                          f->oom_killed ? " (a process had also run out of memory)" : ""));
    } else if (f->input_lost && f->exit_code == SANDBOX_HARNESS_NO_INPUT) {
        /* The harness, or whatever the image runs as python3, saw its stdin
         * end early (a cut stream, or an interpreter that never read it):
         * not provably the engine's, so not infra_error. */
        verdict(v, JOB_ERROR, true,
                xasprintf("exited with code %d before it had all its input: its stdin ended "
                          "early (the engine's stream, or an interpreter that did not read "
                          "it); nothing of the job's code ran",
                          f->exit_code));
    } else if (f->oom_killed) {
        const char *why = f->oom_inferred_why;
        verdict(v, JOB_OOM, true,
                xasprintf("ran out of memory: the kernel killed a process at the %lld-byte "
                          "limit%s%s%s%s",
                          f->memory_bytes, why ? " (inferred from exit 137: " : "", why ? why : "",
                          why ? ", and a SIGKILL sent by the job itself looks the same)" : "",
                          note));
    } else if (f->exit_code != 0) {
        verdict(v, JOB_ERROR, true,
                xasprintf("exited with code %d%s%s%s", f->exit_code, exit_note(f->exit_code),
                          f->input_lost ? " before it had all its input" : "", note));
        v->ask_harness = f->kind == JOB_CODE;
        v->collect = f->kind == JOB_COMMAND ? RUN_COLLECT_OPTIONAL : RUN_COLLECT_NONE;
    } else {
        verdict(v, JOB_SUCCESS, true, NULL);
        v->collect = RUN_COLLECT_REQUIRED;
    }
}

void
run_classify_output(const struct run_facts *f, bool output_missing, struct run_verdict *v)
{
    if (v->status == JOB_SUCCESS && output_missing && f->kind == JOB_CODE)
        verdict(v, JOB_RESULT_INVALID, true,
                xasprintf("the job exited 0 but wrote no output file %s", f->output_path));
}

bool
run_sigkill_unexplained(const struct run_facts *f, bool podman)
{
    /* Podman's own inference (docker_container_oom) already covers it. */
    return !f->oom_killed && !f->timed_out && !podman && f->exit_code == 128 + SIGKILL;
}

const char *
run_oom_inferred_without_event(const char *sandbox)
{
    if (container_spec_runtime(sandbox) == NULL)
        return NULL;
    return "under gVisor the engine misses OOM kills made as the sandbox starts";
}

void
run_verdict_free(struct run_verdict *v)
{
    free(v->message);
    v->message = NULL;
}
