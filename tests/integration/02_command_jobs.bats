#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Command jobs: an argv, with stdin and files.

load ../lib/libtest

setup_file() { require_engine; }
setup() { require_engine; }
teardown() { rx_teardown; }

@test "command job: nonzero exit -> status error, exit_code 3, ralph-exec exits 1" {
    local tid
    tid=$(rx_tid exit3)
    rx_job_jq --arg id "$tid" \
        '{task_id: $id, command: ["sh", "-c", "echo to-out; echo to-err >&2; exit 3"]}'
    rx_run "$JOB"
    rx_expect error 1
    rx_check '.exit_code == 3' 'the job exit code is reported'
    rx_check '.error | test("3")' 'error mentions the exit code'
    rx_check '.stdout == "to-out\n" and .stderr == "to-err\n"' 'both streams are kept apart'
    rx_check '.output == null' 'no output file'
    assert_no_container "$tid"
}

@test "command job: stdin is delivered byte-exact" {
    local tid stdin
    tid=$(rx_tid stdin)
    # UTF-8 (2-, 3- and 4-byte sequences), CRLF, tabs, blank lines, leading
    # and trailing spaces, no final newline.
    stdin=$'first line\nh\u00e9llo w\u00f6rld \u2713 \U0001F600\r\n\n\ttabbed\t\n  spaced  \n'
    stdin+="$(printf 'x%.0s' {1..3000})"$'\nlast line without newline'
    rx_job_jq --arg id "$tid" --arg in "$stdin" '{task_id: $id, command: ["cat"], stdin: $in}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check_string .stdout "$stdin" 'stdout (cat of stdin)'
    rx_check --argjson n "$(printf '%s' "$stdin" | wc -c)" '.stdout_bytes == $n' \
        'stdout_bytes counts the bytes'
    assert_no_container "$tid"
}

@test "command job: files land in the workspace, readable; workspace writable by the job's uid" {
    local tid script
    tid=$(rx_tid files)
    script=$(cat <<'PY'
import json, os
st = lambda p: "%d:%d %o" % (os.stat(p).st_uid, os.stat(p).st_gid, os.stat(p).st_mode & 0o7777)
r = {
    "cwd": os.getcwd(),
    "uid": os.getuid(),
    "nested": open("a/b/c.txt", encoding="utf-8").read(),
    "top": open("data.txt", encoding="utf-8").read(),
    "owner": {p: st(p) for p in [".", "a", "a/b", "a/b/c.txt", "data.txt"]},
}
with open("a/b/new.txt", "w") as f:
    f.write("written")
os.makedirs("made/by/job")
with open("made/by/job/x", "w") as f:
    f.write("x")
with open("a/b/c.txt", "a") as f:
    f.write("+appended")
r["written"] = open("a/b/new.txt").read()
r["appended"] = open("a/b/c.txt", encoding="utf-8").read()
r["listing"] = sorted(os.listdir("."))
with open("output.json", "w") as f:
    json.dump(r, f)
PY
)
    rx_job_jq --arg id "$tid" --arg s "$script" '{task_id: $id,
        command: ["python3", "-c", $s],
        files: {"a/b/c.txt": "nested \u2713\nline 2\n", "data.txt": "top level"}}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output.cwd == "/workspace" and .output.uid == juid and juid >= 1000000000' \
        'runs as its own uid (of the default range) in /workspace'
    rx_check '.output.nested == "nested \u2713\nline 2\n"' 'nested file a/b/c.txt, exact content'
    rx_check '.output.top == "top level"' 'top-level file'
    rx_check '"\(juid):\(juid) " as $o | .output.owner | all(.[]; startswith($o))' \
        'the workspace, its directories and files belong to the job user'
    rx_check '.output.written == "written" and .output.appended == "nested \u2713\nline 2\n+appended"' \
        'the job can create and modify files in the workspace'
    rx_check '.output.listing | index("a") and index("data.txt") and index("made") and (index(".ralph") | not)' \
        'workspace listing (no harness directory for a command job)'
    assert_no_container "$tid"
}

@test "command job: a command that exits without reading its 8 MB of stdin: its exit code decides" {
    local tid
    tid=$(rx_tid unread-stdin)
    rx_job_jq --arg id "$tid" '{task_id: $id, command: ["sh", "-c", "head -c 10 >/dev/null; exit 5"],
        stdin: ("x" * 8388000)}'
    rx_run "$JOB"
    rx_expect error 1
    rx_check '.exit_code == 5 and (.error | test("exited with code 5"))' \
        'the job'"'"'s exit, not an engine error'
    assert_no_container "$tid"
}

@test "command job: 7 MB of stdin while output flows back (no deadlock, nothing lost)" {
    local tid
    tid=$(rx_tid bigstdin)
    # tee echoes everything back while stdin is still being written (the
    # echo passes the 1 MiB cap); a copy is checked with sha256 at the end.
    local in=$BATS_TEST_TMPDIR/stdin want_len want_sum
    awk 'BEGIN { x = sprintf("%1000s", ""); gsub(/ /, "x", x)
                 for (i = 0; i < 7000; i++) printf "line %d %s\n", i, x }' >"$in"
    printf 'no newline at the end \342\234\223' >>"$in"
    want_len=$(wc -c <"$in")
    want_sum=$(sha256sum <"$in" | cut -d' ' -f1)
    rx_job_jq --arg id "$tid" --rawfile in "$in" '{task_id: $id, timeout: 60, stdin: $in,
        command: ["sh", "-c", "tee /workspace/got; wc -c </workspace/got >&2; sha256sum /workspace/got >&2"]}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check --argjson n "$want_len" '.stdout_bytes == $n and .stdout_truncated' \
        'every byte was echoed back (and counted past the cap)'
    rx_check --arg n "$want_len" --arg s "$want_sum" '.stderr == "\($n)\n\($s)  /workspace/got\n"' \
        'every stdin byte arrived, byte-exact (length and sha256)'
    assert_no_container "$tid"
}
