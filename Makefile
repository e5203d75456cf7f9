# SPDX-License-Identifier: MIT
# ralph-exec: one non-recursive Makefile.
#
#   make            build build/ralph-exec and build/ralph-worker
#   make demo       set up everything on a fresh machine and run examples/demo.json
#   make test       set up everything, run every tier (unit; real engines: Docker 20.10 and
#                   Docker 26, each also under gVisor; Podman)
#   make check      unit tests only (no engine needed)
#   make images     build the base, sandbox, pip, worker and redis images offline (images/build.sh)
#   make bench      ralph-exec and ralph-worker against docker run --rm and docker-py, per engine
#   make SANITIZE=address,undefined check   the same under sanitizers
#   make check-tsan the unit tier and the worker's threaded tiers under ThreadSanitizer
#   make style      check the C sources' layout (clang-format 14); make format rewrites them
#   ENGINE=docker26 make engine, images, integration, bench, demo on Docker 26 (default: docker20)

PKGS      := libcurl json-c libarchive uuid
CC        ?= cc
CFLAGS    ?= -O2 -g
WARN      := -Wall -Wextra -Wformat=2 -Wshadow -Wvla -Wimplicit-fallthrough \
             -Wno-missing-field-initializers -Wstrict-prototypes -Wmissing-prototypes \
             -Werror=implicit-function-declaration -Werror=return-type -Werror=format-security
HARDEN    := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
VERSION   := $(shell git describe --always --dirty 2>/dev/null || echo unknown)

ifneq ($(FUZZ),)
BUILD     ?= build/fuzz
override CFLAGS  += -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
override LDFLAGS += -fsanitize=address,undefined
else ifneq ($(SANITIZE),)
BUILD     ?= build/san
override CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
override LDFLAGS += -fsanitize=$(SANITIZE)
else
BUILD     ?= build
endif
ifneq ($(WERROR),)
override CFLAGS += -Werror
endif

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
override CFLAGS  += -std=c11 -D_GNU_SOURCE -I. -MMD -MP $(WARN) $(HARDEN) $(PKG_CFLAGS)
override LDFLAGS += -pie -Wl,-z,relro,-z,now
LDLIBS    += $(PKG_LIBS) -lm

LIB_SRCS  := executor/rx_util.c executor/rx_error.c executor/rx_buf.c executor/rx_json.c \
             executor/task_id.c executor/job_spec.c executor/job_result.c executor/container_spec.c \
             executor/docker_http.c executor/docker_client.c executor/docker_container.c \
             executor/docker_archive.c executor/docker_attach.c executor/docker_demux.c \
             executor/docker_errors.c executor/tar_stream.c executor/run_classify.c \
             executor/executor.c executor/admit.c executor/operator_policy.c \
             executor/audit_log.c executor/deps.c executor/docker_image.c \
             executor/deps_build.c
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/executor/harness_blob.o \
             $(BUILD)/executor/seccomp_blob.o
LIB       := $(BUILD)/libexecutor.a

WORKER_SRCS := worker/worker.c worker/worker_config.c worker/mem_budget.c worker/queue.c worker/submit.c worker/metrics.c worker/warm_pool.c \
               worker/queue_dir.c worker/queue_redis.c
WORKER_OBJS := $(WORKER_SRCS:%.c=$(BUILD)/%.o)

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all check check-san test demo images deps engine setup podman docker26 integration \
        integration-podman clean help fuzz fuzz-bins bench style format check-tsan tsan-bins \
        print-tiers
.DEFAULT_GOAL := all

# The engines: docker20 is Debian bookworm's Docker 20.10 at /var/run/docker.sock
# (the default); docker26 is Debian trixie's Docker 26.1 beside it
# (scripts/ensure-docker26.sh).  ENGINE=docker26 points the one-engine targets
# (engine, images, integration, bench, demo) at it; make test sets its own.
ENGINE       ?= docker20
DOCKER26_HOST := unix:///run/ralph-docker26/docker.sock
ifeq ($(ENGINE),docker26)
export DOCKER_HOST := $(DOCKER26_HOST)
else ifneq ($(ENGINE),docker20)
$(error ENGINE=$(ENGINE): use docker20 or docker26)
endif
.SECONDARY:

all: $(BUILD)/ralph-exec $(BUILD)/ralph-worker

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/executor/harness_blob.o: executor/harness_blob.S executor/harness.py
	@mkdir -p $(@D)
	$(CC) -c -o $@ executor/harness_blob.S

$(BUILD)/executor/seccomp_blob.o: executor/seccomp_blob.S images/seccomp-strict.json
	@mkdir -p $(@D)
	$(CC) -c -o $@ executor/seccomp_blob.S

$(LIB): $(LIB_OBJS)
	$(AR) rcs $@ $^

$(BUILD)/executor/main.o $(BUILD)/worker/main.o: override CFLAGS += -DRALPH_VERSION='"$(VERSION)"'

$(BUILD)/ralph-worker: $(BUILD)/worker/main.o $(WORKER_OBJS) $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs hiredis 2>/dev/null || echo -lhiredis) $(shell pkg-config --libs libmicrohttpd 2>/dev/null || echo -lmicrohttpd) -lpthread

# doctor prints its report: it belongs to the command, not the library.
$(BUILD)/ralph-exec: $(BUILD)/executor/main.o $(BUILD)/executor/doctor.o $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/test_metrics: LDLIBS += $(shell pkg-config --libs libmicrohttpd 2>/dev/null || echo -lmicrohttpd) -lpthread

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# ---- setting up a machine (idempotent, quick when done) -------------------
deps:
	@scripts/ensure-deps.sh

engine: deps
	@scripts/ensure-engine.sh

images: engine
	@images/build.sh

setup: images
	@$(MAKE) --no-print-directory all $(UNIT_BINS)

# Podman's Docker-compatible API on its own socket, with the sandbox image
# copied from Docker (the executor tier runs against it too).
PODMAN_HOST := unix:///run/ralph-podman/podman.sock
podman: images
	@scripts/ensure-podman.sh

# Docker 26 up, with the sandbox image copied from the default engine.
docker26: images
	@$(MAKE) --no-print-directory images ENGINE=docker26

# ---- tests ------------------------------------------------------------------
# Unit tier: no engine needed.
check: all $(UNIT_BINS)
	prove --exec '' $(UNIT_BINS)

# The unit tier again under AddressSanitizer and UndefinedBehaviorSanitizer.
check-san:
	@$(MAKE) --no-print-directory SANITIZE=address,undefined check

# The unit tier and the worker's tiers that run its threads hardest (slots
# side by side, jobs cancelled from the main thread, restarts and crashes,
# the breaker, the memory budget's gate, the warm pool's thread; 20 to 23,
# 27 and 31) on the default engine, with the worker built with
# -fsanitize=thread in build/tsan.  A report stops the process (exit 66)
# and goes to a file in build/tsan/reports/: the run fails when any is
# there, also from a worker whose stderr no test reads.  In `make test`
# this is the default engine's only run of those tiers.
TSAN_BUILD   := build/tsan
TSAN_REPORTS := $(CURDIR)/$(TSAN_BUILD)/reports
TSAN_UNIT    := $(UNIT_SRCS:tests/unit/%.c=$(TSAN_BUILD)/tests/%)
TSAN_TIERS   := $(wildcard tests/integration/2[0-3]_worker_*.bats) \
                tests/integration/27_worker_memory_budget.bats tests/integration/31_worker_warm.bats
TSAN_ENV      = TSAN_OPTIONS='halt_on_error=1 exitcode=66 second_deadlock_stack=1 log_path=$(TSAN_REPORTS)/tsan'

# Every pass of the tests: prove through tests/prove-pass.sh (a failing
# test's diagnostics on the console and in the digest at the end; the TAP
# in build/test-logs/), engine strictly required.
TEST_LOGS    := $(CURDIR)/build/test-logs
PASS          = RALPH_TEST_LOGS=$(TEST_LOGS) RALPH_TEST_STRICT=1 \
                RALPH_EXEC=$(CURDIR)/$(BUILD)/ralph-exec tests/prove-pass.sh

# The ThreadSanitizer passes (unit, then the worker tiers on Docker 20.10),
# then the reports: as a shell fragment that sets rc=1 on a failure.
TSAN_PASSES   = rm -rf $(TSAN_REPORTS) && mkdir -p $(TSAN_REPORTS); \
	$(TSAN_ENV) $(PASS) "ThreadSanitizer: unit tier" $(TSAN_UNIT) || rc=1; \
	DOCKER_HOST= $(TSAN_ENV) RALPH_WORKER=$(CURDIR)/$(TSAN_BUILD)/ralph-worker \
	  $(PASS) "Docker 20.10: the worker's threaded tiers, under ThreadSanitizer" $(TSAN_TIERS) || rc=1; \
	if [ -n "$$(ls -A $(TSAN_REPORTS))" ]; then \
	  echo "ThreadSanitizer reported (files in $(TSAN_REPORTS)):"; cat $(TSAN_REPORTS)/*; \
	  { echo "-- ThreadSanitizer reported (files in $(TSAN_REPORTS)):"; \
	    cat $(TSAN_REPORTS)/* | head -40; } >$(TEST_LOGS)/ThreadSanitizer.failed; rc=1; \
	fi

tsan-bins:
	@$(MAKE) --no-print-directory SANITIZE=thread BUILD=$(TSAN_BUILD) \
	  $(TSAN_BUILD)/ralph-worker $(TSAN_UNIT)

check-tsan: images tsan-bins
	@rm -rf $(TEST_LOGS); rc=0; $(TSAN_PASSES); tests/prove-pass.sh --digest || rc=1; exit $$rc

# The real-engine tiers that run on every Docker engine: executor (0*),
# policy, audit, doctor, attacks, CLI, code input (1*), worker on Redis and
# spool (2*), seccomp (30), then the check that nothing was left behind.  The
# images' own tiers (4*: the worker's image, CI step, compose fleet) build
# and network images, and run on the default engine only, as does the load
# case (43: 100 jobs on 4 workers x 25 slots) (the requirements
# tier, 15, runs on both: it serves its package index in the engine's own
# network namespace).  On Podman: the executor tiers (0*) but the one whose
# jobs are refused before any container exists (08), and the workspace and
# uid tier (14).  Under gVisor (each engine has its own runsc: 2022-12 ptrace
# on 20.10, 2024-07 systrap on 26) the same plus the attacks and warm pool
# tiers: the limits, attacks, workspace and uid, and warm pool tiers (03, 11,
# 14, 31) run on both engines; the other executor tiers are shared out
# between them, each under one of the two.
ALL_TIERS    := $(wildcard tests/integration/*.bats)
ENGINE_TIERS := $(filter-out tests/integration/4%,$(ALL_TIERS))
# What no engine changes: jobs refused before any engine call (08), how a
# result is printed (12), and the worker's producer, queue, configuration
# and HTTP side (24 malformed jobs, 25 configuration, 26 hostile producers,
# 28 submit, 29 metrics).  `make test` runs them once, on Docker 20.10: on
# Docker 26 they would repeat the same cases on the same code paths.  The
# worker tiers that drive the engine (20 Redis, 21 crash, 22 engine, 23
# spool, 27 memory budget, 31 warm pool) run on both.
ENGINE_ALIKE := $(addprefix tests/integration/,08_rejected.bats 12_cli.bats \
                24_worker_malformed.bats 25_worker_config.bats 26_worker_hostile.bats \
                28_worker_submit.bats 29_worker_metrics.bats)
EXEC_TIERS   := $(filter-out tests/integration/08_%,$(wildcard tests/integration/0[1-9]_*.bats))
GVISOR_BOTH  := $(addprefix tests/integration/,03_limits.bats 11_attacks.bats \
                14_workspace_uid.bats 31_worker_warm.bats)
GVISOR_ONE   := $(filter-out $(GVISOR_BOTH),$(EXEC_TIERS) tests/integration/14_workspace_uid.bats)
GVISOR_TIERS_A := $(sort $(GVISOR_BOTH) $(filter %/04_isolation.bats \
                  %/06_streams.bats %/09_hardening_signals.bats,$(GVISOR_ONE))) tests/integration/zz_cleanup.bats
GVISOR_TIERS_B := $(sort $(GVISOR_BOTH) $(filter-out $(GVISOR_TIERS_A),$(GVISOR_ONE))) \
                  tests/integration/zz_cleanup.bats
PODMAN_TIERS := $(EXEC_TIERS) tests/integration/14_workspace_uid.bats tests/integration/zz_cleanup.bats

# `make test` runs in two lanes side by side, one per Docker engine (their
# jobs wait on the engines more than they use the two cores); each lane's
# passes run one after the other.  Lane A, on Docker 20.10: the worker's
# threaded tiers under ThreadSanitizer, every other tier, then its share of
# the gVisor tiers.  Lane B: on Docker 26 every tier but the images' own and
# the ENGINE_ALIKE ones, its share of the gVisor tiers, then the executor
# tiers on Podman.  Shell fragments that set rc=1 on a failure.
LANE_A        = $(TSAN_PASSES); \
	DOCKER_HOST= $(PASS) "Docker 20.10 (unix:///var/run/docker.sock): every other tier" \
	  $(UNIT_BINS) $(filter-out $(TSAN_TIERS),$(ALL_TIERS)) || rc=1; \
	DOCKER_HOST= RALPH_TEST_SANDBOX=gvisor $(PASS) "Docker 20.10 under gVisor" $(GVISOR_TIERS_A) || rc=1
LANE_B        = DOCKER_HOST=$(DOCKER26_HOST) $(PASS) "Docker 26 ($(DOCKER26_HOST)): every tier that drives the engine" \
	  $(filter-out $(ENGINE_ALIKE),$(ENGINE_TIERS)) || rc=1; \
	DOCKER_HOST=$(DOCKER26_HOST) RALPH_TEST_SANDBOX=gvisor $(PASS) "Docker 26 under gVisor" $(GVISOR_TIERS_B) || rc=1; \
	DOCKER_HOST=$(PODMAN_HOST) RALPH_TEST_ENGINE_KIND=podman $(PASS) "Podman ($(PODMAN_HOST)): the executor tiers" $(PODMAN_TIERS) || rc=1

# Every tier, engine strictly required: a missing engine fails, never skips.
# First the layout (make style) and the unit tier under ASan and UBSan, then
# the two lanes: lane A on the console as it goes, lane B's console output
# (build/test-logs/lane-b.out) once both are done.  Every pass runs, whatever
# an earlier one did; the failures are listed again at the end.
test: style setup check-san tsan-bins podman docker26
	@rm -rf $(TEST_LOGS); mkdir -p $(TEST_LOGS); rc=0; \
	{ rc=0; $(LANE_B); exit $$rc; } >$(TEST_LOGS)/lane-b.out 2>&1 & lane_b=$$!; \
	echo "== lane B (Docker 26, gVisor on it, Podman) runs beside lane A; its output comes at the end"; \
	$(LANE_A); \
	wait $$lane_b || rc=1; \
	echo "== lane B's output"; cat $(TEST_LOGS)/lane-b.out; \
	tests/prove-pass.sh --digest || rc=1; exit $$rc

# Only the executor tiers (and the workspace and uid tier) against Podman
# (assumes `make setup podman` has run).
integration-podman: all
	@rm -rf $(TEST_LOGS); DOCKER_HOST=$(PODMAN_HOST) RALPH_TEST_ENGINE_KIND=podman $(PASS) "Podman ($(PODMAN_HOST)): the executor tiers" $(PODMAN_TIERS)

# Only the real-engine tiers on ENGINE (assumes `make setup` has run).
integration: all
	@rm -rf $(TEST_LOGS); $(PASS) "$(ENGINE): the real-engine tiers" \
	  $(if $(filter docker26,$(ENGINE)),$(ENGINE_TIERS),$(ALL_TIERS))

# ---- layout: clang-format 14 with .clang-format --------------------------------
# Every tracked C file of the three directories (STYLE_FILES=... for others).
CLANG_FORMAT ?= clang-format
STYLE_FILES  ?= $(shell git ls-files -- 'executor/*.[ch]' 'worker/*.[ch]' 'tests/*.[ch]' 2>/dev/null)

style:
	@command -v $(CLANG_FORMAT) >/dev/null 2>&1 || scripts/ensure-deps.sh clang-format
	@$(CLANG_FORMAT) --version | grep -q ' version 14\.' || \
	  echo "warning: $$($(CLANG_FORMAT) --version): .clang-format was tuned for clang-format 14" >&2
	@$(CLANG_FORMAT) --dry-run -Werror $(STYLE_FILES) || \
	  { echo "make style: the files above differ from .clang-format (make format rewrites them)" >&2; exit 1; }

format:
	@command -v $(CLANG_FORMAT) >/dev/null 2>&1 || scripts/ensure-deps.sh clang-format
	$(CLANG_FORMAT) -i $(STYLE_FILES)

# ---- fuzzing (libFuzzer, clang): each target for FUZZ_SECONDS ------------------
FUZZ_TARGETS := job_spec demux tar engine_json
FUZZ_SECONDS ?= 30
FUZZ_BINS    := $(FUZZ_TARGETS:%=$(BUILD)/fuzz_%)

$(BUILD)/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(LIB)
	$(CC) $(CFLAGS) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

fuzz-bins: $(FUZZ_BINS)

fuzz:
	@scripts/ensure-deps.sh clang libclang-rt-14-dev
	@$(MAKE) --no-print-directory FUZZ=1 CC=clang fuzz-bins
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p build/fuzz/corpus/$$t; \
	  echo "== fuzz_$$t for $(FUZZ_SECONDS) s"; \
	  build/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -max_len=65536 \
	    -print_final_stats=1 build/fuzz/corpus/$$t tests/fuzz/corpus/$$t 2>&1 \
	    | grep -E '^(stat::number_of_executed_units|stat::new_units_added|==|SUMMARY)|ERROR' \
	    || exit 1; \
	done

# ---- benchmark: one run on ENGINE, every tool, table on stdout, JSON in build/bench/ENGINE.json
# Counts: BENCH_LATENCY_RUNS, BENCH_JOBS, BENCH_JOBS_C1, BENCH_CONCURRENCY,
# BENCH_SWEEP, BENCH_QUICK=1 (see bench/bench.py).  Debian's python3 on
# purpose: python3-docker is installed for it.
bench: setup
	@scripts/ensure-deps.sh python3-docker
	BENCH_OUT=$${BENCH_OUT:-$(CURDIR)/build/bench/$(ENGINE).json} /usr/bin/python3 bench/bench.py

demo: setup
	@echo "+ $(BUILD)/ralph-exec examples/demo.json"
	@$(BUILD)/ralph-exec examples/demo.json | jq .

clean:
	rm -rf build

help:
	@sed -n '2,14p' Makefile

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# The tier lists, for a look: make print-tiers
print-tiers:
	@echo "20.10 under TSan: $(notdir $(TSAN_TIERS))"; \
	echo "20.10: $(notdir $(filter-out $(TSAN_TIERS),$(ALL_TIERS)))"; \
	echo "26: $(notdir $(filter-out $(ENGINE_ALIKE),$(ENGINE_TIERS)))"; \
	echo "gVisor on 20.10: $(notdir $(GVISOR_TIERS_A))"; echo "gVisor on 26: $(notdir $(GVISOR_TIERS_B))"; \
	echo "Podman: $(notdir $(PODMAN_TIERS))"
