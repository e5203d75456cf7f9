/* SPDX-License-Identifier: MIT */
#include "executor/job_spec.h"

#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <sys/stat.h>
#include <uuid/uuid.h>

#include "executor/rx_buf.h"
#include "executor/rx_json.h"
#include "executor/rx_util.h"
#include "executor/task_id.h"

/* ---- small checks ---------------------------------------------------- */

static bool
has_nul(const char *s, size_t len)
{
    return memchr(s, '\0', len) != NULL;
}

int
job_spec_parse_size(const char *s, long long *out)
{
    if (s == NULL || *s == '\0' || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s)
        return -1;
    unsigned long long mult = 1;
    if (*end != '\0') {
        switch (tolower((unsigned char)*end)) {
        case 'b': mult = 1; break;
        case 'k': mult = 1ull << 10; break;
        case 'm': mult = 1ull << 20; break;
        case 'g': mult = 1ull << 30; break;
        default: return -1;
        }
        end++;
        /* Accept "256m", "256mb", "256mib" but nothing else after it. */
        if (mult > 1 && (*end == 'i' || *end == 'I'))
            end++;
        if (mult > 1 && (*end == 'b' || *end == 'B'))
            end++;
        if (*end != '\0')
            return -1;
    }
    if (v > (unsigned long long)LLONG_MAX / mult)
        return -1;
    *out = (long long)(v * mult);
    return 0;
}

int
job_spec_check_path(const char *p, size_t len, const char **why)
{
    if (len == 0)
        return *why = "is empty", -1;
    _Static_assert(LIMIT_JOB_PATH_BYTES == 1024, "the message says 1024");
    if (len > LIMIT_JOB_PATH_BYTES)
        return *why = "is longer than 1024 bytes", -1;
    if (p[0] == '/')
        return *why = "is absolute (paths are relative to the workspace)", -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == 0)
            return *why = "contains a NUL byte", -1;
        if (c < 0x20 || c == 0x7f)
            return *why = "contains a control character", -1;
        if (c == '\\')
            return *why = "contains a backslash", -1;
    }
    /* Walk the components. */
    size_t start = 0;
    bool first = true;
    while (start <= len) {
        const char *slash = memchr(p + start, '/', len - start);
        size_t end = slash ? (size_t)(slash - p) : len;
        size_t clen = end - start;
        if (clen == 0)
            return *why = "has an empty component (\"//\" or a trailing \"/\")", -1;
        if (clen > 255)
            return *why = "has a component longer than 255 bytes", -1;
        if (clen == 1 && p[start] == '.')
            return *why = "has a \".\" component", -1;
        if (clen == 2 && p[start] == '.' && p[start + 1] == '.')
            return *why = "has a \"..\" component", -1;
        if (first && clen == strlen(JOB_RESERVED_DIR) &&
            memcmp(p + start, JOB_RESERVED_DIR, clen) == 0)
            return *why = "is inside the reserved directory .ralph/", -1;
        first = false;
        if (slash == NULL)
            break;
        start = end + 1;
    }
    return 0;
}

static bool
valid_image(const char *s, size_t len)
{
    if (len == 0 || len > LIMIT_IMAGE_NAME_BYTES || !isalnum((unsigned char)s[0]))
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && !strchr("._-/:@+", c))
            return false;
    }
    return true;
}

static bool
valid_env_key(const char *s)
{
    if (*s == '\0' || strlen(s) > 256 || !(isalpha((unsigned char)*s) || *s == '_'))
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_')
            return false;
    return true;
}

static const char *
type_name(struct json_object *v)
{
    switch (json_object_get_type(v)) {
    case json_type_null: return "null";
    case json_type_boolean: return "a boolean";
    case json_type_double:
    case json_type_int: return "a number";
    case json_type_object: return "an object";
    case json_type_array: return "an array";
    case json_type_string: return "a string";
    }
    return "something else";
}

/* A JSON string that holds no NUL byte, at most max bytes. */
static int
get_plain_string(struct json_object *v, const char *field, size_t max, const char **out,
                 size_t *len, struct rx_error **err)
{
    if (!json_object_is_type(v, json_type_string))
        return rx_error_reject(err, "`%s` must be a string, not %s", field, type_name(v));
    const char *s = json_object_get_string(v);
    size_t n = (size_t)json_object_get_string_len(v);
    if (n > max)
        return rx_error_reject(err, "`%s` is %zu bytes, more than the %zu allowed", field, n, max);
    if (has_nul(s, n))
        return rx_error_reject(err, "`%s` contains a NUL byte", field);
    *out = s;
    if (len != NULL)
        *len = n;
    return 0;
}

static int
get_number(struct json_object *v, const char *field, double *out, struct rx_error **err)
{
    if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
        return rx_error_reject(err, "`%s` must be a number, not %s", field, type_name(v));
    double d = json_object_get_double(v);
    if (!isfinite(d))
        return rx_error_reject(err, "`%s` must be a finite number", field);
    *out = d;
    return 0;
}

/* An integer, or a size string for byte fields. */
static int
get_bytes(struct json_object *v, const char *field, long long min, long long max, long long *out,
          struct rx_error **err)
{
    long long b;
    if (json_object_is_type(v, json_type_int)) {
        errno = 0;
        b = json_object_get_int64(v);
        if (errno != 0)
            return rx_error_reject(err, "`%s` is out of range", field);
    } else if (json_object_is_type(v, json_type_string)) {
        if (job_spec_parse_size(json_object_get_string(v), &b) < 0)
            return rx_error_reject(err,
                                   "`%s`: \"%.40s\" is not a size (use bytes, or a number "
                                   "with k, m or g, like \"256m\")",
                                   field, json_object_get_string(v));
    } else {
        return rx_error_reject(err,
                               "`%s` must be a size in bytes or a string like \"256m\", "
                               "not %s",
                               field, type_name(v));
    }
    if (b < min || b > max)
        return rx_error_reject(err, "`%s` is %lld bytes, outside the allowed range %lld..%lld",
                               field, b, min, max);
    *out = b;
    return 0;
}

/* ---- one handler per field (the field table) ------------------------ */

typedef int (*field_fn)(struct job_spec *job, struct json_object *v, struct rx_error **err);

static int
f_task_id(struct job_spec *job, struct json_object *v, struct rx_error **err)
{
    const char *s;
    size_t n;
    if (get_plain_string(v, "task_id", LIMIT_TASK_ID_BYTES, &s, &n, err) < 0)
        return -1;
    if (!task_id_valid(s, n))
        return rx_error_reject(err, "`task_id` must be 1-128 characters of letters, digits, "
                                    "'.', '_', '-' or ':', starting with a letter or digit");
    job->task_id = xstrdup(s);
    return 0;
}

static int
f_code(struct job_spec *job, struct json_object *v, struct rx_error **err)
{
    const char *s;
    size_t n;
    if (get_plain_string(v, "code", LIMIT_JOB_CODE_BYTES, &s, &n, err) < 0)
        return -1;
    if (n == 0)
        return rx_error_reject(err, "`code` is empty");
    job->code = xstrndup(s, n);
    job->code_len = n;
    return 0;
}

static int
f_inputs(struct job_spec *job, struct json_object *v, struct rx_error **err)
{
    const char *s = v == NULL ? "null" : rx_json_compact(v);
    size_t n = strlen(s);
    if (n > LIMIT_JOB_INPUTS_BYTES)
        return rx_error_reject(err, "`inputs` is %zu bytes as JSON, more than the %u allowed", n,
                               LIMIT_JOB_INPUTS_BYTES);
    job->inputs_json = xstrdup(s);
    return 0;
}

static int
f_command(struct job_spec *job, struct json_object *v, struct rx_error **err)
{
    if (!json_object_is_type(v, json_type_array))
        return rx_error_reject(err, "`command` must be an array of strings, not %s", type_name(v));
    size_t n = json_object_array_length(v);
    if (n == 0)
        return rx_error_reject(err, "`command` is empty");
    if (n > LIMIT_JOB_ARGS)
        return rx_error_reject(err, "`command` has %zu arguments, more than the %d allowed", n,
                               LIMIT_JOB_ARGS);
    job->command = xcalloc(n + 1, sizeof(char *));
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        char field[32];
        snprintf(field, sizeof(field), "command[%zu]", i);
        const char *s;
        size_t len;
        if (get_plain_string(json_object_array_get_idx(v, i), field, LIMIT_JOB_ARG_BYTES, &s, &len,
                             err) < 0)
            return -1;
        if (i == 0 && len == 0)
            return rx_error_reject(err, "`command[0]` (the program) is empty");
        total += len + 1;
        if (total > LIMIT_JOB_ARGV_BYTES)
            return rx_error_reject(err, "`command` is more than %u bytes in all",
                                   LIMIT_JOB_ARGV_BYTES);
        job->command[i] = xstrndup(s, len);
        job->n_command = i + 1;
    }
    return 0;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One entry of `files`: its path checked, its text copied into the next of
 * job->files (allocated for every entry). */
static int
add_file(struct job_spec *job, const char *path, struct json_object *val, struct rx_error **err)
{
    const char *why = NULL;
    if (job_spec_check_path(path, strlen(path), &why) < 0)
        return rx_error_reject(err, "`files`: path \"%.100s\" %s", path, why);
    if (!json_object_is_type(val, json_type_string))
        return rx_error_reject(err, "`files[\"%.100s\"]` must be a string, not %s", path,
                               type_name(val));
    struct job_file *f = &job->files[job->n_files++];
    f->path = xstrdup(path);
    f->len = (size_t)json_object_get_string_len(val);
    f->content = xmalloc(f->len + 1);
    memcpy(f->content, json_object_get_string(val), f->len + 1);
    return 0;
}

/* No path in `files` has more than LIMIT_JOB_PATH_DEPTH directories above it. */
static int
check_depth(const struct job_spec *job, struct rx_error **err)
{
    for (size_t i = 0; i < job->n_files; i++) {
        const char *p = job->files[i].path;
        size_t depth = 0;
        for (const char *s = strchr(p, '/'); s != NULL; s = strchr(s + 1, '/'))
            if (++depth > LIMIT_JOB_PATH_DEPTH)
                return rx_error_reject(err,
                                       "`files`: path \"%.100s\" is more than %d "
                                       "directories deep",
                                       p, LIMIT_JOB_PATH_DEPTH);
    }
    return 0;
}

/* A directory a path implies: the path's first len bytes (before a '/'). */
struct dir_ref {
    const char *path;
    size_t len;
};

/* Orders dir_refs as strcmp orders the directories' names. */
static int
cmp_dir_ref(const void *a, const void *b)
{
    const struct dir_ref *x = a, *y = b;
    int c = memcmp(x->path, y->path, x->len < y->len ? x->len : y->len);
    return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

/* How many distinct directories the paths in `files` imply ("a/b/c" implies
 * "a" and "a/b"). */
static size_t
implied_dirs(const struct job_spec *job)
{
    size_t n = 0, cap = 16;
    cleanup_free struct dir_ref *dirs = xcalloc(cap, sizeof(*dirs));
    for (size_t i = 0; i < job->n_files; i++) {
        const char *path = job->files[i].path;
        for (const char *s = strchr(path, '/'); s != NULL; s = strchr(s + 1, '/')) {
            if (n == cap)
                dirs = xrealloc(dirs, (cap *= 2) * sizeof(*dirs));
            dirs[n++] = (struct dir_ref){path, (size_t)(s - path)};
        }
    }
    qsort(dirs, n, sizeof(*dirs), cmp_dir_ref);
    size_t distinct = 0;
    for (size_t i = 0; i < n; i++)
        distinct += i == 0 || cmp_dir_ref(&dirs[i], &dirs[i - 1]) != 0;
    return distinct;
}

/* One path must not be a directory prefix of another ("a" and "a/b"). */
static int
check_no_file_is_dir(const struct job_spec *job, struct rx_error **err)
{
    for (size_t i = 0; i < job->n_files; i++) {
        for (size_t j = 0; j < job->n_files; j++) {
            const char *a = job->files[i].path, *b = job->files[j].path;
            size_t la = strlen(a);
            if (i != j && strncmp(a, b, la) == 0 && b[la] == '/')
                return rx_error_reject(err,
                                       "`files`: \"%.100s\" is both a file and the "
                                       "directory of \"%.100s\"",
                                       a, b);
        }
    }
    return 0;
}

static int
f_files(struct job_spec *job, struct json_object *v, struct rx_error **err)
{
    if (!json_object_is_type(v, json_type_object))
        return rx_error_reject(err, "`files` must be an object mapping paths to text, not %s",
                               type_name(v));
    size_t n = (size_t)json_object_object_length(v);
    if (n > LIMIT_JOB_FILES)
        return rx_error_reject(err, "`files` has %zu entries, more than the %d allowed", n,
                               LIMIT_JOB_FILES);
    job->files = xcalloc(n ? n : 1, sizeof(*job->files));
    json_object_object_foreach(v, key, val)
    {
        if (add_file(job, key, val, err) < 0)
            return -1;
    }
    /* The directories the paths imply are entries too: bound them, and the
     * depth, so a small job cannot make a huge tree. */
    if (check_depth(job, err) < 0)
        return -1;
    size_t dirs = implied_dirs(job);
    if (dirs > LIMIT_JOB_FILES)
        return rx_error_reject(err, "`files` implies %zu directories, more than the %d allowed",
                               dirs, LIMIT_JOB_FILES);
    return check_no_file_is_dir(job, err);
}

static int
f_stdin(struct job_spec *job, struct json_object *v, struct rx_error **err)
{
    if (!json_object_is_type(v, json_type_string))
        return rx_error_reject(err, "`stdin` must be a string, not %s", type_name(v));
    size_t n = (size_t)json_object_get_string_len(v);
    if (n > LIMIT_JOB_STDIN_BYTES)
        return rx_error_reject(err, "`stdin` is %zu bytes, more than the %u allowed", n,
                               LIMIT_JOB_STDIN_BYTES);
    job->stdin_data = xmalloc(n + 1);
    memcpy(job->stdin_data, json_object_get_string(v), n + 1);
    job->stdin_len = n;
    return 0;
}

static int
f_runtime(struct job_spec *job, struct json_object *v, struct rx_error **err)
{
    const char *s;
    size_t n;
    if (get_plain_string(v, "runtime", LIMIT_IMAGE_NAME_BYTES, &s, &n, err) < 0)
        return -1;
    if (!valid_image(s, n))
        return rx_error_reject(err,
                               "`runtime` \"%.100s\" is not an image reference "
                               "(letters, digits and ._-/:@+ only)",
                               s);
    free(job->image);
    job->image = xstrdup(s);
    return 0;
}

static int
f_timeout(struct job_spec *job, struct json_object *v, struct rx_error **err)
{
    double d;
    if (get_number(v, "timeout", &d, err) < 0)
        return -1;
    if (d <= 0 || d > 86400)
        return rx_error_reject(err, "`timeout` must be more than 0 and at most 86400 seconds");
    job->timeout_ms = (long long)llround(d * 1000.0);
    if (job->timeout_ms < 1)
        job->timeout_ms = 1;
    return 0;
}

static int
f_memory(struct job_spec *job, struct json_object *v, struct rx_error **err)
{
    /* The engine refuses less than 6 MiB. */
    return get_bytes(v, "memory_limit", LIMIT_JOB_MEMORY_MIN, LIMIT_JOB_MEMORY_MAX,
                     &job->memory_bytes, err);
}

static int
f_workspace(struct job_spec *job, struct json_object *v, struct rx_error **err)
{
    return get_bytes(v, "workspace_limit", LIMIT_JOB_WORKSPACE_MIN, LIMIT_JOB_MEMORY_MAX,
                     &job->workspace_bytes, err);
}

long long
job_spec_workspace_bytes(const struct job_spec *job)
{
    return job->workspace_bytes > 0 ? job->workspace_bytes : job->memory_bytes / 2;
}

/* The inodes the job's input takes in the workspace: its files, every
 * directory above them, the root, .ralph and a code job's two files. */
static long long
input_inodes(const struct job_spec *job)
{
    return (long long)job->n_files + (long long)implied_dirs(job) + 4;
}

/* What the workspace's tmpfs may take beyond a file's own bytes: its last
 * page, partly used, is held whole.  An allowance in the check below, not
 * a cap (those are in limits.h). */
#define WORKSPACE_FILE_ROUNDING 4096

int
job_spec_check_workspace(const struct job_spec *job, struct rx_error **err)
{
    long long ws = job_spec_workspace_bytes(job);
    if (ws > job->memory_bytes)
        return rx_error_reject(err,
                               "`workspace_limit` %lld bytes is more than `memory_limit` %lld "
                               "bytes: the workspace is held in the job's memory",
                               ws, job->memory_bytes);
    /* What goes in before the job runs, with room for tmpfs's own rounding
     * to pages (a page per file: a code job's job.py and inputs.json, each
     * of `files`): a job whose input cannot fit is told so now, not by the
     * engine's ENOSPC. */
    long long in = 0;
    if (job->kind == JOB_CODE)
        in = (long long)(job->code_len + strlen(job->inputs_json)) + 2 * WORKSPACE_FILE_ROUNDING;
    for (size_t i = 0; i < job->n_files; i++)
        in += (long long)job->files[i].len + WORKSPACE_FILE_ROUNDING;
    if (in > ws)
        return rx_error_reject(err,
                               "the job's files come to %lld bytes in the workspace, more than "
                               "its `workspace_limit` (%lld bytes)",
                               in, ws);
    long long inodes = input_inodes(job);
    if (inodes > ws / LIMIT_WORKSPACE_BYTES_PER_INODE)
        return rx_error_reject(err,
                               "the job's files and their directories take %lld inodes, more than "
                               "its `workspace_limit` (%lld bytes) gives (one per %d bytes)",
                               inodes, ws, LIMIT_WORKSPACE_BYTES_PER_INODE);
    return 0;
}

static int
f_fsize(struct job_spec *job, struct json_object *v, struct rx_error **err)
{
    return get_bytes(v, "file_size_limit", LIMIT_JOB_FSIZE_MIN, LIMIT_JOB_FSIZE_MAX,
                     &job->file_size_bytes, err);
}

static int
f_cpu(struct job_spec *job, struct json_object *v, struct rx_error **err)
{
    double d;
    if (get_number(v, "cpu_limit", &d, err) < 0)
        return -1;
    if (d < 0.01 || d > 1024)
        return rx_error_reject(err, "`cpu_limit` must be between 0.01 and 1024 cores");
    job->nano_cpus = (long long)llround(d * 1e9);
    return 0;
}

static int
f_pids(struct job_spec *job, struct json_object *v, struct rx_error **err)
{
    if (!json_object_is_type(v, json_type_int))
        return rx_error_reject(err, "`pids_limit` must be an integer, not %s", type_name(v));
    errno = 0;
    long long n = json_object_get_int64(v);
    /* The engine reads 0 or less as "unlimited": never send that. */
    if (errno != 0 || n < LIMIT_JOB_PIDS_MIN || n > LIMIT_JOB_PIDS_MAX)
        return rx_error_reject(err, "`pids_limit` must be between %d and %d", LIMIT_JOB_PIDS_MIN,
                               LIMIT_JOB_PIDS_MAX);
    job->pids_limit = n;
    return 0;
}

static int
f_env(struct job_spec *job, struct json_object *v, struct rx_error **err)
{
    if (!json_object_is_type(v, json_type_object))
        return rx_error_reject(err, "`env` must be an object of strings, not %s", type_name(v));
    size_t n = (size_t)json_object_object_length(v);
    if (n > LIMIT_JOB_ENV)
        return rx_error_reject(err, "`env` has %zu entries, more than the %d allowed", n,
                               LIMIT_JOB_ENV);
    job->env = xcalloc(n + 1, sizeof(char *));
    json_object_object_foreach(v, key, val)
    {
        if (!valid_env_key(key))
            return rx_error_reject(err,
                                   "`env`: \"%.100s\" is not a valid variable name "
                                   "(letters, digits and _, not starting with a digit)",
                                   key);
        char field[300];
        snprintf(field, sizeof(field), "env.%s", key);
        const char *s;
        if (get_plain_string(val, field, LIMIT_JOB_ENV_VALUE_BYTES, &s, NULL, err) < 0)
            return -1;
        job->env[job->n_env++] = xasprintf("%s=%s", key, s);
    }
    return 0;
}

static int
f_output_path(struct job_spec *job, struct json_object *v, struct rx_error **err)
{
    const char *s;
    size_t n;
    if (get_plain_string(v, "output_path", LIMIT_JOB_PATH_BYTES, &s, &n, err) < 0)
        return -1;
    const char *why = NULL;
    if (job_spec_check_path(s, n, &why) < 0)
        return rx_error_reject(err, "`output_path` \"%.100s\" %s", s, why);
    free(job->output_path);
    job->output_path = xstrdup(s);
    return 0;
}

static int
f_sandbox(struct job_spec *job, struct json_object *v, struct rx_error **err)
{
    const char *s;
    if (get_plain_string(v, "sandbox", 16, &s, NULL, err) < 0)
        return -1;
    if (strcmp(s, "runc") != 0 && strcmp(s, "gvisor") != 0)
        return rx_error_reject(err, "`sandbox` must be \"runc\" or \"gvisor\", not \"%.20s\"", s);
    free(job->sandbox);
    job->sandbox = xstrdup(s);
    return 0;
}

/* ---- requirements: a strict subset of PEP 508 ------------------------ */

static bool
ascii_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool
name_char(unsigned char c)
{
    return ascii_alnum(c) || c == '.' || c == '_' || c == '-';
}

static bool
version_char(unsigned char c)
{
    return ascii_alnum(c) || (c != '\0' && strchr(".*+!_-", c) != NULL);
}

/* The length of the name at s[i..len): a letter or digit, then letters,
 * digits and "._-", ending in a letter or digit.  0 when there is none or it
 * ends badly. */
static size_t
scan_name(const char *s, size_t len, size_t i)
{
    if (i >= len || !ascii_alnum((unsigned char)s[i]))
        return 0;
    size_t j = i;
    while (j < len && name_char((unsigned char)s[j]))
        j++;
    return ascii_alnum((unsigned char)s[j - 1]) ? j - i : 0;
}

/* Append s[0..n) to o at *k as a PEP 503 name: lower case, each run of
 * "-_." one "-". */
static void
put_name(char *o, size_t *k, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '-' || c == '_' || c == '.') {
            if (o[*k - 1] != '-')
                o[(*k)++] = '-';
        } else {
            o[(*k)++] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        }
    }
}

/* pip takes a requirement ending like an archive for a file name
 * (pip/_internal/req/constructors.py, _get_url_from_path; pip 23). */
static bool
archive_suffix(const char *s, size_t n)
{
    static const char *const sfx[] = {".whl", ".zip",    ".tar", ".tar.gz", ".tgz",    ".tar.bz2",
                                      ".tbz", ".tar.xz", ".txz", ".tlz",    ".tar.lz", ".tar.lzma"};
    for (size_t i = 0; i < RX_ARRAY_SIZE(sfx); i++) {
        size_t l = strlen(sfx[i]);
        if (n >= l && strncasecmp(s + n - l, sfx[i], l) == 0)
            return true;
    }
    return false;
}

/* The operators, longest first so that "===" is not read as "==" and "=". */
static const char *const req_ops[] = {"===", "==", "!=", "<=", ">=", "~=", "<", ">"};

#define REQ_OPS "(==, !=, <=, >=, ~=, ===, < or >)"
#define REQ_GIVE "give a name and version specifiers"

/* The checks on the whole string, before its grammar: each kind of thing a
 * requirement is not (an option, a reference, a URL, a path) is named. */
static const char *
req_precheck(const char *s, size_t len)
{
    if (len == 0)
        return "is empty";
    _Static_assert(LIMIT_REQUIREMENT_BYTES == 200, "the message says 200");
    if (len > LIMIT_REQUIREMENT_BYTES)
        return "is longer than 200 bytes";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return "contains a control character (a tab, a newline, a NUL...)";
        if (c >= 0x80)
            return "contains a byte that is not ASCII";
    }
    if (s[0] == '-')
        return "is a pip option (it starts with -): only requirements are allowed; " REQ_GIVE;
    if (memmem(s, len, " -", 2) != NULL)
        return "contains a pip option (a word starting with -): " REQ_GIVE;
    if (memchr(s, '@', len) != NULL)
        return "a direct reference (@) is not allowed: " REQ_GIVE;
    if (memchr(s, ';', len) != NULL)
        return "an environment marker (;) is not allowed: " REQ_GIVE;
    if (memmem(s, len, "://", 3) != NULL)
        return "is a URL: only names from the operator's index are allowed; " REQ_GIVE;
    if (memchr(s, '/', len) != NULL || memchr(s, '\\', len) != NULL)
        return "is a path: only names from the operator's index are allowed; " REQ_GIVE;
    for (size_t i = 0; i < len; i++)
        if (!name_char((unsigned char)s[i]) && strchr(" [],=!<>~*+", s[i]) == NULL)
            return "contains a character a requirement may not hold (only letters, digits, "
                   "single spaces and . _ - [ ] , = ! < > ~ * +)";
    if (s[0] == ' ' || s[len - 1] == ' ')
        return "starts or ends with a space";
    if (memmem(s, len, "  ", 2) != NULL)
        return "has two spaces in a row";
    return NULL;
}

/* Past the one space req_precheck allows between two tokens, if there. */
static void
skip_space(const char *s, size_t len, size_t *i)
{
    if (*i < len && s[*i] == ' ')
        (*i)++;
}

static int
cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A requirement being read, part by part: s[i..len) is still to read,
 * o[0..k) is its normal form so far.  The normal form is never longer than
 * the string: runs of "-_." shrink, spaces and repeated extras go. */
struct req_scan {
    const char *s;
    size_t len, i;
    char o[LIMIT_REQUIREMENT_BYTES + 1];
    size_t k;
    bool extras; /* it had [extras] (for the specifiers' messages) */
};

/* The package name, normalised, and the space after it.  Each part
 * returns NULL, or a static reason the requirement is refused. */
static const char *
req_name(struct req_scan *r)
{
    size_t n = scan_name(r->s, r->len, 0);
    if (n == 0)
        return ascii_alnum((unsigned char)r->s[0])
                   ? "has a name that does not end with a letter or digit"
                   : "does not start with a package name (a letter or digit)";
    put_name(r->o, &r->k, r->s, n);
    r->i = n;
    skip_space(r->s, r->len, &r->i);
    return NULL;
}

/* [extras], if there: each extra normalised into scratch, then sorted,
 * unique and joined. */
static const char *
req_extras(struct req_scan *r)
{
    const char *s = r->s;
    size_t len = r->len, i = r->i;
    if (i >= len || s[i] != '[')
        return NULL;
    char scratch[LIMIT_REQUIREMENT_BYTES + 1];
    const char *ex[LIMIT_REQUIREMENT_BYTES / 2 + 1];
    size_t nex = 0, sk = 0;
    i++;
    for (;;) {
        skip_space(s, len, &i);
        size_t m = scan_name(s, len, i);
        if (m == 0)
            return "has an extra that is not a name (letters, digits and . _ -, "
                   "starting and ending with a letter or digit)";
        ex[nex++] = scratch + sk;
        put_name(scratch, &sk, s + i, m);
        scratch[sk++] = '\0';
        i += m;
        skip_space(s, len, &i);
        if (i < len && s[i] == ',') {
            i++;
            continue;
        }
        if (i < len && s[i] == ']')
            break;
        return "has extras that are not closed by ] (expected , or ])";
    }
    i++;
    qsort(ex, nex, sizeof(ex[0]), cmp_cstr);
    r->o[r->k++] = '[';
    for (size_t e = 0; e < nex; e++) {
        if (e > 0 && strcmp(ex[e], ex[e - 1]) == 0)
            continue;
        if (e > 0)
            r->o[r->k++] = ',';
        size_t l = strlen(ex[e]);
        memcpy(r->o + r->k, ex[e], l);
        r->k += l;
    }
    r->o[r->k++] = ']';
    r->extras = true;
    r->i = i;
    skip_space(s, len, &r->i);
    return NULL;
}

/* The operator at s[i..len), or NULL. */
static const char *
req_op(const char *s, size_t len, size_t i)
{
    for (size_t q = 0; q < RX_ARRAY_SIZE(req_ops); q++)
        if (len - i >= strlen(req_ops[q]) && memcmp(s + i, req_ops[q], strlen(req_ops[q])) == 0)
            return req_ops[q];
    return NULL;
}

/* One version specifier: an operator and its version (first: the first
 * of them, for the message when there is no operator). */
static const char *
req_specifier(struct req_scan *r, bool first)
{
    const char *s = r->s;
    size_t len = r->len;
    const char *op = req_op(s, len, r->i);
    if (op == NULL) {
        if (s[r->i] == '=')
            return "has a single = where == is meant";
        if (first && !r->extras)
            return "after the name, expected [extras] or a version specifier " REQ_OPS;
        if (first)
            return "after the extras, expected a version specifier " REQ_OPS;
        return "after a comma, expected a version specifier " REQ_OPS;
    }
    size_t ol = strlen(op);
    r->i += ol;
    skip_space(s, len, &r->i);
    size_t v = r->i, i = r->i;
    while (i < len && version_char((unsigned char)s[i]))
        i++;
    if (i == v)
        return "has an operator without a version after it";
    if (!ascii_alnum((unsigned char)s[v]))
        return "has a version that does not start with a letter or digit";
    const char *star = memchr(s + v, '*', i - v);
    bool eq = strcmp(op, "==") == 0 || strcmp(op, "!=") == 0;
    if (star != NULL && (star != s + i - 1 || s[i - 2] != '.' || !eq))
        return "has a * that is not the trailing .* of a == or != version";
    memcpy(r->o + r->k, op, ol);
    r->k += ol;
    memcpy(r->o + r->k, s + v, i - v);
    r->k += i - v;
    r->i = i;
    return NULL;
}

/* The version specifiers to the end, comma-separated, in the order given. */
static const char *
req_specifiers(struct req_scan *r)
{
    for (bool first = true; r->i < r->len; first = false) {
        const char *why = req_specifier(r, first);
        if (why != NULL)
            return why;
        skip_space(r->s, r->len, &r->i);
        if (r->i == r->len)
            break;
        if (r->s[r->i] != ',')
            return "after a version, expected a comma or the end";
        r->o[r->k++] = ',';
        r->i++;
        skip_space(r->s, r->len, &r->i);
        if (r->i == r->len)
            return "ends with a comma";
    }
    return NULL;
}

int
job_spec_requirement_normalise(const char *s, size_t len, char **out, const char **why)
{
    struct req_scan r = {.s = s, .len = len};
    if ((*why = req_precheck(s, len)) != NULL || (*why = req_name(&r)) != NULL ||
        (*why = req_extras(&r)) != NULL || (*why = req_specifiers(&r)) != NULL)
        return -1;
    if (archive_suffix(r.o, r.k))
        return *why = "ends like a file name (.whl, .zip, .tar.gz...): " REQ_GIVE, -1;
    *out = xstrndup(r.o, r.k);
    return 0;
}

/* The package a normal form names: its leading name. */
static size_t
req_name_len(const char *norm)
{
    return strspn(norm, "abcdefghijklmnopqrstuvwxyz0123456789-");
}

/* A requirement as an error shows it: printable ASCII, quotes and
 * backslashes escaped, other bytes as \xNN, at most about 100 characters. */
static void
show_entry(const char *s, size_t len, char *buf, size_t size)
{
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (k + 8 >= size) {
            memcpy(buf + k, "...", 3);
            k += 3;
            break;
        }
        if (c == '"' || c == '\\')
            k += (size_t)snprintf(buf + k, size - k, "\\%c", c);
        else if (c == '\n')
            k += (size_t)snprintf(buf + k, size - k, "\\n");
        else if (c == '\t')
            k += (size_t)snprintf(buf + k, size - k, "\\t");
        else if (c < 0x20 || c >= 0x7f)
            k += (size_t)snprintf(buf + k, size - k, "\\x%02x", c);
        else
            buf[k++] = (char)c;
    }
    buf[k] = '\0';
}

static int
f_requirements(struct job_spec *job, struct json_object *v, struct rx_error **err)
{
    if (!json_object_is_type(v, json_type_array))
        return rx_error_reject(err, "`requirements` must be an array of strings, not %s",
                               type_name(v));
    size_t n = json_object_array_length(v);
    if (n > LIMIT_JOB_REQUIREMENTS)
        return rx_error_reject(err, "`requirements` has %zu entries, more than the %d allowed", n,
                               LIMIT_JOB_REQUIREMENTS);
    if (n == 0)
        return 0;
    job->requirements = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        struct json_object *e = json_object_array_get_idx(v, i);
        if (!json_object_is_type(e, json_type_string))
            return rx_error_reject(err, "`requirements[%zu]` must be a string, not %s", i,
                                   type_name(e));
        const char *s = json_object_get_string(e);
        size_t len = (size_t)json_object_get_string_len(e);
        char shown[112];
        const char *why = NULL;
        char *norm = NULL;
        if (job_spec_requirement_normalise(s, len, &norm, &why) < 0) {
            show_entry(s, len, shown, sizeof(shown));
            return rx_error_reject(err, "`requirements[%zu]` \"%s\": %s", i, shown, why);
        }
        size_t nl = req_name_len(norm);
        for (size_t j = 0; j < i; j++) {
            const char *other = job->requirements[j];
            if (req_name_len(other) == nl && memcmp(other, norm, nl) == 0) {
                show_entry(s, len, shown, sizeof(shown));
                free(norm);
                return rx_error_reject(err,
                                       "`requirements[%zu]` \"%s\": names the package %.*s again "
                                       "(as `requirements[%zu]` does): give each package once",
                                       i, shown, (int)nl, other, j);
            }
        }
        job->requirements[i] = norm;
        job->n_requirements = i + 1;
    }
    /* One set, one list: the order the job gave them in does not matter. */
    qsort(job->requirements, n, sizeof(char *), cmp_str);
    return 0;
}

static const struct field {
    const char *name;
    field_fn fn;
} fields[] = {
    {"task_id", f_task_id},
    {"code", f_code},
    {"inputs", f_inputs},
    {"command", f_command},
    {"files", f_files},
    {"stdin", f_stdin},
    {"runtime", f_runtime},
    {"timeout", f_timeout},
    {"memory_limit", f_memory},
    {"cpu_limit", f_cpu},
    {"pids_limit", f_pids},
    {"file_size_limit", f_fsize},
    {"workspace_limit", f_workspace},
    {"env", f_env},
    {"output_path", f_output_path},
    {"requirements", f_requirements},
    {"sandbox", f_sandbox},
};

bool
job_spec_has(const struct job_spec *job, const char *field)
{
    for (size_t i = 0; i < RX_ARRAY_SIZE(fields); i++)
        if (strcmp(fields[i].name, field) == 0)
            return (job->set & (1u << i)) != 0;
    return false;
}

/* ---- the whole document ---------------------------------------------- */

void
job_spec_free(struct job_spec *job)
{
    if (job == NULL)
        return;
    free(job->task_id);
    free(job->code);
    free(job->inputs_json);
    for (size_t i = 0; job->command && job->command[i]; i++)
        free(job->command[i]);
    free(job->command);
    free(job->stdin_data);
    for (size_t i = 0; i < job->n_files; i++) {
        free(job->files[i].path);
        free(job->files[i].content);
    }
    free(job->files);
    free(job->image);
    for (size_t i = 0; job->env && job->env[i]; i++)
        free(job->env[i]);
    free(job->env);
    free(job->output_path);
    free(job->sandbox);
    for (size_t i = 0; i < job->n_requirements; i++)
        free(job->requirements[i]);
    free(job->requirements);
    free(job);
}

struct job_spec *
job_spec_from_json(struct json_object *doc, struct rx_error **err)
{
    if (!json_object_is_type(doc, json_type_object))
        return rx_error_reject(err, "a job must be a JSON object, not %s", type_name(doc)), NULL;

    cleanup_job_spec struct job_spec *job = xcalloc(1, sizeof(*job));
    job->image = xstrdup(JOB_SPEC_DEFAULT_IMAGE);
    job->timeout_ms = (long long)(JOB_SPEC_DEFAULT_TIMEOUT_S * 1000);
    job->memory_bytes = JOB_SPEC_DEFAULT_MEMORY;
    job->nano_cpus = (long long)(JOB_SPEC_DEFAULT_CPU * 1e9);
    job->pids_limit = JOB_SPEC_DEFAULT_PIDS;
    job->file_size_bytes = JOB_SPEC_DEFAULT_FSIZE;
    job->output_path = xstrdup(JOB_SPEC_DEFAULT_OUTPUT);

    json_object_object_foreach(doc, key, val)
    {
        size_t i = 0;
        while (i < RX_ARRAY_SIZE(fields) && strcmp(fields[i].name, key) != 0)
            i++;
        if (i == RX_ARRAY_SIZE(fields))
            return rx_error_reject(err, "unknown field `%.100s`", key), NULL;
        if (fields[i].fn(job, val, err) < 0)
            return NULL;
        job->set |= 1u << i;
    }

    bool has_code = job->code != NULL, has_cmd = job->command != NULL;
    if (has_code == has_cmd)
        return rx_error_reject(err, "a job needs exactly one of `code` (Python defining "
                                    "calculate(inputs)) or `command` (an array of strings)"),
               NULL;
    if (has_code) {
        job->kind = JOB_CODE;
        if (job->stdin_data != NULL)
            return rx_error_reject(err, "`stdin` goes with `command`, not with `code`"), NULL;
        if (job->inputs_json == NULL)
            job->inputs_json = xstrdup("null");
    } else {
        job->kind = JOB_COMMAND;
        if (job->inputs_json != NULL)
            return rx_error_reject(err, "`inputs` goes with `code`, not with `command` "
                                        "(use `files` or `stdin`)"),
                   NULL;
    }
    for (size_t i = 0; i < job->n_files; i++)
        if (strcmp(job->files[i].path, job->output_path) == 0)
            return rx_error_reject(err, "`files` must not contain the output file \"%s\"",
                                   job->output_path),
                   NULL;

    if (job->task_id == NULL) {
        uuid_t u;
        char s[37];
        uuid_generate_random(u);
        uuid_unparse_lower(u, s);
        job->task_id = xstrdup(s);
        job->task_id_generated = true;
    }
    return steal_pointer(&job);
}

/* The top-level field whose value holds byte `off` of a job document (for
 * errors found in the raw text); NULL when none.  Caller frees. */
static char *
field_at(const char *p, size_t n, size_t off)
{
    int depth = 0;
    size_t key = 0, key_len = 0;
    bool have_key = false;
    for (size_t i = 0; i < n && i < off; i++) {
        char c = p[i];
        if (c == '"') {
            size_t start = i + 1;
            for (i++; i < n && p[i] != '"'; i++)
                if (p[i] == '\\')
                    i++;
            size_t k = i + 1;
            while (k < n && strchr(" \t\r\n", p[k]) != NULL)
                k++;
            if (depth == 1 && k < n && p[k] == ':') {
                key = start;
                key_len = i - start;
                have_key = true;
            }
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return have_key ? xstrndup(p + key, key_len) : NULL;
}

int
job_spec_check_size(size_t len, struct rx_error **err)
{
    if (len > LIMIT_JOB_BYTES)
        return rx_error_reject(err, "the job is %zu bytes, more than the %u allowed", len,
                               LIMIT_JOB_BYTES);
    return 0;
}

struct job_spec *
job_spec_parse(const char *data, size_t len, char **task_id_out, struct rx_error **err)
{
    if (job_spec_check_size(len, err) < 0)
        return NULL;
    cleanup_json struct json_object *doc = rx_json_parse(data, len, "job", err);
    if (doc == NULL) {
        (*err)->kind = RX_ERR_REJECTED;
        const char *at = strstr((*err)->msg, "JSON at byte ");
        at = at ? at + 5 : NULL;
        if ((*err)->code == ERANGE && at != NULL) {
            cleanup_free char *field = field_at(data, len, strtoull(at + 8, NULL, 10));
            if (field != NULL)
                rx_error_prefix(err, "`%.100s`", field);
        }
        return NULL;
    }
    struct job_spec *job = job_spec_from_json(doc, err);
    if (job == NULL && task_id_out != NULL) {
        /* Judged by its whole length: "victim\u0000junk" is not "victim". */
        struct json_object *t = rx_json_get(doc, "task_id");
        if (t != NULL && json_object_is_type(t, json_type_string) &&
            task_id_valid(json_object_get_string(t), (size_t)json_object_get_string_len(t)))
            *task_id_out = xstrdup(json_object_get_string(t));
    }
    return job;
}

int
job_spec_read(const char *path, char **bytes, size_t *len, struct rx_error **err)
{
    cleanup_close int fd = -1;
    if (strcmp(path, "-") == 0) {
        fd = dup(STDIN_FILENO);
    } else {
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    }
    if (fd < 0)
        return rx_error_reject(err, "cannot open job file %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
        return rx_error_reject(err, "job file %s is a directory", path);
    cleanup_buf struct rx_buf b;
    rx_buf_init(&b, LIMIT_JOB_BYTES);
    if (rx_buf_read_fd(&b, fd) < 0)
        return rx_error_reject(err, "cannot read job file %s: %s", path, strerror(errno));
    if (b.overflow)
        return rx_error_reject(err, "job file %s is more than %u bytes", path, LIMIT_JOB_BYTES);
    *bytes = rx_buf_steal(&b, len);
    if (*bytes == NULL)
        *bytes = xstrdup("");
    return 0;
}

struct job_spec *
job_spec_load(const char *path, char **task_id_out, struct rx_error **err)
{
    cleanup_free char *bytes = NULL;
    size_t len = 0;
    if (job_spec_read(path, &bytes, &len, err) < 0)
        return NULL;
    struct job_spec *job = job_spec_parse(bytes, len, task_id_out, err);
    if (job == NULL)
        rx_error_prefix(err, "%s", strcmp(path, "-") == 0 ? "job on stdin" : path);
    return job;
}
