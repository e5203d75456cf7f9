/* SPDX-License-Identifier: MIT */
/* A job's deps image without an engine (deps.c): its key and tag, the
 * build context it sends, and what a build's progress stream means: built,
 * the job's fault (rejected) or the infrastructure's (infra_error). */
#include "executor/deps.h"
#include "executor/limits.h"
#include "executor/rx_buf.h"
#include "executor/rx_util.h"
#include "executor/tar_stream.h"

#include <archive.h>
#include <archive_entry.h>
#include <string.h>
#include "tests/lib/tap.h"

#define RT "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define PIP "sha256:2222222222222222222222222222222222222222222222222222222222222222"

/* One file of a tar, whole (NULL when absent). */
static char *
tar_file(const struct rx_buf *tar, const char *name)
{
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    archive_read_open_memory(a, tar->data, tar->len);
    struct archive_entry *e;
    char *out = NULL;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        const char *p = archive_entry_pathname(e);
        if (strncmp(p, "./", 2) == 0)
            p += 2;
        if (strcmp(p, name) != 0)
            continue;
        size_t n = (size_t)archive_entry_size(e);
        out = xcalloc(1, n + 1);
        archive_read_data(a, out, n);
        break;
    }
    archive_read_free(a);
    return out;
}

static void
test_key(void)
{
    struct deps_policy p;
    deps_policy_defaults(&p);
    char *a[] = {"numpy==1.24.*", "scipy>=1.10,<2", NULL};
    char *k1 = deps_key(RT, PIP, &p, a, 2), *k2 = deps_key(RT, PIP, &p, a, 2);
    is_str(k1, k2, "the same set, image, installer and index: the same key");
    like(k1, "runtime " RT, "the key names the runtime image's id");
    like(k1, "installer " PIP, "and the installer's");
    like(k1, "requirement scipy>=1.10,<2\n", "and each requirement on a line of its own");
    char t1[33], t2[33];
    deps_tag(k1, t1);
    deps_tag(k2, t2);
    is_str(t1, t2, "the tag is a function of the key");
    ok(strlen(t1) == 32 && strspn(t1, "0123456789abcdef") == 32, "the tag is 32 hex digits: %s",
       t1);
    struct {
        const char *what;
        char *key;
    } other[4];
    char *b[] = {"numpy==1.24.*", NULL};
    other[0].what = "another set";
    other[0].key = deps_key(RT, PIP, &p, b, 1);
    other[1].what = "another runtime image";
    other[1].key = deps_key(PIP, PIP, &p, a, 2);
    struct deps_policy q = p;
    q.index_url = "http://127.0.0.1:8080/simple/";
    other[2].what = "another index";
    other[2].key = deps_key(RT, PIP, &q, a, 2);
    q = p;
    q.mode = DEPS_ANY;
    other[3].what = "sdists allowed";
    other[3].key = deps_key(RT, PIP, &q, a, 2);
    for (size_t i = 0; i < RX_ARRAY_SIZE(other); i++) {
        char t[33];
        deps_tag(other[i].key, t);
        ok(strcmp(t, t1) != 0 && strcmp(other[i].key, k1) != 0, "%s: another key and tag",
           other[i].what);
        free(other[i].key);
    }
    q = p;
    q.index_url = "https://user:s3cret@pypi.example.invalid/simple/";
    char *kc = deps_key(RT, PIP, &q, a, 2);
    ok(strstr(kc, "s3cret") == NULL && strstr(kc, "https://pypi.example.invalid/simple/") != NULL,
       "the index's credentials stay out of the key (the image's label)");
    free(kc);
    free(k1);
    free(k2);
}

static void
test_context(void)
{
    struct deps_policy p;
    deps_policy_defaults(&p);
    p.index_url = "http://127.0.0.1:1/simple/\"]\nRUN [\"sh";
    char *a[] = {"tinydep", "tinypkg==2.0", NULL};
    struct rx_buf tar;
    rx_buf_init(&tar, 1 << 20);
    struct rx_error *err = NULL;
    ok(deps_context("0123456789abcdef0123456789abcdef", RT, PIP, &p, a, 2, &tar, &err) == 0,
       "the context is built");
    char *df = tar_file(&tar, "Dockerfile");
    char *req = tar_file(&tar, "requirements.txt");
    ok(df != NULL && req != NULL, "it holds a Dockerfile and requirements.txt");
    like(df, "FROM " PIP " AS pip\n", "the first stage is the installer image, by id");
    like(df, "FROM " RT "\n", "the last stage is the runtime image, by id");
    like(df, "AS pip\nLABEL io.ralph-exec.deps-stage=0123456789abcdef0123456789abcdef\n",
         "the installer stage is labelled with the tag (its images are removed after the build)");
    like(df, "\"--only-binary=:all:\"", "wheels only by default");
    like(df, "RUN [\"ralph-pip-install\",", "the RUN step is in exec form (no shell)");
    like(df, "\"http://127.0.0.1:1/simple/\\\"]\\nRUN [\\\"sh\"",
         "an index URL with quotes and a newline stays one JSON string");
    ok(df != NULL && strstr(df, "\nRUN [\"sh") == NULL, "and adds no step of its own");
    like(df, "COPY --from=pip --chown=0:0 /out/ /\n",
         "the installed files are copied into the runtime image, root's");
    like(df, "\"--trusted-host\",\"127.0.0.1\"",
         "a plain-http index is named trusted (pip ignores it otherwise)");
    is_str(req, "tinydep\ntinypkg==2.0\n", "requirements.txt: the set, a line each");
    free(df);
    free(req);
    rx_buf_free(&tar);
    p.mode = DEPS_ANY;
    rx_buf_init(&tar, 1 << 20);
    deps_context("0123456789abcdef0123456789abcdef", RT, PIP, &p, a, 2, &tar, &err);
    df = tar_file(&tar, "Dockerfile");
    ok(df != NULL && strstr(df, "only-binary") == NULL, "\"any\": sdists may be built");
    free(df);
    rx_buf_free(&tar);
    rx_error_free(&err);
}

#define ESC "\\u001b"
#define L(s) "{\"stream\":\"" s "\"}\r\n"
#define FAIL_LINE                                                                                \
    "{\"errorDetail\":{\"code\":1,\"message\":\"The command 'ralph-pip-install' returned a "     \
    "non-zero code: 1\"},\"error\":\"The command 'ralph-pip-install' returned a non-zero code: " \
    "1\"}\r\n"

#define BUILT (-1)

static void
test_stream(void)
{
    static const struct {
        const char *what;
        const char *log;
        bool cut;
        int want; /* BUILT, RX_ERR_REJECTED, RX_ERR_INFRA */
        const char *words;
    } cases[] = {
        {"built",
         L("Step 1/5 : FROM x") L("Successfully built 0340d0123ebf\\n")
             L("Successfully tagged ralph-deps:ab\\n"),
         false, BUILT, NULL},
        {"unknown package (20.10: stderr in red)",
         L("Looking in indexes: http://127.0.0.1:1/simple/\\n")
             L(ESC "[91mERROR: Could not find a version that satisfies the requirement nosuchpkg "
                   "(from versions: none)\\n" ESC "[0m")
                 L(ESC "[91mERROR: No matching distribution found for nosuchpkg\\n" ESC "[0m")
                     FAIL_LINE,
         false, RX_ERR_REJECTED, "No matching distribution found for nosuchpkg"},
        {"unknown version",
         L("ERROR: Could not find a version that satisfies the requirement tinypkg==9.9 (from "
           "versions: 1.0, 2.0)\\n") FAIL_LINE,
         false, RX_ERR_REJECTED, "tinypkg==9.9"},
        {"sdist that does not build", L("ERROR: Failed building wheel for sdistonly\\n") FAIL_LINE,
         false, RX_ERR_REJECTED, "sdistonly"},
        {"index down",
         L("WARNING: Retrying (Retry(total=0, connect=None, read=None, redirect=None, "
           "status=None)) after connection broken by 'NewConnectionError(': Failed to establish "
           "a new connection: [Errno 111] Connection refused')': /simple/tinydep/\\n")
             L("ERROR: Could not find a version that satisfies the requirement tinydep (from "
               "versions: none)\\n") FAIL_LINE,
         false, RX_ERR_INFRA, "could not be reached"},
        {"the engine failed a step", FAIL_LINE, false, RX_ERR_INFRA, "non-zero code"},
        {"a version that names a network error is still the job's",
         L("Collecting x==SSLError\\n") L("ERROR: Could not find a version that satisfies the "
                                          "requirement x==NewConnectionError (from versions: "
                                          "1.0)\\n") FAIL_LINE,
         false, RX_ERR_REJECTED, "x==NewConnectionError"},
        {"an error after success",
         L("Successfully built 0340d0123ebf\\n") "{\"error\":\"no space left on device\"}\r\n",
         false, RX_ERR_INFRA, "no space left"},
        {"cut: the first line is a fragment", "x\\\"}\r\n" L("Successfully built 0340d0123ebf\\n"),
         true, BUILT, NULL},
        {"not JSON at all", "garbage\r\nmore garbage", false, RX_ERR_INFRA, "could not be built"},
        {"empty", "", false, RX_ERR_INFRA, "could not be built"},
    };
    struct deps_policy p;
    deps_policy_defaults(&p);
    for (size_t i = 0; i < RX_ARRAY_SIZE(cases); i++) {
        struct deps_outcome o;
        deps_stream_parse(cases[i].log, strlen(cases[i].log), cases[i].cut, &o);
        struct rx_error *err = NULL;
        int got = o.built ? BUILT : (deps_failure(&o, &p, &err), (int)err->kind);
        ok(got == cases[i].want, "%s: %s", cases[i].what,
           got == BUILT             ? "built"
           : got == RX_ERR_REJECTED ? "rejected"
                                    : "infra");
        if (got != cases[i].want && err != NULL)
            diag("%s", err->msg);
        if (cases[i].words != NULL)
            ok(err != NULL && strstr(err->msg, cases[i].words) != NULL,
               "%s: the message says \"%s\"", cases[i].what, cases[i].words);
        if (err != NULL)
            ok(strchr(err->msg, '\x1b') == NULL, "%s: no terminal escapes in the message",
               cases[i].what);
        rx_error_free(&err);
        deps_outcome_free(&o);
    }
}

static void
test_redaction(void)
{
    struct deps_policy p;
    deps_policy_defaults(&p);
    p.index_url = "https://bob:s3cret@index.example.invalid/simple/";
    static const char *const logs[] = {
        "{\"error\":\"The command 'ralph-pip-install --index-url "
        "https://bob:s3cret@index.example.invalid/simple/' returned a non-zero code: 1\"}\r\n",
        L("WARNING: Retrying (Retry(total=0)) after connection broken by "
          "'NewConnectionError(: Failed to establish a new connection')': /simple/x/\n") FAIL_LINE,
    };
    for (size_t i = 0; i < RX_ARRAY_SIZE(logs); i++) {
        struct deps_outcome o;
        deps_stream_parse(logs[i], strlen(logs[i]), false, &o);
        struct rx_error *err = NULL;
        deps_failure(&o, &p, &err);
        ok(err != NULL && strstr(err->msg, "s3cret") == NULL && strstr(err->msg, "bob") == NULL,
           "the index's credentials are not in the message (%s)", err ? err->msg : "none");
        rx_error_free(&err);
        deps_outcome_free(&o);
    }
    struct rx_buf tar;
    rx_buf_init(&tar, 1 << 20);
    struct rx_error *err = NULL;
    char *a[] = {"x", NULL};
    p.index_url = "http://[::1]:8080/simple/";
    deps_context("0123456789abcdef0123456789abcdef", RT, PIP, &p, a, 1, &tar, &err);
    char *df = tar_file(&tar, "Dockerfile");
    like(df, "\"--trusted-host\",\"[::1]\"", "an IPv6 index: the bracketed address is trusted");
    free(df);
    rx_buf_free(&tar);
}

/* The pruning race: a create that lost its deps image is retried once. */
static void
test_retry_create(void)
{
    static const struct {
        const char *name;
        bool no_image, on_deps;
        int retries;
        bool want;
    } cases[] = {
        {"deps image gone before the create: prepared again", true, true, 0, true},
        {"gone again after the retry: the error stands", true, true, 1, false},
        {"the job's own image missing (no deps image)", true, false, 0, false},
        {"another create failure on a deps image", false, true, 0, false},
        {"another create failure", false, false, 0, false},
    };
    for (size_t i = 0; i < RX_ARRAY_SIZE(cases); i++)
        ok(deps_retry_create(cases[i].no_image, cases[i].on_deps, cases[i].retries) ==
               cases[i].want,
           "%s", cases[i].name);
}

int
main(void)
{
    test_key();
    test_context();
    test_stream();
    test_redaction();
    test_retry_create();
    return done_testing();
}
