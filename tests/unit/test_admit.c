/* SPDX-License-Identifier: MIT */
/* The one way into a run for both programs (admit.c): which jobs are
 * admitted, which task id a rejection carries, and what the operator's
 * start-up checks refuse.  No engine. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "executor/executor.h"
#include "executor/operator_policy.h"
#include "executor/rx_util.h"
#include "tests/lib/tap.h"

static char dir[] = "/tmp/test_admit.XXXXXX";

static char *
write_file(const char *name, const char *text)
{
    char *p = xasprintf("%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
    return p;
}

/* Admit doc under policy p; the job, or NULL with *res as its rejection. */
static struct job_spec *
admit(const struct job_doc *doc, const struct operator_policy *p, struct job_result *res)
{
    struct executor_opts opts;
    executor_opts_defaults(&opts);
    job_result_init(res);
    return executor_admit(doc, p, &opts, res);
}

/* The workspace's size and the uid range, as admission leaves them. */
static void
workspace_and_uids(void)
{
    struct rx_error *err = NULL;
    struct operator_policy p;
    const char *audit = NULL;
    cleanup_free char *pol =
        write_file("ws.json", "{\"max_workspace_limit\": \"16m\", \"uid_range\": [70000, 70009]}");
    ok(executor_setup(pol, NULL, &p, &audit, &err) == 0, "a policy with max_workspace_limit and "
                                                         "uid_range loads");
    rx_error_free(&err);
    struct job_result res;
    struct executor_opts opts;
    const char *cases[][2] = {
        {"{\"command\": [\"true\"], \"memory_limit\": \"20m\"}", "10485760"},
        {"{\"command\": [\"true\"]}", "16777216"},
        {"{\"command\": [\"true\"], \"workspace_limit\": \"2m\"}", "2097152"},
        {"{\"command\": [\"true\"], \"workspace_limit\": \"32m\"}", "max_workspace_limit"},
        {"{\"command\": [\"true\"], \"memory_limit\": \"8m\", \"workspace_limit\": \"9m\"}",
         "is more than `memory_limit`"},
        {"{\"command\": [\"true\"], \"workspace_limit\": \"1m\", \"files\": {\"a\": \"x\", "
         "\"b/c\": \"y\"}}",
         "1048576"},
    };
    for (size_t i = 0; i < RX_ARRAY_SIZE(cases); i++) {
        struct job_doc doc = {.bytes = cases[i][0], .len = strlen(cases[i][0])};
        executor_opts_defaults(&opts);
        job_result_init(&res);
        struct job_spec *job = executor_admit(&doc, &p, &opts, &res);
        char got[32];
        snprintf(got, sizeof(got), "%lld", job ? job_spec_workspace_bytes(job) : -1);
        bool want_job = cases[i][1][0] >= '0' && cases[i][1][0] <= '9';
        ok(want_job ? job && strcmp(got, cases[i][1]) == 0
                    : !job && res.error && strstr(res.error, cases[i][1]),
           "workspace: %s -> %s", cases[i][0],
           job         ? got
           : res.error ? res.error
                       : "?");
        if (i == 0)
            ok(opts.uid_first == 70000 && opts.uid_last == 70009, "uid_range reaches the options");
        job_spec_free(job);
        job_result_free(&res);
    }
    /* 1 MiB gives 256 inodes; 130 files each in a directory of its own take 264. */
    struct rx_buf b;
    rx_buf_init(&b, 1 << 20);
    const char *head = "{\"command\": [\"true\"], \"workspace_limit\": \"1m\", \"files\": {";
    rx_buf_append(&b, head, strlen(head));
    for (int i = 0; i < 130; i++) {
        char f[32];
        int n = snprintf(f, sizeof(f), "%s\"d%d/f\": \"x\"", i ? ", " : "", i);
        rx_buf_append(&b, f, (size_t)n);
    }
    rx_buf_append(&b, "}}", 2);
    struct job_doc doc = {.bytes = b.data, .len = b.len};
    executor_opts_defaults(&opts);
    job_result_init(&res);
    struct job_spec *job = executor_admit(&doc, &p, &opts, &res);
    ok(!job && res.error && strstr(res.error, "264 inodes"),
       "inodes: files and their directories "
       "counted (%s)",
       res.error ? res.error : "admitted");
    job_spec_free(job);
    job_result_free(&res);
    rx_buf_free(&b);
    operator_policy_free(&p);

    const char *bad[] = {"{\"uid_range\": [0, 10]}", "{\"uid_range\": [70010, 70000]}",
                         "{\"uid_range\": 5}", "{\"uid_range\": [70000]}"};
    for (size_t i = 0; i < RX_ARRAY_SIZE(bad); i++) {
        cleanup_free char *bp = write_file("bad.json", bad[i]);
        int r = executor_setup(bp, NULL, &p, &audit, &err);
        ok(r == -1 && err && strstr(err->msg, "uid_range"), "refused at start: %s", bad[i]);
        rx_error_free(&err);
        operator_policy_free(&p);
    }
}

/* Load a policy from text: 0, or -1 with *err. */
static int
load_policy(const char *text, struct operator_policy *p, struct rx_error **err)
{
    cleanup_free char *path = write_file("req.json", text);
    int r = operator_policy_load(path, p, err);
    unlink(path);
    return r;
}

/* The requirements keys: defaults, good and bad values, and what
 * executor_admit (executor_opts_from_policy) does with them. */
static void
requirements_policy(void)
{
    struct rx_error *err = NULL;
    struct operator_policy p;
    ok(load_policy("{}", &p, &err) == 0 && p.requirements == DEPS_WHEELS &&
           p.requirements_index_url == NULL && strcmp(p.requirements_network, "bridge") == 0 &&
           p.requirements_timeout_ms == DEPS_DEFAULT_TIMEOUT_MS &&
           p.max_requirements == LIMIT_JOB_REQUIREMENTS &&
           p.max_deps_images == DEPS_DEFAULT_MAX_IMAGES,
       "requirements keys: the defaults");
    operator_policy_free(&p);
    rx_error_free(&err);

    ok(load_policy("{\"requirements\": \"any\", \"requirements_index_url\": "
                   "\"https://pypi.example:8443/simple/\", \"requirements_network\": \"host\", "
                   "\"requirements_timeout\": 90.5, \"max_requirements\": 2, "
                   "\"max_deps_images\": 5}",
                   &p, &err) == 0 &&
           p.requirements == DEPS_ANY &&
           strcmp(p.requirements_index_url, "https://pypi.example:8443/simple/") == 0 &&
           strcmp(p.requirements_network, "host") == 0 && p.requirements_timeout_ms == 90500 &&
           p.max_requirements == 2 && p.max_deps_images == 5,
       "requirements keys: every one set (%s)", err ? err->msg : "loaded");
    rx_error_free(&err);

    /* Apply: the options get the policy's keys; max_requirements counts. */
    const char *two = "{\"command\": [\"true\"], \"requirements\": [\"a\", \"b\"]}";
    const char *three = "{\"command\": [\"true\"], \"requirements\": [\"a\", \"b\", \"c\"]}";
    struct job_doc doc = {.bytes = two, .len = strlen(two)};
    struct executor_opts opts;
    struct job_result res;
    executor_opts_defaults(&opts);
    job_result_init(&res);
    struct job_spec *job = executor_admit(&doc, &p, &opts, &res);
    ok(job && job->n_requirements == 2, "two requirements under max_requirements 2: admitted");
    ok(opts.deps.mode == DEPS_ANY && opts.deps.index_url == p.requirements_index_url &&
           strcmp(opts.deps.network, "host") == 0 && opts.deps.timeout_ms == 90500 &&
           opts.deps.max_images == 5 && strcmp(opts.deps.pip_image, DEPS_PIP_IMAGE) == 0,
       "the options carry the policy's requirements keys (pip_image untouched)");
    job_spec_free(job);
    job_result_free(&res);
    doc = (struct job_doc){.bytes = three, .len = strlen(three)};
    executor_opts_defaults(&opts);
    job = executor_admit(&doc, &p, &opts, &res);
    ok(!job && res.status == JOB_REJECTED && res.error &&
           strstr(res.error, "`requirements` has 3 entries") &&
           strstr(res.error, "max_requirements 2"),
       "three requirements under max_requirements 2: rejected naming both (%s)",
       res.error ? res.error : "admitted");
    job_result_free(&res);
    /* apply checks (and adjusts) the job only. */
    job = job_spec_parse(two, strlen(two), NULL, &err);
    ok(job && operator_policy_apply(&p, job, &err) == 0, "apply checks the job only");
    job_spec_free(job);
    rx_error_free(&err);
    operator_policy_free(&p);

    /* "off": a job with requirements is rejected, one without (or with an
     * empty list) is not. */
    ok(load_policy("{\"requirements\": \"off\"}", &p, &err) == 0 && p.requirements == DEPS_OFF,
       "requirements \"off\" loads");
    const char *off_cases[][2] = {
        {"{\"command\": [\"true\"], \"requirements\": [\"numpy\"]}",
         "`requirements`: the operator's policy allows none (requirements \"off\")"},
        {"{\"command\": [\"true\"], \"requirements\": []}", NULL},
        {"{\"command\": [\"true\"]}", NULL},
    };
    for (size_t i = 0; i < RX_ARRAY_SIZE(off_cases); i++) {
        doc = (struct job_doc){.bytes = off_cases[i][0], .len = strlen(off_cases[i][0])};
        executor_opts_defaults(&opts);
        job_result_init(&res);
        job = executor_admit(&doc, &p, &opts, &res);
        if (off_cases[i][1] != NULL)
            ok(!job && res.status == JOB_REJECTED && res.error &&
                   strcmp(res.error, off_cases[i][1]) == 0,
               "off: %s rejected (%s)", off_cases[i][0], res.error ? res.error : "admitted");
        else
            ok(job && opts.deps.mode == DEPS_OFF, "off: %s admitted", off_cases[i][0]);
        job_spec_free(job);
        job_result_free(&res);
    }
    operator_policy_free(&p);

    /* A policy not made by operator_policy_load (all zero) leaves the
     * built-in requirements policy as it was. */
    memset(&p, 0, sizeof(p));
    job = job_spec_parse(two, strlen(two), NULL, &err);
    executor_opts_defaults(&opts);
    ok(job && operator_policy_apply(&p, job, &err) == 0 &&
           (executor_opts_from_policy(&opts, &p), opts.deps.mode == DEPS_WHEELS) &&
           opts.deps.index_url == NULL && strcmp(opts.deps.network, "bridge") == 0 &&
           opts.deps.timeout_ms == DEPS_DEFAULT_TIMEOUT_MS &&
           opts.deps.max_images == DEPS_DEFAULT_MAX_IMAGES,
       "a zeroed policy keeps the default requirements policy");
    job_spec_free(job);
    rx_error_free(&err);

    /* Edge values that load. */
    char url[LIMIT_POLICY_URL_BYTES + 2];
    memset(url, 'x', sizeof(url));
    memcpy(url, "http://h/", 9);
    url[LIMIT_POLICY_URL_BYTES] = '\0';
    cleanup_free char *long_url = xasprintf("{\"requirements_index_url\": \"%s\"}", url);
    url[LIMIT_POLICY_URL_BYTES] = 'x';
    url[LIMIT_POLICY_URL_BYTES + 1] = '\0';
    cleanup_free char *too_long_url = xasprintf("{\"requirements_index_url\": \"%s\"}", url);
    const char *good[] = {
        "{\"requirements\": \"wheels\"}",
        "{\"requirements_network\": \"bridge\"}",
        "{\"requirements_index_url\": \"http://10.0.0.1:3141/root/pypi/+simple/?a=1&b=%20\"}",
        "{\"requirements_index_url\": \"https://user:tok@pypi.example/simple\"}",
        long_url,
        "{\"requirements_timeout\": 3600}",
        "{\"requirements_timeout\": 0.0001}",
        "{\"max_requirements\": 1}",
        "{\"max_requirements\": 64}",
        "{\"max_deps_images\": 1}",
        "{\"max_deps_images\": 100000}",
    };
    for (size_t i = 0; i < RX_ARRAY_SIZE(good); i++) {
        int r = load_policy(good[i], &p, &err);
        ok(r == 0, "loads: %.80s (%s)", good[i], err ? err->msg : "ok");
        if (i == 6)
            ok(p.requirements_timeout_ms == 1, "a timeout under 1 ms is 1 ms");
        operator_policy_free(&p);
        rx_error_free(&err);
    }

    /* Bad values: refused, naming the key. */
    const char *bad[][2] = {
        {"{\"requirements\": \"sdist\"}", "`requirements` must be \"wheels\", \"any\" or \"off\""},
        {"{\"requirements\": true}", "`requirements` must be"},
        {"{\"requirements\": null}", "`requirements` must be"},
        {"{\"requirements_index_url\": \"ftp://pypi.example/simple\"}",
         "`requirements_index_url` must start with http:// or https://"},
        {"{\"requirements_index_url\": \"HTTPS://pypi.example/\"}", "`requirements_index_url`"},
        {"{\"requirements_index_url\": \"pypi.example/simple\"}", "`requirements_index_url`"},
        {"{\"requirements_index_url\": \"https://\"}", "`requirements_index_url` must name a host"},
        {"{\"requirements_index_url\": \"https:///simple\"}", "must name a host"},
        {"{\"requirements_index_url\": \"https://a b/\"}",
         "`requirements_index_url` may hold only"},
        {"{\"requirements_index_url\": \"https://a\\tb/\"}", "may hold only"},
        {"{\"requirements_index_url\": \"https://a/\\u0000x\"}", "may hold only"},
        {"{\"requirements_index_url\": \"https://a/\\n\"}", "may hold only"},
        {"{\"requirements_index_url\": \"https://p\\u00e9.example/\"}", "may hold only"},
        {"{\"requirements_index_url\": \"https://a/\\\"x\"}", "may hold only"},
        {"{\"requirements_index_url\": 5}", "`requirements_index_url` must be a string"},
        {too_long_url, "`requirements_index_url` is longer than 1024 bytes"},
        {"{\"requirements_network\": \"none\"}", "`requirements_network` must be \"bridge\" or"},
        {"{\"requirements_network\": 1}", "`requirements_network`"},
        {"{\"requirements_timeout\": 0}", "`requirements_timeout` must be more than 0"},
        {"{\"requirements_timeout\": -5}", "`requirements_timeout`"},
        {"{\"requirements_timeout\": 3600.5}", "`requirements_timeout` must be at most 3600"},
        {"{\"requirements_timeout\": \"60\"}", "`requirements_timeout` must be a number"},
        {"{\"max_requirements\": 0}", "`max_requirements` must be an integer from 1 to 64"},
        {"{\"max_requirements\": 65}", "`max_requirements` must be an integer from 1 to 64"},
        {"{\"max_requirements\": 2.5}", "`max_requirements`"},
        {"{\"max_requirements\": \"5\"}", "`max_requirements`"},
        {"{\"max_deps_images\": 0}", "`max_deps_images` must be an integer of at least 1"},
        {"{\"max_deps_images\": -1}", "`max_deps_images`"},
        {"{\"max_deps_images\": 2.0}", "`max_deps_images`"},
        {"{\"max_deps_images\": \"x\"}", "`max_deps_images`"},
        {"{\"requirement\": \"off\"}", "unknown key `requirement`"},
    };
    for (size_t i = 0; i < RX_ARRAY_SIZE(bad); i++) {
        int r = load_policy(bad[i][0], &p, &err);
        ok(r < 0 && err && err->kind == RX_ERR_REJECTED && strstr(err->msg, bad[i][1]),
           "refused: %.80s (%s)", bad[i][0], err ? err->msg : "loaded");
        operator_policy_free(&p);
        rx_error_free(&err);
    }
}

int
main(void)
{
    if (mkdtemp(dir) == NULL)
        return 1;
    cleanup_free char *pol_path = write_file("policy.json", "{\"max_timeout\": 5}");
    struct operator_policy p;
    const char *audit = NULL;
    struct rx_error *err = NULL;
    ok(executor_setup(pol_path, NULL, &p, &audit, &err) == 0 && audit == NULL,
       "a policy without an audit log: no audit path");
    rx_error_free(&err);

    struct job_result res;
    const char *good = "{\"task_id\": \"t-1\", \"command\": [\"true\"]}";
    struct job_doc doc = {.bytes = good, .len = strlen(good), .default_task_id = "spool-name"};
    struct job_spec *job = admit(&doc, &p, &res);
    ok(job && strcmp(job->task_id, "t-1") == 0, "a valid job is admitted under its own task id");
    job_spec_free(job);
    job_result_free(&res);

    const char *noid = "{\"command\": [\"true\"]}";
    doc = (struct job_doc){.bytes = noid, .len = strlen(noid), .default_task_id = "spool-name"};
    job = admit(&doc, &p, &res);
    ok(job && strcmp(job->task_id, "spool-name") == 0,
       "a job without a task id takes the queue's name for it");
    job_spec_free(job);
    job_result_free(&res);
    doc.default_task_id = NULL;
    job = admit(&doc, &p, &res);
    ok(job && job->task_id_generated && job->task_id[0] != '\0',
       "... and without one from the queue, a generated one");
    job_spec_free(job);
    job_result_free(&res);

    const char *bad = "{\"task_id\": \"t-2\", \"command\": [\"true\"], \"nope\": 1}";
    doc = (struct job_doc){.bytes = bad, .len = strlen(bad), .default_task_id = "spool-name"};
    job = admit(&doc, &p, &res);
    ok(job == NULL && res.status == JOB_REJECTED && res.task_id &&
           strcmp(res.task_id, "t-2") == 0 && res.error && strstr(res.error, "nope"),
       "an invalid job is rejected under its own task id, naming the field");
    job_result_free(&res);

    const char *slow = "{\"task_id\": \"t-3\", \"command\": [\"true\"], \"timeout\": 60}";
    doc = (struct job_doc){.bytes = slow, .len = strlen(slow)};
    job = admit(&doc, &p, &res);
    ok(job == NULL && res.status == JOB_REJECTED && res.task_id &&
           strcmp(res.task_id, "t-3") == 0 && res.error && strstr(res.error, "max_timeout"),
       "a job over the policy is rejected under its task id, naming the limit");
    job_result_free(&res);

    const char *slow_noid = "{\"command\": [\"true\"], \"timeout\": 60}";
    doc = (struct job_doc){.bytes = slow_noid,
                           .len = strlen(slow_noid),
                           .default_task_id = "spool-name"};
    job = admit(&doc, &p, &res);
    ok(job == NULL && res.task_id && strcmp(res.task_id, "spool-name") == 0,
       "a job over the policy without a task id is rejected under the queue's name");
    job_result_free(&res);

    const char *garbage = "{not json";
    doc = (struct job_doc){.bytes = garbage, .len = strlen(garbage)};
    job = admit(&doc, &p, &res);
    ok(job == NULL && res.status == JOB_REJECTED && res.task_id == NULL,
       "an unreadable document: rejected, no task id (the caller names it)");
    job_result_free(&res);

    doc = (struct job_doc){.bytes = NULL, .len = LIMIT_JOB_BYTES + 1, .default_task_id = "big"};
    job = admit(&doc, &p, &res);
    ok(job == NULL && res.status == JOB_REJECTED && res.task_id && strcmp(res.task_id, "big") == 0,
       "a document a queue measured too large is rejected unread, under the queue's name");
    job_result_free(&res);

    cleanup_free char *job_path = write_file("job.json", good);
    doc = (struct job_doc){.path = job_path};
    job = admit(&doc, &p, &res);
    ok(job && strcmp(job->task_id, "t-1") == 0, "a job file is read and admitted");
    job_spec_free(job);
    job_result_free(&res);
    doc.path = "/nonexistent/job.json";
    job = admit(&doc, &p, &res);
    ok(job == NULL && res.status == JOB_REJECTED && res.error &&
           strstr(res.error, "/nonexistent/job.json"),
       "a missing job file is rejected, naming it");
    job_result_free(&res);
    operator_policy_free(&p);

    cleanup_free char *audit_path = xasprintf("%s/audit.log", dir);
    ok(executor_setup(pol_path, audit_path, &p, &audit, &err) == 0 && audit == audit_path &&
           access(audit_path, W_OK) == 0,
       "--audit overrides the policy and the log is created");
    operator_policy_free(&p);
    ok(executor_setup(pol_path, "/nonexistent/dir/audit.log", &p, &audit, &err) < 0 && err &&
           err->kind == RX_ERR_REJECTED && strstr(err->msg, "/nonexistent/dir/audit.log"),
       "an audit log that cannot be written stops the start, naming it");
    rx_error_free(&err);
    operator_policy_free(&p);
    cleanup_free char *bad_pol = write_file("bad.json", "{\"max_timeout\": \"x\"}");
    ok(executor_setup(bad_pol, NULL, &p, &audit, &err) < 0 && err &&
           strstr(err->msg, "max_timeout"),
       "an invalid policy stops the start, naming the key");
    rx_error_free(&err);
    operator_policy_free(&p);

    workspace_and_uids();
    requirements_policy();
    cleanup_free char *ws_pol = xasprintf("%s/ws.json", dir);
    unlink(ws_pol);
    unlink(job_path);
    unlink(pol_path);
    unlink(bad_pol);
    unlink(audit_path);
    rmdir(dir);
    return done_testing();
}
