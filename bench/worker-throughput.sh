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
# shellcheck source=bench/lib.sh
source bench/lib.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
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
