#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The design's load case: 100 calculations at once across a pool of
# workers.  4 workers of 25 slots on one Redis, 100 jobs pushed at once,
# each sleeping a few seconds: all succeed, each ran exactly once (by the
# engine's own events), nothing is left.  The figures (wall time, p50 and
# p99 from push to stored result, peak RSS per worker, the engine's CPU)
# are printed and written to $RALPH_TEST_LOGS/load.json.  On the default
# engine only (a 4* tier).

load ../lib/libtest
load ../lib/libworker

setup_file() { wk_setup_file; }
teardown_file() { wk_teardown_file; }
setup() { wk_setup; }
teardown() {
    [[ -n ${RX_EVENTS_PID:-} ]] && kill "$RX_EVENTS_PID" 2>/dev/null
    wk_teardown
}

N=100
SLEEP=3

# The engine under test's own daemons: its dockerd (the default engine's
# pid file, or the dockerd serving DOCKER_HOST's socket) and the containerd
# it started (its child).  Not pgrep -x: Docker 26 runs beside it during
# make test, with a dockerd and containerd of the same names.
# For wk_until: no container labelled with one of this run's task ids exists.
load_containers_gone() {
    ! docker ps -a --filter label=ralph.task_id --format '{{.Label "ralph.task_id"}}' |
        grep -q "^load-[0-9]*-$$\$"
}

engine_pids() {
    local host=${DOCKER_HOST:-unix:///var/run/docker.sock} d="" p
    case $host in
    unix:///var/run/docker.sock | unix:///run/docker.sock) d=$(cat /var/run/docker.pid 2>/dev/null) ;;
    *)
        for p in $(pgrep -x dockerd); do
            tr '\0' ' ' <"/proc/$p/cmdline" | grep -qF -- "${host#unix://}" && d=$p
        done
        ;;
    esac
    [[ -n $d && $(cat "/proc/$d/comm" 2>/dev/null) == dockerd ]] || return 1
    echo "$d" $(pgrep -P "$d" -x containerd)
}

# The engine's CPU time so far, in clock ticks (its dockerd and containerd,
# the shims not included).
engine_ticks() {
    local t=0 p
    for p in $ENGINE_PIDS; do
        t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
    done
    echo "$t"
}

@test "load: 100 jobs at once on 4 workers x 25 slots: all succeed, each runs once, nothing left" {
    local i w t0 t_end ticks0 ticks1
    for w in a b c d; do
        wk_start "$w" --queue "$WK_Q" --concurrency 25 --lease 10 --heartbeat 2 --memory-budget off
    done
    for w in a b c d; do wk_wait_event "$w" start 30; done
    local -a jobs=()
    for ((i = 0; i < N; i++)); do
        jobs+=("$(jq -nc --arg id "load-$i-$$" --argjson s "$SLEEP" \
            '{task_id: $id, command: ["sleep", ($s | tostring)], memory_limit: "32m", timeout: 120}')")
    done
    # The engine keeps only its last few hundred events: its container
    # starts are followed live, from before the push.
    rx_follow_starts "$BATS_TEST_TMPDIR/starts"
    ENGINE_PIDS=$(engine_pids) || fail "the engine's dockerd was not found (its pid file or socket)"
    ticks0=$(engine_ticks)
    t0=$(date +%s%N)
    rcli LPUSH ralph:jobs "${jobs[@]}" >/dev/null
    # Each result's time from the push: when its id shows on the done list
    # (looked at every 0.1 s).
    local -A seen=()
    local id now end=$((SECONDS + 300)) n=0
    while ((n < N)); do
        now=$(date +%s%N)
        while read -r id; do
            [[ -n $id && -z ${seen[$id]:-} ]] && seen[$id]=$(((now - t0) / 1000000)) && n=$((n + 1))
        done < <(rcli LRANGE ralph:done 0 -1)
        ((SECONDS < end)) || { wk_dump a b c d; fail "not within 300 s: $n of $N results"; }
        ((n < N)) && sleep 0.1
    done
    t_end=$(date +%s%N)
    ticks1=$(engine_ticks)

    local bad
    bad=$(for ((i = 0; i < N; i++)); do
        rcli GET "ralph:result:load-$i-$$" | jq -r 'select(.status != "success") | "\(.task_id) \(.status) \(.error)"'
    done)
    assert_equal "$bad" "" "results that are not a success"
    # Each ran exactly once: one job_start per task id across the workers,
    # and the engine started exactly N containers for these tasks.
    local starts dups lapsed
    # A lease that ran out under load lets the other workers run its jobs again.
    lapsed=$(for w in a b c d; do wk_events "$w" lease_lapsed; done | wc -l)
    assert_equal "$lapsed" 0 "lease_lapsed events"
    starts=$(for w in a b c d; do wk_events "$w" job_start; done | jq -r .task_id | grep -c "^load-[0-9]*-$$\$")
    assert_equal "$starts" "$N" "job_start events"
    dups=$(for w in a b c d; do wk_events "$w" job_start; done | jq -r .task_id | sort | uniq -d)
    assert_equal "$dups" "" "task ids started twice"
    # Every start came before its result; the stream may lag behind a
    # little.  Read until N show, or 30 s more, then count.
    local engine_starts waited=0
    while engine_starts=$(grep -c " load-[0-9]*-$$\$" "$BATS_TEST_TMPDIR/starts" || true)
        ((engine_starts < N && waited++ < 300)); do
        sleep 0.1
    done
    kill "$RX_EVENTS_PID" 2>/dev/null
    if ((engine_starts != N)); then
        for ((i = 0; i < N; i++)); do
            grep -q " load-$i-$$\$" "$BATS_TEST_TMPDIR/starts" || echo "# no start seen for load-$i-$$" >&2
        done
    fi
    assert_equal "$engine_starts" "$N" "containers the engine started for the jobs"
    local durs p50 p99 wall rss=() cpu
    durs=$(printf '%s\n' "${seen[@]}" | sort -n)
    p50=$(sed -n "$((N / 2))p" <<<"$durs")
    p99=$(sed -n "$((N * 99 / 100))p" <<<"$durs")
    wall=$(((t_end - t0) / 1000000))
    for w in a b c d; do rss+=("$(($(wk_hwm "$w") / 1024))"); done
    cpu=$(((ticks1 - ticks0) * 1000 / $(getconf CLK_TCK)))
    for w in a b c d; do wk_signal_and_wait "$w" TERM 60; done
    # (A container the engine is still removing is looked at until it is gone.)
    wk_until 30 "no container of the jobs is left" load_containers_gone
    assert_equal "$(rcli LLEN ralph:jobs)" 0 "jobs left queued"
    assert_equal "$(rcli LLEN ralph:dead)" 0 "jobs dead-lettered"
    # Nothing of a claim is left once the workers stopped: no job in a
    # processing or claiming list, no lease, no run lock, no attempt count.
    local k left=""
    for k in processing claiming lease running; do
        left+=$(rcli --scan --pattern "ralph:$k:*")
    done
    assert_equal "$left" "" "processing, claiming, lease and run-lock keys left"
    assert_equal "$(rcli HLEN ralph:attempts)" 0 "attempt counters left"
    local json
    json=$(jq -nc --argjson n "$N" --argjson sleep "$SLEEP" --argjson wall "$wall" \
        --argjson p50 "$p50" --argjson p99 "$p99" --argjson cpu "$cpu" \
        --arg rss "${rss[*]}" '{jobs: $n, sleep_s: $sleep, wall_ms: $wall, push_to_result_ms_p50: $p50,
            push_to_result_ms_p99: $p99, worker_peak_rss_kib: ($rss | split(" ") | map(tonumber)),
            engine_cpu_ms: $cpu}')
    echo "# load: $json" >&3
    [[ -n ${RALPH_TEST_LOGS:-} ]] && echo "$json" >"$RALPH_TEST_LOGS/load.json"
    true
}
