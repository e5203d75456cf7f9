# shellcheck shell=bash
# Shared by the benchmarks: the demo job as a plain docker run with the same
# hardening flags ralph-exec sends (it does less: nothing is copied in or out).
IMAGE=${IMAGE:-ralph-sandbox:python}
PY='import numpy as np, json
v = np.array([1, 2, 3, 4, 5, 6], dtype=float)
print(json.dumps({"mean": float(v.mean()), "std": float(v.std()), "n": int(v.size)}))'
export IMAGE PY

docker_one() {
    docker run --rm --read-only --cap-drop ALL --security-opt no-new-privileges \
        --network none --user 65534:65534 --memory 128m --memory-swap 128m --cpus 1 \
        --pids-limit 64 --ulimit nofile=1024:1024 --ulimit fsize=67108864:67108864 \
        --ulimit core=0:0 --tmpfs /tmp:rw,noexec,nosuid,nodev,size=64m --ipc private \
        --shm-size 16m --init --log-driver none -v /workspace --workdir /workspace \
        "$IMAGE" python3 -c "$PY" >/dev/null
}
export -f docker_one
