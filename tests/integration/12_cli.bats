#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# ralph-exec as a CI step: --output FILE keeps the result, --format text is
# readable and cannot drive the reader's terminal, exit codes gate the step.

load ../lib/libtest

setup_file() { require_engine; }
setup() {
    require_engine
    RX_ARGS=()
}
teardown() { rx_teardown; }

@test "cli: --output writes the same result JSON to a file" {
    local tid=$(rx_tid cli-out) file=$BATS_TEST_TMPDIR/result.json
    rx_job_jq --arg id "$tid" '{task_id: $id, command: ["sh", "-c", "echo \"[1,2]\" > output.json"]}'
    RX_ARGS=(--output "$file")
    rx_run "$JOB"
    rx_expect success 0
    [[ -f $file ]] || fail "no $file"
    jq -e --argjson r "$RX_OUT" '. == $r' "$file" >/dev/null || fail "the file differs: $(cat "$file")"
}

@test "cli: --format text summarises, escapes terminal control bytes, and keeps the exit code" {
    local tid=$(rx_tid cli-text) out rc=0 file=$BATS_TEST_TMPDIR/r.json
    rx_job_jq --arg id "$tid" '{task_id: $id, command: ["sh", "-c", "printf \"\\033]0;pwned\\007\\033[2J hi\\n\"; exit 3"]}'
    RX_TASK_IDS+=("$tid")
    out=$("$RALPH_EXEC" --format text --output "$file" "$JOB") || rc=$?
    [[ $rc == 1 ]] || fail "want exit 1 (error), got $rc: $out"
    [[ $out == *"status:   error (exit code 3)"* ]] || fail "no status line in: $out"
    [[ $out == *'\x1b]0;pwned\x07\x1b[2J hi'* ]] || fail "control bytes not escaped: $(cat -v <<<"$out")"
    [[ $out != *$'\033'* && $out != *$'\007'* ]] || fail "raw control bytes reached the terminal"
    jq -e '.status == "error" and .exit_code == 3' "$file" >/dev/null || fail "bad JSON file"
    rc=0
    "$RALPH_EXEC" --format yaml "$JOB" >/dev/null 2>&1 || rc=$?
    [[ $rc == 2 ]] || fail "a bad --format must be a usage error (2), got $rc"
}

@test "cli: --json outside doctor is a usage error naming it, and runs nothing" {
    local tid=$(rx_tid cli-json) out rc=0 err=$BATS_TEST_TMPDIR/err
    rx_job_jq --arg id "$tid" '{task_id: $id, command: ["true"]}'
    RX_TASK_IDS+=("$tid")
    out=$("$RALPH_EXEC" --json "$JOB" 2>"$err") || rc=$?
    [[ $rc == 2 ]] || fail "want exit 2 (usage), got $rc: $out $(cat "$err")"
    [[ -z $out ]] || fail "a usage error printed a result: $out"
    grep -q -- '--json is for doctor only' "$err" || fail "the message does not say so: $(cat "$err")"
    rc=0
    "$RALPH_EXEC" prepare --json "$JOB" >/dev/null 2>&1 || rc=$?
    [[ $rc == 2 ]] || fail "prepare --json must be a usage error (2), got $rc"
}
