#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Resource limits: time, memory, processes.

load ../lib/libtest

setup_file() { require_engine; }
setup() { require_engine; }
teardown() { rx_teardown; }

@test "timeout: sleep 100 with timeout 2 -> status timeout, exit 3, killed promptly" {
    local tid
    tid=$(rx_tid timeout)
    rx_job_jq --arg id "$tid" '{task_id: $id, command: ["sleep", "100"], timeout: 2}'
    rx_run "$JOB"
    rx_expect timeout 3
    rx_check '.exit_code == null' 'a killed job has no exit code'
    rx_check '.output == null' 'no output'
    rx_check '.error | test("timed out")' 'error says it timed out'
    rx_check '.timings_ms.run >= 1900' 'the job was allowed its 2 s'
    # A behaviour bound, not a benchmark: the kill is not left to chance.
    ((RX_MS < 15000)) || fail "ralph-exec took $RX_MS ms for a 2 s timeout (bound: 15000)"
    assert_no_container "$tid"
}

@test "oom: allocating far past memory_limit 32m -> status oom, exit 4" {
    local tid code
    tid=$(rx_tid oom)
    code=$(cat <<'PY'
def calculate(inputs):
    hog = []
    for _ in range(128):               # up to 1 GiB, every page touched
        hog.append(b"\x01" * (8 << 20))
    return len(hog)
PY
)
    rx_job_jq --arg id "$tid" --arg code "$code" \
        '{task_id: $id, code: $code, memory_limit: "32m", timeout: 30}'
    rx_run "$JOB"
    rx_expect oom 4
    rx_check '.output == null' 'no output'
    rx_check '.error | test("memory")' 'error says it ran out of memory'
    rx_check '.limits.memory_bytes == 33554432' 'the limit was 32 MiB'
    assert_no_container "$tid"
}

@test "oom: six OOM jobs at once are each reported oom, none as a plain error" {
    # The engine's OOM notice races the exit: Docker 20.10 sets OOMKilled only
    # when it comes first, and under gVisor it often comes after, or not at
    # all when the job fills its memory as the sandbox starts.
    local code i tid
    local -a tids=() args=()
    code='def calculate(inputs):
    return len([b"\x01" * (8 << 20) for _ in range(128)])'
    mapfile -d '' -t args < <(rx_sandbox_args)
    for i in 1 2 3 4 5 6; do
        tid=$(rx_tid oom-par$i)
        tids+=("$tid")
        RX_TASK_IDS+=("$tid")
        jq -nc --arg id "$tid" --arg code "$code" \
            '{task_id: $id, code: $code, memory_limit: "32m", timeout: 30}' \
            >"$BATS_TEST_TMPDIR/par$i.json"
        timeout -k 10 120 "$RALPH_EXEC" ${args[@]+"${args[@]}"} "$BATS_TEST_TMPDIR/par$i.json" \
            >"$BATS_TEST_TMPDIR/par$i.out" 2>"$BATS_TEST_TMPDIR/par$i.err" </dev/null 3>&- &
    done
    local rc bad=0
    for i in 1 2 3 4 5 6; do
        rc=0
        wait -n || rc=$?
        ((rc == 4)) || bad=1
    done
    for i in 1 2 3 4 5 6; do
        jq -e '.status == "oom" and .exit_code == 137 and (.error | test("memory"))' \
            "$BATS_TEST_TMPDIR/par$i.out" >/dev/null || {
            bad=1
            echo "job $i: $(cat "$BATS_TEST_TMPDIR/par$i.out")"
        }
        assert_no_container "${tids[i - 1]}"
    done
    ((bad == 0)) || fail "an OOM job was not reported as oom (exit 4)"
}

@test "a job that SIGKILLs itself: an error (Docker, runc); an oom marked inferred elsewhere" {
    local tid
    tid=$(rx_tid selfkill)
    rx_job_jq --arg id "$tid" '{task_id: $id, command: ["sh", "-c", "kill -9 $$"], timeout: 20}'
    rx_run "$JOB"
    if [[ $(rx_get '.engine.kind') == podman ]]; then
        # Podman never reports OOM kills: an unexplained SIGKILL is a guess, said so.
        rx_expect oom 4
        rx_check '.error | test("inferred from exit 137: Podman")' 'the guess is said'
    elif [[ $(rx_get '.limits.sandbox') == gvisor ]]; then
        # No OOM notice and no way to tell the two apart: said as inferred.
        rx_expect oom 4
        rx_check '.error | test("inferred from exit 137: under gVisor")' 'the guess is said'
    else
        rx_expect error 1
        rx_check '.exit_code == 137' 'exit 137'
        rx_check '.error | test("killed by a signal")' 'error names the signal, not memory'
    fi
    assert_no_container "$tid"
}

@test "a job that exits 128 itself: an error with exit 128, never taken for a dead sandbox" {
    # Under gVisor `runsc exec` also answers 128 when the sandbox dies under
    # it (an OOM kill); ralph-exec then takes the container's exit.  A job's
    # own 128 leaves the container running and stays the job's.
    local tid
    tid=$(rx_tid exit128)
    rx_job_jq --arg id "$tid" '{task_id: $id, command: ["sh", "-c", "echo bye; exit 128"], timeout: 20}'
    rx_run "$JOB"
    rx_expect error 1
    rx_check '.exit_code == 128' 'exit 128, as the job said'
    rx_check '.stdout == "bye\n"' 'its output kept'
    assert_no_container "$tid"
}

@test "pids_limit: forking children stops with EAGAIN below the limit" {
    local tid code
    tid=$(rx_tid forks)
    code=$(cat <<'PY'
import os, signal, time

def calculate(inputs):
    kids, err = [], None
    while len(kids) < 500:
        try:
            pid = os.fork()
        except OSError as e:
            err = e.errno
            break
        if pid == 0:                    # child: just hold a pid
            try:
                time.sleep(60)
            finally:
                os._exit(0)
        kids.append(pid)
    for pid in kids:
        os.kill(pid, signal.SIGKILL)
    for pid in kids:
        os.waitpid(pid, 0)
    return {"count": len(kids), "errno": err}
PY
)
    rx_job_jq --arg id "$tid" --arg code "$code" \
        '{task_id: $id, code: $code, pids_limit: 16, timeout: 30}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output.errno == 11' 'fork failed with EAGAIN (11)'
    rx_check '.output.count < 16' 'fewer children than pids_limit'
    rx_check '.output.count >= 12' 'the pids limit (minus init and python), not something else, stopped it'
    rx_check '.limits.pids_limit == 16'
    assert_no_container "$tid"
}

@test "pids_limit: a shell fork bomb ends (timeout or error) and its container is gone" {
    local tid tid2
    tid=$(rx_tid forkbomb)
    # The plain bomb: its first shell returns at once, so the job may even
    # end as success; what matters is that it ends and nothing is left.
    rx_job_jq --arg id "$tid" \
        '{task_id: $id, command: ["bash", "-c", ":(){ :|:& };:"], timeout: 5, pids_limit: 32}'
    rx_run "$JOB"
    rx_check '.status == "timeout" or .status == "error" or .status == "success"' \
        'the plain bomb ended'
    ((RX_MS < 20000)) || fail "ralph-exec took $RX_MS ms for a 5 s timeout"
    assert_no_container "$tid"

    # The bomb with its shell kept alive: it runs into pids_limit until the
    # timeout (or the shell gives up forking).  A Python started before it
    # forks once the bomb is loose and prints the errno of the first fork
    # refused (the number, not the C library's text for it).
    tid2=$(rx_tid forkbomb-alive)
    local probe='import errno, os, time
time.sleep(0.5)
end = time.time() + 3
while time.time() < end:
    try:
        pid = os.fork()
    except OSError as e:
        print("fork refused: %s %d" % (errno.errorcode.get(e.errno, "?"), e.errno), flush=True)
        break
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
else:
    print("fork never refused", flush=True)
time.sleep(60)'
    rx_job_jq --arg id "$tid2" --arg probe "$probe" \
        '{task_id: $id, command: ["bash", "-c", "python3 -c \"$1\" & :(){ :|:& };:; sleep 60", "bomb", $probe],
          timeout: 5, pids_limit: 32}'
    rx_run "$JOB"
    rx_check '.status == "timeout" or .status == "error"' 'the bomb ended as timeout or error'
    [[ $RX_RC == 3 || $RX_RC == 1 ]] || { rx_dump; fail "ralph-exec exit code $RX_RC (want 3 or 1)"; }
    rx_check '.stdout | test("(^|\n)fork refused: EAGAIN 11\n")' 'fork hit the pids limit (EAGAIN)'
    ((RX_MS < 20000)) || fail "ralph-exec took $RX_MS ms for a 5 s timeout"
    rx_check 'has("removal_error") | not' 'the container was removed'
    assert_no_container "$tid2"
}

@test "limits: the job's own cgroup carries cpu, memory (no swap) and pids limits" {
    # Podman's create never warns (Warnings is always []), so a limit it
    # dropped would go unnoticed: read them where the kernel applies them.
    [[ ${RALPH_TEST_SANDBOX:-} == gvisor ]] && skip "gVisor's kernel shows its own cgroup files"
    local tid code
    tid=$(rx_tid cgroup)
    code=$(cat <<'PY'
import os

def rd(p):
    try:
        with open(p) as f:
            return f.read().split()
    except OSError:
        return None

def calculate(inputs):
    c = "/sys/fs/cgroup"
    if os.path.exists(c + "/cpu/cpu.cfs_quota_us"):           # cgroup v1
        q, p = rd(c + "/cpu/cpu.cfs_quota_us")[0], rd(c + "/cpu/cpu.cfs_period_us")[0]
        memsw = rd(c + "/memory/memory.memsw.limit_in_bytes")
        return {"cpu": int(q) / int(p), "mem": int(rd(c + "/memory/memory.limit_in_bytes")[0]),
                "swap_free": None if memsw is None else int(memsw[0]) - int(rd(c + "/memory/memory.limit_in_bytes")[0]),
                "pids": rd(c + "/pids/pids.max")[0]}
    q, p = rd(c + "/cpu.max")                                  # cgroup v2
    swap = rd(c + "/memory.swap.max")
    return {"cpu": int(q) / int(p), "mem": int(rd(c + "/memory.max")[0]),
            "swap_free": None if swap is None else int(swap[0]), "pids": rd(c + "/pids.max")[0]}
PY
)
    rx_job_jq --arg id "$tid" --arg code "$code" \
        '{task_id: $id, code: $code, cpu_limit: 0.5, memory_limit: "96m", pids_limit: 20}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output.cpu == 0.5' 'CPU quota = 0.5 CPU'
    rx_check '.output.mem == 100663296' 'memory limit = 96 MiB'
    rx_check '.output.swap_free == 0 or .output.swap_free == null' 'no swap beyond the memory limit'
    rx_check '.output.pids == "20"' 'pids.max = pids_limit'
    assert_no_container "$tid"
}
