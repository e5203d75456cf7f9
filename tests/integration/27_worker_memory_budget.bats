#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# ralph-worker --memory-budget (issue #15): with a budget of 512m, three 256m
# jobs on three slots run two at a time and all succeed, a 1g job is
# rejected naming the budget; a job waiting for memory keeps its claim
# (and its lease: nobody reaps it) and goes back when the worker stops;
# status shows the budget in use; the default is the engine's memory less
# the reserve.  That the jobs ran two at a time is read from the worker's
# job_start and job_done events, and the timestamps the jobs themselves
# print when they start and end show no third running beside two; with the
# budget off the same readings see three: they can see a third.

load ../lib/libtest
load ../lib/libworker

setup_file() { wk_setup_file; }
teardown_file() { wk_teardown_file; }
setup() { wk_setup; }
teardown() { wk_teardown; }

LEASE=(--lease 3 --heartbeat 1)
MIB=1048576
# Each job prints when it starts and when it ends (the engine host's clock).
SLEEPER='date +%s.%N; sleep 8; date +%s.%N'

# mb_job TID MEMORY_LIMIT: a job that sleeps 8 s between its two timestamps
# (long enough for three to overlap when nothing holds them back, under TSan).
mb_job() {
    jq -nc --arg id "$1" --arg m "$2" --arg s "$SLEEPER" \
        '{task_id: $id, command: ["sh", "-c", $s], memory_limit: $m, timeout: 60}'
}

# The largest number of jobs that ran at the same instant, from results
# (JSON documents on stdin, one per job): each one's stdout is its start
# and end.  An end at the very instant of a start counts first.
max_overlap() {
    jq -s '[.[] | .stdout | split("\n") | map(select(. != "") | tonumber) |
            [.[0], 1], [.[1], -1]] | sort_by(.[0], .[1]) |
           reduce .[] as $e ({n: 0, m: 0}; .n += $e[1] | .m = ([.m, .n] | max)) | .m'
}

# The largest number of TAG-1..3 jobs the worker NAME had admitted at once
# (between its job_start and job_done events, in the order it logged them).
max_admitted() {
    jq -Rn --arg p "$1-" '[inputs | fromjson? | select(type == "object" and
            (.task_id // "" | startswith($p) and (endswith("-big") | not)) and (.event == "job_start" or .event == "job_done")) |
            if .event == "job_start" then 1 else -1 end] |
           reduce .[] as $d ({n: 0, m: 0}; .n += $d | .m = ([.m, .n] | max)) | .m' "${WK_LOG[$2]}"
}

# Three 256m jobs (TAG-1..3) and a 1g one (TAG-big) as JSON lines.
mb_jobs() {
    local i
    for i in 1 2 3; do mb_job "$1-$i" 256m; done
    mb_job "$1-big" 1g
}

spool_results() {
    local i
    for i in 1 2 3; do cat "$WK_SPOOL/results/$1-$i.json"; done
}

redis_results() {
    local i
    for i in 1 2 3; do wk_result "$1-$i"; done
}

# check_run TAG RESULTS BIG_RESULT NAME: all three succeeded, at most and at
# least two at a time; the big one rejected naming its limit and the budget.
check_run() {
    local tag=$1 results=$2 big=$3 name=$4 n
    n=$(jq -s '[.[] | select(.status == "success")] | length' <<<"$results")
    assert_equal "$n" 3 "256m jobs that succeeded"
    # The worker admits two at a time; their containers never ran three at
    # once (they may have run one at a time, if the engine was slow to
    # start the second).
    assert_equal "$(max_admitted "$tag" "$name")" 2 "256m jobs admitted at once under a 512m budget" &&
        n=$(max_overlap <<<"$results") && ((n >= 1 && n <= 2)) || {
        echo "the containers' own timestamps: at most $n running at once" >&2
        jq -c '{task_id, status, stdout, duration_ms, timings_ms}' <<<"$results" >&2
        jq -Rc 'fromjson? | select(type == "object" and (.event // "" | test("job_|memory_")))' \
            "${WK_LOG[$name]}" >&2
        fail "FAILED: not two jobs at a time under a 512m budget"
    }
    RX_OUT=$big
    rx_check --arg id "$tag-big" '.task_id == $id and .status == "rejected"' "the 1g job rejected"
    rx_check '.error == "memory_limit 1073741824 bytes is more than this worker'"'"'s memory budget (536870912 bytes, --memory-budget)"' \
        "the rejection names the job's memory_limit and the budget"
    wk_has_event "$name" memory_wait ".memory_limit == 268435456 and .memory_budget == 536870912" ||
        { wk_dump "$name"; fail "no memory_wait event for a 256m job"; }
    assert_equal "$(wk_count_events "$name" memory_wait)" 1 "memory_wait events (one per waiting job)"
}

# status_budget QUEUE NAME IN_USE WAITING: the worker's line in status.
status_budget() {
    wk_status_is "$1" ".workers[\"${WK_ID[$2]}\"] | .memory_budget == 536870912 and
        .memory_in_use == $3 and .memory_waiting == $4"
}

# watch_run QUEUE NAME SECS DONE_COMMAND...: until DONE_COMMAND succeeds
# (fails after SECS), look at status: SEEN_WAITING=1 once it showed the
# budget full (512m in use) and a job waiting.  The run is not held up for
# it, so that a worker that does not wait fails on the jobs' own timings.
watch_run() {
    local q=$1 name=$2 end=$((SECONDS + $3))
    shift 3
    SEEN_WAITING=0
    until "$@"; do
        if ((SECONDS >= end)); then
            wk_dump "$name"
            fail "FAILED: not within the time: $*"
            return 1
        fi
        status_budget "$q" "$name" $((512 * MIB)) 1 2>/dev/null && SEEN_WAITING=1
        sleep 0.2
    done
}

@test "memory budget, spool: 512m, three 256m jobs on three slots run two at a time; 1g is rejected" {
    local tag results
    tag=$(rx_tid mb)
    mkdir -p "$WK_SPOOL/incoming"
    while read -r job; do
        wk_spool_job "$WK_SPOOL" "$(jq -r .task_id <<<"$job")" "$job"
    done < <(mb_jobs "$tag")
    wk_start w --queue "dir:$WK_SPOOL" --concurrency 3 --memory-budget 512m "${LEASE[@]}"
    wk_wait_event w start 10 '.memory_budget == 536870912' || return 1
    watch_run "dir:$WK_SPOOL" w 60 wk_count_at_least "$WK_SPOOL/results" 4 || return 1
    wk_until 15 "status shows the budget, nothing in use" status_budget "dir:$WK_SPOOL" w 0 0
    wk_signal_and_wait w TERM 30
    assert_equal "$WK_RC" 0 "exit code"
    results=$(spool_results "$tag")
    check_run "$tag" "$results" "$(cat "$WK_SPOOL/results/$tag-big.json")" w
    assert_equal "$SEEN_WAITING" 1 "status showed 512m in use and a job waiting"
    # The waiting job kept its claim: it never went back to incoming/.
    assert_equal "$(wk_count_events w job_requeued)" 0 "jobs put back"
    assert_equal "$(wk_ls "$WK_SPOOL/dead")" "" "dead/ (a rejected job is not retried)"
}

@test "memory budget, spool: with --memory-budget off the same three jobs run three at a time" {
    # The control for the test above: the reading of the timestamps does
    # see three jobs at once when nothing holds them back.
    local tag results i
    tag=$(rx_tid mboff)
    for i in 1 2 3; do wk_spool_job "$WK_SPOOL" "$tag-$i" "$(mb_job "$tag-$i" 256m)"; done
    wk_start w --queue "dir:$WK_SPOOL" --concurrency 3 --memory-budget off "${LEASE[@]}"
    wk_wait_event w start 10 '.memory_budget == 0' || return 1
    wk_until 60 "3 results" wk_count_at_least "$WK_SPOOL/results" 3 || { wk_dump w; return 1; }
    wk_status_is "dir:$WK_SPOOL" ".workers[\"${WK_ID[w]}\"].memory_budget == 0" ||
        fail "status does not show the budget off (0)"
    wk_signal_and_wait w TERM 30
    results=$(spool_results "$tag")
    assert_equal "$(max_admitted "$tag" w)" 3 "jobs admitted at once with the budget off"
    assert_equal "$(max_overlap <<<"$results")" 3 "jobs running at once with the budget off" || {
        jq -c '{task_id, status, stdout, duration_ms, timings_ms}' <<<"$results" >&2
        return 1
    }
    assert_equal "$(wk_count_events w memory_wait)" 0 "memory_wait events"
}

@test "memory budget, redis: two at a time; the waiting job's lease outlives --lease, nobody reaps it" {
    local tag results
    tag=$(rx_tid mbr)
    local -a jobs
    mapfile -t jobs < <(mb_jobs "$tag")
    wk_push "${jobs[@]}"
    wk_start a --queue "$WK_Q" --concurrency 3 --memory-budget 512m "${LEASE[@]}"
    wk_until 20 "a has claimed three jobs" wk_llen_at_least "ralph:processing:${WK_ID[a]}" 3 ||
        { wk_dump a; return 1; }
    # A second worker reaps expired leases every second; the third job
    # waits for memory longer than the 3 s lease.
    wk_start b --queue "$WK_Q" --concurrency 1 --memory-budget 512m "${LEASE[@]}"
    watch_run "$WK_Q" a 60 wk_llen_at_least ralph:done 4 || { wk_dump b; return 1; }
    wk_signal_and_wait a TERM 30
    wk_signal_and_wait b TERM 30
    results=$(redis_results "$tag")
    check_run "$tag" "$results" "$(wk_result "$tag-big")" a
    assert_equal "$SEEN_WAITING" 1 "status showed 512m in use and a job waiting"
    ! wk_has_event b lease_reaped || { wk_dump a b; fail "b reaped a's jobs: a's lease lapsed"; }
    assert_equal "$(wk_count_events b job_start)" 0 "jobs b started"
    assert_equal "$(wk_count_events a job_start)" 3 "jobs a started (each once)"
    assert_equal "$(rcli LLEN ralph:dead)" 0 "dead jobs"
}

@test "memory budget: SIGTERM puts a job waiting for memory back, no attempt counted" {
    local tag
    tag=$(rx_tid mbterm)
    wk_spool_job "$WK_SPOOL" "$tag-1" "$(mb_job "$tag-1" 300m)"
    wk_start w --queue "dir:$WK_SPOOL" --concurrency 2 --memory-budget 512m "${LEASE[@]}"
    wk_wait_event w job_start 60 ".task_id == \"$tag-1\"" || return 1
    wk_spool_job "$WK_SPOOL" "$tag-2" "$(mb_job "$tag-2" 300m)"
    wk_wait_event w memory_wait 30 ".task_id == \"$tag-2\"" || return 1
    kill -TERM "${WK_PID[w]}"
    wk_wait_event w job_requeued 10 ".task_id == \"$tag-2\" and .counted == \"no\"" || return 1
    wk_expect_exit w 0 30
    # Back under its own name (no ~N: no attempt counted); the running one finished.
    assert_equal "$(wk_ls "$WK_SPOOL/incoming")" "$tag-2.json" "incoming/ after the stop"
    assert_equal "$(wk_ls "$WK_SPOOL/results")" "$tag-1.json" "results/ after the stop"
    assert_equal "$(wk_ls "$WK_SPOOL/claimed")" "" "claimed/ after the stop"
    ! wk_has_event w job_start ".task_id == \"$tag-2\"" || fail "the waiting job was started"
}

@test "memory budget: the default is the engine's memory less the reserve; bad values are refused" {
    local total bound want
    total=$(curl -sf --unix-socket "$(rx_socket)" http://localhost/info | jq .MemTotal)
    wk_start w --queue "dir:$WK_SPOOL" --concurrency 2 "${LEASE[@]}"
    wk_wait_event w memory_budget 10 || return 1
    bound=$(wk_memory_bound w)
    # The larger of 512 MiB and 10%, and the worker's own bound.
    want=$(jq -n --argjson t "$total" --argjson b "$bound" \
        '$t - ([512 * 1048576, ($t * 10 / 100 | floor)] | max) - $b')
    wk_has_event w memory_budget ".engine_memory == $total and .memory_budget == $want" ||
        { wk_dump w; fail "memory_budget event: want engine_memory $total, memory_budget $want"; }
    wk_has_event w start '.memory_budget == null' || fail "start: memory_budget not null (auto)"
    wk_until 15 "status shows the default budget" \
        wk_status_is "dir:$WK_SPOOL" ".workers[\"${WK_ID[w]}\"].memory_budget == $want"
    wk_signal_and_wait w TERM 30
    # The config file's key is the option's name, like every other one.
    printf '%s\n' '{"memory-budget": "768m"}' >"$BATS_TEST_TMPDIR/worker.json"
    wk_start c --queue "dir:$WK_SPOOL" --config "$BATS_TEST_TMPDIR/worker.json" "${LEASE[@]}"
    wk_wait_event c start 10 ".memory_budget == $((768 * MIB))" || return 1
    wk_signal_and_wait c TERM 30
    local v err rc
    for v in 12x -1 1k abc ''; do
        rc=0
        err=$(timeout -k 5 10 "$RALPH_WORKER" --queue "dir:$WK_SPOOL" --memory-budget "$v" \
            2>&1 </dev/null 3>&-) || rc=$?
        assert_equal "$rc" 2 "exit code of --memory-budget '$v'"
        [[ $err == *memory-budget* ]] || fail "--memory-budget '$v': the error does not name it: $err"
    done
}
