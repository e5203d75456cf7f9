#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# ralph-worker on a Redis queue: a job pushed with redis-cli runs, 64 jobs
# through two workers lose nothing and run nothing twice, SIGTERM drains.

load ../lib/libtest
load ../lib/libworker

setup_file() { wk_setup_file; }
teardown_file() { wk_teardown_file; }
setup() { wk_setup; }
teardown() { wk_teardown; }

# Short leases so that nothing here waits long.
LEASE=(--lease 3 --heartbeat 1)

# For wk_until: a client of our Redis is blocked in BLMOVE (a slot waiting
# for a job; CLIENT LIST's flag b: blocked).
claim_blocked() {
    rcli CLIENT LIST | grep -q ' flags=[^ ]*b[^ ]* .* cmd=blmove '
}

@test "redis: a job pushed with redis-cli runs; its result is read with redis-cli GET" {
    local tid job res st
    tid=$(rx_tid demo)
    job=$(jq -c --arg id "$tid" '.task_id = $id' "$BATS_TEST_DIRNAME/../../examples/demo.json")
    wk_push "$job"
    wk_start w --queue "$WK_Q" --concurrency 1 --max-jobs 1 "${LEASE[@]}"
    wk_expect_exit w 0 60
    res=$(wk_result "$tid")
    jq -e . >/dev/null <<<"$res" || fail "no result JSON at ralph:result:$tid: '$res'"
    RX_OUT=$res
    rx_check --arg id "$tid" '.task_id == $id and .status == "success"' 'status success'
    rx_check '.output == {"mean": 3.5, "std": 1.707825127659933, "n": 6}' 'the numpy output'
    rx_check '.exit_code == 0'
    assert_equal "$(rcli LRANGE ralph:done 0 -1)" "$tid" "ralph:done (the task id exactly once)"
    assert_equal "$(rcli LLEN ralph:jobs)" 0 "ralph:jobs length"
    assert_equal "$(wk_processing_total)" 0 "jobs in processing lists"
    # TTL: the default --result-ttl is a day.
    local ttl
    ttl=$(rcli TTL "ralph:result:$tid")
    ((ttl > 86000 && ttl <= 86400)) || fail "result TTL $ttl (want about 86400)"
    st=$("$RALPH_WORKER" status --queue "$WK_Q")
    jq -e '.done == 1 and .failed == 0 and .dead == 0 and .queued == 0' >/dev/null <<<"$st" ||
        fail "ralph-worker status: $st (want done 1, failed 0, dead 0, queued 0)"
    wk_has_event w job_done ".task_id == \"$tid\" and .status == \"success\"" ||
        { wk_dump w; fail "no job_done event for $tid"; }
    assert_equal "$(wk_containers w)" "" "containers of the worker"
}

@test "redis: a command job writing output.json; --result-ttl; a failing job counts as failed" {
    local ok bad script
    ok=$(rx_tid cmd-ok)
    bad=$(rx_tid cmd-bad)
    script='echo '"'"'{"n": 1}'"'"' > output.json'
    wk_push "$(jq -nc --arg id "$ok" --arg s "$script" '{task_id: $id, command: ["sh", "-c", $s]}')" \
        "$(jq -nc --arg id "$bad" '{task_id: $id, command: ["sh", "-c", "exit 7"]}')"
    wk_start w --queue "$WK_Q" --concurrency 2 --max-jobs 2 --result-ttl 600 "${LEASE[@]}"
    wk_expect_exit w 0 60
    RX_OUT=$(wk_result "$ok")
    rx_check '.status == "success" and .output == {"n": 1}' 'the command job output'
    RX_OUT=$(wk_result "$bad")
    rx_check '.status == "error" and .exit_code == 7' 'the failing job result'
    local ttl
    ttl=$(rcli TTL "ralph:result:$ok")
    ((ttl > 500 && ttl <= 600)) || fail "result TTL $ttl (want about 600)"
    local st
    st=$("$RALPH_WORKER" status --queue "$WK_Q")
    jq -e '.done == 1 and .failed == 1 and .queued == 0' >/dev/null <<<"$st" ||
        fail "status: $st (want done 1 failed 1)"
    assert_equal "$(rcli LRANGE ralph:done 0 -1 | sort)" "$(printf '%s\n' "$ok" "$bad" | sort)" \
        "ralph:done"
}

@test "redis: 64 jobs through 2 workers x concurrency 4: every result exactly once, none lost" {
    # Eight rounds of the eight slots, claims racing between the workers all
    # along (the load case, 43_load.bats, has 100 jobs at once on 100 slots).
    local n=64 i tag t0
    tag=$(rx_tid bulk)
    local -a jobs=()
    for ((i = 1; i <= n; i++)); do
        jobs+=("{\"task_id\":\"$tag-$i\",\"command\":[\"true\"],\"timeout\":120}")
    done
    wk_push "${jobs[@]}"
    assert_equal "$(rcli LLEN ralph:jobs)" "$n" "queued jobs"
    t0=$SECONDS
    wk_start a --queue "$WK_Q" --concurrency 4 "${LEASE[@]}"
    wk_start b --queue "$WK_Q" --concurrency 4 "${LEASE[@]}"
    wk_until 240 "$n task ids on ralph:done" wk_llen_at_least ralph:done $n ||
        { wk_dump a b; return 1; }
    echo "# $n jobs in $((SECONDS - t0)) s" >&3
    wk_signal_and_wait a TERM 30
    assert_equal "$WK_RC" 0 "worker a exit code after SIGTERM"
    wk_signal_and_wait b TERM 30
    assert_equal "$WK_RC" 0 "worker b exit code after SIGTERM"

    local want got
    want=$(for ((i = 1; i <= n; i++)); do echo "$tag-$i"; done | sort)
    got=$(rcli LRANGE ralph:done 0 -1 | sort)
    assert_equal "$got" "$want" "ralph:done (sorted): every task id exactly once"
    local keys=()
    for ((i = 1; i <= n; i++)); do keys+=("ralph:result:$tag-$i"); done
    assert_equal "$(rcli EXISTS "${keys[@]}")" "$n" "results present"
    local statuses
    statuses=$(rcli MGET "${keys[@]}" | jq -r .status | sort | uniq -c | sed 's/^ *//')
    assert_equal "$statuses" "$n success" "result statuses"
    assert_equal "$(rcli LLEN ralph:jobs)" 0 "ralph:jobs"
    assert_equal "$(wk_processing_total)" 0 "jobs left in processing lists"
    assert_equal "$(rcli LLEN ralph:dead)" 0 "ralph:dead"
    # Each worker ran jobs, and each job ran once (one job_start in all).
    local sa sb
    sa=$(wk_count_events a job_done)
    sb=$(wk_count_events b job_done)
    ((sa > 0 && sb > 0)) || fail "jobs per worker: a $sa, b $sb (both should have run some)"
    assert_equal "$((sa + sb))" "$n" "job_done events of both workers"
    local starts
    starts=$( (wk_events a job_start; wk_events b job_start) | jq -r .task_id | sort | uniq -d)
    assert_equal "$starts" "" "task ids started more than once"
    local st
    st=$("$RALPH_WORKER" status --queue "$WK_Q")
    jq -e --argjson n "$n" '.done == $n and .queued == 0 and .processing == {}' >/dev/null <<<"$st" ||
        fail "status after the run: $st"
}

@test "redis: jobs running at once on two workers sharing an engine never share a uid (a range of 4)" {
    # Two workers of two slots, a uid_range of exactly four uids, four jobs
    # that each print when they start and end: any two that ran at the same
    # time had two uids, and at least two of them ran at once on different
    # workers (so the rule across workers was put to the test).
    local base policy tag i
    base=$((2000000 + RANDOM * 4))
    policy=$BATS_TEST_TMPDIR/policy.json
    echo "{\"uid_range\": [$base, $((base + 3))]}" >"$policy"
    tag=$(rx_tid uids)
    for i in 1 2 3 4; do
        wk_push "$(jq -nc --arg id "$tag-$i" \
            '{task_id: $id, command: ["sh", "-c", "date +%s.%N; sleep 6; date +%s.%N"], timeout: 60}')"
    done
    wk_start a --queue "$WK_Q" --concurrency 2 --policy "$policy" "${LEASE[@]}"
    wk_start b --queue "$WK_Q" --concurrency 2 --policy "$policy" "${LEASE[@]}"
    wk_until 90 "4 results" wk_llen_at_least ralph:done 4 || { wk_dump a b; return 1; }
    wk_signal_and_wait a TERM 30
    wk_signal_and_wait b TERM 30
    # Each job's result, with the worker that ran it (a's job_done events).
    local results ran_a
    ran_a=$(wk_events a job_done | jq -sc 'map(.task_id)')
    results=$(for i in 1 2 3 4; do wk_result "$tag-$i"; done |
        jq -c --argjson a "$ran_a" '{id: .task_id, status, user: .limits.user,
            w: (.task_id as $t | if any($a[]; . == $t) then "a" else "b" end),
            t: (.stdout | split("\n") | map(select(. != "") | tonumber))}')
    jq -se 'all(.[]; .status == "success" and (.user | test("^[0-9]+:")))' <<<"$results" >/dev/null ||
        fail "not every job succeeded with a uid: $results"
    jq -se --argjson lo "$base" --argjson hi "$((base + 3))" \
        'all(.[]; (.user | split(":")[0] | tonumber) as $u | $u >= $lo and $u <= $hi)' <<<"$results" >/dev/null ||
        fail "a uid outside the policy's uid_range [$base, $((base + 3))]: $results"
    # Pairs that overlapped in time: none shares a uid; one spans both workers.
    local pairs
    pairs=$(jq -sc '[combinations(2) | select(.[0].id < .[1].id) |
            select(.[0].t[0] < .[1].t[1] and .[1].t[0] < .[0].t[1])]' <<<"$results")
    jq -e 'all(.[]; .[0].user != .[1].user)' <<<"$pairs" >/dev/null ||
        fail "two jobs that ran at the same time shared a uid: $pairs"
    jq -e 'any(.[]; .[0].w != .[1].w)' <<<"$pairs" >/dev/null ||
        fail "no two jobs ran at the same time on different workers (the test saw nothing to check): $results"
}

@test "redis: --max-jobs N takes exactly N jobs and exits 0; the rest stay queued" {
    local tag i
    tag=$(rx_tid maxjobs)
    local -a jobs=()
    for ((i = 1; i <= 7; i++)); do jobs+=("{\"task_id\":\"$tag-$i\",\"command\":[\"true\"]}"); done
    wk_push "${jobs[@]}"
    wk_start w --queue "$WK_Q" --concurrency 3 --max-jobs 5 "${LEASE[@]}"
    wk_expect_exit w 0 60
    assert_equal "$(wk_done_count)" 5 "jobs done"
    assert_equal "$(rcli LLEN ralph:jobs)" 2 "jobs still queued"
    assert_equal "$(wk_processing_total)" 0 "jobs in processing lists"
    wk_has_event w stop '.exit_code == 0 and .jobs == 5' || { wk_dump w; fail "stop event"; }
}

@test "redis: --max-runtime: stops taking jobs after the time, finishes the running one, exits 0" {
    local t1 t2
    t1=$(rx_tid maxrt-run)
    t2=$(rx_tid maxrt-q)
    # The worker (TSan-built in CI) must claim the first job within
    # --max-runtime, and the job must still run when that time is up.
    wk_push "$(jq -nc --arg id "$t1" '{task_id: $id, command: ["sleep", "10"], timeout: 60}')" \
        "$(jq -nc --arg id "$t2" '{task_id: $id, command: ["true"]}')"
    wk_start w --queue "$WK_Q" --concurrency 1 --max-runtime 6 "${LEASE[@]}"
    wk_expect_exit w 0 60
    RX_OUT=$(wk_result "$t1")
    rx_check '.status == "success"' 'the running job finished'
    assert_equal "$(wk_result "$t2")" "" "result of the queued job"
    assert_equal "$(rcli LLEN ralph:jobs)" 1 "jobs still queued"
    wk_has_event w stop '.reason == "max-runtime reached" and .exit_code == 0' ||
        { wk_dump w; fail "no stop event for max-runtime"; }
}

@test "redis: SIGTERM drains: the running job finishes, no new job is taken, exit 0" {
    local t1 t2 t3
    t1=$(rx_tid drain-run)
    t2=$(rx_tid drain-q1)
    t3=$(rx_tid drain-q2)
    # Long enough to be still running when SIGTERM comes, under TSan too.
    wk_push "$(jq -nc --arg id "$t1" '{task_id: $id, command: ["sleep", "12"], timeout: 60}')"
    wk_start w --queue "$WK_Q" --concurrency 1 "${LEASE[@]}"
    wk_wait_event w job_start 60 ".task_id == \"$t1\""
    rx_wait_running "$t1" 60 >/dev/null
    wk_push "$(jq -nc --arg id "$t2" '{task_id: $id, command: ["true"]}')" \
        "$(jq -nc --arg id "$t3" '{task_id: $id, command: ["true"]}')"
    # status: the job in flight, from the heartbeat (every second).
    wk_until 10 "status shows 1 job in flight on the worker" \
        wk_status_is "$WK_Q" ".processing[\"${WK_ID[w]}\"] == 1 and .queued == 2"
    kill -TERM "${WK_PID[w]}"
    wk_expect_exit w 0 60
    RX_OUT=$(wk_result "$t1")
    rx_check '.status == "success"' 'the running job finished during the drain'
    assert_equal "$(wk_result "$t2")$(wk_result "$t3")" "" "results of the queued jobs"
    assert_equal "$(rcli LLEN ralph:jobs)" 2 "jobs still queued"
    assert_equal "$(wk_processing_total)" 0 "jobs in processing lists"
    wk_has_event w stopping || { wk_dump w; fail "no stopping event"; }
    wk_has_event w stop '.exit_code == 0' || { wk_dump w; fail "no stop event with exit_code 0"; }
    assert_equal "$(rcli EXISTS "ralph:lease:${WK_ID[w]}")" 0 "the worker's lease after a clean exit"
    assert_equal "$(rx_containers "$t1")" "" "containers of the drained job"
}

@test "redis: after SIGTERM an idle slot takes no job pushed during the drain" {
    # Slot 1 runs a long job; slot 2 is idle, blocked waiting for a job.  A
    # job pushed once the worker has logged that it stops must stay queued.
    local t1 t2 late
    t1=$(rx_tid drain2-run)
    t2=$(rx_tid drain2-late)
    late=$(jq -nc --arg id "$t2" '{task_id: $id, command: ["true"]}')
    wk_push "$(jq -nc --arg id "$t1" '{task_id: $id, command: ["sleep", "8"], timeout: 60}')"
    wk_start w --queue "$WK_Q" --concurrency 2 "${LEASE[@]}"
    wk_wait_event w job_start 60 ".task_id == \"$t1\""
    wk_until 30 "slot 2 waits for a job (a client blocked in BLMOVE)" claim_blocked || { wk_dump w; return 1; }
    kill -TERM "${WK_PID[w]}"
    wk_wait_event w stopping 15 || { wk_dump w; fail "no stopping event"; }
    wk_push "$late"
    wk_expect_exit w 0 60
    RX_OUT=$(wk_result "$t1")
    rx_check '.status == "success"' 'the running job finished'
    if [[ -n $(wk_result "$t2") ]] || wk_has_event w job_start ".task_id == \"$t2\""; then
        wk_dump w
        fail "FAILED: the worker took and ran $t2, pushed after SIGTERM (after it logged 'stopping'): a stopping worker must take no new job"
    fi
    assert_equal "$(rcli LRANGE ralph:jobs 0 -1 | jq -r .task_id)" "$t2" "the late job is still queued"
}

@test "redis: SIGTERM with --grace 1 kills a long job and puts it back on ralph:jobs" {
    local tid job cid
    tid=$(rx_tid grace)
    job=$(jq -nc --arg id "$tid" '{task_id: $id, command: ["sleep", "30"], timeout: 60}')
    wk_push "$job"
    wk_start w --queue "$WK_Q" --concurrency 1 --grace 1 "${LEASE[@]}"
    wk_wait_event w job_start 60 ".task_id == \"$tid\""
    cid=$(rx_wait_running "$tid" 60)
    kill -TERM "${WK_PID[w]}"
    wk_expect_exit w 0 20
    assert_equal "$(wk_result "$tid")" "" "result of the killed job"
    assert_equal "$(rcli LRANGE ralph:jobs 0 -1)" "$job" "the job is back on ralph:jobs, unchanged"
    assert_equal "$(wk_processing_total)" 0 "jobs in processing lists"
    assert_equal "$(rcli LLEN ralph:dead)" 0 "ralph:dead"
    assert_equal "$(wk_done_count)" 0 "ralph:done"
    wk_has_event w job_requeued ".task_id == \"$tid\"" || { wk_dump w; fail "no job_requeued event"; }
    ! wk_container_exists "$cid" || fail "the killed job's container $cid still exists"
    assert_equal "$(rx_containers "$tid")" "" "containers of the job"
}
