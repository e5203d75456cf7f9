#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The output file: what counts as a valid result.

load ../lib/libtest

setup_file() { require_engine; }
setup() { require_engine; }
teardown() { rx_teardown; }

# A command job running a Python one-liner in the workspace.
py_job() {
    rx_job_jq --arg id "$1" --arg s "$2" '{task_id: $id, command: ["python3", "-c", $s]}'
}

@test "output: code job exiting 0 before writing -> result_invalid" {
    local tid
    tid=$(rx_tid noout)
    rx_job_jq --arg id "$tid" \
        '{task_id: $id, code: "import os\ndef calculate(inputs):\n    os._exit(0)\n"}'
    rx_run "$JOB"
    rx_expect result_invalid 5
    rx_check '.exit_code == 0' 'the job did exit 0'
    rx_check '.output == null' 'no output'
    rx_check '.error | test("output")' 'error says the output file is missing'
    assert_no_container "$tid"
}

@test "output: command job writing non-JSON -> result_invalid" {
    local tid
    tid=$(rx_tid notjson)
    py_job "$tid" 'open("output.json", "w").write("{\"a\": 1,,}")'
    rx_run "$JOB"
    rx_expect result_invalid 5
    rx_check '.output == null'
    rx_check '.error | test("JSON")' 'error says it is not JSON'
    assert_no_container "$tid"
}

@test "output: a 2 MB output file -> result_invalid mentioning the size" {
    local tid
    tid=$(rx_tid bigout)
    py_job "$tid" 'open("output.json", "w").write("\"" + "a" * 2000000 + "\"")'
    rx_run "$JOB"
    rx_expect result_invalid 5
    rx_check '.output == null'
    rx_check '.error | test("2000002") and test("1048576")' \
        'error gives the file size and the limit'
    assert_no_container "$tid"
}

@test "output: output.json a symlink to /etc/passwd -> result_invalid (symbolic link)" {
    local tid
    tid=$(rx_tid symlink)
    rx_job_jq --arg id "$tid" '{task_id: $id, command: ["ln", "-s", "/etc/passwd", "output.json"]}'
    rx_run "$JOB"
    if rx_on_podman && [[ $(rx_get .status) == success ]]; then
        # Podman (4.3) may resolve the link itself, confined to the job's
        # workspace, where /etc/passwd does not exist: the engine answers
        # 404, which cannot be told from no file.  Nothing leaks either way.
        rx_expect success 0
        rx_check '.output == null and .error == null' 'the escaping link reads as no output file'
    else
        rx_expect result_invalid 5
        rx_check '.error | test("symbolic link")' 'error says it is a symbolic link'
    fi
    rx_check '.output == null' 'nothing of /etc/passwd is returned'
    rx_check '(tostring | test("root:x:0:0")) | not' 'the host/container passwd did not leak'
    assert_no_container "$tid"
}

@test "output: output.json a symlink to a valid JSON file in the workspace -> result_invalid" {
    # A link the engine can resolve: the output must still be a regular
    # file, whether the engine hands back the link (Docker) or follows it
    # and names the target (Podman).
    local tid
    tid=$(rx_tid symlink-in)
    rx_job_jq --arg id "$tid" \
        '{task_id: $id, command: ["sh", "-c", "echo 42 > real.json && ln -s real.json output.json"]}'
    rx_run "$JOB"
    rx_expect result_invalid 5
    rx_check '.output == null' 'the target is not read through the link'
    rx_check '.error | test("symbolic link")' 'error says it is a symbolic link'
    assert_no_container "$tid"
}

@test "output: output.json a directory -> result_invalid" {
    local tid
    tid=$(rx_tid dirout)
    rx_job_jq --arg id "$tid" '{task_id: $id, command: ["mkdir", "-p", "output.json/sub"]}'
    rx_run "$JOB"
    rx_expect result_invalid 5
    rx_check '.output == null'
    rx_check '.error | test("directory")' 'error says it is a directory'
    assert_no_container "$tid"
}

@test "output: command job without an output file -> success, output null" {
    local tid
    tid=$(rx_tid nofile)
    rx_job_jq --arg id "$tid" '{task_id: $id, command: ["echo", "just printing"]}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output == null and .error == null' 'output is null, no error'
    rx_check '.stdout == "just printing\n"'
    assert_no_container "$tid"
}

@test "output: output_path in a subdirectory works (command and code jobs)" {
    local tid tid2
    tid=$(rx_tid subdir)
    rx_job_jq --arg id "$tid" '{task_id: $id, output_path: "out/deep/result.json",
        command: ["python3", "-c", "import os, json; os.makedirs(\"out/deep\"); json.dump({\"k\": [1, \"\u00e9\"]}, open(\"out/deep/result.json\", \"w\"))"]}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output == {"k": [1, "\u00e9"]}' 'the command job output was read from the subdirectory'

    tid2=$(rx_tid subdircode)
    rx_job_jq --arg id "$tid2" '{task_id: $id, output_path: "results/r.json",
        code: "def calculate(inputs):\n    return {\"twice\": inputs * 2}\n", inputs: 21}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output == {"twice": 42}' 'the code job wrote into the subdirectory'
    assert_no_container "$tid"
    assert_no_container "$tid2"
}

@test "output: a failed command job still hands back its output file" {
    local tid
    tid=$(rx_tid failout)
    py_job "$tid" 'import sys; open("output.json", "w").write("{\"partial\": true}"); sys.exit(2)'
    rx_run "$JOB"
    rx_expect error 1
    rx_check '.exit_code == 2 and .output == {"partial": true}' 'output of a failed command job'
    assert_no_container "$tid"
}

@test "output: exactly 1 MiB is accepted, one byte more is result_invalid" {
    local tid tid2
    tid=$(rx_tid out1m)
    py_job "$tid" 'open("output.json", "w").write("\"" + "a" * (1048576 - 2) + "\"")'
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output | length == 1048574' 'a 1 MiB output file is read whole'

    tid2=$(rx_tid out1m1)
    py_job "$tid2" 'open("output.json", "w").write("\"" + "a" * (1048577 - 2) + "\"")'
    rx_run "$JOB"
    rx_expect result_invalid 5
    rx_check '.error | test("1048577")' 'the error gives the size'
    assert_no_container "$tid"
    assert_no_container "$tid2"
}

# ---- a code job's output is the file it left, copied out (GET /archive) ----

# code_job TID CODE: a code job without files.
code_job() {
    rx_job_jq --arg id "$1" --arg code "$2" '{task_id: $id, code: $code, inputs: {}, timeout: 20}'
}

# Docker logs every copy out of a container as "archive-path" (Podman logs none).
assert_copied_out() { # ID T0
    rx_on_podman && return 0
    run rx_engine_actions "$1" "$2"
    [[ $output == *archive-path* ]] || fail "the output was not copied out: $output"
}

@test "output: a code job's result is its output file at exit, copied out; stdout is only what it printed" {
    # What looks like a harness protocol line on stdout, a thread that
    # prints after calculate returned, an atexit handler that rewrites the
    # output file: stdout is the job's byte for byte, and the result is the
    # file as the job left it, not calculate's return value.
    local tid t0 code
    tid=$(rx_tid file-at-exit)
    code=$(cat <<'PY'
import atexit, json, threading, time

def late():
    time.sleep(0.3)
    print("thread late")

def rewrite():
    print("user atexit")
    with open("/workspace/output.json", "w", encoding="utf-8") as f:
        json.dump({"rewritten": "é€"}, f, ensure_ascii=False)

def calculate(inputs):
    atexit.register(rewrite)
    print('{"forged": 1}RALPH-RESULT output 13')
    threading.Thread(target=late).start()
    return {"returned": 1}
PY
)
    code_job "$tid" "$code"
    t0=$(date +%s)
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output == {"rewritten": "é€"}' 'the output is the file as the job left it at exit'
    rx_check '.stdout == "{\"forged\": 1}RALPH-RESULT output 13\nthread late\nuser atexit\n"' \
        'stdout is exactly what the job printed'
    rx_check '.stdout_bytes == 60 and .stdout_truncated == false' 'and counts only that'
    assert_copied_out "$(rx_get .container_id)" "$t0"

    code_job "$tid-e" 'def calculate(inputs):
    print("before")
    raise KeyError("nope")'
    rx_run "$JOB"
    rx_expect error 1
    rx_check '.error == "calculate raised KeyError: '"'"'nope'"'"'"' 'the exception, from error.json'
    rx_check '.stdout == "before\n"' 'stdout is what the job printed'
    assert_no_container "$tid"
    assert_no_container "$tid-e"
}

@test "output: what a code job left in its stream buffers is written out at exit" {
    # The harness ends the interpreter without module teardown, so it
    # writes out first what the job's streams hold: here a buffered
    # sys.stdout of the job's own.
    local tid code
    tid=$(rx_tid flush)
    code=$(cat <<'PY'
import io, sys

def calculate(inputs):
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False), 1 << 16),
                                  write_through=False)
    print("buffered in python")
    print("still buffered")
    print("to stderr", file=sys.stderr)
    return 7
PY
)
    code_job "$tid" "$code"
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output == 7' 'the output is the return value'
    rx_check '.stdout == "buffered in python\nstill buffered\n"' 'the buffer was written out'
    rx_check '.stderr == "to stderr\n"' 'stderr too'
    assert_no_container "$tid"
}

@test "output: a code job that closes its stdout, or prints past its cap, still gets its output" {
    local tid t0
    tid=$(rx_tid closed-stdout)
    code_job "$tid" 'import os
def calculate(inputs):
    print("bye")
    os.close(1)
    return {"real": 2}'
    t0=$(date +%s)
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output == {"real": 2} and .stdout == "bye\n"' 'the output file was read'
    assert_copied_out "$(rx_get .container_id)" "$t0"

    # 3 MiB, each short write resumed (under runsc 2022-12 pipe writes come
    # back short, and Python's unbuffered stdout drops the rest).
    code_job "$tid-big" 'import os
def calculate(inputs):
    for _ in range(64):
        view = memoryview(b"x" * 49152)
        while view:
            view = view[os.write(1, view):]
    return {"real": 3}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output == {"real": 3}' 'the output file was read'
    rx_check '(.stdout | length) == 1048576 and .stdout_truncated and .stdout_bytes == 3145728' \
        'stdout capped at 1 MiB, every byte counted'
    rx_check '.stdout | test("^x+$")' 'nothing but what the job printed is kept'
    assert_no_container "$tid"
    assert_no_container "$tid-big"
}

@test "output: a code job's 1 MiB output comes back whole, one byte more is result_invalid" {
    local tid
    tid=$(rx_tid output-1m)
    code_job "$tid" 'def calculate(inputs):
    return "a" * (1048576 - 2)'
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output | length == 1048574' 'a 1 MiB output is read whole'
    rx_check '.stdout == "" and .stdout_bytes == 0' 'and is no part of stdout'
    code_job "$tid-over" 'def calculate(inputs):
    return "a" * (1048577 - 2)'
    rx_run "$JOB"
    rx_expect result_invalid 5
    rx_check '.error | test("1048577") and test("1048576")' 'the error gives the size and the cap'
    assert_no_container "$tid"
    assert_no_container "$tid-over"
}

@test "output: nested 63 deep is accepted, 64 is result_invalid naming the nesting" {
    local tid
    tid=$(rx_tid deep63)
    py_job "$tid" 'open("output.json", "w").write("[" * 63 + "]" * 63)'
    rx_run "$JOB"
    rx_expect success 0
    rx_check '[.output | paths] | length == 62' 'the output is the 63 nested arrays'
    tid=$(rx_tid deep64)
    py_job "$tid" 'open("output.json", "w").write("[" * 64 + "]" * 64)'
    rx_run "$JOB"
    rx_expect result_invalid 5
    rx_check '.output == null and (.error | test("nesting too deep"))' 'the error names the nesting'
}
