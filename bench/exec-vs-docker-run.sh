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
IMAGE=ralph-sandbox:python
JOB=examples/demo.json
PY='import numpy as np, json
v = np.array([1, 2, 3, 4, 5, 6], dtype=float)
print(json.dumps({"mean": float(v.mean()), "std": float(v.std()), "n": int(v.size)}))'

docker_run() {
    docker run --rm --read-only --cap-drop ALL --security-opt no-new-privileges \
        --network none --user 65534:65534 --memory 128m --memory-swap 128m --cpus 1 \
        --pids-limit 64 --ulimit nofile=1024:1024 --ulimit fsize=67108864:67108864 \
        --ulimit core=0:0 --tmpfs /tmp:rw,noexec,nosuid,nodev,size=64m --ipc private \
        --shm-size 16m --init --log-driver none -v /workspace --workdir /workspace \
        "$IMAGE" python3 -c "$PY" >/dev/null
}
ralph() { "$EXEC" -q "$JOB" >/dev/null; }

ms() { date +%s%N; }
declare -a A B
# Warm both paths once (image layers, page cache).
docker_run; ralph
for ((i = 0; i < N; i++)); do
    t0=$(ms); docker_run; t1=$(ms); ralph; t2=$(ms)
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
