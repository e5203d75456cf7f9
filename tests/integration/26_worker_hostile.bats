#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# ralph-worker against a hostile producer (anyone who can LPUSH onto
# ralph:jobs or drop files into a spool's incoming/): a job of any size costs
# the worker at most its stated memory bound, one task id never runs twice
# at once, an id that fails validation is never used even in part, and every
# spool entry is claimed or set aside with a reason.

load ../lib/libtest
load ../lib/libworker

setup_file() { wk_setup_file; }
teardown_file() { wk_teardown_file; }
setup() { wk_setup; }
teardown() {
    [[ -z ${SCANS_PID:-} ]] || kill "$SCANS_PID" 2>/dev/null || true
    wk_teardown
}

LEASE=(--lease 3 --heartbeat 1)
MIB=$((1 << 20))
CAP=$((16 << 20))

# The bound ralph-worker(8) states: 32 MiB + concurrency x 5 x the 16 MiB cap.
stated_bound() {
    echo $((32 * MIB + $1 * 5 * CAP))
}

# big_job FILE BYTES: a command job of about BYTES, most of it one env value.
big_job() {
    python3 - "$1" "$2" <<'EOF'
import sys
path, size = sys.argv[1], int(sys.argv[2])
head, tail = '{"command":["true"],"env":{"X":"', '"}}'
with open(path, "w") as f:
    f.write(head)
    left = size - len(head) - len(tail)
    chunk = "a" * (1 << 20)
    while left > 0:
        f.write(chunk[:min(left, len(chunk))])
        left -= len(chunk)
    f.write(tail)
EOF
}

# spool_drained DIR RESULTS DEAD: incoming/ and claimed/ are empty, results/
# and dead/ hold at least that many files (for wk_until).
spool_drained() {
    [[ -z $(wk_ls "$1/incoming")$(wk_ls "$1/claimed") ]] &&
        (($(wk_count "$1/results") >= $2 && $(wk_count "$1/dead") >= $3))
}

# Bytes Redis has sent to its clients so far.
redis_net_out() {
    rcli INFO stats | tr -d '\r' | awk -F: '$1 == "total_net_output_bytes" { print $2 }'
}

@test "redis: a 300 MB job is measured on the server and rejected unread; memory stays within the stated bound" {
    local tag big legal out0 out1 hwm bound
    tag=$(rx_tid huge)
    big=$BATS_TEST_TMPDIR/big.json
    legal=$BATS_TEST_TMPDIR/legal.json
    big_job "$big" $((300 * MIB))
    # Within the cap, rejected only after a full parse (its env value is too
    # long): the most a legal-sized job costs.
    big_job "$legal" $((CAP - 64))
    rcli -x LPUSH ralph:jobs <"$big" >/dev/null
    rcli -x LPUSH ralph:jobs <"$legal" >/dev/null
    rcli -x LPUSH ralph:jobs <"$legal" >/dev/null
    wk_push "{\"task_id\":\"$tag-after\",\"command\":[\"true\"]}"
    out0=$(redis_net_out)

    wk_start w --queue "$WK_Q" --concurrency 2 "${LEASE[@]}"
    wk_wait_event w job_done 90 ".task_id == \"$tag-after\"" || return 1
    hwm=$(wk_hwm w)
    bound=$(wk_memory_bound w)
    out1=$(redis_net_out)
    wk_signal_and_wait w TERM 30
    assert_equal "$WK_RC" 0 "exit code"

    assert_equal "$bound" "$(stated_bound 2)" "the memory bound the worker states"
    echo "# peak RSS $((hwm / MIB)) MiB, bound $((bound / MIB)) MiB, Redis sent $(((out1 - out0) / MIB)) MiB" >&3
    ((hwm <= bound)) || fail "peak RSS $hwm bytes is over the stated bound $bound"
    # The two legal-sized jobs crossed the wire, the 300 MB one did not.
    (((out1 - out0) < 2 * CAP + 4 * MIB)) ||
        fail "Redis sent $((out1 - out0)) bytes: the 300 MB job was transferred"
    local n
    n=$(wk_count_events w job_done \
        ".status == \"rejected\" and (.task_id | startswith(\"rejected-\")) and .error == \"the job is $((300 * MIB)) bytes, more than the $CAP allowed\"")
    assert_equal "$n" 1 "the 300 MB job rejected by its exact size, under a fresh id"
    RX_OUT=$(wk_result "$tag-after")
    rx_check '.status == "success"' 'the job after it ran'
    assert_equal "$(rcli LLEN ralph:jobs)$(wk_processing_total)" 00 "ralph:jobs and processing"
    assert_equal "$(rcli --scan --pattern 'ralph:claiming:*')" "" "claiming lists"
}

@test "spool: a 300 MB job file is refused by its size before it is read" {
    local hwm bound
    mkdir -p "$WK_SPOOL/incoming"
    truncate -s $((300 * MIB)) "$WK_SPOOL/incoming/.huge.tmp"
    mv "$WK_SPOOL/incoming/.huge.tmp" "$WK_SPOOL/incoming/huge.json"
    big_job "$WK_SPOOL/incoming/.legal.tmp" $((CAP - 64))
    mv "$WK_SPOOL/incoming/.legal.tmp" "$WK_SPOOL/incoming/legal.json"
    wk_spool_job "$WK_SPOOL" after '{"command":["true"]}'
    wk_start w --queue "dir:$WK_SPOOL" --concurrency 2 "${LEASE[@]}"
    wk_until 60 "three results" wk_count_at_least "$WK_SPOOL/results" 3 || { wk_dump w; return 1; }
    hwm=$(wk_hwm w)
    bound=$(wk_memory_bound w)
    wk_signal_and_wait w TERM 30
    ((hwm <= bound)) || fail "peak RSS $hwm bytes is over the stated bound $bound"
    # Its exact size: measured, not read (a read would stop at the cap).
    RX_OUT=$(cat "$WK_SPOOL/results/huge.json")
    rx_check ".status == \"rejected\" and .error == \"the job is $((300 * MIB)) bytes, more than the $CAP allowed\"" \
        'the 300 MB file rejected by its size'
    RX_OUT=$(cat "$WK_SPOOL/results/after.json")
    rx_check '.status == "success"'
    assert_equal "$(wk_ls "$WK_SPOOL/incoming")$(wk_ls "$WK_SPOOL/claimed")" "" "incoming/ and claimed/"
}

@test "redis: two copies of one task id pushed at once: one container, one result, one duplicate" {
    local tid job
    tid=$(rx_tid dup)
    job="{\"task_id\":\"$tid\",\"command\":[\"sleep\",\"2\"]}"
    wk_push "$job" "$job"
    wk_start w --queue "$WK_Q" --concurrency 2 "${LEASE[@]}"
    wk_wait_event w job_waiting 30 ".task_id == \"$tid\"" || return 1
    # While the first copy runs, the second waits: never two containers.
    local i n max=0
    for ((i = 0; i < 10; i++)); do
        n=$(docker ps -aq --filter "label=ralph.task_id=$tid" | grep -c . || true)
        ((n > max)) && max=$n
        sleep 0.1
    done
    wk_wait_event w job_skipped 30 ".task_id == \"$tid\"" || return 1
    wk_signal_and_wait w TERM 30
    assert_equal "$WK_RC" 0 "exit code"
    ((max <= 1)) || fail "$max containers for task id $tid at once"
    assert_equal "$(wk_count_events w job_start ".task_id == \"$tid\"")" 1 "job_start events"
    RX_OUT=$(wk_result "$tid")
    rx_check '.status == "success"' 'the one result'
    assert_equal "$(rcli LRANGE ralph:done 0 -1)" "$tid" "ralph:done: the id once"
    assert_equal "$(rcli LLEN ralph:jobs)$(wk_processing_total)" 00 "ralph:jobs and processing"
    assert_equal "$(rcli --scan --pattern 'ralph:running:*')" "" "run locks left"
    wk_status_is "$WK_Q" '.duplicates == 1 and .done == 1' ||
        fail "status: $("$RALPH_WORKER" status --queue "$WK_Q")"
}

@test "redis: one task id on two workers: the second waits; if the first dies, it takes over after the lease" {
    local tid job
    tid=$(rx_tid duprun)
    # Long enough to be still running on a when b comes, under TSan too.
    job="{\"task_id\":\"$tid\",\"command\":[\"sleep\",\"10\"]}"
    wk_push "$job"
    wk_start a --queue "$WK_Q" --concurrency 1 "${LEASE[@]}"
    wk_wait_event a job_start 30 ".task_id == \"$tid\"" || return 1
    wk_push "$job"
    wk_start b --queue "$WK_Q" --concurrency 1 "${LEASE[@]}"
    # a's run lock is live (its lease names its run): b waits, runs nothing.
    wk_wait_event b job_waiting 30 ".task_id == \"$tid\"" || return 1
    kill -KILL "${WK_PID[a]}"
    wk_wait_exit a 10
    # a's lease expires (3 s): b takes the lock over and runs the job; a's
    # copy, reaped, is then a duplicate.
    wk_wait_event b job_done 60 ".task_id == \"$tid\"" || return 1
    wk_wait_event b job_skipped 30 ".task_id == \"$tid\"" || return 1
    wk_signal_and_wait b TERM 30
    assert_equal "$(wk_count_events b job_start ".task_id == \"$tid\"")" 1 "runs on b"
    RX_OUT=$(wk_result "$tid")
    rx_check '.status == "success"'
    assert_equal "$(rcli LRANGE ralph:done 0 -1)" "$tid" "ralph:done: the id once"
    assert_equal "$(rcli LLEN ralph:jobs)$(wk_processing_total)" 00 "ralph:jobs and processing"
    assert_equal "$(rcli --scan --pattern 'ralph:running:*')" "" "run locks left"
    # a's orphan container is the sweep's (30 s): not this test's subject.
    local ids
    ids=$(wk_containers a)
    # shellcheck disable=SC2086
    [[ -z $ids ]] || docker rm -fv $ids >/dev/null
}

@test "spool: one task id as two files, two workers: one run, one result, one duplicate" {
    local tid job
    tid=$(rx_tid dupspool)
    job="{\"task_id\":\"$tid\",\"command\":[\"sleep\",\"2\"]}"
    wk_spool_job "$WK_SPOOL" dupA "$job"
    wk_spool_job "$WK_SPOOL" dupB "$job"
    wk_start a --queue "dir:$WK_SPOOL" --concurrency 1 "${LEASE[@]}"
    wk_start b --queue "dir:$WK_SPOOL" --concurrency 1 "${LEASE[@]}"
    wk_until 30 "both copies are handled" spool_drained "$WK_SPOOL" 1 0 ||
        { wk_dump a b; return 1; }
    wk_signal_and_wait a TERM 30
    wk_signal_and_wait b TERM 30
    local starts skips
    starts=$( (wk_events a job_start; wk_events b job_start) | jq -r .task_id | grep -c "^$tid\$" || true)
    skips=$( (wk_events a job_skipped; wk_events b job_skipped) | jq -r .task_id | grep -c "^$tid\$" || true)
    assert_equal "$starts" 1 "runs of $tid"
    assert_equal "$skips" 1 "copies of $tid dropped as duplicates"
    RX_OUT=$(cat "$WK_SPOOL/results/$tid.json")
    rx_check '.status == "success"'
    assert_equal "$(wk_ls "$WK_SPOOL/results")" "$tid.json" "results/"
    assert_equal "$(wk_ls "$WK_SPOOL/running")" "" "run locks left"
    wk_status_is "dir:$WK_SPOOL" '.duplicates == 1 and .done == 1' ||
        fail "status: $("$RALPH_WORKER" status --queue "dir:$WK_SPOOL")"
}

@test "redis and spool: a NUL in task_id never steals the id before it" {
    local victim
    victim=$(rx_tid victim)
    wk_push "{\"task_id\":\"$victim\\u0000junk\",\"command\":[1]}" \
        "{\"task_id\":\"$victim\",\"command\":[\"true\"]}"
    wk_spool_job "$WK_SPOOL" nul "{\"task_id\":\"$victim\\u0000junk\",\"command\":[1]}"
    wk_spool_job "$WK_SPOOL" "$victim" '{"command":["true"]}'
    wk_start r --queue "$WK_Q" --concurrency 1 --max-jobs 2 "${LEASE[@]}"
    wk_start s --queue "dir:$WK_SPOOL" --concurrency 1 --max-jobs 2 "${LEASE[@]}"
    wk_expect_exit r 0 60
    wk_expect_exit s 0 60
    # Redis: the genuine job ran and owns its id; the other got a fresh one.
    RX_OUT=$(wk_result "$victim")
    rx_check --arg id "$victim" '.task_id == $id and .status == "success"' "ralph:result:$victim"
    ! wk_has_event r job_skipped || { wk_dump r; fail "a job was skipped"; }
    assert_equal "$(wk_count_events r job_done '.status == "rejected" and (.task_id | startswith("rejected-"))')" 1 \
        "the NUL job rejected under a fresh id"
    # Spool: the same; the NUL job's result is under its file name.
    RX_OUT=$(cat "$WK_SPOOL/results/$victim.json")
    rx_check --arg id "$victim" '.task_id == $id and .status == "success"' "results/$victim.json"
    RX_OUT=$(cat "$WK_SPOOL/results/nul.json")
    rx_check '.task_id == "nul" and .status == "rejected"' 'results/nul.json'
}

@test "spool: a 255-byte file name is claimed with the default worker id, and requeued and dead-lettered" {
    local long dlong
    long=$(printf 'a%.0s' {1..250})
    dlong=$(printf 'd%.0s' {1..250})
    wk_spool_job "$WK_SPOOL" "$long" '{"command":["true"]}'
    # An image that does not exist: two attempts, then dead/ (names fit too).
    wk_spool_job "$WK_SPOOL" "$dlong" '{"command":["true"],"runtime":"ralph-no-such-image:1"}'
    WK_DEFAULT_ID=1 wk_start w --queue "dir:$WK_SPOOL" --concurrency 1 --max-attempts 2 "${LEASE[@]}"
    wk_until 60 "both leave incoming/ and claimed/" spool_drained "$WK_SPOOL" 1 2 ||
        { ls -la "$WK_SPOOL"/*; wk_dump w; return 1; }
    wk_signal_and_wait w TERM 30
    [[ ${#WK_ID[w]} -gt 8 && ${WK_ID[w]} != w-* ]] || fail "not the default worker id: ${WK_ID[w]}"
    # Too long for task ids: each result is under a fresh one; the job that
    # ran, a success; the dead-lettered one, its last infra_error.
    local statuses
    statuses=$(cd "$WK_SPOOL/results" && jq -r '.status + (.error // "" |
        if startswith("dead-lettered after --max-attempts 2: ") then " dead-lettered" else "" end)' \
        ./*.json | sort)
    assert_equal "$statuses" "infra_error dead-lettered
success" "results/: the 255-byte job's and the dead-lettered one's"
    ls "$WK_SPOOL/dead" | grep -q '\.error\.json$' || fail "no reason in dead/: $(ls "$WK_SPOOL/dead")"
    jq -e '.attempts == 2' "$WK_SPOOL"/dead/*.error.json >/dev/null || fail "dead/: $(cat "$WK_SPOOL"/dead/*.error.json)"
}

# python3 -c "$DIR_CLOSES_PY" DIR: print "watching" once an inotify watch
# is on DIR, then "closed" each time DIR itself is closed after a read (a
# scan of it ends).
DIR_CLOSES_PY='import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init1(0)
if fd < 0 or libc.inotify_add_watch(fd, sys.argv[1].encode(), 0x10) < 0:  # IN_CLOSE_NOWRITE
    sys.exit("inotify: " + os.strerror(ctypes.get_errno()))
print("watching", flush=True)
while True:
    buf, off = os.read(fd, 65536), 0
    while off < len(buf):
        _, mask, _, n = struct.unpack_from("iIII", buf, off)
        if n == 0:  # no name: DIR itself
            print("closed", flush=True)
        off += 16 + n
'

scanned_twice() {
    (($(grep -cx closed "$1") >= 2))
}

@test "spool: a directory, a socket and a non-.json file in incoming/ are set aside or reported, never unseen" {
    mkdir -p "$WK_SPOOL/incoming/adir.json"
    python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' \
        "$WK_SPOOL/incoming/asock.json"
    printf '{"command":["true"]}' >"$WK_SPOOL/incoming/notes.txt"
    wk_spool_job "$WK_SPOOL" ok '{"command":["true"]}'
    wk_start w --queue "dir:$WK_SPOOL" --concurrency 1 "${LEASE[@]}"
    wk_until 30 "the job ran and the entries are set aside" \
        test -e "$WK_SPOOL/results/ok.json" -a -e "$WK_SPOOL/dead/asock.error.json" \
        -a -e "$WK_SPOOL/dead/adir.error.json" || { wk_dump w; return 1; }
    wk_wait_event w spool_entry_ignored 10 '.file == "notes.txt"' || return 1
    # More scans past notes.txt, each seen as incoming/ closed after its
    # read: nothing in it can be claimed any more, so every scan from now
    # on reads every entry (the slot rescans at least every second).
    local scans=$BATS_TEST_TMPDIR/scans
    timeout 60 python3 -c "$DIR_CLOSES_PY" "$WK_SPOOL/incoming" >"$scans" 2>&1 3>&- &
    SCANS_PID=$!
    wk_until 10 "the watch on incoming/" grep -qx watching "$scans" || return 1
    wk_until 15 "two more scans of incoming/" scanned_twice "$scans" || { cat "$scans"; wk_dump w; return 1; }
    kill "$SCANS_PID" 2>/dev/null
    wait "$SCANS_PID" 2>/dev/null || true
    SCANS_PID=
    wk_signal_and_wait w TERM 30
    jq -e '.error | test("directory")' "$WK_SPOOL/dead/adir.error.json" >/dev/null ||
        fail "adir: $(cat "$WK_SPOOL/dead/adir.error.json")"
    jq -e '.error | test("socket")' "$WK_SPOOL/dead/asock.error.json" >/dev/null ||
        fail "asock: $(cat "$WK_SPOOL/dead/asock.error.json")"
    test -d "$WK_SPOOL/dead/adir.json" -a -S "$WK_SPOOL/dead/asock.json" || fail "dead/: $(ls -la "$WK_SPOOL/dead")"
    assert_equal "$(wk_count_events w spool_entry_ignored)" 1 "spool_entry_ignored events"
    assert_equal "$(wk_count_events w spool_entry_dead)" 2 "spool_entry_dead events"
}

@test "redis: queue keys of the wrong type: the worker says so, loses nothing and goes on when fixed" {
    local tid
    tid=$(rx_tid types)
    rcli SET ralph:jobs 'not a list' >/dev/null
    wk_start w --queue "$WK_Q" --concurrency 1 "${LEASE[@]}"
    wk_wait_event w queue_unavailable 20 '.error | test("ralph:jobs holds a string, not a list")' ||
        return 1
    wk_alive w || fail "the worker died"
    # Fixed by the producer; meanwhile done and stats are of the wrong type.
    rcli DEL ralph:jobs >/dev/null
    rcli HSET ralph:done x y >/dev/null
    rcli SET ralph:stats 'not a hash' >/dev/null
    wk_push "{\"task_id\":\"$tid\",\"command\":[\"true\"]}"
    wk_wait_event w job_done 30 ".task_id == \"$tid\"" || return 1
    wk_signal_and_wait w TERM 30
    assert_equal "$WK_RC" 0 "exit code"
    RX_OUT=$(wk_result "$tid")
    rx_check '.status == "success"' 'the result is stored all the same'
    assert_equal "$(rcli LLEN ralph:jobs)$(wk_processing_total)" 00 "ralph:jobs and processing"
}

@test "redis: CLIENT REPLY refused by an ACL: the claim fails clearly and no job is taken twice" {
    local tid
    tid=$(rx_tid noreply)
    rcli ACL SETUSER default '-client|reply' >/dev/null
    wk_push "{\"task_id\":\"$tid\",\"command\":[\"true\"]}"
    wk_push "{\"task_id\":\"$tid-2\",\"command\":[\"true\"]}"
    # The first job is taken by the script alone (no CLIENT REPLY needed);
    # the blocking claim after the queue is empty is what is refused.
    wk_start w --queue "$WK_Q" --concurrency 1 "${LEASE[@]}"
    wk_wait_event w queue_unavailable 30 '.error | test("CLIENT REPLY SKIP is refused")' ||
        return 1
    wk_alive w || fail "the worker died"
    rcli ACL SETUSER default '+client|reply' >/dev/null
    wk_push "{\"task_id\":\"$tid-3\",\"command\":[\"true\"]}"
    wk_wait_event w job_done 60 ".task_id == \"$tid-3\"" || return 1
    wk_signal_and_wait w TERM 30
    assert_equal "$WK_RC" 0 "exit code"
    assert_equal "$(wk_count_events w job_start)" 3 "jobs started (each once)"
    assert_equal "$(rcli LLEN ralph:done)" 3 "results stored"
    assert_equal "$(rcli HGET ralph:stats duplicates)" "" "duplicates"
}

@test "redis: BLMOVE refused: an error in the log, not a slot that spins" {
    local n
    rcli ACL SETUSER default '-blmove' >/dev/null
    wk_start w --queue "$WK_Q" --concurrency 1 "${LEASE[@]}"
    wk_wait_event w queue_unavailable 30 '.error | test("BLMOVE is refused")' || return 1
    # The property is a rate: what the slot logs in a fixed window.  This
    # sleep is that window (no event to wait for: a slot that backs off logs
    # nothing more in it); a slow host can only log less.
    sleep 3
    n=$(wk_count_events w queue_unavailable)
    ((n <= 6)) || fail "$n queue_unavailable events in about 3 s: the slot spins"
    rcli ACL SETUSER default '+blmove' >/dev/null
    wk_signal_and_wait w TERM 30
    assert_equal "$WK_RC" 0 "exit code"
}

@test "redis: a bad member of ralph:workers does not keep a crashed worker's jobs from going back" {
    local tid i
    tid=$(rx_tid reaped)
    # Ten members whose processing key is a string: the reap script refuses each.
    for i in $(seq 10); do
        rcli SADD ralph:workers "bad$i" >/dev/null
        rcli SET "ralph:processing:bad$i" 'not a list' >/dev/null
    done
    # A worker that crashed with a job in flight (no lease).
    rcli SADD ralph:workers ghost >/dev/null
    rcli LPUSH ralph:processing:ghost "{\"task_id\":\"$tid\",\"command\":[\"true\"]}" >/dev/null
    wk_start w --queue "$WK_Q" --concurrency 1 "${LEASE[@]}"
    wk_wait_event w job_done 60 ".task_id == \"$tid\"" || return 1
    wk_wait_event w reap_failed 20 '.member | test("^bad")' || return 1
    wk_alive w || fail "the worker died"
    # More reaps: two more crashed workers, one after the other, each with a
    # job.  A reap reads ralph:workers when it starts, all of it (below the
    # 64 members a heartbeat takes), so ghost2 is reaped by a later reap
    # than the one that reported the bad members, and ghost3 by a later one
    # still: both walked the bad members again, and must not report them.
    local more
    for more in 2 3; do
        rcli SADD ralph:workers "ghost$more" >/dev/null
        rcli LPUSH "ralph:processing:ghost$more" "{\"task_id\":\"$tid-$more\",\"command\":[\"true\"]}" >/dev/null
        wk_wait_event w job_done 60 ".task_id == \"$tid-$more\"" || return 1
    done
    assert_equal "$(wk_count_events w reap_failed)" 10 "reap_failed events"
    wk_signal_and_wait w TERM 30
    assert_equal "$WK_RC" 0 "exit code"
    assert_equal "$(rcli LLEN ralph:processing:ghost)" 0 "ghost's processing list"
    assert_equal "$(rcli SISMEMBER ralph:workers ghost)$(rcli SISMEMBER ralph:workers ghost2)$(rcli SISMEMBER ralph:workers ghost3)" \
        000 "ghost, ghost2 and ghost3 are no longer workers"
}

# Does the key exist (for wk_until)?
key_exists() {
    [[ $(rcli EXISTS "$1") == 1 ]]
}

# Peak resident memory of a command that runs to its end (it prints its
# output as it would), in bytes, on the last line.
peak_rss_of() {
    python3 -c 'import resource, subprocess, sys
subprocess.run(sys.argv[1:])
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)' "$@"
}

@test "redis: a 200 MB value at the worker's own lease key is renewed over, never read back" {
    local tid hwm bound lease
    tid=$(rx_tid lease)
    wk_start w --queue "$WK_Q" --concurrency 1 "${LEASE[@]}"
    lease=ralph:lease:${WK_ID[w]}
    # After its first heartbeat (before it, the lease would be a live
    # worker's: worker_id_in_use).
    wk_until 30 "the first heartbeat" key_exists "$lease" || { wk_dump w; return 1; }
    rcli EVAL "redis.call('SET', KEYS[1], string.rep('x', 200 * 1048576))" 1 "$lease" >/dev/null
    sleep 2.5 # two heartbeats over it
    wk_push "{\"task_id\":\"$tid\",\"command\":[\"true\"]}"
    wk_wait_event w job_done 60 ".task_id == \"$tid\"" || return 1
    hwm=$(wk_hwm w)
    bound=$(wk_memory_bound w)
    echo "# peak RSS $((hwm / MIB)) MiB, bound $((bound / MIB)) MiB" >&3
    ((hwm <= bound)) || fail "peak RSS $hwm bytes is over the stated bound $bound"
    (($(rcli STRLEN "$lease") < 4096)) || fail "the lease was not renewed over"
    assert_equal "$(wk_count_events w lease_lapsed)" 0 "lease_lapsed events (the lease was there)"
    # A lease that is gone at a heartbeat is still told apart, with how late.
    rcli DEL "$lease" >/dev/null
    wk_wait_event w lease_lapsed 10 '.since_last_heartbeat_ms > 0 and .lease_ms == 3000' || return 1
    wk_signal_and_wait w TERM 30
    assert_equal "$WK_RC" 0 "exit code"
}

@test "redis: a 64 MB member of ralph:workers, with a lease, is dropped unread; status skips it" {
    local tid hwm bound peak out
    tid=$(rx_tid hugemember)
    # A 64 MB member made on the server (as a producer's script could), with
    # a live lease under its name (the reaper never reaps it), and a small
    # member no worker id can be; beside them a crashed worker with a job.
    rcli EVAL "local m = string.rep('m', 64 * 1048576)
redis.call('SADD', KEYS[1], m, 'not a worker id')
redis.call('SET', 'ralph:lease:' .. m, '{}')" 1 ralph:workers >/dev/null
    rcli SADD ralph:workers ghost >/dev/null
    rcli LPUSH ralph:processing:ghost "{\"task_id\":\"$tid\",\"command\":[\"true\"]}" >/dev/null
    # ralph-worker status walks the set without holding the member.
    out=$(peak_rss_of "$RALPH_WORKER" status --queue "$WK_Q")
    peak=${out##*$'\n'}
    echo "# status: peak RSS $((peak / MIB)) MiB" >&3
    ((peak <= $(stated_bound 1))) || fail "status: peak RSS $peak bytes is over $(stated_bound 1)"
    jq -e '.workers | keys | all(length <= 100)' <<<"${out%$'\n'*}" >/dev/null ||
        fail "status: ${out:0:300}"
    wk_start w --queue "$WK_Q" --concurrency 1 "${LEASE[@]}"
    wk_wait_event w job_done 60 ".task_id == \"$tid\"" || return 1
    sleep 2.5 # more heartbeats, more reaps
    wk_push "{\"task_id\":\"$tid-after\",\"command\":[\"true\"]}"
    wk_wait_event w job_done 60 ".task_id == \"$tid-after\"" || return 1
    hwm=$(wk_hwm w)
    bound=$(wk_memory_bound w)
    wk_signal_and_wait w TERM 30
    assert_equal "$WK_RC" 0 "exit code"
    echo "# peak RSS $((hwm / MIB)) MiB, bound $((bound / MIB)) MiB" >&3
    ((hwm <= bound)) || fail "peak RSS $hwm bytes is over the stated bound $bound"
    assert_equal "$(rcli EVAL "return redis.call('SISMEMBER', KEYS[1], string.rep('m', 64 * 1048576))" 1 ralph:workers)" 0 \
        "the 64 MB member is removed"
    assert_equal "$(rcli SISMEMBER ralph:workers 'not a worker id')" 0 "the malformed member is removed"
    assert_equal "$(rcli LLEN ralph:processing:ghost)" 0 "ghost's job went back"
    RX_OUT=$(wk_result "$tid-after")
    rx_check '.status == "success"' 'the job after it ran'
}

@test "spool: a run lock that keeps failing gives the job back uncounted, and runs it once it works" {
    local tag
    tag=$(rx_tid lockfail)
    mkdir -p "$WK_SPOOL"
    # running/ is a file: every lock fails with ENOTDIR.
    touch "$WK_SPOOL/running"
    wk_spool_job "$WK_SPOOL" "$tag" '{"command":["true"]}'
    wk_start w --queue "dir:$WK_SPOOL" --concurrency 1 "${LEASE[@]}"
    wk_wait_event w lock_given_up 30 ".task_id == \"$tag\"" || return 1
    wk_wait_event w job_requeued 10 ".task_id == \"$tag\" and .counted == \"no\"" || return 1
    # running/ made a directory, with a directory planted where the lock
    # goes (in one rename, so that no lock is taken before it is there).
    mkdir -p "$WK_SPOOL/.running.new/$tag/x"
    rm -f "$WK_SPOOL/running"
    mv "$WK_SPOOL/.running.new" "$WK_SPOOL/running"
    wk_wait_event w job_done 60 ".task_id == \"$tag\"" || return 1
    wk_wait_event w spool_lock_cleared 10 || return 1
    wk_signal_and_wait w TERM 30
    assert_equal "$WK_RC" 0 "exit code"
    test -e "$WK_SPOOL/results/$tag.json" || fail "no result"
    assert_equal "$(wk_ls "$WK_SPOOL/dead")" "" "dead/"
    assert_equal "$(wk_count_events w job_start)" 1 "job starts"
}
