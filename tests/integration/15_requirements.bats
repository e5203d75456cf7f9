#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# A job's `requirements`: installed once into a deps image (built through
# the Engine API with network, wheels only by default), then the job runs on
# it without network like any other.  The package index is the tests' own
# (tests/lib/pyindex.py on loopback: tinypkg 1.0/2.0 -> tinydep, tinydep,
# sdistonly as source only), reached by the build with requirements_network
# "host": on this host's loopback, or, for an engine in a network namespace
# of its own (Docker 26 as scripts/ensure-docker26.sh runs it), on that
# namespace's loopback.

load ../lib/libtest
load ../lib/libworker
load ../lib/libpyindex

# Every deps image on the engine goes: each test counts its own builds.
remove_deps_images() {
    local ids
    ids=$(docker images -q --filter label=io.ralph-exec.deps-key | sort -u)
    # shellcheck disable=SC2086
    [[ -z $ids ]] || docker rmi -f $ids >/dev/null 2>&1 || true
}

setup_file() {
    wk_setup_file || return 1
    [[ $RX_ENGINE_STATE == ok ]] || return 0
    pyindex_start "$BATS_FILE_TMPDIR/index"
}

teardown_file() {
    pyindex_stop "$BATS_FILE_TMPDIR/index"
    remove_deps_images
    wk_teardown_file
}

setup() {
    wk_setup || return 1
    INDEX_DIR=$BATS_FILE_TMPDIR/index
    INDEX_PORT=$(cat "$INDEX_DIR/port")
    : >"$INDEX_DIR/requests.log"
    remove_deps_images
    policy '{}'
}

# Both run whatever the first says; either one failing fails the test (bats
# counts only teardown's own status, and errexit is off inside it).
teardown() {
    local rc=0
    wk_teardown || rc=1
    rx_teardown || rc=1
    return $rc
}

# policy JSON: the test's policy, pointed at the test index (the JSON's own
# keys win), in $POLICY and RX_ARGS.
policy() {
    POLICY=$BATS_TEST_TMPDIR/policy.json
    jq -n --arg url "http://127.0.0.1:$INDEX_PORT/simple/" --argjson own "$1" \
        '{requirements_index_url: $url, requirements_network: "host"} + $own' >"$POLICY"
    RX_ARGS=(--policy "$POLICY")
}

has_result() {
    [[ -n $(wk_result "$1") ]]
}

IMPORT='import tinypkg, tinydep
def calculate(inputs):
    return {"tinypkg": tinypkg.VERSION, "tinydep": tinydep.VALUE, "hello": tinypkg.hello()}
'

@test "requirements: installed and imported; the second job uses the cached image and asks the index nothing" {
    local tid image
    tid=$(rx_tid req-a)
    # timeout 1: the job's timeout starts after the build, which takes more
    # (its index answers each file 1.5 s late: a fast engine built it in
    # 0.9 s).
    rx_job_jq --arg id "$tid" --arg code "$IMPORT" \
        '{task_id: $id, code: $code, requirements: ["TinyPkg==2.0"], timeout: 1}'
    echo 1500 >"$INDEX_DIR/files-delay-ms"
    rx_run "$JOB"
    rm -f "$INDEX_DIR/files-delay-ms"
    rx_expect success 0
    rx_check '.output == {tinypkg: "2.0", tinydep: 42, hello: "hello from tinypkg"}' \
        'tinypkg 2.0 and its dependency tinydep were importable'
    rx_check '.deps_image | test("^ralph-deps:[0-9a-f]{32}$")' 'the result names the deps image'
    rx_check '.timings_ms.deps > 1000' 'timings_ms.deps is the build, longer than the job'"'"'s timeout'
    image=$(rx_get .deps_image)
    docker image inspect "$image" >/dev/null || fail "the deps image $image is not on the engine"
    [[ $(pyindex_requests '/files/tinypkg-2.0') == 1 ]] || fail "tinypkg 2.0 was not fetched once"

    : >"$INDEX_DIR/requests.log"
    tid=$(rx_tid req-b)
    rx_job_jq --arg id "$tid" --arg code "$IMPORT" \
        '{task_id: $id, code: $code, requirements: ["tinypkg == 2.0"]}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check --arg img "$image" '.deps_image == $img' 'the same set (in another spelling) is the same image'
    assert_equal "$(cat "$INDEX_DIR/requests.log")" "" "requests to the index by the second job"

    tid=$(rx_tid req-none)
    rx_job_jq --arg id "$tid" '{task_id: $id, code: "def calculate(i):\n    return 1\n"}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.deps_image == null and .timings_ms.deps == 0' 'a job without requirements: deps_image null'
}

@test "requirements: the job still has no network, runs as non-root on a read-only root" {
    local tid code
    code='import os, socket, tinydep
def calculate(inputs):
    try:
        s = socket.create_connection(("127.0.0.1", int(inputs["port"])), timeout=2)
        net = "connected"
    except OSError as e:
        net = type(e).__name__
    try:
        open("/usr/local/lib/planted", "w")
        root = "writable"
    except OSError:
        root = "read-only"
    ifaces = sorted(n for _, n in socket.if_nameindex())
    return {"net": net, "root": root, "uid": os.getuid(), "ifaces": ifaces, "v": tinydep.VALUE}
'
    tid=$(rx_tid req-net)
    rx_job_jq --arg id "$tid" --arg code "$code" --arg port "$INDEX_PORT" \
        '{task_id: $id, code: $code, inputs: {port: $port}, requirements: ["tinydep"]}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output.v == 42' 'the package was there'
    rx_check '.output.net != "connected"' 'the index on the host loopback is unreachable from the job'
    rx_check '(.output.ifaces - ["lo"]) == []' 'no interface but loopback'
    rx_check '.output.root == "read-only"' 'the root filesystem is read-only'
    rx_check '.output.uid != 0 and .output.uid == juid' 'the job runs as its own non-root uid'
}

@test "requirements: each kind of bad string is rejected before the engine or the index is asked" {
    local bad i=0
    for bad in 'https://example.invalid/x.whl' './local/pkg' 'numpy @ https://x/numpy.whl' \
        'numpy; python_version < "3"' '-e git+x' '--index-url=http://x' '-r other.txt' \
        $'numpy\nscipy' $'numpy\t==1' '' 'numpy==1.0 scipy' 'nümpy'; do
        i=$((i + 1))
        rx_job_jq --arg id "$(rx_tid "req-bad-$i")" --arg r "$bad" \
            '{task_id: $id, code: "def calculate(i):\n    return 1\n", requirements: ["tinydep", $r]}'
        rx_run "$JOB"
        rx_expect rejected 2
        rx_check '.error | test("requirements\\[1\\]")' "the error names the entry (\"$bad\")"
        rx_check '.container_id == null and .deps_image == null' 'nothing was made'
    done
    assert_equal "$(cat "$INDEX_DIR/requests.log")" "" "requests to the index"
}

@test "requirements: an unknown package or version is rejected with the installer's words" {
    local tid
    tid=$(rx_tid req-unknown)
    rx_job_jq --arg id "$tid" '{task_id: $id, code: "def calculate(i):\n    return 1\n",
        requirements: ["nosuchpkg"]}'
    rx_run "$JOB"
    rx_expect rejected 2
    rx_check '.error | test("No matching distribution found for nosuchpkg")' 'pip says which'
    rx_check '.error | test("\u001b") | not' 'no terminal escapes in the message'
    rx_check '.container_id == null' 'no job container was made'

    tid=$(rx_tid req-version)
    rx_job_jq --arg id "$tid" '{task_id: $id, code: "def calculate(i):\n    return 1\n",
        requirements: ["tinypkg==9.9"]}'
    rx_run "$JOB"
    rx_expect rejected 2
    rx_check '.error | test("tinypkg==9.9") and test("1.0, 2.0")' 'pip names the versions there are'

    # A version spelled like a network error is still the job's own failure.
    tid=$(rx_tid req-forged)
    rx_job_jq --arg id "$tid" '{task_id: $id, code: "def calculate(i):\n    return 1\n",
        requirements: ["tinypkg==SSLError"]}'
    rx_run "$JOB"
    rx_expect rejected 2
    [[ -z $(docker images -q --filter label=io.ralph-exec.deps-key) ]] ||
        fail "a failed build left a deps image"
    [[ -z $(docker ps -aq --filter name=ralph-deps-lock) ]] || fail "a build lock was left"
}

@test "requirements: a source-only package is refused by default, built under \"any\"" {
    local tid
    tid=$(rx_tid req-sdist)
    rx_job_jq --arg id "$tid" '{task_id: $id,
        code: "import sdistonly\ndef calculate(i):\n    return sdistonly.VALUE\n",
        requirements: ["sdistonly"]}'
    rx_run "$JOB"
    rx_expect rejected 2
    rx_check '.error | test("sdistonly") and test("only wheels")' 'the rejection names the package and why'
    [[ $(pyindex_requests '/files/sdistonly') == 0 ]] || fail "the sdist was downloaded under wheels only"

    policy '{"requirements": "any"}'
    tid=$(rx_tid req-sdist-any)
    rx_job_jq --arg id "$tid" '{task_id: $id,
        code: "import sdistonly\ndef calculate(i):\n    return sdistonly.VALUE\n",
        requirements: ["sdistonly"]}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output == "built"' 'the sdist was built into a wheel and installed'
    # Its build code planted setuid/setgid files where the packages go: they
    # are in the image, without those bits.
    local out
    out=$(docker run --rm --network none --user 0 --entrypoint sh "$(rx_get .deps_image)" -c \
        'cd /usr/local/lib/python3*/dist-packages && ls -d sdistonly-planted sdistonly-hidden/planted &&
         echo "setuid: $(find /usr/local/lib -perm /6000)"') || fail "the planted files are not there: $out"
    [[ $out == *$'\nsetuid: ' ]] || fail "setuid/setgid bits in the deps image: $out"
}

@test "requirements: policy \"off\" rejects every job that has them; max_requirements caps the set" {
    policy '{"requirements": "off"}'
    rx_job_jq --arg id "$(rx_tid req-off)" '{task_id: $id,
        code: "def calculate(i):\n    return 1\n", requirements: ["tinydep"]}'
    rx_run "$JOB"
    rx_expect rejected 2
    rx_check '.error | test("requirements") and test("off")' 'the rejection says the policy allows none'
    policy '{"max_requirements": 1}'
    rx_job_jq --arg id "$(rx_tid req-max)" '{task_id: $id,
        code: "def calculate(i):\n    return 1\n", requirements: ["tinydep", "tinypkg"]}'
    rx_run "$JOB"
    rx_expect rejected 2
    rx_check '.error | test("max_requirements")' 'the rejection names max_requirements'
    assert_equal "$(cat "$INDEX_DIR/requests.log")" "" "requests to the index"
}

@test "requirements: three concurrent jobs with a new set cause one build: each wheel fetched once" {
    local i tid pids=() outs=()
    for i in 1 2 3; do
        tid=$(rx_tid "req-conc-$i")
        rx_job_jq --arg id "$tid" --arg code "$IMPORT" \
            '{task_id: $id, code: $code, requirements: ["tinypkg==2.0"]}'
        cp "$JOB" "$BATS_TEST_TMPDIR/conc-$i.json"
    done
    for i in 1 2 3; do
        RX_N=$((RX_N + 1)) # an output file of its own for each
        rx_run_bg "$BATS_TEST_TMPDIR/conc-$i.json" --policy "$POLICY"
        pids+=("$RX_BG_PID")
        outs+=("$RX_BG_OUT")
    done
    for i in 0 1 2; do
        rx_wait_pid "${pids[i]}" 120 || fail "job $((i + 1)) did not finish"
    done
    local images
    for i in 0 1 2; do
        jq -e '.status == "success" and .output.tinydep == 42' "${outs[i]}" >/dev/null ||
            fail "job $((i + 1)): $(cat "${outs[i]}")"
    done
    images=$(jq -r .deps_image "${outs[@]}" | sort -u | wc -l)
    assert_equal "$images" 1 "deps images used by the three"
    assert_equal "$(pyindex_requests '/files/tinypkg-2.0')" 1 "downloads of tinypkg 2.0"
    assert_equal "$(pyindex_requests '/files/tinydep-1.0')" 1 "downloads of tinydep 1.0"
    [[ -z $(docker ps -aq --filter name=ralph-deps-lock) ]] || fail "a build lock was left"
}

@test "requirements: the index down is infra_error; a build past requirements_timeout is infra_error saying so" {
    policy '{"requirements_index_url": "http://127.0.0.1:1/simple/"}'
    rx_job_jq --arg id "$(rx_tid req-down)" '{task_id: $id,
        code: "def calculate(i):\n    return 1\n", requirements: ["tinydep"]}'
    rx_run "$JOB"
    rx_expect infra_error 125
    rx_check '.error | test("could not be reached")' 'the error says the index could not be reached'

    policy '{"requirements_timeout": 0.5}'
    rx_job_jq --arg id "$(rx_tid req-slow)" '{task_id: $id,
        code: "def calculate(i):\n    return 1\n", requirements: ["tinypkg==1.0"]}'
    rx_run "$JOB"
    rx_expect infra_error 125
    rx_check '.error | test("requirements_timeout")' 'the error names requirements_timeout'
    rx_wait_no_lock
    # Nothing was tagged: the next job builds and runs.
    policy '{}'
    rx_job_jq --arg id "$(rx_tid req-after)" '{task_id: $id,
        code: "import tinypkg\ndef calculate(i):\n    return tinypkg.VERSION\n",
        requirements: ["tinypkg==1.0"]}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output == "1.0"' 'a later job gets a good image'
}

# The build lock container goes with its builder (at most a few seconds).
rx_wait_no_lock() {
    local i
    for ((i = 0; i < 100; i++)); do
        [[ -z $(docker ps -aq --filter name=ralph-deps-lock) ]] && return 0
        sleep 0.2
    done
    fail "a build lock was left: $(docker ps -a --filter name=ralph-deps-lock)"
}

@test "requirements: a builder killed mid-build leaves nothing a later job mistakes for a good image" {
    rx_job_jq --arg id "$(rx_tid req-crash)" '{task_id: $id,
        code: "def calculate(i):\n    return 1\n", requirements: ["tinypkg==2.0"]}'
    rx_run_bg "$JOB" --policy "$POLICY"
    # Killed only once it holds the build lock and is still building: a
    # builder killed before or after its build would test nothing.
    local end seen=0
    end=$(wk_deadline 30)
    while wk_pid_alive "$RX_BG_PID" && ! wk_past "$end"; do
        if [[ -n $(docker ps -aq --filter name=ralph-deps-lock) ]]; then
            seen=1
            break
        fi
        sleep 0.05
    done
    ((seen)) || fail "FAILED: the builder's lock (ralph-deps-lock-*) never showed within 30 s" \
        "(builder $(wk_pid_alive "$RX_BG_PID" && echo 'still running' || echo 'ended')): $(cat "$RX_BG_ERR")"
    wk_pid_alive "$RX_BG_PID" || fail "FAILED: the builder ended before it could be killed: $(cat "$RX_BG_ERR")"
    kill -KILL "$RX_BG_PID"
    wait "$RX_BG_PID" 2>/dev/null || true
    # Its lock outlives it: it was killed holding it, mid-build.
    [[ -n $(docker ps -aq --filter name=ralph-deps-lock) ]] ||
        fail "FAILED: no lock left by the killed builder: its build had already ended"
    rx_job_jq --arg id "$(rx_tid req-crash-after)" --arg code "$IMPORT" \
        '{task_id: $id, code: $code, requirements: ["tinypkg==2.0"]}'
    rx_run "$JOB"
    rx_expect success 0
    rx_check '.output.tinypkg == "2.0" and .output.tinydep == 42' 'the later job ran on a complete image'
    rx_check '.timings_ms.deps < 60000' 'it did not wait out the dead builder'
    rx_wait_no_lock
}

@test "requirements: beyond max_deps_images the least recently used go, never one in use" {
    local tid a b c
    policy '{"max_deps_images": 1}'
    # A: its job still runs while B and C are built.
    tid=$(rx_tid req-lru-a)
    # (Longer than B's and C's builds take on a loaded machine: it is
    # stopped at the end.)
    rx_job_jq --arg id "$tid" '{task_id: $id, timeout: 600,
        code: "import time, tinydep\ndef calculate(i):\n    time.sleep(300)\n    return 1\n",
        requirements: ["tinydep==1.0"]}'
    rx_run_bg "$JOB" --policy "$POLICY"
    rx_wait_running "$tid" 60 || fail "job A did not start"
    a=$(docker ps --filter "label=ralph.task_id=$tid" --format '{{.Image}}')
    [[ $a == ralph-deps:* ]] || fail "job A runs on '$a', not a deps image"
    for s in b c; do
        tid=$(rx_tid "req-lru-$s")
        rx_job_jq --arg id "$tid" --arg r "tinypkg==$([[ $s == b ]] && echo 1.0 || echo 2.0)" \
            '{task_id: $id, code: "def calculate(i):\n    return 1\n", requirements: [$r]}'
        rx_run "$JOB"
        rx_expect success 0
        printf -v "$s" '%s' "$(rx_get .deps_image)"
    done
    docker image inspect "$a" >/dev/null 2>&1 || fail "the image in use ($a) was removed"
    docker image inspect "$c" >/dev/null 2>&1 || fail "the newest image ($c) was removed"
    ! docker image inspect "$b" >/dev/null 2>&1 || fail "the least recently used ($b) was kept"
    kill -TERM "$RX_BG_PID"
    rx_wait_pid "$RX_BG_PID" 60
}

@test "requirements: ralph-exec prepare builds the image and runs nothing; the job then asks the index nothing" {
    local tid out rc=0
    tid=$(rx_tid req-prep)
    rx_job_jq --arg id "$tid" --arg code "$IMPORT" \
        '{task_id: $id, code: $code, requirements: ["tinypkg==2.0"]}'
    out=$("$RALPH_EXEC" prepare --policy "$POLICY" "$JOB" 2>/dev/null) || rc=$?
    assert_equal "$rc" 0 "prepare's exit code"
    jq -e '.status == "success" and (.deps_image | startswith("ralph-deps:")) and
        .container_id == null and .output == null' <<<"$out" >/dev/null ||
        fail "prepare's result: $out"
    : >"$INDEX_DIR/requests.log"
    rx_run "$JOB"
    rx_expect success 0
    rx_check --arg img "$(jq -r .deps_image <<<"$out")" '.deps_image == $img' 'the prepared image ran'
    assert_equal "$(cat "$INDEX_DIR/requests.log")" "" "requests to the index by the job"
    out=$("$RALPH_EXEC" prepare --policy "$POLICY" "$BATS_TEST_DIRNAME/../data/jobs/invalid/requirements_at.json" 2>/dev/null) || rc=$?
    assert_equal "$rc" 2 "prepare of a job with a bad requirement: exit code"
}

@test "requirements: a job with requirements runs from both queues (spool and Redis); the index down puts it back" {
    local tid down=$BATS_TEST_TMPDIR/policy-down.json
    # A worker whose index cannot be reached: the job's infra_error puts it
    # back on the queue (an attempt counted), no result is stored, and the
    # worker's breaker stays shut (it exits 0 at --max-jobs, not 3).
    jq '.requirements_index_url = "http://127.0.0.1:1/simple/"' "$POLICY" >"$down"
    wk_spool_job "$WK_SPOOL" req-down "$(jq -nc --arg code "$IMPORT" \
        '{task_id: "req-down", code: $code, requirements: ["tinypkg==2.0"]}')"
    wk_start d --queue "dir:$WK_SPOOL" --policy "$down" --max-jobs 1
    wk_expect_exit d 0 120 || return 1
    wk_has_event d job_requeued '.task_id == "req-down" and .counted == "yes" and
        (.reason | test("could not be reached"))' || { wk_dump d; fail "req-down was not put back"; }
    [[ ! -e $WK_SPOOL/results/req-down.json ]] || fail "a result was stored: $(cat "$WK_SPOOL/results/req-down.json")"
    [[ $(wk_ls "$WK_SPOOL/incoming") == req-down* ]] || fail "not back in incoming: $(wk_ls "$WK_SPOOL/incoming")"

    # A worker whose index works runs it, and a new one.
    wk_start w --queue "dir:$WK_SPOOL" --policy "$POLICY"
    wk_spool_job "$WK_SPOOL" req-spool "$(jq -nc --arg code "$IMPORT" \
        '{task_id: "req-spool", code: $code, requirements: ["tinypkg==2.0"]}')"
    for tid in req-spool req-down; do
        wk_until 120 "the spool result $tid" test -f "$WK_SPOOL/results/$tid.json" || { wk_dump w; return 1; }
        jq -e '.status == "success" and .output.tinydep == 42 and (.deps_image | startswith("ralph-deps:"))' \
            "$WK_SPOOL/results/$tid.json" >/dev/null || fail "spool: $(cat "$WK_SPOOL/results/$tid.json")"
    done
    wk_signal_and_wait w TERM 30

    wk_start r --queue "$WK_Q" --policy "$POLICY"
    wk_push "$(jq -nc '{task_id: "req-redis", requirements: ["tinypkg==1.0"],
        code: "import tinypkg\ndef calculate(i):\n    return tinypkg.VERSION\n"}')"
    wk_until 120 "the Redis result" has_result req-redis || { wk_dump r; return 1; }
    jq -e '.status == "success" and .output == "1.0"' <<<"$(wk_result req-redis)" >/dev/null ||
        fail "redis: $(wk_result req-redis)"
    wk_signal_and_wait r TERM 30
}
