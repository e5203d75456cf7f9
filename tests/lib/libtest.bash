# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# Helpers for the real-engine tier (tests/integration/*.bats).  Load with
#
#   load ../lib/libtest
#   setup_file() { require_engine; }
#   setup()      { require_engine; }
#   teardown()   { rx_teardown; }
#
# Environment:
#   RALPH_EXEC          the binary under test (default build/ralph-exec)
#   RALPH_TEST_STRICT   1: a missing engine, image or tool FAILS the tests
#                       instead of skipping them (make integration, make test)
#   DOCKER_HOST         unix:///path/to/docker.sock (default /var/run/docker.sock)
#   RALPH_TEST_IMAGE    the sandbox image (default ralph-sandbox:python)
#   RALPH_TEST_SANDBOX  gvisor: every job of rx_run and rx_run_bg runs under
#                       gVisor unless the job names its own `sandbox`: the run
#                       gets `--policy FILE` with {"default_sandbox": "gvisor"}
#                       (see rx_sandbox_args for how a test's own --policy is
#                       merged).  Unset, empty or runc: nothing is added.
#
# Running one job:
#   rx_job_jq --arg id "$tid" '{task_id: $id, command: ["true"]}'   # -> $JOB
#   rx_run "$JOB"                 # -> $RX_OUT (result JSON), $RX_ERR, $RX_RC, $RX_MS
#   rx_expect error 1             # status and ralph-exec exit code
#   rx_check '.exit_code == 3' 'the job exit code is reported'
#
# rx_run remembers every task_id it ran; rx_teardown then fails the test if
# any container labelled with one of them still exists (and removes it, so
# nothing leaks into the next test).

RALPH_EXEC=${RALPH_EXEC:-$BATS_TEST_DIRNAME/../../build/ralph-exec}
RALPH_TEST_IMAGE=${RALPH_TEST_IMAGE:-ralph-sandbox:python}
export RALPH_EXEC RALPH_TEST_IMAGE

# jq -e: true only if the last value it printed is neither false nor null,
# and exit 4 when it printed none.  jq 1.6 (Debian bookworm's) exits 0 when
# it read no input at all, so `jq -e COND <<<"$EMPTY"` passed on a missing
# result.  This jq holds 1.6 to the documented rule: under -e, no value
# printed is a failure.
jq() {
    local a e=0
    for a in "$@"; do
        case $a in
        --exit-status) e=1 ;;
        --*) ;;
        -*e*) [[ $a =~ ^-[A-Za-z]+$ ]] && e=1 ;;
        esac
    done
    if ((e == 0)); then
        command jq "$@"
        return
    fi
    # Its output kept byte for byte (a -r empty string is a value: one
    # newline), its status after it.
    local out rc
    out=$(command jq "$@"; printf '\n%d' "$?")
    rc=${out##*$'\n'}
    out=${out%$'\n'*}
    printf '%s' "$out"
    if ((rc == 0)) && [[ -z $out ]]; then
        echo "jq -e: no value (no input?)" >&2
        rc=4
    fi
    return "$rc"
}

RX_TASK_IDS=()
RX_BG_PIDS=()
RX_N=0

# ---- failing with a message ---------------------------------------------

fail() {
    printf '%s\n' "$@" >&2
    return 1
}

# The result, shortened for humans (stdout/stderr can be megabytes).
rx_show_result() {
    if jq -e . >/dev/null 2>&1 <<<"${RX_OUT-}"; then
        jq '(.stdout, .stderr) |= (if type == "string" and length > 2000
                                   then .[0:2000] + "...(cut by the test)" else . end)' \
            <<<"$RX_OUT"
    else
        printf '%s\n' "${RX_OUT-}" | head -c 4000
    fi
}

rx_dump() {
    {
        echo "--- ralph-exec exit code: ${RX_RC-}"
        echo "--- result (stdout):"
        rx_show_result
        echo "--- stderr:"
        printf '%s\n' "${RX_ERR-}" | head -c 4000
    } >&2
}

# ---- the engine -----------------------------------------------------------

# The engine socket, from DOCKER_HOST (unix:// only) or the default.
rx_socket() {
    local h=${DOCKER_HOST:-}
    case $h in
    '') echo /var/run/docker.sock ;;
    unix://*) echo "${h#unix://}" ;;
    *) return 1 ;;
    esac
}

# rx_engine_kind_probe: the engine's kind, "podman" or "docker", from its
# GET /version (Podman names itself in Components: not the ping's Server
# header that ralph-exec reads, so 07_infra_errors checks the one against
# the other).  When /version gives no answer the kind is unknown: this
# prints why and fails (never a guess: a guess of docker would skip every
# Podman-only test on Podman).
rx_engine_kind_probe() {
    local sock v k
    sock=$(rx_socket) || { echo "DOCKER_HOST=$DOCKER_HOST is not unix:///path"; return 1; }
    v=$(curl -s --max-time 10 --unix-socket "$sock" http://localhost/version 2>/dev/null) || v=
    # jq's answer, not its exit status: jq 1.6 -e exits 0 on empty input.
    k=$(jq -r 'if type == "object" and (.ApiVersion | type == "string") then
            if [.Components[]?.Name | strings] | any(test("podman"; "i")) then "podman" else "docker" end
        else empty end' 2>/dev/null <<<"$v") || k=
    if [[ $k != podman && $k != docker ]]; then
        echo "the engine at $sock gave no answer to GET /version, so its kind (Docker or Podman) is unknown: '${v:0:200}'"
        return 1
    fi
    echo "$k"
}

# The engine's kind, "podman" or "docker": the answer require_engine got
# (RX_ENGINE_KIND), else asked now.  Fails, saying why, when the kind is
# unknown.
rx_engine_kind() {
    if [[ -z ${RX_ENGINE_KIND:-} ]]; then
        local k
        if ! k=$(rx_engine_kind_probe); then
            fail "$k"
            return 1
        fi
        RX_ENGINE_KIND=$k
        export RX_ENGINE_KIND
    fi
    echo "$RX_ENGINE_KIND"
}

# Is the engine Podman?  An unknown kind is neither answer: it fails the
# test on the spot (exit in the test's shell), so `rx_on_podman || skip`
# cannot turn a failed probe into a skip.  (require_engine has already
# settled the kind for every test that calls it in setup.)
rx_on_podman() {
    local k
    if ! k=$(rx_engine_kind); then
        [[ ${RALPH_TEST_STRICT:-0} == 1 ]] && exit 1
        skip "the engine's kind is unknown"
    fi
    [[ $k == podman ]]
}

# What stops this tier from running here (empty: nothing).
rx_engine_problem() {
    local t sock pong code
    for t in curl jq docker; do
        command -v "$t" >/dev/null || { echo "the tool '$t' is not installed"; return; }
    done
    if [[ ! -x $RALPH_EXEC ]]; then
        echo "RALPH_EXEC=$RALPH_EXEC is not an executable (run make)"
        return
    fi
    if ! sock=$(rx_socket); then
        echo "DOCKER_HOST=$DOCKER_HOST is not unix:///path: cannot test against it"
        return
    fi
    pong=$(curl -s --max-time 5 --unix-socket "$sock" http://localhost/_ping 2>/dev/null) || pong=
    if [[ $pong != OK ]]; then
        echo "no Docker engine answers on $sock (curl --unix-socket $sock http://localhost/_ping)"
        return
    fi
    code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' --unix-socket "$sock" \
        "http://localhost/images/$RALPH_TEST_IMAGE/json") || code=
    if [[ $code != 200 ]]; then
        echo "the image $RALPH_TEST_IMAGE is not on the engine at $sock (make images)"
        return
    fi
}

# For setup_file and setup: the tools, the binary, the engine and the image
# must be there.  With RALPH_TEST_STRICT=1 a problem FAILS (setup_file
# fails, so every test of the file fails with the reason); otherwise every
# test of the file is skipped with the reason (bats cannot skip from
# setup_file, so setup_file records it and setup skips).  It also settles
# the engine's kind (RX_ENGINE_KIND): an engine that does not say is a
# problem, and so is one of another kind than RALPH_TEST_ENGINE_KIND
# (podman or docker), when the run names the kind it means to test.
require_engine() {
    # setup_file (no test name yet) always checks; setup reuses its answer.
    if [[ -z ${BATS_TEST_NAME:-} || -z ${RX_ENGINE_STATE:-} ]]; then
        local why kind
        why=$(rx_engine_problem)
        # The engine's kind is settled here, once for the file: a probe
        # that fails is a problem like any other (strict mode fails).
        unset RX_ENGINE_KIND
        if [[ -z $why ]]; then
            if kind=$(rx_engine_kind_probe); then
                RX_ENGINE_KIND=$kind
                export RX_ENGINE_KIND
                # The engine the run means to test (the Makefile's Podman
                # pass says podman): another one answering is a problem.
                if [[ -n ${RALPH_TEST_ENGINE_KIND:-} && $kind != "$RALPH_TEST_ENGINE_KIND" ]]; then
                    why="RALPH_TEST_ENGINE_KIND=$RALPH_TEST_ENGINE_KIND, but the engine at $(rx_socket) is $kind"
                fi
            else
                why=$kind
            fi
        fi
        RX_ENGINE_STATE=${why:-ok}
        export RX_ENGINE_STATE
    fi
    [[ $RX_ENGINE_STATE == ok ]] && return 0
    if [[ ${RALPH_TEST_STRICT:-0} == 1 ]]; then
        fail "RALPH_TEST_STRICT=1: $RX_ENGINE_STATE" \
            "(this tier needs a real engine and the image; see 'make setup')"
        return 1
    fi
    [[ -n ${BATS_TEST_NAME:-} ]] && skip "$RX_ENGINE_STATE"
    return 0
}

# ---- jobs -----------------------------------------------------------------

# A task id unique to this run: it-NAME-PID-RANDOM.
rx_tid() {
    echo "it-$1-$$-$RANDOM$RANDOM"
}

# Write a job document given as text; sets JOB to its path.
rx_job() {
    RX_N=$((RX_N + 1))
    JOB=$BATS_TEST_TMPDIR/job.$RX_N.json
    printf '%s\n' "$1" >"$JOB"
}

# Build a job with jq -n ARGS... FILTER (safe quoting of code, stdin, files);
# sets JOB to its path.
rx_job_jq() {
    RX_N=$((RX_N + 1))
    JOB=$BATS_TEST_TMPDIR/job.$RX_N.json
    jq -nc "$@" >"$JOB" || fail "rx_job_jq: jq could not build the job: $*"
}

# ---- RALPH_TEST_SANDBOX ----------------------------------------------------

# rx_sandbox_args [ARGS...]: print, NUL-separated, the ralph-exec options to
# use instead of ARGS (a test's RX_ARGS) so that the job's default sandbox is
# RALPH_TEST_SANDBOX.  Without RALPH_TEST_SANDBOX=gvisor, ARGS come back as
# they are.  With it:
#   - no --policy in ARGS: `--policy FILE` is appended, FILE holding
#     {"default_sandbox": "gvisor"} (built-in defaults otherwise);
#   - --policy P (or --policy=P) in ARGS: P is replaced by a copy with
#     default_sandbox set to "gvisor", every other key kept, so the test's
#     limits still apply.  The test's policy wins when it cannot take the
#     default (it is the policy under test): when it is not a JSON object
#     (an invalid policy a test feeds on purpose), when it already sets
#     default_sandbox, or when its allowed_sandboxes leave gvisor out.  Such
#     a run stays on the test's own terms (runc by default).
# A job that names `sandbox` itself is never changed: the job's field wins
# over any default.  Tests that call "$RALPH_EXEC" directly (doctor, the
# policy-file checks of 10_*) are not affected.  The switch is meant for
# 01-09 and 11: 10_* asserts runc-only facts (the strict seccomp profile is
# sent to runc only, the audit line's runtime) and fails under it.
rx_sandbox_args() {
    local -a sb_in=("$@") sb_out=()
    if [[ ${RALPH_TEST_SANDBOX:-} != gvisor ]]; then
        ((${#sb_in[@]})) && printf '%s\0' "${sb_in[@]}"
        return 0
    fi
    local i a pol merged seen=0
    for ((i = 0; i < ${#sb_in[@]}; i++)); do
        a=${sb_in[i]}
        if [[ $a == --policy && $((i + 1)) -lt ${#sb_in[@]} ]]; then
            pol=${sb_in[i + 1]}
            i=$((i + 1))
        elif [[ $a == --policy=* ]]; then
            pol=${a#--policy=}
        else
            sb_out+=("$a")
            continue
        fi
        seen=1
        merged=$(mktemp "$BATS_TEST_TMPDIR/policy.sandbox.XXXXXX") || return 1
        if jq -e 'type == "object" and (has("default_sandbox") | not)
                  and ((.allowed_sandboxes // ["gvisor"]) | type == "array" and index("gvisor") != null)' \
            "$pol" >/dev/null 2>&1 &&
            jq '. + {default_sandbox: "gvisor"}' "$pol" >"$merged" 2>/dev/null; then
            sb_out+=(--policy "$merged")
        else
            sb_out+=(--policy "$pol")
        fi
    done
    if ((!seen)); then
        merged=$BATS_TEST_TMPDIR/policy.sandbox.json
        [[ -f $merged ]] || printf '{"default_sandbox": "gvisor"}\n' >"$merged"
        sb_out+=(--policy "$merged")
    fi
    printf '%s\0' "${sb_out[@]}"
}

# rx_run [VAR=value...] JOBFILE: run ralph-exec on it (with the options in
# the array RX_ARGS, if set, and RALPH_TEST_SANDBOX's policy).  Sets RX_OUT (stdout,
# which must be one JSON object on one line), RX_ERR, RX_RC and RX_MS (wall
# time).  Fails only when the result is not one JSON object; the exit code
# is for the test to judge.
rx_run() {
    local -a envs=()
    while [[ $# -gt 1 && $1 == *=* ]]; do
        envs+=("$1")
        shift
    done
    local job=$1 out=$BATS_TEST_TMPDIR/rx.$RX_N.out err=$BATS_TEST_TMPDIR/rx.$RX_N.err
    local tid
    tid=$(jq -r '.task_id? // empty' "$job" 2>/dev/null) || tid=
    [[ -n $tid ]] && RX_TASK_IDS+=("$tid")
    local t0 t1
    local -a args=()
    mapfile -d '' -t args < <(rx_sandbox_args ${RX_ARGS[@]+"${RX_ARGS[@]}"})
    t0=$(date +%s%N)
    RX_RC=0
    # A safety net only: a hung ralph-exec gets SIGTERM (it then removes its
    # container) instead of hanging the tier.
    env ${envs[@]+"${envs[@]}"} timeout -k 10 "${RX_RUN_TIMEOUT:-120}" \
        "$RALPH_EXEC" ${args[@]+"${args[@]}"} "$job" >"$out" 2>"$err" </dev/null 3>&- ||
        RX_RC=$?
    t1=$(date +%s%N)
    RX_MS=$(((t1 - t0) / 1000000))
    RX_OUT=$(cat "$out")
    RX_ERR=$(cat "$err")
    local lines meta
    lines=$(wc -l <"$out")
    # One jq for the shape, the task id and the status (rx_expect reads it).
    if [[ $lines != 1 ]] || ! meta=$(jq -er 'if type == "object" then
            (.status // "" | tostring) + "\n" + (.task_id // "" | tostring)
            else error("not an object") end' 2>/dev/null <<<"$RX_OUT"); then
        rx_dump
        fail "ralph-exec did not print exactly one JSON object on one line (got $lines lines)"
        return 1
    fi
    # The status first: it is one word, a task id could hold a newline.
    { read -r RX_STATUS; read -r tid || tid=; } <<<"$meta"
    RX_STATUS_OF=$RX_OUT
    [[ -n $tid ]] && RX_TASK_IDS+=("$tid")
    return 0
}

# Value of a jq filter on the result (raw).
rx_get() {
    jq -r "$1" <<<"$RX_OUT"
}

# The string a jq filter yields, byte-exact (trailing newlines kept), into
# the variable named $2.
rx_get_exact() {
    local v
    v=$(jq -j "$1" <<<"$RX_OUT" && printf x) || return 1
    printf -v "$2" '%s' "${v%x}"
}

# rx_check_string FILTER WANT [WHAT]: the string at FILTER equals WANT
# byte for byte.
rx_check_string() {
    local got
    rx_get_exact "$1" got || { fail "jq '$1' failed on the result"; return 1; }
    assert_equal "$got" "$2" "${3:-$1}" || { rx_dump; return 1; }
}

# rx_check [--arg NAME VALUE | --argjson NAME JSON]... FILTER [WHAT]: the jq
# filter must be true on the result; otherwise print WHAT and the result.
RX_JQ_DEFS='def juid: (.limits.user | split(":")[0] | tonumber);'
rx_check() {
    local -a args=()
    while [[ $# -gt 0 && ($1 == --arg || $1 == --argjson) ]]; do
        args+=("$1" "$2" "$3")
        shift 3
    done
    local filter=$1 what=${2:-}
    # juid: the uid the job ran as (each job has its own, limits.user).
    if ! jq -e ${args[@]+"${args[@]}"} "$RX_JQ_DEFS $filter" >/dev/null 2>&1 <<<"$RX_OUT"; then
        rx_dump
        fail "FAILED: ${what:+$what: }expected jq '$filter' to be true on the result above"
        return 1
    fi
}

# rx_expect STATUS EXIT: the result's status and ralph-exec's exit code.
rx_expect() {
    local st
    # The status rx_run read, unless a test has put another result in RX_OUT.
    if [[ ${RX_STATUS_OF-} == "$RX_OUT" && -n ${RX_STATUS-} ]]; then
        st=$RX_STATUS
    else
        st=$(jq -r .status <<<"$RX_OUT")
    fi
    if [[ $st != "$1" || $RX_RC != "$2" ]]; then
        rx_dump
        fail "FAILED: expected status $1 and exit code $2, got status $st and exit code $RX_RC"
        return 1
    fi
}

# Assert two strings are equal byte for byte; when not, show a diff with
# the white space made visible (cat -A: tabs ^I, line ends $, <EOF> marks
# the end of the string).
assert_equal() {
    local got=$1 want=$2 what=${3:-value}
    if [[ $got != "$want" ]]; then
        {
            echo "FAILED: $what differs (--- want, +++ got; cat -A notation):"
            diff -u --label want --label got <(printf '%s<EOF>' "$want" | cat -A) \
                <(printf '%s<EOF>' "$got" | cat -A) | head -80
        } >&2
        return 1
    fi
}

# ---- the engine's state ---------------------------------------------------

# Containers (any state) labelled ralph.task_id=ID (no ID: any task id).
rx_containers() {
    if [[ -n ${1:-} ]]; then
        docker ps -aq --no-trunc --filter "label=ralph.task_id=$1"
    else
        docker ps -aq --no-trunc --filter label=ralph.task_id
    fi
}

# rx_containers_by_label KEY MAP: MAP[VALUE] += " ID" for every container
# carrying the label KEY with a non-empty value, in one docker call (the
# CLI costs about 0.1 s of CPU a call; teardowns ask this for every test).
rx_containers_by_label() {
    local -n map=$2
    local id value
    while IFS=$'\t' read -r id value; do
        [[ -n $id && -n $value ]] && map[$value]+=" $id"
    done < <(docker ps -a --no-trunc --filter "label=$1" --format "{{.ID}}\t{{.Label \"$1\"}}" || true)
}

assert_no_container() {
    local ids
    ids=$(rx_containers "$1") || { fail "docker ps failed"; return 1; }
    if [[ -n $ids ]]; then
        {
            echo "FAILED: a container labelled ralph.task_id=$1 still exists:"
            docker ps -a --filter "label=ralph.task_id=$1"
        } >&2
        return 1
    fi
}

assert_no_volume() {
    if docker volume inspect "$1" >/dev/null 2>&1; then
        fail "FAILED: the volume $1 still exists: $(docker volume inspect "$1")"
        return 1
    fi
}

# rx_workspace_engine_type CID: what the engine mounts at /workspace of the
# running container CID, by its own record: the `type` option of the volume
# there (Docker's local driver: "tmpfs"), "tmpfs" for a tmpfs mount
# (Podman), else "none".  Under gVisor a job sees /workspace through its
# gofer (9p), so a test asks the engine as well as the job.
rx_workspace_engine_type() {
    local ins vol
    ins=$(docker inspect "$1") || return 1
    vol=$(jq -r '[.[0].Mounts[]? | select(.Destination == "/workspace" and .Type == "volume") | .Name][0] // empty' <<<"$ins")
    if [[ -n $vol ]]; then
        docker volume inspect "$vol" | jq -r '.[0].Options.type // "none"'
    else
        jq -r 'if .[0].HostConfig.Tmpfs["/workspace"] then "tmpfs" else "none" end' <<<"$ins"
    fi
}

# Python for a job that asks whether a path lies on a read-only mount:
# put it before the job's code.  mount_ro(PATH): True or False for the mount
# PATH lies on (the longest mount point above it, the last one mounted
# there), None if none is (the mount table is read once).
RX_PY_MOUNT_RO='with open("/proc/self/mountinfo") as _f:
    _RX_MOUNTS = [(l.split()[4], "ro" in l.split()[5].split(",")) for l in _f]
def mount_ro(p):
    best = None
    for mp, flag in _RX_MOUNTS:
        if p == mp or p.startswith(mp.rstrip("/") + "/"):
            if best is None or len(mp) >= len(best[0]):
                best = (mp, flag)
    return best[1] if best else None
'

# Python for the job of rx_run_asking_workspace: put it before the job's
# code.  workspace_fstype(): the type of the file system at /workspace as
# /proc/self/mountinfo gives it (the last mount there wins).
# wait_engine_read(PATH): wait (at most 60 s) for the test to have asked the
# engine (it makes PATH, /tmp/engine-read, then); True once it has.
RX_PY_WORKSPACE_ASKED='import os as _rx_os, time as _rx_time
def workspace_fstype():
    fstype = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.split(" - ", 1)
            if left.split()[4] == "/workspace":
                fstype = right.split()[0]
    return fstype
def wait_engine_read(path="/tmp/engine-read"):
    t0 = _rx_time.time()
    while not _rx_os.path.exists(path) and _rx_time.time() - t0 < 60:
        _rx_time.sleep(0.05)
    return _rx_os.path.exists(path)
'

# rx_run_asking_workspace TID: run $JOB (task TID) in the background and,
# while its container runs, ask the engine what it mounts at /workspace
# (RX_WS_ENGINE); then make /tmp/engine-read in the container, which the
# job's own code waits for (at most 60 s) before it ends, so that the
# answer is of the job's own mount.  RX_OUT, RX_ERR and RX_RC as rx_run's.
rx_run_asking_workspace() {
    local cid
    rx_run_bg "$JOB"
    cid=$(rx_wait_running "$1" 60) || return 1
    RX_WS_ENGINE=$(rx_workspace_engine_type "$cid")
    docker exec "$cid" touch /tmp/engine-read
    rx_wait_pid "$RX_BG_PID" 150 || return 1
    RX_OUT=$(cat "$RX_BG_OUT") RX_ERR=$(cat "$RX_BG_ERR")
}

# rx_check_workspace_tmpfs JOB_FSTYPE: the workspace of the last
# rx_run_asking_workspace was a tmpfs: by the engine's record, and under
# runc as the job saw it (JOB_FSTYPE: the jq path of the result where the
# job put the type /proc/self/mountinfo gave; under gVisor it sees its
# gofer's 9p, so the engine's record alone tells there).
rx_check_workspace_tmpfs() {
    if [[ $RX_WS_ENGINE != tmpfs ]]; then
        fail "the engine mounts '$RX_WS_ENGINE' at /workspace of the job's container, not a tmpfs"
        return 1
    fi
    if [[ $(rx_get '.limits.sandbox // "runc"') == runc ]]; then
        rx_check "$1 == \"tmpfs\"" 'the job sees a tmpfs at /workspace (mountinfo)'
    fi
}

# Wait (at most SECONDS) until a running container labelled ralph.task_id=ID
# exists; prints its id.
rx_wait_running() {
    local tid=$1 secs=${2:-30} id i
    local sock list
    sock=$(rx_socket) || return 1
    # curl and a bash match, not the docker CLI: this polls ten times a
    # second, and the CLI costs twice curl's CPU.
    for ((i = 0; i < secs * 10; i++)); do
        list=$(curl -s --max-time 5 --unix-socket "$sock" -G http://localhost/containers/json \
            --data-urlencode "filters={\"label\":[\"ralph.task_id=$tid\"],\"status\":[\"running\"]}") ||
            list=
        if [[ $list =~ \"Id\":\"([0-9a-f]{64})\" ]]; then
            echo "${BASH_REMATCH[1]}"
            return 0
        fi
        sleep 0.1
    done
    fail "no running container labelled ralph.task_id=$tid appeared within $secs s"
}

# Wait (at most SECONDS) for a background pid to end; sets RX_RC to its exit
# status.  Fails if it is still running.
rx_wait_pid() {
    local pid=$1 secs=${2:-10} i
    for ((i = 0; i < secs * 20; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    if kill -0 "$pid" 2>/dev/null; then
        fail "process $pid is still running after $secs s"
        return 1
    fi
    RX_RC=0
    wait "$pid" || RX_RC=$?
}

# Start ralph-exec on JOBFILE [OPTIONS...] in the background; sets RX_BG_PID
# and the files RX_BG_OUT / RX_BG_ERR.  (RX_ARGS is not used;
# RALPH_TEST_SANDBOX is.)
rx_run_bg() {
    local job=$1 tid
    local -a args=()
    mapfile -d '' -t args < <(rx_sandbox_args "${@:2}")
    RX_BG_OUT=$BATS_TEST_TMPDIR/bg.$RX_N.out
    RX_BG_ERR=$BATS_TEST_TMPDIR/bg.$RX_N.err
    tid=$(jq -r '.task_id? // empty' "$job")
    [[ -n $tid ]] && RX_TASK_IDS+=("$tid")
    "$RALPH_EXEC" ${args[@]+"${args[@]}"} "$job" >"$RX_BG_OUT" 2>"$RX_BG_ERR" </dev/null 3>&- &
    RX_BG_PID=$!
    RX_BG_PIDS+=("$RX_BG_PID")
}

# rx_build_image TAG DOCKERFILE-TEXT [FILE MODE CONTENT]...: build a test
# image (offline: FROM an image on the engine) with those files in its
# context; rx_teardown removes it.
rx_build_image() {
    local tag=$1 ctx=$BATS_TEST_TMPDIR/ctx-$1
    mkdir -p "$ctx"
    printf '%s\n' "$2" >"$ctx/Dockerfile"
    shift 2
    while (($# >= 3)); do
        printf '%s' "$3" >"$ctx/$1"
        chmod "$2" "$ctx/$1"
        shift 3
    done
    RX_TEST_IMAGES+=" $tag"
    DOCKER_BUILDKIT=0 docker build -q -t "$tag" "$ctx" >/dev/null 2>"$ctx/err" ||
        fail "could not build the test image $tag: $(cat "$ctx/err")"
}

# rx_follow_starts FILE: follow the engine's container starts into FILE, a
# line each: "ID TASK_ID" (the ralph.task_id label, empty without one), from
# now on; RX_EVENTS_PID is the follower (kill it when done).  Returns once
# the stream is live: a marker container's start shows in it (a fixed wait
# was not enough on a loaded machine: a start was missed).
rx_follow_starts() {
    local file=$1 mark="events-mark-$$-$RANDOM" i
    docker events --filter type=container --filter event=start \
        --format '{{.ID}} {{index .Actor.Attributes "ralph.task_id"}}' >"$file" 2>&1 3>&- &
    RX_EVENTS_PID=$!
    docker run --rm --network none --label "ralph.task_id=$mark" \
        --entrypoint true "$RALPH_TEST_IMAGE" >/dev/null ||
        fail "the marker container did not run"
    for ((i = 0; i < 300; i++)); do
        grep -q " $mark\$" "$file" && return 0
        sleep 0.1
    done
    fail "the engine's event stream did not show the marker's start in 30 s: $(head -c 500 "$file")"
}

# rx_engine_actions ID T0: the engine's actions on a container since T0
# (Unix seconds), one a line.
rx_engine_actions() {
    docker events --since "$2" --until "$(date +%s.%N)" --filter "container=$1" \
        --format '{{.Action}}'
}

# For teardown: no container of any task this test ran may remain.  Leftovers
# are removed (with their volumes) so they do not leak, and fail the test.
rx_teardown() {
    local pid tid ids bad=0
    for pid in ${RX_BG_PIDS[@]+"${RX_BG_PIDS[@]}"}; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            # ralph-exec (or a test's sampler) ends on SIGTERM, ralph-exec
            # removing its container first: one that must be killed is a
            # failure (its container would be left behind).
            if ! rx_wait_pid "$pid" 15; then
                echo "FAILED: background process $pid still ran 15 s after SIGTERM" >&2
                kill -KILL "$pid" 2>/dev/null || true
                bad=1
            fi
        fi
    done
    # shellcheck disable=SC2086
    [[ -z ${RX_TEST_IMAGES:-} ]] || docker rmi -f $RX_TEST_IMAGES >/dev/null 2>&1 || true
    local -A held=()
    [[ -z ${RX_TASK_IDS[*]+x} ]] || rx_containers_by_label ralph.task_id held
    for tid in ${RX_TASK_IDS[@]+"${RX_TASK_IDS[@]}"}; do
        # Only a valid task id can label a container (executor/task_id.c).
        [[ $tid =~ ^[A-Za-z0-9][A-Za-z0-9._:-]*$ ]] || continue
        ids=${held[$tid]:-}
        unset 'held[$tid]'
        if [[ -n $ids ]]; then
            echo "FAILED: container(s) of task $tid left behind: $ids" >&2
            # shellcheck disable=SC2086
            docker rm -fv $ids >/dev/null 2>&1 || true
            bad=1
        fi
    done
    return $bad
}
