#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# ralph-worker submit: a job handed to a fleet from any shell, checked as a
# worker checks it before anything is queued, and with --wait its result
# printed with ralph-exec's exit code.  On both queues, with real workers.

load ../lib/libtest
load ../lib/libworker

setup_file() { wk_setup_file; }
teardown_file() { wk_teardown_file; }
setup() { wk_setup; }
teardown() { wk_teardown; }

# submit ARGS...: run ralph-worker submit; SUB_OUT, SUB_ERR, SUB_RC.
submit() {
    SUB_RC=0
    timeout -k 5 120 "$RALPH_WORKER" submit "$@" >"$BATS_TEST_TMPDIR/sub.out" \
        2>"$BATS_TEST_TMPDIR/sub.err" 3>&- || SUB_RC=$?
    SUB_OUT=$(cat "$BATS_TEST_TMPDIR/sub.out")
    SUB_ERR=$(cat "$BATS_TEST_TMPDIR/sub.err")
}

show() {
    echo "exit $SUB_RC; stdout: $SUB_OUT; stderr: $SUB_ERR" >&2
}

# A job whose image the engine lacks: an infra_error each time, dead-lettered
# after --max-attempts (3 by default; no backoff, as it is the job's).
dead_job() {
    jq -nc --arg id "$1" '{task_id: $id, runtime: "nope:1", command: ["true"]}' \
        >"$BATS_TEST_TMPDIR/$1.json"
    echo "$BATS_TEST_TMPDIR/$1.json"
}

# submit_dead QUEUE ID: submit --wait of a job that is dead-lettered ends
# with its infra_error result and exit 125, not a wait for ever.
submit_dead() {
    submit --queue "$1" --wait --timeout 60 "$(dead_job "$2")"
    [[ $SUB_RC == 125 ]] || { show; fail "a dead-lettered job: exit $SUB_RC, not 125"; }
    jq -e --arg id "$2" '.task_id == $id and .status == "infra_error" and
        (.error | contains("dead-lettered") and contains("nope:1"))' <<<"$SUB_OUT" >/dev/null ||
        { show; fail "not the dead job's infra_error result"; }
}

ok_job() {
    jq -nc --arg id "$1" '{task_id: $id, code: "def calculate(i):\n    return i[\"x\"] * 2\n",
        inputs: {x: 21}}' >"$BATS_TEST_TMPDIR/$1.json"
    echo "$BATS_TEST_TMPDIR/$1.json"
}

@test "submit --wait, spool: the result printed, ralph-exec's exit codes (0, 1, 3)" {
    local ok err slow
    mkdir -p "$WK_SPOOL"
    wk_start w --queue "dir:$WK_SPOOL" --concurrency 2
    ok=$(ok_job "sub-ok-$$")
    submit --queue "dir:$WK_SPOOL" --wait --timeout 90 "$ok"
    [[ $SUB_RC == 0 ]] || { show; fail "exit code $SUB_RC, not 0"; }
    jq -e --arg id "sub-ok-$$" '.task_id == $id and .status == "success" and .output == 42' \
        <<<"$SUB_OUT" >/dev/null || { show; fail "not the job's result"; }

    err=$BATS_TEST_TMPDIR/err.json
    jq -nc --arg id "sub-err-$$" '{task_id: $id, command: ["sh", "-c", "exit 7"]}' >"$err"
    slow=$BATS_TEST_TMPDIR/slow.json
    jq -nc --arg id "sub-slow-$$" '{task_id: $id, command: ["sleep", "30"], timeout: 1}' >"$slow"
    submit --queue "dir:$WK_SPOOL" --wait --timeout 90 "$err" "$slow"
    [[ $SUB_RC == 1 ]] || { show; fail "exit code $SUB_RC, not 1 (the first job's: an error)"; }
    assert_equal "$(jq -r .status <<<"$SUB_OUT" | tr '\n' ' ')" "error timeout " "the statuses, in order"
    submit --queue "dir:$WK_SPOOL" --wait --timeout 90 "$slow" "$err"
    [[ $SUB_RC == 3 ]] || { show; fail "exit code $SUB_RC, not 3 (the first job's: a timeout)"; }
    submit_dead "dir:$WK_SPOOL" "sub-dead-$$"
    [[ -e $WK_SPOOL/dead/sub-dead-$$.json ]] || { ls -R "$WK_SPOOL" >&2; fail "not in dead/"; }

    # The deepest output a job may leave: its result, one level deeper,
    # is read back whole (a job's success is never an unreadable result).
    local deep=$BATS_TEST_TMPDIR/deep.json
    jq -nc --arg id "sub-deep-$$" '{task_id: $id, command: ["python3", "-c",
        "open(\"output.json\", \"w\").write(\"[\" * 63 + \"]\" * 63)"]}' >"$deep"
    submit --queue "dir:$WK_SPOOL" --wait --timeout 90 "$deep"
    [[ $SUB_RC == 0 ]] || { show; fail "a 63-deep output: exit $SUB_RC, not 0"; }
    jq -e '.status == "success" and ([.output | paths] | length) == 62' <<<"$SUB_OUT" >/dev/null ||
        { show; fail "not the deep job's result"; }
    jq -nc --arg id "sub-deeper-$$" '{task_id: $id, command: ["python3", "-c",
        "open(\"output.json\", \"w\").write(\"[\" * 64 + \"]\" * 64)"]}' >"$deep"
    submit --queue "dir:$WK_SPOOL" --wait --timeout 90 "$deep"
    [[ $SUB_RC == 5 ]] || { show; fail "a 64-deep output: exit $SUB_RC, not 5 (result_invalid)"; }

    # A spool that is not there is an error, not a new spool nobody reads.
    submit --queue "dir:$BATS_TEST_TMPDIR/no-such-spool" "$ok"
    [[ $SUB_RC == 2 && ! -e $BATS_TEST_TMPDIR/no-such-spool ]] ||
        { show; fail "a missing spool: exit $SUB_RC, or it was made"; }
}

@test "submit, Redis: the task id printed, the job run once; a second submit of a done id prints its result and queues nothing" {
    local job tid
    wk_start r --queue "$WK_Q" --concurrency 2
    job=$(ok_job "sub-redis-$$")
    submit --queue "$WK_Q" "$job"
    [[ $SUB_RC == 0 && $SUB_OUT == "sub-redis-$$" ]] || { show; fail "submit did not print the task id"; }
    wk_until 90 "the result" has_result "sub-redis-$$" || { wk_dump r; return 1; }
    wk_signal_and_wait r TERM 30 # nobody takes a copy off the queue now
    submit --queue "$WK_Q" --wait --timeout 30 "$job"
    [[ $SUB_RC == 0 ]] || { show; fail "exit code $SUB_RC"; }
    jq -e '.status == "success" and .output == 42' <<<"$SUB_OUT" >/dev/null || { show; fail "result"; }
    assert_equal "$(rcli LLEN ralph:jobs)" 0 "jobs queued after the second submit"
    assert_equal "$(wk_count_events r job_start)" 1 "runs of the job"
    wk_start r2 --queue "$WK_Q" --concurrency 2

    # A job without a task id gets one, printed, and its result is found by it.
    printf '%s' '{"command": ["echo", "hi"]}' >"$BATS_TEST_TMPDIR/noid.json"
    submit --queue "$WK_Q" --wait --timeout 90 - <"$BATS_TEST_TMPDIR/noid.json"
    [[ $SUB_RC == 0 ]] || { show; fail "exit code $SUB_RC"; }
    tid=$(jq -r .task_id <<<"$SUB_OUT")
    [[ -n $tid && $(jq -r .stdout <<<"$SUB_OUT") == "hi" ]] || { show; fail "no task id or not its result"; }
    submit_dead "$WK_Q" "sub-dead-redis-$$"
    assert_equal "$(rcli LLEN ralph:dead)" 1 "ralph:dead"
}

has_result() {
    [[ -n $(wk_result "$1") ]]
}

@test "submit: a bad job is refused naming its field (exit 2), and nothing of the submission is queued" {
    local good bad
    good=$(ok_job "sub-good-$$")
    bad=$BATS_TEST_TMPDIR/bad.json
    jq -nc '{task_id: "sub-bad", command: ["true"], memory_limit: "lots"}' >"$bad"
    submit --queue "$WK_Q" "$good" "$bad"
    [[ $SUB_RC == 2 ]] || { show; fail "exit code $SUB_RC, not 2"; }
    [[ $SUB_ERR == *bad.json*memory_limit* ]] || { show; fail "the error does not name the file and field"; }
    assert_equal "$(rcli LLEN ralph:jobs)" 0 "jobs queued"
    # --timeout bounds a wait: without --wait it is a usage error, not ignored.
    submit --queue "$WK_Q" --timeout 5 "$good"
    [[ $SUB_RC == 2 && $SUB_ERR == *--timeout*--wait* ]] || { show; fail "--timeout without --wait"; }
    assert_equal "$(rcli LLEN ralph:jobs)" 0 "jobs queued"
    mkdir -p "$WK_SPOOL"
    submit --queue "dir:$WK_SPOOL" "$bad"
    [[ $SUB_RC == 2 ]] || { show; fail "spool: exit code $SUB_RC, not 2"; }
    assert_equal "$(find "$WK_SPOOL" -type f -name '*.json' | wc -l)" 0 "spool files"
}

@test "submit --wait --timeout with no worker: exit 124, the job stays queued and a worker runs it later" {
    local job
    job=$(ok_job "sub-late-$$")
    submit --queue "$WK_Q" --wait --timeout 1 "$job"
    [[ $SUB_RC == 124 && -z $SUB_OUT ]] || { show; fail "exit code $SUB_RC, not 124"; }
    [[ $SUB_ERR == *"sub-late-$$"* ]] || { show; fail "the message does not name the job still queued"; }
    assert_equal "$(rcli LLEN ralph:jobs)" 1 "jobs queued"
    wk_start r --queue "$WK_Q"
    wk_until 90 "the result" has_result "sub-late-$$" || { wk_dump r; return 1; }
}
