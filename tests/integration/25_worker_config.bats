#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# ralph-worker configuration: --config FILE, bad options (exit 2), a queue
# that cannot be reached (exit 125), --prefix and a Redis database number.

load ../lib/libtest
load ../lib/libworker

setup_file() { wk_setup_file; }
teardown_file() { wk_teardown_file; }
setup() { wk_setup; }
teardown() { wk_teardown; }

# Run ralph-worker in the foreground (bounded); RX_RC, RX_ERR.
run_worker() {
    RX_RC=0
    timeout -k 5 20 "$RALPH_WORKER" "$@" </dev/null >"$BATS_TEST_TMPDIR/fg.out" \
        2>"$BATS_TEST_TMPDIR/fg.err" 3>&- || RX_RC=$?
    RX_ERR=$(cat "$BATS_TEST_TMPDIR/fg.err")
}

expect_usage_error() {
    local want=$1
    shift
    run_worker "$@"
    if [[ $RX_RC != 2 || $RX_ERR != *"$want"* ]]; then
        fail "FAILED: ralph-worker $* -> exit $RX_RC (want 2), stderr: $RX_ERR" \
            "(want it to mention: $want)"
    fi
}

# lease_pttl_ok ID MAX [MIN [PREFIX]]: the worker's lease has MIN < PTTL <= MAX ms.
lease_pttl_ok() {
    local ms
    ms=$(rcli PTTL "${4:-ralph}:lease:$1")
    ((ms > ${3:-0} && ms <= $2))
}

@test "config: --config FILE with {\"concurrency\": 2, \"lease\": 5} works" {
    printf '%s\n' '{"concurrency": 2, "lease": 5}' >"$BATS_TEST_TMPDIR/worker.json"
    wk_start w --config "$BATS_TEST_TMPDIR/worker.json" --queue "$WK_Q"
    wk_wait_event w start 10 '.concurrency == 2' || return 1
    wk_until 15 "a lease of at most 5 s" lease_pttl_ok "${WK_ID[w]}" 5000
    wk_signal_and_wait w TERM 20
    assert_equal "$WK_RC" 0 "exit code"
}

@test "config: --config FILE sets concurrency, lease and heartbeat; the command line wins" {
    printf '%s\n' '{"concurrency": 2, "lease": 5, "heartbeat": 1, "prefix": "cfgq"}' \
        >"$BATS_TEST_TMPDIR/worker.json"
    wk_start w --config "$BATS_TEST_TMPDIR/worker.json" --queue "$WK_Q"
    wk_wait_event w start 10 '.concurrency == 2' || return 1
    # The lease is written just after the start line: looked at until it is.
    wk_until 15 "a lease PTTL of 3000-5000 ms (lease 5 s, heartbeat 1 s): $(rcli PTTL "cfgq:lease:${WK_ID[w]}")" \
        lease_pttl_ok "${WK_ID[w]}" 5000 3000 cfgq
    wk_signal_and_wait w TERM 20
    assert_equal "$WK_RC" 0 "exit code"
    # The command line overrides the file.
    wk_start w2 --queue "$WK_Q" --config "$BATS_TEST_TMPDIR/worker.json" --concurrency 3
    wk_wait_event w2 start 10 '.concurrency == 3' || return 1
    wk_signal_and_wait w2 TERM 20
    assert_equal "$WK_RC" 0 "exit code"
}

@test "config: an unknown key in --config is refused (exit 2, naming the key)" {
    printf '%s\n' '{"concurrency": 2, "lease": 5, "heartbeat": 1, "speed": "max"}' \
        >"$BATS_TEST_TMPDIR/worker.json"
    expect_usage_error speed --config "$BATS_TEST_TMPDIR/worker.json" --queue "$WK_Q"
    printf '%s\n' '[1, 2]' >"$BATS_TEST_TMPDIR/array.json"
    expect_usage_error "JSON object" --config "$BATS_TEST_TMPDIR/array.json" --queue "$WK_Q"
    expect_usage_error "$BATS_TEST_TMPDIR/missing.json" --config "$BATS_TEST_TMPDIR/missing.json" \
        --queue "$WK_Q"
    # Nothing was started.
    assert_equal "$(rcli DBSIZE)" 0 "keys in redis"
}

@test "config: --heartbeat >= --lease is refused with exit 2" {
    expect_usage_error heartbeat --queue "$WK_Q" --lease 3 --heartbeat 3
    expect_usage_error heartbeat --queue "$WK_Q" --lease 3 --heartbeat 10
    assert_equal "$(rcli DBSIZE)" 0 "keys in redis"
}

@test "config: bad options are refused with exit 2" {
    expect_usage_error --queue --concurrency 2
    expect_usage_error concurrency --queue "$WK_Q" --concurrency 0
    expect_usage_error concurrency --queue "$WK_Q" --concurrency 65
    expect_usage_error concurrency --queue "$WK_Q" --concurrency 1.5
    expect_usage_error lease --queue "$WK_Q" --lease abc
    expect_usage_error queue --queue "ftp://example/"
    expect_usage_error port --queue "redis://127.0.0.1:99999"
    expect_usage_error worker-id --queue "$WK_Q" --worker-id "a/b"
    expect_usage_error "unexpected argument" --queue "$WK_Q" extra
    run_worker --queue "$WK_Q" --no-such-option
    assert_equal "$RX_RC" 2 "exit code of an unknown option"
}

@test "config: a Redis queue that cannot be reached at start -> exit 125" {
    run_worker --queue redis://127.0.0.1:1 --lease 3 --heartbeat 1
    assert_equal "$RX_RC" 125 "exit code"
    [[ $RX_ERR == *127.0.0.1:1* ]] || fail "stderr does not name the queue: $RX_ERR"
    run_worker status --queue redis://127.0.0.1:1
    assert_equal "$RX_RC" 125 "exit code of status"
}

@test "redis: --prefix and a database number (redis://HOST:PORT/DB) keep queues apart" {
    local tid
    tid=$(rx_tid db3)
    rcli -n 3 LPUSH myq:jobs "{\"task_id\":\"$tid\",\"command\":[\"true\"]}" >/dev/null
    wk_push "{\"task_id\":\"$tid-other\",\"command\":[\"true\"]}"
    wk_start w --queue "$WK_Q/3" --prefix myq --concurrency 1 --max-jobs 1 --lease 3 --heartbeat 1
    wk_expect_exit w 0 30
    jq -e '.status == "success"' >/dev/null <<<"$(rcli -n 3 GET "myq:result:$tid")" ||
        fail "no result at db 3 myq:result:$tid"
    assert_equal "$(rcli -n 3 LRANGE myq:done 0 -1)" "$tid" "myq:done in db 3"
    assert_equal "$(rcli LLEN ralph:jobs)" 1 "the job on db 0 ralph:jobs is untouched"
    local st
    st=$("$RALPH_WORKER" status --queue "$WK_Q/3" --prefix myq)
    jq -e '.done == 1 and .queued == 0' >/dev/null <<<"$st" || fail "status: $st"
    rcli -n 3 FLUSHDB >/dev/null
}
