#!/usr/bin/env bash
# images/build.sh: build the images ralph-exec runs jobs in (make images).
#
#   [BASE_IMAGE=ralph-base:bookworm] [SANDBOX_IMAGE=ralph-sandbox:python] \
#   [PIP_IMAGE=ralph-pip:bookworm] [WORKER_IMAGE=ralph-worker:latest] \
#   [REDIS_IMAGE=ralph-redis:latest] [FORCE=1] images/build.sh
#
# 1. Base image: when BASE_IMAGE is not on the engine (or FORCE=1), build a
#    Debian bookworm minbase root filesystem with mmdebstrap from this
#    machine's own apt sources (no registry needed) and `docker import` it.
# 2. Sandbox image: docker build Dockerfile.sandbox FROM the base, with the
#    near-empty images/sandbox/ as build context. Unchanged -> layer cache hit.
# 3. Smoke test: run the sandbox image once, hardened, without network.
# 4. Installer image (images/Dockerfile.pip, images/pip/ as context): python3,
#    pip and ralph-pip-install, the first stage of the dependency images the
#    executor builds for jobs with `requirements`; smoke-tested as 65534
#    without network. PIP_IMAGE= skips it.
# 5. Worker image (Dockerfile.worker, the repository as context) and the
#    compose fleet's Redis image (images/Dockerfile.redis, images/redis/ as
#    context), each smoke-tested; WORKER_IMAGE= or REDIS_IMAGE= skips one.
#
# On an engine labelled io.ralph-exec.engine=docker26 (the second engine,
# which has no network for RUN steps) the images are built on the default
# engine and the sandbox and installer images are copied over
# (scripts/copy-image.sh).
#
# Needs a running engine (scripts/ensure-engine.sh) and, for the base image,
# root and mmdebstrap (scripts/ensure-deps.sh). DOCKER=path overrides the
# docker CLI; the legacy builder is used unless DOCKER_BUILDKIT is set.
set -euo pipefail

readonly PROG=${0##*/}
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "error: $*"; exit 1; }

(($# == 0)) || die "takes no arguments (environment: BASE_IMAGE, SANDBOX_IMAGE, PIP_IMAGE, WORKER_IMAGE, REDIS_IMAGE, FORCE=1)"

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
readonly HERE ROOT
readonly BASE_IMAGE=${BASE_IMAGE:-ralph-base:bookworm}
readonly SANDBOX_IMAGE=${SANDBOX_IMAGE:-ralph-sandbox:python}
readonly PIP_IMAGE=${PIP_IMAGE-ralph-pip:bookworm}
readonly WORKER_IMAGE=${WORKER_IMAGE-ralph-worker:latest}
readonly REDIS_IMAGE=${REDIS_IMAGE-ralph-redis:latest}
readonly FORCE=${FORCE:-0}
readonly SUITE=bookworm
readonly DOCKERFILE=$ROOT/Dockerfile.sandbox
readonly CONTEXT=$HERE/sandbox
readonly DOCKER=${DOCKER:-docker}
# The legacy builder works with every client/engine pair we meet (the 20.10
# engine with a 20.10 or 28 client, with or without buildx).
export DOCKER_BUILDKIT=${DOCKER_BUILDKIT:-0}

command -v "$DOCKER" >/dev/null 2>&1 || die "docker CLI '$DOCKER' not found; run scripts/ensure-deps.sh"
[[ -f $DOCKERFILE ]] || die "$DOCKERFILE not found"
[[ -d $CONTEXT ]] || die "build context $CONTEXT not found"
server=$("$DOCKER" version --format '{{.Server.Version}}' 2>/dev/null) \
    || die "no Docker engine answers (DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock}); run scripts/ensure-engine.sh"

# An engine without a network for builds (Docker 26 as ensure-docker26.sh
# runs it, labelled so): build on the default engine, then copy the sandbox
# and installer images over (jobs' dependency images are built FROM the
# installer image on the engine that runs them).  The worker's and Redis's
# images stay on the default engine.
if "$DOCKER" info --format '{{json .Labels}}' 2>/dev/null | grep -q '"io.ralph-exec.engine=docker26"'; then
    target=${DOCKER_HOST#unix://}
    log "the engine at $target ($server) has no network for builds: building on the default engine"
    env -u DOCKER_HOST "$ROOT/scripts/ensure-engine.sh"
    env -u DOCKER_HOST "$0"
    "$ROOT/scripts/copy-image.sh" /var/run/docker.sock "$target" "$SANDBOX_IMAGE"
    if [[ -n $PIP_IMAGE ]]; then
        "$ROOT/scripts/copy-image.sh" /var/run/docker.sock "$target" "$PIP_IMAGE"
    fi
    exit 0
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/ralph-images.XXXXXX")
readonly TMP
trap 'rm -rf "$TMP"' EXIT

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

# shellcheck source=scripts/debian-sources.sh
source "$ROOT/scripts/debian-sources.sh"

build_base() {
    local t0 sources=$TMP/debian.sources tarball=$TMP/base.tar opts=() line
    command -v mmdebstrap >/dev/null 2>&1 || die "mmdebstrap not found; run scripts/ensure-deps.sh"
    ((EUID == 0)) || die "building $BASE_IMAGE with mmdebstrap needs root (or load the image some other way)"

    debian_sources "$SUITE" >"$sources" || die "no usable Debian $SUITE apt source in /etc/apt/sources.list{,.d/*.list,.d/*.sources}"
    log "base: apt sources: $(awk '/^URIs:/ { u = $2 } /^Suites:/ { $1 = ""; printf "%s%s%s", sep, u, $0; sep = "; " }' "$sources")"
    while IFS= read -r line; do
        opts+=("--aptopt=$line")
    done < <(debian_aptopts)
    if grep -q '^URIs:.*https://' "$sources"; then
        opts+=(--include=ca-certificates)
    fi
    # Merged /usr via directory symlinks (as debootstrap and Debian's official
    # images do) instead of the usrmerge package, which drags in full perl.
    if [[ -d /usr/share/mmdebstrap/hooks/merged-usr ]]; then
        opts+=(--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr)
    fi
    # Leave documentation, man pages and translations out of this image and
    # of everything later installed into it (kept in /etc/dpkg/dpkg.cfg.d).
    opts+=(
        '--dpkgopt=path-exclude=/usr/share/doc/*'
        '--dpkgopt=path-include=/usr/share/doc/*/copyright'
        '--dpkgopt=path-exclude=/usr/share/man/*'
        '--dpkgopt=path-exclude=/usr/share/info/*'
        '--dpkgopt=path-exclude=/usr/share/locale/*'
        '--dpkgopt=path-include=/usr/share/locale/locale.alias'
        '--dpkgopt=path-exclude=/usr/share/lintian/*'
    )

    log "base: mmdebstrap --variant=minbase $SUITE"
    t0=$(now)
    if ! mmdebstrap --variant=minbase --mode=root --format=tar "${opts[@]}" \
        "$SUITE" "$tarball" "$sources" >"$TMP/mmdebstrap.log" 2>&1; then
        tail -n 30 "$TMP/mmdebstrap.log" >&2
        die "mmdebstrap failed"
    fi
    log "base: root filesystem built in $(since "$t0") ($(du -h "$tarball" | cut -f1))"

    t0=$(now)
    "$DOCKER" import \
        --change 'CMD ["/bin/bash"]' \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8' \
        --change "LABEL org.opencontainers.image.title=ralph-base io.ralph-exec.image=base" \
        --message "ralph-exec base: mmdebstrap --variant=minbase $SUITE" \
        "$tarball" "$BASE_IMAGE" >/dev/null
    log "base: imported $BASE_IMAGE in $(since "$t0")"
}

# --- main ----------------------------------------------------------------
start=$(now)
rebuilt_base=0
if [[ $FORCE == 1 ]] || ! "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    build_base
    rebuilt_base=1
else
    log "base: $BASE_IMAGE present (FORCE=1 rebuilds it)"
fi

old_id=$("$DOCKER" image inspect --format '{{.Id}}' "$SANDBOX_IMAGE" 2>/dev/null || true)
log "sandbox: docker build $SANDBOX_IMAGE from $BASE_IMAGE (engine $server)"
t0=$(now)
if ! "$DOCKER" build --build-arg "BASE=$BASE_IMAGE" -t "$SANDBOX_IMAGE" \
    -f "$DOCKERFILE" "$CONTEXT" >"$TMP/build.log" 2>&1; then
    tail -n 40 "$TMP/build.log" >&2
    die "docker build failed"
fi
new_id=$("$DOCKER" image inspect --format '{{.Id}}' "$SANDBOX_IMAGE")
if [[ $new_id == "$old_id" ]]; then
    log "sandbox: $SANDBOX_IMAGE unchanged (cache hit, $(since "$t0"))"
else
    log "sandbox: built $SANDBOX_IMAGE in $(since "$t0")"
fi

# Images these builds replaced (untagged, ours by label) are garbage.
if ((rebuilt_base)) || [[ $new_id != "$old_id" ]]; then
    "$DOCKER" image prune -f --filter label=io.ralph-exec.image >/dev/null 2>&1 || true
fi

# Smoke test, hardened as jobs run.
out=$("$DOCKER" run --rm --network none --read-only --cap-drop ALL \
    --security-opt no-new-privileges --tmpfs /tmp "$SANDBOX_IMAGE" \
    python3 -c 'import numpy, os; print(numpy.__version__, os.getuid(), os.getgid(), os.getcwd())' 2>&1) \
    || die "smoke test of $SANDBOX_IMAGE failed: $out"
read -r numpy_version uid gid cwd <<<"$out"
[[ $uid:$gid == 65534:65534 && $cwd == /workspace ]] \
    || die "smoke test of $SANDBOX_IMAGE: expected 65534:65534 in /workspace, got '$out'"

size=$("$DOCKER" image inspect --format '{{.Size}}' "$SANDBOX_IMAGE")
log "ok: $SANDBOX_IMAGE ($((size / 1000000)) MB, numpy $numpy_version, uid $uid) in $(since "$start")"

# The installer image (images/Dockerfile.pip, images/pip/ as context): the
# first stage of a job's dependency image, which runs ralph-pip-install as
# 65534 and leaves the packages in /out. PIP_IMAGE= skips it. The smoke test
# runs pip as the image runs it, without network, and checks the script's
# mode (kept from the context) and the owners under /out (only dist-packages
# is the installer's).
if [[ -n $PIP_IMAGE ]]; then
    t0=$(now)
    old_id=$("$DOCKER" image inspect --format '{{.Id}}' "$PIP_IMAGE" 2>/dev/null || true)
    if ! "$DOCKER" build --build-arg "BASE=$BASE_IMAGE" -t "$PIP_IMAGE" \
        -f "$HERE/Dockerfile.pip" "$HERE/pip" >"$TMP/pip.log" 2>&1; then
        tail -n 40 "$TMP/pip.log" >&2
        die "docker build of $PIP_IMAGE failed"
    fi
    new_id=$("$DOCKER" image inspect --format '{{.Id}}' "$PIP_IMAGE")
    if [[ $new_id != "$old_id" && -n $old_id ]]; then
        # The image it replaced (untagged now) is garbage, and so are the
        # installer stages of dependency images built FROM it (they inherit
        # its label): their layer cache cannot hit any more.
        "$DOCKER" image prune -f --filter label=io.ralph-exec.image=pip >/dev/null 2>&1 || true
    fi
    # shellcheck disable=SC2016 # expanded by the container's sh
    out=$("$DOCKER" run --rm --network none --read-only --cap-drop ALL \
        --security-opt no-new-privileges --tmpfs /tmp "$PIP_IMAGE" sh -c '
            test -x /usr/local/bin/ralph-pip-install || { echo "ralph-pip-install is not executable"; exit 1; }
            v=$(python3 -m pip --version) || exit 1
            echo "$(id -u):$(id -g) $(stat -c %u:%g /out) $(stat -c %u:%g /out/usr/local/lib/python3*/dist-packages) $v"' 2>&1) \
        || die "smoke test of $PIP_IMAGE failed: $out"
    read -r ids out_owner site_owner _ pip_version _ <<<"$out"
    [[ $ids == 65534:65534 && $out_owner == 0:0 && $site_owner == 65534:65534 && -n $pip_version ]] \
        || die "smoke test of $PIP_IMAGE: expected pip as 65534:65534, /out root's and only its dist-packages 65534's, got '$out'"
    state=
    [[ $new_id != "$old_id" ]] || state="cache hit, "
    size=$("$DOCKER" image inspect --format '{{.Size}}' "$PIP_IMAGE")
    log "ok: $PIP_IMAGE (${state}$((size / 1000000)) MB, pip $pip_version, uid 65534) in $(since "$t0")"
fi

# The worker's own image (Dockerfile.worker), from the repository as context
# (.dockerignore keeps it to the sources). WORKER_IMAGE= skips it.
if [[ -n $WORKER_IMAGE ]]; then
    t0=$(now)
    version=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)
    if ! "$DOCKER" build --build-arg "BASE=$BASE_IMAGE" --build-arg "VERSION=$version" \
        -t "$WORKER_IMAGE" -f "$ROOT/Dockerfile.worker" "$ROOT" >"$TMP/worker.log" 2>&1; then
        tail -n 40 "$TMP/worker.log" >&2
        die "docker build of $WORKER_IMAGE failed"
    fi
    out=$("$DOCKER" run --rm --network none "$WORKER_IMAGE" --version 2>&1) \
        || die "smoke test of $WORKER_IMAGE failed: $out"
    size=$("$DOCKER" image inspect --format '{{.Size}}' "$WORKER_IMAGE")
    log "ok: $WORKER_IMAGE ($((size / 1000000)) MB, $out) in $(since "$t0")"
fi

# The compose fleet's Redis (images/Dockerfile.redis, images/redis/ as
# context). REDIS_IMAGE= skips it. The smoke test starts the server as the
# image runs it (its user, its configuration, no network) and pings it.
if [[ -n $REDIS_IMAGE ]]; then
    t0=$(now)
    old_id=$("$DOCKER" image inspect --format '{{.Id}}' "$REDIS_IMAGE" 2>/dev/null || true)
    if ! "$DOCKER" build --build-arg "BASE=$BASE_IMAGE" -t "$REDIS_IMAGE" \
        -f "$HERE/Dockerfile.redis" "$HERE/redis" >"$TMP/redis.log" 2>&1; then
        tail -n 40 "$TMP/redis.log" >&2
        die "docker build of $REDIS_IMAGE failed"
    fi
    new_id=$("$DOCKER" image inspect --format '{{.Id}}' "$REDIS_IMAGE")
    if [[ $new_id != "$old_id" && -n $old_id ]]; then
        # The image it replaced (untagged now) is garbage.
        "$DOCKER" image prune -f --filter label=io.ralph-exec.image=redis >/dev/null 2>&1 || true
    fi
    # shellcheck disable=SC2016 # expanded by the container's sh
    out=$("$DOCKER" run --rm --network none --read-only --cap-drop ALL \
        --security-opt no-new-privileges "$REDIS_IMAGE" sh -c '
            redis-server /etc/redis/ralph.conf >/dev/null & i=0
            until [ "$(redis-cli PING 2>/dev/null)" = PONG ]; do
                i=$((i + 1)); [ $i -lt 50 ] || { echo "no PONG in 5 s"; exit 1; }; sleep 0.1
            done
            echo "$(redis-server --version | sed "s/.* v=\([^ ]*\).*/\1/") $(id -u) $(redis-cli CONFIG GET appendonly | tail -n 1)"
            redis-cli SHUTDOWN NOSAVE >/dev/null 2>&1; wait' 2>&1) \
        || die "smoke test of $REDIS_IMAGE failed: $out"
    read -r redis_version uid aof <<<"$out"
    [[ $uid =~ ^[0-9]+$ && $uid != 0 && $aof == yes ]] \
        || die "smoke test of $REDIS_IMAGE: expected a non-root uid and appendonly yes, got '$out'"
    size=$("$DOCKER" image inspect --format '{{.Size}}' "$REDIS_IMAGE")
    log "ok: $REDIS_IMAGE ($((size / 1000000)) MB, redis $redis_version, uid $uid) in $(since "$t0")"
fi
