#!/usr/bin/env bash
# ensure-deps.sh: install the Debian packages ralph-exec needs to build, test
# and run (compiler and libraries, the Docker engine, the image builder, test
# tools), plus any extra package names given as arguments.
#
#   scripts/ensure-deps.sh [EXTRA_PACKAGE...]
#
# Checks with dpkg-query first; runs apt-get (update + install) only when
# something is missing. Prints a single line when everything is present.
set -euo pipefail

readonly PROG=${0##*/}
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "error: $*"; exit 1; }

readonly DEFAULT_PACKAGES=(
    build-essential pkg-config
    libcurl4-openssl-dev libjson-c-dev libarchive-dev uuid-dev libhiredis-dev libmicrohttpd-dev
    docker.io docker-compose mmdebstrap runsc tini
    jq bats curl ca-certificates redis-server clang-format
)

for arg in "$@"; do
    case $arg in
        -h | --help)
            sed -n '2,9s/^# \{0,1\}//p' "$0" >&2
            exit 0
            ;;
        -* | '' | *[!a-zA-Z0-9.+:-]*) die "invalid package name: '$arg'" ;;
    esac
done

command -v dpkg-query >/dev/null 2>&1 || die "dpkg-query not found: this script needs a Debian system"

wanted=("${DEFAULT_PACKAGES[@]}" "$@")

# One dpkg-query call for everything. A package counts as installed when the
# second letter of its status abbreviation is 'i' ("ii ", "hi ").
declare -A installed=()
while read -r bin name status; do
    if [[ $status == ?i* ]]; then
        installed[$bin]=1
        installed[$name]=1
    fi
done < <(dpkg-query -W -f='${binary:Package} ${Package} ${db:Status-Abbrev}\n' "${wanted[@]}" 2>/dev/null || true)

missing=()
declare -A seen=()
for pkg in "${wanted[@]}"; do
    [[ -n ${seen[$pkg]:-} ]] && continue
    seen[$pkg]=1
    [[ -n ${installed[$pkg]:-} ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
    log "all ${#seen[@]} packages present"
    exit 0
fi

if ((EUID != 0)); then
    die "missing packages: ${missing[*]}; install them as root: apt-get install --no-install-recommends ${missing[*]}"
fi

log "installing missing packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
# apt's progress output goes to stderr so that stdout stays clean.
apt-get update -qq >&2 || die "apt-get update failed"
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 \
    || die "apt-get install failed for: ${missing[*]}"

# Verify.
still=()
for pkg in "${missing[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
    [[ $status == ?i* ]] || still+=("$pkg")
done
((${#still[@]} == 0)) || die "still not installed after apt-get: ${still[*]}"
log "installed: ${missing[*]}"
