#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Attacks: what a hostile job tries, what it observes from inside, and that
# the host and the engine are unharmed afterwards (the engine answers, the
# job's container and its workspace volume are gone).  Each case is one job
# (two where the attack needs two).  Cases already covered by 01-10 are not
# repeated here (memory bomb, fork bomb, giant file, symlink to /etc/passwd
# as output, flooding stdout, loopback connect).
#
# RALPH_TEST_SANDBOX=gvisor runs every job under runsc; where gVisor
# legitimately behaves differently, the test branches on the result's
# .limits.sandbox and says why in a comment.
#
# Nothing here connects to, or sends to, any address but 127.0.0.1, and no
# job writes to a kernel file: writability is probed by open(O_WRONLY) only.

load ../lib/libtest

setup_file() { require_engine; }
setup() {
    require_engine
    # The engine's volume mount events of this test, streamed to a file: they
    # name the workspace volume of each job's container, which is gone by the
    # time the result is back.  (A one-shot `docker events --since` would
    # miss them: the engine keeps only its last 256 events, and other jobs on
    # the same engine churn through that in seconds.)  --since replays what
    # happened between now and the subscription.  rx_teardown stops it.
    ATK_EVENTS=$BATS_TEST_TMPDIR/volume-events
    docker events --since "$(date +%s)" --filter type=volume --filter event=mount \
        --format '{{.Actor.ID}} {{index .Actor.Attributes "container"}}' >"$ATK_EVENTS" 2>/dev/null &
    RX_BG_PIDS+=("$!")
}
teardown() { rx_teardown; }

# ---- helpers --------------------------------------------------------------

# atk_py ID SCRIPT [JSON]: a command job `python3 -c SCRIPT` (timeout 20),
# with the keys of JSON merged in; sets JOB.
atk_py() {
    rx_job_jq --arg id "$1" --arg s "$2" --argjson x "${3:-"{}"}" \
        '{task_id: $id, command: ["python3", "-c", $s], timeout: 20} + $x'
}

# The sandbox the last job ran in (runc or gvisor).
atk_sandbox() {
    rx_get '.limits.sandbox // "runc"'
}

# The workspace volume(s) the engine mounted for container CID during this
# test (from the event stream started in setup, which may lag: looked at for
# up to 10 s).
atk_volumes_of() {
    local i vols
    for ((i = 0; i < 100; i++)); do
        vols=$(awk -v c="$1" '$2 == c { print $1 }' "$ATK_EVENTS" | sort -u)
        [[ -n $vols ]] && break
        sleep 0.1
    done
    printf '%s' "$vols"
}

# atk_unharmed TID: after the job of TID, whose result is RX_OUT: the engine
# still answers, the container is gone and was removed without error, its
# workspace volume is gone, and (RALPH_TEST_SANDBOX=gvisor) it ran under
# gVisor.
atk_unharmed() {
    local tid=$1 cid vols v pong
    pong=$(curl -s --max-time 5 --unix-socket "$(rx_socket)" http://localhost/_ping) || pong=
    [[ $pong == OK ]] || fail "the engine no longer answers /_ping after task $tid"
    assert_no_container "$tid"
    rx_check 'has("removal_error") | not' 'the container was removed without error'
    cid=$(rx_get '.container_id // empty')
    if [[ -n $cid ]]; then
        vols=$(atk_volumes_of "$cid")
        [[ -n $vols ]] || fail "the engine reported no workspace volume mounted for $cid"
        for v in $vols; do
            assert_no_volume "$v"
        done
    fi
    if [[ ${RALPH_TEST_SANDBOX:-} == gvisor ]]; then
        rx_check '.limits.sandbox == "gvisor"' 'RALPH_TEST_SANDBOX=gvisor: the job ran under gVisor'
    fi
}

# ---- time ------------------------------------------------------------------

@test "attack: a CPU spin that ignores SIGTERM ends as timeout within seconds of it" {
    local tid
    tid=$(rx_tid atk-spin)
    rx_job_jq --arg id "$tid" '{task_id: $id, timeout: 3,
        command: ["sh", "-c", "trap \"\" TERM INT HUP; echo spinning; while :; do :; done"]}'
    rx_run "$JOB"
    rx_expect timeout 3
    rx_check '.exit_code == null and .output == null'
    rx_check '.stdout == "spinning\n"' 'the spin started'
    rx_check '.timings_ms.run >= 2900 and .timings_ms.run < 10000' \
        'it had its 3 s and was killed less than 3 s after the deadline'
    ((RX_MS < 15000)) || fail "ralph-exec took $RX_MS ms for a 3 s timeout (bound: 15000)"
    atk_unharmed "$tid"
}

@test "attack: SIGSTOP of its own process group (and of PID 1) does not dodge the timeout" {
    # A stopped process never exits: the job must still end at its deadline
    # (the kill is the engine's, from outside the container).
    local tid
    tid=$(rx_tid atk-sigstop)
    rx_job_jq --arg id "$tid" '{task_id: $id, timeout: 3,
        command: ["sh", "-c", "echo stopping; kill -STOP 1 2>/dev/null; kill -STOP 0; echo resumed"]}'
    rx_run "$JOB"
    rx_expect timeout 3
    rx_check '.stdout == "stopping\n"' 'the job stopped itself (and never resumed)'
    rx_check '.timings_ms.run >= 2900 and .timings_ms.run < 10000' 'killed at its deadline'
    ((RX_MS < 15000)) || fail "ralph-exec took $RX_MS ms for a 3 s timeout (bound: 15000)"
    atk_unharmed "$tid"
}

# ---- space -----------------------------------------------------------------

@test "attack: filling /tmp and /dev/shm stops at their bounds with ENOSPC; the job goes on" {
    local tid script
    tid=$(rx_tid atk-tmpfill)
    # 1 MiB writes into 8 MiB files (below file_size_limit, so the bound
    # met is the mount's size, not RLIMIT_FSIZE), up to 512 MiB.
    script=$(cat <<'PY'
import errno, json, os
r = {}
chunk = b"\1" * (1 << 20)
for d in ["/tmp", "/dev/shm"]:
    n, err = 0, None
    try:
        while n < 512:
            with open(os.path.join(d, "fill%d" % (n // 8)), "ab") as f:
                f.write(chunk)
            n += 1
    except OSError as e:
        err = errno.errorcode.get(e.errno, str(e.errno))
    st = os.statvfs(d)
    r[d] = {"mib": n, "err": err, "size_mib": st.f_blocks * st.f_frsize >> 20}
with open("/workspace/output.json", "w") as f:
    json.dump(r, f)
PY
)
    atk_py "$tid" "$script"
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output["/tmp"] | .err == "ENOSPC" and .size_mib == 64 and .mib >= 60 and .mib <= 64' \
        '/tmp (64 MiB) is full at 64 MiB: ENOSPC'
    rx_check '.output["/dev/shm"] | .err == "ENOSPC" and .size_mib == 16 and .mib >= 12 and .mib <= 16' \
        '/dev/shm (16 MiB) is full at 16 MiB: ENOSPC'
    atk_unharmed "$tid"
}

@test "attack: many files in the workspace stop at its inode bound (ENOSPC), in a tmpfs, never on the disk" {
    # The workspace is a tmpfs with a bounded number of inodes (one per 4 KiB
    # of workspace_limit): empty files in directories of 1000, as fast as one
    # process can make them, end in ENOSPC (the job's own error) below that
    # bound.  Empty files take inodes, not bytes: on a disk, free bytes would
    # hardly move, so the test asks what the workspace is instead (the job's
    # mountinfo under runc, the engine's record of the mount; the job waits,
    # at most 60 s, for the test to have read it).  (Not run on Podman,
    # whose tmpfs workspace has no inode bound of its own: 14 covers it.)
    local tid script
    tid=$(rx_tid atk-manyfiles)
    script=$(cat <<'PY'
import errno, json, os
n, dirs, err = 0, 0, None
try:
    for d in range(10 ** 6):
        os.mkdir("d%d" % d)
        dirs += 1
        for i in range(1000):
            os.close(os.open("d%d/%d" % (d, i), os.O_WRONLY | os.O_CREAT, 0o644))
            n += 1
except OSError as e:
    err = errno.errorcode.get(e.errno, str(e.errno))
fstype = workspace_fstype()
waited = wait_engine_read()
print(json.dumps({"files": n, "dirs": dirs, "error": err, "fstype": fstype, "waited": waited}))
PY
)
    # 32 MiB: 8192 inodes.
    atk_py "$tid" "$RX_PY_WORKSPACE_ASKED$script" '{"timeout": 120, "workspace_limit": "32m"}'
    rx_run_asking_workspace "$tid"
    rx_expect success 0
    rx_check '.limits.workspace_inodes == 8192' 'the result states the inode bound'
    rx_check '.stdout | fromjson | .waited' 'the job ended after the engine was asked about its workspace'
    rx_check '.stdout | fromjson | .error == "ENOSPC"' 'the job met ENOSPC'
    rx_check '(.stdout | fromjson) as $o | $o.files + $o.dirs < .limits.workspace_inodes
              and $o.files >= .limits.workspace_inodes * 0.9' \
        'it stopped at the inode bound: below it, and not far below'
    echo "# files made: $(rx_get '.stdout | fromjson | .files') of $(rx_get .limits.workspace_inodes) inodes," \
        "removal $(rx_get .timings_ms.remove) ms" >&3
    rx_check_workspace_tmpfs '.stdout | fromjson | .fstype'
    rx_check '.timings_ms.remove < 30000' 'its container and workspace were removed within 30 s'
    atk_unharmed "$tid"
}

@test "attack: files in /tmp, /dev/shm, /workspace, SysV shm and a daemon do not reach the next job" {
    local tid1 tid2 leave look
    tid1=$(rx_tid atk-leave)
    tid2=$(rx_tid atk-look)
    leave=$(cat <<'PY'
import ctypes, json, os, subprocess
tag = os.environ["TAG"]
for d in ["/tmp", "/dev/shm", "/workspace"]:
    with open(os.path.join(d, "left-by-" + tag), "w") as f:
        f.write(tag)
os.makedirs("/tmp/.hidden/deep")
libc = ctypes.CDLL(None, use_errno=True)
shmid = libc.shmget(0x52414C50, 4096, 0o1000 | 0o666)     # IPC_CREAT
# A daemon in its own session that would keep writing, if it outlived us.
subprocess.Popen(["sh", "-c", "while :; do date >> /tmp/daemon; sleep 0.2; done"],
                 start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
with open("output.json", "w") as f:
    json.dump({"shmid": shmid}, f)
PY
)
    look=$(cat <<'PY'
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
r = {d: sorted(os.listdir(d)) for d in ["/tmp", "/dev/shm", "/workspace"]}
r["shm"] = libc.shmget(0x52414C50, 0, 0)
r["shm_errno"] = ctypes.get_errno()
procs = []
for p in os.listdir("/proc"):
    if p.isdigit() and int(p) != os.getpid():
        try:
            procs.append({"pid": int(p), "argv": open("/proc/%s/cmdline" % p).read().split("\0")[:-1]})
        except OSError:
            pass
r["procs"] = procs
with open("output.json", "w") as f:
    json.dump(r, f)
PY
)
    atk_py "$tid1" "$leave" "$(jq -nc --arg t "$tid1" '{env: {TAG: $t}}')"
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output.shmid >= 0' 'the first job made a SysV shared memory segment'
    rx_check '.timings_ms.run < 15000' 'the daemon did not keep the first job alive'
    atk_unharmed "$tid1"

    atk_py "$tid2" "$look"
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output["/tmp"] == [] and .output["/dev/shm"] == [] and .output["/workspace"] == []' \
        'the next job starts with an empty /tmp, /dev/shm and /workspace'
    rx_check '.output.shm == -1 and .output.shm_errno == 2' 'the SysV segment is not there (ENOENT)'
    # The first job left a shell looping on date and sleep 0.2 (and was a
    # python3 itself): none of them may be here.  Whatever runs besides this
    # job (PID 1, the engine's init, whatever its name; ralph-exec's holder)
    # is not the first job's.
    rx_check '.output.procs | any(.[]; .pid == 1)' 'the listing sees PID 1'
    rx_check '[.output.procs[].argv | select(length > 0)
               | select((.[0] | split("/") | last) as $n | $n == "sh" or $n == "date" or $n == "python3"
                        or . == ["sleep", "0.2"])] == []' \
        'no process of the first job runs here (its daemon, its sh, date or python3)'
    atk_unharmed "$tid2"
}

# ---- network namespaces -----------------------------------------------------------

@test "attack: two jobs at once bind 127.0.0.1:8080; both succeed (one network namespace each)" {
    local tid1 tid2 script out1 err1 rc1 out2
    tid1=$(rx_tid atk-port1)
    tid2=$(rx_tid atk-port2)
    # Each binds the same port without SO_REUSEADDR, talks to itself over
    # it, and holds it for 3 s so that the two jobs overlap.
    script=$(cat <<'PY'
import json, socket, time
t0 = time.time()
s = socket.socket()
s.bind(("127.0.0.1", 8080))
s.listen(1)
c = socket.create_connection(("127.0.0.1", 8080), timeout=5)
a, _ = s.accept()
c.sendall(b"ping")
got = a.recv(4).decode()
time.sleep(3)
with open("output.json", "w") as f:
    json.dump({"t0": t0, "t1": time.time(), "got": got}, f)
PY
)
    # (rx_run_bg names its output files after the last job written: start
    # each before writing the next.)
    atk_py "$tid1" "$script"
    rx_run_bg "$JOB"
    local pid1=$RX_BG_PID
    out1=$RX_BG_OUT err1=$RX_BG_ERR
    atk_py "$tid2" "$script"
    rx_run_bg "$JOB"
    local pid2=$RX_BG_PID
    out2=$RX_BG_OUT
    rx_wait_pid "$pid1" 60
    rc1=$RX_RC
    rx_wait_pid "$pid2" 60

    RX_OUT=$(cat "$out2") RX_ERR=$(cat "$RX_BG_ERR")
    rx_expect success 0
    rx_check '.output.got == "ping"' 'the second job bound, connected and read on 127.0.0.1:8080'
    local t0b t1b
    t0b=$(rx_get .output.t0) t1b=$(rx_get .output.t1)
    atk_unharmed "$tid2"

    RX_OUT=$(cat "$out1") RX_ERR=$(cat "$err1") RX_RC=$rc1
    rx_expect success 0
    rx_check '.output.got == "ping"' 'the first job bound, connected and read on 127.0.0.1:8080'
    rx_check --argjson a "$t0b" --argjson b "$t1b" '.output.t0 < $b and $a < .output.t1' \
        'the two jobs held the port at the same time'
    atk_unharmed "$tid1"
}

# ---- reaching the host ---------------------------------------------------

@test "attack: the engine socket and host files are out of reach (or the container's own)" {
    local tid script marker=$BATS_TEST_TMPDIR/ralph-host-marker-$RANDOM
    tid=$(rx_tid atk-host)
    echo "host secret" >"$marker"
    script=$(cat <<'PY'
import errno, json, os, socket, subprocess
E = lambda e: errno.errorcode.get(e.errno, str(e.errno))
r = {"connect": {}, "read": {}}
for p in ["/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock",
          "/var/run/containerd/containerd.sock", "/run/docker/containerd/containerd.sock"]:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(2)
    try:
        s.connect(p)
        r["connect"][p] = "connected"
    except OSError as e:
        r["connect"][p] = E(e)
    finally:
        s.close()
# Every unix socket file anywhere in the container's file system.
r["sockets"] = subprocess.run(
    ["find", "/", "(", "-path", "/proc", "-o", "-path", "/sys", ")", "-prune", "-o", "-type", "s", "-print"],
    capture_output=True, text=True).stdout.split()
with open("/proc/self/mountinfo") as f:
    r["mount_sock"] = [l for l in f if "docker.sock" in l or "containerd" in l]
marker = os.environ["MARKER"]
for p in ["/etc/shadow", "/root", marker, "/proc/1/root" + marker, "/proc/1/root/etc/hostname",
          "/proc/1/root/root"]:
    try:
        if os.path.isdir(p):
            r["read"][p] = sorted(os.listdir(p))
        else:
            with open(p, "rb") as f:
                r["read"][p] = f.read(200).decode("latin1")
    except OSError as e:
        r["read"][p] = E(e)
try:
    r["proc1_root"] = sorted(os.listdir("/proc/1/root"))
except OSError as e:
    r["proc1_root"] = E(e)
r["proc1_cmdline"] = open("/proc/1/cmdline").read().replace("\0", " ").strip()
r["pidns"] = os.readlink("/proc/self/ns/pid")
r["hostname"] = open("/etc/hostname").read()
with open("/workspace/output.json", "w") as f:
    json.dump(r, f)
PY
)
    atk_py "$tid" "$script" "$(jq -nc --arg m "$marker" '{env: {MARKER: $m}}')"
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output.connect | all(.[]; . == "ENOENT")' 'no engine or containerd socket exists'
    rx_check '.output.sockets == []' 'no unix socket file anywhere in the container'
    rx_check '.output.mount_sock == []' 'no engine socket is mounted'
    rx_check '.output.read["/etc/shadow"] == "EACCES"' '/etc/shadow (the image'"'"'s own) is unreadable'
    rx_check '.output.read["/root"] == "EACCES"' '/root is unreadable'
    rx_check --arg m "$BATS_TEST_TMPDIR" '.output.read | to_entries | all(.[]; (.key | contains($m) | not) or .value == "ENOENT" or .value == "EACCES")' \
        'a file made on the host is not visible, directly or through /proc/1/root'
    rx_check '.output.read["/proc/1/root/root"] | . == "EACCES" or . == "ENOENT"' \
        'root'"'"'s home is unreadable through /proc/1/root too'
    # /proc/1/root is the container's own root (runc), or refused (gVisor).
    rx_check '.output.proc1_root | . == "EACCES" or (type == "array" and index("workspace") != null)' \
        '/proc/1/root is the container'"'"'s own root, or refused'
    # PID 1 is the container's own (an init, whatever the engine names it):
    # the job has a pid namespace of its own, and its PID 1 is not the host's.
    rx_check --arg ns "$(readlink /proc/self/ns/pid)" '.output.pidns | startswith("pid:[") and . != $ns' \
        'a pid namespace of its own, not the host'"'"'s'
    rx_check --arg host1 "$(tr '\0' ' ' </proc/1/cmdline | sed 's/ $//')" \
        '.output.proc1_cmdline | length > 0 and . != $host1' 'PID 1 is the container'"'"'s own, not the host'"'"'s'
    rx_check '.output.hostname == "sandbox\n"' 'the container'"'"'s hostname, not the host'"'"'s'
    [[ $(cat "$marker") == "host secret" ]] || fail "the host marker changed"
    atk_unharmed "$tid"
}

# ---- privileges -------------------------------------------------------------

@test "attack: raising its own hard rlimits (NOFILE, FSIZE, CORE, NPROC) fails with EPERM" {
    local tid script
    tid=$(rx_tid atk-rlimit)
    # libc directly: Python's resource module turns EPERM into ValueError.
    script=$(cat <<'PY'
import ctypes, errno, json, resource
libc = ctypes.CDLL(None, use_errno=True)
class RL(ctypes.Structure):
    _fields_ = [("cur", ctypes.c_ulong), ("max", ctypes.c_ulong)]
r = {}
for name in ["NOFILE", "FSIZE", "CORE", "NPROC"]:
    res = getattr(resource, "RLIMIT_" + name)
    old = RL()
    libc.getrlimit(res, ctypes.byref(old))
    up = old.max + 1 if old.max < (1 << 62) else old.max
    new = RL(up, up)
    rc = libc.setrlimit(res, ctypes.byref(new))
    e = ctypes.get_errno()
    rc1 = libc.prlimit(1, res, ctypes.byref(new), None)   # PID 1's, from the job
    e1 = ctypes.get_errno()
    now = RL()
    libc.getrlimit(res, ctypes.byref(now))
    r[name] = {"hard": old.max, "after": now.max,
               "raise": "ok" if rc == 0 else errno.errorcode[e],
               "raise_pid1": "ok" if rc1 == 0 else errno.errorcode[e1]}
with open("output.json", "w") as f:
    json.dump(r, f)
PY
)
    atk_py "$tid" "$script"
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output | all(.[]; .raise == "EPERM" and .raise_pid1 == "EPERM" and .after == .hard)' \
        'every raise fails with EPERM, for itself and for PID 1, and the limit stays'
    rx_check '.output.NOFILE.hard == 1024 and .output.FSIZE.hard == 67108864 and .output.CORE.hard == 0' \
        'the limits are the ones ralph-exec set'
    atk_unharmed "$tid"
}

@test "attack: setuid escalation: no setuid/setgid file in the image, su fails, sudo absent" {
    local tid script
    tid=$(rx_tid atk-setuid)
    script=$(cat <<'PY'
import errno, json, os, shutil, subprocess
r = {}
r["setid_files"] = subprocess.run(
    ["find", "/", "-xdev", "(", "-path", "/proc", "-o", "-path", "/sys", ")", "-prune",
     "-o", "-type", "f", "-perm", "/6000", "-print"], capture_output=True, text=True).stdout.split()
p = subprocess.run(["su", "-c", "id -u", "root"], stdin=subprocess.DEVNULL,
                   capture_output=True, text=True, timeout=10)
r["su"] = {"rc": p.returncode, "out": p.stdout}
r["sudo"] = shutil.which("sudo")
for name, call in [("setuid", lambda: os.setuid(0)), ("setgid", lambda: os.setgid(0)),
                   ("setresuid", lambda: os.setresuid(0, 0, 0)), ("setgroups", lambda: os.setgroups([0]))]:
    try:
        call()
        r[name] = "ok"
    except OSError as e:
        r[name] = errno.errorcode.get(e.errno)
r["ids"] = list(os.getresuid()) + list(os.getresgid())
with open("output.json", "w") as f:
    json.dump(r, f)
PY
)
    atk_py "$tid" "$script" '{"timeout": 30}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output.setid_files == []' 'no setuid or setgid file in the image'
    rx_check '.output.su.rc != 0 and (.output.su.out | test("^0") | not)' 'su root fails'
    rx_check '.output.sudo == null' 'there is no sudo'
    rx_check '.output.setuid == "EPERM" and .output.setgid == "EPERM" and .output.setresuid == "EPERM"
              and .output.setgroups == "EPERM"' 'setuid(0), setgid(0), setgroups fail with EPERM'
    rx_check 'juid as $u | .output.ids == [$u, $u, $u, $u, $u, $u]' 'still its own uid throughout'
    atk_unharmed "$tid"
}

@test "attack: unshare of user, mount and network namespaces is refused (gVisor: gains nothing)" {
    local tid script
    tid=$(rx_tid atk-unshare)
    script=$(cat <<'PY'
import ctypes, errno, json, os, subprocess
libc = ctypes.CDLL(None, use_errno=True)
ME = os.getuid()
NEWUSER, NEWNS, NEWNET, NEWUTS, NEWIPC = 0x10000000, 0x20000, 0x40000000, 0x04000000, 0x08000000
name = lambda e: errno.errorcode.get(e, str(e))

def in_child(flags):
    # unshare in a child, so that a success cannot change the rest; it
    # then tries what a namespace root would want.
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        res = {}
        if libc.unshare(flags) != 0:
            res["unshare"] = name(ctypes.get_errno())
        else:
            res["unshare"] = "ok"
            if flags & NEWUSER:
                for f, v in [("/proc/self/uid_map", "0 %d 1" % ME), ("/proc/self/gid_map", "0 %d 1" % ME)]:
                    try:
                        with open(f, "w") as fh:
                            fh.write(v)
                    except OSError as e:
                        res[f] = name(e.errno)
            res["uid"] = os.getuid()
            for what, act in [("read_shadow", lambda: open("/etc/shadow").read(1)),
                              ("write_etc", lambda: open("/etc/ralph-probe", "w")),
                              ("list_root", lambda: os.listdir("/root"))]:
                try:
                    act()
                    res[what] = "ok"
                except OSError as e:
                    res[what] = name(e.errno)
            rc = libc.mount(b"none", b"/mnt", b"tmpfs", 0, None)
            res["mount"] = "ok" if rc == 0 else name(ctypes.get_errno())
            with open("/workspace/made-after-unshare-%x" % flags, "w") as fh:
                fh.write("x")
        os.write(wfd, json.dumps(res).encode())
        os._exit(0)
    os.close(wfd)
    data = b""
    while True:
        b = os.read(rfd, 65536)
        if not b:
            break
        data += b
    os.waitpid(pid, 0)
    return json.loads(data)

r = {n: in_child(f) for n, f in [("user", NEWUSER), ("mnt", NEWNS), ("net", NEWNET),
                                  ("uts", NEWUTS), ("ipc", NEWIPC), ("user_mnt", NEWUSER | NEWNS)]}
r["owners"] = sorted({os.stat(f).st_uid for f in os.listdir(".") if f.startswith("made-after")})
r["unshare_U"] = subprocess.run(["unshare", "-U", "true"], capture_output=True).returncode
with open("output.json", "w") as f:
    json.dump(r, f)
PY
)
    atk_py "$tid" "$script"
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output.net.unshare == "EPERM" and .output.uts.unshare == "EPERM" and .output.ipc.unshare == "EPERM"' \
        'new network, UTS and IPC namespaces are refused'
    if [[ $(atk_sandbox) == gvisor ]]; then
        # gVisor implements user namespaces (and accepts CLONE_NEWNS) inside
        # its own kernel: the host kernel never sees them.  What must hold is
        # that the namespace "root" gains nothing: the files it can read or
        # write are the ones the job's own uid can, and what it creates belongs to
        # that uid.  A mount is refused, except in a mount namespace that the
        # new user namespace owns, where runsc 2024-07 lets it mount a tmpfs
        # over its own view of /mnt (as Linux lets any user namespace do):
        # a view of the sandbox that only that process has.
        rx_check '[.output.user, .output.mnt, .output.user_mnt][] | .unshare == "EPERM" or
                  (.unshare == "ok" and .read_shadow == "EACCES" and (.write_etc == "EACCES" or .write_etc == "EROFS")
                   and .list_root == "EACCES")' \
            'user/mount namespaces refused, or gVisor-internal ones that gain nothing'
        rx_check '.output.user.unshare == "EPERM" or .output.user.mount == "EPERM"' \
            'a user namespace without its own mount namespace cannot mount'
        rx_check 'juid as $u | .output.owners | . == [] or . == [$u]' 'files made after unshare belong to the job'
    else
        rx_check '.output.user.unshare == "EPERM" and .output.mnt.unshare == "EPERM" and .output.user_mnt.unshare == "EPERM"' \
            'new user and mount namespaces are refused with EPERM'
        rx_check '.output.unshare_U != 0' 'unshare -U fails'
        rx_check '.output.owners == []' 'nothing ran after a refused unshare'
    fi
    atk_unharmed "$tid"
}

@test "attack: mount(2), umount(2) and mount(8) fail with EPERM" {
    local tid script
    tid=$(rx_tid atk-mount)
    script=$(cat <<'PY'
import ctypes, errno, json, subprocess
libc = ctypes.CDLL(None, use_errno=True)
name = lambda: errno.errorcode.get(ctypes.get_errno())
r = {}
for what, args in [("tmpfs_on_tmp", (b"none", b"/tmp", b"tmpfs", 0, None)),
                   ("proc_on_workspace", (b"proc", b"/workspace", b"proc", 0, None)),
                   ("bind_root", (b"/", b"/tmp", None, 4096, None)),            # MS_BIND
                   ("remount_root_rw", (None, b"/", None, 32, None))]:            # MS_REMOUNT
    r[what] = "ok" if libc.mount(*args) == 0 else name()
for what, path in [("umount_workspace", b"/workspace"), ("umount_tmp", b"/tmp"), ("umount_proc", b"/proc")]:
    r[what] = "ok" if libc.umount2(path, 2) == 0 else name()                  # MNT_DETACH
p = subprocess.run(["mount", "-t", "tmpfs", "none", "/mnt"], capture_output=True, text=True)
r["mount8"] = p.returncode
with open("/workspace/output.json", "w") as f:
    json.dump(r, f)
PY
)
    atk_py "$tid" "$script"
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output | del(.mount8) | all(.[]; . == "EPERM")' 'every mount and umount fails with EPERM'
    rx_check '.output.mount8 != 0' 'mount(8) fails'
    atk_unharmed "$tid"
}

@test "attack: PTRACE_ATTACH to PID 1 fails" {
    # PID 1 is docker-init, running as the job's own uid.  Docker's
    # default seccomp profile allows ptrace (kernel >= 4.8), so without Yama
    # (ptrace_scope >= 1) on the host nothing but the kernel's same-uid rule
    # is left, and that rule lets a job attach to (stop, or rewrite) its
    # init.  That reaches only the job's own processes (the host is out of
    # reach, docs/security.md says so); an operator who minds sets the policy's
    # "seccomp": "strict", which denies ptrace, and that is what is checked
    # here (gVisor refuses it either way).  Should the attach succeed, the
    # job detaches at once so the failure is reported here rather than as a
    # hung init.
    local tid script
    tid=$(rx_tid atk-ptrace)
    script=$(cat <<'PY'
import ctypes, errno, json, os, time
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.restype = ctypes.c_long
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
PTRACE_ATTACH, PTRACE_DETACH = 16, 17
r = {}
if libc.ptrace(PTRACE_ATTACH, 1, None, None) == 0:
    r["attach_pid1"] = "ok"
    time.sleep(0.2)
    r["pid1_state"] = [l for l in open("/proc/1/status") if l.startswith("State")][0].strip()
    libc.ptrace(PTRACE_DETACH, 1, None, None)
else:
    r["attach_pid1"] = errno.errorcode[ctypes.get_errno()]
# For the record: a sibling (a non-descendant of the same uid).
target = os.fork()
if target == 0:
    time.sleep(5)
    os._exit(0)
prober = os.fork()
if prober == 0:
    ok = libc.ptrace(PTRACE_ATTACH, target, None, None) == 0
    os._exit(0 if ok else ctypes.get_errno())
st = os.waitpid(prober, 0)[1]
r["attach_sibling"] = "ok" if os.waitstatus_to_exitcode(st) == 0 else errno.errorcode.get(os.waitstatus_to_exitcode(st))
os.kill(target, 9)
os.waitpid(target, 0)
with open("output.json", "w") as f:
    json.dump(r, f)
PY
)
    atk_py "$tid" "$script"
    printf '{"seccomp": "strict"}\n' >"$BATS_TEST_TMPDIR/strict.json"
    RX_ARGS=(--policy "$BATS_TEST_TMPDIR/strict.json")
    rx_run "$JOB"
    RX_ARGS=()
    rx_expect success 0
    echo "# sandbox $(atk_sandbox): attach to PID 1: $(rx_get .output.attach_pid1)," \
        "to a sibling: $(rx_get .output.attach_sibling)" >&3
    rx_check '.output.attach_pid1 == "EPERM"' 'PTRACE_ATTACH to PID 1 fails with EPERM'
    atk_unharmed "$tid"
}

@test "attack: /proc/sysrq-trigger and /proc/sys cannot be opened for writing" {
    local tid script
    tid=$(rx_tid atk-sysrq)
    # open(O_WRONLY) only: nothing is ever written to a kernel file.
    script=$(cat <<'PY'
import errno, json, os
r = {}
for p in ["/proc/sysrq-trigger", "/proc/sys/kernel/core_pattern", "/proc/sys/kernel/hostname",
          "/proc/sys/vm/drop_caches", "/proc/sys/kernel/modprobe"]:
    try:
        os.close(os.open(p, os.O_WRONLY))
        r[p] = "opened"
    except OSError as e:
        r[p] = errno.errorcode.get(e.errno)
with open("/proc/self/mountinfo") as f:
    mounts = {l.split()[4]: l.split()[5].split(",") for l in f}
with open("/workspace/output.json", "w") as f:
    json.dump({"open": r, "ro": {m: "ro" in mounts.get(m, []) for m in ["/proc/sys", "/proc/sysrq-trigger"]}}, f)
PY
)
    atk_py "$tid" "$script"
    rx_run "$JOB"
    rx_expect success 0
    # EACCES (root's 0644 files: permissions are checked before a read-only
    # mount flag), EROFS, or ENOENT where the kernel has no such file (this
    # host has no sysrq).
    rx_check '.output.open | all(.[]; . == "EROFS" or . == "EACCES" or . == "EPERM" or . == "ENOENT")' \
        'no kernel control file can be opened for writing'
    rx_check '.output.open | to_entries | any(.[]; .value != "ENOENT")' 'the probe did reach /proc/sys'
    if [[ $(atk_sandbox) == runc ]]; then
        # The second layer, under the permissions: Docker's read-only mounts.
        rx_check '.output.ro["/proc/sys"]' '/proc/sys is mounted read-only (runc)'
    fi
    atk_unharmed "$tid"
}

@test "attack: files under /sys cannot be opened for writing (read-only mounts); no cgroup can be made" {
    local tid script host_thp
    tid=$(rx_tid atk-sys)
    host_thp=$(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || true)
    script=$(cat <<'PY'
import errno, json, os
r = {"open": {}}
for p in ["/sys/class/net/lo/mtu", "/sys/class/net/lo/gro_flush_timeout",
          "/sys/devices/system/cpu/online", "/sys/devices/system/cpu/cpu1/online",
          "/sys/kernel/mm/transparent_hugepage/enabled", "/sys/kernel/uevent_helper",
          "/sys/power/state", "/sys/fs/cgroup/pids/pids.max",
          "/sys/fs/cgroup/memory/memory.limit_in_bytes"]:
    if not os.path.exists(p):
        continue
    try:
        os.close(os.open(p, os.O_WRONLY))
        r["open"][p] = "opened"
    except OSError as e:
        r["open"][p] = errno.errorcode.get(e.errno)
for what, act in [("mkdir_cgroup", lambda: os.mkdir("/sys/fs/cgroup/ralph-evil")),
                  ("create_file", lambda: open("/sys/ralph-evil", "w"))]:
    try:
        act()
        r[what] = "ok"
    except OSError as e:
        r[what] = errno.errorcode.get(e.errno)
# Whether the mount each path lies on is read-only.
r["ro"] = {p: mount_ro(p) for p in list(r["open"]) + ["/sys/ralph-evil"]}
with open("/workspace/output.json", "w") as f:
    json.dump(r, f)
PY
)
    atk_py "$tid" "$RX_PY_MOUNT_RO$script"
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output.open | length >= 1' 'the probe found files under /sys'
    if [[ $(atk_sandbox) == gvisor ]]; then
        # gVisor's own sysfs: it refuses on permissions (EACCES) before its
        # read-only flag; none of it is the host's.
        rx_check '.output.open | all(.[]; . == "EROFS" or . == "EACCES" or . == "EPERM")' \
            '/sys files cannot be opened for writing (gVisor)'
        rx_check '[.output.mkdir_cgroup, .output.create_file] | all(.[]; . == "EROFS" or . == "EACCES" or . == "EPERM" or . == "ENOENT")' \
            'nothing can be created under /sys (gVisor)'
    else
        # Refused, whichever check the kernel makes first (the read-only
        # flag: EROFS; root's permissions: EACCES, as for the cgroup file
        # systems under /sys/fs/cgroup here) ...
        rx_check '.output.open | all(.[]; . == "EROFS" or . == "EACCES" or . == "EPERM")' \
            '/sys files cannot be opened for writing'
        rx_check '.output.create_file | . == "EROFS" or . == "EACCES" or . == "EPERM"' \
            'no file can be created under /sys'
        rx_check '.output.mkdir_cgroup | . == "EROFS" or . == "EACCES" or . == "EPERM"' \
            'no cgroup can be made'
        # ... and, under the permissions, Docker's read-only mounts: sysfs
        # and each cgroup hierarchy.
        rx_check '.output.ro | length >= 2 and all(.[]; . == true)' \
            'every path probed lies on a read-only mount (runc)'
    fi
    [[ $(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || true) == "$host_thp" ]] ||
        fail "the host's transparent_hugepage setting changed"
    atk_unharmed "$tid"
}

# ---- PID 1 and processes --------------------------------------------------------

@test "attack: kill -9 1 from the job: refused (init is not the job's uid); the job goes on, nothing left" {
    local tid
    tid=$(rx_tid atk-kill1)
    rx_job_jq --arg id "$tid" '{task_id: $id, timeout: 20,
        command: ["sh", "-c", "kill -9 1; echo kill=$?; sleep 1; echo alive"]}'
    rx_run "$JOB"
    # The container's init runs as 65534, not as the job: the kill is
    # refused (EPERM), and had it been sent, PID 1 of a namespace ignores a
    # SIGKILL from inside it (Linux).  The job goes on either way.
    rx_expect success 0
    rx_check '.stdout | test("^kill=[01]\nalive\n$")' 'init untouched; the job went on'
    rx_check '(.stdout | startswith("kill=1")) or .limits.sandbox == "runc"' \
        'under gVisor (no PID 1 protection) only the uid stops the kill'

    ((RX_MS < 15000)) || fail "ralph-exec took $RX_MS ms (bound: 15000)"
    atk_unharmed "$tid"
}

@test "attack: 200 unreaped children meet pids_limit; the job ends at its timeout, nothing left" {
    local tid tid2 script script2
    tid=$(rx_tid atk-zombies)
    script=$(cat <<'PY'
import json, os, time
n, err = 0, None
for i in range(200):
    try:
        pid = os.fork()
    except OSError as e:
        err = e.errno
        break
    if pid == 0:
        os._exit(0)
    n += 1
def zombies():
    me, z = str(os.getpid()), 0
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                f = open("/proc/%s/stat" % p).read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if f[0] == "Z" and f[1] == me:
                z += 1
    return z
t0 = time.time()
z = zombies()
while z < n and time.time() - t0 < 10:   # until every child has exited: at most 10 s
    time.sleep(0.05)
    z = zombies()
print(json.dumps({"forked": n, "errno": err, "zombies": z}), flush=True)
time.sleep(60)      # holds its zombies until the timeout
PY
)
    # 15 s: the forks (under gVisor each costs tens of ms, more on a busy
    # host), then up to 10 s for the children to have exited.
    atk_py "$tid" "$script" '{"timeout": 15}'
    rx_run "$JOB"
    rx_expect timeout 3
    rx_check '.stdout | fromjson | .errno == 11 and .forked < 64 and .forked >= 50' \
        'fork failed with EAGAIN just below pids_limit 64'
    rx_check '.stdout | fromjson | .zombies == .forked' 'every child stayed a zombie'
    ((RX_MS < 30000)) || fail "ralph-exec took $RX_MS ms for a 15 s timeout (bound: 30000)"
    atk_unharmed "$tid"

    # Orphaned zombies go to init, which reaps them: their pids come back.
    tid2=$(rx_tid atk-orphans)
    script2=$(cat <<'PY'
import json, os, time
def zombies():
    z = 0
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if open("/proc/%s/stat" % p).read().rsplit(")", 1)[1].split()[0] == "Z":
                    z += 1
            except OSError:
                pass
    return z
mid = os.fork()
if mid == 0:
    for i in range(40):
        if os.fork() == 0:
            os._exit(0)
    os._exit(0)             # 40 children orphaned, never reaped by their parent
os.waitpid(mid, 0)
t0 = time.time()
left = zombies()
while left and time.time() - t0 < 10:   # until init has reaped them: at most 10 s
    time.sleep(0.05)
    left = zombies()
kids = []
for i in range(40):         # 40 + 40 > pids_limit 64 unless init reaped the first 40
    pid = os.fork()
    if pid == 0:
        time.sleep(0.5)
        os._exit(0)
    kids.append(pid)
for pid in kids:
    os.waitpid(pid, 0)
with open("output.json", "w") as f:
    json.dump({"zombies_left": left, "forked_again": len(kids)}, f)
PY
)
    atk_py "$tid2" "$script2"
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output.zombies_left == 0' 'init reaped the orphans'
    rx_check '.output.forked_again == 40' 'their pids could be used again'
    atk_unharmed "$tid2"
}

# ---- file names -------------------------------------------------------------

@test "attack: hostile names in files are rejected before any container exists" {
    local tid long comp i=0
    long=$(printf 'abcdefgh/%.0s' {1..120})x
    comp=$(printf 'x%.0s' {1..300})
    # name (as JSON) : what the error must name
    local -a cases=(
        '"a\nb"|control character'
        '"tab\there"|control character'
        '"esc\u001b[2J"|control character'
        '".."|"\.\."'
        '"x/.."|"\.\."'
        '"x/../../../etc/passwd"|"\.\."'
        '"."|"\."'
        '"//etc/evil"|absolute'
        '"/tmp/evil"|absolute'
        '"a//b"|empty component'
        '"a/"|empty component'
        '"..\\\\evil"|backslash'
        '".ralph/job.py"|reserved'
        '"a\u0000b"|NUL'
        "\"$comp\"|component"
        "\"$long\"|longer than"
    )
    local c json want
    for c in "${cases[@]}"; do
        json=${c%|*} want=${c##*|}
        i=$((i + 1))
        tid=$(rx_tid "atk-name$i")
        # Written as text: jq --arg cannot carry a NUL.
        rx_job "{\"task_id\": \"$tid\", \"command\": [\"true\"], \"files\": {$json: \"x\"}}"
        rx_run "$JOB"
        rx_expect rejected 2 || fail "the name $json was not rejected"
        rx_check --arg re "$want" '.error | test("`files`") and test($re)' \
            "the error names files and why ($json)"
        rx_check '.container_id == null and .exit_code == null' 'nothing was created'
    done
    # (rx_teardown checks that no container of any of these task ids exists.)
}

@test "attack: a job creating hostile names in its workspace still hands back its output" {
    local tid script
    tid=$(rx_tid atk-wsnames)
    script=$(cat <<'PY'
import errno, json, os
names = ["new\nline", "...", ".. ", " ..", "..\\..\\etc", "-rf", "\u202etxt.exe", "x" * 255,
         "bad\x7fbyte", "output.json ", "output.json\n", ".ralph"]
made = 0
for n in names:
    with open(n, "w") as f:
        f.write("x")
    made += 1
for b in [b"\xff\xfe-not-utf8", b"\xc0\xaf"]:
    os.close(os.open(b, os.O_WRONLY | os.O_CREAT, 0o644))
    made += 1
os.makedirs("/".join(["d"] * 100))
try:
    open("y" * 256, "w")
    long_name = "ok"
except OSError as e:
    long_name = errno.errorcode.get(e.errno)
with open("output.json", "w") as f:
    json.dump({"made": made, "256": long_name, "entries": len(os.listdir("."))}, f)
PY
)
    atk_py "$tid" "$script"
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output.made == 14 and .output["256"] == "ENAMETOOLONG"' 'the names were made'
    rx_check '.output.entries == 16' 'all of them, the deep directory and output.json'
    atk_unharmed "$tid"
}

# ---- the output file ----------------------------------------------------------

@test "attack: output.json a symlink to valid JSON in the workspace -> result_invalid" {
    # The type is refused, not the content (05 has the /etc/passwd case).
    local tid
    tid=$(rx_tid atk-outlink)
    rx_job_jq --arg id "$tid" '{task_id: $id,
        command: ["sh", "-c", "echo \"{\\\"ok\\\": 1}\" > real.json; ln -s real.json output.json"]}'
    rx_run "$JOB"
    rx_expect result_invalid 5
    rx_check '.output == null and (.error | test("symbolic link"))' 'refused as a symbolic link'
    atk_unharmed "$tid"
}

@test "attack: output.json a FIFO or a unix socket -> result_invalid (gVisor: never on disk)" {
    local tid tid2
    tid=$(rx_tid atk-outfifo)
    rx_job_jq --arg id "$tid" '{task_id: $id, command: ["mkfifo", "output.json"]}'
    rx_run "$JOB"
    if [[ $(atk_sandbox) == gvisor ]]; then
        # gVisor keeps named pipes and sockets made on a host-backed mount
        # inside its own kernel ("synthetic" files): the engine, reading the
        # volume on the host, finds no output file at all, which a command
        # job may have.  Nothing hangs, nothing is read.  (docs/jobs.md promises
        # result_invalid for a FIFO: reported.)
        rx_expect success 0
        rx_check '.output == null and .error == null' 'gVisor: the FIFO is not on the host, no output'
    else
        rx_expect result_invalid 5
        rx_check '.output == null and (.error | test("FIFO"))' 'refused as a FIFO'
    fi
    ((RX_MS < 15000)) || fail "ralph-exec took $RX_MS ms: did reading the FIFO block?"
    atk_unharmed "$tid"

    tid2=$(rx_tid atk-outsock)
    atk_py "$tid2" 'import socket; socket.socket(socket.AF_UNIX).bind("output.json")'
    rx_run "$JOB"
    if [[ $(atk_sandbox) == gvisor ]]; then
        rx_expect success 0
        rx_check '.output == null' 'gVisor: the socket is not on the host, no output'
    else
        rx_expect result_invalid 5
        rx_check '.output == null and (.error | test("not a regular file"))' 'refused: not a regular file'
    fi
    atk_unharmed "$tid2"
}

@test "attack: output.json a hard link -> the linked file's content; a link to /etc/passwd is EXDEV" {
    # A hard link is a regular file (one inode, two names): the engine's tar
    # of that one path holds a regular-file entry, so ralph-exec returns the
    # content, which the job wrote itself.  A hard link cannot bring in a
    # file from outside: the workspace is its own mount (EXDEV).
    local tid script
    tid=$(rx_tid atk-outhard)
    script=$(cat <<'PY'
import errno, json, os
r = {}
for src in ["/etc/passwd", "/tmp/x", "/usr/bin/python3"]:
    if src == "/tmp/x":
        open(src, "w").write("1")
    try:
        os.link(src, "link-" + os.path.basename(src))
        r[src] = "linked"
    except OSError as e:
        r[src] = errno.errorcode.get(e.errno)
r["written_to"] = "real.json"
with open("real.json", "w") as f:
    json.dump(r, f)
os.link("real.json", "output.json")
assert os.stat("output.json").st_nlink == 2
PY
)
    atk_py "$tid" "$script"
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output["/etc/passwd"] == "EXDEV" and .output["/tmp/x"] == "EXDEV" and .output["/usr/bin/python3"] == "EXDEV"' \
        'no hard link to a file outside the workspace'
    rx_check '.output.written_to == "real.json"' 'the content of real.json came back through the link'
    atk_unharmed "$tid"
}

@test "attack: output.json a 2 GB sparse file -> result_invalid by its size, quickly" {
    local tid
    tid=$(rx_tid atk-sparse)
    rx_job_jq --arg id "$tid" '{task_id: $id, file_size_limit: "4g",
        command: ["truncate", "-s", "2G", "output.json"]}'
    rx_run "$JOB"
    rx_expect result_invalid 5
    rx_check '.output == null and (.error | test("2147483648") and test("1048576"))' \
        'refused by its size (2 GiB, limit 1 MiB)'
    rx_check '.timings_ms.output < 3000' 'the size was known before any content was read'
    ((RX_MS < 15000)) || fail "ralph-exec took $RX_MS ms for a 2 GB sparse output (bound: 15000)"
    atk_unharmed "$tid"
}

# The job owns every directory of output_path below /workspace, so it can
# make one a symlink.  The engine (root) follows it inside the container's
# root file system, and ralph-exec checks only the last component: the
# "output" then comes from the image, even from a file the job itself
# cannot read.

@test "attack: output_path through a symlinked directory: no file of the image comes back" {
    # /etc/debian_version parses as a JSON number.
    local tid
    tid=$(rx_tid atk-outdir)
    rx_job_jq --arg id "$tid" '{task_id: $id, output_path: "out/debian_version",
        command: ["ln", "-s", "/etc", "out"]}'
    rx_run "$JOB"
    rx_check '.status == "result_invalid" and .output == null' \
        'an output path through a symlinked directory is refused'
    atk_unharmed "$tid"
}

@test "attack: output_path through a symlinked directory: a file the job cannot read is not read" {
    # /etc/shadow is 0640 root:shadow: the job cannot read it; if ralph-exec
    # reads it for the job, its error tells how the content failed to parse.
    local tid
    tid=$(rx_tid atk-outshadow)
    rx_job_jq --arg id "$tid" '{task_id: $id, output_path: "out/shadow",
        command: ["sh", "-c", "ln -s /etc out; cat /etc/shadow >/dev/null 2>&1 && echo readable || echo unreadable"]}'
    rx_run "$JOB"
    rx_check '.stdout == "unreadable\n"' 'the job itself cannot read /etc/shadow'
    # ralph-exec looks at each directory of output_path before it reads the
    # file: refused at `out`, /etc/shadow is never read.
    rx_check '.status == "result_invalid" and .output == null
              and (.error | test("out is a symbolic link") and (test("not valid JSON") | not))' \
        'ralph-exec refused the path at its symlinked directory, without reading /etc/shadow'
    atk_unharmed "$tid"
}

# ---- network -----------------------------------------------------------------

@test "attack: egress by IP or name: only lo, no route, sends to an outside address fail, no name resolves" {
    # The job reads its interfaces and routes, tries a datagram and a
    # connection to 192.0.2.1 (documentation space, never routed: nothing can
    # leave even if it worked), and asks the resolver for example.invalid.
    local tid script
    tid=$(rx_tid atk-egress)
    script=$(cat <<'PY'
import errno, json, os, socket
# /sys/class/net, where there is one (runsc 2024-07 has none under --network=none).
r = {"ifaces": sorted(os.listdir("/sys/class/net")) if os.path.isdir("/sys/class/net") else None,
     "if_nameindex": [n for _, n in socket.if_nameindex()]}
with open("/proc/net/dev") as f:
    r["devs"] = sorted(l.split(":")[0].strip() for l in f.read().splitlines()[2:] if ":" in l)
with open("/proc/net/route") as f:
    r["routes"] = [l for l in f.read().splitlines()[1:] if l.strip()]
try:
    with open("/proc/net/ipv6_route") as f:
        r["routes6"] = [l for l in f.read().splitlines() if l.strip() and l.split()[-1] != "lo"]
except FileNotFoundError:
    r["routes6"] = []
try:
    socket.getaddrinfo("example.invalid", 80)
    r["gai"] = "resolved"
except socket.gaierror as e:
    r["gai"] = e.errno
r["gai_codes"] = [socket.EAI_AGAIN, socket.EAI_NONAME, socket.EAI_FAIL]
# By number: a datagram and a connection to a documentation address
# (TEST-NET-1, never routed) must fail at once for want of a route.
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    u.sendto(b"x", ("192.0.2.1", 53))
    r["udp_send"] = "sent"
except OSError as e:
    r["udp_send"] = e.errno
t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
t.settimeout(5)
try:
    t.connect(("192.0.2.1", 80))
    r["tcp_connect"] = "connected"
except OSError as e:
    r["tcp_connect"] = e.errno if e.errno is not None else str(e)
r["ENETUNREACH"] = errno.ENETUNREACH
r["EHOSTUNREACH"] = errno.EHOSTUNREACH
with open("output.json", "w") as f:
    json.dump(r, f)
PY
)
    atk_py "$tid" "$script"
    rx_run "$JOB"
    rx_expect success 0
    rx_check '(.output.ifaces == ["lo"] or .output.ifaces == null) and .output.if_nameindex == ["lo"] and .output.devs == ["lo"]' \
        'lo is the only interface'
    rx_check '.output.routes == [] and .output.routes6 == []' 'no IPv4 route, no IPv6 route off lo'
    rx_check '.output.gai as $g | .output.gai_codes | index($g) != null' \
        'getaddrinfo("example.invalid") fails (EAI_AGAIN, EAI_NONAME or EAI_FAIL)'
    rx_check '[.output.udp_send, .output.tcp_connect] | all(. == 101 or . == 113)' \
        'a datagram and a connection to 192.0.2.1 fail with ENETUNREACH or EHOSTUNREACH'
    atk_unharmed "$tid"
}
