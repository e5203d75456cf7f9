#!/usr/bin/env bash
# ensure-podman.sh: make sure Podman's Docker-compatible API answers on the
# socket the project tests it on, with the sandbox image in it.
#
#   [PODMAN_SOCK=/run/ralph-podman/podman.sock] [PODMAN_STORAGE_DRIVER=overlay] \
#   scripts/ensure-podman.sh
#
# - Installs podman and catatonit (the init Podman runs for Init: true) with
#   scripts/ensure-deps.sh.
# - When nothing answers GET /_ping on PODMAN_SOCK, starts (as root)
#   `podman system service --time=0` there, detached, with its own storage
#   under /var/lib/ralph-podman/<driver> (overlay; vfs when overlay cannot
#   start) and cgroupfs, and waits for /_ping (log: /var/log/ralph-podman.log).
# - Copies the sandbox image (SANDBOX_IMAGE, default ralph-sandbox:python)
#   from the Docker engine (make images builds it there) with
#   scripts/copy-image.sh, only when Podman lacks it or has another ID.
# Quick when all is done.  Prints one line when Podman is up.
set -euo pipefail

readonly PROG=${0##*/}
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "error: $*"; exit 1; }

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly HERE
readonly SOCK=${PODMAN_SOCK:-/run/ralph-podman/podman.sock}
readonly DRIVER=${PODMAN_STORAGE_DRIVER:-overlay}
readonly STATE=/var/lib/ralph-podman
readonly RUNROOT=/run/ralph-podman/runroot
readonly LOGFILE=/var/log/ralph-podman.log
readonly LOCKFILE=/run/ralph-ensure-podman.lock
readonly SANDBOX_IMAGE=${SANDBOX_IMAGE:-ralph-sandbox:python}
readonly DOCKER_SOCK=${RALPH_DOCKER_SOCK:-/var/run/docker.sock}
readonly START_TIMEOUT=60

(($# == 0)) || die "takes no arguments (environment: PODMAN_SOCK, PODMAN_STORAGE_DRIVER, SANDBOX_IMAGE)"
[[ $SOCK == /* ]] || die "PODMAN_SOCK must be an absolute path"
case $DRIVER in overlay | vfs) ;; *) die "PODMAN_STORAGE_DRIVER must be overlay or vfs" ;; esac

"$HERE/ensure-deps.sh" podman catatonit

ping_ok() {
    local out
    out=$(curl -fsS --max-time 5 --unix-socket "$SOCK" http://localhost/_ping 2>/dev/null) || return 1
    [[ $out == OK ]]
}

# start_service DRIVER: start the service on that storage driver and wait for
# /_ping; 1 when it does not come up (the log says why).
start_service() {
    local driver=$1 pid deadline
    mkdir -p "${SOCK%/*}" "$STATE/$driver" "$RUNROOT-$driver" "${LOGFILE%/*}"
    rm -f "$SOCK"
    printf '=== %s: starting podman system service (%s) at %s ===\n' "$PROG" "$driver" \
        "$(date -Is)" >>"$LOGFILE"
    # Its own storage, so that no other Podman user on the machine shares
    # (or prunes) its images and containers; cgroupfs because nothing here
    # runs systemd; the file events backend for the same reason.
    # setsid: its own session, so it outlives this script.  From $STATE:
    # conmon 2.1.6 under podman 4.3.1 writes its "oom" marker into the
    # service's working directory (so Podman never reports OOMKilled, see
    # docker_container_oom), which must not be wherever this ran from.
    cd "$STATE"
    setsid nohup podman --root "$STATE/$driver" --runroot "$RUNROOT-$driver" \
        --storage-driver "$driver" --cgroup-manager cgroupfs --events-backend file \
        system service --time=0 "unix://$SOCK" >>"$LOGFILE" 2>&1 </dev/null 9>&- &
    pid=$!
    deadline=$((SECONDS + START_TIMEOUT))
    while ((SECONDS < deadline)); do
        ping_ok && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    ping_ok && return 0
    log "podman system service ($driver) did not answer on $SOCK; last lines of $LOGFILE:"
    tail -n 15 "$LOGFILE" >&2 || true
    # Gone before the next try (or the caller's exit): TERM, then KILL.
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    return 1
}

# A service already serving $SOCK that is merely slow to answer: wait for it
# rather than starting a second one beside it on the same storage.
running_service() {
    pgrep -f "system service --time=0 unix://$SOCK\$" 2>/dev/null | head -n 1
}

if ((EUID == 0)) && command -v flock >/dev/null 2>&1; then
    exec 9>"$LOCKFILE"
    flock -w 300 9 || die "timed out waiting for $LOCKFILE"
fi

if ! ping_ok && old=$(running_service) && [[ -n $old ]]; then
    log "podman service $old on $SOCK is slow to answer; waiting for it"
    deadline=$((SECONDS + START_TIMEOUT))
    until ping_ok || ((SECONDS >= deadline)); do sleep 0.5; done
    ping_ok || die "podman service $old on $SOCK does not answer /_ping (stop it, then rerun)"
fi
if ! ping_ok; then
    ((EUID == 0)) || die "nothing answers on $SOCK; run this script as root to start podman"
    if ! start_service "$DRIVER"; then
        [[ $DRIVER == overlay ]] || die "podman did not start"
        log "overlay storage did not work here; trying vfs (slower, more disk)"
        start_service vfs || die "podman did not start with vfs storage either"
    fi
fi

"$HERE/copy-image.sh" "$DOCKER_SOCK" "$SOCK" "$SANDBOX_IMAGE"
version=$(curl -fsS --max-time 5 --unix-socket "$SOCK" http://localhost/version | jq -r .Version)
log "podman $version up at $SOCK (DOCKER_HOST=unix://$SOCK) with $SANDBOX_IMAGE"
