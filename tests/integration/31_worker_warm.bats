#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# ralph-worker --warm N (issue #17): started sandboxes wait for the default
# job, each used by one job only.  Jobs run in them (timings_ms.warm), each
# container is started once and removed; a job sees nothing of another's;
# the limits a job takes with its sandbox are its own (an update under runc,
# the pool's own under gVisor, where the job must have the pool's limits);
# a sandbox whose holder died while idle is never used; a worker killed
# with SIGKILL leaves idle sandboxes that the next worker's sweep removes;
# after SIGTERM nothing is left.  RALPH_TEST_SANDBOX=gvisor runs the whole
# tier with the worker's default sandbox gVisor.

load ../lib/libtest
load ../lib/libworker

setup_file() { wk_setup_file; }
teardown_file() { wk_teardown_file; }
setup() {
    wk_setup
    SB=runc
    [[ ${RALPH_TEST_SANDBOX:-} == gvisor ]] && SB=gvisor
    # The default job is 128m and 16 processes: a job without limits of its
    # own fits the pool under either runtime.
    POLICY=$BATS_TEST_TMPDIR/policy.json
    jq -n --arg sb "$SB" '{default_sandbox: $sb, max_memory_limit: "128m", max_pids_limit: 16}' >"$POLICY"
}
teardown() {
    [[ -n ${RX_EVENTS_PID:-} ]] && kill "$RX_EVENTS_PID" 2>/dev/null
    wk_teardown
}

LEASE=(--lease 3 --heartbeat 1)

# warm_start NAME WARM [ARGS...]: a worker of 2 slots on Redis with the
# tier's policy, and wait until its pool holds WARM idle sandboxes.
warm_start() {
    local name=$1 n=$2
    shift 2
    wk_start "$name" --queue "$WK_Q" --concurrency 2 --warm "$n" "${LEASE[@]}" \
        --memory-budget off --policy "$POLICY" "$@"
    wk_wait_event "$name" start 30
    warm_wait_idle "$name" "$n"
}

# The worker's idle sandboxes, as its heartbeat tells `status`.
warm_idle() {
    "$RALPH_WORKER" status --queue "$WK_Q" | jq -r --arg w "${WK_ID[$1]}" '.workers[$w].warm_idle // -1'
}

warm_wait_idle() {
    local end=$((SECONDS + 60))
    until [[ $(warm_idle "$1") == "$2" ]]; do
        ((SECONDS < end)) || { wk_dump "$1"; fail "worker $1: not $2 idle sandboxes within 60 s (status: $(warm_idle "$1"))"; }
        sleep 0.2
    done
}

# For wk_until: worker NAME is not among the queue's live workers.
warm_gone() {
    [[ $("$RALPH_WORKER" status --queue "$WK_Q" | jq -r --arg w "${WK_ID[$1]}" '.workers[$w] == null') == true ]]
}

# warm_run JSON: push one job, wait for its result and print it.
warm_run() {
    local tid end
    tid=$(jq -r .task_id <<<"$1")
    wk_push "$1"
    end=$((SECONDS + 90))
    until [[ -n $(wk_result "$tid") ]]; do
        ((SECONDS < end)) || { wk_dump a; fail "no result for $tid within 90 s"; }
        sleep 0.1
    done
    wk_result "$tid"
}

@test "warm: jobs run in started sandboxes, each container started once and removed" {
    rx_follow_starts "$BATS_TEST_TMPDIR/starts"
    warm_start a 2
    local i res ids=() code
    code=$'def calculate(inputs):\n    return {"n": inputs["n"] * 2}'
    for i in 1 2 3 4; do
        res=$(warm_run "$(jq -nc --arg id "warm-$i-$$" --arg c "$code" --argjson n "$i" \
            '{task_id: $id, code: $c, inputs: {n: $n}}')")
        assert_equal "$(jq -r .status <<<"$res")" success "job $i status"
        assert_equal "$(jq -c .output <<<"$res")" "{\"n\":$((i * 2))}" "job $i output"
        ids+=("$(jq -r .container_id <<<"$res")")
        # The pool had had time to fill again: every one ran warm.
        jq -e '.timings_ms.warm >= 0 and .timings_ms.create == 0 and .timings_ms.start == 0' <<<"$res" >/dev/null ||
            { jq -c .timings_ms <<<"$res" >&2; fail "job $i did not run in a warm sandbox"; }
        warm_wait_idle a 2
    done
    assert_equal "$(printf '%s\n' "${ids[@]}" | sort -u | wc -l)" 4 "distinct containers for 4 jobs"
    wk_has_event a job_done '.warm == true' || fail "job_done says warm"
    wk_signal_and_wait a TERM 60
    sleep 1
    kill "$RX_EVENTS_PID" 2>/dev/null
    local id
    for id in "${ids[@]}"; do
        assert_equal "$(grep -c "^$id " "$BATS_TEST_TMPDIR/starts")" 1 "starts of container ${id:0:12}"
        wk_container_gone "$id" || fail "container ${id:0:12} left behind"
    done
    assert_equal "$(wk_containers a)" "" "containers of the worker after SIGTERM (the idle pool included)"
}

@test "warm: two jobs pushed at once each take a sandbox of their own" {
    warm_start a 2
    local code=$'def calculate(inputs):\n    return {"n": inputs["n"]}'
    wk_push "$(jq -nc --arg id "pair-1-$$" --arg c "$code" '{task_id: $id, code: $c, inputs: {n: 1}}')" \
        "$(jq -nc --arg id "pair-2-$$" --arg c "$code" '{task_id: $id, code: $c, inputs: {n: 2}}')"
    local end=$((SECONDS + 60)) r1 r2
    until [[ -n $(wk_result "pair-1-$$") && -n $(wk_result "pair-2-$$") ]]; do
        ((SECONDS < end)) || { wk_dump a; fail "no results within 60 s"; }
        sleep 0.1
    done
    r1=$(wk_result "pair-1-$$")
    r2=$(wk_result "pair-2-$$")
    jq -e '.status == "success" and .output.n == 1 and .timings_ms.warm >= 0' <<<"$r1" >/dev/null || { jq -c . <<<"$r1" >&2; fail "job 1"; }
    jq -e '.status == "success" and .output.n == 2 and .timings_ms.warm >= 0' <<<"$r2" >/dev/null || { jq -c . <<<"$r2" >&2; fail "job 2"; }
    [[ $(jq -r .container_id <<<"$r1") != $(jq -r .container_id <<<"$r2") ]] || fail "both jobs ran in one sandbox"
}

@test "warm: a job in a warm sandbox sees nothing of the job before it (files, processes)" {
    # Command jobs: a pool made for one (its sandboxes have no harness waiting).
    jq -n '{command: ["true"]}' >"$BATS_TEST_TMPDIR/cmd-job.json"
    warm_start a 2 --warm-job "$BATS_TEST_TMPDIR/cmd-job.json"
    local first second
    # The processes named `sleep 300` the job can see.
    local count='for f in /proc/[0-9]*/cmdline; do tr "\\000" " " <"$f"; echo; done 2>/dev/null | grep -c "^sleep 300 " || true'
    first=$(warm_run "$(jq -nc --arg id "leak-1-$$" --arg n "$count" \
        '{task_id: $id, command: ["sh", "-c", ("echo secret >/tmp/left; echo secret >/workspace/left; (sleep 300 &); i=0; until [ \"$(" + $n + ")\" -ge 1 ] || [ $i -ge 50 ]; do sleep 0.1; i=$((i + 1)); done; " + $n)]}')")
    assert_equal "$(jq -r .status <<<"$first")" success "first job"
    local out
    out=$(jq -r .stdout <<<"$first")
    assert_equal "$(tail -1 <<<"$out")" 1 "sleep 300 processes the first job sees (its own)"
    warm_wait_idle a 2
    second=$(warm_run "$(jq -nc --arg id "leak-2-$$" --arg n "$count" \
        '{task_id: $id, command: ["sh", "-c", ("ls -A /tmp /workspace; " + $n)]}')")
    assert_equal "$(jq -r .status <<<"$second")" success "second job"
    jq -e '.timings_ms.warm >= 0' <<<"$first" >/dev/null || fail "the first job ran cold"
    jq -e '.timings_ms.warm >= 0' <<<"$second" >/dev/null || fail "the second job ran cold"
    [[ $(jq -r .container_id <<<"$first") != $(jq -r .container_id <<<"$second") ]] ||
        fail "both jobs ran in one container"
    out=$(jq -r .stdout <<<"$second")
    [[ $out != *left* ]] || fail "the second job saw the first one's files: $out"
    assert_equal "$(tail -1 <<<"$out")" 0 "sleep 300 processes the second job sees"
}

@test "warm: the limits are the job's own (memory: oom; processes: EAGAIN below pids_limit)" {
    warm_start a 2
    local hog forks res mem pids
    hog=$'def calculate(inputs):\n    b = bytearray(inputs["mib"] << 20)\n    for i in range(0, len(b), 4096):\n        b[i] = 1\n    return {"ok": True}'
    # runc: a limit other than the pool's, set by the update (96m, with the
    # pool's workspace of 64m); 112 MiB fits the pool's 128m, not the job's.
    # gVisor (no update): the pool's 128m itself, and 192 MiB.
    if [[ $SB == runc ]]; then
        res=$(warm_run "$(jq -nc --arg id "hog-$$" --arg c "$hog" \
            '{task_id: $id, code: $c, inputs: {mib: 112}, memory_limit: "96m", workspace_limit: "64m"}')")
        mem=$((96 << 20))
    else
        res=$(warm_run "$(jq -nc --arg id "hog-$$" --arg c "$hog" '{task_id: $id, code: $c, inputs: {mib: 192}}')")
        mem=$((128 << 20))
    fi
    jq -e '.timings_ms.warm >= 0' <<<"$res" >/dev/null || { jq -c . <<<"$res" >&2; fail "the hog ran cold"; }
    assert_equal "$(jq -r .status <<<"$res")" oom "the hog's status"
    assert_equal "$(jq -r .limits.memory_bytes <<<"$res")" "$mem" "memory_bytes in the result"
    if [[ $SB == runc ]]; then
        # The update, as the job's own cgroup has it (v2, or v1's files).
        warm_wait_idle a 2
        local cg
        cg=$'import os\ndef rd(*ps):\n    for p in ps:\n        if os.path.exists(p):\n            return open(p).read().strip()\ndef calculate(inputs):\n    return {"mem": rd("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"), "pids": rd("/sys/fs/cgroup/pids.max", "/sys/fs/cgroup/pids/pids.max")}'
        res=$(warm_run "$(jq -nc --arg id "cg-$$" --arg c "$cg" \
            '{task_id: $id, code: $c, memory_limit: "96m", workspace_limit: "64m", pids_limit: 12}')")
        jq -e --argjson m "$((96 << 20))" '.timings_ms.warm >= 0 and .output.mem == ($m | tostring) and .output.pids == "12"' <<<"$res" >/dev/null ||
            { jq -c '{status, output, error, timings_ms}' <<<"$res" >&2; fail "the job's cgroup does not have its own limits (96m, 12)"; }
    fi
    warm_wait_idle a 2
    forks=$'import os, signal, time\ndef calculate(inputs):\n    kids, err = [], None\n    while len(kids) < 500:\n        try:\n            pid = os.fork()\n        except OSError as e:\n            err = e.errno\n            break\n        if pid == 0:\n            time.sleep(60)\n            os._exit(0)\n        kids.append(pid)\n    for pid in kids:\n        os.kill(pid, signal.SIGKILL)\n    return {"count": len(kids), "errno": err}'
    pids=16
    if [[ $SB == runc ]]; then
        pids=12
        res=$(warm_run "$(jq -nc --arg id "forks-$$" --arg c "$forks" '{task_id: $id, code: $c, pids_limit: 12}')")
    else
        res=$(warm_run "$(jq -nc --arg id "forks-$$" --arg c "$forks" '{task_id: $id, code: $c}')")
    fi
    jq -e '.timings_ms.warm >= 0' <<<"$res" >/dev/null || { jq -c . <<<"$res" >&2; fail "the fork job ran cold"; }
    assert_equal "$(jq -r .status <<<"$res")" success "the fork job's status"
    jq -e --argjson p "$pids" '.output.errno == 11 and .output.count < $p and .output.count >= $p - 4' <<<"$res" >/dev/null ||
        { jq -c '{output, limits}' <<<"$res" >&2; fail "fork stopped by EAGAIN just below pids_limit $pids"; }
}

# The host pid of the python3 in container ID's cgroup (runc), if any
# (not `docker top`: it runs ps beside the engine, which may have none).
harness_pid() {
    local p
    for p in /proc/[0-9]*; do
        grep -q "$1" "$p/cgroup" 2>/dev/null && [[ $(cat "$p/comm" 2>/dev/null) == python3 ]] &&
            { echo "${p#/proc/}"; return 0; }
    done
    return 0
}

# kill_check NAME VICTIM WHY: the next job does not run in VICTIM, which is
# refused (WHY in the log line) and removed.
kill_check() {
    local victim=$2 res code
    code=$'def calculate(inputs):\n    return {"ok": True}'
    res=$(warm_run "$(jq -nc --arg id "after-kill-$RANDOM-$$" --arg c "$code" '{task_id: $id, code: $c}')")
    assert_equal "$(jq -r .status <<<"$res")" success "the job's status"
    [[ $(jq -r .container_id <<<"$res") != "$victim" ]] || fail "the job ran in the sandbox killed while idle"
    wk_has_event "$1" warm_refused ".container_id == \"$victim\" and (.error | contains(\"$3\"))" ||
        { wk_dump "$1"; fail "warm_refused ($3) for the sandbox killed while idle"; }
    wk_until 10 "the killed sandbox removed" wk_container_gone "$victim"
}

@test "warm: a sandbox whose holder or harness died while idle is never handed a job" {
    warm_start a 1
    local victim pid
    victim=$(wk_containers a)
    [[ -n $victim ]] || fail "no idle sandbox"
    docker kill "$victim" >/dev/null
    kill_check a "$victim" "its holder is gone"
    # Its harness (python3, exec'd and waiting for a job's input): killed
    # from the host, where runc's processes are (gVisor's are inside its
    # sandbox, out of the host's reach, as they are of the container's root).
    [[ $SB == runc ]] || return 0
    warm_wait_idle a 1
    victim=$(wk_containers a)
    pid=$(harness_pid "$victim")
    [[ -n $pid ]] || fail "no harness (python3) in the idle sandbox's cgroup"
    kill -KILL "$pid"
    kill_check a "$victim" "its harness is gone"
}

@test "warm: SIGKILL leaves idle sandboxes that the next worker's sweep removes; SIGTERM leaves nothing" {
    warm_start a 2
    local left
    left=$(wk_containers a)
    assert_equal "$(wc -l <<<"$left")" 2 "idle sandboxes of the worker"
    kill -KILL "${WK_PID[a]}"
    wk_wait_exit a 10
    # Its lease runs out (3 s), then a worker of the same queue sweeps at start.
    wk_until 15 "worker a's lease expired" warm_gone a
    warm_start b 1
    local id
    for id in $left; do
        wk_until 30 "the dead worker's sandbox ${id:0:12} removed" wk_container_gone "$id"
    done
    wk_signal_and_wait b TERM 60
    assert_equal "$(wk_containers b)" "" "containers of worker b after SIGTERM"
}

@test "warm: --warm-job shapes the pool (only jobs like it run warm); idle ones past --warm-ttl are replaced" {
    local wj=$BATS_TEST_TMPDIR/warm-job.json
    jq -n '{code: "pass", memory_limit: "96m"}' >"$wj"
    warm_start a 1 --warm-job "$wj" --warm-ttl 2
    local first
    first=$(wk_containers a)
    assert_equal "$(wc -l <<<"$first")" 1 "idle sandboxes"
    wk_wait_event a warm_recycled 15 ".container_id == \"$first\""
    wk_until 10 "the recycled sandbox removed" wk_container_gone "$first"
    warm_wait_idle a 1
    [[ $(wk_containers a) != "$first" ]] || fail "the recycled sandbox is still the pool's"
    wk_signal_and_wait a TERM 60
    # The same shape, the default TTL (at 2 s a sandbox under gVisor, which
    # takes a second or two to make, can be recycled before a job takes it).
    warm_start b 1 --warm-job "$wj"
    local like other
    local code=$'def calculate(inputs):\n    return {"v": 1}'
    like=$(warm_run "$(jq -nc --arg id "like-$$" --arg c "$code" '{task_id: $id, code: $c, memory_limit: "96m"}')")
    jq -e '.status == "success" and .timings_ms.warm >= 0' <<<"$like" >/dev/null ||
        { jq -c . <<<"$like" >&2; fail "a job like --warm-job did not run warm"; }
    other=$(warm_run "$(jq -nc --arg id "other-$$" --arg c "$code" '{task_id: $id, code: $c}')")
    jq -e '.status == "success" and (.timings_ms | has("warm") | not) and .timings_ms.create > 0' <<<"$other" >/dev/null ||
        { jq -c . <<<"$other" >&2; fail "a job of another memory limit (another workspace size) ran warm"; }
}

@test "warm: --warm-preload: a job with files runs cold without the modules; one without finds them imported, warm" {
    warm_start a 1 --warm-preload numpy
    local code res
    # Whether numpy was imported before the job's code ran, then its use.
    code=$'import sys\nbefore = "numpy" in sys.modules\nimport numpy\ndef calculate(inputs):\n    return {"before": before, "sum": int(numpy.arange(5).sum())}'
    # With a sandbox idle, a job with files (one could shadow numpy cold)
    # does not take it: it runs cold, where nothing imported numpy before it.
    res=$(warm_run "$(jq -nc --arg id "pre-files-$$" --arg c "$code" '{task_id: $id, code: $c, files: {"data.txt": "x"}}')")
    jq -e '.status == "success" and .output == {before: false, sum: 10} and (.timings_ms | has("warm") | not)' <<<"$res" >/dev/null ||
        { jq -c '{status, output, error, stderr, timings_ms}' <<<"$res" >&2; fail "a job with files: warm, or numpy imported before it"; }
    res=$(warm_run "$(jq -nc --arg id "pre-$$" --arg c "$code" '{task_id: $id, code: $c}')")
    jq -e '.status == "success" and .output == {before: true, sum: 10} and .timings_ms.warm >= 0' <<<"$res" >/dev/null ||
        { jq -c '{status, output, error, stderr, timings_ms}' <<<"$res" >&2; fail "a job without files: not warm, or numpy not preloaded"; }
    ! wk_has_event a warm_refused || fail "a sandbox was offered to a job that does not fit it"
}

@test "warm: --warm-preload of a module the image does not have: the pool fails (warm_failed), jobs run cold" {
    wk_start a --queue "$WK_Q" --concurrency 1 --warm 1 "${LEASE[@]}" --memory-budget off \
        --policy "$POLICY" --warm-preload json,no_such_module_ralph
    wk_wait_event a warm_failed 60 '.error | contains("preload of no_such_module_ralph failed: ModuleNotFoundError")'
    local res code=$'def calculate(inputs):\n    return {"ok": True}'
    res=$(warm_run "$(jq -nc --arg id "nopre-$$" --arg c "$code" '{task_id: $id, code: $c}')")
    jq -e '.status == "success" and .output.ok and (.timings_ms | has("warm") | not)' <<<"$res" >/dev/null ||
        { jq -c '{status, output, error, timings_ms}' <<<"$res" >&2; fail "the job did not run cold and succeed"; }
    assert_equal "$(wk_count_events a warm_failed)" 1 "warm_failed lines (said once until a make works)"
}

# The refusals below run the worker in the foreground under timeout: one
# that stopped refusing would run for ever (timeout's 124 fails instead).
@test "warm: --warm-preload refused at start: a bad module name, no --warm, a --warm-job that could shadow a module (exit 2)" {
    run timeout -k 5 20 "$RALPH_WORKER" --queue "$WK_Q" --warm 1 --warm-preload "numpy,os;rm"
    assert_equal "$status" 2 "exit status (bad name)"
    [[ $output == *"warm-preload"*"module names"* ]] || fail "message: $output"
    run timeout -k 5 20 "$RALPH_WORKER" --queue "$WK_Q" --warm-preload numpy
    assert_equal "$status" 2 "exit status (no --warm)"
    [[ $output == *"--warm-preload needs --warm"* ]] || fail "message: $output"
    jq -n '{code: "pass", files: {"numpy.py": ""}}' >"$BATS_TEST_TMPDIR/files.json"
    run timeout -k 5 20 "$RALPH_WORKER" --queue "$WK_Q" --warm 1 --policy "$POLICY" --warm-preload numpy \
        --warm-job "$BATS_TEST_TMPDIR/files.json"
    assert_equal "$status" 2 "exit status (--warm-job with files)"
    [[ $output == *"files.json: --warm-preload needs a code job without"* ]] || fail "message: $output"
}

@test "warm: a --warm-job the policy refuses, or none at all, stops the worker at start (exit 2)" {
    jq -n '{code: "pass", memory_limit: "1g"}' >"$BATS_TEST_TMPDIR/big.json"
    run timeout -k 5 20 "$RALPH_WORKER" --queue "$WK_Q" --warm 1 --policy "$POLICY" \
        --warm-job "$BATS_TEST_TMPDIR/big.json"
    assert_equal "$status" 2 "exit status (policy refuses)"
    [[ $output == *"--warm-job $BATS_TEST_TMPDIR/big.json: "*"max_memory_limit"* ]] || fail "message: $output"
    run timeout -k 5 20 "$RALPH_WORKER" --queue "$WK_Q" --warm 1 --warm-job "$BATS_TEST_TMPDIR/none.json"
    assert_equal "$status" 2 "exit status (no such file)"
    [[ $output == *"none.json"* ]] || fail "message: $output"
}

@test "warm: --warm above --concurrency is refused" {
    run timeout -k 5 20 "$RALPH_WORKER" --queue "$WK_Q" --concurrency 2 --warm 3
    assert_equal "$status" 2 "exit status"
    [[ $output == *"--warm (3) must be at most --concurrency (2)"* ]] || fail "message: $output"
}
