#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Host protection: a bounded workspace (a tmpfs of workspace_limit bytes,
# never the engine's disk) and a uid of its own for every job.

load ../lib/libtest

setup_file() { require_engine; }
setup() { require_engine; }
teardown() { rx_teardown; }

# A command job that writes 60 MiB files until the workspace refuses one,
# then reports how far it got, why it stopped, and the file system type of
# /workspace as the job sees it (/proc/self/mountinfo).  With WAIT_FOR set,
# it then waits (at most 60 s) for that file to exist before it ends: the
# test reads the engine's record of the workspace while the container is
# there, then makes the file (docker exec).
FILL=$RX_PY_WORKSPACE_ASKED$(cat <<'PY'
import errno, json, os
block = b"\x01" * (1 << 20)
written, err, n = 0, None, 0
try:
    while n < 10000:
        with open("fill%d" % n, "wb") as f:
            for _ in range(60):
                f.write(block)
                written += len(block)
        n += 1
except OSError as e:
    err = errno.errorcode.get(e.errno, str(e.errno))
st = os.statvfs("/workspace")
fstype = workspace_fstype()
waited = wait_engine_read(os.environ["WAIT_FOR"]) if os.environ.get("WAIT_FOR") else None
for name in os.listdir("."):
    if name.startswith("fill"):
        os.unlink(name)
with open("output.json", "w") as f:
    json.dump({"written": written, "error": err, "size": st.f_blocks * st.f_frsize,
               "fstype": fstype, "waited": waited}, f)
PY
)

@test "workspace: writing 60 MiB files in a loop stops at workspace_limit (ENOSPC), in a tmpfs, not on the engine's disk" {
    local tid
    tid=$(rx_tid ws-fill)
    rx_job_jq --arg id "$tid" --arg s "$FILL" '{task_id: $id, command: ["python3", "-c", $s],
        memory_limit: "1g", workspace_limit: "256m", timeout: 120, env: {WAIT_FOR: "/tmp/engine-read"}}'
    rx_run_asking_workspace "$tid"
    rx_expect success 0
    rx_check '.output.waited == true' 'the job ended after the engine was asked about its workspace'
    rx_check '.limits.workspace_bytes == 268435456' 'the result states the limit'
    rx_check '.output.error == "ENOSPC"' 'the write past the limit failed with ENOSPC inside the job'
    rx_check '.output.written <= 268435456 and .output.written >= 200 * 1048576' \
        'it wrote up to its limit, not past it'
    rx_check '.output.size <= 268435456' '/workspace is a filesystem of at most the limit'
    # The workspace is memory (a tmpfs charged to the job), not the engine's
    # disk (a disk quota, too, would stop the writes with ENOSPC and report
    # its size): the engine mounts a tmpfs there, and the job sees one
    # (under gVisor it sees its gofer's 9p: the engine's record says it).
    rx_check_workspace_tmpfs '.output.fstype'
    assert_no_container "$tid"
}

@test "workspace: the default is half of memory_limit; a small workspace_limit holds" {
    local tid
    tid=$(rx_tid ws-small)
    rx_job_jq --arg id "$tid" --arg s "$FILL" '{task_id: $id, command: ["python3", "-c", $s],
        memory_limit: "96m"}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.limits.workspace_bytes == 50331648' 'default: half of 96 MiB'
    rx_check '.output.error == "ENOSPC" and .output.written <= 50331648' 'ENOSPC at 48 MiB, before any OOM'
    rx_job_jq --arg id "$tid-8" --arg s "$FILL" '{task_id: $id, command: ["python3", "-c", $s],
        workspace_limit: 8388608}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.limits.workspace_bytes == 8388608' 'workspace_limit in bytes'
    rx_check '.output.error == "ENOSPC" and .output.written <= 8388608' 'ENOSPC within 8 MiB'
    assert_no_container "$tid"
    assert_no_container "$tid-8"
}

@test "workspace: filling its inodes ends as the job's own failure, never infra_error" {
    local tid script
    tid=$(rx_tid ws-inodes)
    script=$(cat <<'PY'
import errno, json, os, sys
n, err = 0, None
try:
    while n < 2000000:
        open("i%d" % n, "w").close()
        n += 1
except OSError as e:
    err = errno.errorcode.get(e.errno, str(e.errno))
print(json.dumps({"files": n, "error": err}))
sys.exit(3)
PY
)
    # 8 MiB: 2048 inodes on Docker (one per 4 KiB); on Podman the count is
    # bounded by the job's memory, each inode charged to it.
    rx_job_jq --arg id "$tid" --arg s "$script" '{task_id: $id, command: ["python3", "-c", $s],
        workspace_limit: "8m", memory_limit: "64m", timeout: 120}'
    rx_run "$JOB"
    rx_check '.status == "error" or .status == "oom"' 'the job failed on its own'
    if ! rx_on_podman; then
        rx_expect error 1
        rx_check '.exit_code == 3 and (.stdout | fromjson | .error == "ENOSPC" and .files <= 2048)' \
            'ENOSPC within the inode bound'
        rx_check '.limits.workspace_inodes == 2048' 'the result states the inode bound'
    fi
    assert_no_container "$tid"
}

@test "workspace: input files and output.json travel through a small workspace (code and command)" {
    local tid
    tid=$(rx_tid ws-travel)
    rx_job_jq --arg id "$tid" '{task_id: $id, workspace_limit: "2m",
        files: {"d/in.txt": ("x" * 100000)},
        command: ["sh", "-c", "wc -c < d/in.txt | tr -d \" \\n\" > n; printf \"{\\\"n\\\": %s}\" \"$(cat n)\" > output.json"]}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output == {"n": 100000}' 'a command job: file in, output out'
    rx_job_jq --arg id "$tid-c" '{task_id: $id, workspace_limit: "2m", inputs: {"k": 5},
        files: {"in.txt": ("y" * 100000)},
        code: "def calculate(i):\n    return {\"k\": i[\"k\"], \"n\": len(open(\"in.txt\").read())}\n"}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output == {"k": 5, "n": 100000}' 'a code job: input and file in, output out'
    assert_no_container "$tid"
    assert_no_container "$tid-c"
}

@test "workspace: a limit above memory_limit, or files that cannot fit, are rejected naming the field" {
    local tid
    tid=$(rx_tid ws-reject)
    rx_job_jq --arg id "$tid" '{task_id: $id, command: ["true"], memory_limit: "64m",
        workspace_limit: "128m"}'
    rx_run "$JOB"
    rx_expect rejected 2
    rx_check '.error | test("`workspace_limit` 134217728 bytes is more than `memory_limit`")' \
        'names both limits'
    rx_job_jq --arg id "$tid-f" '{task_id: $id, command: ["true"], workspace_limit: "1m",
        files: {"big": ("z" * 1100000)}}'
    rx_run "$JOB"
    rx_expect rejected 2
    rx_check '.error | test("more than its `workspace_limit`")' 'names workspace_limit'
    rx_job_jq --arg id "$tid-s" '{task_id: $id, command: ["true"], workspace_limit: "1k"}'
    rx_run "$JOB"
    rx_expect rejected 2
    rx_check '.error | test("workspace_limit")' 'below the minimum'
    # 1 MiB gives 256 inodes: 130 files, each in a directory of its own, take 264.
    rx_job_jq --arg id "$tid-i" '{task_id: $id, command: ["true"], workspace_limit: "1m",
        files: ([range(130)] | map({key: "d\(.)/f", value: "x"}) | from_entries)}'
    rx_run "$JOB"
    rx_expect rejected 2
    rx_check '.error | test("264 inodes")' 'files and directories counted as inodes'
    assert_no_container "$tid"
}

@test "workspace: the policy's max_workspace_limit caps the default and rejects a larger ask" {
    local tid policy
    tid=$(rx_tid ws-policy)
    policy=$BATS_TEST_TMPDIR/policy.json
    echo '{"max_workspace_limit": "16m"}' >"$policy"
    RX_ARGS=(--policy "$policy")
    rx_job_jq --arg id "$tid" '{task_id: $id, command: ["true"]}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.limits.workspace_bytes == 16777216' 'the default lowered to the policy maximum'
    rx_job_jq --arg id "$tid-big" '{task_id: $id, command: ["true"], workspace_limit: "32m"}'
    rx_run "$JOB"
    rx_expect rejected 2
    rx_check '.error | test("max_workspace_limit")' 'names the policy key'
    assert_no_container "$tid"
}

@test "workspace: doctor's canary on this engine finds its workspace bounded and its own uid" {
    # (Where an engine took the workspace's options but not its bound,
    # this is the check that fails, naming it.)
    local -a args=()
    mapfile -d '' -t args < <(rx_sandbox_args)
    local out
    out=$("$RALPH_EXEC" doctor --json ${args[@]+"${args[@]}"}) || true
    jq -e '[.checks[] | select(.name == "canary job" or .name == "job user" or .name == "workspace bound") |
            .status] == ["ok", "ok", "ok"]' <<<"$out" >/dev/null ||
        fail "doctor's canary, job user or workspace bound check did not pass: $(jq -c '[.checks[]? | {name, status, detail}]' <<<"$out")"
    [[ -z $(docker ps -aq --filter label=ralph.task_id=doctor-canary) ]] || fail "canary left behind"
}

@test "uid: three concurrent jobs run as three different non-zero uids, each owning its workspace" {
    # A range of exactly three uids: the jobs find each other's taken and
    # move on to the next (the container name ralph-uid-N holds the uid).
    local i tid uid
    local -a outs=() pids=()
    tid=$(rx_tid uid3)
    uid=$((3000000 + RANDOM * 4))
    echo "{\"uid_range\": [$uid, $((uid + 2))]}" >"$BATS_TEST_TMPDIR/policy.json"
    for i in 1 2 3; do
        rx_job_jq --arg id "$tid-$i" '{task_id: $id, timeout: 60, command: ["python3", "-c",
            "import json, os, time\ntime.sleep(3)\njson.dump({\"uid\": os.getuid(), \"ws\": os.stat(\"/workspace\").st_uid}, open(\"output.json\", \"w\"))"]}'
        rx_run_bg "$JOB" --policy "$BATS_TEST_TMPDIR/policy.json"
        outs+=("$RX_BG_OUT")
        pids+=("$RX_BG_PID")
    done
    for i in "${pids[@]}"; do rx_wait_pid "$i" 120; done
    local uids
    uids=$(jq -s -c '[.[] | select(.status == "success" and .output.uid == .output.ws
                       and (.limits.user == "\(.output.uid):\(.output.uid)")) | .output.uid]
                     | select(all(. >= '"$uid"' and . <= '"$((uid + 2))"')) | unique | length' "${outs[@]}")
    [[ $uids == 3 ]] || fail "want 3 distinct uids, got: $(cat "${outs[@]}")"
    for i in 1 2 3; do assert_no_container "$tid-$i"; done
}

@test "uid: a job holding all its inotify instances does not stop a concurrent job from opening one" {
    local tid hog one cid hog_pid hog_out i
    tid=$(rx_tid uid-inotify)
    # The hog opens all the instances it may, says so (/tmp/held), and holds
    # them until the test has run the other job (/tmp/release; at most 60 s).
    hog=$(cat <<'PY'
import ctypes, errno, json, os, time
libc = ctypes.CDLL(None, use_errno=True)
try:  # gVisor has no such file (and its own limits, per sandbox)
    limit = int(open("/proc/sys/fs/inotify/max_user_instances").read())
except OSError:
    limit = None
fds, err = [], None
while len(fds) < min(limit + 1 if limit else 401, 4000):
    fd = libc.inotify_init()
    if fd < 0:
        err = errno.errorcode.get(ctypes.get_errno())
        break
    fds.append(fd)
held_from = time.time()
open("/tmp/held", "w").close()
while not os.path.exists("/tmp/release") and time.time() - held_from < 60:
    time.sleep(0.05)
json.dump({"held": len(fds), "limit": limit, "error": err, "from": held_from, "to": time.time()},
          open("/workspace/output.json", "w"))
PY
)
    one=$(cat <<'PY'
import ctypes, errno, json, os, time
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init()
json.dump({"fd": fd, "error": errno.errorcode.get(ctypes.get_errno()) if fd < 0 else None,
           "at": time.time()}, open("/workspace/output.json", "w"))
PY
)
    rx_job_jq --arg id "$tid-hog" --arg s "$hog" '{task_id: $id, command: ["python3", "-c", $s],
        timeout: 120, pids_limit: 64}'
    rx_run_bg "$JOB"
    hog_pid=$RX_BG_PID hog_out=$RX_BG_OUT
    cid=$(rx_wait_running "$tid-hog" 60)
    # Until the hog holds its instances (a Python start under gVisor can
    # take seconds): at most 60 s.
    for ((i = 0; i < 300; i++)); do
        docker exec "$cid" test -e /tmp/held 2>/dev/null && break
        kill -0 "$hog_pid" 2>/dev/null || break
        sleep 0.2
    done
    docker exec "$cid" test -e /tmp/held ||
        fail "the hog did not open its instances within 60 s: $(cat "$hog_out" "$RX_BG_ERR")"
    rx_job_jq --arg id "$tid-one" --arg s "$one" '{task_id: $id, command: ["python3", "-c", $s]}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output.fd >= 0 and .output.error == null' 'the second job opened an inotify instance'
    local at
    at=$(rx_get .output.at)
    docker exec "$cid" touch /tmp/release
    rx_wait_pid "$hog_pid" 120
    jq -e --argjson at "$at" '.status == "success" and (.output.held >= 400 or .output.held == .output.limit)
        and .output.from <= $at and $at <= .output.to' \
        "$hog_out" >/dev/null || fail "the hog did not hold its instances while the other opened one (at $at): $(cat "$hog_out")"
    assert_no_container "$tid-hog"
    assert_no_container "$tid-one"
}

@test "uid: the policy's uid_range is obeyed; a range with every uid taken is an infra_error saying so" {
    local tid policy uid
    tid=$(rx_tid uid-range)
    uid=$((2000000 + RANDOM))
    policy=$BATS_TEST_TMPDIR/policy.json
    echo "{\"uid_range\": [$uid, $uid]}" >"$policy"
    RX_ARGS=(--policy "$policy")
    # A holds the uid until the test ends it (SIGTERM to its ralph-exec,
    # once B has been refused).
    rx_job_jq --arg id "$tid-a" '{task_id: $id, command: ["sleep", "60"], timeout: 90}'
    local -a args=()
    mapfile -d '' -t args < <(rx_sandbox_args --policy "$policy")
    "$RALPH_EXEC" "${args[@]}" "$JOB" >"$BATS_TEST_TMPDIR/a.out" 2>"$BATS_TEST_TMPDIR/a.err" </dev/null 3>&- &
    local apid=$!
    RX_BG_PIDS+=("$apid")
    RX_TASK_IDS+=("$tid-a")
    rx_wait_running "$tid-a" 30 >/dev/null
    rx_job_jq --arg id "$tid-b" '{task_id: $id, command: ["true"]}'
    rx_run "$JOB"
    rx_expect infra_error 125
    rx_check '.error | test("no free uid") and test("uid_range")' 'says why and names the setting'
    kill -TERM "$apid" || fail "the first job ended before the test stopped it: $(cat "$BATS_TEST_TMPDIR/a.out")"
    rx_wait_pid "$apid" 60
    # Interrupted (its status says so, exit 143): what matters is its uid.
    jq -e --arg u "$uid:$uid" '.limits.user == $u' "$BATS_TEST_TMPDIR/a.out" \
        >/dev/null || fail "the first job did not run as $uid: $(cat "$BATS_TEST_TMPDIR/a.out" "$BATS_TEST_TMPDIR/a.err")"
    # Once its container is gone, the uid is free again.
    rx_run "$JOB"
    rx_expect success 0
    rx_check --arg u "$uid:$uid" '.limits.user == $u' 'the same uid, free again'
    assert_no_container "$tid-a"
    assert_no_container "$tid-b"
}
