# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# procs.sh: what a start script asks of /proc, for the engines it starts.
# Sourced by scripts/ensure-engine.sh and scripts/ensure-docker26.sh.

# alive PID: the process exists and is not a zombie (a killed daemon whose
# parent has not reaped it yet still has /proc/PID and answers kill -0).
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat:0:1} != [ZX] ]]
}

# pid_named FILE COMM: print the pid in FILE if that process is alive and its
# command name is COMM (guards against pid reuse).
pid_named() {
    local pid="" comm
    [[ -r $1 ]] || return 1
    # dockerd writes its pid without a trailing newline: read then fails.
    read -r pid <"$1" 2>/dev/null || [[ -n $pid ]] || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    [[ $comm == "$2" ]] && alive "$pid" || return 1
    printf '%s\n' "$pid"
}
