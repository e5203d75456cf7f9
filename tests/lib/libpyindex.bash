# SPDX-License-Identifier: MIT
# The tests' own PEP 503 package index (tests/lib/pyindex.py) for jobs with
# `requirements`: pyindex_start DIR serves it on loopback, in the engine's
# network namespace when the engine has one of its own (Docker 26 as
# scripts/ensure-docker26.sh runs it), so that a build with
# requirements_network "host" reaches it.  Sets INDEX_DIR and INDEX_PORT;
# DIR/requests.log gets every path asked for.

INDEX_DIR=
# shellcheck disable=SC2034 # used by the tests
INDEX_PORT=

# The engine's network namespace when it is not ours (a dockerd.pid beside
# its socket names the engine), as an nsenter prefix; nothing otherwise.
engine_netns() {
    local pidfile pid
    pidfile=$(dirname "$(rx_socket)")/dockerd.pid
    [[ -r $pidfile ]] || return 0
    pid=$(cat "$pidfile")
    [[ -e /proc/$pid/ns/net && $(readlink "/proc/$pid/ns/net") != "$(readlink /proc/self/ns/net)" ]] ||
        return 0
    printf '%s\0' nsenter "--net=/proc/$pid/ns/net" --
}

# pyindex_start DIR: the index serving from DIR, its pid in DIR/pid.
pyindex_start() {
    INDEX_DIR=$1
    mkdir -p "$INDEX_DIR"
    rm -f "$INDEX_DIR/port"
    local -a netns=()
    mapfile -d '' -t netns < <(engine_netns)
    ${netns[@]+"${netns[@]}"} python3 "$(dirname "${BASH_SOURCE[0]}")/pyindex.py" --port 0 \
        --dir "$INDEX_DIR" --port-file "$INDEX_DIR/port" >"$INDEX_DIR/server.log" 2>&1 3>&- &
    echo $! >"$INDEX_DIR/pid"
    local i
    for ((i = 0; i < 100; i++)); do
        if [[ -s $INDEX_DIR/port ]]; then
            # shellcheck disable=SC2034 # used by the tests
            INDEX_PORT=$(cat "$INDEX_DIR/port")
            return 0
        fi
        sleep 0.1
    done
    fail "the test index did not start: $(cat "$INDEX_DIR/server.log")"
}

# pyindex_policy FILE: an operator policy (mode 0644, for a worker's
# container running as another user) that points requirements at the
# running index, built on the engine's host network.
pyindex_policy() {
    jq -n --arg url "http://127.0.0.1:$INDEX_PORT/simple/" \
        '{requirements_index_url: $url, requirements_network: "host"}' >"$1"
    chmod 0644 "$1"
}

# pyindex_stop DIR
pyindex_stop() {
    [[ -f $1/pid ]] && kill "$(cat "$1/pid")" 2>/dev/null
    rm -f "$1/pid"
}

# How often the index was asked for a path matching a regex.
pyindex_requests() {
    grep -c -E "$1" "$INDEX_DIR/requests.log" || true
}
