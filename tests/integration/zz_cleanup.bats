#!/usr/bin/env bats
# SPDX-License-Identifier: MIT
# Runs last (alphabetically): the whole tier left nothing behind.

load ../lib/libtest

setup_file() { require_engine; }
setup() { require_engine; }

@test "cleanup: no container labelled ralph.task_id remains" {
    local ids
    ids=$(rx_containers)
    if [[ -n $ids ]]; then
        docker ps -a --filter label=ralph.task_id \
            --format '{{.ID}} {{.Label "ralph.task_id"}} {{.Status}} {{.Image}}' >&2
        fail "FAILED: containers labelled ralph.task_id were left behind (above)"
    fi
}

@test "cleanup: no dangling volume remains" {
    local vols
    vols=$(docker volume ls -qf dangling=true)
    if [[ -n $vols ]]; then
        docker volume ls -f dangling=true >&2
        fail "FAILED: dangling volumes were left behind (above)"
    fi
}
