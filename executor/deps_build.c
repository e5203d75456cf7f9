/* SPDX-License-Identifier: MIT */
#include "executor/deps_build.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include <uuid/uuid.h>
#include <string.h>

#include "executor/docker_container.h"
#include "executor/docker_image.h"
#include "executor/limits.h"
#include "executor/rx_buf.h"
#include "executor/rx_json.h"
#include "executor/rx_util.h"

/* How often a job waiting for another's build looks again. */
#define DEPS_WAIT_POLL_MS 500
/* A lock container outlives its build by this much before the sweep (or
 * a waiting job) may take it for a crashed builder's. */
#define DEPS_LOCK_GRACE_S 60

/* One preparation's state, shared by its steps. */
struct prep {
    struct docker_client *dc;
    const struct deps_policy *p;
    const char *owner;
    const char *queue;
    char *lock_id; /* the lock container, while this process holds it */
    enum deps_cause cause;
    char *const *reqs;
    size_t n;
    char runtime_id[160];
    char pip_id[160];
    char *key;
    char tag[33];
    char name[64];
    char lock[64];
    long long give_up_ms; /* when waiting for another's build ends */
};

/* An image's id, or an error naming what is missing. */
static int
image_id(struct prep *s, const char *name, const char *what, char out[160], struct rx_error **err)
{
    cleanup_json struct json_object *o = docker_image_inspect(s->dc, name, err);
    const char *id = rx_json_get_str(o, "Id");
    if (o == NULL || id == NULL || strlen(id) >= 160) {
        int st = *err ? (*err)->http_status : 0;
        rx_error_free(err);
        return rx_error_set(err, ENOENT, "requirements: %s %s is not on the engine%s", what, name,
                            st == 404 && strcmp(what, "the installer image") == 0
                                ? " (make images builds it)"
                                : "");
    }
    snprintf(out, 160, "%s", id);
    return 0;
}

/* 1 when the deps image exists and holds our key (its tag renewed), 0
 * when it does not exist, -1 on error. */
static int
find_image(struct prep *s, struct rx_error **err)
{
    struct rx_error *e = NULL;
    cleanup_json struct json_object *o = docker_image_inspect(s->dc, s->name, &e);
    if (o == NULL) {
        if (e != NULL && e->http_status == 404) {
            rx_error_free(&e);
            return 0;
        }
        *err = e;
        return -1;
    }
    const char *key =
        rx_json_get_str(rx_json_get(rx_json_get(o, "Config"), "Labels"), DEPS_LABEL_KEY);
    if (key == NULL || strcmp(key, s->key) != 0)
        return rx_error_set(err, EEXIST,
                            "requirements: %s exists but was not built for this set (its %s label "
                            "differs): remove it",
                            s->name, DEPS_LABEL_KEY);
    /* The tag's time is what least recently used is judged by. */
    if (docker_image_tag(s->dc, s->name, DEPS_IMAGE_REPO, s->tag, err) < 0)
        return -1;
    return 1;
}

/* Who builds, as the lock's ralph.deps-builder label: HOST/PIDNS/PID,
 * the pid namespace (its inode) telling processes of two containers that
 * share a host name apart. */
static char *
builder_id(void)
{
    char host[256] = "", ns[64] = "";
    gethostname(host, sizeof(host) - 1);
    ssize_t n = readlink("/proc/self/ns/pid", ns, sizeof(ns) - 1);
    ns[n > 0 ? n : 0] = '\0';
    return xasprintf("%s/%s/%ld", host, ns, (long)getpid());
}

/* Whether a lock's builder is a process of this host and pid namespace
 * that is gone: its build ended with it (the engine stops a build whose
 * client went away).  Another's lock waits for its deadline, or for the
 * sweep of a worker that finds its owner gone. */
static bool
builder_gone(const char *theirs)
{
    cleanup_free char *mine = builder_id();
    const char *a = strrchr(mine, '/'), *b = theirs ? strrchr(theirs, '/') : NULL;
    if (b == NULL || a - mine != b - theirs || strncmp(mine, theirs, (size_t)(a - mine)) != 0)
        return false;
    char *end = NULL;
    long long pid = strtoll(b + 1, &end, 10);
    if (end == b + 1 || *end != '\0' || pid <= 1 || pid > INT_MAX)
        return false;
    return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

/* 1 when this process now holds the build lock, 0 when another does, -1
 * on error.  A lock past its deadline is a crashed builder's: removed. */
static int
take_lock(struct prep *s, struct rx_error **err)
{
    cleanup_json struct json_object *body = json_object_new_object();
    json_object_object_add(body, "Image", json_object_new_string(s->pip_id));
    cleanup_json struct json_object *cmd = json_object_new_array();
    json_object_array_add(cmd, json_object_new_string("true"));
    json_object_object_add(body, "Cmd", json_object_get(cmd));
    json_object_object_add(body, "NetworkDisabled", json_object_new_boolean(true));
    struct json_object *labels = json_object_new_object();
    long long deadline = rx_wall_s() + (s->p->timeout_ms + 999) / 1000 + DEPS_LOCK_GRACE_S;
    cleanup_free char *dl = xasprintf("%lld", deadline);
    cleanup_free char *me = builder_id();
    char run[37];
    uuid_t u;
    uuid_generate_random(u);
    uuid_unparse_lower(u, run);
    /* As a job's container: the sweep judges it by owner, queue and
     * deadline; a lost create reply is cleaned up by its run label. */
    json_object_object_add(labels, "ralph.owner", json_object_new_string(s->owner));
    if (s->queue != NULL)
        json_object_object_add(labels, "ralph.queue", json_object_new_string(s->queue));
    json_object_object_add(labels, "ralph.run", json_object_new_string(run));
    json_object_object_add(labels, "ralph.deadline", json_object_new_string(dl));
    json_object_object_add(labels, "ralph.deps-lock", json_object_new_string(s->tag));
    json_object_object_add(labels, "ralph.deps-builder", json_object_new_string(me));
    json_object_object_add(body, "Labels", labels);
    struct json_object *hc = json_object_new_object();
    json_object_object_add(hc, "NetworkMode", json_object_new_string("none"));
    json_object_object_add(body, "HostConfig", hc);
    struct rx_error *e = NULL;
    s->lock_id = docker_container_create(s->dc, s->lock, body, &e);
    if (s->lock_id != NULL)
        return 1;
    if (e == NULL || e->http_status != 409) {
        *err = e;
        rx_error_prefix(err, "requirements: build lock %s", s->lock);
        return -1;
    }
    rx_error_free(&e);
    cleanup_json struct json_object *held = docker_container_inspect(s->dc, s->lock, &e);
    rx_error_free(&e);
    struct json_object *labels_held = rx_json_get(rx_json_get(held, "Config"), "Labels");
    const char *their = rx_json_get_str(labels_held, "ralph.deadline");
    const char *held_id = rx_json_get_str(held, "Id");
    /* A crashed builder's: removed by its id (the name may be a new
     * builder's by now), and the next round takes it. */
    if (held_id != NULL && ((their != NULL && strtoll(their, NULL, 10) < rx_wall_s()) ||
                            builder_gone(rx_json_get_str(labels_held, "ralph.deps-builder"))))
        docker_container_remove(s->dc, held_id, NULL);
    return 0;
}

/* The installer stage's images a build left (the classic builder keeps
 * them as its cache): the wheels would stay on the engine's disk, unbounded
 * by max_deps_images, and a later build of the set would reuse them instead
 * of asking the index.  Removed, never forced; a failure leaves cache. */
static void
drop_stage_images(struct prep *s)
{
    cleanup_free char *label = xasprintf("%s=%s", DEPS_LABEL_STAGE, s->tag);
    struct rx_error *e = NULL;
    cleanup_json struct json_object *list = docker_image_list_labelled(s->dc, label, &e);
    rx_error_free(&e);
    /* Newest first: each removal takes its untagged parents with it. */
    for (size_t i = 0; list != NULL && i < json_object_array_length(list); i++) {
        const char *id = rx_json_get_str(json_object_array_get_idx(list, i), "Id");
        if (id != NULL && docker_image_remove(s->dc, id, &e) < 0)
            rx_error_free(&e);
    }
}

static void
drop_lock(struct prep *s)
{
    if (s->lock_id != NULL)
        docker_container_remove(s->dc, s->lock_id, NULL);
    free(steal_pointer(&s->lock_id));
}

/* Build the image under the lock. */
static int
build(struct prep *s, struct rx_error **err)
{
    cleanup_buf struct rx_buf ctx;
    rx_buf_init(&ctx, LIMIT_DEPS_CONTEXT_BYTES);
    if (deps_context(s->tag, s->runtime_id, s->pip_id, s->p, s->reqs, s->n, &ctx, err) < 0)
        return -1;
    cleanup_json struct json_object *labels = json_object_new_object();
    json_object_object_add(labels, DEPS_LABEL_KEY, json_object_new_string(s->key));
    json_object_object_add(labels, "io.ralph-exec.image", json_object_new_string("deps"));
    cleanup_free char *t = docker_http_escape(s->name);
    cleanup_free char *l = docker_http_escape(rx_json_compact(labels));
    cleanup_free char *net = docker_http_escape(s->p->network ? s->p->network : "bridge");
    /* The build's containers get limits too (they are outside any worker's
     * memory budget): LIMIT_DEPS_BUILD_MEMORY, no swap, one CPU. */
    cleanup_free char *query =
        xasprintf("t=%s&labels=%s&networkmode=%s&rm=1&forcerm=1&memory=%lld&memswap=%lld"
                  "&cpuperiod=100000&cpuquota=100000",
                  t, l, net, LIMIT_DEPS_BUILD_MEMORY, LIMIT_DEPS_BUILD_MEMORY);
    cleanup_buf struct rx_buf log;
    rx_buf_init(&log, 0);
    bool cut = false;
    if (docker_image_build(s->dc, query, ctx.data, ctx.len, (long)s->p->timeout_ms, &log, &cut,
                           err) < 0) {
        if ((*err)->code == ETIMEDOUT) {
            s->cause = DEPS_CAUSE_BUILD;
            rx_error_free(err);
            return rx_error_set(err, ETIMEDOUT,
                                "requirements: the build took longer than requirements_timeout "
                                "(%lld s)",
                                s->p->timeout_ms / 1000);
        }
        rx_error_prefix(err, "requirements");
        return -1;
    }
    struct deps_outcome o;
    deps_stream_parse(log.data ? log.data : "", log.len, cut, &o);
    s->cause = DEPS_CAUSE_BUILD; /* the set, the index or the build, not the engine */
    int r = o.built ? 0 : deps_failure(&o, s->p, err);
    deps_outcome_free(&o);
    return r;
}

int
deps_prepare(struct docker_client *dc, const struct deps_request *req, const struct deps_policy *p,
             char **image, bool *built, enum deps_cause *cause, struct rx_error **err)
{
    struct prep s = {.dc = dc,
                     .p = p,
                     .owner = req->owner ? req->owner : "ralph-exec",
                     .queue = req->queue,
                     .reqs = req->reqs,
                     .n = req->n,
                     .cause = DEPS_CAUSE_IMAGE};
    *built = false;
    *cause = DEPS_CAUSE_IMAGE;
    if (image_id(&s, req->runtime, "the job's image", s.runtime_id, err) < 0)
        return -1;
    s.cause = DEPS_CAUSE_ENGINE;
    if (image_id(&s, p->pip_image, "the installer image", s.pip_id, err) < 0) {
        *cause = s.cause;
        return -1;
    }
    s.key = deps_key(s.runtime_id, s.pip_id, p, s.reqs, s.n);
    deps_tag(s.key, s.tag);
    snprintf(s.name, sizeof(s.name), "%s:%s", DEPS_IMAGE_REPO, s.tag);
    snprintf(s.lock, sizeof(s.lock), "ralph-deps-lock-%s", s.tag);
    s.give_up_ms = rx_now_ms() + p->timeout_ms + DEPS_LOCK_GRACE_S * 1000ll;
    int r;
    for (;;) {
        r = find_image(&s, err);
        if (r != 0)
            break;
        r = take_lock(&s, err);
        if (r < 0)
            break;
        if (r == 1) {
            /* Another may have finished between our look and our lock. */
            r = find_image(&s, err);
            if (r == 0 && (r = build(&s, err)) == 0) {
                *built = true;
                r = find_image(&s, err);
                if (r == 0)
                    r = rx_error_set(err, EPROTO,
                                     "requirements: the build succeeded but %s is not there",
                                     s.name);
            }
            drop_stage_images(&s);
            drop_lock(&s);
            break;
        }
        if (docker_http_cancelled(dc->http)) {
            r = rx_error_set(err, ECANCELED, "requirements: cancelled while waiting for a build");
            (*err)->kind = RX_ERR_CANCELLED;
            break;
        }
        if (rx_now_ms() > s.give_up_ms) {
            s.cause = DEPS_CAUSE_BUILD;
            r = rx_error_set(err, ETIMEDOUT,
                             "requirements: another build of this set (%s) did not finish within "
                             "requirements_timeout (%lld s)",
                             s.lock, p->timeout_ms / 1000);
            break;
        }
        rx_sleep_ms(DEPS_WAIT_POLL_MS);
    }
    free(s.key);
    *cause = s.cause;
    if (r < 0)
        return -1;
    *image = xstrdup(s.name);
    return 0;
}

/* One deps image in the listing, with the time its tag was last set. */
struct listed {
    char *name;
    char *used; /* Metadata.LastTagTime, else Created (RFC 3339 sorts as text) */
};

static int
by_use(const void *a, const void *b)
{
    return strcmp(((const struct listed *)a)->used, ((const struct listed *)b)->used);
}

int
deps_prune(struct docker_client *dc, long long max_images, const char *keep, int *removed,
           struct rx_error **err)
{
    *removed = 0;
    cleanup_json struct json_object *list = docker_image_list_labelled(dc, DEPS_LABEL_KEY, err);
    if (list == NULL)
        return -1;
    size_t n = json_object_array_length(list);
    if ((long long)n <= max_images)
        return 0;
    struct listed *l = xcalloc(n, sizeof(*l));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        struct json_object *tags = rx_json_get(json_object_array_get_idx(list, i), "RepoTags");
        const char *name = tags && json_object_is_type(tags, json_type_array)
                               ? json_object_get_string(json_object_array_get_idx(tags, 0))
                               : NULL;
        if (name == NULL || strncmp(name, DEPS_IMAGE_REPO ":", strlen(DEPS_IMAGE_REPO) + 1) != 0)
            continue;
        struct rx_error *e = NULL;
        cleanup_json struct json_object *ins = docker_image_inspect(dc, name, &e);
        rx_error_free(&e);
        const char *t = rx_json_get_str(rx_json_get(ins, "Metadata"), "LastTagTime");
        if (t == NULL || strncmp(t, "0001", 4) == 0)
            t = rx_json_get_str(ins, "Created");
        if (ins == NULL || t == NULL)
            continue;
        l[k].name = xstrdup(name);
        l[k++].used = xstrdup(t);
    }
    qsort(l, k, sizeof(*l), by_use);
    long long over = (long long)k - max_images;
    for (size_t i = 0; i < k && over > 0; i++) {
        if (keep != NULL && strcmp(l[i].name, keep) == 0)
            continue;
        struct rx_error *e = NULL;
        int r = docker_image_remove(dc, l[i].name, &e);
        rx_error_free(&e);
        if (r == 0) {
            (*removed)++;
            over--;
        }
    }
    for (size_t i = 0; i < k; i++) {
        free(l[i].name);
        free(l[i].used);
    }
    free(l);
    return 0;
}
