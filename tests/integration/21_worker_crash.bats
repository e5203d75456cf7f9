#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# ralph-worker on a Redis queue when things crash: a worker killed with
# SIGKILL mid-job, a worker restarted under the same id, Redis restarted
# mid-run.  Every job must end with exactly one result, and no container may
# be left behind.

load ../lib/libtest
load ../lib/libworker

setup_file() { wk_setup_file; }
teardown_file() { wk_teardown_file; }
setup() { wk_setup; }
teardown() { wk_teardown; }

LEASE=(--lease 3 --heartbeat 1)

lease_gone() {
    [[ $(rcli EXISTS "ralph:lease:$1") == 0 ]]
}

@test "redis: SIGKILL mid-job: another worker reaps the lease, runs the job once, sweeps the orphan" {
    local tid job cid t0
    tid=$(rx_tid sigkill)
    # Long enough to be still running when the next worker sweeps it.
    job=$(jq -nc --arg id "$tid" '{task_id: $id, command: ["sleep", "20"], timeout: 60}')
    wk_push "$job"
    wk_start a --queue "$WK_Q" --concurrency 1 "${LEASE[@]}"
    wk_wait_event a job_start 60 ".task_id == \"$tid\""
    cid=$(rx_wait_running "$tid" 60)
    assert_equal "$(rcli LRANGE "ralph:processing:${WK_ID[a]}" 0 -1)" "$job" \
        "the job is in worker a's processing list"
    kill -KILL "${WK_PID[a]}"
    t0=$SECONDS
    wk_wait_exit a 10
    assert_equal "$WK_RC" 137 "exit status of the killed worker"
    # The lease (3 s) runs out; the orphan container is still running.
    wk_until 15 "worker a's lease expires" lease_gone "${WK_ID[a]}"
    [[ $(docker inspect -f '{{.State.Running}}' "$cid" 2>/dev/null) == true ]] ||
        fail "the orphan container $cid is not running any more (the test needs it running)"

    wk_start b --queue "$WK_Q" --concurrency 1 "${LEASE[@]}"
    wk_wait_event b lease_reaped 20 '.jobs == 1'
    wk_until 15 "the orphan container $cid of the killed worker is removed" wk_container_gone "$cid" ||
        { wk_dump b; return 1; }
    wk_has_event b container_swept '.removed >= 1' || { wk_dump b; fail "no container_swept event"; }
    wk_wait_event b job_start 10 ".task_id == \"$tid\""
    local took=$((SECONDS - t0))
    ((took <= 15)) || fail "the job restarted $took s after the kill (lease 3 s)"
    wk_wait_event b job_done 90 ".task_id == \"$tid\""
    wk_signal_and_wait b TERM 30
    assert_equal "$WK_RC" 0 "worker b exit code"

    RX_OUT=$(wk_result "$tid")
    rx_check '.status == "success"' 'the job completed through worker b'
    assert_equal "$(rcli LRANGE ralph:done 0 -1)" "$tid" "ralph:done: the task id exactly once"
    assert_equal "$(wk_count_events b job_start ".task_id == \"$tid\"")" 1 "starts of the job on b"
    assert_equal "$(rcli LLEN ralph:jobs)" 0 "ralph:jobs"
    assert_equal "$(wk_processing_total)" 0 "jobs in processing lists"
    assert_equal "$(rcli LLEN ralph:dead)" 0 "ralph:dead"
    assert_equal "$(rcli HLEN ralph:attempts)" 0 "attempt counters left after success"
    assert_equal "$(rx_containers "$tid")" "" "containers of the task"
    # The dead worker is forgotten.
    assert_equal "$(rcli SISMEMBER ralph:workers "${WK_ID[a]}")" 0 "worker a still registered"
}

@test "redis: a worker restarted under the same --worker-id puts its jobs back and removes its orphan at once" {
    local tid job cid id
    tid=$(rx_tid sameid)
    job=$(jq -nc --arg id "$tid" '{task_id: $id, command: ["sleep", "5"], timeout: 60}')
    wk_push "$job"
    id="fixed-$$-$RANDOM"
    WK_FIXED_ID=$id wk_start a --queue "$WK_Q" --concurrency 1 "${LEASE[@]}"
    wk_wait_event a job_start 60 ".task_id == \"$tid\""
    cid=$(rx_wait_running "$tid" 60)
    kill -KILL "${WK_PID[a]}"
    wk_wait_exit a 10
    # At once, well within the lease: no other worker could reap it yet.
    WK_FIXED_ID=$id wk_start a2 --queue "$WK_Q" --concurrency 1 "${LEASE[@]}"
    wk_wait_event a2 jobs_recovered 10 '.jobs == 1'
    wk_until 10 "the orphan container $cid is removed at start" wk_container_gone "$cid" ||
        { wk_dump a2; return 1; }
    wk_wait_event a2 job_done 90 ".task_id == \"$tid\""
    wk_signal_and_wait a2 TERM 30
    assert_equal "$WK_RC" 0 "exit code"
    RX_OUT=$(wk_result "$tid")
    rx_check '.status == "success"' 'the job completed after the restart'
    assert_equal "$(rcli LRANGE ralph:done 0 -1)" "$tid" "ralph:done"
    assert_equal "$(rcli LLEN ralph:jobs)" 0 "ralph:jobs"
    assert_equal "$(wk_processing_total)" 0 "jobs in processing lists"
    assert_equal "$(rx_containers "$tid")" "" "containers of the task"
}

@test "redis: restart redis-server mid-run (appendonly): workers reconnect, nothing lost, nothing twice" {
    local n=20 i tag
    tag=$(rx_tid rrestart)
    local -a jobs=()
    for ((i = 1; i <= n; i++)); do
        jobs+=("{\"task_id\":\"$tag-$i\",\"command\":[\"sleep\",\"1\"],\"timeout\":120}")
    done
    wk_push "${jobs[@]}"
    # A lease (15 s) well above the outage: no worker may take the other's jobs.
    wk_start a --queue "$WK_Q" --concurrency 2 --lease 15 --heartbeat 1
    wk_start b --queue "$WK_Q" --concurrency 2 --lease 15 --heartbeat 1
    wk_until 60 "3 jobs done" wk_llen_at_least ralph:done 3
    local done_a done_b running
    running=$(($(wk_count_events a job_start) + $(wk_count_events b job_start) -
        $(wk_count_events a job_done) - $(wk_count_events b job_done)))
    local t0 outage
    t0=$(date +%s%N)
    wk_redis_stop
    sleep 0.5
    done_a=$(wk_count_events a job_done)
    done_b=$(wk_count_events b job_done)
    wk_redis_start "$WK_REDIS_PORT"
    outage=$((($(date +%s%N) - t0) / 1000000))
    echo "# redis down for $outage ms with $running job(s) running, $((done_a + done_b)) done" >&3
    ((outage < 10000)) || fail "the outage took $outage ms: the test needs it well below the 15 s lease"
    wk_until 90 "all $n jobs done after the restart" \
        wk_llen_at_least ralph:done $n || { wk_dump a b; return 1; }
    wk_signal_and_wait a TERM 30
    assert_equal "$WK_RC" 0 "worker a exit code"
    wk_signal_and_wait b TERM 30
    assert_equal "$WK_RC" 0 "worker b exit code"

    # Both noticed the outage and went on working after it.
    local noticed
    noticed=$( (wk_log a; wk_log b) | jq -r 'select(.event == "queue_unavailable" or
        .event == "store_retry" or .event == "heartbeat_failed") | .event' | sort -u | tr '\n' ' ')
    [[ -n $noticed ]] || { wk_dump a b; fail "no worker logged the outage"; }
    echo "# events during the outage: $noticed" >&3
    (($(wk_count_events a job_done) > done_a)) || { wk_dump a; fail "worker a did no job after the restart"; }
    (($(wk_count_events b job_done) > done_b)) || { wk_dump b; fail "worker b did no job after the restart"; }

    local want got
    want=$(for ((i = 1; i <= n; i++)); do echo "$tag-$i"; done | sort)
    got=$(rcli LRANGE ralph:done 0 -1 | sort)
    assert_equal "$got" "$want" "ralph:done (sorted): every task id exactly once"
    local keys=()
    for ((i = 1; i <= n; i++)); do keys+=("ralph:result:$tag-$i"); done
    assert_equal "$(rcli MGET "${keys[@]}" | jq -r .status | sort | uniq -c | sed 's/^ *//')" \
        "$n success" "result statuses"
    assert_equal "$(rcli LLEN ralph:jobs)" 0 "ralph:jobs"
    assert_equal "$(wk_processing_total)" 0 "jobs in processing lists"
    assert_equal "$(rcli LLEN ralph:dead)" 0 "ralph:dead"
    local twice
    twice=$( (wk_events a job_start; wk_events b job_start) | jq -r .task_id | sort | uniq -d)
    assert_equal "$twice" "" "task ids started more than once"
}

@test "redis: a second worker started under the id of a live worker does not kill the live worker's job" {
    # The start-up recovery (jobs and containers of an earlier run under the
    # same id) must not take a job, or remove a container, of a process that
    # still holds the lease.
    local tid id
    tid=$(rx_tid liveid)
    wk_push "{\"task_id\":\"$tid\",\"command\":[\"sleep\",\"4\"],\"timeout\":60}"
    id="live-$$-$RANDOM"
    WK_FIXED_ID=$id wk_start a --queue "$WK_Q" --concurrency 1 "${LEASE[@]}"
    wk_wait_event a job_start 60 ".task_id == \"$tid\""
    rx_wait_running "$tid" 60 >/dev/null
    WK_FIXED_ID=$id wk_start a2 --queue "$WK_Q" --concurrency 1 "${LEASE[@]}"
    wk_until 40 "a result for $tid" bash -c "[[ -n \$(redis-cli -p $WK_REDIS_PORT GET ralph:result:$tid) ]]"
    # a2 has done all it will do once it exits: it waits up to twice the
    # lease for the id to be free and, as a holds it, refuses to start
    # (exit 2, ralph-worker(8)).  Had it started instead (and taken the
    # job), it would run on until signalled: this wait fails.
    wk_wait_exit a2 30 || { fail "FAILED: a2, under the id of a live worker, started and ran on"; return 1; }
    RX_OUT=$(wk_result "$tid")
    if ! jq -e '.status == "success"' >/dev/null <<<"$RX_OUT"; then
        wk_dump a a2
        rx_dump
        fail "FAILED: the job of the live worker ended as $(rx_get .status) ($(rx_get .error)):" \
            "the second worker under the same id took its job and removed its container"
    fi
    assert_equal "$WK_RC" 2 "a2's exit code (the id is in use)" || { wk_dump a2; return 1; }
    wk_has_event a2 worker_id_in_use || { wk_dump a2; fail "a2 did not log worker_id_in_use"; }
    wk_alive a && wk_signal_and_wait a TERM 30
    assert_equal "$(rcli LLEN ralph:jobs)$(wk_processing_total)" 00 "ralph:jobs and processing"
}

@test "redis: a worker of another queue at the same address does not sweep this queue's running job" {
    # Two queues can be reached under one URL (two compose projects, each
    # with its own redis at redis:6379; or a redis replaced by an empty
    # one).  A worker judges containers by the leases in its own queue, so
    # it must recognise only its own queue's containers.
    local tid tid2 cid
    tid=$(rx_tid otherq)
    wk_push "{\"task_id\":\"$tid\",\"command\":[\"sleep\",\"30\"],\"timeout\":60}"
    wk_start a --queue "$WK_Q" --concurrency 1 "${LEASE[@]}"
    wk_wait_event a job_start 60 ".task_id == \"$tid\""
    cid=$(rx_wait_running "$tid" 60)
    # The same address now serves another, empty queue.
    wk_redis_stop
    rm -f "$WK_REDIS_DIR"/*.aof "$WK_REDIS_DIR"/appendonlydir/* 2>/dev/null || true
    rm -rf "$WK_REDIS_DIR/appendonlydir"
    wk_redis_start "$WK_REDIS_PORT"
    assert_equal "$(rcli DBSIZE)" 0 "keys in the new, empty queue"
    tid2=$(rx_tid otherq2)
    wk_push "{\"task_id\":\"$tid2\",\"command\":[\"true\"],\"timeout\":30}"
    wk_start b --queue "$WK_Q" --concurrency 1 "${LEASE[@]}"
    # b sweeps before it takes its first job: once that job is done, the sweep was.
    wk_wait_event b job_done 60 ".task_id == \"$tid2\""
    if ! wk_has_event b start; then wk_dump b; fail "b logged no start"; fi
    wk_container_exists "$cid" || { wk_dump a b; fail "FAILED: b removed the running job $cid of the other queue"; }
    [[ $(docker inspect -f '{{.State.Running}}' "$cid") == true ]] ||
        { wk_dump a b; fail "FAILED: the other queue's job $cid is no longer running"; }
    ! wk_has_event b container_swept || { wk_dump b; fail "FAILED: b swept a container"; }
    wk_signal_and_wait b TERM 30
    wk_kill "${WK_PID[a]}"
}
