#!/usr/bin/env bash
# ensure-engine.sh: make sure a Docker engine answers on the socket the
# project uses, starting one when that is possible.
#
#   [DOCKER_HOST=unix:///path/to/docker.sock] scripts/ensure-engine.sh
#
# - DOCKER_HOST must be unset, empty or unix://PATH (default
#   /var/run/docker.sock); anything else is an error.  For the socket of the
#   second engine, unix:///run/ralph-docker26/docker.sock, it runs
#   scripts/ensure-docker26.sh instead.
# - As root, when /usr/bin/runsc exists, registers the gVisor runtime "runsc"
#   in /etc/docker/daemon.json (merged with jq, other keys kept) and reloads a
#   running default engine (SIGHUP) when the file changed.
# - When nothing answers on the default socket and we are root, removes stale
#   pid files left by a killed engine, starts /usr/sbin/dockerd detached
#   (log: /var/log/ralph-dockerd.log) and waits up to 90 s for GET /_ping.
# Prints one line when the engine is up; exit status 1 when it is not.
set -euo pipefail

readonly PROG=${0##*/}
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "error: $*"; exit 1; }

readonly DEFAULT_SOCK=/var/run/docker.sock
readonly DOCKERD=/usr/sbin/dockerd
readonly RUNSC=/usr/bin/runsc
readonly DAEMON_JSON=/etc/docker/daemon.json
readonly ENGINE_LOG=/var/log/ralph-dockerd.log
readonly DOCKER_PIDFILE=/var/run/docker.pid
# containerd as supervised by dockerd (no --containerd flag).
readonly MANAGED_CONTAINERD_PIDFILE=/var/run/docker/containerd/containerd.pid
# dockerd uses a "system" containerd whenever this socket exists (it only
# checks that the file exists), so a stale one breaks startup.
readonly SYSTEM_CONTAINERD_SOCK=/run/containerd/containerd.sock
readonly LOCKFILE=/var/run/ralph-ensure-engine.lock
readonly START_TIMEOUT=90
readonly RUNSC_RUNTIME='{"path": "/usr/bin/runsc", "runtimeArgs": ["--platform=ptrace", "--network=none"]}'

# --- socket --------------------------------------------------------------
host=${DOCKER_HOST:-unix://$DEFAULT_SOCK}
case $host in
    unix://?*) SOCK=${host#unix://} ;;
    *) die "DOCKER_HOST='$host' is not supported: only unix://PATH" ;;
esac
readonly SOCK
# The second engine, Docker 26, has a script of its own.
[[ $SOCK == /run/ralph-docker26/docker.sock ]] && exec "$(dirname "${BASH_SOURCE[0]}")/ensure-docker26.sh"
is_default_sock() { [[ $SOCK == "$DEFAULT_SOCK" || $SOCK == /run/docker.sock ]]; }

command -v curl >/dev/null 2>&1 || die "curl not found; run scripts/ensure-deps.sh"
HAVE_JQ=0
command -v jq >/dev/null 2>&1 && HAVE_JQ=1

# --- engine API helpers --------------------------------------------------
api_get() { curl -fsS --max-time 5 --unix-socket "$SOCK" "http://localhost$1" 2>/dev/null; }

ping_ok() {
    local out
    out=$(api_get /_ping) || return 1
    [[ $out == OK ]]
}

# wait_ping SECONDS [PID]: poll /_ping; give up early if PID dies.
wait_ping() {
    local deadline=$((SECONDS + $1)) pid=${2:-}
    while ((SECONDS < deadline)); do
        ping_ok && return 0
        if [[ -n $pid ]] && ! alive "$pid"; then
            # Not fatal if a dockerd is still alive under another pid.
            pid=$(pid_named "$DOCKER_PIDFILE" dockerd) || {
                log "dockerd exited"
                return 1
            }
        fi
        sleep 0.5
    done
    ping_ok
}

# Runtime names the engine reports, space separated.
engine_runtimes() {
    local info
    info=$(api_get /info) || return 1
    if ((HAVE_JQ)); then
        jq -r '(.Runtimes // {}) | keys | join(" ")' <<<"$info"
    else
        # Crude but enough for "does it list runsc".
        grep -o '"Runtimes":{[^}]*}' <<<"$info" | grep -o '"[a-z0-9_.-]*":{"path"' | cut -d'"' -f2 | tr '\n' ' '
    fi
}

has_runsc_runtime() {
    local rts
    rts=$(engine_runtimes) || return 1
    [[ " $rts " == *" runsc "* ]]
}

report_up() {
    local version="?" rts
    if ((HAVE_JQ)); then
        version=$(api_get /version | jq -r '.Version // "?"') || version="?"
    fi
    rts=$(engine_runtimes) || rts="?"
    log "engine up at $SOCK (Docker $version; runtimes: ${rts% })"
    if [[ -x $RUNSC ]] && [[ " $rts " != *" runsc "* ]]; then
        log "warning: $RUNSC exists but the engine does not list the runsc runtime (see $DAEMON_JSON)"
    fi
}

# --- process helpers -----------------------------------------------------
# shellcheck source=scripts/procs.sh
source "$(dirname "${BASH_SOURCE[0]}")/procs.sh"

any_process_named() {
    local f comm
    for f in /proc/[0-9]*/comm; do
        comm=$(cat "$f" 2>/dev/null) || continue
        if [[ $comm == "$1" ]]; then
            f=${f#/proc/}
            alive "${f%/comm}" && return 0
        fi
    done
    return 1
}

remove_stale_files() {
    if [[ -e $DOCKER_PIDFILE ]] && ! pid_named "$DOCKER_PIDFILE" dockerd >/dev/null; then
        log "removing stale $DOCKER_PIDFILE"
        rm -f "$DOCKER_PIDFILE"
    fi
    if [[ -e $MANAGED_CONTAINERD_PIDFILE ]] && ! pid_named "$MANAGED_CONTAINERD_PIDFILE" containerd >/dev/null; then
        log "removing stale $MANAGED_CONTAINERD_PIDFILE"
        rm -f "$MANAGED_CONTAINERD_PIDFILE"
    fi
    if [[ -S $SYSTEM_CONTAINERD_SOCK ]] && ! any_process_named containerd; then
        log "removing stale $SYSTEM_CONTAINERD_SOCK (no containerd running)"
        rm -f "$SYSTEM_CONTAINERD_SOCK"
    fi
}

# --- daemon.json ---------------------------------------------------------
# Make daemon.json register runsc. Sets DAEMON_JSON_CHANGED=1 when written.
DAEMON_JSON_CHANGED=0
ensure_runsc_config() {
    local current desired tmp mode=644
    if [[ -s $DAEMON_JSON ]]; then  # an empty file counts as absent
        ((HAVE_JQ)) || die "jq is needed to merge the runsc runtime into $DAEMON_JSON; run scripts/ensure-deps.sh"
        jq -e 'type == "object"' "$DAEMON_JSON" >/dev/null 2>&1 \
            || die "$DAEMON_JSON is not a JSON object; fix it by hand"
        current=$(jq -S . "$DAEMON_JSON")
        desired=$(jq -S --argjson r "$RUNSC_RUNTIME" '.runtimes.runsc = $r' "$DAEMON_JSON")
        [[ $current == "$desired" ]] && return 0
        mode=$(stat -c %a "$DAEMON_JSON")
    elif ((HAVE_JQ)); then
        desired=$(jq -S -n --argjson r "$RUNSC_RUNTIME" '{runtimes: {runsc: $r}}')
    else
        desired="{\"runtimes\": {\"runsc\": $RUNSC_RUNTIME}}"
    fi
    mkdir -p "${DAEMON_JSON%/*}"
    tmp=$(mktemp "$DAEMON_JSON.XXXXXX")
    printf '%s\n' "$desired" >"$tmp"
    chmod "$mode" "$tmp"
    mv -f "$tmp" "$DAEMON_JSON"
    DAEMON_JSON_CHANGED=1
    log "registered the runsc runtime in $DAEMON_JSON"
}

reload_engine() {
    local pid
    if ! is_default_sock || ! pid=$(pid_named "$DOCKER_PIDFILE" dockerd); then
        log "warning: $DAEMON_JSON changed; reload the engine serving $SOCK yourself (kill -HUP its dockerd)"
        return 0
    fi
    log "reloading dockerd (pid $pid) for the new $DAEMON_JSON"
    kill -HUP "$pid"
    wait_ping 30 "$pid" || die "engine stopped answering after SIGHUP; see $ENGINE_LOG"
    # The reload is asynchronous; give it a moment to show up in /info.
    local deadline=$((SECONDS + 10))
    while ((SECONDS < deadline)); do
        has_runsc_runtime && return 0
        sleep 0.5
    done
}

# --- main ----------------------------------------------------------------
if ((EUID == 0)); then
    # Serialise concurrent runs (e.g. make -j). fd 9 must not leak into dockerd.
    if command -v flock >/dev/null 2>&1; then
        exec 9>"$LOCKFILE"
        flock -w 180 9 || die "timed out waiting for $LOCKFILE"
    fi
    if [[ -x $RUNSC ]]; then
        ensure_runsc_config
    fi
fi

if ping_ok; then
    if ((DAEMON_JSON_CHANGED)); then
        reload_engine
    fi
    report_up
    exit 0
fi

if [[ -S $SOCK && ! -w $SOCK ]]; then
    die "no engine answers on $SOCK and it is not writable by uid $EUID (join the socket's group or run as root)"
fi
is_default_sock || die "no engine answers on $SOCK; only the default socket ($DEFAULT_SOCK) is started by this script"
((EUID == 0)) || die "no engine answers on $SOCK; run this script as root to start dockerd"
[[ -x $DOCKERD ]] || die "$DOCKERD not found; run scripts/ensure-deps.sh"

if pid=$(pid_named "$DOCKER_PIDFILE" dockerd); then
    # A live dockerd that does not answer yet: probably still starting.
    log "dockerd (pid $pid) is running but not answering yet; waiting up to ${START_TIMEOUT}s"
    if wait_ping "$START_TIMEOUT" "$pid"; then
        report_up
        exit 0
    fi
    if pid=$(pid_named "$DOCKER_PIDFILE" dockerd); then
        log "error: dockerd (pid $pid) does not answer on $SOCK; last lines of $ENGINE_LOG:"
        tail -n 30 "$ENGINE_LOG" >&2 2>/dev/null || true
        exit 1
    fi
    # It died: start a new one below.
fi

remove_stale_files
mkdir -p "${ENGINE_LOG%/*}"
log_offset=$(stat -c %s "$ENGINE_LOG" 2>/dev/null || echo 0)
printf '=== %s: starting %s at %s ===\n' "$PROG" "$DOCKERD" "$(date -Is)" >>"$ENGINE_LOG"
log "starting $DOCKERD (log: $ENGINE_LOG)"
# setsid: own session, so the daemon outlives this script and its terminal.
setsid nohup "$DOCKERD" >>"$ENGINE_LOG" 2>&1 </dev/null 9>&- &
pid=$!
if ! wait_ping "$START_TIMEOUT" "$pid"; then
    log "error: dockerd did not come up (GET /_ping on $SOCK, waited up to ${START_TIMEOUT}s); last lines of $ENGINE_LOG:"
    tail -c "+$((log_offset + 1))" "$ENGINE_LOG" | tail -n 30 >&2 || true
    exit 1
fi
report_up
