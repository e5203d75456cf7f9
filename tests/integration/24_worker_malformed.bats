#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# ralph-worker on a Redis queue: malformed jobs end as rejected results and
# never crash the worker or block the queue; a task id whose result already
# exists is not run again.

load ../lib/libtest
load ../lib/libworker

setup_file() { wk_setup_file; }
teardown_file() { wk_teardown_file; }
setup() { wk_setup; }
teardown() { wk_teardown; }

LEASE=(--lease 3 --heartbeat 1)

@test "redis: malformed jobs (not JSON, unknown field, array, empty, 17 MB) -> rejected; a duplicate is skipped; the queue goes on" {
    local tag unk dup ok original
    tag=$(rx_tid malformed)
    unk=$tag-unknown
    dup=$tag-dup
    ok=$tag-ok
    original="{\"task_id\":\"$dup\",\"status\":\"success\",\"marker\":\"first run\"}"
    rcli SET "ralph:result:$dup" "$original" >/dev/null
    # Pushed in this order, taken in this order.
    wk_push 'this is not JSON {' \
        "{\"task_id\":\"$unk\",\"command\":[\"true\"],\"bogus\":1}" \
        '[{"command":["true"]}]' \
        '' \
        "{\"task_id\":\"$dup\",\"command\":[\"true\"]}"
    {
        printf '{"command":["true"],"stdin":"'
        head -c $((17 << 20)) /dev/zero | tr '\0' a
        printf '"}'
    } >"$BATS_TEST_TMPDIR/big.json"
    rcli -x LPUSH ralph:jobs <"$BATS_TEST_TMPDIR/big.json" >/dev/null
    wk_push "{\"task_id\":\"$ok\",\"command\":[\"true\"]}"
    assert_equal "$(rcli LLEN ralph:jobs)" 7 "jobs queued"

    wk_start w --queue "$WK_Q" --concurrency 1 "${LEASE[@]}"
    wk_wait_event w job_done 60 ".task_id == \"$ok\"" || return 1
    wk_alive w || { wk_dump w; fail "the worker died"; }
    wk_signal_and_wait w TERM 30
    assert_equal "$WK_RC" 0 "exit code"

    # Five rejected results: the unknown field under its task id, the others
    # under fresh ids.
    local rejected
    rejected=$(wk_events w job_done '.status == "rejected"' | jq -r .task_id)
    assert_equal "$(grep -c . <<<"$rejected")" 5 "rejected jobs (job_done events)"
    grep -qx "$unk" <<<"$rejected" || fail "no rejected result under $unk: $rejected"
    local tid res
    while read -r tid; do
        res=$(wk_result "$tid")
        jq -e --arg id "$tid" '.status == "rejected" and .task_id == $id and (.error | length > 0)' \
            >/dev/null <<<"$res" || fail "result of $tid: $(head -c 600 <<<"$res")"
    done <<<"$rejected"
    RX_OUT=$(wk_result "$unk")
    rx_check '.error | contains("bogus")' 'the unknown field is named'
    # The 17 MB one is rejected for its size.
    wk_events w job_done '.status == "rejected" and (.error | test("bytes"))' | grep -q . ||
        { wk_dump w; fail "no job rejected for its size"; }

    # The duplicate was not run; its result is untouched and not on ralph:done.
    wk_has_event w job_skipped ".task_id == \"$dup\"" || { wk_dump w; fail "no job_skipped event for $dup"; }
    ! wk_has_event w job_start ".task_id == \"$dup\"" || { wk_dump w; fail "$dup ran again"; }
    assert_equal "$(wk_result "$dup")" "$original" "the existing result"

    RX_OUT=$(wk_result "$ok")
    rx_check '.status == "success"' 'the valid job after them ran'
    assert_equal "$(rcli LRANGE ralph:done 0 -1 | sort)" "$( (echo "$rejected"; echo "$ok") | sort)" \
        "ralph:done: the rejected ids and the valid one"
    assert_equal "$(rcli LLEN ralph:jobs)" 0 "ralph:jobs"
    assert_equal "$(wk_processing_total)" 0 "jobs in processing lists"
    assert_equal "$(rcli LLEN ralph:dead)" 0 "ralph:dead"
    local st
    st=$("$RALPH_WORKER" status --queue "$WK_Q")
    jq -e '.done == 1 and .failed == 5 and .queued == 0 and .dead == 0' >/dev/null <<<"$st" ||
        fail "status: $st"
}

@test "redis: a rejected job whose task id already has a result keeps the first result" {
    local tid original
    tid=$(rx_tid rejdup)
    original="{\"task_id\":\"$tid\",\"status\":\"success\",\"marker\":\"first run\"}"
    rcli SET "ralph:result:$tid" "$original" >/dev/null
    wk_push "{\"task_id\":\"$tid\",\"command\":[\"true\"],\"bogus\":1}"
    wk_start w --queue "$WK_Q" --concurrency 1 --max-jobs 1 "${LEASE[@]}"
    wk_expect_exit w 0 30
    assert_equal "$(wk_result "$tid")" "$original" "the existing result"
    assert_equal "$(rcli LLEN ralph:jobs)$(wk_processing_total)" 00 "ralph:jobs and processing"
}

@test "redis: an error quoting a job's text cut mid-character still makes valid UTF-8 log lines" {
    local tid key
    tid=$(rx_tid rejutf8)
    # The error quotes the unknown key's first 100 bytes: the cut falls
    # inside the two bytes of the e-acute.
    key="$(printf 'a%.0s' {1..99})"$'\xc3\xa9'
    wk_push "$(jq -nc --arg id "$tid" --arg k "$key" '{task_id: $id, command: ["true"]} + {($k): 1}')"
    wk_start w --queue "$WK_Q" --concurrency 1 --max-jobs 1 "${LEASE[@]}"
    wk_expect_exit w 0 30
    jq -e '.status == "rejected"' <<<"$(wk_result "$tid")" >/dev/null || fail "not rejected: $(wk_result "$tid")"
    wk_has_event w job_done || fail "no job_done logged"
    python3 -c 'import json, sys
for n, line in enumerate(open(sys.argv[1], "rb"), 1):
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as e:
        sys.exit("line %d is not UTF-8: %s: %r" % (n, e, line[:300]))
    if text.startswith("{"):
        json.loads(text)' "${WK_LOG[w]}" || fail "a log line is not valid UTF-8 JSON"
}

@test "redis: many malformed jobs between valid ones never block the queue" {
    local tag i
    tag=$(rx_tid mixed)
    local -a jobs=()
    for ((i = 1; i <= 10; i++)); do
        jobs+=("not json $i" "{\"task_id\":\"$tag-$i\",\"command\":[\"true\"]}" "{\"task_id\":\"$tag-bad-$i\"}")
    done
    wk_push "${jobs[@]}"
    wk_start w --queue "$WK_Q" --concurrency 3 "${LEASE[@]}"
    wk_until 60 "30 task ids on ralph:done" wk_llen_at_least ralph:done 30 ||
        { wk_dump w; return 1; }
    wk_signal_and_wait w TERM 30
    assert_equal "$WK_RC" 0 "exit code"
    for ((i = 1; i <= 10; i++)); do
        RX_OUT=$(wk_result "$tag-$i")
        rx_check '.status == "success"' "$tag-$i"
        RX_OUT=$(wk_result "$tag-bad-$i")
        rx_check '.status == "rejected"' "$tag-bad-$i"
    done
    assert_equal "$(rcli LLEN ralph:jobs)$(wk_processing_total)" 00 "ralph:jobs and processing"
}
