#!/usr/bin/env bash
# Throughput (jobs/s) of ralph-worker (spool queue) at concurrency 1, 2, 4, 8
# on the demo job, next to `docker run --rm` with the same hardening flags
# driven by `xargs -P` at the same parallelism, in the same run.
#
#   bench/worker-throughput.sh [JOBS]     (default 40 per point; needs `make setup`)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-40}
WORKER=${RALPH_WORKER:-build/ralph-worker}
IMAGE=ralph-sandbox:python
PY='import numpy as np, json
v = np.array([1, 2, 3, 4, 5, 6], dtype=float)
print(json.dumps({"mean": float(v.mean()), "std": float(v.std()), "n": int(v.size)}))'
export IMAGE PY
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

docker_one() {
    docker run --rm --read-only --cap-drop ALL --security-opt no-new-privileges \
        --network none --user 65534:65534 --memory 128m --memory-swap 128m --cpus 1 \
        --pids-limit 64 --ulimit nofile=1024:1024 --ulimit fsize=67108864:67108864 \
        --ulimit core=0:0 --tmpfs /tmp:rw,noexec,nosuid,nodev,size=64m --ipc private \
        --shm-size 16m --init --log-driver none -v /workspace --workdir /workspace \
        "$IMAGE" python3 -c "$PY" >/dev/null
}
export -f docker_one
ms() { date +%s%N | cut -c1-13; }

printf '%-12s %14s %14s %8s\n' concurrency "docker run/s" "worker/s" ratio
for P in 1 2 4 8; do
    t0=$(ms)
    seq "$N" | xargs -P "$P" -I{} bash -c docker_one
    t1=$(ms)
    q="$tmp/q$P"
    mkdir -p "$q/incoming"
    for i in $(seq "$N"); do
        jq -c 'del(.task_id)' examples/demo.json > "$q/incoming/j$i.json"
    done
    t2=$(ms)
    "$WORKER" --queue "dir:$q" --concurrency "$P" --max-jobs "$N" 2>"$q/log"
    t3=$(ms)
    got=$(find "$q/results" -name '*.json' | wc -l)
    [ "$got" -eq "$N" ] || { echo "worker produced $got of $N results" >&2; exit 1; }
    awk -v p="$P" -v n="$N" -v a=$((t1 - t0)) -v b=$((t3 - t2)) \
        'BEGIN {printf "%-12d %14.2f %14.2f %8.2f\n", p, n*1000/a, n*1000/b, (n*1000/b)/(n*1000/a)}'
done
left=$(docker ps -aq --filter label=ralph.task_id | wc -l)
echo "containers left labelled ralph.task_id: $left"
[ "$left" -eq 0 ]
