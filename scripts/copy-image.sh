#!/usr/bin/env bash
# copy-image.sh: put an image on a second engine as it is on the first, with
# docker save | docker load (no registry), only when the second engine lacks
# it or has another image ID under that name.  The ID is the digest of the
# image's config, which names every layer's digest: equal IDs, equal content.
#
#   scripts/copy-image.sh FROM_SOCKET TO_SOCKET IMAGE
#
# Used for engines that cannot build the project's images themselves:
# Podman (make podman) and Docker 26, which has no network (make images
# ENGINE=docker26).  Prints one line when it copied.
set -euo pipefail

readonly PROG=${0##*/}
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "error: $*"; exit 1; }

(($# == 3)) || die "usage: $PROG FROM_SOCKET TO_SOCKET IMAGE"
readonly FROM=$1 TO=$2 IMAGE=$3

# image_id SOCKET: IMAGE's ID on the engine at SOCKET (empty when absent).
image_id() {
    curl -fsS --max-time 10 --unix-socket "$1" "http://localhost/images/$IMAGE/json" \
        2>/dev/null | jq -r '.Id // empty' 2>/dev/null || true
}

want=$(image_id "$FROM")
[[ -n $want ]] || die "$IMAGE is not on the engine at $FROM (make images builds it there)"
have=$(image_id "$TO")
[[ $have == "$want" ]] && exit 0
t0=$SECONDS
DOCKER_HOST=unix://$FROM docker save "$IMAGE" | DOCKER_HOST=unix://$TO docker load >/dev/null ||
    die "docker save | docker load of $IMAGE from $FROM to $TO failed"
have=$(image_id "$TO")
[[ $have == "$want" ]] || die "after loading, $IMAGE at $TO is '${have:-absent}', at $FROM $want"
log "copied $IMAGE (${want:7:12}) from $FROM to $TO in $((SECONDS - t0)) s"
