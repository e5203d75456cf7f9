#!/usr/bin/env bash
# Per-job wall time of ralph-exec on the demo job next to `docker run --rm`
# with the same hardening flags, interleaved in one run (the machine is
# noisy: compare the medians, as a ratio).
#
#   bench/exec-vs-docker-run.sh [N]      (default N=20; needs `make setup`)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20}
EXEC=${RALPH_EXEC:-build/ralph-exec}
JOB=examples/demo.json
# shellcheck source=bench/lib.sh
source bench/lib.sh
ralph() { "$EXEC" -q "$JOB" >/dev/null; }

ms() { date +%s%N; }
declare -a A B
# Warm both paths once (image layers, page cache).
docker_one; ralph
for ((i = 0; i < N; i++)); do
    t0=$(ms); docker_one; t1=$(ms); ralph; t2=$(ms)
    A+=($(((t1 - t0) / 1000000))); B+=($(((t2 - t1) / 1000000)))
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
p95() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {i=int(NR*0.95+0.5); if(i<1)i=1; print a[i]}'; }
ma=$(median "${A[@]}"); mb=$(median "${B[@]}")
printf '%-42s %8s %8s\n' "per-job wall time over $N interleaved runs" median p95
printf '%-42s %6s ms %5s ms\n' "docker run --rm (same flags, no copy in/out)" "$ma" "$(p95 "${A[@]}")"
printf '%-42s %6s ms %5s ms\n' "ralph-exec examples/demo.json" "$mb" "$(p95 "${B[@]}")"
awk -v a="$ma" -v b="$mb" 'BEGIN {printf "ratio ralph-exec / docker run: %.2f\n", b / a}'
left=$(docker ps -aq --filter label=ralph.task_id | wc -l)
echo "containers left labelled ralph.task_id: $left"
[ "$left" -eq 0 ]
