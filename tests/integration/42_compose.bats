#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# The compose fleet (docker-compose.yml): Redis and two workers brought up by
# Debian's docker-compose under a project name of its own, fed through Redis
# only, then torn down with `down -v`, after which nothing of it may be left.

load ../lib/libtest
load ../lib/libworker
load ../lib/libpyindex

DC_FILE=$BATS_TEST_DIRNAME/../../docker-compose.yml
WORKER_IMAGE=${RALPH_TEST_WORKER_IMAGE:-ralph-worker:latest}
REDIS_IMAGE=${RALPH_TEST_REDIS_IMAGE:-ralph-redis:latest}
NJOBS=12

# What stops this file from running here (empty: nothing), beyond the engine.
dc_problem() {
    command -v docker-compose >/dev/null || { echo "docker-compose is not installed (scripts/ensure-deps.sh)"; return; }
    local img
    for img in "$WORKER_IMAGE" "$REDIS_IMAGE"; do
        docker image inspect "$img" >/dev/null 2>&1 || { echo "image $img missing: run make images"; return; }
    done
}

setup_file() {
    require_engine
}

setup() {
    require_engine
    local why
    why=$(dc_problem)
    if [[ -n $why ]]; then
        [[ ${RALPH_TEST_STRICT:-} == 1 ]] && fail "RALPH_TEST_STRICT=1: $why"
        skip "$why"
    fi
    # A project and a key prefix of this run only: the prefix is also in the
    # ralph.queue label of the jobs, by which workers judge containers.
    DC_PROJECT=rxc$$r$RANDOM
    PREFIX=rxc-$$-$RANDOM
    SOCK=$(rx_socket)
    # Everything compose interpolates comes from this file (and the same
    # values exported): a .env in the repository does not leak in.
    DC_ENV=$BATS_TEST_TMPDIR/compose.env
    cat >"$DC_ENV" <<EOF
DOCKER_GID=$(stat -c %g "$SOCK")
DOCKER_SOCK=$SOCK
RALPH_PREFIX=$PREFIX
RALPH_CONCURRENCY=2
RALPH_WORKER_IMAGE=$WORKER_IMAGE
RALPH_REDIS_IMAGE=$REDIS_IMAGE
EOF
    set -a
    # shellcheck disable=SC1090
    source "$DC_ENV"
    set +a
    WORKER_IDS=()
    DC_UP=0
    DC_OVERRIDE=
}

dc() {
    timeout -k 5 90 docker-compose --env-file "$DC_ENV" -f "$DC_FILE" \
        ${DC_OVERRIDE:+-f "$DC_OVERRIDE"} -p "$DC_PROJECT" "$@"
}

# Whatever happened, the project goes, and so do the job containers of its
# workers (a leftover fails the test that left it).
teardown() {
    local bad=0 id ids
    [[ -z ${INDEX_DIR:-} ]] || pyindex_stop "$INDEX_DIR"
    if ((${DC_UP:-0})); then
        if [[ -n $(docker ps -aq --filter "label=com.docker.compose.project=$DC_PROJECT") ]]; then
            dc logs --no-color --tail 30 >&2 2>&1 || true
            dc down -v --timeout 30 >/dev/null 2>&1 || true
        fi
        # compose itself failed: remove what carries the project's label.
        ids=$(docker ps -aq --filter "label=com.docker.compose.project=$DC_PROJECT")
        # shellcheck disable=SC2086
        [[ -n $ids ]] && { docker rm -fv $ids >/dev/null 2>&1; bad=1; }
        ids=$(docker network ls -q --filter "label=com.docker.compose.project=$DC_PROJECT")
        # shellcheck disable=SC2086
        [[ -n $ids ]] && { docker network rm $ids >/dev/null 2>&1; bad=1; }
        ids=$(docker volume ls -q --filter "label=com.docker.compose.project=$DC_PROJECT")
        # shellcheck disable=SC2086
        [[ -n $ids ]] && { docker volume rm -f $ids >/dev/null 2>&1; bad=1; }
        ((bad)) && echo "FAILED: parts of compose project $DC_PROJECT were left behind (removed)" >&2
    fi
    for id in ${WORKER_IDS[@]+"${WORKER_IDS[@]}"}; do
        ids=$(docker ps -aq --filter "label=ralph.owner=ralph-worker/$id")
        if [[ -n $ids ]]; then
            echo "FAILED: job container(s) of worker $id left behind: $ids" >&2
            # shellcheck disable=SC2086
            docker rm -fv $ids >/dev/null 2>&1 || true
            bad=1
        fi
    done
    rx_teardown || bad=1
    # The deps images built from this test's index, whatever the test got
    # to (found by the index their key names, once no container uses them).
    wk_remove_index_deps_images "${INDEX_PORT:-}" || bad=1
    return $bad
}

rcli_c() {
    docker exec -i "$REDIS_C" redis-cli "$@"
}

# The worker id a worker container logged at start.
worker_id_of() {
    docker logs "$1" 2>&1 | jq -Rr 'fromjson? | select(.event == "start") | .worker' | head -n 1
}

worker_started() {
    [[ -n $(worker_id_of "$1") ]]
}

done_count_is() {
    [[ $(rcli_c LLEN "$PREFIX:done") == "$1" ]]
}

worker_healthy() {
    [[ $(docker inspect -f '{{.State.Health.Status}}' "$1") == healthy ]]
}

# Inspect one running job container of the fleet (a job may end between ps
# and inspect: try again); sets JOB_C to its inspect JSON.
inspect_a_job_container() {
    local id c j
    for id in "${WORKER_IDS[@]}"; do
        for c in $(docker ps -q --filter "label=ralph.owner=ralph-worker/$id"); do
            j=$(docker inspect "$c" 2>/dev/null) && { JOB_C=$j; return 0; }
        done
    done
    return 1
}

# A demo-like job: numpy statistics of its inputs, plus what the job can see
# of the socket, the network and its user. It sleeps a second, so that the
# jobs outnumber the four slots for a while.
stats_job() {
    jq -cn --arg id "$1" --argjson k "$2" '{task_id: $id,
        code: "import os, time\nimport numpy as np\n\ndef calculate(inputs):\n    time.sleep(1)\n    a = np.array(inputs[\"values\"], dtype=float)\n    return {\"k\": inputs[\"k\"], \"mean\": float(a.mean()), \"std\": float(a.std()), \"n\": int(a.size),\n            \"uid\": os.getuid(), \"net\": sorted(os.listdir(\"/sys/class/net\")),\n            \"socket\": any(os.path.exists(p) for p in [\"/var/run/docker.sock\", \"/run/docker.sock\"])}\n",
        inputs: {k: $k, values: [range($k; $k + 6)]}}'
}

@test "compose: without DOCKER_GID the fleet refuses to start and says which variable to set" {
    : >"$BATS_TEST_TMPDIR/empty.env"
    run env -u DOCKER_GID docker-compose --env-file "$BATS_TEST_TMPDIR/empty.env" -f "$DC_FILE" \
        -p "$DC_PROJECT" config
    [[ $status != 0 ]] || fail "docker-compose config succeeded without DOCKER_GID"
    [[ $output == *DOCKER_GID*"stat -c %g"* ]] || fail "the error does not say how to set DOCKER_GID: $output"
}

@test "compose: Redis and 2 workers run $NJOBS jobs and a failing one as sibling containers, spread over both; down -v leaves nothing" {
    local i ids=() jobs=() c t0
    for ((i = 1; i <= NJOBS; i++)); do ids+=("$(rx_tid compose-$i)"); done
    local bad_id
    bad_id=$(rx_tid compose-bad)
    RX_TASK_IDS+=("${ids[@]}" "$bad_id")

    t0=$SECONDS
    DC_UP=1
    dc up -d --scale worker=2 >"$BATS_TEST_TMPDIR/up.log" 2>&1 ||
        { cat "$BATS_TEST_TMPDIR/up.log" >&2; fail "docker-compose up failed (above)"; }
    REDIS_C=$(dc ps -q redis)
    local -a workers
    mapfile -t workers < <(dc ps -q worker)
    [[ -n $REDIS_C && ${#workers[@]} == 2 ]] ||
        fail "expected one redis and 2 worker containers, got redis '$REDIS_C' and ${#workers[@]} worker(s)"
    for c in "${workers[@]}"; do
        wk_until 30 "worker container $c logs its start" worker_started "$c" ||
            { docker logs "$c" >&2; return 1; }
        WORKER_IDS+=("$(worker_id_of "$c")")
    done
    [[ ${WORKER_IDS[0]} != "${WORKER_IDS[1]}" ]] || fail "both workers have the id ${WORKER_IDS[0]}"
    echo "# up in $((SECONDS - t0)) s, workers ${WORKER_IDS[*]}" >&3

    # The deployment itself: a worker holds the socket and nothing else of
    # the host, and sits on the project's network only; that network is
    # internal and Redis publishes no port.
    for c in "${workers[@]}"; do
        docker inspect "$c" | jq -e --arg net "${DC_PROJECT}_queue" '.[0] |
            ([.Mounts[] | select(.Type == "bind") | .Destination] == ["/var/run/docker.sock"])
            and (.Config.User == "65532:65532") and .HostConfig.ReadonlyRootfs
            and (.NetworkSettings.Networks | keys == [$net])' >/dev/null ||
            fail "worker container $c: unexpected mounts, user or networks: $(docker inspect "$c" |
                jq -c '.[0] | {Mounts: [.Mounts[] | {Type, Destination}], User: .Config.User, Networks: (.NetworkSettings.Networks | keys)}')"
    done
    docker network inspect "${DC_PROJECT}_queue" | jq -e '.[0].Internal == true' >/dev/null ||
        fail "the network ${DC_PROJECT}_queue is not internal"
    docker inspect "$REDIS_C" | jq -e '.[0].HostConfig.PortBindings | length == 0' >/dev/null ||
        fail "redis publishes ports: $(docker inspect "$REDIS_C" | jq -c '.[0].HostConfig.PortBindings')"
    [[ $(rcli_c CONFIG GET appendonly | tail -n 1) == yes ]] || fail "redis runs without its append-only file"

    # Producer: nothing but redis-cli. One LPUSH, all jobs at once.
    for ((i = 0; i < NJOBS; i++)); do jobs+=("$(stats_job "${ids[$i]}" "$i")"); done
    jobs+=("$(jq -cn --arg id "$bad_id" '{task_id: $id, code: "def calculate(inputs):\n    raise ValueError(\"no data for \" + inputs[\"name\"])\n", inputs: {name: "station-7"}}')")
    [[ $(rcli_c LPUSH "$PREFIX:jobs" "${jobs[@]}") == $((NJOBS + 1)) ]] || fail "LPUSH failed"

    # Wait, bounded, and fail at once when a worker dies or restarts (one
    # that cannot use the socket trips its breaker and restarts in a loop).
    # Meanwhile catch one running job container to inspect from the engine.
    local end=$((SECONDS + 90)) st
    JOB_C=
    until done_count_is $((NJOBS + 1)); do
        [[ -n $JOB_C ]] || inspect_a_job_container || true
        for c in "${workers[@]}"; do
            st=$(docker inspect -f '{{.RestartCount}} {{.State.Running}}' "$c")
            [[ $st == "0 true" ]] || fail "worker container $c stopped or restarted (restarts, running: $st)"
        done
        ((SECONDS < end)) ||
            fail "not within 90 s: $(rcli_c LLEN "$PREFIX:done") of $((NJOBS + 1)) jobs done, $(rcli_c LLEN "$PREFIX:jobs") queued"
        sleep 0.5
    done
    # A job container, seen from the engine: no network, no mount of the
    # socket (nor any bind mount), labelled with this fleet's queue.
    [[ -n $JOB_C ]] || fail "no job container of the fleet was seen running"
    # (The label names the queue by address and by the id its first worker
    # stored in it, so fleets at the same address never sweep each other.)
    local qid
    qid=$(rcli_c GET "$PREFIX:queue-id")
    [[ $qid =~ ^[0-9a-f-]{36}$ ]] || fail "no queue id at $PREFIX:queue-id: '$qid'"
    jq -e --arg q "redis://redis:6379#$PREFIX@$qid" '.[0] | .HostConfig.NetworkMode == "none"
        and ([.Mounts[] | select(.Type == "bind")] == []) and ((.HostConfig.Binds // []) == [])
        and (.Config.Labels["ralph.queue"] == $q)' <<<"$JOB_C" >/dev/null ||
        fail "a job container is not sealed: $(jq -c '.[0] | {NetworkMode: .HostConfig.NetworkMode, Mounts, Binds: .HostConfig.Binds, queue: .Config.Labels["ralph.queue"]}' <<<"$JOB_C")"
    echo "# $((NJOBS + 1)) jobs done $((SECONDS - t0)) s after up" >&3

    # Every result: right status and output, computed in a sealed sibling.
    for ((i = 0; i < NJOBS; i++)); do
        RX_OUT=$(rcli_c GET "$PREFIX:result:${ids[$i]}")
        [[ -n $RX_OUT ]] || fail "no result for ${ids[$i]}"
        rx_check --arg id "${ids[$i]}" '.task_id == $id and .status == "success" and .exit_code == 0 and .error == null' \
            "job $i succeeded"
        rx_check --argjson k "$i" '.output.k == $k and .output.n == 6 and .output.mean == $k + 2.5
            and ((.output.std - 1.707825127659933) | fabs) < 1e-9' "job $i's statistics are right"
        rx_check '.output.socket == false and .output.net == ["lo"] and .output.uid == juid' \
            "job $i saw no socket, no network but loopback, and ran as its own uid"
    done
    # One container per job, never one for two.
    local ncid
    ncid=$(for id in "${ids[@]}" "$bad_id"; do rcli_c GET "$PREFIX:result:$id" | jq -r '.container_id // empty'; done |
        sort -u | grep -c .)
    assert_equal "$ncid" $((NJOBS + 1)) "distinct job containers (one per job)"
    RX_OUT=$(rcli_c GET "$PREFIX:result:$bad_id")
    rx_check --arg id "$bad_id" '.task_id == $id and .status == "error" and .exit_code == 1 and .output == null
        and .error == "calculate raised ValueError: no data for station-7"
        and (.stderr | contains("Traceback"))' "the failing job's result says why"

    # Each task id done exactly once, and the fleet's own view agrees (its
    # per-worker in-flight counts come from heartbeats, up to 10 s old).
    rcli_c LRANGE "$PREFIX:done" 0 -1 | sort >"$BATS_TEST_TMPDIR/done"
    printf '%s\n' "${ids[@]}" "$bad_id" | sort >"$BATS_TEST_TMPDIR/want"
    diff -u "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/done" >&2 || fail "the done list is not each task id once"
    docker exec "${workers[0]}" ralph-worker status --queue redis://redis:6379 --prefix "$PREFIX" |
        jq -e --argjson n "$NJOBS" '.queued == 0 and .done == $n and .failed == 1 and .dead == 0' \
            >/dev/null ||
        fail "ralph-worker status: $(docker exec "${workers[0]}" ralph-worker status --queue redis://redis:6379 --prefix "$PREFIX")"

    # Each worker serves its metrics, and its healthcheck (/readyz) says healthy.
    local body sum=0 v
    for c in "${workers[@]}"; do
        wk_until 30 "worker container $c healthy" worker_healthy "$c" ||
            fail "worker container $c: health $(docker inspect -f '{{json .State.Health}}' "$c")"
        body=$(docker exec "$c" bash -c 'exec 3<>/dev/tcp/127.0.0.1/9100 &&
            printf "GET /metrics HTTP/1.0\r\n\r\n" >&3 && cat <&3')
        grep -q '^ralph_slots 2' <<<"$body" || fail "worker container $c: no ralph_slots 2 in its metrics: $body"
        v=$(awk '$1 == "ralph_jobs_total{status=\"success\"}" { print $2 }' <<<"$body")
        sum=$((sum + ${v:-0}))
    done
    assert_equal "$sum" "$NJOBS" "successes counted by the workers' metrics"

    # Spread: the results do not name their worker; the workers' logs do.
    local -A per=()
    local n total=0 dup
    for c in "${workers[@]}"; do
        docker logs "$c" 2>&1 | jq -Rr 'fromjson? | select(.event == "job_done") | .task_id' \
            >"$BATS_TEST_TMPDIR/ran.$c"
        n=$(grep -c . "$BATS_TEST_TMPDIR/ran.$c" || true)
        per[$c]=$n
        total=$((total + n))
    done
    echo "# jobs per worker: $(for c in "${workers[@]}"; do printf '%s ' "${per[$c]}"; done)" >&3
    for c in "${workers[@]}"; do
        ((per[$c] >= 1)) || fail "worker container $c ran no job (per worker: ${per[*]})"
    done
    ((total == NJOBS + 1)) || fail "the workers logged $total job_done events, want $((NJOBS + 1))"
    dup=$(cat "$BATS_TEST_TMPDIR"/ran.* | sort | uniq -d)
    [[ -z $dup ]] || fail "run by both workers: $dup"

    # Tear down: nothing of the project, and no job container of its workers.
    t0=$SECONDS
    dc down -v >"$BATS_TEST_TMPDIR/down.log" 2>&1 ||
        { cat "$BATS_TEST_TMPDIR/down.log" >&2; fail "docker-compose down -v failed"; }
    echo "# down -v in $((SECONDS - t0)) s" >&3
    local left
    left=$(docker ps -a --filter "label=com.docker.compose.project=$DC_PROJECT" --format '{{.Names}}')
    [[ -z $left ]] || fail "containers left after down -v: $left"
    left=$(docker network ls --filter "label=com.docker.compose.project=$DC_PROJECT" --format '{{.Name}}')
    [[ -z $left ]] || fail "networks left after down -v: $left"
    ! docker network inspect "${DC_PROJECT}_queue" >/dev/null 2>&1 || fail "the network ${DC_PROJECT}_queue is left"
    left=$(docker volume ls --filter "label=com.docker.compose.project=$DC_PROJECT" --format '{{.Name}}')
    [[ -z $left ]] || fail "volumes left after down -v: $left"
    assert_no_volume "${DC_PROJECT}_redis-data"
    for c in "${WORKER_IDS[@]}"; do
        left=$(docker ps -aq --filter "label=ralph.owner=ralph-worker/$c")
        [[ -z $left ]] || fail "job containers of worker $c left: $left"
    done
    for c in "${ids[@]}" "$bad_id"; do assert_no_container "$c"; done
}

@test "compose: with the operator's policy mounted as the file says, a job's requirements come from its index" {
    local id pol c
    id=$(rx_tid compose-req)
    RX_TASK_IDS+=("$id")
    # The tests' index on the host's loopback; the build runs on the engine
    # (host network), the workers stay on their internal network.
    pyindex_start "$BATS_TEST_TMPDIR/index"
    pol=$BATS_TEST_TMPDIR/policy.json
    pyindex_policy "$pol"
    # What the file's commented volume line says to do, as an override.
    DC_OVERRIDE=$BATS_TEST_TMPDIR/policy.yml
    printf 'services:\n  worker:\n    volumes:\n      - %s:/etc/ralph-exec/policy.json:ro\n' "$pol" >"$DC_OVERRIDE"
    DC_UP=1
    dc up -d --scale worker=1 >"$BATS_TEST_TMPDIR/up.log" 2>&1 ||
        { cat "$BATS_TEST_TMPDIR/up.log" >&2; fail "docker-compose up failed (above)"; }
    REDIS_C=$(dc ps -q redis)
    c=$(dc ps -q worker)
    wk_until 30 "worker container $c logs its start" worker_started "$c" || { docker logs "$c" >&2; return 1; }
    WORKER_IDS+=("$(worker_id_of "$c")")
    rcli_c LPUSH "$PREFIX:jobs" "$(jq -cn --arg id "$id" '{task_id: $id, requirements: ["tinydep==1.0"],
        code: "import tinydep\ndef calculate(i):\n    return tinydep.VALUE\n"}')" >/dev/null
    wk_until 120 "the job's result" done_count_is 1 || { docker logs "$c" >&2; return 1; }
    RX_OUT=$(rcli_c GET "$PREFIX:result:$id")
    rx_check '.status == "success" and .output == 42 and (.deps_image | startswith("ralph-deps:"))' \
        'the job imported its requirement from its deps image'
    assert_equal "$(pyindex_requests '/files/tinydep-1.0')" 1 "downloads of tinydep from the policy's index"
    dc down -v >"$BATS_TEST_TMPDIR/down.log" 2>&1 ||
        { cat "$BATS_TEST_TMPDIR/down.log" >&2; fail "docker-compose down -v failed"; }
    assert_no_container "$id"
}
