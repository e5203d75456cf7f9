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

/* The rules, each for a reason seen on an engine:
 *
 * - The container stopped under the job, not by our kill: its processes
 *   died with it (a gVisor sandbox killed whole by the OOM killer; Docker 26
 *   then reports the exec's end as 128), so the container's exit code, when
 *   it has one, is the job's.
 * - State.OOMKilled is the engine's word, also after our kill.  Docker 26
 *   sets it on a container still running too; 20.10 only when its main
 *   process was killed, never for a job's exec.
 * - Podman 4.3.1 with Debian's conmon 2.1.6 never sets it: conmon writes its
 *   "oom" marker into the service's working directory, where Podman does not
 *   look (seen 2026-11).  So there a SIGKILL we did not send (exit 137) is
 *   taken as the memory limit's kill, said to be inferred: the only other
 *   senders of SIGKILL are the job itself and the host's operator.  Podman
 *   has no event log to ask.
 * - Docker, a SIGKILL we did not send: the engine's "oom" event may still be
 *   on its way (under gVisor it often comes 15-50 ms after the exit, and
 *   20.10 never updates State with a late one), so the event log is asked,
 *   waiting for it.
 * - Under gVisor the shim can miss the kill altogether: it starts watching
 *   the cgroup only once `runsc start` returns, and a job can fill its
 *   memory before that (1-3% of OOM jobs at two at a time, seen 2026-11); so
 *   there a SIGKILL the event log does not explain is inferred, as on
 *   Podman.  On runc it stays the job's own (kill -9 of itself).
 * - Docker, any other failure: a process of the job's killed by the OOM
 *   killer under a parent that then exits otherwise (sh -c 'big; exit 5');
 *   20.10 sets OOMKilled only when a container's main process dies of it,
 *   and the holder lives on, so the event log is asked, briefly: that kill
 *   came before the exit, its event is already logged.  Never inferred. */
void
run_oom_judge(const struct run_evidence *e, struct run_oom_verdict *v)
{
    *v = (struct run_oom_verdict){.exit_code = e->exit_code};
    if (e->container_stopped && !e->timed_out && e->container_exit != 0)
        v->exit_code = e->container_exit;
    bool sigkill = v->exit_code == 128 + SIGKILL;
    if (e->state_oom_killed) {
        v->oom_killed = true;
    } else if (e->timed_out || v->exit_code == 0) {
        v->oom_killed = false;
    } else if (e->podman) {
        v->oom_killed = sigkill;
        v->inferred_why = sigkill ? "Podman does not report OOM kills" : NULL;
    } else if (e->event == RUN_OOM_EVENT_UNASKED) {
        v->ask = sigkill ? RUN_OOM_ASK_AWAITED : RUN_OOM_ASK_LOGGED;
    } else if (e->event == RUN_OOM_EVENT_SEEN) {
        v->oom_killed = true;
    } else if (sigkill && e->gvisor) {
        v->oom_killed = true;
        v->inferred_why = "under gVisor the engine misses OOM kills made as the sandbox starts";
    }
}

/* Seen with runsc on Docker 26 (2026-12): an OOM job's exec reported 128
 * before its container had stopped.  Only gVisor, only when we did not kill
 * it; a job that exits 128 itself leaves its container running. */
bool
run_exec_exit_unsure(int exec_exit, bool timed_out, bool gvisor)
{
    return exec_exit == 128 && !timed_out && gvisor;
}

void
run_verdict_free(struct run_verdict *v)
{
    free(v->message);
    v->message = NULL;
}
