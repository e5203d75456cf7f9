#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# What a job can reach: no network, a read-only system, no privileges.
# These jobs never connect to anything but 127.0.0.1.

load ../lib/libtest

setup_file() { require_engine; }
setup() { require_engine; }
teardown() { rx_teardown; }

@test "network: only lo, no routes, loopback connect refused (no other address tried)" {
    local tid code
    tid=$(rx_tid net)
    code=$(cat <<'PY'
import errno, os, socket

def calculate(inputs):
    # The interfaces as the kernel (or gVisor's netstack) lists them: runsc
    # 2024-07 under --network=none has no /sys/class/net at all.
    ifaces = sorted(name for _, name in socket.if_nameindex())
    with open("/proc/net/dev") as f:
        devs = sorted(l.split(":")[0].strip() for l in f.read().splitlines()[2:] if ":" in l)
    with open("/proc/net/route") as f:
        routes = [l for l in f.read().splitlines()[1:] if l.strip()]
    with open("/proc/net/ipv6_route") as f:
        routes6 = [l for l in f.read().splitlines() if l.strip() and not l.split()[-1] == "lo"]
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect(("127.0.0.1", 9))     # loopback only, nothing listens there
        err = 0
    except OSError as e:
        err = e.errno
    finally:
        s.close()
    return {"ifaces": ifaces, "devs": devs, "routes": routes, "routes6": routes6, "connect_errno": err,
            "ECONNREFUSED": errno.ECONNREFUSED, "netns": os.readlink("/proc/self/ns/net")}
PY
)
    rx_job_jq --arg id "$tid" --arg code "$code" '{task_id: $id, code: $code, timeout: 20}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output.ifaces == ["lo"] and .output.devs == ["lo"]' 'lo is the only interface'
    rx_check '.output.routes == []' '/proc/net/route has no routes'
    rx_check '.output.routes6 == []' 'no IPv6 route off lo'
    rx_check '.output.connect_errno == .output.ECONNREFUSED and .output.connect_errno == 111' \
        'connect to a closed loopback port is refused'
    rx_check '.limits.network == "none"'
    rx_check --arg host "$(readlink /proc/self/ns/net)" '.output.netns | startswith("net:[") and . != $host' \
        'a network namespace of its own, not the host'"'"'s'
    assert_no_container "$tid"
}

@test "filesystem: read-only outside /workspace and /tmp; /tmp noexec; a uid of its own, no capabilities" {
    local tid code
    tid=$(rx_tid fs)
    code=$(cat <<'PY'
import errno, os, shutil, subprocess

def try_write(path):
    try:
        with open(path, "w") as f:
            f.write("x")
        os.unlink(path)
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))

def status_field(name):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split()[1]

def calculate(inputs):
    r = {"writes": {d: try_write(os.path.join(d, "ralph-probe")) for d in
                    ["/", "/etc", "/home", "/var", "/usr", "/run", "/var/tmp",
                     "/workspace", "/tmp"]}}
    try:
        os.mkdir("/ralph-probe-dir")
        r["mkdir_root"] = "ok"
    except OSError as e:
        r["mkdir_root"] = errno.errorcode.get(e.errno)
    shutil.copy("/bin/true", "/tmp/true")
    os.chmod("/tmp/true", 0o755)
    try:
        subprocess.run(["/tmp/true"], check=True)
        r["exec_tmp"] = "ran"
    except PermissionError as e:
        r["exec_tmp"] = errno.errorcode.get(e.errno)
    # The same binary copied to the workspace runs: the refusal is noexec.
    shutil.copy("/bin/true", "/workspace/true")
    os.chmod("/workspace/true", 0o755)
    r["exec_workspace"] = subprocess.run(["/workspace/true"]).returncode
    r["uid"], r["gid"], r["euid"] = os.getuid(), os.getgid(), os.geteuid()
    r["groups"] = os.getgroups()
    for k in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"]:
        r[k] = status_field(k)
    # The same flag asked of the kernel (prctl PR_GET_NO_NEW_PRIVS), which
    # also answers where /proc/self/status has no NoNewPrivs line (gVisor).
    import ctypes
    r["nnp_prctl"] = ctypes.CDLL(None).prctl(39, 0, 0, 0, 0)
    with open("/proc/self/mounts") as f:
        r["tmp_opts"] = [l.split()[3] for l in f if l.split()[1] == "/tmp"]
    # Whether the mount each directory lies on is read-only.
    r["ro"] = {d: mount_ro(d) for d in ["/", "/etc", "/home", "/var", "/usr", "/run", "/var/tmp"]}
    return r
PY
)
    rx_job_jq --arg id "$tid" --arg code "$RX_PY_MOUNT_RO$code" '{task_id: $id, code: $code, timeout: 20}'
    rx_run "$JOB"
    rx_expect success 0
    local sandbox
    sandbox=$(rx_get '.limits.sandbox // "runc"')
    # A write outside is refused whichever check comes first: the mount's
    # read-only flag (EROFS), or the permissions of these root-owned
    # directories (EACCES: gVisor checks them first when a file is created).
    rx_check '.output.writes | all(."/", ."/etc", ."/home", ."/var", ."/usr", ."/run", ."/var/tmp"; . == "EROFS" or . == "EACCES")' \
        'writes outside fail'
    rx_check '.output.mkdir_root == "EROFS" or .output.mkdir_root == "EACCES"' 'mkdir on / fails'
    # Under the permissions, each of them is on a read-only mount: /run and
    # /var/tmp too, where Podman mounts writable tmpfs on a read-only rootfs
    # unless ralph-exec declares them read-only (root's, so the job's write
    # would still be refused there: EACCES; the mount flag tells).
    rx_check '.output.ro | length == 7 and all(.[]; . == true)' \
        '/, /etc, /home, /var, /usr, /run and /var/tmp are on read-only mounts'
    if [[ $sandbox != gvisor ]]; then
        # The engine's default seccomp profile (Docker's or Podman's) is on
        # the job: mode 2, filtering.
        rx_check '.output.Seccomp == "2"' 'a seccomp filter is applied (Seccomp: 2)'
    fi
    rx_check '.output.writes | ."/workspace" == "ok" and ."/tmp" == "ok"' \
        '/workspace and /tmp are writable'
    rx_check '.output.exec_tmp == "EACCES"' 'a binary copied to /tmp cannot be executed'
    rx_check '.output.exec_workspace == 0' '(the same binary runs from the workspace)'
    if [[ $sandbox == gvisor ]]; then
        # runsc (2022-12) mounts the tmpfs with noexec only: its mount table
        # shows "rw,noexec,size=..." and nodev is indeed not enforced (a
        # device node made on /tmp inside a gVisor user namespace opens).
        # noexec is enforced (exec_tmp above).  nosuid is moot here (no
        # setuid files, no_new_privs); the missing nodev reaches only
        # gVisor's own emulated devices, never the host's.  Reported with
        # 11_attacks.bats.
        rx_check '.output.tmp_opts | length == 1 and (.[0] | split(",") | index("noexec"))' \
            '/tmp is mounted noexec (gVisor)'
    else
        rx_check '.output.tmp_opts | length == 1 and (.[0] | split(",") | index("noexec") and index("nosuid") and index("nodev"))' \
            '/tmp is mounted noexec,nosuid,nodev'
    fi
    rx_check '.output.uid == juid and .output.gid == juid and .output.euid == juid and juid != 0' \
        'uid and gid its own, never 0'
    rx_check '.output.groups == [] or .output.groups == [juid]' 'no supplementary groups'
    rx_check '.output.CapEff == "0000000000000000"' 'CapEff is 0'
    rx_check '.output.CapBnd == "0000000000000000"' 'the bounding set is empty (CapDrop ALL)'
    rx_check '.output.nnp_prctl == 1' 'no_new_privs is set (prctl PR_GET_NO_NEW_PRIVS)'
    if [[ $sandbox == gvisor ]]; then
        # gVisor's /proc/self/status has no CapAmb and no NoNewPrivs lines.
        # No ambient capability can exist (ambient is a subset of permitted
        # and inheritable, both 0 here); no_new_privs is checked by prctl.
        rx_check '.output.CapPrm == "0000000000000000" and .output.CapInh == "0000000000000000"
                  and (.output.CapAmb == null or .output.CapAmb == "0000000000000000")' \
            'no permitted/inheritable/ambient caps'
        rx_check '.output.NoNewPrivs == null or .output.NoNewPrivs == "1"' 'NoNewPrivs is 1 (when shown)'
    else
        rx_check '.output.CapPrm == "0000000000000000" and .output.CapInh == "0000000000000000"
                  and .output.CapAmb == "0000000000000000"' 'no permitted/inheritable/ambient caps'
        rx_check '.output.NoNewPrivs == "1"' 'NoNewPrivs is 1'
    fi
    assert_no_container "$tid"
}

@test "filesystem: a write past file_size_limit fails with EFBIG" {
    local tid code
    tid=$(rx_tid fsize)
    code=$(cat <<'PY'
import errno

def calculate(inputs):
    try:
        with open("/workspace/big", "wb") as f:
            f.write(b"\0" * (2 << 20))
        return "wrote"
    except OSError as e:
        return errno.errorcode.get(e.errno)
PY
)
    rx_job_jq --arg id "$tid" --arg code "$code" \
        '{task_id: $id, code: $code, file_size_limit: "1m", timeout: 20}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output == "EFBIG"' 'the file size limit holds'
    rx_check '.limits.file_size_bytes == 1048576'
    assert_no_container "$tid"
}
