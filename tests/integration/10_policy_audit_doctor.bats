#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The operator's side: policy limits a job cannot exceed, the strict seccomp
# profile, gVisor, the audit log, and ralph-exec doctor.

load ../lib/libtest

setup_file() { require_engine; }
setup() {
    require_engine
    RX_ARGS=()
}
teardown() { rx_teardown; }

policy() {
    POLICY=$BATS_TEST_TMPDIR/policy.json
    printf '%s\n' "$1" >"$POLICY"
    RX_ARGS=(--policy "$POLICY")
}

@test "policy: a job asking for more than max_timeout is rejected naming the limit" {
    policy '{"max_timeout": 5}'
    local tid=$(rx_tid pol-timeout)
    rx_job_jq --arg id "$tid" '{task_id: $id, command: ["true"], timeout: 10}'
    rx_run "$JOB"
    rx_expect rejected 2
    rx_check '.error | test("`timeout`.*max_timeout")' 'the error names the field and the limit'
    assert_no_container "$tid"
}

@test "policy: a job that does not ask gets the policy's maximum, not the larger default" {
    policy '{"max_timeout": 5, "max_memory_limit": "64m", "max_pids_limit": 16}'
    local tid=$(rx_tid pol-default)
    rx_job_jq --arg id "$tid" '{task_id: $id, command: ["true"]}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.limits.timeout == 5 and .limits.memory_bytes == 67108864 and .limits.pids_limit == 16' \
        'the defaults were lowered to the policy'
}

@test "policy: asking for less is always allowed; more memory or cpu is rejected" {
    policy '{"max_memory_limit": "128m", "max_cpu_limit": 0.5}'
    local tid=$(rx_tid pol-less)
    rx_job_jq --arg id "$tid" '{task_id: $id, command: ["true"], memory_limit: "32m", cpu_limit: 0.25}'
    rx_run "$JOB"
    rx_expect success 0
    tid=$(rx_tid pol-mem)
    rx_job_jq --arg id "$tid" '{task_id: $id, command: ["true"], memory_limit: "256m"}'
    rx_run "$JOB"
    rx_expect rejected 2
    rx_check '.error | test("`memory_limit`.*max_memory_limit")'
    tid=$(rx_tid pol-cpu)
    rx_job_jq --arg id "$tid" '{task_id: $id, command: ["true"], cpu_limit: 1}'
    rx_run "$JOB"
    rx_expect rejected 2
    rx_check '.error | test("`cpu_limit`.*max_cpu_limit")'
}

@test "policy: allowed_images with a prefix; another image is rejected" {
    policy '{"allowed_images": ["ralph-sandbox:*"]}'
    local tid=$(rx_tid pol-img-ok)
    rx_job_jq --arg id "$tid" '{task_id: $id, command: ["true"]}'
    rx_run "$JOB"
    rx_expect success 0
    tid=$(rx_tid pol-img-no)
    rx_job_jq --arg id "$tid" '{task_id: $id, command: ["true"], runtime: "ralph-base:bookworm"}'
    rx_run "$JOB"
    rx_expect rejected 2
    rx_check '.error | test("allowed_images")'
    assert_no_container "$tid"
}

@test "policy: max_log_bytes and max_output_bytes replace the 1 MiB caps" {
    policy '{"max_log_bytes": 1000, "max_output_bytes": 100}'
    local tid=$(rx_tid pol-log)
    rx_job_jq --arg id "$tid" '{task_id: $id, command: ["sh", "-c", "head -c 5000 /dev/zero | tr \"\\\\0\" x; echo \"[1]\" > output.json"]}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check '(.stdout | length) == 1000 and .stdout_truncated and .stdout_bytes == 5000'
    tid=$(rx_tid pol-out)
    rx_job_jq --arg id "$tid" '{task_id: $id, command: ["sh", "-c", "printf \"\\\"%0200d\\\"\" 0 > output.json"]}'
    rx_run "$JOB"
    rx_expect result_invalid 5
    rx_check '.error | test("more than the 100")'
    # A code job: its result comes at the end of stdout, past the log cap,
    # and is held to the output cap all the same.
    tid=$(rx_tid pol-code)
    rx_job_jq --arg id "$tid" '{task_id: $id, code: "def calculate(i):\n    print(\"x\" * 4999)\n    return [1]\n"}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output == [1] and (.stdout | length) == 1000 and .stdout_truncated and .stdout_bytes == 5000' \
        'the output despite the log cap; stdout capped and counted without the result'
    tid=$(rx_tid pol-code-out)
    rx_job_jq --arg id "$tid" '{task_id: $id, code: "def calculate(i):\n    return \"0\" * 200\n"}'
    rx_run "$JOB"
    rx_expect result_invalid 5
    rx_check '.error | test("202 bytes, more than the 100")' 'the output cap holds for a code job'
}

@test "policy: allowed_sandboxes refuses gvisor; an invalid policy stops ralph-exec with exit 2" {
    policy '{"allowed_sandboxes": ["runc"]}'
    local tid=$(rx_tid pol-sb)
    rx_job_jq --arg id "$tid" '{task_id: $id, command: ["true"], sandbox: "gvisor"}'
    rx_run "$JOB"
    rx_expect rejected 2
    rx_check '.error | test("allowed_sandboxes")'
    local out rc=0
    printf '{"max_timeout": 5, "max_timout": 1}' >"$BATS_TEST_TMPDIR/bad.json"
    out=$("$RALPH_EXEC" --policy "$BATS_TEST_TMPDIR/bad.json" "$JOB" 2>&1) || rc=$?
    [[ $rc == 2 ]] || fail "unknown policy key: exit $rc, want 2: $out"
    [[ $out == *'unknown key `max_timout`'* ]] || fail "the key is not named: $out"
    rc=0
    out=$("$RALPH_EXEC" --policy /nonexistent/policy.json "$JOB" 2>&1) || rc=$?
    [[ $rc == 2 && $out == *"/nonexistent/policy.json"* ]] || fail "missing policy: exit $rc: $out"
    rc=0
    printf '{"seccomp": "paranoid"}' >"$BATS_TEST_TMPDIR/bad2.json"
    out=$("$RALPH_EXEC" --policy "$BATS_TEST_TMPDIR/bad2.json" "$JOB" 2>&1) || rc=$?
    [[ $rc == 2 && $out == *seccomp* ]] || fail "bad seccomp value: exit $rc: $out"
    # A result holds both streams escaped as JSON: the caps stop where it
    # would grow past what can be written (64 MiB).
    rc=0
    printf '{"max_log_bytes": "65m"}' >"$BATS_TEST_TMPDIR/bad3.json"
    out=$("$RALPH_EXEC" --policy "$BATS_TEST_TMPDIR/bad3.json" "$JOB" 2>&1) || rc=$?
    [[ $rc == 2 && $out == *max_log_bytes*"64 MiB"* ]] || fail "max_log_bytes past 64 MiB: exit $rc: $out"
}

@test "seccomp strict: numpy still runs; ptrace, personality, unshare and keyctl are refused" {
    policy '{"seccomp": "strict"}'
    local tid=$(rx_tid sc-strict) code
    code=$'import ctypes, os, numpy as np\nlibc = ctypes.CDLL(None, use_errno=True)\ndef sc(*a):\n    r = libc.syscall(*a)\n    return 0 if r >= 0 else ctypes.get_errno()\ndef calculate(inputs):\n    m = np.arange(16.0).reshape(4, 4)\n    return {"sum": float((m @ m).sum()), "ptrace": sc(101, 0, 0, 0, 0), "personality": sc(135, 0x0400000), "unshare": sc(272, 0x10000000), "keyctl": sc(250, 0, 0, 0, 0), "fork": os.waitpid(os.fork() or os._exit(0), 0)[1] if False else 0}\n'
    rx_job_jq --arg id "$tid" --arg code "$code" '{task_id: $id, code: $code}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.limits.seccomp == "strict"'
    rx_check '.output.sum == 3920' 'numpy works under the strict profile'
    rx_check '.output.ptrace == 1 and .output.personality == 1 and .output.unshare == 1 and .output.keyctl == 1' \
        'each call fails with EPERM'
}

@test "gvisor: a job runs under runsc, and a fork bomb meets its pids limit inside the sandbox" {
    local tid=$(rx_tid gv-ok) code
    rx_job_jq --arg id "$tid" '{task_id: $id, sandbox: "gvisor", command: ["sh", "-c", "dmesg 2>/dev/null | head -1; echo \"{\\\"ok\\\": true}\" > output.json"]}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.limits.sandbox == "gvisor" and .output.ok' 'ran under gVisor'
    rx_check '.stdout | test("gVisor")' 'the kernel is gVisor (its dmesg says so)'
    tid=$(rx_tid gv-fork)
    code=$'import os, time\ndef calculate(inputs):\n    n = 0\n    try:\n        while True:\n            if os.fork() == 0:\n                time.sleep(30)\n                os._exit(0)\n            n += 1\n    except OSError as e:\n        return {"forked": n, "errno": e.errno}\n'
    rx_job_jq --arg id "$tid" --arg code "$code" '{task_id: $id, sandbox: "gvisor", code: $code, memory_limit: "1g", pids_limit: 32}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output.errno == 11 and .output.forked < 32' 'fork fails with EAGAIN before 32 processes'
    assert_no_container "$tid"
}

@test "audit log: one line per job, rejected and failed included, never the job's data" {
    local audit=$BATS_TEST_TMPDIR/audit.jsonl secret="S3CR3T-$RANDOM"
    RX_ARGS=(--audit "$audit")
    local t1=$(rx_tid au-ok) t2=$(rx_tid au-rej) t3=$(rx_tid au-infra)
    rx_job_jq --arg id "$t1" --arg s "$secret" '{task_id: $id, code: ("def calculate(i):\n    print(\"" + $s + "\")\n    return i"), inputs: {key: $s}}'
    rx_run "$JOB"
    rx_expect success 0
    rx_job_jq --arg id "$t2" --arg s "$secret" '{task_id: $id, command: ["true"], bogus: $s}'
    rx_run "$JOB"
    rx_expect rejected 2
    rx_job_jq --arg id "$t3" '{task_id: $id, command: ["true"], runtime: "no-such-image:1"}'
    rx_run "$JOB"
    rx_expect infra_error 125
    [[ $(wc -l <"$audit") == 3 ]] || fail "want 3 audit lines, got: $(cat "$audit")"
    jq -e -s --arg a "$t1" --arg b "$t2" --arg c "$t3" '
        [.[0].task_id, .[1].task_id, .[2].task_id] == [$a, $b, $c]
        and [.[].status] == ["success", "rejected", "infra_error"]
        and .[0].hardening.cap_drop == ["ALL"] and .[0].hardening.read_only_rootfs
        and .[0].hardening.network == "none"
        and .[0].hardening.user == .[0].hardening.limits.user
        and (.[0].hardening.user | split(":")[0] | tonumber) > 65535
        and .[0].hardening.limits.pids_limit == 64 and (.[0].image_id | startswith("sha256:"))
        and .[0].runtime == "runc" and (.[0].container_id | length) == 64
        and .[2].infra_error != null' "$audit" >/dev/null ||
        fail "audit lines are not as expected:" "$(cat "$audit")"
    ! grep -q "$secret" "$audit" || fail "the audit log holds the job's data: $(cat "$audit")"
}

@test "doctor: every check passes here, with JSON for machines, and the canary is gone" {
    local out rc=0
    out=$("$RALPH_EXEC" doctor 2>&1) || rc=$?
    [[ $rc == 0 ]] || fail "doctor failed (exit $rc):" "$out"
    [[ $out == *"doctor: all required checks passed" ]] || fail "no closing verdict in:" "$out"
    out=$("$RALPH_EXEC" doctor --json) || fail "doctor --json failed: $out"
    jq -e '.ok == true and (.checks | length) >= 10 and all(.checks[]; .status == "ok")' <<<"$out" \
        >/dev/null || fail "unexpected JSON: $out"
    # Each check by its exact name (a prefix of the text would take "engine
    # socket" for "engine").
    local want missing
    want='["engine socket", "engine", "cgroups", "seccomp", "runtime runc", "default image",
        "canary job", "job user", "workspace bound", "no-new-privileges", "capabilities",
        "canary cleaned up"]'
    missing=$(jq -c --argjson want "$want" '$want - [.checks[] | select(.status == "ok") | .name]' <<<"$out")
    [[ $missing == '[]' ]] || fail "FAILED: no passing check named $missing in:" "$out"
    [[ -z $(docker ps -aq --filter label=ralph.task_id=doctor-canary) ]] || fail "canary left behind"
}

@test "doctor: names the engine it found and what is known to differ there" {
    local out api want
    out=$("$RALPH_EXEC" doctor --json) || fail "doctor --json failed: $out"
    api=$(docker version --format '{{.Server.APIVersion}}')
    case $api in
    1.41) want="Docker 20.10" ;;
    1.4[4-9]) want="Docker 25 or newer" ;;
    *) fail "no expectation for an engine with API $api" ;;
    esac
    jq -e --arg v "$(docker version --format '{{.Server.Version}}')" \
        '.checks[] | select(.name == "engine") | .detail | startswith("Docker " + $v)' \
        <<<"$out" >/dev/null || fail "the engine check does not name Docker $(docker version --format '{{.Server.Version}}'): $out"
    jq -e --arg w "$want" '.checks[] | select(.name == "engine differences") | .detail | startswith($w)' \
        <<<"$out" >/dev/null || fail "want the differences of $want (API $api): $out"
}

@test "doctor: a missing socket fails with a remedy and exit 1" {
    local out rc=0
    out=$(DOCKER_HOST=unix:///nonexistent/docker.sock "$RALPH_EXEC" doctor 2>&1) || rc=$?
    [[ $rc == 1 ]] || fail "want exit 1, got $rc: $out"
    [[ $out == *"FAIL  engine socket"*"no socket at /nonexistent/docker.sock"*remedy:* ]] ||
        fail "no clear failure and remedy in:" "$out"
}

@test "doctor: a socket the user may not open is told apart from a missing one" {
    command -v setpriv >/dev/null || fail "setpriv (util-linux) is needed"
    [[ $(id -u) == 0 ]] || skip "needs root to drop to uid 65534"
    local sock out rc=0
    sock=$(rx_socket)
    [[ $(stat -c %a "$sock") != *6 && $(stat -c %a "$sock") != *7 ]] ||
        skip "the engine socket is world-writable here"
    out=$(setpriv --reuid 65534 --regid 65534 --clear-groups "$RALPH_EXEC" doctor 2>&1) || rc=$?
    [[ $rc == 1 ]] || fail "want exit 1, got $rc: $out"
    [[ $out == *"FAIL  engine socket"*"permission denied on $sock"*remedy:* ]] ||
        fail "no permission-denied failure with a remedy in:" "$out"
}
