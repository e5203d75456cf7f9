/* SPDX-License-Identifier: MIT */
/* ralph-exec: run one job and print its result.  Only argument handling,
 * signals and the exit code live here; the work is in the library. */
#include <curl/curl.h>
#include <getopt.h>
#include <signal.h>
#include <fcntl.h>

#include "executor/docker_client.h"
#include "executor/executor.h"
#include "executor/job_result.h"
#include "executor/job_spec.h"
#include "executor/rx_json.h"
#include "executor/rx_util.h"

#ifndef RALPH_VERSION
#define RALPH_VERSION "unknown"
#endif

static const char usage_text[] =
    "Usage: ralph-exec [OPTIONS] JOB.json\n"
    "       ralph-exec [OPTIONS] -            (job on standard input)\n"
    "\n"
    "Run one job in a fresh, hardened, throw-away container through the Docker\n"
    "Engine API and print its result as one JSON object on standard output.\n"
    "\n"
    "Options:\n"
    "  -q, --quiet        no human summary on standard error\n"
    "      --owner ID     value of the ralph.owner label (default ralph-exec/HOST/PID)\n"
    "  -h, --help         show this help and exit\n"
    "  -V, --version      show the version and exit\n"
    "\n"
    "Exit status:\n"
    "  0    success          the job ran and its output is valid\n"
    "  1    error            the job failed (nonzero exit, or calculate raised)\n"
    "  2    rejected         the job file is invalid (or bad command-line usage)\n"
    "  3    timeout          the job ran past its timeout and was killed\n"
    "  4    oom              the job ran out of memory\n"
    "  5    result_invalid   the output file is missing, not JSON, too big, or not a file\n"
    "  125  infra_error      the engine failed or could not be reached\n"
    "  130, 143              interrupted by SIGINT or SIGTERM (container removed)\n"
    "\n"
    "Environment:\n"
    "  DOCKER_HOST        unix:///path/to/docker.sock (default /var/run/docker.sock)\n"
    "\n"
    "See ralph-exec(1) and README.md for the job and result formats.\n";

static volatile sig_atomic_t got_signal;
static int sig_pipe[2] = {-1, -1};

static void
on_signal(int sig)
{
    int saved = errno;
    got_signal = sig;
    ssize_t r RX_UNUSED = write(sig_pipe[1], "x", 1);
    errno = saved;
}

static int
install_signals(void)
{
    if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return -1;
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    struct sigaction ign = {.sa_handler = SIG_IGN};
    sigaction(SIGPIPE, &ign, NULL);
    return 0;
}

static void
print_result(const struct job_result *res, bool quiet)
{
    cleanup_json struct json_object *o = job_result_to_json(res);
    const char *s = rx_json_compact(o);
    fputs(s, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    if (!quiet && isatty(STDERR_FILENO)) {
        fprintf(stderr, "ralph-exec: %s %s in %lld ms", res->task_id ? res->task_id : "(no id)",
                job_status_name(res->status), res->duration_ms);
        if (res->has_exit_code)
            fprintf(stderr, ", exit %d", res->exit_code);
        if (res->error)
            fprintf(stderr, ": %.300s", res->error);
        fputc('\n', stderr);
    }
    if (!quiet && res->removal_error)
        fprintf(stderr, "ralph-exec: warning: %s\n", res->removal_error);
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"quiet", no_argument, NULL, 'q'},  {"owner", required_argument, NULL, 'O'},
        {"help", no_argument, NULL, 'h'},   {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    bool quiet = false;
    const char *owner_opt = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "qhV", longopts, NULL)) != -1) {
        switch (c) {
        case 'q': quiet = true; break;
        case 'O': owner_opt = optarg; break;
        case 'h': fputs(usage_text, stdout); return 0;
        case 'V': printf("ralph-exec %s\n", RALPH_VERSION); return 0;
        default: fputs("Try 'ralph-exec --help'.\n", stderr); return 2;
        }
    }
    if (optind != argc - 1) {
        fputs("ralph-exec: expected exactly one job file (or - for stdin)\n"
              "Try 'ralph-exec --help'.\n",
              stderr);
        return 2;
    }
    if (install_signals() < 0) {
        perror("ralph-exec: pipe");
        return 125;
    }
    if (curl_global_init(CURL_GLOBAL_NOTHING) != CURLE_OK) {
        fputs("ralph-exec: curl_global_init failed\n", stderr);
        return 125;
    }

    char host[256] = "localhost";
    gethostname(host, sizeof(host) - 1);
    cleanup_free char *owner =
        owner_opt ? xstrdup(owner_opt) : xasprintf("ralph-exec/%s/%ld", host, (long)getpid());

    cleanup_job_result struct job_result res;
    job_result_init(&res);
    cleanup_error struct rx_error *err = NULL;
    cleanup_free char *bad_task_id = NULL;
    cleanup_job_spec struct job_spec *job = job_spec_load(argv[optind], &bad_task_id, &err);
    if (job == NULL) {
        executor_result_from_error(&res, bad_task_id, NULL, err);
        print_result(&res, quiet);
        curl_global_cleanup();
        return job_status_exit_code(res.status);
    }

    cleanup_docker_client struct docker_client *dc = docker_client_new(NULL, sig_pipe[0], &err);
    if (dc == NULL) {
        executor_result_from_error(&res, job->task_id, job->image, err);
        print_result(&res, quiet);
        curl_global_cleanup();
        return job_status_exit_code(res.status);
    }

    struct rx_exec_opts opts;
    rx_exec_opts_defaults(&opts);
    opts.owner = owner;
    executor_run(dc, job, &opts, &res);
    if (got_signal && res.status == JOB_INFRA_ERROR) {
        free(res.error);
        res.error = xasprintf("interrupted by signal %d (%s) before the job finished; its "
                              "container was removed",
                              (int)got_signal, strsignal(got_signal));
        res.status = JOB_INFRA_ERROR;
    }
    print_result(&res, quiet);
    int code = got_signal && res.status == JOB_INFRA_ERROR ? 128 + got_signal
                                                           : job_status_exit_code(res.status);
    docker_client_free(steal_pointer(&dc));
    curl_global_cleanup();
    return code;
}
