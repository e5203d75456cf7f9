#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# How a code job's input reaches its harness, at the edges: an interpreter
# that never reads it, one that exits at once, input the harness could not
# write under the job's file size limit, and a file of the job's that would
# replace a directory of the image's.  Run once, on Docker (the paths are the
# engine's and the runtime's alike; Podman's copy replaces the directory).

load ../lib/libtest

setup_file() { require_engine; }
setup() { require_engine; }
teardown() { rx_teardown; }

# An image on top of the sandbox image whose python3 is a shell script.
fake_python_image() {
    rx_build_image "$1" 'FROM ralph-sandbox:python
COPY python3 /usr/local/bin/python3' python3 0755 "$2"
}

@test "code input: a python3 that exits 3 without reading its input is the job's error, never infra_error" {
    # Exit 3 is also the harness's "stdin ended early"; from inside the
    # container it proves nothing about the engine, and an infra_error
    # would be retried and count toward the worker's breaker.
    local tid img files
    tid=$(rx_tid exit3)
    img=ralph-test-exit3-$$
    fake_python_image "$img" $'#!/bin/sh\nexit 3\n'
    for files in '{}' '{"a.txt": "a"}'; do
        rx_job_jq --arg id "$tid" --arg img "$img" --argjson files "$files" '{task_id: $id,
            runtime: $img, code: "def calculate(i):\n    return 1\n", inputs: ("x" * 2097152),
            files: $files}'
        rx_run "$JOB"
        rx_expect error 1
        rx_check '.exit_code == 3' 'its exit code'
        assert_no_container "$tid"
    done
}

@test "code input: an interpreter that never reads its input is killed, a timeout that says so" {
    # 2 MiB is more than the stream buffers: the input cannot all be sent.
    # The bound is the job's timeout or 30 s, whichever is longer.
    local tid img
    tid=$(rx_tid neverreads)
    img=ralph-test-sleeper-$$
    fake_python_image "$img" $'#!/bin/sh\nexec sleep 300\n'
    rx_job_jq --arg id "$tid" --arg img "$img" '{task_id: $id, runtime: $img, timeout: 1,
        code: "def calculate(i):\n    return 1\n", inputs: ("x" * 2097152)}'
    rx_run "$JOB"
    rx_expect timeout 3
    rx_check '.error | test("timed out before its code ran: the interpreter did not take its input within 30 s")' \
        'the error says the input was never taken'
    rx_check '.timings_ms.input >= 29000 and .timings_ms.input < 60000' 'after the 30 s bound'
    assert_no_container "$tid"
}

@test "code input: code larger than file_size_limit is copied in (the harness could not write it)" {
    local tid code t0
    tid=$(rx_tid bigcode)
    code="# $(printf 'x%.0s' {1..3000})"$'\ndef calculate(i):\n    return i * 2\n'
    rx_job_jq --arg id "$tid" --arg code "$code" '{task_id: $id, code: $code, inputs: 21,
        file_size_limit: "1k"}'
    t0=$(date +%s)
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output == 42' 'the code ran'
    run rx_engine_actions "$(rx_get .container_id)" "$t0"
    [[ $output == *extract-to-dir* ]] || fail "the input was not copied in: $output"
    assert_no_container "$tid"
}

@test "code input: what the image has in /workspace is hidden: the job's workspace holds its own files only" {
    # The workspace is a tmpfs made for the job (nothing copied up from the
    # image), so a file of the job's named like a directory of the image's
    # lands as the job's file, for a command (copied before its exec) and a
    # code job with files (copied while its harness starts).
    local tid img
    tid=$(rx_tid collide)
    img=ralph-test-collide-$$
    rx_build_image "$img" 'FROM ralph-sandbox:python
USER root
RUN mkdir -p /workspace/data && echo image > /workspace/data/f && chown -R 65534:65534 /workspace
USER 65534:65534'
    rx_job_jq --arg id "$tid" --arg img "$img" '{task_id: $id, runtime: $img,
        command: ["sh", "-c", "ls -A /workspace; cat data"], files: {"data": "x"}}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.stdout == "data\nx"' 'only the job'"'"'s file, as a file'
    assert_no_container "$tid"
    rx_job_jq --arg id "$tid-c" --arg img "$img" '{task_id: $id, runtime: $img,
        code: "import os\ndef calculate(i):\n    return sorted(os.listdir(\"/workspace\")), open(\"data\").read()\n",
        files: {"data": "x"}}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output == [[".ralph", "data"], "x"]' 'the code job sees its input and its file only'
    assert_no_container "$tid-c"
}
