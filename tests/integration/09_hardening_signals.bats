#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The container as the engine sees it while a job runs, and what an
# interrupted ralph-exec leaves behind (nothing).

load ../lib/libtest

setup_file() { require_engine; }
setup() { require_engine; }
teardown() { rx_teardown; }

# A job that runs long enough to be inspected and interrupted.
long_job() {
    rx_job_jq --arg id "$1" '{task_id: $id, command: ["sleep", "20"], timeout: 30,
        memory_limit: "96m", cpu_limit: 0.5, pids_limit: 20, file_size_limit: "8m"}'
}

# ins_check FILTER WHAT: a jq check on $INSPECT (docker inspect of the
# running container), with $tid and $now (epoch seconds) bound.  Failures
# are collected in INS_FAILED, so one run reports every wrong setting.
INS_FAILED=()
ins_check() {
    if ! jq -e --arg tid "$TID" --argjson now "${NOW:-0}" "$1" >/dev/null 2>&1 <<<"$INSPECT"; then
        INS_FAILED+=("$2: expected jq '$1'")
    fi
}

# interrupt SIGNAL WANT_EXIT VOLUME: send the signal to the background
# ralph-exec, and check it exits promptly with WANT_EXIT, prints an
# infra_error result and removes the container and its volume.
interrupt() {
    local sig=$1 want=$2 volume=$3 t0 t1 ms
    t0=$(date +%s%N)
    kill -"$sig" "$RX_BG_PID"
    rx_wait_pid "$RX_BG_PID" 15
    t1=$(date +%s%N)
    ms=$(((t1 - t0) / 1000000))
    RX_OUT=$(cat "$RX_BG_OUT")
    RX_ERR=$(cat "$RX_BG_ERR")
    [[ $(wc -l <"$RX_BG_OUT") == 1 ]] || { rx_dump; fail "want one result line after SIG$sig"; }
    rx_expect infra_error "$want"
    ((ms < 15000)) || fail "ralph-exec took $ms ms to stop after SIG$sig (bound: 15000)"
    rx_check '.error | test("interrupted|signal")' "the error says it was interrupted"
    rx_check '.exit_code == null and .output == null'
    rx_check --arg id "$TID" '.task_id == $id and (.container_id | test("^[0-9a-f]{64}$"))'
    rx_check 'has("removal_error") | not' 'the removal succeeded'
    assert_no_container "$TID"
    [[ -z $volume ]] || assert_no_volume "$volume"
}

@test "hardening: every setting is on the running container; SIGINT -> 130, all removed" {
    TID=$(rx_tid harden)
    long_job "$TID"
    rx_run_bg "$JOB"
    local id volume
    id=$(rx_wait_running "$TID" 20)
    INSPECT=$(docker inspect "$id" | jq '.[0]')
    NOW=$(date +%s)

    ins_check '.State.Running == true' 'running'
    ins_check '.HostConfig.ReadonlyRootfs == true' 'read-only root filesystem'
    local podman=0
    rx_on_podman && podman=1
    if ((podman)); then
        # Podman echoes CapDrop ALL as the list of its default caps, and
        # says which capabilities the process really has.
        ins_check '(.EffectiveCaps // []) == [] and (.BoundingCaps // []) == []' \
            'no effective or bounding capability (Podman)'
    else
        ins_check '.HostConfig.CapDrop == ["ALL"]' 'CapDrop ALL'
    fi
    ins_check '(.HostConfig.CapAdd // []) == []' 'no capability added'
    ins_check '.HostConfig.SecurityOpt | index("no-new-privileges")' 'no-new-privileges'
    ins_check '.HostConfig.Privileged == false' 'not privileged'
    ins_check '.HostConfig.NetworkMode == "none"' 'network none'
    if ((podman)); then
        ins_check '(.NetworkSettings.Networks // {}) == {}' 'attached to no network (Podman)'
    else
        ins_check '.Config.NetworkDisabled == true' 'network disabled (no network sandbox at all)'
        ins_check '(.NetworkSettings.Networks // {}) | keys == []' 'attached to no network'
        ins_check '(.NetworkSettings.SandboxKey // "") == ""' 'no network sandbox of the engine'
    fi
    ins_check '.Config.User == "65534:65534"' \
        'the holder runs as 65534 (the job itself is exec'"'"'d as its own uid: 04, 14)'
    ins_check '.HostConfig.Memory == 100663296' 'Memory = 96m'
    ins_check '.HostConfig.MemorySwap == .HostConfig.Memory' 'MemorySwap = Memory (no swap)'
    ins_check '.HostConfig.NanoCpus == 500000000' 'NanoCpus = 0.5 CPU'
    if [[ $(jq -r '.HostConfig.Runtime' <<<"$INSPECT") == runsc ]]; then
        # gVisor: the job's pids_limit is enforced inside the sandbox as
        # RLIMIT_NPROC (ulimit nproc = 20); the host pids cgroup keeps a
        # larger but finite bound for the sentry's own threads and ptrace
        # stubs (pids_limit x 8 + 256 today, see container_spec.h), so a job
        # at its limit meets EAGAIN instead of killing its sandbox.
        ins_check '.HostConfig.PidsLimit > 20 and .HostConfig.PidsLimit <= 1024' \
            'PidsLimit (gVisor: a host bound above the job limit)'
        ins_check '.HostConfig.Ulimits | map(.Name |= (ascii_downcase | ltrimstr("rlimit_"))) | map(select(.Name == "nproc"))[0] | .Soft == 20 and .Hard == 20' \
            'ulimit nproc = pids_limit (gVisor)'
    else
        ins_check '.HostConfig.PidsLimit == 20' 'PidsLimit'
    fi
    if [[ ${RALPH_TEST_SANDBOX:-} == gvisor ]]; then
        ins_check '.HostConfig.Runtime == "runsc"' 'RALPH_TEST_SANDBOX=gvisor: runtime runsc'
    fi
    ins_check '.HostConfig.Ulimits | map(.Name |= (ascii_downcase | ltrimstr("rlimit_"))) | map(select(.Name == "nofile"))[0] | .Soft > 0 and .Hard == .Soft' 'ulimit nofile'
    ins_check '.HostConfig.Ulimits | map(.Name |= (ascii_downcase | ltrimstr("rlimit_"))) | map(select(.Name == "fsize"))[0] | .Soft == 8388608 and .Hard == 8388608' 'ulimit fsize = file_size_limit'
    ins_check '.HostConfig.Ulimits | map(.Name |= (ascii_downcase | ltrimstr("rlimit_"))) | map(select(.Name == "core"))[0] | .Soft == 0 and .Hard == 0' 'ulimit core 0'
    ins_check '.HostConfig.Tmpfs["/tmp"] | split(",") | index("noexec") and index("nosuid") and index("nodev") and any(.[]; test("^size=[0-9]+[kmg]?$"))' \
        'tmpfs /tmp noexec,nosuid,nodev with a size'
    if ((podman)); then
        # ralph-exec declares /run and /var/tmp read-only itself, or Podman
        # would mount writable tmpfs there (04 writes to them: EROFS).
        ins_check '.HostConfig.Tmpfs | keys == ["/run", "/tmp", "/var/tmp", "/workspace"]' 'no other tmpfs (Podman)'
        # (its size is checked from inside the job: 14_workspace_uid.bats)
        ins_check '.HostConfig.Tmpfs | has("/workspace")' 'the workspace a tmpfs (Podman)'
        ins_check '[.HostConfig.Tmpfs["/run", "/var/tmp"] | split(",") | index("ro") and index("noexec")] == [true, true]' \
            '/run and /var/tmp read-only (Podman)'
        # Podman echoes IpcMode "shareable" whatever was asked and PidMode
        # "private": the namespaces themselves are checked instead.
        local cpid
        cpid=$(jq -r '.State.Pid' <<<"$INSPECT")
        for ns in ipc pid net; do
            if [[ $(readlink "/proc/$cpid/ns/$ns") == "$(readlink /proc/self/ns/$ns)" || -z $(readlink "/proc/$cpid/ns/$ns") ]]; then
                INS_FAILED+=("own $ns namespace (Podman): the job's is not its own")
            fi
        done
    else
        ins_check '.HostConfig.Tmpfs | keys == ["/tmp"]' 'no other tmpfs'
        ins_check '.HostConfig.IpcMode == "private"' 'private IPC'
        ins_check '.HostConfig.PidMode == ""' 'own pid namespace'
    fi
    ins_check '.HostConfig.ShmSize > 0 and .HostConfig.ShmSize <= 67108864' 'a bounded /dev/shm'
    ins_check '.HostConfig.Init == true' 'init process'
    ins_check '.HostConfig.AutoRemove == false' 'AutoRemove false (ralph-exec removes it)'
    ins_check '(.HostConfig.Binds // []) == []' 'no bind mounts'
    ins_check '(.HostConfig.Devices // []) == []' 'no devices'
    if ((podman)); then
        ins_check '[.Mounts[] | select(.Type != "tmpfs")] == []' 'no volume: the workspace is a tmpfs (Podman)'
    else
    ins_check '.Mounts | length == 1' 'exactly one mount'
    ins_check '.Mounts[0] | .Type == "volume" and .Destination == "/workspace" and .RW == true and (.Name | test("^[0-9a-f]{64}$"))' \
        'an anonymous volume at /workspace'
    fi
    if ((!podman)); then
        # (Podman does not echo HostConfig.Mounts; the anonymous name above
        # shows the volume was made for this container.)
        ins_check '.HostConfig.Mounts | length == 1 and (.[0].Source // "") == "" and .[0].Target == "/workspace"' \
            'the mount was asked for without a source'
    fi
    ins_check '.HostConfig.LogConfig.Type == "none"' 'no log driver'
    ins_check '.HostConfig.RestartPolicy.Name == "no" or .HostConfig.RestartPolicy.Name == ""' 'no restart'
    ins_check '.Config.Labels["ralph.task_id"] == $tid' 'label ralph.task_id'
    ins_check '.Config.Labels["ralph.deadline"] | test("^[0-9]+$") and (tonumber > $now)' \
        'label ralph.deadline in the future'
    ins_check '.Config.Labels["ralph.owner"] | type == "string" and length > 0' 'label ralph.owner'

    volume=
    if ((!podman)); then
        volume=$(jq -r '.Mounts[0].Name' <<<"$INSPECT")
        [[ -n $volume && $volume != null ]] || INS_FAILED+=("no volume name in inspect")
        # The volume is a tmpfs of the local driver, workspace_limit bytes.
        docker volume inspect "$volume" 2>/dev/null |
            jq -e '.[0].Options | .type == "tmpfs" and (.o | split(",") | index("size=50331648") and index("mode=0700"))' >/dev/null ||
            INS_FAILED+=("the volume $volume is not a tmpfs of workspace_limit bytes while running")
    fi

    interrupt INT 130 "$volume"
    if ((${#INS_FAILED[@]})); then
        echo "docker inspect of the running container:" >&2
        jq '{Config: (.Config | {User, Labels}), HostConfig, Mounts}' <<<"$INSPECT" >&2
        fail "FAILED settings:" "${INS_FAILED[@]}"
    fi
}

@test "signals: SIGTERM mid-job -> exit 143, infra_error, container and volume removed" {
    TID=$(rx_tid sigterm)
    long_job "$TID"
    rx_run_bg "$JOB"
    local id volume
    id=$(rx_wait_running "$TID" 20)
    volume=$(docker inspect -f '{{range .Mounts}}{{.Name}}{{end}}' "$id")
    rx_on_podman || [[ $volume =~ ^[0-9a-f]{64}$ ]] || fail "no anonymous volume on the container: '$volume'"
    interrupt TERM 143 "$volume"
}
