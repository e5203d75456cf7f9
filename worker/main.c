/* SPDX-License-Identifier: MIT */
/* ralph-worker: argument handling only; the work is in worker.c. */
#include <curl/curl.h>
#include <getopt.h>
#include <stdbool.h>

#include "executor/rx_util.h"
#include "worker/submit.h"
#include "worker/worker.h"

#ifndef RALPH_VERSION
#define RALPH_VERSION "unknown"
#endif

static const char usage_text[] =
    "Usage: ralph-worker --queue URL [--concurrency N] [OPTIONS]\n"
    "       ralph-worker status --queue URL [--prefix P]\n"
    "       ralph-worker submit --queue URL [--prefix P] [--policy FILE] [--wait\n"
    "                           [--timeout S]] JOB.json... (- for standard input)\n"
    "\n"
    "Take jobs from a queue and run each in its own hardened container (the same\n"
    "executor, job and result formats as ralph-exec), N at a time, without losing any.\n"
    "\n"
    "Queues:\n"
    "  dir:PATH                 spool directory (PATH/incoming/*.json -> PATH/results/)\n"
    "  redis://HOST:PORT[/DB]   LPUSH jobs on P:jobs; results at P:result:TASK_ID, ids on P:done\n"
    "\n"
    "Options (all but --config, --help and --version also keys of the --config JSON file,\n"
    "without the dashes):\n"
    "  --queue URL              the queue (required)\n"
    "  --concurrency N          jobs at once (default 2, at most 64)\n"
    "  --config FILE            a JSON object of options; the command line wins\n"
    "  --worker-id ID           default HOST-PID-RANDOM\n"
    "  --prefix P               Redis key prefix (default ralph)\n"
    "  --lease S                lease in seconds (default 30)\n"
    "  --heartbeat S            heartbeat interval, shorter than the lease (default a third of\n"
    "                           the lease, at most 10)\n"
    "  --max-attempts N         attempts before a job is dead-lettered (default 3)\n"
    "  --result-ttl S           lifetime of a Redis result (default 86400)\n"
    "  --max-jobs N             stop after N jobs\n"
    "  --max-runtime S          stop taking jobs after S seconds\n"
    "  --max-infra-errors N     stop (exit 3) after N consecutive infrastructure errors (default 5)\n"
    "  --grace S                on SIGTERM/SIGINT/SIGHUP, let running jobs finish for S seconds\n"
    "                           (default 30), then kill them and put them back on the queue\n"
    "                           (a second signal: at once)\n"
    "  --policy FILE            operator policy (default /etc/ralph-exec/policy.json if present)\n"
    "  --audit FILE             append one JSON line per job (default: the policy's audit_log)\n"
    "  --memory-budget SIZE     start a job only when its memory_limit and those of the jobs\n"
    "                           this worker runs fit in SIZE (like \"8g\"), else wait; a job\n"
    "                           larger than SIZE is rejected.  Default auto: the engine's memory\n"
    "                           less the larger of 512 MiB and 10%, less this worker's own\n"
    "                           bound; off: no check.  Per worker, not per engine\n"
    "  --metrics [HOST:]PORT    serve GET /metrics (Prometheus), /healthz and /readyz\n"
    "                           (HOST: a numeric address; only PORT: 127.0.0.1)\n"
    "  --warm N                 keep up to N sandboxes started for the default job (at most\n"
    "                           --concurrency), each used by one job only (default 0)\n"
    "  --warm-ttl S             replace an idle warm sandbox after S seconds (default 300)\n"
    "  --warm-job FILE          make the warm sandboxes for the image, sandbox and limits of\n"
    "                           this job (its code never runs; default: {\"code\": \"pass\"},\n"
    "                           a code job with the policy's defaults)\n"
    "  --warm-preload MODULES   have the warm sandboxes' harness import these Python modules\n"
    "                           (comma-separated, at most 16, from the image) before any job:\n"
    "                           a code job without files or PYTHONPATH finds them imported;\n"
    "                           their memory counts against the job's memory_limit.  Needs\n"
    "                           --warm, and a --warm-job, if given, must be a code job without\n"
    "                           files or PYTHONPATH (the default one is)\n"
    "  -h, --help               this help\n"
    "  -V, --version            the version\n"
    "\n"
    "submit checks each job as a worker would (a bad one: exit 2, nothing queued),\n"
    "queues it and prints its task id; with --wait, waits for each result and prints\n"
    "it, exiting as ralph-exec would for the first job that did not succeed (124: the\n"
    "--timeout passed, the jobs stay queued).  A task id that has a result already\n"
    "is not queued again: its result is printed.\n"
    "\n"
    "Exit status: 0 stopped as asked; 2 bad usage or configuration; 3 breaker tripped;\n"
    "125 the queue could not be reached at start.\n"
    "\n"
    "Environment:\n"
    "  DOCKER_HOST              unix:///path/to/docker.sock (default /var/run/docker.sock)\n"
    "\n"
    "Logs: one JSON object per line on standard error. See ralph-worker(8).\n";

/* ralph-worker submit ARGS (argv[0] is "submit"). */
static int
submit_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"queue", required_argument, NULL, 'q'},
        {"prefix", required_argument, NULL, 'p'},
        {"policy", required_argument, NULL, 'P'},
        {"wait", no_argument, NULL, 'w'},
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct submit_opts o = {.prefix = "ralph"};
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'q': o.queue_url = optarg; break;
        case 'p': o.prefix = optarg; break;
        case 'P': o.policy_path = optarg; break;
        case 'w': o.wait = true; break;
        case 't':
            errno = 0;
            double s = strtod(optarg, &end);
            if (errno != 0 || end == optarg || *end != '\0' || !(s > 0) || s > 86400 * 365) {
                fprintf(stderr, "ralph-worker submit: --timeout must be seconds > 0, not '%s'\n",
                        optarg);
                return 2;
            }
            o.timeout_ms = (long long)(s * 1000);
            break;
        case 'h': fputs(usage_text, stdout); return 0;
        default: fputs("Try 'ralph-worker --help'.\n", stderr); return 2;
        }
    }
    if (o.queue_url == NULL || optind >= argc) {
        fputs("ralph-worker submit: needs --queue URL and at least one job file (- for stdin)\n",
              stderr);
        return 2;
    }
    /* --timeout bounds the wait for results: without --wait there is none,
     * and an option silently ignored would hide the --wait left out (a CI
     * step that meant to gate on the result would pass at once). */
    if (o.timeout_ms > 0 && !o.wait) {
        fputs("ralph-worker submit: --timeout needs --wait (it bounds the wait for results)\n",
              stderr);
        return 2;
    }
    o.files = argv + optind;
    o.n_files = (size_t)(argc - optind);
    curl_global_init(CURL_GLOBAL_NOTHING);
    int code = worker_submit(&o);
    curl_global_cleanup();
    return code;
}

int
main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "submit") == 0)
        return submit_main(argc - 1, argv + 1);
    /* The config table's options, each with its index + 1000, then ours. */
    struct option longopts[WORKER_CFG_N_OPTIONS + 4];
    size_t k = 0;
    for (; k < WORKER_CFG_N_OPTIONS; k++)
        longopts[k] =
            (struct option){worker_cfg_option_name(k), required_argument, NULL, 1000 + (int)k};
    longopts[k++] = (struct option){"config", required_argument, NULL, 'c'};
    longopts[k++] = (struct option){"help", no_argument, NULL, 'h'};
    longopts[k++] = (struct option){"version", no_argument, NULL, 'V'};
    longopts[k] = (struct option){NULL, 0, NULL, 0};

    struct worker_cfg cfg;
    worker_cfg_defaults(&cfg);
    cfg.version = RALPH_VERSION;
    struct rx_error *err = NULL;
    bool status = argc > 1 && strcmp(argv[1], "status") == 0;
    if (status) {
        argv++;
        argc--;
    }
    /* The config file first, so the command line overrides it. */
    for (int i = 1; i < argc - 1; i++) {
        if (strcmp(argv[i], "--config") == 0 && worker_cfg_from_json(&cfg, argv[i + 1], &err) < 0)
            goto usage_error;
        if (strncmp(argv[i], "--config=", 9) == 0 &&
            worker_cfg_from_json(&cfg, argv[i] + 9, &err) < 0)
            goto usage_error;
    }
    int c;
    while ((c = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
        if (c == 'h') {
            fputs(usage_text, stdout);
            worker_cfg_free(&cfg);
            return 0;
        }
        if (c == 'V') {
            printf("ralph-worker %s\n", RALPH_VERSION);
            worker_cfg_free(&cfg);
            return 0;
        }
        if (c == 'c')
            continue;
        if (c < 1000) {
            fputs("Try 'ralph-worker --help'.\n", stderr);
            worker_cfg_free(&cfg);
            return 2;
        }
        if (worker_cfg_set(&cfg, worker_cfg_option_name((size_t)(c - 1000)), optarg, &err) < 0)
            goto usage_error;
    }
    if (optind != argc) {
        fprintf(stderr, "ralph-worker: unexpected argument '%s'\nTry 'ralph-worker --help'.\n",
                argv[optind]);
        worker_cfg_free(&cfg);
        return 2;
    }
    if (worker_cfg_check(&cfg, &err) < 0)
        goto usage_error;

    curl_global_init(CURL_GLOBAL_NOTHING);
    int code = status ? worker_status(&cfg) : worker_run(&cfg);
    curl_global_cleanup();
    worker_cfg_free(&cfg);
    return code;

usage_error:
    fprintf(stderr, "ralph-worker: %s\n", err->msg);
    rx_error_free(&err);
    worker_cfg_free(&cfg);
    return 2;
}
