#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run one ralph-exec job as a CI step:
#
#   examples/ci/run-job.sh JOB.json [RESULT.json]
#
# Sets the machine up first (idempotent: packages, engine, images, binary;
# needs root on Debian bookworm), then runs the job with a readable summary
# for the CI log and the full result JSON written to RESULT.json (default
# ralph-result.json) for the artifact.  The exit code is ralph-exec's, so it
# gates the step: 0 success, 1 error, 2 rejected, 3 timeout, 4 oom,
# 5 result_invalid, 125 infra_error.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
job=${1:?usage: examples/ci/run-job.sh JOB.json [RESULT.json]}
result=${2:-ralph-result.json}
make -C "$root" --no-print-directory setup >&2
exec "$root/build/ralph-exec" --format text --output "$result" "$job"
