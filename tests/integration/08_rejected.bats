#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Invalid jobs are rejected (exit 2) before anything is created on the engine.

load ../lib/libtest

setup_file() { require_engine; }
setup() { require_engine; }
teardown() { rx_teardown; }

# expect_rejected JQ-FILTER ERROR-REGEX WHAT: build the job with $id bound
# to a fresh task id, run it, and check it was rejected with an error
# matching the regex, and that no container appeared.
expect_rejected() {
    local tid before after
    tid=$(rx_tid "rej-$1")
    rx_job_jq --arg id "$tid" "$2"
    before=$(rx_containers | sort)
    rx_run "$JOB"
    after=$(rx_containers | sort)
    rx_expect rejected 2
    rx_check --arg re "$3" '.error | test($re)' "the error names the field ($4)"
    rx_check --arg id "$tid" '.task_id == $id' 'the task_id is echoed'
    rx_check '.container_id == null and .exit_code == null and .output == null'
    assert_no_container "$tid"
    [[ $before == "$after" ]] || fail "the set of ralph containers changed:" \
        "before: $before" "after: $after"
}

@test "rejected: an unknown field" {
    expect_rejected unknown '{task_id: $id, command: ["true"], comand: ["oops"]}' \
        'unknown field `comand`' 'the unknown field'
}

@test "rejected: both code and command" {
    expect_rejected both '{task_id: $id, command: ["true"],
        code: "def calculate(inputs):\n    return 1\n"}' '`code`.*`command`' 'code and command'
}

@test "rejected: neither code nor command" {
    expect_rejected neither '{task_id: $id, timeout: 5}' '`code`.*`command`' 'code and command'
}

@test "rejected: a requirement that is a URL, not a name and version" {
    expect_rejected reqs '{task_id: $id, requirements: ["requests @ https://example.invalid/r.whl"],
        code: "def calculate(inputs):\n    return 1\n"}' '`requirements\[0\]`' 'requirements'
}

@test "rejected: an absolute path in files" {
    expect_rejected abs '{task_id: $id, command: ["true"], files: {"/etc/evil": "x"}}' \
        '`files`.*/etc/evil.*absolute' 'files, the path'
}

@test "rejected: a .. component in files" {
    expect_rejected dotdot '{task_id: $id, command: ["true"], files: {"a/../../evil": "x"}}' \
        '`files`.*a/\.\./\.\./evil.*"\.\."' 'files, the path'
}

@test "rejected: a bad memory_limit" {
    expect_rejected mem '{task_id: $id, command: ["true"], memory_limit: "lots"}' \
        '`memory_limit`.*lots' 'memory_limit'
}

@test "rejected: a memory_limit below what the engine accepts" {
    expect_rejected memsmall '{task_id: $id, command: ["true"], memory_limit: "1m"}' \
        '`memory_limit`' 'memory_limit'
}

@test "rejected: an absolute output_path" {
    expect_rejected outabs '{task_id: $id, command: ["true"], output_path: "/etc/passwd"}' \
        '`output_path`' 'output_path'
}

@test "rejected: a job that is not JSON" {
    local before after
    rx_job '{"command": ["true"],'
    before=$(rx_containers | sort)
    rx_run "$JOB"
    after=$(rx_containers | sort)
    rx_expect rejected 2
    rx_check '.error | test("JSON")' 'the error says the job is not JSON'
    [[ $before == "$after" ]] || fail "the set of ralph containers changed"
}
