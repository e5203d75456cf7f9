#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# prove-pass.sh NAME FILE...: one pass of `make test` (unit binaries and bats
# tiers, run by prove).  The console shows each file with its time and, for
# a failing test, its name and diagnostics; the whole TAP goes to
# $RALPH_TEST_LOGS/NAME.log.  A failing pass writes its name and each
# failing test with its first diagnostic lines to NAME.failed there, which
# `prove-pass.sh --digest` prints at the end of the run: CI shows the tail.
# Passes on different engines may run side by side: each has its own files.
#
# prove-pass.sh --digest: print every NAME.failed (if any); exit 1 if there
# was one, 0 if not.
set -uo pipefail

logs=${RALPH_TEST_LOGS:-build/test-logs}
# Diagnostic lines kept in the digest for each failing test.
DIGEST_LINES=${RALPH_TEST_DIGEST_LINES:-15}

if [[ ${1-} == --digest ]]; then
    shopt -s nullglob
    failed=("$logs"/*.failed)
    ((${#failed[@]} > 0)) || exit 0
    echo
    echo "==== make test: FAILED (full TAP in $logs/)"
    cat "${failed[@]}"
    exit 1
fi

if (($# < 2)); then
    echo "usage: prove-pass.sh NAME FILE... | prove-pass.sh --digest" >&2
    exit 2
fi
name=$1
shift
mkdir -p "$logs"
base=$logs/$(tr -c 'A-Za-z0-9._-' '_' <<<"$name" | sed 's/_*$//')
log=$base.log
failures=$base.failed
rm -f "$failures" "$failures.new"

echo "== $name"
# The filter is perl's (prove's own language, so always there): it reads
# the pipe a line at a time and writes each at once (mawk would wait for
# whole blocks).
prove -v --timer --exec '' "$@" 2>&1 | tee "$log" | DIGEST="$failures.new" KEEP="$DIGEST_LINES" perl -ne '
    BEGIN { $| = 1; open($d, ">", $ENV{DIGEST}) or die "$ENV{DIGEST}: $!"; $keep = $ENV{KEEP}; $head = ""; $left = 0 }
    sub flush_head { print "$head\n" if $head ne ""; $head = "" }
    chomp;
    # A file header ("[hh:mm:ss] FILE .. ") waits for its result line.
    if (/^\[[0-9:]+\] (\S+) \.+ ?$/) { flush_head(); $head = "$_"; $file = $1; next }
    if (/^ok +[0-9]+ ms/) { print "$head$_\n"; $head = ""; next }
    next if /^(ok [0-9]+|1\.\.[0-9]+$)/;
    if (/^not ok [0-9]+/) { flush_head(); print "$_\n"; print $d "$file: $_\n"; $left = $keep; next }
    if (/^#/) { flush_head(); print "$_\n"; if ($left-- > 0) { print $d "  $_\n" } next }
    flush_head(); print "$_\n"; $left = 0;
    END { flush_head() }
'
rc=${PIPESTATUS[0]}
if ((rc != 0)); then
    {
        echo "-- $name (exit $rc)"
        if [[ -s $failures.new ]]; then
            cat "$failures.new"
        else
            echo "  no failing test named: see $log"
        fi
    } >"$failures"
fi
rm -f "$failures.new"
exit "$rc"
