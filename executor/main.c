/* SPDX-License-Identifier: MIT */
/* ralph-exec: run one job and print its result.  Only argument handling,
 * signals and the exit code live here; the work is in the library. */
#include <curl/curl.h>
#include <getopt.h>
#include <signal.h>
#include <fcntl.h>

#include "executor/docker_client.h"
#include "executor/doctor.h"
#include "executor/executor.h"
#include "executor/job_result.h"
#include "executor/job_spec.h"
#include "executor/rx_json.h"
#include "executor/operator_policy.h"
#include "executor/rx_util.h"

#ifndef RALPH_VERSION
#define RALPH_VERSION "unknown"
#endif

static const char usage_text[] =
    "Usage: ralph-exec [OPTIONS] JOB.json\n"
    "       ralph-exec [OPTIONS] -            (job on standard input)\n"
    "       ralph-exec prepare [OPTIONS] JOB.json   (build the job's requirements only)\n"
    "       ralph-exec doctor [--json] [--policy FILE]\n"
    "\n"
    "Run one job in a fresh, hardened, throw-away container through the Docker\n"
    "Engine API and print its result as one JSON object on standard output.\n"
    "prepare finds or builds the job's deps image (its `requirements`) and runs\n"
    "nothing: its result has status success and deps_image, or the failure.\n"
    "\n"
    "Options:\n"
    "  -q, --quiet        no human summary on standard error\n"
    "      --policy FILE  operator policy (default /etc/ralph-exec/policy.json if it exists)\n"
    "      --audit FILE   append one JSON line per job to FILE (default: the policy's audit_log)\n"
    "      --format F     what goes to standard output: json (default) or text (for logs)\n"
    "  -o, --output FILE  also write the result JSON to FILE (e.g. a CI artifact)\n"
    "      --owner ID     value of the ralph.owner label (default ralph-exec/HOST/PID)\n"
    "  -h, --help         show this help and exit\n"
    "  -V, --version      show the version and exit\n"
    "\n"
    "Exit status:\n"
    "  0    success          the job ran and its output is valid\n"
    "  1    error            the job failed (nonzero exit, or calculate raised)\n"
    "  2    rejected         the job file is invalid or exceeds the policy (or bad usage,\n"
    "                       or an invalid --policy file; doctor: a failed check, 1)\n"
    "  3    timeout          the job ran past its timeout and was killed\n"
    "  4    oom              the job ran out of memory\n"
    "  5    result_invalid   the output file is missing, not JSON, too big, or not a file\n"
    "  125  infra_error      the engine failed or could not be reached\n"
    "  128+N                 stopped by signal N before the job finished, status infra_error,\n"
    "                        container removed: 130 SIGINT, 143 SIGTERM, and so for SIGHUP,\n"
    "                        SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGXCPU, SIGXFSZ, SIGVTALRM,\n"
    "                        SIGPROF\n"
    "\n"
    "Environment:\n"
    "  DOCKER_HOST        unix:///path/to/docker.sock (default /var/run/docker.sock)\n"
    "\n"
    "See ralph-exec(1) and docs/jobs.md for the job and result formats.\n";

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

/* Every signal whose default would kill us without a word: each instead
 * stops the job, removes its container and still prints a result. */
static const int stop_signals[] = {SIGINT,  SIGTERM, SIGHUP,    SIGQUIT, SIGUSR1, SIGUSR2,
                                   SIGALRM, SIGXCPU, SIGVTALRM, SIGPROF, SIGXFSZ};

static int
install_signals(void)
{
    if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return -1;
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < RX_ARRAY_SIZE(stop_signals); i++)
        sigaction(stop_signals[i], &sa, NULL);
    struct sigaction ign = {.sa_handler = SIG_IGN};
    sigaction(SIGPIPE, &ign, NULL);
    return 0;
}

static const char *audit_path;
static const char *output_path;
static bool text_format;

/* Write the result JSON to path, atomically (temp file, then rename). */
static void
write_output_file(const char *json)
{
    cleanup_free char *tmp = xasprintf("%s.tmp.%d", output_path, (int)getpid());
    FILE *f = fopen(tmp, "we");
    bool ok = f != NULL && fputs(json, f) >= 0 && fputc('\n', f) != EOF;
    if (f != NULL && fclose(f) != 0)
        ok = false;
    if (!ok || rename(tmp, output_path) < 0) {
        fprintf(stderr, "ralph-exec: warning: cannot write %s: %s\n", output_path, strerror(errno));
        unlink(tmp);
    }
}

static void
print_result(const struct job_result *res, const char *json, void *quiet_flag)
{
    bool quiet = *(const bool *)quiet_flag;
    if (output_path != NULL)
        write_output_file(json);
    if (text_format) {
        job_result_print_text(res, stdout, LIMIT_TEXT_OUTPUT_BYTES);
    } else {
        fputs(json, stdout);
        fputc('\n', stdout);
    }
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

/* Print the result, then write its audit line (the container is gone). */
static void
finish(struct job_result *res, bool quiet, const char *sandbox)
{
    struct executor_finish f = {
        .audit_path = audit_path,
        .sandbox = sandbox,
        .deliver = print_result,
        .ud = &quiet,
    };
    executor_finish(NULL, res, &f);
    if (f.audit_err != NULL)
        fprintf(stderr, "ralph-exec: warning: %s\n", f.audit_err->msg);
    rx_error_free(&f.audit_err);
}

/* What the command line asked for. */
struct cli {
    bool quiet, json_out, doctor, prepare;
    const char *owner, *policy_path, *audit;
    const char *job_path;
};

/* Fill o from argv: -1 to go on, or the exit code to leave with (help,
 * version, a usage error). */
static int
parse_args(int argc, char **argv, struct cli *o)
{
    static const struct option longopts[] = {
        {"quiet", no_argument, NULL, 'q'},        {"owner", required_argument, NULL, 'O'},
        {"policy", required_argument, NULL, 'P'}, {"audit", required_argument, NULL, 'A'},
        {"json", no_argument, NULL, 'J'},         {"format", required_argument, NULL, 'F'},
        {"output", required_argument, NULL, 'o'}, {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},      {NULL, 0, NULL, 0},
    };
    o->doctor = argc > 1 && strcmp(argv[1], "doctor") == 0;
    o->prepare = argc > 1 && strcmp(argv[1], "prepare") == 0;
    if (o->doctor || o->prepare) {
        argv++;
        argc--;
    }
    int c;
    while ((c = getopt_long(argc, argv, "qhVo:", longopts, NULL)) != -1) {
        switch (c) {
        case 'q': o->quiet = true; break;
        case 'O': o->owner = optarg; break;
        case 'P': o->policy_path = optarg; break;
        case 'A': o->audit = optarg; break;
        case 'J': o->json_out = true; break;
        case 'o': output_path = optarg; break;
        case 'F':
            if (strcmp(optarg, "json") != 0 && strcmp(optarg, "text") != 0) {
                fprintf(stderr, "ralph-exec: --format must be json or text, not '%s'\n", optarg);
                return 2;
            }
            text_format = strcmp(optarg, "text") == 0;
            break;
        case 'h': fputs(usage_text, stdout); return 0;
        case 'V': printf("ralph-exec %s\n", RALPH_VERSION); return 0;
        default: fputs("Try 'ralph-exec --help'.\n", stderr); return 2;
        }
    }
    /* Accepted and ignored, --json would let a caller believe it asked for
     * something the job's result does not already give. */
    if (o->json_out && !o->doctor) {
        fputs("ralph-exec: --json is for doctor only (a job's result is JSON already)\n"
              "Try 'ralph-exec --help'.\n",
              stderr);
        return 2;
    }
    if (o->doctor && optind != argc) {
        fputs("ralph-exec: doctor takes no arguments\n", stderr);
        return 2;
    }
    if (!o->doctor && optind != argc - 1) {
        fputs("ralph-exec: expected exactly one job file (or - for stdin)\n"
              "Try 'ralph-exec --help'.\n",
              stderr);
        return 2;
    }
    o->job_path = o->doctor ? NULL : argv[optind];
    return -1;
}

/* One job: admitted, run, its result printed; the exit code says how it
 * ended (128 + N when signal N stopped it). */
static int
run_job(const struct cli *o)
{
    struct operator_policy policy;
    cleanup_error struct rx_error *err = NULL;
    if (executor_setup(o->policy_path, o->audit, &policy, &audit_path, &err) < 0) {
        fprintf(stderr, "ralph-exec: %s\n", err->msg);
        operator_policy_free(&policy);
        return 2;
    }
    if (o->prepare)
        audit_path = NULL; /* nothing runs: no job's line */
    char host[256] = "localhost";
    gethostname(host, sizeof(host) - 1);
    cleanup_free char *owner = o->owner ? xstrdup(o->owner)
                                        : xasprintf("ralph-exec/%s/%ld", host, (long)getpid());
    cleanup_job_result struct job_result res;
    job_result_init(&res);
    struct executor_opts opts;
    executor_opts_defaults(&opts);
    opts.owner = owner;
    const struct job_doc doc = {.path = o->job_path};
    cleanup_job_spec struct job_spec *job = executor_admit(&doc, &policy, &opts, &res);
    cleanup_docker_client struct docker_client *dc =
        job ? docker_client_new(NULL, sig_pipe[0], &err) : NULL;
    if (job != NULL && dc == NULL)
        executor_result_from_error(&res, job->task_id, job->image, err);
    if (dc != NULL && o->prepare)
        executor_prepare(dc, job, &opts, &res);
    else if (dc != NULL)
        executor_run(dc, job, &opts, &res);
    bool interrupted = got_signal && res.infra_cause == JOB_INFRA_CANCELLED;
    if (interrupted) {
        free(res.error);
        res.error = xasprintf("interrupted by signal %d (%s) before the job finished; its "
                              "container was removed",
                              (int)got_signal, strsignal(got_signal));
        res.status = JOB_INFRA_ERROR;
    }
    finish(&res, o->quiet, job ? job->sandbox : NULL);
    /* The policy's strings (the audit log's path) live until here. */
    operator_policy_free(&policy);
    return interrupted ? 128 + got_signal : job_status_exit_code(res.status);
}

int
main(int argc, char **argv)
{
    /* First of all, so no signal can end us before it is handled. */
    if (install_signals() < 0) {
        perror("ralph-exec: pipe");
        return 125;
    }
    struct cli o = {0};
    int r = parse_args(argc, argv, &o);
    if (r >= 0)
        return r;
    if (curl_global_init(CURL_GLOBAL_NOTHING) != CURLE_OK) {
        fputs("ralph-exec: curl_global_init failed\n", stderr);
        return 125;
    }
    r = o.doctor ? doctor_run(o.policy_path, o.json_out) : run_job(&o);
    curl_global_cleanup();
    return r;
}
