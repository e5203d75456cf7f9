#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# ralph-worker when the engine is down or dies mid-run, and dead letters.
# The real dockerd is never stopped (others use it): the worker is pointed
# at a socket where no engine answers, or at a proxy to the real engine that
# the test kills.

load ../lib/libtest
load ../lib/libworker

setup_file() { wk_setup_file; }
teardown_file() { wk_teardown_file; }
setup() { wk_setup; }
teardown() { wk_teardown; }

LEASE=(--lease 3 --heartbeat 1)

# Four cheap jobs; their JSON in JOBS, task ids in TIDS.
four_jobs() {
    local tag i
    tag=$(rx_tid "$1")
    JOBS=()
    TIDS=()
    for ((i = 1; i <= 4; i++)); do
        TIDS+=("$tag-$i")
        JOBS+=("{\"task_id\":\"$tag-$i\",\"command\":[\"true\"]}")
    done
}

# For wk_until: worker NAME has exited, or a job is in ralph:dead.
gone_or_dead() {
    ! wk_alive "$1" || wk_llen_at_least ralph:dead 1
}

# For wk_until: a result for task TID is stored.
has_result() {
    [[ -n $(wk_result "$1") ]]
}

# The last JSON log line of worker NAME.
last_event() {
    wk_log "$1" | tail -1
}

# The breaker: exit 3; breaker_tripped, then stop (the last line) naming the
# socket; a plain last line on stderr saying why.
check_breaker() {
    local name=$1 sock=$2 last
    wk_expect_exit "$name" 3 30
    wk_has_event "$name" breaker_tripped ".last_error | contains(\"$sock\")" ||
        { wk_dump "$name"; fail "no breaker_tripped event naming $sock"; }
    last=$(last_event "$name")
    jq -e --arg s "$sock" '.event == "stop" and .exit_code == 3 and (.last_error | contains($s))' \
        >/dev/null <<<"$last" || { wk_dump "$name"; fail "last log line: $last"; }
    local plain
    plain=$(grep -v '^{' "${WK_LOG[$name]}" | tail -1)
    [[ $plain == *"consecutive infrastructure errors"*"$sock"* ]] ||
        { wk_dump "$name"; fail "the last plain stderr line does not give the reason: '$plain'"; }
}

@test "engine unreachable (redis): the breaker trips (exit 3, reason names the socket), jobs stay queued" {
    local sock=$BATS_TEST_TMPDIR/nonexistent.sock
    four_jobs deadeng
    wk_push "${JOBS[@]}"
    wk_start w DOCKER_HOST="unix://$sock" --queue "$WK_Q" --concurrency 2 \
        --max-infra-errors 3 --max-attempts 10 "${LEASE[@]}"
    check_breaker w "$sock"
    assert_equal "$(rcli LRANGE ralph:jobs 0 -1 | sort)" "$(printf '%s\n' "${JOBS[@]}" | sort)" \
        "every job is back on ralph:jobs, unchanged"
    assert_equal "$(rcli LLEN ralph:dead)" 0 "ralph:dead"
    assert_equal "$(rcli --scan --pattern 'ralph:result:*')" "" "results"
    assert_equal "$(wk_done_count)" 0 "ralph:done"
    assert_equal "$(wk_processing_total)" 0 "jobs in processing lists"
    wk_has_event w job_requeued || { wk_dump w; fail "no job_requeued event"; }
}

@test "engine unreachable (spool): the breaker trips (exit 3), jobs go back to incoming/" {
    local sock=$BATS_TEST_TMPDIR/nonexistent.sock i
    four_jobs deadeng-dir
    for ((i = 0; i < 4; i++)); do wk_spool_job "$WK_SPOOL" "${TIDS[i]}" "${JOBS[i]}"; done
    wk_start w DOCKER_HOST="unix://$sock" --queue "dir:$WK_SPOOL" --concurrency 2 \
        --max-infra-errors 3 --max-attempts 10 "${LEASE[@]}"
    check_breaker w "$sock"
    assert_equal "$(wk_count "$WK_SPOOL/incoming")" 4 "jobs in incoming/"
    # Attempt counts are kept in the names (NAME~N.json); the content is unchanged.
    for ((i = 0; i < 4; i++)); do
        local f
        f=$(compgen -G "$WK_SPOOL/incoming/${TIDS[i]}*.json") || fail "job ${TIDS[i]} is not in incoming/"
        assert_equal "$(cat "$f")" "${JOBS[i]}" "content of $f"
    done
    assert_equal "$(wk_ls "$WK_SPOOL/claimed")" "" "claimed/"
    assert_equal "$(wk_ls "$WK_SPOOL/results")" "" "results/"
    assert_equal "$(wk_ls "$WK_SPOOL/dead")" "" "dead/"
}

@test "engine unreachable, default options: a lone job is not dead-lettered by the outage" {
    # --max-infra-errors 5 (default) must protect the queue: a job must not
    # burn its 3 (default) attempts on an engine that is down.
    local sock=$BATS_TEST_TMPDIR/nonexistent.sock tid job
    tid=$(rx_tid deadeng-defaults)
    job="{\"task_id\":\"$tid\",\"command\":[\"true\"]}"
    wk_push "$job"
    wk_start w DOCKER_HOST="unix://$sock" --queue "$WK_Q" --concurrency 1 "${LEASE[@]}"
    # The outcome is decided once the breaker has tripped (5 failures) or
    # the job is dead (3 attempts): whichever comes first.  A worker that
    # did neither in 60 s fails here, not later as "not dead-lettered yet".
    wk_until 60 "the worker exits or the job is dead-lettered" gone_or_dead w || { wk_dump w; return 1; }
    if [[ $(rcli LLEN ralph:dead) != 0 ]]; then
        wk_dump w
        fail "FAILED: the engine outage dead-lettered the job: $(rcli LRANGE ralph:dead 0 -1)" \
            "(the worker is $(wk_alive w && echo 'still running, idle' || echo "gone"))"
    fi
    # What ended it was the breaker (exit 3), and the job is kept.
    wk_expect_exit w 3 10
    assert_equal "$(rcli LLEN ralph:dead)" 0 "ralph:dead"
    assert_equal "$(rcli LRANGE ralph:jobs 0 -1)" "$job" "the job is back on ralph:jobs"
}

@test "engine dies mid-job: the running job goes back to the queue, not to failure; a new worker finishes all" {
    local sock=$BATS_TEST_TMPDIR/engine.sock slow cid i
    slow=$(rx_tid enginedies)
    four_jobs enginedies-rest
    # The slow job is taken first (jobs are taken in push order).
    wk_push "{\"task_id\":\"$slow\",\"command\":[\"sleep\",\"6\"],\"timeout\":60}"
    wk_push "${JOBS[@]}"
    wk_engine_proxy_start "$sock"
    wk_start a DOCKER_HOST="unix://$sock" --queue "$WK_Q" --concurrency 1 \
        --max-infra-errors 3 --max-attempts 10 "${LEASE[@]}"
    wk_wait_event a job_start 60 ".task_id == \"$slow\""
    cid=$(rx_wait_running "$slow" 60)
    wk_engine_proxy_stop "$sock" # the engine "dies"
    check_breaker a "$sock"
    assert_equal "$(rcli LLEN ralph:jobs)" 5 "jobs back on ralph:jobs"
    assert_equal "$(rcli --scan --pattern 'ralph:result:*')" "" "results (none: not failures)"
    assert_equal "$(rcli LLEN ralph:dead)" 0 "ralph:dead"
    assert_equal "$(wk_processing_total)" 0 "jobs in processing lists"
    wk_has_event a job_requeued ".task_id == \"$slow\"" ||
        { wk_dump a; fail "the running job was not put back"; }

    # The engine is back; a new worker removes the orphan of the first one
    # (cleanly stopped: its lease is gone) and runs everything once.
    wk_engine_proxy_start "$sock"
    wk_start b DOCKER_HOST="unix://$sock" --queue "$WK_Q" --concurrency 2 "${LEASE[@]}"
    wk_until 15 "the orphan container $cid is removed" wk_container_gone "$cid" ||
        { wk_dump b; return 1; }
    wk_until 60 "5 jobs done" wk_llen_at_least ralph:done 5 ||
        { wk_dump b; return 1; }
    wk_signal_and_wait b TERM 30
    assert_equal "$WK_RC" 0 "worker b exit code"
    assert_equal "$(rcli LRANGE ralph:done 0 -1 | sort)" "$(printf '%s\n' "$slow" "${TIDS[@]}" | sort)" \
        "ralph:done: every task once"
    for i in "$slow" "${TIDS[@]}"; do
        RX_OUT=$(wk_result "$i")
        rx_check '.status == "success"' "result of $i"
    done
    wk_engine_proxy_stop "$sock"
}

@test "dead letter (redis): a job whose image is missing goes to ralph:dead after --max-attempts 2" {
    local tid job entry st
    tid=$(rx_tid deadletter)
    job="{\"task_id\":\"$tid\",\"runtime\":\"nope:1\",\"command\":[\"true\"]}"
    wk_push "$job"
    wk_start w --queue "$WK_Q" --concurrency 1 --max-attempts 2 --max-infra-errors 10 "${LEASE[@]}"
    wk_until 20 "the job is in ralph:dead" wk_llen_at_least ralph:dead 1 ||
        { wk_dump w; return 1; }
    wk_signal_and_wait w TERM 30
    assert_equal "$WK_RC" 0 "exit code"
    entry=$(rcli LRANGE ralph:dead 0 -1)
    jq -e --arg job "$job" '(keys == ["attempts", "error", "job"]) and .job == $job and
        .attempts == 2 and (.error | contains("nope:1"))' >/dev/null <<<"$entry" ||
        fail "the dead letter: $entry"
    assert_equal "$(wk_count_events w job_start ".task_id == \"$tid\"")" 2 "attempts made"
    # Its result says so (submit --wait would otherwise wait for ever).
    RX_OUT=$(wk_result "$tid")
    rx_check --arg id "$tid" '.task_id == $id and .status == "infra_error" and
        (.error | contains("dead-lettered") and contains("nope:1"))' "the dead job's result"
    assert_equal "$(rcli LLEN ralph:jobs)" 0 "ralph:jobs"
    assert_equal "$(wk_processing_total)" 0 "jobs in processing lists"
    assert_equal "$(rcli HLEN ralph:attempts)" 0 "attempt counters"
    st=$("$RALPH_WORKER" status --queue "$WK_Q")
    jq -e '.dead == 1 and .queued == 0' >/dev/null <<<"$st" || fail "status: $st (want dead 1)"
}

@test "breaker: jobs naming an image the engine lacks never trip it; the worker runs on" {
    # The breaker stops a worker whose engine fails; a job's own missing
    # image says nothing about the engine, or any submitter could stop the
    # fleet with a few such jobs.
    local tag i good
    tag=$(rx_tid noimage-breaker)
    for i in 1 2 3; do
        wk_push "{\"task_id\":\"$tag-$i\",\"runtime\":\"nope:$i\",\"command\":[\"true\"]}"
    done
    good="$tag-good"
    wk_push "{\"task_id\":\"$good\",\"command\":[\"true\"]}"
    wk_start w --queue "$WK_Q" --concurrency 1 --max-attempts 1 --max-infra-errors 2 "${LEASE[@]}"
    wk_until 30 "the good job's result" has_result "$good" || { wk_dump w; return 1; }
    wk_alive w || { wk_dump w; fail "the worker stopped"; }
    ! wk_has_event w breaker_tripped || { wk_dump w; fail "the breaker tripped"; }
    RX_OUT=$(wk_result "$good")
    rx_check '.status == "success"' 'the job after them ran'
    assert_equal "$(rcli LLEN ralph:dead)" 3 "the three jobs are dead-lettered"
    wk_signal_and_wait w TERM 30
    assert_equal "$WK_RC" 0 "exit code"
}

@test "dead letter: the log says job_dead, not job_requeued, for the last attempt" {
    local tid
    tid=$(rx_tid deadletter-log)
    wk_push "{\"task_id\":\"$tid\",\"runtime\":\"nope:1\",\"command\":[\"true\"]}"
    wk_start w --queue "$WK_Q" --concurrency 1 --max-attempts 1 --max-infra-errors 10 "${LEASE[@]}"
    wk_until 20 "the job is in ralph:dead" wk_llen_at_least ralph:dead 1 ||
        { wk_dump w; return 1; }
    wk_signal_and_wait w TERM 30
    # ralph-worker(8) lists a job_dead event; the job was not requeued.
    if ! wk_has_event w job_dead ".task_id == \"$tid\""; then
        wk_dump w
        fail "FAILED: no job_dead event for a dead-lettered job" \
            "(logged: $(wk_log w | jq -r 'select(.task_id != null) | .event' | tr '\n' ' '))"
    fi
    ! wk_has_event w job_requeued ".task_id == \"$tid\"" ||
        { wk_dump w; fail "FAILED: job_requeued logged for a job that went to ralph:dead"; }
}

@test "dead letter (spool): after --max-attempts 2 the job is in dead/ with NAME.error.json" {
    local job
    job='{"command":["true"],"runtime":"nope:1"}'
    wk_spool_job "$WK_SPOOL" dl1 "$job"
    wk_start w --queue "dir:$WK_SPOOL" --concurrency 1 --max-attempts 2 --max-infra-errors 10 "${LEASE[@]}"
    wk_until 20 "dead/dl1.json appears" test -e "$WK_SPOOL/dead/dl1.error.json" || { wk_dump w; return 1; }
    wk_signal_and_wait w TERM 30
    assert_equal "$WK_RC" 0 "exit code"
    assert_equal "$(wk_ls "$WK_SPOOL/dead")" "$(printf '%s\n' dl1.error.json dl1.json)" "dead/"
    assert_equal "$(cat "$WK_SPOOL/dead/dl1.json")" "$job" "the dead job is unchanged"
    jq -e '.attempts == 2 and (.error | contains("nope:1"))' "$WK_SPOOL/dead/dl1.error.json" >/dev/null ||
        fail "dl1.error.json: $(cat "$WK_SPOOL/dead/dl1.error.json")"
    assert_equal "$(wk_ls "$WK_SPOOL/incoming")$(wk_ls "$WK_SPOOL/claimed")" "" "incoming/, claimed/"
    assert_equal "$(wk_ls "$WK_SPOOL/results")" dl1.json "results/"
    jq -e '.task_id == "dl1" and .status == "infra_error" and (.error | contains("nope:1"))' \
        "$WK_SPOOL/results/dl1.json" >/dev/null || fail "dl1's result: $(cat "$WK_SPOOL/results/dl1.json")"
    local st
    st=$("$RALPH_WORKER" status --queue "dir:$WK_SPOOL")
    jq -e '.dead == 1 and .queued == 0 and .done == 0' >/dev/null <<<"$st" || fail "status: $st"
}
