/* SPDX-License-Identifier: MIT */
/* Every size limit in one place (curl's dynbuf limits): each cap on what is
 * read from the engine, the job, the container, the queue or the operator's
 * files, and each bound on what the programs keep in memory, or have the
 * engine use for them outside any job (the requirements build's containers).
 * Anything read past its cap is an error or is marked truncated, never held.
 *
 * Not here: the sizes given to the job's container itself (its /tmp,
 * /dev/shm, open files), which are part of the hardening it is created with
 * and stay in container_spec.h beside the rest of it; and the defaults a job
 * gets for its own limits (job_spec.h), which are choices, not caps. */
#ifndef RX_LIMITS_H
#define RX_LIMITS_H

/* ---- the job (job.json, from the command line or a queue) ---- */
/* The job document itself: a job over it is never read, by the command or
 * either queue, so the worker's memory bound is a multiple of it (below). */
#define LIMIT_JOB_BYTES (16u << 20)
/* `code`: a program, not a data channel (inputs and files carry data). */
#define LIMIT_JOB_CODE_BYTES (100u << 10)
/* `inputs`, serialised: delivered as one file in the workspace. */
#define LIMIT_JOB_INPUTS_BYTES (8u << 20)
/* `stdin`: held in memory whole, as part of the job. */
#define LIMIT_JOB_STDIN_BYTES (8u << 20)
/* Entries in `files`, and separately the distinct directories their paths
 * imply: each is a tar entry, so a small job cannot make a huge tree. */
#define LIMIT_JOB_FILES 1000
/* A path in the workspace, in bytes: a quarter of PATH_MAX, leaving room
 * for the workspace's own path in front of it. */
#define LIMIT_JOB_PATH_BYTES 1024
/* Directories above a file in `files` (with LIMIT_JOB_FILES: no huge tree). */
#define LIMIT_JOB_PATH_DEPTH 32
/* Entries in `args`. */
#define LIMIT_JOB_ARGS 1024
/* One argument: Linux's MAX_ARG_STRLEN (32 pages), so exec never refuses it. */
#define LIMIT_JOB_ARG_BYTES (128u << 10)
/* All of argv together: half of the 2 MiB Linux allows argv and the
 * environment (a quarter of the default 8 MiB stack). */
#define LIMIT_JOB_ARGV_BYTES (1u << 20)
/* Entries in `env`. */
#define LIMIT_JOB_ENV 256
/* One environment value: the engine echoes env back in every inspect. */
#define LIMIT_JOB_ENV_VALUE_BYTES (32u << 10)
/* Entries in `requirements` (the policy's max_requirements may lower it). */
#define LIMIT_JOB_REQUIREMENTS 64
/* One requirement string: a name, extras and version specifiers. */
#define LIMIT_REQUIREMENT_BYTES 200
/* A task id: it names files (under NAME_MAX with suffixes), keys and labels. */
#define LIMIT_TASK_ID_BYTES 128
/* An image or runtime name: Docker's reference length limit is 255. */
#define LIMIT_IMAGE_NAME_BYTES 255
/* `memory_limit`: below 6 MiB the engine refuses to start a container. */
#define LIMIT_JOB_MEMORY_MIN (6ll << 20)
/* `memory_limit`: 1 TiB, past any host we run on. */
#define LIMIT_JOB_MEMORY_MAX (1ll << 40)
/* `workspace_limit`: at least 1 MiB (room for the job's input and output),
 * at most LIMIT_JOB_MEMORY_MAX (it lives within memory_limit). */
#define LIMIT_JOB_WORKSPACE_MIN (1ll << 20)
/* Inodes of the workspace: one per this many bytes of it (a tmpfs inode
 * costs about 1 KiB of kernel memory, charged to the job). */
#define LIMIT_WORKSPACE_BYTES_PER_INODE 4096
/* `file_size_limit` (RLIMIT_FSIZE): at least 1 KiB, at most 1 TiB. */
#define LIMIT_JOB_FSIZE_MIN (1ll << 10)
#define LIMIT_JOB_FSIZE_MAX (1ll << 40)
/* `pids_limit`: at least 4 (the engine reads 0 or less as unlimited). */
#define LIMIT_JOB_PIDS_MIN 4
/* `pids_limit`: at most this, which Podman's nproc is set to for every job
 * (SANDBOX_PODMAN_NPROC, container_spec.h). */
#define LIMIT_JOB_PIDS_MAX 32768

/* ---- the engine's replies ---- */
/* A reply read whole, unless its call sets its own cap: JSON we expect small. */
#define LIMIT_ENGINE_REPLY_BYTES (4u << 20)
/* Inspect and list replies: they echo each job's argv and env back. */
#define LIMIT_ENGINE_INSPECT_BYTES (16u << 20)
/* GET /version: a few components, each with details. */
#define LIMIT_ENGINE_VERSION_BYTES (256u << 10)
/* GET /_ping: "OK" and the headers that matter. */
#define LIMIT_ENGINE_PING_BYTES (4u << 10)
/* Replies that carry only an error, if anything (archive PUT and HEAD, the
 * events stream's first byte). */
#define LIMIT_ENGINE_ERROR_BYTES (64u << 10)
/* The attach upgrade's reply headers. */
#define LIMIT_ATTACH_HEADER_BYTES (16u << 10)
/* An attach error reply's body, kept for its message. */
#define LIMIT_ATTACH_ERROR_BYTES 4096
/* One read from the attach stream, and one write of stdin to it: the
 * buffer each running job's pump holds (what it reads goes on at once into
 * the stream caps below, so this bounds memory, not output). */
#define LIMIT_ATTACH_CHUNK_BYTES (64u << 10)
/* One reply header's value we keep (X-Docker-Container-Path-Stat). */
#define LIMIT_ENGINE_HEADER_BYTES 65536
/* Of a reply that is not JSON: the printable prefix kept as the message. */
#define LIMIT_ENGINE_TEXT_ERROR_BYTES 512

/* ---- what comes out of the container ---- */
/* stdout and stderr, each, by default (the operator's policy may change it). */
#define LIMIT_STREAM_BYTES (1u << 20)
/* The output file, by default (the operator's policy may change it). */
#define LIMIT_OUTPUT_BYTES (1u << 20)
/* The most the operator's policy may raise the two caps above to.  A
 * result holds both streams and the output, each escaped as JSON (a control
 * byte takes 6, an invalid UTF-8 byte 3) and held a few times over while it
 * is built and written: at 64 MiB that is under 1 GiB, well below json-c's
 * 2 GiB (int) bound on a string it prints or builds. */
#define LIMIT_POLICY_OUTPUT_MAX (64ll << 20)
/* JSON nesting, in every document read (jobs, results, replies); an output
 * file may nest one level less, so the result that holds it stays readable. */
#define LIMIT_JSON_DEPTH 64
/* The harness's error file: a message and a traceback. */
#define LIMIT_ERROR_FILE_BYTES (64u << 10)
/* Room for the tar header (and a long name's extra headers) around one file
 * fetched from the workspace, on top of the file's own cap. */
#define LIMIT_TAR_OVERHEAD_BYTES (64u << 10)
/* The harness's stderr while a warm sandbox imports its preload: its first
 * line is quoted in the error when the preload fails. */
#define LIMIT_PRELOAD_STDERR_BYTES 4096
/* The engine's own errors in the attach stream (type-3 frames). */
#define LIMIT_SYSERR_BYTES 4096
/* The output shown by --format text (the JSON result carries all of it). */
#define LIMIT_TEXT_OUTPUT_BYTES (64u << 10)

/* ---- what goes into the container ---- */
/* The input tar (code, inputs, files): its contents come from a job within
 * LIMIT_JOB_BYTES, so this leaves room for tar's headers and padding. */
#define LIMIT_INPUT_TAR_BYTES (64u << 20)

/* ---- a job's requirements (executor/deps.c) ---- */
/* The build's progress stream (POST /build): the installer's output, read
 * whole up to this and cut beyond (the end is what names a failure). */
#define LIMIT_DEPS_BUILD_REPLY_BYTES (8u << 20)
/* The installer's words quoted in a rejection or an infra_error. */
#define LIMIT_DEPS_MESSAGE_BYTES 2048
/* The build context sent to the engine (executor/deps_build.c): a short
 * Dockerfile (with the policy's index URL, LIMIT_POLICY_URL_BYTES) and a
 * requirements.txt of at most LIMIT_JOB_REQUIREMENTS lines of
 * LIMIT_REQUIREMENT_BYTES, tarred: under 32 KiB; past it, an error. */
#define LIMIT_DEPS_CONTEXT_BYTES (256u << 10)
/* The memory a build's containers may use (pip resolving and unpacking):
 * they are outside any worker's memory budget. */
#define LIMIT_DEPS_BUILD_MEMORY (2ll << 30)

/* ---- the operator's files ---- */
/* The policy file (--policy): a page of JSON; 1 MiB is generous. */
#define LIMIT_POLICY_FILE_BYTES (1u << 20)
/* The policy's requirements_index_url. */
#define LIMIT_POLICY_URL_BYTES 1024
/* The worker's --config file: likewise. */
#define LIMIT_CONFIG_FILE_BYTES (1 << 20)

/* ---- the worker and its queues ---- */
/* Slots: each may hold a job's worth of memory (see LIMIT_WORKER_BASE_MEMORY). */
#define LIMIT_WORKER_SLOTS 64
/* The most modules ralph-worker --warm-preload names. */
#define LIMIT_WARM_PRELOAD_MODULES 16
/* The worker's memory bound (stated in ralph-worker(8), logged at start,
 * tested in 26_worker_hostile.bats): LIMIT_WORKER_BASE_MEMORY plus, per slot,
 * LIMIT_WORKER_JOB_MEMORY_FACTOR times the job size cap (LIMIT_JOB_BYTES).
 * A job over the cap is never read, by either queue; one within it is held
 * about four times over while it is received and parsed (Redis: the reply
 * and its copy; json-c: the text, its string buffer and the parsed value),
 * and at most that while it runs (its spec, input archive, output caps). */
#define LIMIT_WORKER_BASE_MEMORY (32ull << 20)
#define LIMIT_WORKER_JOB_MEMORY_FACTOR 5ull
/* A result file read back by `ralph-worker status` (directory queue) for
 * its status: a larger one is not counted. */
#define LIMIT_RESULT_FILE_BYTES (8u << 20)
/* A result read back by `ralph-worker submit --wait`: stdout, stderr and the
 * output at their default caps (1 MiB each), escaped as JSON (a control
 * byte takes 6), fit; a larger one (caps the policy raised) is an error
 * naming this limit, the job done all the same. */
#define LIMIT_RESULT_READ_BYTES (64u << 20)
/* A worker's heartbeat file: one small JSON object. */
#define LIMIT_HEARTBEAT_BYTES 4096
/* incoming/ names reported once per process, the oldest forgotten past this. */
#define LIMIT_DIR_NOTED 1024
/* The /metrics page (worker/metrics.c): counters, one histogram and a few
 * gauges, a few KiB, built whole for each scrape; a line past it is
 * dropped, never held. */
#define LIMIT_METRICS_TEXT_BYTES (64u << 10)
/* Memory the /metrics server may use for one connection (its request). */
#define LIMIT_METRICS_CONNECTION_BYTES (16u << 10)
/* What the worker reads back of Redis keys anyone may write. */
#define LIMIT_REDIS_SMALL_VALUE_BYTES 4096
/* A reply this large leaves hiredis's read buffer as large until the next
 * reply: past it, the buffer is given back at once. */
#define LIMIT_REDIS_READER_KEEP_BYTES (1u << 20)
/* Members of P:workers the reaper cannot use, logged once each (per queue
 * object), the oldest forgotten past this many. */
#define LIMIT_REDIS_NOTED 256
/* A worker id: at most this many of letters, digits, '.', '_' and '-'
 * (what --worker-id accepts; the default id, HOST-PID-RANDOM, is shorter).
 * A member of P:workers that is no such name is never read by a worker. */
#define LIMIT_WORKER_ID_BYTES 100
/* Names of P:workers one reap (each heartbeat) or one step of `status`
 * reads: the set is walked on the server (SSCAN) and sent in slices. */
#define LIMIT_REDIS_WORKERS_PER_CALL 64

#endif
