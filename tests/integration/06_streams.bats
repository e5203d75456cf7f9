#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# stdout and stderr: capped, counted, always valid JSON.

load ../lib/libtest

setup_file() { require_engine; }
setup() { require_engine; }
teardown() { rx_teardown; }

# put(FD, DATA, N): write DATA N times, each short write resumed.  Under
# gVisor (runsc 2022-12) a pipe write over 64 KiB comes back short and
# Python's sys.stdout.write drops the rest, so the jobs write with os.write
# over a memoryview (as 05_output_file.bats does): every byte reaches the
# pipe on every runtime, and the cap is ralph-exec's to show.
PUT_PY='import os
def put(fd, data, n):
    for _ in range(n):
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
'

@test "streams: 5 MB stdout and 3 MB stderr are capped at 1 MiB each and counted" {
    local tid
    tid=$(rx_tid flood)
    rx_job_jq --arg id "$tid" --arg py "$PUT_PY" '{task_id: $id, timeout: 60, command: ["python3", "-c",
        ($py + "put(1, b\"o\" * 100000, 50)\nput(2, b\"e\" * 100000, 30)\n")]}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.stdout | length == 1048576' 'stdout kept up to 1 MiB'
    rx_check '.stdout_truncated == true and .stdout_bytes == 5000000' 'stdout truncated, all bytes counted'
    rx_check '.stderr | length == 1048576' 'stderr kept up to 1 MiB'
    rx_check '.stderr_truncated == true and .stderr_bytes == 3000000' 'stderr truncated, all bytes counted'
    rx_check '(.stdout | test("^o+$")) and (.stderr | test("^e+$"))' 'the streams were not mixed'
    assert_no_container "$tid"
}

@test "streams: small output is not marked truncated" {
    local tid
    tid=$(rx_tid small)
    rx_job_jq --arg id "$tid" '{task_id: $id, command: ["sh", "-c", "printf abc; printf de >&2"]}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.stdout == "abc" and .stdout_bytes == 3 and .stdout_truncated == false'
    rx_check '.stderr == "de" and .stderr_bytes == 2 and .stderr_truncated == false'
    assert_no_container "$tid"
}

@test "streams: invalid UTF-8 on stdout and stderr still gives valid JSON" {
    local tid
    tid=$(rx_tid badutf8)
    rx_job_jq --arg id "$tid" '{task_id: $id, command: ["sh", "-c",
        "printf \"\\377\\376ok\\303(\\355\\240\\200end\\n\"; printf \"\\300\\257err\\200\" >&2"]}'
    rx_run "$JOB"    # fails by itself unless stdout is one parseable JSON object
    rx_expect success 0
    rx_check '.stdout | test("ok") and test("end")' 'the valid parts are kept'
    rx_check '.stdout | test("\ufffd")' 'invalid bytes became U+FFFD'
    rx_check '.stderr | test("err") and test("\ufffd")' 'stderr too'
    rx_check '.stdout_bytes == 13 and .stderr_bytes == 6' 'raw byte counts are kept'
    # Strict UTF-8 check of the raw line (jq alone would repair it).
    if command -v iconv >/dev/null; then
        printf '%s' "$RX_OUT" | iconv -f UTF-8 -t UTF-8 >/dev/null ||
            fail "the result line is not valid UTF-8"
    fi
    assert_no_container "$tid"
}

@test "streams: exactly 1 MiB on stdout is kept whole and not marked truncated" {
    local tid
    tid=$(rx_tid exact1m)
    rx_job_jq --arg id "$tid" --arg py "$PUT_PY" '{task_id: $id, command: ["python3", "-c",
        ($py + "put(1, b\"x\" * 1048576, 1)\n")]}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.stdout_bytes == 1048576 and (.stdout | length) == 1048576' 'all of it kept'
    rx_check '.stdout_truncated == false' 'not truncated at exactly the cap'
    assert_no_container "$tid"
}
