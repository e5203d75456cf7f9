#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# bench/profile.sh: where the CPU of a job goes, per process name, on the
# engine DOCKER_HOST names (default /var/run/docker.sock): N copies of
# examples/demo.json through a spool ralph-worker at concurrency C, then the
# same job N times as `docker run --rm` (bench.py's flags) under xargs -P C,
# each batch under `perf record -a`, then `perf report --sort comm`.  Prints
# milliseconds of CPU per job for each process name above 1 ms, and the
# machine's busy time per job from /proc/stat.  Needs root and perf
# (linux-perf); ratios only, the machine is noisy.
#
#   [DOCKER_HOST=unix://...] bench/profile.sh [N [C]]      (default 40 jobs, concurrency 4)
set -euo pipefail

readonly N=${1:-40} C=${2:-4}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT
command -v perf >/dev/null || { echo "profile.sh: perf not found (apt-get install linux-perf)" >&2; exit 1; }
TMP=$(mktemp -d /tmp/ralph-profile.XXXXXX)
readonly TMP
WPID=
cleanup() {
    [[ -z $WPID ]] || kill "$WPID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

busy_jiffies() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }

# report NAME JIFFIES0: per-process CPU per job from $TMP/NAME.data.
report() {
    local name=$1 j0=$2 j1 hz
    j1=$(busy_jiffies)
    hz=$(getconf CLK_TCK)
    printf '== %s on %s: %d jobs at concurrency %d; machine busy %s ms per job\n' "$name" \
        "$(docker version --format '{{.Server.Version}}')" "$N" "$C" \
        "$(awk -v a="$j0" -v b="$j1" -v hz="$hz" -v n="$N" 'BEGIN { printf "%.0f", (b - a) * 1000 / hz / n }')"
    # Samples per comm -> ms per job (perf's -F 999 on every CPU).
    perf report -i "$TMP/$name.data" --sort comm --stdio -F overhead,sample,comm 2>/dev/null |
        awk -v n="$N" '/^ +[0-9.]+%/ { ms = $2 * 1000 / 999 / n; if (ms >= 1) printf "  %-22s %6.1f ms\n", $3, ms }'
}

# --- the worker, spool queue -----------------------------------------------
mkdir -p "$TMP/q/incoming"
jq -c . "$ROOT/examples/demo.json" >"$TMP/job.json"
echo '{}' >"$TMP/policy.json"
"$ROOT/build/ralph-worker" --queue "dir:$TMP/q" --concurrency "$C" --policy "$TMP/policy.json" \
    2>"$TMP/worker.log" &
WPID=$!
sleep 1
for i in $(seq "$N"); do
    jq -c --arg id "prof-$i" '.task_id = $id' "$TMP/job.json" >"$TMP/q/.j$i"
done
# Only the moves and a glob count every 0.2 s run under perf besides the jobs.
j0=$(busy_jiffies)
perf record -a -F 999 -o "$TMP/worker.data" -q -- bash -c '
    shopt -s nullglob
    for i in $(seq '"$N"'); do mv "'"$TMP"'/q/.j$i" "'"$TMP"'/q/incoming/j$i.json"; done
    while r=("'"$TMP"'"/q/results/*.json); ((${#r[@]} < '"$N"')); do
        kill -0 '"$WPID"' || { echo "profile.sh: the worker died" >&2; exit 1; }
        sleep 0.2
    done' 2>/dev/null
report worker "$j0"
kill "$WPID"
wait "$WPID" 2>/dev/null || true
WPID=

# --- docker run --rm, the same job --------------------------------------------
python3 - "$ROOT/examples/demo.json" >"$TMP/script.py" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
print(j["code"] + "\nimport json as _j\nprint(_j.dumps(calculate(_j.loads(%s))))" % json.dumps(json.dumps(j.get("inputs"))))
PY
j0=$(busy_jiffies)
perf record -a -F 999 -o "$TMP/docker-run.data" -q -- bash -c '
    seq '"$N"' | xargs -P '"$C"' -I{} docker run --rm --read-only --cap-drop ALL \
        --security-opt no-new-privileges --network none --user 65534:65534 --memory 256m \
        --memory-swap 256m --cpus 1 --pids-limit 64 --ulimit nofile=1024:1024 \
        --tmpfs /tmp:rw,noexec,nosuid,nodev,size=64m,mode=1777 --ipc private --shm-size 16m \
        --cgroupns private --init --log-driver none --hostname sandbox -v /workspace \
        --workdir /workspace -e HOME=/tmp --entrypoint "" ralph-sandbox:python \
        python3 -B -c "$(cat '"$TMP"'/script.py)" >/dev/null' 2>/dev/null
report docker-run "$j0"
