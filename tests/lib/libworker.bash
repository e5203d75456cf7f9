# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# Helpers for the ralph-worker part of the real-engine tier
# (tests/integration/2*_worker_*.bats).  Load after libtest:
#
#   load ../lib/libtest
#   load ../lib/libworker
#   setup_file()    { wk_setup_file; }      # engine + redis-server for this file
#   teardown_file() { wk_teardown_file; }   # stops redis, no container may remain
#   setup()         { wk_setup; }           # FLUSHALL, a fresh spool dir
#   teardown()      { wk_teardown; }        # stops this test's workers
#
# Environment:
#   RALPH_WORKER        the binary under test (default build/ralph-worker)
#   RALPH_TEST_STRICT   1: a missing engine, redis-server, ... FAILS the tests
#
# Redis (one server per test file, 127.0.0.1 only, appendonly, in
# $BATS_FILE_TMPDIR/redis):
#   $WK_REDIS_PORT, $WK_Q (redis://127.0.0.1:PORT)
#   rcli ARGS...                  redis-cli -p $WK_REDIS_PORT ARGS...
#   wk_push JSON...               LPUSH ralph:jobs JSON...
#   wk_result TID                 GET ralph:result:TID
#   wk_done_count                 LLEN ralph:done
#   wk_llen_at_least KEY N        (for wk_until) LLEN KEY >= N
#   wk_redis_restart              SHUTDOWN, then the same port and directory again
#
# Spool queues:
#   $WK_SPOOL                     a fresh spool directory for the test
#   wk_spool_job DIR NAME JSON    write incoming/.NAME.tmp, then mv to incoming/NAME.json
#   wk_ls DIR, wk_count DIR       its files (not dot-files), their number
#   wk_count_at_least DIR N       (for wk_until)
#
# Workers (each started in the background, its stderr - JSON log lines - to a
# file; all of them are stopped in teardown):
#   wk_start NAME [VAR=value...] ARGS...   -> WK_PID[NAME], WK_LOG[NAME], WK_ID[NAME]
#                                 (WK_FIXED_ID=ID wk_start ...: that worker id;
#                                 WK_DEFAULT_ID=1 wk_start ...: the worker's own
#                                 default id, read back from its start event)
#   wk_hwm NAME                   the worker's peak resident memory (VmHWM), bytes
#   wk_memory_bound NAME          the memory bound it logged at start, bytes
#   wk_wait_event NAME EVENT [SECS] [JQ_CONDITION]
#   wk_events NAME EVENT [JQ_CONDITION]    the matching log lines
#   wk_wait_exit NAME [SECS]               -> WK_RC
#   wk_signal_and_wait NAME SIG [SECS]     -> WK_RC
#   wk_until SECS WHAT COMMAND...          a bounded wait for COMMAND to succeed

RALPH_WORKER=${RALPH_WORKER:-$BATS_TEST_DIRNAME/../../build/ralph-worker}
export RALPH_WORKER

declare -ga WK_NAMES=()
declare -gA WK_PID=() WK_LOG=() WK_ID=()
WK_RC=

# ---- what this tier needs -------------------------------------------------

wk_problem() {
    local t
    for t in redis-server redis-cli perl setsid; do
        command -v "$t" >/dev/null || { echo "the tool '$t' is not installed"; return; }
    done
    [[ -x $RALPH_WORKER ]] || echo "RALPH_WORKER=$RALPH_WORKER is not an executable (run make)"
}

# As require_engine, plus ralph-worker and redis.  Strict mode fails.
wk_require() {
    require_engine || return 1
    if [[ -z ${BATS_TEST_NAME:-} || -z ${WK_STATE:-} ]]; then
        local why
        why=$(wk_problem)
        WK_STATE=${why:-ok}
        export WK_STATE
    fi
    [[ $WK_STATE == ok ]] && return 0
    if [[ ${RALPH_TEST_STRICT:-0} == 1 ]]; then
        fail "RALPH_TEST_STRICT=1: $WK_STATE"
        return 1
    fi
    [[ -n ${BATS_TEST_NAME:-} ]] && skip "$WK_STATE"
    return 0
}

# ---- bounded waits ----------------------------------------------------------

# wk_deadline SECS: the time in ms, SECS from now (bash's SECONDS counts
# whole seconds, so a wait of N by it could end after N-1).
wk_deadline() {
    echo $(($(date +%s%N) / 1000000 + $1 * 1000))
}

# wk_past DEADLINE: is the time in ms past DEADLINE?
wk_past() {
    (($(date +%s%N) / 1000000 >= $1))
}

# wk_until SECS WHAT COMMAND...: run COMMAND every 0.2 s until it succeeds;
# fail with WHAT after SECS seconds.
wk_until() {
    local secs=$1 what=$2 end
    shift 2
    end=$(wk_deadline "$secs")
    while :; do
        "$@" >/dev/null 2>&1 && return 0
        wk_past "$end" && break
        sleep 0.2
    done
    fail "FAILED: not within $secs s: $what"
}

# Is PID a live process (a zombie is not: an exited daemon may stay a zombie
# for a while until init reaps it)?
wk_pid_alive() {
    local st
    # Read by bash itself: the waits poll this five times a second.
    { read -r st <"/proc/$1/stat"; } 2>/dev/null || return 1
    st=${st##*) }
    [[ -n $st && ${st%% *} != [ZX] ]]
}

wk_pid_gone() {
    ! wk_pid_alive "$1"
}

# ---- redis ------------------------------------------------------------------

rcli() {
    redis-cli -p "$WK_REDIS_PORT" "$@"
}

wk_redis_pid() {
    local pid
    pid=$(cat "$WK_REDIS_DIR/redis.pid" 2>/dev/null) || return 1
    [[ -n $pid && $(cat "/proc/$pid/comm" 2>/dev/null) == redis-server* ]] || return 1
    wk_pid_alive "$pid" || return 1
    echo "$pid"
}

# Is the redis answering on our port really ours (its dir is ours)?
wk_redis_is_ours() {
    local dir
    dir=$(redis-cli -p "$1" CONFIG GET dir 2>/dev/null | sed -n 2p) || return 1
    [[ $dir == "$WK_REDIS_DIR" ]]
}

# wk_redis_start [PORT]: start redis-server (daemonized, appendonly, no RDB)
# on 127.0.0.1; without PORT a free one from 20000-31999 (below the
# ephemeral range), retried.
wk_redis_start() {
    local want=${1:-} port try pid
    mkdir -p "$WK_REDIS_DIR"
    for ((try = 0; try < 20; try++)); do
        port=${want:-$((20000 + RANDOM % 12000))}
        if [[ -z $want ]] && redis-cli -p "$port" PING >/dev/null 2>&1; then
            continue # somebody's server
        fi
        rm -f "$WK_REDIS_DIR/redis.pid"
        redis-server --port "$port" --bind 127.0.0.1 --dir "$WK_REDIS_DIR" \
            --appendonly yes --save '' --daemonize yes \
            --pidfile "$WK_REDIS_DIR/redis.pid" --logfile "$WK_REDIS_DIR/redis.log" \
            </dev/null >/dev/null 2>&1 3>&- || true
        if wk_until 10 "redis-server on port $port answers" wk_redis_is_ours "$port" 2>/dev/null; then
            WK_REDIS_PORT=$port
            WK_Q=redis://127.0.0.1:$port
            export WK_REDIS_PORT WK_Q
            return 0
        fi
        pid=$(wk_redis_pid) && kill -KILL "$pid" 2>/dev/null
        [[ -n $want ]] && break
    done
    tail -20 "$WK_REDIS_DIR/redis.log" >&2 2>/dev/null
    fail "could not start redis-server${want:+ on port $want} (log above)"
}

# Stop our redis-server (SHUTDOWN: the append-only file is flushed).
wk_redis_stop() {
    local pid
    pid=$(wk_redis_pid) || return 0
    redis-cli -p "$WK_REDIS_PORT" SHUTDOWN >/dev/null 2>&1 || true
    if ! wk_until 10 "redis-server $pid exits after SHUTDOWN" wk_pid_gone "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
        fail "redis-server $pid ignored SHUTDOWN (killed)"
        return 1
    fi
}

wk_redis_restart() {
    wk_redis_stop && wk_redis_start "$WK_REDIS_PORT"
}

wk_push() {
    rcli LPUSH ralph:jobs "$@" >/dev/null
}

wk_result() {
    rcli GET "ralph:result:$1"
}

wk_done_count() {
    rcli LLEN ralph:done
}

# For wk_until: the list KEY has at least N items.
wk_llen_at_least() {
    local n
    n=$(rcli LLEN "$1") && ((n >= $2))
}

# Every key holding an in-flight job list, one a line.
wk_processing_keys() {
    rcli --scan --pattern 'ralph:processing:*'
}

# Total length of every processing list.
wk_processing_total() {
    local k n=0
    while read -r k; do
        [[ -n $k ]] && n=$((n + $(rcli LLEN "$k")))
    done < <(wk_processing_keys)
    echo "$n"
}

# ---- spool directories ------------------------------------------------------

wk_spool_job() {
    local dir=$1 name=$2 json=$3
    mkdir -p "$dir/incoming"
    printf '%s' "$json" >"$dir/incoming/.$name.tmp"
    mv "$dir/incoming/.$name.tmp" "$dir/incoming/$name.json"
}

# Files (not dot-files) directly in DIR, one a line.
wk_ls() {
    find "$1" -mindepth 1 -maxdepth 1 ! -name '.*' -printf '%f\n' 2>/dev/null | sort
}

wk_count() {
    wk_ls "$1" | grep -c . || true
}

# For wk_until: DIR holds at least N files.
wk_count_at_least() {
    (($(wk_count "$1") >= $2))
}

# ---- workers ----------------------------------------------------------------

# wk_start NAME [VAR=value...] ARGS...: start ralph-worker --worker-id ID
# ARGS... in the background.
wk_start() {
    local name=$1 id
    shift
    local -a envs=()
    while [[ $# -gt 0 && $1 == [A-Z_]*=* ]]; do
        envs+=("$1")
        shift
    done
    id=${WK_FIXED_ID:-$name-$BATS_TEST_NUMBER-$$-$RANDOM}
    local -a idopt=(--worker-id "$id")
    [[ ${WK_DEFAULT_ID:-0} == 1 ]] && idopt=()
    WK_ID[$name]=$id
    WK_LOG[$name]=$BATS_TEST_TMPDIR/worker-$name.log
    env ${envs[@]+"${envs[@]}"} "$RALPH_WORKER" ${idopt[@]+"${idopt[@]}"} "$@" \
        </dev/null >"$BATS_TEST_TMPDIR/worker-$name.out" 2>"${WK_LOG[$name]}" 3>&- &
    WK_PID[$name]=$!
    WK_NAMES+=("$name")
    if [[ ${WK_DEFAULT_ID:-0} == 1 ]]; then
        wk_wait_event "$name" start 30 || return 1
        id=$(wk_events "$name" start | jq -r .worker | head -1)
        WK_ID[$name]=$id
    fi
    echo "${WK_PID[$name]} $id" >>"$BATS_FILE_TMPDIR/workers"
}

wk_hwm() {
    local kb
    kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/${WK_PID[$1]}/status") || return 1
    echo $((kb * 1024))
}

wk_memory_bound() {
    wk_events "$1" start | jq -r .memory_bound | head -1
}

# The JSON log lines of worker NAME (other lines are skipped).
wk_log() {
    jq -Rc 'fromjson? // empty' "${WK_LOG[$1]}"
}

# wk_events NAME EVENT [JQ_CONDITION]: the matching log lines, compact.
wk_events() {
    jq -Rc --arg e "$2" "fromjson? | select(type == \"object\" and .event == \$e) | select(${3:-true})" \
        "${WK_LOG[$1]}"
}

wk_count_events() {
    wk_events "$@" | grep -c . || true
}

wk_has_event() {
    # A grep for the event's name first (the waits poll this five times a
    # second, over logs of thousands of lines): jq only when it is there.
    grep -qF "\"event\":\"$2\"" "${WK_LOG[$1]}" 2>/dev/null || return 1
    [[ -n $(wk_events "$@") ]]
}

wk_dump() {
    local name
    for name in "$@"; do
        {
            echo "--- log of worker $name (${WK_ID[$name]:-?}), last 40 lines:"
            tail -40 "${WK_LOG[$name]}" 2>/dev/null
        } >&2
    done
}

# wk_wait_event NAME EVENT [SECS] [JQ_CONDITION]: fails after SECS, or at
# once when the worker has exited without logging it.
wk_wait_event() {
    local name=$1 event=$2 secs=${3:-30} cond=${4:-true} end alive
    end=$(wk_deadline "$secs")
    while :; do
        alive=0
        wk_alive "$name" && alive=1
        wk_has_event "$name" "$event" "$cond" && return 0
        if ((alive == 0)); then
            wk_dump "$name"
            fail "FAILED: worker $name exited without logging event $event ($cond)"
            return 1
        fi
        wk_past "$end" && break
        sleep 0.2
    done
    wk_dump "$name"
    fail "FAILED: not within $secs s: worker $name logs event $event ($cond)"
}

wk_alive() {
    wk_pid_alive "${WK_PID[$1]}"
}

# wk_wait_exit NAME [SECS]: wait for the worker to exit; WK_RC gets its code.
wk_wait_exit() {
    local name=$1 secs=${2:-30}
    if ! wk_until "$secs" "worker $name exits" wk_pid_gone "${WK_PID[$name]}"; then
        wk_dump "$name"
        return 1
    fi
    WK_RC=0
    wait "${WK_PID[$name]}" || WK_RC=$?
}

wk_signal_and_wait() {
    local name=$1 sig=$2 secs=${3:-30}
    kill "-$sig" "${WK_PID[$name]}"
    wk_wait_exit "$name" "$secs"
}

# wk_expect_exit NAME CODE [SECS]
wk_expect_exit() {
    wk_wait_exit "$1" "${3:-30}" || return 1
    if [[ $WK_RC != "$2" ]]; then
        wk_dump "$1"
        fail "FAILED: worker $1 exited with $WK_RC, expected $2"
    fi
}

# Containers (any state) made by worker NAME.
wk_containers() {
    docker ps -aq --no-trunc --filter "label=ralph.owner=ralph-worker/${WK_ID[$1]}"
}

wk_container_exists() {
    docker inspect "$1" >/dev/null 2>&1
}

wk_container_gone() {
    ! wk_container_exists "$1"
}

# wk_status_is QUEUE JQ_CONDITION: `ralph-worker status` satisfies it.
wk_status_is() {
    "$RALPH_WORKER" status --queue "$1" | jq -e "$2" >/dev/null
}

# ---- setup and teardown -----------------------------------------------------

wk_setup_file() {
    wk_require || return 1
    # Not strict and something is missing: every test skips (in setup).
    [[ $RX_ENGINE_STATE == ok && $WK_STATE == ok ]] || return 0
    WK_REDIS_DIR=$(realpath -m "$BATS_FILE_TMPDIR/redis")
    export WK_REDIS_DIR
    : >"$BATS_FILE_TMPDIR/workers"
    wk_redis_start
}

wk_setup() {
    wk_require || return 1
    if ! wk_redis_is_ours "$WK_REDIS_PORT"; then
        wk_redis_start "$WK_REDIS_PORT" || return 1
    fi
    [[ $(rcli FLUSHALL) == OK ]] || fail "redis FLUSHALL failed"
    # A test may have narrowed the default user's rights: every test starts with all.
    rcli ACL SETUSER default on nopass '~*' '&*' '+@all' >/dev/null 2>&1 || true
    # shellcheck disable=SC2034 # used by the tests
    WK_SPOOL=$BATS_TEST_TMPDIR/spool
}

# Stop a worker that is still running: SIGTERM, a second SIGTERM (running
# jobs are cancelled and their containers removed), then SIGKILL.
wk_kill() {
    local pid=$1
    wk_pid_alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null
    sleep 0.3
    kill -TERM "$pid" 2>/dev/null
    wk_until 15 "worker $pid exits after two SIGTERMs" wk_pid_gone "$pid" 2>/dev/null && return 0
    kill -KILL "$pid" 2>/dev/null
    return 1
}

# A worker still running is stopped (a test may leave that to teardown); one
# that ignores two SIGTERMs for 15 s is SIGKILLed and fails the test, and
# so does any container a worker left, however it ended.
wk_teardown() {
    local name ids bad=0
    if [[ -n ${WK_PROXY_PID:-} ]]; then
        kill -KILL -- "-$WK_PROXY_PID" 2>/dev/null || true
        wait "$WK_PROXY_PID" 2>/dev/null || true
    fi
    for name in ${WK_NAMES[@]+"${WK_NAMES[@]}"}; do
        if wk_alive "$name"; then
            echo "note: worker $name was still running at teardown: stopped" >&2
            if ! wk_kill "${WK_PID[$name]}"; then
                wk_dump "$name"
                echo "FAILED: worker $name ignored two SIGTERMs for 15 s (SIGKILLed)" >&2
                bad=1
            fi
        fi
        wait "${WK_PID[$name]}" 2>/dev/null || true
    done
    local -A held=()
    [[ -z ${WK_NAMES[*]+x} ]] || rx_containers_by_label ralph.owner held
    for name in ${WK_NAMES[@]+"${WK_NAMES[@]}"}; do
        ids=${held["ralph-worker/${WK_ID[$name]}"]:-}
        if [[ -n $ids ]]; then
            echo "FAILED: container(s) of worker $name left behind: $ids" >&2
            # shellcheck disable=SC2086
            docker rm -fv $ids >/dev/null 2>&1 || true
            bad=1
        fi
    done
    return $bad
}

wk_teardown_file() {
    local pid id rest ids bad=0
    # Workers of this file still running (a test that failed in its middle).
    while read -r pid id rest; do
        [[ -n $pid ]] || continue
        if grep -qa ralph-worker "/proc/$pid/cmdline" 2>/dev/null; then
            echo "FAILED: worker $id (pid $pid) still running at the end of the file" >&2
            wk_kill "$pid" || true
            bad=1
        fi
    done < <(cat "$BATS_FILE_TMPDIR/workers" 2>/dev/null)
    # Engine proxies (process groups) of this file.
    while read -r pid rest; do
        [[ -n $pid && $(cat "/proc/$pid/comm" 2>/dev/null) == perl ]] &&
            kill -KILL -- "-$pid" 2>/dev/null
    done < <(cat "$BATS_FILE_TMPDIR/proxies" 2>/dev/null)
    if [[ -n ${WK_REDIS_DIR:-} ]]; then
        wk_redis_stop || bad=1
        if pid=$(wk_redis_pid); then
            echo "FAILED: redis-server $pid still running" >&2
            bad=1
        fi
    fi
    # No container of any task may remain (a running ralph-exec may still be
    # removing its own: a short bounded wait).
    # shellcheck disable=SC2016 # expanded by that bash
    if ! wk_until 15 "no container labelled ralph.task_id remains" \
        bash -c '[[ -z $(docker ps -aq --filter label=ralph.task_id) ]]' 2>/dev/null; then
        docker ps -a --filter label=ralph.task_id \
            --format '{{.ID}} {{.Label "ralph.task_id"}} {{.Label "ralph.owner"}} {{.Status}}' >&2
        # Remove ours, so they do not leak into the next file.
        while read -r pid id rest; do
            [[ -n $id ]] || continue
            ids=$(docker ps -aq --filter "label=ralph.owner=ralph-worker/$id")
            # shellcheck disable=SC2086
            [[ -n $ids ]] && docker rm -fv $ids >/dev/null 2>&1
        done < <(cat "$BATS_FILE_TMPDIR/workers" 2>/dev/null)
        fail "FAILED: containers labelled ralph.task_id were left behind (above)"
        bad=1
    fi
    return $bad
}

# ---- deps images ------------------------------------------------------------

# wk_remove_index_deps_images PORT: remove every deps image built from the
# tests' index on PORT (tests/lib/pyindex.py): their key label
# (io.ralph-exec.deps-key, one fact a line) names the index URL, whoever
# built them and whether or not the test got as far as reading one's name
# from a result.  For a teardown, after the containers are gone; fails when
# the images cannot be listed or one cannot be removed.
wk_remove_index_deps_images() {
    local port=$1 sock list ids id bad=0
    [[ -n $port ]] || return 0
    sock=$(rx_socket) || return 1
    list=$(curl -s --max-time 10 --unix-socket "$sock" -G http://localhost/images/json \
        --data-urlencode 'filters={"label":["io.ralph-exec.deps-key"]}') || list=
    # (jq 1.6 -e exits 0 on empty input: the list's emptiness is checked first.)
    if [[ -z $list ]] || ! ids=$(jq -er --arg ix "index http://127.0.0.1:$port/simple/" 'if type == "array" then
            [.[] | select(.Labels["io.ralph-exec.deps-key"] | split("\n") | index($ix)) | .Id] | join(" ")
            else error("not a list") end' 2>/dev/null <<<"$list"); then
        echo "FAILED: could not list the deps images: ${list:0:200}" >&2
        return 1
    fi
    for id in $ids; do
        if ! docker rmi "$id" >/dev/null 2>"$BATS_TEST_TMPDIR/rmi.err"; then
            echo "FAILED: the deps image $id could not be removed: $(cat "$BATS_TEST_TMPDIR/rmi.err")" >&2
            bad=1
        fi
    done
    return $bad
}

# ---- an engine that can die: a proxy to the real engine socket ---------------
#
# wk_engine_proxy_start SOCK: listen on SOCK and forward every connection to
# the real engine (perl, one process per connection, in its own process
# group); WK_PROXY_PID is the group.  wk_engine_proxy_stop kills the whole
# group (existing connections break, as when dockerd dies) and removes SOCK.

# shellcheck disable=SC2016 # perl, not shell
WK_PROXY_PL='
use strict; use warnings;
use IO::Socket::UNIX; use IO::Select; use Socket;
my ($path, $target) = @ARGV;
unlink $path;
my $srv = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => $path, Listen => 128)
    or die "proxy: listen $path: $!\n";
$SIG{CHLD} = "IGNORE";
while (1) {
    my $c = $srv->accept or next;
    my $pid = fork;
    if (!defined $pid) { close $c; next; }
    if ($pid) { close $c; next; }
    close $srv;
    my $u = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $target) or exit 1;
    my %peer = ("$c" => $u, "$u" => $c);
    my $sel = IO::Select->new($c, $u);
    my ($buf, $eofs) = ("", 0);
    while ($eofs < 2) {
        for my $fh ($sel->can_read) {
            my $n = sysread($fh, $buf, 65536);
            exit 0 unless defined $n;
            my $to = $peer{"$fh"};
            if ($n == 0) { $eofs++; $sel->remove($fh); shutdown($to, 1); next; }
            my $off = 0;
            while ($off < $n) {
                my $w = syswrite($to, $buf, $n - $off, $off);
                exit 0 unless defined $w;
                $off += $w;
            }
        }
    }
    exit 0;
}
'

wk_engine_proxy_up() {
    [[ $(curl -s --max-time 2 --unix-socket "$1" http://localhost/_ping 2>/dev/null) == OK ]]
}

wk_engine_proxy_start() {
    local sock=$1 real
    real=$(rx_socket) || { fail "DOCKER_HOST is not unix://"; return 1; }
    setsid perl -e "$WK_PROXY_PL" "$sock" "$real" </dev/null >/dev/null \
        2>"$BATS_TEST_TMPDIR/proxy.err" 3>&- &
    WK_PROXY_PID=$!
    echo "$WK_PROXY_PID proxy" >>"$BATS_FILE_TMPDIR/proxies"
    wk_until 10 "the engine proxy answers on $sock" wk_engine_proxy_up "$sock" ||
        { cat "$BATS_TEST_TMPDIR/proxy.err" >&2; return 1; }
}

wk_engine_proxy_stop() {
    [[ -n ${WK_PROXY_PID:-} ]] || return 0
    # setsid made it a group leader: its group is its pid.
    kill -KILL -- "-$WK_PROXY_PID" 2>/dev/null || true
    wait "$WK_PROXY_PID" 2>/dev/null || true
    rm -f "$1"
    WK_PROXY_PID=
}
