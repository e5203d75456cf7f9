#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# ralph-worker --metrics: GET /metrics (Prometheus text), /healthz, /readyz,
# served on a thread of their own, bounded: a slow or hostile client stalls
# no job and grows no memory.

load ../lib/libtest
load ../lib/libworker

setup_file() { wk_setup_file; }
teardown_file() { wk_teardown_file; }
# A free port below the kernel's ephemeral range (so that no outgoing
# connection takes it meanwhile) and the Redis helper's (20000 and up).
free_port() {
    python3 -c 'import random, socket
for _ in range(200):
    p = random.randint(10000, 19999)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); s.listen(); print(p); break
    except OSError:
        pass
    finally:
        s.close()'
}

setup() {
    wk_setup || return 1
    MPORT=$(free_port)
}
teardown() {
    [[ -n ${SLOW_PID:-} ]] && kill "$SLOW_PID" 2>/dev/null
    wk_teardown
}

# get PATH: curl the worker's endpoint; GOT_CODE, GOT_BODY.
get() {
    GOT_BODY=$(curl -s -m 5 -w '\n%{http_code}' "http://127.0.0.1:$MPORT$1") || true
    GOT_CODE=${GOT_BODY##*$'\n'}
    GOT_BODY=${GOT_BODY%$'\n'*}
}

# metric NAME: its value in the last /metrics body.
metric() {
    awk -v n="$1" '$1 == n { print $2 }' <<<"$GOT_BODY"
}

job() {
    jq -nc --arg id "$1" --arg cmd "$2" '{task_id: $id, command: ["sh", "-c", $cmd]}'
}

has_result() {
    [[ -n $(wk_result "$1") ]]
}

# metrics_settled COUNT: /metrics shows COUNT timed jobs, no busy slot and an
# empty queue (the result is stored before the slot is free, and the depth
# is read at a heartbeat).
metrics_settled() {
    get /metrics
    [[ $GOT_CODE == 200 && $(metric ralph_job_duration_seconds_count) == "$1" &&
        $(metric ralph_slots_busy) == 0 && $(metric ralph_queue_depth) == 0 ]]
}

@test "metrics: jobs by status, the duration histogram, slots and queue depth; healthz and readyz 200" {
    wk_start w --queue "$WK_Q" --concurrency 2 --lease 3 --heartbeat 1 --metrics "$MPORT"
    wk_wait_event w start 10
    wk_push "$(job "m-ok-$$" true)" "$(job "m-err-$$" 'exit 3')"
    wk_until 90 "two results" has_result "m-err-$$" || { wk_dump w; return 1; }
    wk_until 30 "both results" has_result "m-ok-$$" || { wk_dump w; return 1; }
    wk_until 30 "/metrics shows 2 timed jobs, no busy slot, an empty queue" metrics_settled 2 ||
        { echo "$GOT_BODY" >&2; return 1; }
    get /metrics
    assert_equal "$GOT_CODE" 200 "GET /metrics"
    assert_equal "$(metric 'ralph_jobs_total{status="success"}')" 1 "successes"
    assert_equal "$(metric 'ralph_jobs_total{status="error"}')" 1 "errors"
    assert_equal "$(metric 'ralph_job_duration_seconds_count')" 2 "timed jobs"
    assert_equal "$(metric 'ralph_job_duration_seconds_bucket{le="+Inf"}')" 2 "the +Inf bucket"
    assert_equal "$(metric ralph_slots)" 2 "slots"
    assert_equal "$(metric ralph_slots_busy)" 0 "busy slots"
    assert_equal "$(metric ralph_queue_depth)" 0 "queue depth"
    assert_equal "$(metric ralph_breaker_open)" 0 "breaker"
    [[ $(metric ralph_build_info'{version="'"$("$RALPH_WORKER" --version | cut -d' ' -f2)"'"}') == 1 ]] ||
        fail "build info: $(grep build_info <<<"$GOT_BODY")"
    grep -q '^# TYPE ralph_job_duration_seconds histogram$' <<<"$GOT_BODY" || fail "no histogram TYPE line"
    get /healthz
    assert_equal "$GOT_CODE" 200 "GET /healthz"
    get /readyz
    assert_equal "$GOT_CODE" 200 "GET /readyz"
    get /nothing
    assert_equal "$GOT_CODE" 404 "GET /nothing"
}

@test "metrics: on a spool, the queue's depth is the jobs waiting in incoming/; only GET and HEAD" {
    mkdir -p "$WK_SPOOL"
    wk_start w --queue "dir:$WK_SPOOL" --concurrency 1 --lease 3 --heartbeat 1 --metrics "$MPORT"
    wk_spool_job "$WK_SPOOL" long "$(job "m-sp-long-$$" 'sleep 20')"
    wk_wait_event w job_start 60 || { wk_dump w; return 1; }
    local i
    for i in 1 2 3; do wk_spool_job "$WK_SPOOL" "wait$i" "$(job "m-sp-$i-$$" true)"; done
    for ((i = 0; i < 30; i++)); do
        get /metrics
        [[ $(metric ralph_queue_depth) == 3 ]] && break
        sleep 0.5
    done
    assert_equal "$(metric ralph_queue_depth)" 3 "queue depth with three jobs in incoming/"
    assert_equal "$(metric ralph_slots_busy)" 1 "busy slots"
    local code
    code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -X POST -d x "http://127.0.0.1:$MPORT/metrics")
    assert_equal "$code" 405 "POST /metrics"
    code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -I "http://127.0.0.1:$MPORT/healthz")
    assert_equal "$code" 200 "HEAD /healthz"
}

@test "metrics: draining (SIGTERM with a job running) is not ready but healthy" {
    wk_start w --queue "$WK_Q" --lease 3 --heartbeat 1 --grace 30 --metrics "127.0.0.1:$MPORT"
    wk_push "$(job "m-long-$$" 'sleep 8')"
    wk_wait_event w job_start 60 || { wk_dump w; return 1; }
    kill -TERM "${WK_PID[w]}"
    wk_wait_event w stopping 10
    get /readyz
    assert_equal "$GOT_CODE" 503 "GET /readyz while draining"
    [[ $GOT_BODY == *draining* ]] || fail "readyz body: $GOT_BODY"
    get /healthz
    assert_equal "$GOT_CODE" 200 "GET /healthz while draining"
    wk_wait_exit w 60
    assert_equal "$WK_RC" 0 "the worker's exit code"
}

@test "metrics: a job that keeps failing on the engine counts its infra errors, its requeue and its dead letter" {
    wk_start w --queue "$WK_Q" --lease 5 --heartbeat 1 --max-attempts 2 --metrics "127.0.0.1:$MPORT"
    wk_wait_event w start 10
    # An image the engine lacks: an infra_error at each attempt.
    wk_push "$(jq -nc --arg id "m-dead-$$" '{task_id: $id, runtime: "nope:1", command: ["true"]}')"
    wk_until 60 "the job is dead-lettered" wk_llen_at_least ralph:dead 1 || { wk_dump w; return 1; }
    wk_until 15 "/metrics counts the dead letter" metric_is ralph_dead_total 1 ||
        { echo "$GOT_BODY" >&2; return 1; }
    assert_equal "$(metric ralph_infra_errors_total)" 2 "infra errors (two attempts)"
    assert_equal "$(metric ralph_requeued_total)" 1 "requeues (after the first attempt)"
    wk_signal_and_wait w TERM 30
}

# metric_is NAME VALUE: /metrics shows NAME at VALUE (for wk_until).
metric_is() {
    get /metrics
    [[ $GOT_CODE == 200 && $(metric "$1") == "$2" ]]
}

# readyz_is CODE: GET /readyz answers CODE (for wk_until).
readyz_is() {
    get /readyz
    [[ $GOT_CODE == "$1" ]]
}

# not_ready_but_healthy REASON RESTORE...: after a 503 from /readyz (its
# body in GOT_BODY), /healthz still answers 200; RESTORE puts back what
# was taken away, whatever the checks find; the body names REASON.
not_ready_but_healthy() {
    local reason=$1 body=$GOT_BODY health
    shift
    get /healthz
    health=$GOT_CODE
    "$@"
    [[ $body == *"$reason"* ]] || fail "readyz body: $body (want: $reason)"
    assert_equal "$health" 200 "GET /healthz while not ready"
}

@test "metrics: with Redis down the worker is not ready but healthy; ready again once it is back" {
    wk_start w --queue "$WK_Q" --lease 5 --heartbeat 1 --metrics "127.0.0.1:$MPORT"
    wk_wait_event w start 10
    wk_until 15 "GET /readyz answers 200" readyz_is 200
    wk_redis_stop
    # The heartbeat (every second) finds the queue gone.
    wk_until 15 "GET /readyz answers 503 with Redis down" readyz_is 503 ||
        { wk_redis_start "$WK_REDIS_PORT"; return 1; }
    not_ready_but_healthy "queue is not reachable" wk_redis_start "$WK_REDIS_PORT"
    wk_until 15 "GET /readyz answers 200 once Redis is back" readyz_is 200
    wk_signal_and_wait w TERM 30
    assert_equal "$WK_RC" 0 "the worker's exit code"
}

@test "metrics: with the engine gone the worker is not ready but healthy; ready again once a job finds it back" {
    local sock=$BATS_TEST_TMPDIR/engine.sock
    wk_engine_proxy_start "$sock"
    wk_start w DOCKER_HOST="unix://$sock" --queue "$WK_Q" --lease 5 --heartbeat 1 \
        --max-infra-errors 100 --metrics "127.0.0.1:$MPORT"
    wk_wait_event w start 10
    wk_until 15 "GET /readyz answers 200" readyz_is 200
    wk_engine_proxy_stop "$sock" # the engine "dies"
    # A job finds it gone (and goes back on the queue).
    wk_push "$(job "m-engine-$$" true)"
    wk_until 60 "GET /readyz answers 503 with the engine gone" readyz_is 503 ||
        { wk_dump w; wk_engine_proxy_start "$sock"; return 1; }
    not_ready_but_healthy "engine is not reachable" wk_engine_proxy_start "$sock"
    wk_until 90 "the job's result once the engine is back" has_result "m-engine-$$" || { wk_dump w; return 1; }
    wk_until 15 "GET /readyz answers 200 once the engine is back" readyz_is 200
    wk_signal_and_wait w TERM 30
    assert_equal "$WK_RC" 0 "the worker's exit code"
    wk_engine_proxy_stop "$sock"
}

@test "metrics: slow and hostile clients stall no job and grow no memory; the endpoint answers again" {
    wk_start w --queue "$WK_Q" --lease 3 --heartbeat 1 --metrics "$MPORT"
    wk_wait_event w start 10
    local before
    before=$(wk_hwm w)
    # 60 connections that send nothing, and some that send a huge header or body.
    python3 - "$MPORT" >"$BATS_TEST_TMPDIR/slow.log" 2>&1 <<'PY' &
import socket, sys, time
port = int(sys.argv[1])
held = []
for i in range(60):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        held.append(s)
    except OSError as e:
        print("refused", i, e)
for i in range(5):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n")
        held.append(s)
    except OSError as e:
        print("big", i, e)
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        s.sendall(b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n" + b"b" * (1 << 20))
        held.append(s)
    except OSError as e:
        print("body", i, e)
print("held", flush=True)
while True:  # until the test (or its teardown) kills it
    time.sleep(60)
PY
    SLOW_PID=$!
    # The job is pushed once every client is connected and has sent.
    wk_until 60 "the clients hold their connections" grep -qx held "$BATS_TEST_TMPDIR/slow.log" ||
        { cat "$BATS_TEST_TMPDIR/slow.log"; return 1; }
    wk_push "$(job "m-during-$$" 'echo fine')"
    wk_until 60 "a job's result while the clients hold on" has_result "m-during-$$" ||
        { wk_dump w; return 1; }
    jq -e '.status == "success"' <<<"$(wk_result "m-during-$$")" >/dev/null || fail "the job did not succeed"
    local after
    after=$(wk_hwm w)
    ((after - before < 8 * 1024 * 1024)) ||
        fail "the worker's peak memory grew by $(((after - before) / 1024)) KiB under the clients"
    kill "$SLOW_PID" 2>/dev/null
    SLOW_PID=
    # (Counted once the result is stored: looked at until then, or 30 s.)
    wk_until 30 "GET /metrics counts the job once the clients are gone" \
        metric_is 'ralph_jobs_total{status="success"}' 1
    assert_equal "$GOT_CODE" 200 "GET /metrics once the clients are gone"
    assert_equal "$(metric 'ralph_jobs_total{status="success"}')" 1 "the job was counted"
}

@test "metrics: an address that is no number or a port in use stops the worker at start (exit 2)" {
    wk_start a --queue "$WK_Q" --metrics "localhost:$MPORT"
    wk_wait_exit a 30
    assert_equal "$WK_RC" 2 "exit code for a host name"
    # Another listener on a port: the worker cannot have it.
    python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1]); time.sleep(30)' "$BATS_TEST_TMPDIR/taken" &
    SLOW_PID=$!
    wk_until 10 "the other listener" test -s "$BATS_TEST_TMPDIR/taken" || return 1
    wk_start b --queue "$WK_Q" --metrics "$(cat "$BATS_TEST_TMPDIR/taken")"
    wk_wait_exit b 30
    assert_equal "$WK_RC" 2 "exit code for a port in use"
    grep -q "cannot listen" "${WK_LOG[b]}" || fail "the log does not say why: $(cat "${WK_LOG[b]}")"
}
