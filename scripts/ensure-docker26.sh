#!/usr/bin/env bash
# ensure-docker26.sh: make sure the second engine, Debian trixie's Docker 26
# (docker.io 26.1, API 1.45), answers beside the default one.
#
#   scripts/ensure-docker26.sh    (scripts/ensure-engine.sh calls it when
#                                  DOCKER_HOST names its socket)
#
# The socket is /run/ralph-docker26/docker.sock
# (DOCKER_HOST=unix:///run/ralph-docker26/docker.sock).  As root:
# - builds, once, a trixie root filesystem with docker.io, containerd, runc,
#   runsc and tini (mmdebstrap from this machine's own apt mirrors) under
#   /var/lib/ralph-docker26/rootfs; its Docker data root lives inside it;
# - when nothing answers GET /_ping there, starts that dockerd with the root
#   as its / (pivot_root), in a mount and network namespace of its own, its own
#   containerd, exec root and pid file, runsc registered (--network=none),
#   and the daemon label io.ralph-exec.engine=docker26 (log:
#   /var/log/ralph-docker26.log).  Its own network namespace because a
#   second dockerd in the host's would change the host's bridges (with
#   --bridge=none it deletes docker0, and the default engine's builds fail);
#   jobs never have a network, so the engine needs none either.  What a
#   killed engine left (its containerd, shims, the processes of its
#   containers, under cgroup parent ralph-docker26) is stopped before a new
#   start; a dockerd still running on that root is an error.  Image
#   builds do: images/build.sh builds on the default engine and copies the
#   sandbox image here (make images ENGINE=docker26).
# Idempotent and quick when all is done; prints one line when the engine is up.
set -euo pipefail

readonly PROG=${0##*/}
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "error: $*"; exit 1; }

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly HERE
readonly SUITE=trixie
readonly STATE=/var/lib/ralph-docker26
readonly ROOTFS=$STATE/rootfs
readonly STAMP=$ROOTFS/.ralph-rootfs-ok
readonly RUNDIR=/run/ralph-docker26
readonly SOCK=$RUNDIR/docker.sock
readonly PIDFILE=$RUNDIR/dockerd.pid
readonly LOGFILE=/var/log/ralph-docker26.log
readonly LOCKFILE=/run/ralph-ensure-docker26.lock
readonly START_TIMEOUT=90
readonly PACKAGES=docker.io,containerd,runc,runsc,tini,ca-certificates,iproute2
# What the engine is told in its daemon.json (flags and file must not name
# the same setting twice, or dockerd refuses to start).
readonly DAEMON_JSON='{
  "labels": ["io.ralph-exec.engine=docker26"],
  "runtimes": {"runsc": {"path": "/usr/bin/runsc", "runtimeArgs": ["--network=none"]}},
  "cgroup-parent": "/ralph-docker26",
  "iptables": false,
  "ip6tables": false,
  "bridge": "none"
}'

# --- inside the engine's namespaces (started by start_engine) --------------
# Mounts what the chroot needs (private to this mount namespace: gone when
# the engine is), then becomes dockerd.
if [[ ${1:-} == --in-namespace ]]; then
    mount --make-rprivate /
    mount --bind "$ROOTFS" "$ROOTFS" # dockerd's mounts need / to be a mount point
    mount -t proc proc "$ROOTFS/proc"
    mount --rbind /sys "$ROOTFS/sys"
    mount --rbind /dev "$ROOTFS/dev"
    mount -t tmpfs -o mode=755 tmpfs "$ROOTFS/run"
    mkdir -p "$ROOTFS$RUNDIR"
    mount --bind "$RUNDIR" "$ROOTFS$RUNDIR"
    ip link set lo up 2>/dev/null || true
    # pivot_root, not chroot: the kernel refuses a new user namespace to a
    # chrooted process, and runsc (2024-07) makes one for its gofer.
    cd "$ROOTFS"
    mkdir -p .oldroot
    pivot_root . .oldroot
    umount -l /.oldroot
    rmdir /.oldroot 2>/dev/null || true
    # The socket's group by number, as the host knows it (passed from
    # outside): a group name here would be looked up in the trixie root's
    # /etc/group, whose "docker" gid is another group on the host.
    exec /usr/sbin/dockerd --host "unix://$SOCK" --pidfile "$PIDFILE" --group "$2"
fi

(($# == 0)) || die "takes no arguments"

api() { curl -fsS --max-time "${2:-5}" --unix-socket "$SOCK" "http://localhost$1" 2>/dev/null; }
ping_ok() { [[ $(api /_ping) == OK ]]; }

# shellcheck source=scripts/procs.sh
source "$HERE/procs.sh"

build_rootfs() {
    local tmp=$STATE/rootfs.new sources opts=() line t0=$SECONDS
    command -v mmdebstrap >/dev/null 2>&1 || die "mmdebstrap not found; run scripts/ensure-deps.sh"
    # shellcheck source=scripts/debian-sources.sh
    source "$HERE/debian-sources.sh"
    mkdir -p "$STATE"
    sources=$STATE/trixie.sources
    # This machine's bookworm mirrors, for trixie.
    debian_sources bookworm "$SUITE" >"$sources" ||
        die "no usable Debian apt source in /etc/apt/sources.list{,.d/*.list,.d/*.sources}"
    while IFS= read -r line; do
        opts+=("--aptopt=$line")
    done < <(debian_aptopts)
    rm -rf --one-file-system "$tmp"
    log "building the $SUITE root filesystem for Docker 26 (mmdebstrap, about a minute)"
    if ! mmdebstrap --variant=minbase --mode=root --format=directory --include="$PACKAGES" \
        '--dpkgopt=path-exclude=/usr/share/doc/*' '--dpkgopt=path-exclude=/usr/share/man/*' \
        '--dpkgopt=path-exclude=/usr/share/locale/*' "${opts[@]}" \
        "$SUITE" "$tmp" "$sources" >"$STATE/mmdebstrap.log" 2>&1; then
        tail -n 30 "$STATE/mmdebstrap.log" >&2
        rm -rf --one-file-system "$tmp"
        die "mmdebstrap $SUITE failed (log: $STATE/mmdebstrap.log)"
    fi
    [[ -x $tmp/usr/sbin/dockerd && -x $tmp/usr/bin/runsc ]] || die "the $SUITE root has no dockerd or runsc"
    chroot "$tmp" dpkg-query -W docker.io containerd runc runsc >"$tmp/.ralph-rootfs-ok"
    rm -rf --one-file-system "$ROOTFS"
    mv "$tmp" "$ROOTFS"
    log "root filesystem ready in $((SECONDS - t0)) s: $(tr '\t\n' '  ' <"$STAMP")"
}

# The gid the socket gets: the host's docker group, as for the default
# engine, or root's when there is none.
socket_gid() {
    local gid
    gid=$(getent group docker | cut -d: -f3) || gid=
    [[ $gid =~ ^[0-9]+$ ]] || gid=0
    printf '%s\n' "$gid"
}

# stop PID: TERM, then KILL, and wait for it to be gone.
stop() {
    kill "$1" 2>/dev/null || return 0
    for _ in $(seq 100); do alive "$1" || return 0; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
    for _ in $(seq 50); do alive "$1" || return 0; sleep 0.1; done
}

# The processes whose root is the engine's root filesystem, one pid a line:
# an engine still running there, or what a killed one left (its containerd,
# a shim).  By device and inode: after pivot_root, readlink of /proc/PID/root
# says "/".
procs_in_rootfs() {
    local r want
    want=$(stat -c '%d:%i' "$ROOTFS" 2>/dev/null) || return 0
    for r in /proc/[0-9]*/root; do
        [[ $(stat -L -c '%d:%i' "$r" 2>/dev/null) == "$want" ]] || continue
        r=${r#/proc/}
        printf '%s\n' "${r%/root}"
    done
}

start_engine() {
    local pid deadline offset gid p
    # Two engines on one data root would corrupt it: a dockerd still there
    # is an error; what a killed engine left (containerd, shims) is stopped.
    for p in $(procs_in_rootfs); do
        if [[ $(cat "/proc/$p/comm" 2>/dev/null) == dockerd ]]; then
            die "dockerd (pid $p) still runs in $ROOTFS without answering on $SOCK: stop it first"
        fi
        log "stopping $(cat "/proc/$p/comm" 2>/dev/null) (pid $p), left in $ROOTFS by an engine that is gone"
        stop "$p"
    done
    # And the jobs of its containers, which outlive their shims: everything
    # in the cgroups under the engine's own parent (cgroup v1 or v2).
    for p in $(cat /sys/fs/cgroup/*/ralph-docker26/*/cgroup.procs \
        /sys/fs/cgroup/ralph-docker26/*/cgroup.procs 2>/dev/null | sort -un); do
        log "killing pid $p ($(cat "/proc/$p/comm" 2>/dev/null)), a container process of an engine that is gone"
        kill -KILL "$p" 2>/dev/null || true
    done
    gid=$(socket_gid)
    mkdir -p "$RUNDIR" "${LOGFILE%/*}"
    rm -f "$SOCK" "$PIDFILE"
    # The daemon.json of this script's version, whatever the root had.
    mkdir -p "$ROOTFS/etc/docker"
    printf '%s\n' "$DAEMON_JSON" >"$ROOTFS/etc/docker/daemon.json"
    offset=$(stat -c %s "$LOGFILE" 2>/dev/null || echo 0)
    printf '=== %s: starting Docker 26 at %s ===\n' "$PROG" "$(date -Is)" >>"$LOGFILE"
    log "starting dockerd ($SUITE, root $ROOTFS; log: $LOGFILE)"
    # setsid: its own session, so it outlives this script.
    setsid nohup unshare --mount --net -- "$HERE/${PROG}" --in-namespace "$gid" \
        >>"$LOGFILE" 2>&1 </dev/null 9>&- &
    pid=$!
    deadline=$((SECONDS + START_TIMEOUT))
    while ((SECONDS < deadline)); do
        ping_ok && break
        alive "$pid" || pid_named "$PIDFILE" dockerd >/dev/null || break
        sleep 0.3
    done
    if ping_ok; then
        [[ $(stat -c '%u:%g %a' "$SOCK") == "0:$gid 660" ]] ||
            die "$SOCK is $(stat -c '%u:%g %a' "$SOCK"), not 0:$gid 660"
        return 0
    fi
    log "dockerd did not answer on $SOCK; last lines of $LOGFILE:"
    tail -c "+$((offset + 1))" "$LOGFILE" | tail -n 30 >&2 || true
    # Not left running: a later start would put a second engine on its data root.
    stop "$pid"
    return 1
}

command -v curl >/dev/null 2>&1 && command -v jq >/dev/null 2>&1 ||
    die "curl and jq are needed; run scripts/ensure-deps.sh"

if ! ping_ok; then
    ((EUID == 0)) || die "nothing answers on $SOCK; run this script as root to start Docker 26"
    exec 9>"$LOCKFILE"
    flock -w 300 9 || die "timed out waiting for $LOCKFILE"
fi
if ! ping_ok; then
    if pid=$(pid_named "$PIDFILE" dockerd); then
        log "dockerd (pid $pid) is running but not answering yet; waiting up to ${START_TIMEOUT}s"
        deadline=$((SECONDS + START_TIMEOUT))
        until ping_ok || ((SECONDS >= deadline)); do sleep 0.5; done
        ping_ok || die "dockerd (pid $pid) does not answer on $SOCK (stop it, then rerun); see $LOGFILE"
    else
        [[ -f $STAMP ]] || build_rootfs
        start_engine || die "Docker 26 did not start"
    fi
fi

info=$(api /info 10) || die "GET /info failed on $SOCK"
log "Docker $(jq -r .ServerVersion <<<"$info") up at $SOCK (DOCKER_HOST=unix://$SOCK; runtimes: $(jq -r '.Runtimes | keys | join(" ")' <<<"$info"))"
