/* SPDX-License-Identifier: MIT */
#include "executor/operator_policy.h"

#include <math.h>
#include <sys/stat.h>

#include "executor/rx_buf.h"
#include "executor/limits.h"
#include "executor/rx_json.h"
#include "executor/rx_util.h"

void
operator_policy_free(struct operator_policy *p)
{
    for (size_t i = 0; i < p->n_images; i++)
        free(p->allowed_images[i]);
    free(p->allowed_images);
    for (size_t i = 0; i < p->n_sandboxes; i++)
        free(p->allowed_sandboxes[i]);
    free(p->allowed_sandboxes);
    free(p->default_sandbox);
    free(p->audit_log);
    free(p->requirements_index_url);
    free(p->source);
    memset(p, 0, sizeof(*p));
}

static int
bad(struct rx_error **err, const char *src, const char *key, const char *what)
{
    return rx_error_reject(err, "policy %s: `%s` %s", src, key, what);
}

static int
strlist(struct json_object *v, const char *src, const char *key, char ***out, size_t *n,
        struct rx_error **err)
{
    if (!json_object_is_type(v, json_type_array))
        return bad(err, src, key, "must be an array of strings");
    size_t len = json_object_array_length(v);
    *out = xcalloc(len + 1, sizeof(char *));
    for (size_t i = 0; i < len; i++) {
        struct json_object *e = json_object_array_get_idx(v, i);
        if (!json_object_is_type(e, json_type_string) || json_object_get_string_len(e) == 0)
            return bad(err, src, key, "must hold only non-empty strings");
        (*out)[i] = xstrdup(json_object_get_string(e));
        *n = i + 1;
    }
    return 0;
}

static int
positive(struct json_object *v, const char *src, const char *key, double *out,
         struct rx_error **err)
{
    if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
        return bad(err, src, key, "must be a number");
    double d = json_object_get_double(v);
    if (!isfinite(d) || d <= 0)
        return bad(err, src, key, "must be more than 0");
    *out = d;
    return 0;
}

static int
bytes(struct json_object *v, const char *src, const char *key, long long *out,
      struct rx_error **err)
{
    if (json_object_is_type(v, json_type_string)) {
        if (job_spec_parse_size(json_object_get_string(v), out) < 0 || *out <= 0)
            return bad(err, src, key, "is not a size (bytes, or like \"256m\")");
        return 0;
    }
    double d;
    if (positive(v, src, key, &d, err) < 0)
        return -1;
    *out = (long long)d;
    return 0;
}

/* [first, last]: the uids jobs run as, one of its own for each job running
 * on an engine.  Never 0, never a system account or a regular user's:
 * above 65535, the end of Debian's ranges (nobody is 65534). */
static int
uid_range(struct json_object *v, const char *src, const char *key, struct operator_policy *p,
          struct rx_error **err)
{
    struct json_object *a = json_object_is_type(v, json_type_array) ? v : NULL;
    struct json_object *f = a && json_object_array_length(a) == 2 ? json_object_array_get_idx(a, 0)
                                                                  : NULL;
    struct json_object *l = f ? json_object_array_get_idx(a, 1) : NULL;
    if (!json_object_is_type(f, json_type_int) || !json_object_is_type(l, json_type_int))
        return bad(err, src, key, "must be [first, last], two integers");
    p->uid_first = json_object_get_int64(f);
    p->uid_last = json_object_get_int64(l);
    if (p->uid_first <= 65535 || p->uid_last < p->uid_first || p->uid_last > 2147483647)
        return bad(err, src, key, "must lie within 65536..2147483647, first <= last");
    return 0;
}

static bool
valid_sandbox(const char *s)
{
    return strcmp(s, "runc") == 0 || strcmp(s, "gvisor") == 0;
}

/* requirements_index_url: an http or https URL with a host, of the
 * characters RFC 3986 allows (so no space, control, quote, backslash or
 * non-ASCII byte), at most LIMIT_POLICY_URL_BYTES. */
static int
index_url(struct json_object *v, const char *src, const char *key, char **out,
          struct rx_error **err)
{
    if (!json_object_is_type(v, json_type_string))
        return bad(err, src, key, "must be a string (an http:// or https:// URL)");
    const char *s = json_object_get_string(v);
    size_t n = (size_t)json_object_get_string_len(v);
    _Static_assert(LIMIT_POLICY_URL_BYTES == 1024, "the message says 1024");
    if (n > LIMIT_POLICY_URL_BYTES)
        return bad(err, src, key, "is longer than 1024 bytes");
    size_t scheme = strncmp(s, "https://", 8) == 0 ? 8 : strncmp(s, "http://", 7) == 0 ? 7 : 0;
    if (scheme == 0)
        return bad(err, src, key, "must start with http:// or https://");
    if (n == scheme || s[scheme] == '/')
        return bad(err, src, key, "must name a host after the scheme");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  (c != '\0' && strchr("-._~:/?#[]@!$&'()*+,;=%", c) != NULL);
        if (!ok)
            return bad(err, src, key,
                       "may hold only the characters of a URL (no space, control character, "
                       "quote, backslash or non-ASCII byte)");
    }
    free(*out);
    *out = xstrndup(s, n);
    return 0;
}

/* An integer in [min, max] (max 0: no maximum). */
static int
integer(struct json_object *v, const char *src, const char *key, long long min, long long max,
        long long *out, struct rx_error **err)
{
    errno = 0;
    long long n = json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : min - 1;
    if (max > 0 && (errno != 0 || n < min || n > max))
        return rx_error_reject(err, "policy %s: `%s` must be an integer from %lld to %lld", src,
                               key, min, max);
    if (errno != 0 || n < min)
        return rx_error_reject(err, "policy %s: `%s` must be an integer of at least %lld", src, key,
                               min);
    *out = n;
    return 0;
}

/* ---- one function per key, then the table ------------------------------
 * Each parses the value v of the key named key (for its messages) into p. */

typedef int (*key_fn)(struct operator_policy *p, struct json_object *v, const char *key,
                      struct rx_error **err);

static int
k_allowed_images(struct operator_policy *p, struct json_object *v, const char *key,
                 struct rx_error **err)
{
    return strlist(v, p->source, key, &p->allowed_images, &p->n_images, err);
}

static int
k_max_timeout(struct operator_policy *p, struct json_object *v, const char *key,
              struct rx_error **err)
{
    double d;
    if (positive(v, p->source, key, &d, err) < 0)
        return -1;
    p->max_timeout_ms = (long long)llround(d * 1000);
    return 0;
}

static int
k_max_memory_limit(struct operator_policy *p, struct json_object *v, const char *key,
                   struct rx_error **err)
{
    return bytes(v, p->source, key, &p->max_memory_bytes, err);
}

static int
k_max_workspace_limit(struct operator_policy *p, struct json_object *v, const char *key,
                      struct rx_error **err)
{
    return bytes(v, p->source, key, &p->max_workspace_bytes, err);
}

static int
k_uid_range(struct operator_policy *p, struct json_object *v, const char *key,
            struct rx_error **err)
{
    return uid_range(v, p->source, key, p, err);
}

static int
k_max_cpu_limit(struct operator_policy *p, struct json_object *v, const char *key,
                struct rx_error **err)
{
    double d;
    if (positive(v, p->source, key, &d, err) < 0)
        return -1;
    p->max_nano_cpus = (long long)llround(d * 1e9);
    return 0;
}

static int
k_max_pids_limit(struct operator_policy *p, struct json_object *v, const char *key,
                 struct rx_error **err)
{
    if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 4)
        return bad(err, p->source, key, "must be an integer of at least 4");
    p->max_pids = json_object_get_int64(v);
    return 0;
}

/* max_output_bytes and max_log_bytes: a size of at most 64 MiB. */
static int
output_cap(struct json_object *v, const char *src, const char *key, size_t *out,
           struct rx_error **err)
{
    long long b;
    if (bytes(v, src, key, &b, err) < 0)
        return -1;
    _Static_assert(LIMIT_POLICY_OUTPUT_MAX == 64ll << 20, "the message says 64 MiB");
    if (b > LIMIT_POLICY_OUTPUT_MAX)
        return bad(err, src, key, "must be at most 64 MiB");
    *out = (size_t)b;
    return 0;
}

static int
k_max_output_bytes(struct operator_policy *p, struct json_object *v, const char *key,
                   struct rx_error **err)
{
    return output_cap(v, p->source, key, &p->max_output_bytes, err);
}

static int
k_max_log_bytes(struct operator_policy *p, struct json_object *v, const char *key,
                struct rx_error **err)
{
    return output_cap(v, p->source, key, &p->max_log_bytes, err);
}

static int
k_allowed_sandboxes(struct operator_policy *p, struct json_object *v, const char *key,
                    struct rx_error **err)
{
    if (strlist(v, p->source, key, &p->allowed_sandboxes, &p->n_sandboxes, err) < 0)
        return -1;
    for (size_t i = 0; i < p->n_sandboxes; i++)
        if (!valid_sandbox(p->allowed_sandboxes[i]))
            return bad(err, p->source, key, "may hold only \"runc\" and \"gvisor\"");
    return 0;
}

static int
k_default_sandbox(struct operator_policy *p, struct json_object *v, const char *key,
                  struct rx_error **err)
{
    if (!json_object_is_type(v, json_type_string) || !valid_sandbox(json_object_get_string(v)))
        return bad(err, p->source, key, "must be \"runc\" or \"gvisor\"");
    free(p->default_sandbox);
    p->default_sandbox = xstrdup(json_object_get_string(v));
    return 0;
}

/* v's string, or "" when it is not a string (matching no keyword). */
static const char *
keyword(struct json_object *v)
{
    return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
}

static int
k_seccomp(struct operator_policy *p, struct json_object *v, const char *key, struct rx_error **err)
{
    const char *s = keyword(v);
    if (strcmp(s, "default") != 0 && strcmp(s, "strict") != 0)
        return bad(err, p->source, key, "must be \"default\" or \"strict\"");
    p->seccomp_strict = strcmp(s, "strict") == 0;
    return 0;
}

static int
k_audit_log(struct operator_policy *p, struct json_object *v, const char *key,
            struct rx_error **err)
{
    if (!json_object_is_type(v, json_type_string) || json_object_get_string(v)[0] != '/')
        return bad(err, p->source, key, "must be an absolute path");
    free(p->audit_log);
    p->audit_log = xstrdup(json_object_get_string(v));
    return 0;
}

static int
k_requirements(struct operator_policy *p, struct json_object *v, const char *key,
               struct rx_error **err)
{
    const char *m = keyword(v);
    if (strcmp(m, "wheels") == 0)
        p->requirements = DEPS_WHEELS;
    else if (strcmp(m, "any") == 0)
        p->requirements = DEPS_ANY;
    else if (strcmp(m, "off") == 0)
        p->requirements = DEPS_OFF;
    else
        return bad(err, p->source, key, "must be \"wheels\", \"any\" or \"off\"");
    return 0;
}

static int
k_requirements_index_url(struct operator_policy *p, struct json_object *v, const char *key,
                         struct rx_error **err)
{
    return index_url(v, p->source, key, &p->requirements_index_url, err);
}

static int
k_requirements_network(struct operator_policy *p, struct json_object *v, const char *key,
                       struct rx_error **err)
{
    const char *m = keyword(v);
    if (strcmp(m, "bridge") == 0)
        p->requirements_network = "bridge";
    else if (strcmp(m, "host") == 0)
        p->requirements_network = "host";
    else
        return bad(err, p->source, key, "must be \"bridge\" or \"host\"");
    return 0;
}

static int
k_requirements_timeout(struct operator_policy *p, struct json_object *v, const char *key,
                       struct rx_error **err)
{
    double d;
    if (positive(v, p->source, key, &d, err) < 0)
        return -1;
    if (d > 3600)
        return bad(err, p->source, key, "must be at most 3600 seconds");
    p->requirements_timeout_ms = llround(d * 1000);
    if (p->requirements_timeout_ms < 1)
        p->requirements_timeout_ms = 1;
    return 0;
}

static int
k_max_requirements(struct operator_policy *p, struct json_object *v, const char *key,
                   struct rx_error **err)
{
    return integer(v, p->source, key, 1, LIMIT_JOB_REQUIREMENTS, &p->max_requirements, err);
}

static int
k_max_deps_images(struct operator_policy *p, struct json_object *v, const char *key,
                  struct rx_error **err)
{
    return integer(v, p->source, key, 1, 0, &p->max_deps_images, err);
}

/* Every key a policy file may hold (docs/deployment.md, "Operator policy"). */
static const struct policy_key {
    const char *name;
    key_fn fn;
} keys[] = {
    {"allowed_images", k_allowed_images},
    {"max_timeout", k_max_timeout},
    {"max_memory_limit", k_max_memory_limit},
    {"max_workspace_limit", k_max_workspace_limit},
    {"uid_range", k_uid_range},
    {"max_cpu_limit", k_max_cpu_limit},
    {"max_pids_limit", k_max_pids_limit},
    {"max_output_bytes", k_max_output_bytes},
    {"max_log_bytes", k_max_log_bytes},
    {"allowed_sandboxes", k_allowed_sandboxes},
    {"default_sandbox", k_default_sandbox},
    {"seccomp", k_seccomp},
    {"audit_log", k_audit_log},
    {"requirements", k_requirements},
    {"requirements_index_url", k_requirements_index_url},
    {"requirements_network", k_requirements_network},
    {"requirements_timeout", k_requirements_timeout},
    {"max_requirements", k_max_requirements},
    {"max_deps_images", k_max_deps_images},
};

/* The document: each key through its parser (unknown keys rejected), then
 * what holds across keys. */
static int
parse_policy(struct json_object *o, struct operator_policy *p, struct rx_error **err)
{
    const char *src = p->source;
    if (!json_object_is_type(o, json_type_object))
        return rx_error_reject(err, "policy %s: must be a JSON object", src);
    json_object_object_foreach(o, key, v)
    {
        size_t i = 0;
        while (i < RX_ARRAY_SIZE(keys) && strcmp(keys[i].name, key) != 0)
            i++;
        if (i == RX_ARRAY_SIZE(keys))
            return rx_error_reject(err, "policy %s: unknown key `%.100s`", src, key);
        if (keys[i].fn(p, v, key, err) < 0)
            return -1;
    }
    bool default_allowed = p->allowed_sandboxes == NULL;
    for (size_t i = 0; i < p->n_sandboxes; i++)
        if (strcmp(p->allowed_sandboxes[i], p->default_sandbox) == 0)
            default_allowed = true;
    if (!default_allowed)
        return rx_error_reject(err, "policy %s: default_sandbox \"%s\" is not in allowed_sandboxes",
                               src, p->default_sandbox);
    return 0;
}

int
operator_policy_load(const char *path, struct operator_policy *p, struct rx_error **err)
{
    memset(p, 0, sizeof(*p));
    p->default_sandbox = xstrdup("runc");
    p->requirements = DEPS_WHEELS;
    p->requirements_network = "bridge";
    p->requirements_timeout_ms = DEPS_DEFAULT_TIMEOUT_MS;
    p->max_requirements = LIMIT_JOB_REQUIREMENTS;
    p->max_deps_images = DEPS_DEFAULT_MAX_IMAGES;
    struct stat st;
    if (path == NULL) {
        if (stat(OPERATOR_POLICY_DEFAULT_PATH, &st) < 0 && errno == ENOENT) {
            p->source = xstrdup("built-in defaults");
            return 0;
        }
        path = OPERATOR_POLICY_DEFAULT_PATH;
    }
    p->source = xstrdup(path);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return rx_error_reject(err, "policy %s: %s", path, strerror(errno));
    struct rx_buf b;
    rx_buf_init(&b, LIMIT_POLICY_FILE_BYTES);
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (rx_buf_append(&b, chunk, n) < 0)
            break;
    fclose(f);
    if (b.overflow) {
        rx_buf_free(&b);
        return rx_error_reject(err, "policy %s: larger than %u MiB", path,
                               LIMIT_POLICY_FILE_BYTES >> 20);
    }
    struct json_object *o = rx_json_parse(b.data ? b.data : "", b.len, path, err);
    rx_buf_free(&b);
    if (o == NULL) {
        (*err)->kind = RX_ERR_REJECTED;
        return rx_error_prefix(err, "policy");
    }
    int r = parse_policy(o, p, err);
    json_object_put(o);
    return r;
}

static bool
image_allowed(const struct operator_policy *p, const char *image)
{
    if (p->allowed_images == NULL)
        return true;
    for (size_t i = 0; i < p->n_images; i++) {
        const char *a = p->allowed_images[i];
        size_t l = strlen(a);
        if (l > 0 && a[l - 1] == '*' ? strncmp(image, a, l - 1) == 0 : strcmp(image, a) == 0)
            return true;
    }
    return false;
}

/* One numeric limit: reject if the job asked for more, lower the default. */
static int
limit(const struct job_spec *job, const char *field, long long *value, long long max,
      const char *pkey, const char *unit, double scale, struct rx_error **err)
{
    if (max <= 0 || *value <= max)
        return 0;
    if (job_spec_has(job, field))
        return rx_error_reject(err, "`%s` %.10g %s is more than the policy allows (%s %.10g %s)",
                               field, *value / scale, unit, pkey, max / scale, unit);
    *value = max;
    return 0;
}

int
operator_policy_apply(const struct operator_policy *p, struct job_spec *job, struct rx_error **err)
{
    if (!image_allowed(p, job->image))
        return rx_error_reject(err,
                               "`runtime` \"%s\" is not an image the policy allows "
                               "(allowed_images)",
                               job->image);
    if (limit(job, "timeout", &job->timeout_ms, p->max_timeout_ms, "max_timeout", "s", 1000, err) <
            0 ||
        limit(job, "memory_limit", &job->memory_bytes, p->max_memory_bytes, "max_memory_limit",
              "bytes", 1, err) < 0 ||
        limit(job, "cpu_limit", &job->nano_cpus, p->max_nano_cpus, "max_cpu_limit", "cores", 1e9,
              err) < 0 ||
        limit(job, "pids_limit", &job->pids_limit, p->max_pids, "max_pids_limit", "processes", 1,
              err) < 0)
        return -1;
    job->workspace_bytes = job_spec_workspace_bytes(job); /* memory_limit is final */
    if (limit(job, "workspace_limit", &job->workspace_bytes, p->max_workspace_bytes,
              "max_workspace_limit", "bytes", 1, err) < 0)
        return -1;
    if (job->sandbox == NULL)
        job->sandbox = xstrdup(p->default_sandbox ? p->default_sandbox : "runc");
    if (p->allowed_sandboxes != NULL) {
        bool ok = false;
        for (size_t i = 0; i < p->n_sandboxes; i++)
            ok = ok || strcmp(p->allowed_sandboxes[i], job->sandbox) == 0;
        if (!ok)
            return rx_error_reject(err,
                                   "`sandbox` \"%s\" is not allowed by the policy "
                                   "(allowed_sandboxes)",
                                   job->sandbox);
    }
    if (job->n_requirements > 0 && p->requirements == DEPS_OFF)
        return rx_error_reject(err, "`requirements`: the operator's policy allows none "
                                    "(requirements \"off\")");
    if (p->max_requirements > 0 && (long long)job->n_requirements > p->max_requirements)
        return rx_error_reject(err,
                               "`requirements` has %zu entries, more than the policy allows "
                               "(max_requirements %lld)",
                               job->n_requirements, p->max_requirements);
    return 0;
}
