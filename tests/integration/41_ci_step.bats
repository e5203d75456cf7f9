#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The script the CI examples (examples/ci/) call: a readable log, the result
# kept as a file, and an exit code that gates the step.

load ../lib/libtest

setup_file() { require_engine; }
setup() { require_engine; }
teardown() { rx_teardown; }

SCRIPT=$BATS_TEST_DIRNAME/../../examples/ci/run-job.sh

@test "ci step: a successful job passes the step and leaves its result file" {
    local out rc=0 file=$BATS_TEST_TMPDIR/ralph-result.json
    RX_TASK_IDS+=(demo-mean)
    out=$("$SCRIPT" "$BATS_TEST_DIRNAME/../../examples/demo.json" "$file" 2>/dev/null) || rc=$?
    [[ $rc == 0 ]] || fail "the step failed (exit $rc): $out"
    [[ $out == *"status:   success (exit code 0)"* ]] || fail "no readable status in: $out"
    jq -e '.status == "success" and .output.mean == 3.5' "$file" >/dev/null ||
        fail "bad result file: $(cat "$file")"
}

@test "ci step: a failing job fails the step (exit 1), still with its result file" {
    local out rc=0 file=$BATS_TEST_TMPDIR/ralph-result.json
    RX_TASK_IDS+=(example-raises)
    out=$("$SCRIPT" "$BATS_TEST_DIRNAME/../../examples/raises.json" "$file" 2>/dev/null) || rc=$?
    [[ $rc == 1 ]] || fail "want exit 1, got $rc: $out"
    [[ $out == *"calculate raised ValueError"* ]] || fail "the log does not say why: $out"
    jq -e '.status == "error"' "$file" >/dev/null || fail "bad result file: $(cat "$file")"
}

@test "ci examples: both workflows call the tested script and keep the result as an artifact" {
    local d=$BATS_TEST_DIRNAME/../../examples/ci
    grep -q 'examples/ci/run-job.sh examples/demo.json ralph-result.json' "$d/github-actions.yml" ||
        fail "github-actions.yml does not run the script"
    grep -q 'upload-artifact' "$d/github-actions.yml" || fail "github-actions.yml keeps no artifact"
    grep -q 'examples/ci/run-job.sh examples/demo.json ralph-result.json' "$d/gitlab-ci.yml" ||
        fail "gitlab-ci.yml does not run the script"
    grep -A3 'artifacts:' "$d/gitlab-ci.yml" | grep -q 'ralph-result.json' ||
        fail "gitlab-ci.yml keeps no artifact"
}
