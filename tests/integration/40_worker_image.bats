#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The worker's own image, deployed the way bind-mount executors break: the
# worker runs in a container holding the host's engine socket, and its jobs
# run as sibling containers, with files moved only through the archive API.

load ../lib/libtest
load ../lib/libworker
load ../lib/libpyindex

WORKER_IMAGE=${RALPH_TEST_WORKER_IMAGE:-ralph-worker:latest}

setup_file() {
    require_engine
    wk_setup_file
}
setup() {
    require_engine
    wk_setup
    if ! docker image inspect "$WORKER_IMAGE" >/dev/null 2>&1; then
        [[ ${RALPH_TEST_STRICT:-} == 1 ]] && fail "image $WORKER_IMAGE missing: run make images"
        skip "image $WORKER_IMAGE missing"
    fi
    SOCK=$(rx_socket)
    SOCK_GID=$(stat -c %g "$SOCK")
    NAME=rx-wimg-$$-$RANDOM
    VOL=rx-wimg-spool-$$-$RANDOM
}
# The deps images built from this test's index go whatever the test got to
# (found by the index their key names, once no container uses them).
teardown() {
    local rc=0
    docker rm -f "$NAME" >/dev/null 2>&1 || true
    [[ -z ${INDEX_DIR:-} ]] || pyindex_stop "$INDEX_DIR"
    docker volume rm -f "$VOL" >/dev/null 2>&1 || true
    rx_teardown || rc=1
    wk_remove_index_deps_images "${INDEX_PORT:-}" || rc=1
    return $rc
}
teardown_file() { wk_teardown_file; }

# A job that reports whether it can see an engine socket, and does a sum.
job_json() {
    jq -cn --arg id "$1" '{task_id: $id, code: "import os\ndef calculate(i):\n    return {\"sum\": sum(i), \"socket\": any(os.path.exists(p) for p in [\"/var/run/docker.sock\", \"/run/docker.sock\"])}\n", inputs: [1, 2, 3]}'
}

@test "worker image: in a container with the host socket, spool queue in a volume: jobs run as siblings" {
    local ids=() i
    for i in 1 2 3; do ids+=("$(rx_tid wimg-$i)"); done
    RX_TASK_IDS+=("${ids[@]}")
    docker volume create "$VOL" >/dev/null
    # Drop the jobs into the volume the way a producer would (rename in).
    for i in 0 1 2; do
        job_json "${ids[$i]}" | docker run --rm -i --user 0 -v "$VOL:/spool" --network none \
            --entrypoint sh "$WORKER_IMAGE" -c \
            "mkdir -p /spool/incoming && cat > /spool/incoming/.j$i.json && mv /spool/incoming/.j$i.json /spool/incoming/j$i.json && chown -R 65532:65532 /spool"
    done
    docker run -d --name "$NAME" -v "$SOCK:/var/run/docker.sock" --group-add "$SOCK_GID" \
        -v "$VOL:/spool" "$WORKER_IMAGE" --queue dir:/spool --concurrency 2 --max-jobs 3 >/dev/null
    local rc
    rc=$(timeout 120 docker wait "$NAME") || fail "the worker container did not finish in 120 s"
    if [[ $rc != 0 ]]; then
        docker logs "$NAME" >&2
        fail "the worker container exited $rc"
    fi
    # The worker's mounts: the socket and the spool volume, nothing else.
    docker inspect "$NAME" | jq -e '[.[0].Mounts[].Destination] | sort == ["/spool", "/var/run/docker.sock"]' \
        >/dev/null || fail "unexpected mounts: $(docker inspect "$NAME" | jq -c '.[0].Mounts')"
    docker logs "$NAME" 2>&1 | grep -q '"event":"job_done"' || fail "no job_done in the worker's log"
    for i in 0 1 2; do
        RX_OUT=$(docker run --rm -v "$VOL:/spool:ro" --network none --entrypoint cat "$WORKER_IMAGE" \
            "/spool/results/${ids[$i]}.json") || fail "no result for ${ids[$i]}"
        rx_check '.status == "success" and .output.sum == 6' "job $i ran and returned its output"
        rx_check '.output.socket == false' 'the job saw no engine socket'
        rx_check --arg w "$(docker inspect -f '{{.Id}}' "$NAME")" '.container_id != $w' \
            'the job ran in its own (sibling) container'
    done
    for id in "${ids[@]}"; do assert_no_container "$id"; done
}

@test "worker image: Redis queue from the container (host network), producer uses redis-cli only" {
    local ids=() i
    for i in 1 2 3; do ids+=("$(rx_tid wimg-r$i)"); done
    RX_TASK_IDS+=("${ids[@]}")
    for i in 0 1 2; do wk_push "$(job_json "${ids[$i]}")"; done
    docker run -d --name "$NAME" --network host -v "$SOCK:/var/run/docker.sock" \
        --group-add "$SOCK_GID" "$WORKER_IMAGE" --queue "$WK_Q" --concurrency 2 --max-jobs 3 \
        >/dev/null
    local rc
    rc=$(timeout 120 docker wait "$NAME") || fail "the worker container did not finish in 120 s"
    [[ $rc == 0 ]] || { docker logs "$NAME" >&2; fail "the worker container exited $rc"; }
    for i in 0 1 2; do
        RX_OUT=$(wk_result "${ids[$i]}")
        rx_check '.status == "success" and .output.sum == 6 and .output.socket == false'
    done
    [[ $(wk_done_count) == 3 ]] || fail "ralph:done has $(wk_done_count) entries, want 3"
}

@test "worker image: requirements from the index the operator's policy (mounted read-only) names" {
    local id pol rc
    id=$(rx_tid wimg-req)
    RX_TASK_IDS+=("$id")
    # The tests' index on the host's loopback; the build runs on the engine
    # (host network), the worker's container needs none for it.
    pyindex_start "$BATS_TEST_TMPDIR/index"
    pol=$BATS_TEST_TMPDIR/policy.json
    pyindex_policy "$pol"
    wk_push "$(jq -cn --arg id "$id" '{task_id: $id, requirements: ["tinydep==1.0"],
        code: "import tinydep\ndef calculate(i):\n    return tinydep.VALUE\n"}')"
    docker run -d --name "$NAME" --network host -v "$SOCK:/var/run/docker.sock" \
        --group-add "$SOCK_GID" -v "$pol:/etc/ralph-exec/policy.json:ro" "$WORKER_IMAGE" \
        --queue "$WK_Q" --max-jobs 1 >/dev/null
    rc=$(timeout 120 docker wait "$NAME") || fail "the worker container did not finish in 120 s"
    [[ $rc == 0 ]] || { docker logs "$NAME" >&2; fail "the worker container exited $rc"; }
    RX_OUT=$(wk_result "$id")
    rx_check '.status == "success" and .output == 42 and (.deps_image | startswith("ralph-deps:"))' \
        'the job imported its requirement from its deps image'
    assert_equal "$(pyindex_requests '/files/tinydep-1.0')" 1 "downloads of tinydep from the policy's index"
}
