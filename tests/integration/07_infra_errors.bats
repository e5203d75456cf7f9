#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Engine-side failures: infra_error, exit 125, with a message a user can act on.

load ../lib/libtest

setup_file() { require_engine; }
setup() { require_engine; }
teardown() { rx_teardown; }

@test "infra: an unknown image -> infra_error, exit 125, error names the image" {
    local tid img
    tid=$(rx_tid noimage)
    img="ralph-no-such-image-$$:v$RANDOM"
    rx_job_jq --arg id "$tid" --arg img "$img" '{task_id: $id, runtime: $img, command: ["true"]}'
    rx_run "$JOB"
    rx_expect infra_error 125
    rx_check --arg img "$img" '.error | contains($img)' 'error names the image'
    rx_check --arg img "$img" '.image == $img'
    rx_check '.exit_code == null and .output == null'
    # ralph-exec never pulls: the image is still absent.
    ! docker image inspect "$img" >/dev/null 2>&1 || fail "the image $img was pulled"
    assert_no_container "$tid"
}

@test "infra: an unreachable engine socket -> infra_error, exit 125, error names the socket" {
    local tid
    tid=$(rx_tid nosock)
    rx_job_jq --arg id "$tid" '{task_id: $id, command: ["true"]}'
    rx_run DOCKER_HOST=unix:///nonexistent/docker.sock "$JOB"
    rx_expect infra_error 125
    rx_check '.error | contains("/nonexistent/docker.sock")' 'error names the socket path'
    rx_check --arg id "$tid" '.task_id == $id and .container_id == null'
    assert_no_container "$tid"
}

@test "infra: DOCKER_HOST=tcp://... is refused before any connection" {
    local tid
    tid=$(rx_tid tcp)
    rx_job_jq --arg id "$tid" '{task_id: $id, command: ["true"]}'
    if command -v strace >/dev/null && strace -f -qq -o /dev/null true 2>/dev/null; then
        # Trace ralph-exec: it must run (an execve) and make no connect(2) or
        # send at all.
        local trace=$BATS_TEST_TMPDIR/net.trace real=$RALPH_EXEC
        RALPH_EXEC=$BATS_TEST_TMPDIR/traced-ralph-exec
        printf '#!/bin/sh\nexec strace -f -qq -e trace=execve,connect,sendto,sendmsg -o %q %q "$@"\n' \
            "$trace" "$real" >"$RALPH_EXEC"
        chmod +x "$RALPH_EXEC"
        rx_run DOCKER_HOST=tcp://1.2.3.4:2375 "$JOB"
        RALPH_EXEC=$real
        grep -q 'execve(.*ralph-exec' "$trace" || fail "the trace did not record ralph-exec: $(cat "$trace")"
        if grep -E 'connect|sendto|sendmsg' "$trace"; then
            fail "ralph-exec touched the network for DOCKER_HOST=tcp://1.2.3.4:2375 (see above)"
        fi
    elif unshare -rn true 2>/dev/null; then
        # No tracer: run it where no packet can leave.
        local real=$RALPH_EXEC
        RALPH_EXEC=$BATS_TEST_TMPDIR/isolated-ralph-exec
        printf '#!/bin/sh\nexec unshare -rn %q "$@"\n' "$real" >"$RALPH_EXEC"
        chmod +x "$RALPH_EXEC"
        rx_run DOCKER_HOST=tcp://1.2.3.4:2375 "$JOB"
        RALPH_EXEC=$real
    else
        # The scheme is checked before any socket is made.
        rx_run DOCKER_HOST=tcp://1.2.3.4:2375 "$JOB"
    fi
    rx_expect infra_error 125
    rx_check '.error | contains("unix://")' 'error says only unix:// is supported'
    rx_check '.error | contains("tcp://1.2.3.4:2375")' 'error quotes the refused DOCKER_HOST'
    rx_check '.engine == null and .container_id == null' 'no engine was contacted'
    ((RX_MS < 5000)) || fail "refusing took $RX_MS ms: did it try to connect?"
    assert_no_container "$tid"
}

@test "engine: the result names the engine's kind, as the engine describes itself" {
    local tid
    tid=$(rx_tid kind)
    rx_job_jq --arg id "$tid" '{task_id: $id, command: ["true"]}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check --arg k "$(rx_engine_kind)" '.engine.kind == $k' 'engine.kind matches /version'
    assert_no_container "$tid"
}

@test "podman: the strict seccomp policy is refused, not run under Podman's default profile" {
    rx_on_podman || skip "Podman only (Docker takes the inline profile: 30_seccomp_strict.bats)"
    local tid pol=$BATS_TEST_TMPDIR/strict.json
    tid=$(rx_tid pm-strict)
    printf '{"seccomp": "strict"}\n' >"$pol"
    rx_job_jq --arg id "$tid" '{task_id: $id, command: ["true"]}'
    RX_ARGS=(--policy "$pol")
    rx_run "$JOB"
    rx_expect infra_error 125
    rx_check '.error | test("seccomp") and test("Podman")' 'the error says why'
    rx_check '.container_id == null' 'nothing was created'
    rx_check '.limits.seccomp == "strict"' 'the limits show what was asked'
    assert_no_container "$tid"
}

@test "podman: a gVisor job is refused, not run under runc" {
    rx_on_podman || skip "Podman only (Docker runs gVisor jobs)"
    local tid
    tid=$(rx_tid pm-gvisor)
    rx_job_jq --arg id "$tid" '{task_id: $id, sandbox: "gvisor", command: ["true"]}'
    rx_run "$JOB"
    rx_expect infra_error 125
    rx_check '.error | test("gvisor") and test("Podman")' 'the error says why'
    rx_check '.container_id == null' 'nothing was created'
    assert_no_container "$tid"
}
