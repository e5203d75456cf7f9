/* SPDX-License-Identifier: MIT */
#include "executor/deps.h"

#include <string.h>
#include <uuid/uuid.h>

#include "executor/limits.h"
#include "executor/rx_buf.h"
#include "executor/rx_json.h"
#include "executor/rx_util.h"
#include "executor/tar_stream.h"

void
deps_policy_defaults(struct deps_policy *p)
{
    memset(p, 0, sizeof(*p));
    p->mode = DEPS_WHEELS;
    p->network = "bridge";
    p->timeout_ms = DEPS_DEFAULT_TIMEOUT_MS;
    p->max_images = DEPS_DEFAULT_MAX_IMAGES;
    p->pip_image = DEPS_PIP_IMAGE;
}

/* Every name the tags are made under: a fixed namespace of ours. */
static const uuid_t DEPS_NAMESPACE = {0x6b, 0x1e, 0x52, 0x0c, 0x8d, 0x3f, 0x4a, 0x77,
                                      0x9e, 0x21, 0x5a, 0x0d, 0xc4, 0x63, 0x18, 0xb2};

/* Where a URL's "user:password@" is: *start and its length (0: none). */
static size_t
url_credentials(const char *url, const char **start)
{
    const char *host = strstr(url, "://");
    host = host ? host + 3 : url;
    const char *at = memrchr(host, '@', strcspn(host, "/?#"));
    *start = host;
    return at ? (size_t)(at + 1 - host) : 0;
}

/* The index URL without any user:password@ (the key is the image's label,
 * which everyone with the engine's socket reads). */
static char *
index_without_credentials(const char *url)
{
    const char *cred;
    size_t n = url_credentials(url, &cred);
    return xasprintf("%.*s%s", (int)(cred - url), url, cred + n);
}

char *
deps_key(const char *runtime_id, const char *pip_id, const struct deps_policy *p, char *const *reqs,
         size_t n)
{
    struct rx_buf b;
    rx_buf_init(&b, SIZE_MAX / 2);
    cleanup_free char *index = index_without_credentials(p->index_url ? p->index_url : "-");
    cleanup_free char *head = xasprintf("ralph-deps 1\nruntime %s\ninstaller %s\nindex %s\n"
                                        "sdists %s\n",
                                        runtime_id, pip_id, index,
                                        p->mode == DEPS_ANY ? "yes" : "no");
    rx_buf_append(&b, head, strlen(head));
    for (size_t i = 0; i < n; i++) {
        rx_buf_append(&b, "requirement ", 12);
        rx_buf_append(&b, reqs[i], strlen(reqs[i]));
        rx_buf_append(&b, "\n", 1);
    }
    size_t len;
    return rx_buf_steal(&b, &len);
}

void
deps_tag(const char *key, char out[33])
{
    uuid_t u;
    uuid_generate_sha1(u, DEPS_NAMESPACE, key, strlen(key));
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", u[i]);
}

int
deps_context(const char *tag, const char *runtime_id, const char *pip_id,
             const struct deps_policy *p, char *const *reqs, size_t n, struct rx_buf *out,
             struct rx_error **err)
{
    /* The RUN step in exec form, its argv built as JSON: nothing of the
     * policy's URL reaches a shell or the Dockerfile's own syntax. */
    cleanup_json struct json_object *argv = json_object_new_array();
    json_object_array_add(argv, json_object_new_string("ralph-pip-install"));
    if (p->mode != DEPS_ANY)
        json_object_array_add(argv, json_object_new_string("--only-binary=:all:"));
    if (p->index_url != NULL) {
        json_object_array_add(argv, json_object_new_string("--index-url"));
        json_object_array_add(argv, json_object_new_string(p->index_url));
        /* pip ignores a plain-http index (but localhost's) unless told the
         * operator trusts it: naming it in the policy is that trust. */
        if (strncmp(p->index_url, "http://", 7) == 0) {
            cleanup_free char *bare = index_without_credentials(p->index_url);
            const char *host = bare + 7;
            /* host[:port]: an IPv6 literal is [..] with colons inside */
            size_t len = strcspn(host, host[0] == '[' ? "]" : ":/?#");
            len += host[len] == ']';
            json_object_array_add(argv, json_object_new_string("--trusted-host"));
            json_object_array_add(argv, json_object_new_string_len(host, (int)len));
        }
    }
    cleanup_free char *dockerfile =
        xasprintf("# A job's requirements (ralph-exec, executor/deps.c).\n"
                  "FROM %s AS pip\n"
                  "LABEL " DEPS_LABEL_STAGE "=%s\n"
                  "COPY requirements.txt /tmp/ralph-req/requirements.txt\n"
                  "RUN %s\n"
                  "FROM %s\n"
                  "COPY --from=pip --chown=0:0 /out/ /\n",
                  pip_id, tag, rx_json_compact(argv), runtime_id);
    struct rx_buf req;
    rx_buf_init(&req, SIZE_MAX / 2);
    for (size_t i = 0; i < n; i++) {
        rx_buf_append(&req, reqs[i], strlen(reqs[i]));
        rx_buf_append(&req, "\n", 1);
    }
    struct tar_entry_in e[] = {
        {"Dockerfile", dockerfile, strlen(dockerfile), 0644},
        {"requirements.txt", req.data ? req.data : "", req.len, 0644},
    };
    int r = tar_build(e, RX_ARRAY_SIZE(e), 0, 0, out, err);
    rx_buf_free(&req);
    return r;
}

/* Append one line to a bounded text, a newline between lines. */
static void
add_line(char **text, const char *line, size_t len)
{
    size_t have = *text ? strlen(*text) : 0;
    if (have + len + 2 > LIMIT_DEPS_MESSAGE_BYTES)
        return;
    char *t = xrealloc(*text, have + len + 2);
    if (have > 0)
        t[have++] = '\n';
    memcpy(t + have, line, len);
    t[have + len] = '\0';
    *text = t;
}

/* What the installer printed that names a network failure (pip 23: its
 * retry warnings and urllib3's errors).  Each holds a space: what pip echoes
 * of the job's requirements (in their normal form) never does, so a job
 * cannot pass its own failure off as the index's ("x==SSLError"). */
static const char *const NETWORK_WORDS[] = {
    "WARNING: Retrying (",
    "Failed to establish a new connection",
    "Connection refused",
    "Max retries exceeded",
    "Name or service not known",
    "Temporary failure in name resolution",
    "Read timed out",
    "connection broken by",
    "Network is unreachable",
    "Could not fetch URL",
};

/* A copy of s without terminal escapes (the classic builder wraps what a
 * step writes to stderr in ESC[91m ... ESC[0m) or other control bytes
 * but newlines. */
static char *
plain_text(const char *s)
{
    char *out = xmalloc(strlen(s) + 1), *w = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == 0x1b && p[1] == '[') {
            p += 2;
            while (*p && ((*p >= '0' && *p <= '9') || *p == ';'))
                p++;
            if (*p == '\0')
                break;
            continue; /* the final letter */
        }
        if (*p >= 0x20 || *p == '\n')
            *w++ = (char)*p;
    }
    *w = '\0';
    return out;
}

static void
take_stream(struct deps_outcome *o, const char *raw)
{
    cleanup_free char *s = plain_text(raw);
    for (const char *line = s; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        while (len > 0 && line[len - 1] == '\r')
            len--;
        for (size_t i = 0; i < RX_ARRAY_SIZE(NETWORK_WORDS); i++)
            if (memmem(line, len, NETWORK_WORDS[i], strlen(NETWORK_WORDS[i])) != NULL)
                o->network = true;
        if (len >= 6 && memcmp(line, "ERROR:", 6) == 0)
            add_line(&o->installer, line, len);
        if (len >= 18 && memcmp(line, "Successfully built", 18) == 0)
            o->built = true;
        line = end ? end + 1 : line + len;
    }
}

void
deps_stream_parse(const char *log, size_t len, bool cut, struct deps_outcome *o)
{
    memset(o, 0, sizeof(*o));
    const char *p = log, *end = log + len;
    if (cut) { /* the first line is what was left of a longer one */
        const char *nl = memchr(p, '\n', len);
        p = nl ? nl + 1 : end;
    }
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        struct rx_error *e = NULL;
        cleanup_json struct json_object *obj = n > 0 ? rx_json_parse(p, n, "build stream", &e)
                                                     : NULL;
        rx_error_free(&e);
        const char *s = rx_json_get_str(obj, "stream");
        const char *error = rx_json_get_str(obj, "error");
        if (s != NULL)
            take_stream(o, s);
        if (error != NULL) {
            free(o->error);
            o->error = xstrndup(error, LIMIT_DEPS_MESSAGE_BYTES);
            o->built = false;
        }
        p = nl ? nl + 1 : end;
    }
}

void
deps_outcome_free(struct deps_outcome *o)
{
    free(o->error);
    free(o->installer);
    memset(o, 0, sizeof(*o));
}

/* The installer's words that put the fault in the job's requirements. */
static const char *const JOB_FAULT_WORDS[] = {
    "No matching distribution found", "Could not find a version that satisfies",
    "ResolutionImpossible",           "conflicting dependencies",
    "Failed building wheel",          "metadata-generation-failed",
    "subprocess-exited-with-error",   "Invalid requirement",
};

/* text without the index URL's "user:password@" wherever it appears (the
 * engine quotes the RUN step's argv in its error): results and logs reach
 * whoever submitted the job. */
static char *
redact(const char *text, const char *url)
{
    char *out = xstrdup(text);
    const char *cred = NULL;
    size_t n = url != NULL ? url_credentials(url, &cred) : 0;
    for (char *hit; n > 0 && (hit = memmem(out, strlen(out), cred, n)) != NULL;)
        memmove(hit, hit + n, strlen(hit + n) + 1);
    return out;
}

int
deps_failure(const struct deps_outcome *o, const struct deps_policy *p, struct rx_error **err)
{
    cleanup_free char *said = redact(o->installer ? o->installer
                                     : o->error   ? o->error
                                                  : "no reason given",
                                     p->index_url);
    cleanup_free char *engine_said = o->error ? redact(o->error, p->index_url) : NULL;
    cleanup_free char *index = p->index_url ? index_without_credentials(p->index_url) : NULL;
    if (o->network)
        return rx_error_set(err, EHOSTUNREACH,
                            "requirements: the package index could not be reached (%s): %s",
                            index ? index : "pip's default", said);
    bool job_fault = false;
    for (size_t i = 0; i < RX_ARRAY_SIZE(JOB_FAULT_WORDS) && o->installer; i++)
        job_fault = job_fault || strstr(o->installer, JOB_FAULT_WORDS[i]) != NULL;
    if (!job_fault)
        return rx_error_set(err, EIO, "requirements: the deps image could not be built: %s",
                            engine_said ? engine_said : said);
    bool none = strstr(o->installer, "(from versions: none)") != NULL;
    return rx_error_reject(err, "`requirements` could not be installed: %s%s", said,
                           none && p->mode != DEPS_ANY
                               ? " (only wheels are installed: a package or version that "
                                 "exists only as source is refused unless the policy's "
                                 "requirements is \"any\")"
                               : "");
}

bool
deps_retry_create(bool no_image, bool on_deps, int retries)
{
    return no_image && on_deps && retries == 0;
}
