#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# ralph-worker on a spool directory (--queue dir:PATH): the same loss and
# crash tests as on Redis, and malformed job files.

load ../lib/libtest
load ../lib/libworker

setup_file() { wk_setup_file; }
teardown_file() { wk_teardown_file; }
setup() { wk_setup; }
teardown() { wk_teardown; }

LEASE=(--lease 3 --heartbeat 1)

@test "spool: 48 jobs through 2 workers x concurrency 3: every result file exactly once, none lost" {
    # Eight rounds of the six slots, claims racing between the workers all along.
    local n=48 i name t0
    for ((i = 1; i <= n; i++)); do
        printf -v name 'j%03d' "$i"
        wk_spool_job "$WK_SPOOL" "$name" '{"command":["true"],"timeout":120}'
    done
    assert_equal "$(wk_count "$WK_SPOOL/incoming")" "$n" "jobs in incoming/"
    t0=$SECONDS
    wk_start a --queue "dir:$WK_SPOOL" --concurrency 3 "${LEASE[@]}"
    wk_start b --queue "dir:$WK_SPOOL" --concurrency 3 "${LEASE[@]}"
    wk_until 180 "$n result files" wk_count_at_least "$WK_SPOOL/results" $n ||
        { wk_dump a b; return 1; }
    echo "# $n spool jobs in $((SECONDS - t0)) s" >&3
    wk_signal_and_wait a TERM 30
    assert_equal "$WK_RC" 0 "worker a exit code"
    wk_signal_and_wait b TERM 30
    assert_equal "$WK_RC" 0 "worker b exit code"

    local want
    want=$(for ((i = 1; i <= n; i++)); do printf 'j%03d.json\n' "$i"; done)
    assert_equal "$(wk_ls "$WK_SPOOL/results")" "$want" "results/: one file per job"
    assert_equal "$(find "$WK_SPOOL/results" -name '.*' | wc -l)" 0 "temporary files left in results/"
    assert_equal "$(wk_ls "$WK_SPOOL/incoming")" "" "incoming/"
    assert_equal "$(wk_ls "$WK_SPOOL/claimed")" "" "claimed/"
    assert_equal "$(wk_ls "$WK_SPOOL/dead")" "" "dead/"
    # Each result is its job's (task id = file name) and a success.
    local bad
    bad=$(cd "$WK_SPOOL/results" && jq -r 'input_filename as $f | ($f | rtrimstr(".json")) as $n |
        select(.task_id != $n or .status != "success") | "\($f): \(.task_id) \(.status)"' j*.json)
    assert_equal "$bad" "" "results that are not their job's success"
    local sa sb starts
    sa=$(wk_count_events a job_done)
    sb=$(wk_count_events b job_done)
    ((sa > 0 && sb > 0)) || fail "jobs per worker: a $sa, b $sb"
    assert_equal "$((sa + sb))" "$n" "job_done events"
    starts=$( (wk_events a job_start; wk_events b job_start) | jq -r .task_id | sort | uniq -d)
    assert_equal "$starts" "" "jobs started more than once"
    local st
    st=$("$RALPH_WORKER" status --queue "dir:$WK_SPOOL")
    jq -e --argjson n "$n" '.done == $n and .failed == 0 and .queued == 0 and .dead == 0 and
        .processing == {}' >/dev/null <<<"$st" || fail "status: $st"
}

@test "spool: SIGKILL mid-job: the live worker reclaims it after the lease, runs it once, sweeps the orphan" {
    # Worker b is already running when a dies: it reaps on its heartbeat, and
    # removes a's orphan container on its periodic sweep (every 30 s).
    local cid t0 tb
    wk_start a --queue "dir:$WK_SPOOL" --concurrency 1 "${LEASE[@]}"
    wk_wait_event a start 10
    wk_spool_job "$WK_SPOOL" crash1 '{"command":["sleep","8"],"timeout":60}'
    wk_wait_event a job_start 60 '.task_id == "crash1"'
    cid=$(rx_wait_running crash1 60)
    wk_start b --queue "dir:$WK_SPOOL" --concurrency 1 "${LEASE[@]}"
    tb=$SECONDS
    wk_wait_event b start 10
    assert_equal "$(wk_ls "$WK_SPOOL/claimed")" "${WK_ID[a]}@crash1.json" "claimed/ before the kill"
    kill -KILL "${WK_PID[a]}"
    t0=$SECONDS
    wk_wait_exit a 10
    wk_wait_event b lease_reaped 15 '.jobs == 1'
    wk_wait_event b job_start 10 '.task_id == "crash1"'
    local took=$((SECONDS - t0))
    ((took <= 10)) || fail "the job restarted $took s after the kill (lease 3 s, heartbeat 1 s)"
    wk_wait_event b job_done 90 '.task_id == "crash1"'
    # The orphan: gone by b's first periodic sweep, 30 s after b started.
    wk_until $((tb + 45 - SECONDS)) "the orphan container $cid is removed" \
        wk_container_gone "$cid" || { wk_dump b; return 1; }
    wk_signal_and_wait b TERM 30
    assert_equal "$WK_RC" 0 "worker b exit code"
    assert_equal "$(wk_ls "$WK_SPOOL/results")" crash1.json "results/"
    jq -e '.status == "success" and .task_id == "crash1"' "$WK_SPOOL/results/crash1.json" >/dev/null ||
        fail "result: $(cat "$WK_SPOOL/results/crash1.json")"
    assert_equal "$(wk_count_events b job_start '.task_id == "crash1"')" 1 "starts on b"
    assert_equal "$(wk_ls "$WK_SPOOL/incoming")$(wk_ls "$WK_SPOOL/claimed")$(wk_ls "$WK_SPOOL/dead")" "" \
        "incoming/, claimed/, dead/"
    assert_equal "$(rx_containers crash1)" "" "containers of the task"
}

@test "spool: SIGKILL mid-job, a new worker started after the lease: reclaims and sweeps at start" {
    local cid
    wk_spool_job "$WK_SPOOL" crash2 '{"command":["sleep","6"],"timeout":60}'
    wk_start a --queue "dir:$WK_SPOOL" --concurrency 1 "${LEASE[@]}"
    wk_wait_event a job_start 60 '.task_id == "crash2"'
    cid=$(rx_wait_running crash2 60)
    wk_until 15 "status shows 1 job in flight on worker a" \
        wk_status_is "dir:$WK_SPOOL" ".processing[\"${WK_ID[a]}\"] == 1"
    kill -KILL "${WK_PID[a]}"
    wk_wait_exit a 10
    sleep 3.5 # the lease runs out
    wk_start b --queue "dir:$WK_SPOOL" --concurrency 1 "${LEASE[@]}"
    wk_wait_event b lease_reaped 20 '.jobs == 1'
    wk_until 10 "the orphan container $cid is removed" wk_container_gone "$cid" ||
        { wk_dump b; return 1; }
    wk_wait_event b job_done 90 '.task_id == "crash2"'
    wk_signal_and_wait b TERM 30
    assert_equal "$WK_RC" 0 "worker b exit code"
    jq -e '.status == "success"' "$WK_SPOOL/results/crash2.json" >/dev/null ||
        fail "result: $(cat "$WK_SPOOL/results/crash2.json" 2>&1)"
    assert_equal "$(wk_ls "$WK_SPOOL/results")" crash2.json "results/"
    assert_equal "$(wk_ls "$WK_SPOOL/incoming")$(wk_ls "$WK_SPOOL/claimed")" "" "incoming/, claimed/"
}

@test "spool: malformed files (not JSON, unknown field, empty, array, 17 MB) end as rejected results; the queue goes on" {
    wk_spool_job "$WK_SPOOL" notjson 'this is not JSON {'
    wk_spool_job "$WK_SPOOL" unknown '{"command":["true"],"bogus":1}'
    wk_spool_job "$WK_SPOOL" empty ''
    wk_spool_job "$WK_SPOOL" array '[{"command":["true"]}]'
    {
        printf '{"command":["true"],"stdin":"'
        head -c $((17 << 20)) /dev/zero | tr '\0' a
        printf '"}'
    } >"$WK_SPOOL/incoming/.big17.tmp"
    mv "$WK_SPOOL/incoming/.big17.tmp" "$WK_SPOOL/incoming/big17.json"
    # Not a job (no .json): left alone.
    printf 'notes\n' >"$WK_SPOOL/incoming/README.txt"
    wk_start w --queue "dir:$WK_SPOOL" --concurrency 2 "${LEASE[@]}"
    wk_until 30 "5 rejected results" wk_count_at_least "$WK_SPOOL/results" 5 ||
        { wk_dump w; return 1; }
    # The queue keeps going: a valid job after them runs.
    wk_spool_job "$WK_SPOOL" good '{"command":["sh","-c","echo 7 > output.json"]}'
    wk_until 30 "the valid job's result" test -e "$WK_SPOOL/results/good.json" || { wk_dump w; return 1; }
    wk_alive w || { wk_dump w; fail "the worker died"; }
    wk_signal_and_wait w TERM 30
    assert_equal "$WK_RC" 0 "exit code"

    local f
    for f in notjson unknown empty array big17; do
        jq -e --arg n "$f" '.status == "rejected" and .task_id == $n and (.error | length > 0)' \
            "$WK_SPOOL/results/$f.json" >/dev/null ||
            fail "results/$f.json is not a rejected result: $(head -c 600 "$WK_SPOOL/results/$f.json")"
    done
    jq -e '.error | contains("bogus")' "$WK_SPOOL/results/unknown.json" >/dev/null ||
        fail "the unknown field is not named: $(cat "$WK_SPOOL/results/unknown.json")"
    jq -e '.error | test("bytes")' "$WK_SPOOL/results/big17.json" >/dev/null ||
        fail "the 17 MB job is not rejected for its size: $(cat "$WK_SPOOL/results/big17.json")"
    jq -e '.status == "success" and .output == 7' "$WK_SPOOL/results/good.json" >/dev/null ||
        fail "good.json: $(cat "$WK_SPOOL/results/good.json")"
    assert_equal "$(wk_ls "$WK_SPOOL/incoming")" README.txt "incoming/ (only the non-job file)"
    assert_equal "$(wk_ls "$WK_SPOOL/claimed")" "" "claimed/"
    assert_equal "$(wk_ls "$WK_SPOOL/dead")" "" "dead/"
    local st
    st=$("$RALPH_WORKER" status --queue "dir:$WK_SPOOL")
    jq -e '.done == 1 and .failed == 5 and .queued == 0' >/dev/null <<<"$st" || fail "status: $st"
}

@test "spool: a job whose result already exists is not run again" {
    mkdir -p "$WK_SPOOL/results"
    printf '%s' '{"task_id":"again","status":"success","marker":"first"}' >"$WK_SPOOL/results/again.json"
    wk_spool_job "$WK_SPOOL" again '{"command":["true"]}'
    wk_start w --queue "dir:$WK_SPOOL" --concurrency 1 --max-jobs 1 "${LEASE[@]}"
    wk_expect_exit w 0 30
    wk_has_event w job_skipped '.task_id == "again"' || { wk_dump w; fail "no job_skipped event"; }
    ! wk_has_event w job_start '.task_id == "again"' || { wk_dump w; fail "the job ran again"; }
    assert_equal "$(cat "$WK_SPOOL/results/again.json")" \
        '{"task_id":"again","status":"success","marker":"first"}' "the existing result"
    assert_equal "$(wk_ls "$WK_SPOOL/incoming")$(wk_ls "$WK_SPOOL/claimed")" "" "incoming/, claimed/"
}

@test "spool: a directory, a FIFO and a symlink dropped in incoming/ never block the queue" {
    mkdir -p "$WK_SPOOL/incoming"
    mkdir "$WK_SPOOL/incoming/adir.json"
    mkfifo "$WK_SPOOL/incoming/afifo.json"
    # A symlink is not followed: the secret it points to must not be read.
    printf '%s' '{"command":["sh","-c","echo 1 > output.json"],"env":{"SECRET":"hunter2"}}' \
        >"$BATS_TEST_TMPDIR/secret.json"
    ln -s "$BATS_TEST_TMPDIR/secret.json" "$WK_SPOOL/incoming/alink.json"
    wk_start w --queue "dir:$WK_SPOOL" --concurrency 1 "${LEASE[@]}"
    wk_spool_job "$WK_SPOOL" good2 '{"command":["sh","-c","echo 2 > output.json"]}'
    wk_until 30 "the valid job's result" test -e "$WK_SPOOL/results/good2.json" || { wk_dump w; return 1; }
    wk_until 10 "the directory and the FIFO are set aside in dead/" \
        test -d "$WK_SPOOL/dead/adir.json" -a -p "$WK_SPOOL/dead/afifo.json" ||
        { ls -la "$WK_SPOOL"/* >&2; return 1; }
    wk_until 10 "the symlink ends as a result" test -e "$WK_SPOOL/results/alink.json" || { wk_dump w; return 1; }
    wk_alive w || { wk_dump w; fail "the worker died"; }
    wk_signal_and_wait w TERM 30
    assert_equal "$WK_RC" 0 "exit code"
    jq -e '.status == "success" and .output == 2' "$WK_SPOOL/results/good2.json" >/dev/null ||
        fail "good2.json: $(cat "$WK_SPOOL/results/good2.json")"
    jq -e '.status == "rejected"' "$WK_SPOOL/results/alink.json" >/dev/null ||
        fail "alink.json (a symlink job) is not rejected: $(cat "$WK_SPOOL/results/alink.json")"
    ! grep -q hunter2 "$WK_SPOOL/results/alink.json" || fail "the symlink's target was read"
    assert_equal "$(wk_ls "$WK_SPOOL/incoming")$(wk_ls "$WK_SPOOL/claimed")" "" "incoming/, claimed/"
}
