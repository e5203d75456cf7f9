/* SPDX-License-Identifier: MIT */
/* job.json validation: the valid and invalid corpora under tests/data/jobs,
 * defaults, sizes, paths, limits and requirements. */
#include <dirent.h>
#include <regex.h>

#include "executor/job_spec.h"
#include "executor/rx_util.h"
#include "executor/task_id.h"
#include "tests/lib/tap.h"

static const char *
data_dir(void)
{
    const char *d = getenv("RALPH_TEST_DATA");
    return d ? d : "tests/data";
}

static char *
slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = xcalloc(1, 1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static int
cmpstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The .json files of a directory, sorted. */
static size_t
list_json(const char *dir, char ***out)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    char **v = NULL;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l > 5 && strcmp(e->d_name + l - 5, ".json") == 0) {
            v = xrealloc(v, (n + 1) * sizeof(char *));
            v[n++] = xasprintf("%s/%s", dir, e->d_name);
        }
    }
    if (d)
        closedir(d);
    if (n)
        qsort(v, n, sizeof(char *), cmpstr);
    *out = v;
    return n;
}

static void
corpus(void)
{
    char **files;
    cleanup_free char *vdir = xasprintf("%s/jobs/valid", data_dir());
    size_t n = list_json(vdir, &files);
    ok(n >= 5, "valid corpus has %zu jobs", n);
    for (size_t i = 0; i < n; i++) {
        struct rx_error *err = NULL;
        struct job_spec *j = job_spec_load(files[i], NULL, &err);
        if (!ok(j != NULL, "valid: %s", files[i]))
            diag("  error: %s", err ? err->msg : "?");
        job_spec_free(j);
        rx_error_free(&err);
        free(files[i]);
    }
    free(files);

    cleanup_free char *idir = xasprintf("%s/jobs/invalid", data_dir());
    n = list_json(idir, &files);
    ok(n >= 30, "invalid corpus has %zu jobs", n);
    for (size_t i = 0; i < n; i++) {
        cleanup_free char *errfile = xasprintf("%.*s.err", (int)(strlen(files[i]) - 5), files[i]);
        cleanup_free char *want = slurp(errfile);
        struct rx_error *err = NULL;
        struct job_spec *j = job_spec_load(files[i], NULL, &err);
        bool good = j == NULL && err != NULL && err->kind == RX_ERR_REJECTED && want != NULL &&
                    strstr(err->msg, want) != NULL;
        if (!ok(good, "invalid: %s", files[i]))
            diag("  got \"%s\", want it to contain \"%s\"", err ? err->msg : "(accepted)",
                 want ? want : "(no .err file)");
        job_spec_free(j);
        rx_error_free(&err);
        free(files[i]);
    }
    free(files);
}

static struct job_spec *
parse(const char *s, struct rx_error **err)
{
    return job_spec_parse(s, strlen(s), NULL, err);
}

static void
defaults(void)
{
    struct rx_error *err = NULL;
    struct job_spec *j = parse("{\"code\":\"def calculate(i): return i\"}", &err);
    ok(j != NULL, "minimal code job parses");
    if (j == NULL)
        return;
    is_int(j->kind, JOB_CODE, "kind is code");
    is_str(j->image, "ralph-sandbox:python", "default image");
    is_int(j->timeout_ms, 30000, "default timeout 30 s");
    is_int(j->memory_bytes, 256ll << 20, "default memory 256 MiB");
    is_int(j->nano_cpus, 1000000000, "default cpu 1.0");
    is_int(j->pids_limit, 64, "default pids 64");
    is_int(j->file_size_bytes, 64ll << 20, "default fsize 64 MiB");
    is_str(j->output_path, "output.json", "default output path");
    is_str(j->inputs_json, "null", "absent inputs are null");
    ok(j->task_id_generated, "task id generated");
    regex_t re;
    regcomp(&re, "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
            REG_EXTENDED | REG_NOSUB);
    ok(regexec(&re, j->task_id, 0, NULL, 0) == 0, "generated task id is a UUID v4 (%s)",
       j->task_id);
    regfree(&re);
    job_spec_free(j);

    j = parse("{\"command\":[\"a\",\"b c\"],\"stdin\":\"\",\"cpu_limit\":0.25,"
              "\"timeout\":1.5,\"env\":{\"X\":\"=y=\"},\"inputs\":null}",
              &err);
    ok(j == NULL && err && strstr(err->msg, "`inputs` goes with `code`"),
       "explicit null inputs on a command job are still rejected");
    rx_error_free(&err);
    j = parse("{\"command\":[\"a\",\"b c\"],\"stdin\":\"\",\"cpu_limit\":0.25,"
              "\"timeout\":1.5,\"env\":{\"X\":\"=y=\"}}",
              &err);
    ok(j != NULL, "command job parses");
    if (j == NULL)
        return;
    is_int(j->kind, JOB_COMMAND, "kind is command");
    is_int(j->n_command, 2, "two args");
    is_str(j->command[1], "b c", "args kept as given");
    ok(j->command[2] == NULL, "argv is NULL-terminated");
    ok(j->stdin_data != NULL && j->stdin_len == 0, "empty stdin is still stdin");
    is_int(j->nano_cpus, 250000000, "cpu 0.25 -> 2.5e8 nano");
    is_int(j->timeout_ms, 1500, "fractional timeout");
    is_str(j->env[0], "X==y=", "env entry as KEY=VALUE");
    job_spec_free(j);
}

static void
sizes(void)
{
    long long v = 0;
    ok(job_spec_parse_size("256m", &v) == 0 && v == 256ll << 20, "256m");
    ok(job_spec_parse_size("1G", &v) == 0 && v == 1ll << 30, "1G");
    ok(job_spec_parse_size("512k", &v) == 0 && v == 512ll << 10, "512k");
    ok(job_spec_parse_size("64MiB", &v) == 0 && v == 64ll << 20, "64MiB");
    ok(job_spec_parse_size("64mb", &v) == 0 && v == 64ll << 20, "64mb");
    ok(job_spec_parse_size("1048576", &v) == 0 && v == 1048576, "plain bytes");
    ok(job_spec_parse_size("", &v) < 0, "empty is not a size");
    ok(job_spec_parse_size("-1m", &v) < 0, "negative is not a size");
    ok(job_spec_parse_size("1.5g", &v) < 0, "fractions are not sizes");
    ok(job_spec_parse_size("1t", &v) < 0, "unknown unit");
    ok(job_spec_parse_size("9223372036854775807g", &v) < 0, "overflow detected");
    ok(job_spec_parse_size(" 1m", &v) < 0, "leading space");
}

static void
paths(void)
{
    const char *why = NULL;
    ok(job_spec_check_path("a/b/c.txt", 9, &why) == 0, "nested relative path ok");
    ok(job_spec_check_path("..a/b..", 7, &why) == 0, "dots inside names are fine");
    ok(job_spec_check_path(".ralphx", 7, &why) == 0, "only .ralph itself is reserved");
    ok(job_spec_check_path("x/.ralph", 8, &why) == 0, ".ralph below the top is fine");
    ok(job_spec_check_path("..", 2, &why) < 0, "..");
    ok(job_spec_check_path("a/..", 4, &why) < 0, "a/..");
    ok(job_spec_check_path("/a", 2, &why) < 0, "/a");
    ok(job_spec_check_path("a\\b", 3, &why) < 0, "backslash");
    ok(job_spec_check_path("a\x7f", 2, &why) < 0, "DEL");
    char longname[300];
    memset(longname, 'x', sizeof(longname));
    ok(job_spec_check_path(longname, 256, &why) < 0, "component over 255 bytes");
    ok(job_spec_check_path(longname, 255, &why) == 0, "component of 255 bytes");
}

static void
big_fields(void)
{
    struct rx_error *err = NULL;
    /* code: 100 KiB is the limit. */
    size_t n = LIMIT_JOB_CODE_BYTES + 1;
    char *doc = xmalloc(n + 64);
    strcpy(doc, "{\"code\":\"");
    memset(doc + 9, '#', n);
    strcpy(doc + 9 + n, "\"}");
    struct job_spec *j = parse(doc, &err);
    ok(j == NULL && err && strstr(err->msg, "`code` is 102401 bytes"), "code over 100 KiB");
    rx_error_free(&err);
    doc[9 + n - 1] = '"';
    doc[9 + n] = '}';
    doc[9 + n + 1] = '\0';
    j = parse(doc, &err);
    ok(j != NULL, "code of exactly 100 KiB accepted");
    job_spec_free(j);
    rx_error_free(&err);
    free(doc);

    /* The whole document: 16 MiB. */
    n = LIMIT_JOB_BYTES + 1;
    doc = xmalloc(n + 1);
    memset(doc, ' ', n);
    doc[n] = '\0';
    j = job_spec_parse(doc, n, NULL, &err);
    ok(j == NULL && err && err->kind == RX_ERR_REJECTED && strstr(err->msg, "more than"),
       "document over 16 MiB rejected before parsing");
    rx_error_free(&err);
    free(doc);

    /* Too many files. */
    struct printbuf *pb = printbuf_new();
    sprintbuf(pb, "{\"command\":[\"true\"],\"files\":{");
    for (int i = 0; i <= LIMIT_JOB_FILES; i++)
        sprintbuf(pb, "%s\"f%d\":\"\"", i ? "," : "", i);
    sprintbuf(pb, "}}");
    j = parse(pb->buf, &err);
    ok(j == NULL && err && strstr(err->msg, "`files` has 1001 entries"), "1001 files rejected");
    rx_error_free(&err);
    printbuf_free(pb);

    /* The rejected job's task_id is still reported. */
    char *tid = NULL;
    const char *k1 = "{\"task_id\":\"keep-me\",\"bogus\":1}";
    j = job_spec_parse(k1, strlen(k1), &tid, &err);
    ok(j == NULL && tid && strcmp(tid, "keep-me") == 0, "task_id of a rejected job is kept");
    free(tid);
    rx_error_free(&err);
    tid = NULL;
    const char *k2 = "{\"task_id\":\"../x\",\"bogus\":1}";
    j = job_spec_parse(k2, strlen(k2), &tid, &err);
    ok(j == NULL && tid == NULL, "an invalid task_id is not echoed back");
    rx_error_free(&err);
    /* Nor one that is valid only up to a NUL or a control character: the
     * part before it is another job's id. */
    const char *bad_ids[] = {
        "{\"task_id\":\"victim\\u0000junk\",\"command\":[1]}",
        "{\"task_id\":\"victim\\u0000\",\"command\":[\"true\"]}",
        "{\"task_id\":\"victim\\n\",\"command\":[1]}",
        "{\"task_id\":\"victim\\u001b[0m\",\"command\":[1]}",
        "{\"task_id\":\"vict\u00efm\",\"command\":[1]}",
    };
    for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
        tid = NULL;
        j = job_spec_parse(bad_ids[i], strlen(bad_ids[i]), &tid, &err);
        ok(j == NULL && tid == NULL,
           "a task_id with a NUL, control or non-ASCII byte is not "
           "echoed back (%s)",
           bad_ids[i]);
        free(tid);
        rx_error_free(&err);
    }
    char longid[LIMIT_TASK_ID_BYTES + 2];
    memset(longid, 'a', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    ok(!task_id_valid(longid, strlen(longid)), "a %zu-character task id is invalid",
       strlen(longid));
    ok(task_id_valid(longid, LIMIT_TASK_ID_BYTES), "a %d-character one is valid",
       LIMIT_TASK_ID_BYTES);
    ok(!task_id_valid("vict\xc3\xafm", 7), "non-ASCII letters are not in a task id");
    ok(job_spec_check_size(LIMIT_JOB_BYTES, &err) == 0, "a job of the cap's size is fine");
    ok(job_spec_check_size(314572852, &err) < 0 && err && err->kind == RX_ERR_REJECTED &&
           strstr(err->msg, "314572852 bytes"),
       "a 314572852-byte job is rejected by its size alone");
    rx_error_free(&err);

    /* A missing file is a rejection naming it. */
    j = job_spec_load("/nonexistent/job.json", NULL, &err);
    ok(j == NULL && err && err->kind == RX_ERR_REJECTED &&
           strstr(err->msg, "/nonexistent/job.json"),
       "missing job file named in the error");
    rx_error_free(&err);
}

/* `requirements`: the accepted strings and their normal forms, the refused
 * ones and a word each refusal must hold, and the set's order. */
static void
requirements(void)
{
    static const char *const good[][2] = {
        {"numpy==1.24.*", "numpy==1.24.*"},
        {"scipy>=1.10,<2", "scipy>=1.10,<2"},
        {"pandas[performance]", "pandas[performance]"},
        {"Foo_Bar[x,Y]~=1.0", "foo-bar[x,y]~=1.0"},
        {"tinypkg", "tinypkg"},
        {"T", "t"},
        {"9", "9"},
        {"Zope.Interface", "zope-interface"},
        {"a-_.-b", "a-b"},
        {"A__B..C--D", "a-b-c-d"},
        {"requests >= 2.0 , < 3", "requests>=2.0,<3"},
        {"pandas [ performance , Excel ]", "pandas[excel,performance]"},
        {"pkg[b,a,B,a_x,A.X]", "pkg[a,a-x,b]"},
        {"pkg[z]==1", "pkg[z]==1"},
        {"pkg===1.0-weird_Thing", "pkg===1.0-weird_Thing"},
        {"pkg!=1.3.*", "pkg!=1.3.*"},
        {"pkg<=2,>=1,!=1.5", "pkg<=2,>=1,!=1.5"},
        {"pkg>1!2.0+local.7", "pkg>1!2.0+local.7"},
        {"pkg<3.0rc1", "pkg<3.0rc1"},
        {"pkg == 1.0", "pkg==1.0"},
        {"pkg.whl", "pkg-whl"},
    };
    for (size_t i = 0; i < RX_ARRAY_SIZE(good); i++) {
        char *out = NULL;
        const char *why = NULL;
        int r = job_spec_requirement_normalise(good[i][0], strlen(good[i][0]), &out, &why);
        if (!ok(r == 0 && out && strcmp(out, good[i][1]) == 0, "requirement \"%s\" -> \"%s\"",
                good[i][0], good[i][1]))
            diag("  got %s (%s)", out ? out : "NULL", why ? why : "");
        free(out);
    }

    static const char *const bad[][2] = {
        {"", "empty"},
        {"https://example.com/x.whl", "URL"},
        {"git+https://github.com/a/b", "URL"},
        {"file:///tmp/x", "URL"},
        {"./pkg", "path"},
        {"pkg\\x", "path"},
        {"../x", "path"},
        {"numpy @ https://x/numpy.whl", "direct reference (@)"},
        {"numpy@1", "direct reference (@)"},
        {"numpy; python_version<\"3.8\"", "environment marker (;)"},
        {"numpy;", "environment marker (;)"},
        {"-e .", "pip option"},
        {"--index-url=https://evil", "pip option"},
        {"-r", "pip option"},
        {"-", "pip option"},
        {"numpy --pre", "pip option"},
        {"numpy\t==1", "control character"},
        {"numpy\n", "control character"},
        {"numpy\r", "control character"},
        {"numpy\x7f", "control character"},
        {"n\xc3\xbcmpy", "not ASCII"},
        {" numpy", "space"},
        {"numpy ", "space"},
        {"numpy  ==1", "two spaces"},
        {"_numpy", "does not start"},
        {"[x]", "does not start"},
        {"==1.0", "does not start"},
        {"numpy_", "does not end"},
        {"numpy.", "does not end"},
        {"numpy[]", "extra"},
        {"numpy[x", "not closed"},
        {"numpy[x,]", "extra"},
        {"numpy[_x]", "extra"},
        {"numpy[x]]", "version specifier"},
        {"numpy 1.0", "version specifier"},
        {"numpy (>=1.0)", "may not hold"},
        {"numpy#x", "may not hold"},
        {"numpy==$X", "may not hold"},
        {"numpy=1.0", "single ="},
        {"numpy~1.0", "version specifier"},
        {"numpy==", "without a version"},
        {"numpy>=", "without a version"},
        {"numpy>=1,", "comma"},
        {"numpy>=1,,<2", "version specifier"},
        {"numpy>=1 <2", "comma"},
        {"numpy==1.0[x]", "comma or the end"},
        {"numpy==.1", "start with a letter or digit"},
        {"numpy==-1", "start with a letter or digit"},
        {"numpy==*", "start with a letter or digit"},
        {"numpy>=1.*", "trailing .*"},
        {"numpy===1.*", "trailing .*"},
        {"numpy==1*", "trailing .*"},
        {"numpy==1.*.2", "trailing .*"},
        {"numpy==1.0.whl", "file name"},
        {"numpy==1.0.tar.gz", "file name"},
        {"numpy==1.0.ZIP", "file name"},
    };
    for (size_t i = 0; i < RX_ARRAY_SIZE(bad); i++) {
        char *out = NULL;
        const char *why = NULL;
        int r = job_spec_requirement_normalise(bad[i][0], strlen(bad[i][0]), &out, &why);
        if (!ok(r < 0 && out == NULL && why && strstr(why, bad[i][1]),
                "requirement \"%s\" refused: %s", bad[i][0], bad[i][1]))
            diag("  got %s / %s", out ? out : "NULL", why ? why : "no reason");
        free(out);
    }
    char *out = NULL;
    const char *why = NULL;
    ok(job_spec_requirement_normalise("numpy\0x", 7, &out, &why) < 0 && out == NULL &&
           strstr(why, "control character"),
       "a NUL inside is seen (the length is the string's)");
    ok(job_spec_requirement_normalise("numpyx", 5, &out, &why) == 0 && strcmp(out, "numpy") == 0,
       "only len bytes are read");
    free(out);
    char longreq[LIMIT_REQUIREMENT_BYTES + 2];
    memset(longreq, 'a', sizeof(longreq));
    out = NULL;
    ok(job_spec_requirement_normalise(longreq, LIMIT_REQUIREMENT_BYTES, &out, &why) == 0 && out &&
           strlen(out) == LIMIT_REQUIREMENT_BYTES,
       "a requirement of %d bytes is accepted", LIMIT_REQUIREMENT_BYTES);
    free(out);
    out = NULL;
    ok(job_spec_requirement_normalise(longreq, LIMIT_REQUIREMENT_BYTES + 1, &out, &why) < 0 &&
           out == NULL && strstr(why, "longer than 200"),
       "one of %d bytes is refused", LIMIT_REQUIREMENT_BYTES + 1);

    /* The same set in any order is the same list, in normal form. */
    struct rx_error *err = NULL;
    struct job_spec *a = parse("{\"command\":[\"true\"],\"requirements\":[\"Scipy>=1.10, <2\","
                               "\"numpy==1.24.*\",\"pandas[Performance]\",\"Foo_Bar[x,Y]~=1.0\"]}",
                               &err);
    struct job_spec *b = parse("{\"command\":[\"true\"],\"requirements\":[\"Foo_Bar[Y,x] ~= 1.0\","
                               "\"pandas[performance]\",\"scipy >= 1.10,<2\",\"NumPy==1.24.*\"]}",
                               &err);
    ok(a && b && a->n_requirements == 4 && b->n_requirements == 4, "two orders of one set parse");
    if (a && b && a->n_requirements == 4 && b->n_requirements == 4) {
        static const char *const want[] = {"foo-bar[x,y]~=1.0", "numpy==1.24.*",
                                           "pandas[performance]", "scipy>=1.10,<2"};
        for (size_t i = 0; i < 4; i++)
            ok(strcmp(a->requirements[i], want[i]) == 0 && strcmp(b->requirements[i], want[i]) == 0,
               "requirements[%zu] is %s in both", i, want[i]);
        ok(a->requirements[4] == NULL, "the list is NULL-terminated");
        ok(job_spec_has(a, "requirements"), "job_spec_has(requirements) when given");
    }
    job_spec_free(a);
    job_spec_free(b);
    rx_error_free(&err);

    a = parse("{\"command\":[\"true\"]}", &err);
    ok(a && a->requirements == NULL && a->n_requirements == 0 && !job_spec_has(a, "requirements"),
       "no requirements by default");
    job_spec_free(a);
    a = parse("{\"command\":[\"true\"],\"requirements\":[]}", &err);
    ok(a && a->requirements == NULL && a->n_requirements == 0 && job_spec_has(a, "requirements"),
       "an empty array: given, none");
    job_spec_free(a);

    /* Limits and errors as the job sees them. */
    struct printbuf *pb = printbuf_new();
    sprintbuf(pb, "{\"command\":[\"true\"],\"requirements\":[");
    for (int i = 0; i < LIMIT_JOB_REQUIREMENTS; i++)
        sprintbuf(pb, "%s\"pkg%d\"", i ? "," : "", i);
    sprintbuf(pb, "]}");
    a = parse(pb->buf, &err);
    ok(a && a->n_requirements == LIMIT_JOB_REQUIREMENTS, "%d requirements accepted",
       LIMIT_JOB_REQUIREMENTS);
    job_spec_free(a);
    printbuf_free(pb);
    a = parse("{\"command\":[\"true\"],\"requirements\":[\"numpy\",\"pandas\",\"numpy @ "
              "https://x\"]}",
              &err);
    ok(a == NULL && err && err->kind == RX_ERR_REJECTED &&
           strcmp(err->msg, "`requirements[2]` \"numpy @ https://x\": a direct reference (@) is "
                            "not allowed: give a name and version specifiers") == 0,
       "the error names the field, the index and the entry (%s)", err ? err->msg : "accepted");
    rx_error_free(&err);
    a = parse("{\"command\":[\"true\"],\"requirements\":[\"a\\u001b[2Jb\\\"c\"]}", &err);
    ok(a == NULL && err && strstr(err->msg, "\"a\\x1b[2Jb\\\"c\""),
       "an entry's control bytes and quotes are escaped in the error (%s)",
       err ? err->msg : "accepted");
    rx_error_free(&err);
    a = parse("{\"command\":[\"true\"],\"requirements\":[\"Foo.Bar\",\"foo_bar>=1\"]}", &err);
    ok(a == NULL && err && strstr(err->msg, "`requirements[1]`") &&
           strstr(err->msg, "names the package foo-bar again"),
       "names equal once normalised are duplicates (%s)", err ? err->msg : "accepted");
    rx_error_free(&err);
    a = parse("{\"command\":[\"true\"],\"requirements\":[\"foo\",\"foobar\",\"foo-bar\"]}", &err);
    ok(a && a->n_requirements == 3, "a name that begins another is not a duplicate");
    job_spec_free(a);
    rx_error_free(&err);
}

int
main(void)
{
    corpus();
    defaults();
    sizes();
    paths();
    big_fields();
    requirements();
    return done_testing();
}
