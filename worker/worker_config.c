/* SPDX-License-Identifier: MIT */
/* Worker configuration: one table of options, shared by the command line and
 * the --config JSON file (redis static_configs style); unknown keys are an
 * error and every value is range-checked. */
#include <ctype.h>
#include <stdbool.h>

#include "executor/rx_json.h"
#include "executor/rx_util.h"
#include "worker/worker.h"

enum opt_type { OPT_STR, OPT_INT, OPT_SECONDS };

static const struct opt {
    const char *name;
    enum opt_type type;
    size_t off;
    long long min, max;
} opts[] = {
    {"queue", OPT_STR, offsetof(struct worker_cfg, queue_url), 0, 0},
    {"worker-id", OPT_STR, offsetof(struct worker_cfg, worker_id), 0, 0},
    {"prefix", OPT_STR, offsetof(struct worker_cfg, prefix), 0, 0},
    {"concurrency", OPT_INT, offsetof(struct worker_cfg, concurrency), 1, WORKER_MAX_CONCURRENCY},
    {"lease", OPT_SECONDS, offsetof(struct worker_cfg, lease_ms), 1, 86400},
    {"heartbeat", OPT_SECONDS, offsetof(struct worker_cfg, heartbeat_ms), 1, 86400},
    {"max-attempts", OPT_INT, offsetof(struct worker_cfg, max_attempts), 1, 1000},
    {"result-ttl", OPT_INT, offsetof(struct worker_cfg, result_ttl_s), 1, 315360000},
    {"max-jobs", OPT_INT, offsetof(struct worker_cfg, max_jobs), 1, 1000000000000ll},
    {"max-runtime", OPT_SECONDS, offsetof(struct worker_cfg, max_runtime_ms), 1, 315360000},
    {"max-infra-errors", OPT_INT, offsetof(struct worker_cfg, max_infra_errors), 1, 1000000},
    {"grace", OPT_SECONDS, offsetof(struct worker_cfg, grace_ms), 0, 86400},
    {"policy", OPT_STR, offsetof(struct worker_cfg, policy_path), 0, 0},
    {"audit", OPT_STR, offsetof(struct worker_cfg, audit_path), 0, 0},
};

void
worker_cfg_defaults(struct worker_cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->concurrency = 2;
    cfg->prefix = xstrdup("ralph");
    cfg->lease_ms = 30000;
    cfg->heartbeat_ms = 0; /* unset: a third of the lease, at most 10 s */
    cfg->max_attempts = 3;
    cfg->result_ttl_s = 86400;
    cfg->max_infra_errors = 5;
    cfg->grace_ms = 30000;
}

void
worker_cfg_free(struct worker_cfg *cfg)
{
    free(cfg->queue_url);
    free(cfg->worker_id);
    free(cfg->prefix);
    free(cfg->policy_path);
    free(cfg->audit_path);
}

static bool
valid_id(const char *s)
{
    if (*s == '\0' || strlen(s) > 100 || !isalnum((unsigned char)*s))
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("._-", *s))
            return false;
    return true;
}

int
worker_cfg_set(struct worker_cfg *cfg, const char *name, const char *value, struct rx_error **err)
{
    const struct opt *o = NULL;
    for (size_t i = 0; i < RX_ARRAY_SIZE(opts); i++)
        if (strcmp(opts[i].name, name) == 0)
            o = &opts[i];
    if (o == NULL)
        return rx_error_reject(err, "unknown option `%s`", name);
    char *field = (char *)cfg + o->off;
    if (o->type == OPT_STR) {
        if (value[0] == '\0')
            return rx_error_reject(err, "`%s` must not be empty", name);
        if ((strcmp(name, "worker-id") == 0 || strcmp(name, "prefix") == 0) && !valid_id(value))
            return rx_error_reject(err, "`%s` must be letters, digits, '.', '_' or '-'", name);
        free(*(char **)field);
        *(char **)field = xstrdup(value);
        return 0;
    }
    char *end = NULL;
    errno = 0;
    double v = strtod(value, &end);
    if (errno != 0 || end == value || *end != '\0' || v < (double)o->min || v > (double)o->max ||
        (o->type == OPT_INT && v != (double)(long long)v))
        return rx_error_reject(err, "`%s` must be a%s number from %lld to %lld, not \"%.40s\"",
                               name, o->type == OPT_INT ? "n integer" : "", o->min, o->max, value);
    if (o->type == OPT_SECONDS)
        *(long long *)field = (long long)(v * 1000);
    else if (o->off == offsetof(struct worker_cfg, concurrency) ||
             o->off == offsetof(struct worker_cfg, max_attempts) ||
             o->off == offsetof(struct worker_cfg, max_infra_errors))
        *(int *)field = (int)v;
    else
        *(long long *)field = (long long)v;
    return 0;
}

int
worker_cfg_from_json(struct worker_cfg *cfg, const char *path, struct rx_error **err)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return rx_error_reject(err, "--config %s: %s", path, strerror(errno));
    char *buf = xmalloc(1 << 20);
    size_t n = fread(buf, 1, 1 << 20, f);
    fclose(f);
    if (n == 1 << 20) {
        free(buf);
        return rx_error_reject(err, "--config %s: larger than 1 MiB", path);
    }
    struct json_object *o = rx_json_parse(buf, n, path, err);
    free(buf);
    if (o == NULL) {
        (*err)->kind = RX_ERR_REJECTED;
        return -1;
    }
    if (!json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return rx_error_reject(err, "--config %s: must be a JSON object", path);
    }
    int r = 0;
    json_object_object_foreach(o, key, val)
    {
        const char *s = json_object_is_type(val, json_type_string) ||
                                json_object_is_type(val, json_type_int) ||
                                json_object_is_type(val, json_type_double)
                            ? json_object_get_string(val)
                            : NULL;
        if (s == NULL) {
            r = rx_error_reject(err, "--config %s: `%s` must be a string or a number", path, key);
            break;
        }
        if (worker_cfg_set(cfg, key, s, err) < 0) {
            rx_error_prefix(err, "--config %s", path);
            r = -1;
            break;
        }
    }
    json_object_put(o);
    return r;
}

int
worker_cfg_check(struct worker_cfg *cfg, struct rx_error **err)
{
    if (cfg->queue_url == NULL)
        return rx_error_reject(err, "--queue is required (dir:PATH or redis://HOST:PORT[/DB])");
    if (cfg->heartbeat_ms == 0)
        cfg->heartbeat_ms = cfg->lease_ms / 3 < 10000 ? (cfg->lease_ms / 3 ? cfg->lease_ms / 3 : 1)
                                                      : 10000;
    if (cfg->heartbeat_ms >= cfg->lease_ms)
        return rx_error_reject(err, "--heartbeat (%lld s) must be shorter than --lease (%lld s)",
                               cfg->heartbeat_ms / 1000, cfg->lease_ms / 1000);
    if (cfg->worker_id == NULL) {
        char host[64] = "host";
        gethostname(host, sizeof(host) - 1);
        for (char *p = host; *p; p++)
            if (!isalnum((unsigned char)*p) && *p != '-')
                *p = '-';
        cfg->worker_id =
            xasprintf("%s-%d-%04x", host, (int)getpid(), (unsigned)(rx_now_ms() & 0xffff));
    }
    return 0;
}
