/* SPDX-License-Identifier: MIT */
/* Worker configuration: one table of options, shared by the command line and
 * the --config JSON file (redis static_configs style); unknown keys are an
 * error and every value is range-checked. */
#include <ctype.h>
#include <stdbool.h>

#include "executor/job_spec.h"
#include "executor/limits.h"
#include "executor/rx_json.h"
#include "executor/rx_util.h"
#include "worker/mem_budget.h"
#include "worker/worker.h"

/* What an option's value is, and so what type its field has: OPT_STR a
 * char * (owned), OPT_INT an int, OPT_LLONG a long long, OPT_SECONDS a long
 * long of milliseconds given in (fractional) seconds, OPT_BUDGET a long long
 * of bytes given as a size like a job's memory_limit ("512m"), or "off" (or
 * 0: MEM_BUDGET_OFF) or "auto" (MEM_BUDGET_UNKNOWN). */
enum opt_type { OPT_STR, OPT_INT, OPT_LLONG, OPT_SECONDS, OPT_BUDGET };

/* The offset of worker_cfg's FIELD, which must be of type T: a field of
 * another type is a compile error (the redis config table's typed
 * create*Config entries, checked with _Generic). */
#define CFG_FIELD(field, T)                                                            \
    (offsetof(struct worker_cfg, field) +                                              \
     0 * sizeof(struct {                                                               \
         _Static_assert(_Generic(((struct worker_cfg *)0)->field, T : 1, default : 0), \
                        "worker_cfg." #field " is not of type " #T);                   \
         char c;                                                                       \
     }))
#define STR_OPT(name, field)                          \
    {                                                 \
        name, OPT_STR, CFG_FIELD(field, char *), 0, 0 \
    }
#define INT_OPT(name, field, min, max)                 \
    {                                                  \
        name, OPT_INT, CFG_FIELD(field, int), min, max \
    }
#define LLONG_OPT(name, field, min, max)                       \
    {                                                          \
        name, OPT_LLONG, CFG_FIELD(field, long long), min, max \
    }
#define SECONDS_OPT(name, field, min, max)                       \
    {                                                            \
        name, OPT_SECONDS, CFG_FIELD(field, long long), min, max \
    }
#define BUDGET_OPT(name, field, min, max)                       \
    {                                                           \
        name, OPT_BUDGET, CFG_FIELD(field, long long), min, max \
    }

static const struct opt {
    const char *name;
    enum opt_type type;
    size_t off; /* of a field of the type `type` says */
    long long min, max;
} opts[] = {
    /* In --help's order, which is also the command line's option table's
     * (getopt_long names the candidates of an ambiguous option in it). */
    STR_OPT("queue", queue_url),
    INT_OPT("concurrency", concurrency, 1, LIMIT_WORKER_SLOTS),
    STR_OPT("worker-id", worker_id),
    STR_OPT("prefix", prefix),
    SECONDS_OPT("lease", lease_ms, 1, 86400),
    SECONDS_OPT("heartbeat", heartbeat_ms, 1, 86400),
    INT_OPT("max-attempts", max_attempts, 1, 1000),
    LLONG_OPT("result-ttl", result_ttl_s, 1, 315360000),
    LLONG_OPT("max-jobs", max_jobs, 1, 1000000000000ll),
    SECONDS_OPT("max-runtime", max_runtime_ms, 1, 315360000),
    INT_OPT("max-infra-errors", max_infra_errors, 1, 1000000),
    SECONDS_OPT("grace", grace_ms, 0, 86400),
    STR_OPT("policy", policy_path),
    STR_OPT("audit", audit_path),
    BUDGET_OPT("memory-budget", memory_budget, LIMIT_JOB_MEMORY_MIN, 1LL << 50),
    STR_OPT("metrics", metrics_addr),
    INT_OPT("warm", warm, 0, LIMIT_WORKER_SLOTS),
    SECONDS_OPT("warm-ttl", warm_ttl_ms, 1, 3600),
    STR_OPT("warm-job", warm_job_path),
    STR_OPT("warm-preload", warm_preload),
};
_Static_assert(RX_ARRAY_SIZE(opts) == WORKER_CFG_N_OPTIONS, "WORKER_CFG_N_OPTIONS is out of date");

const char *
worker_cfg_option_name(size_t i)
{
    return i < RX_ARRAY_SIZE(opts) ? opts[i].name : NULL;
}

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
    cfg->memory_budget = MEM_BUDGET_UNKNOWN;
    cfg->warm_ttl_ms = 300000;
}

void
worker_cfg_free(struct worker_cfg *cfg)
{
    free(cfg->queue_url);
    free(cfg->worker_id);
    free(cfg->prefix);
    free(cfg->policy_path);
    free(cfg->audit_path);
    free(cfg->metrics_addr);
    free(cfg->warm_job_path);
    free(cfg->warm_preload);
}

static bool
valid_id(const char *s)
{
    if (*s == '\0' || strlen(s) > LIMIT_WORKER_ID_BYTES || !isalnum((unsigned char)*s))
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("._-", *s))
            return false;
    return true;
}

/* A --warm-preload list: comma-separated Python module names (dotted
 * identifiers of ASCII letters, digits and '_'), at most
 * LIMIT_WARM_PRELOAD_MODULES of them. */
static bool
valid_modules(const char *s)
{
    int n = 1;
    bool start = true; /* at the start of an identifier */
    for (; *s; s++) {
        if (*s == ',' || *s == '.') {
            if (start || (*s == ',' && ++n > LIMIT_WARM_PRELOAD_MODULES))
                return false;
            start = true;
        } else if (isalpha((unsigned char)*s) || *s == '_' ||
                   (!start && isdigit((unsigned char)*s))) {
            start = false;
        } else {
            return false;
        }
    }
    return !start;
}

/* An OPT_BUDGET value: a size, "off" or 0, or "auto". */
static int
set_budget(const struct opt *o, long long *field, const char *value, struct rx_error **err)
{
    long long v = 0;
    if (strcmp(value, "auto") == 0)
        v = MEM_BUDGET_UNKNOWN;
    else if (strcmp(value, "off") == 0 || strcmp(value, "0") == 0)
        v = MEM_BUDGET_OFF;
    else if (job_spec_parse_size(value, &v) < 0 || v < o->min || v > o->max)
        return rx_error_reject(err,
                               "`%s` must be a size from %lld to %lld bytes (bytes, or a number "
                               "with k, m or g, like \"8g\"), \"auto\" or \"off\", not \"%.40s\"",
                               o->name, o->min, o->max, value);
    *field = v;
    return 0;
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
        if (strcmp(name, "warm-preload") == 0 && !valid_modules(value))
            return rx_error_reject(err,
                                   "`warm-preload` must be Python module names separated by "
                                   "commas (like \"numpy,json\"; each letters, digits and '_', "
                                   "not starting with a digit, dotted for a submodule), at most "
                                   "%d, not \"%.80s\"",
                                   LIMIT_WARM_PRELOAD_MODULES, value);
        free(*(char **)field);
        *(char **)field = xstrdup(value);
        return 0;
    }
    if (o->type == OPT_BUDGET)
        return set_budget(o, (long long *)field, value, err);
    char *end = NULL;
    errno = 0;
    double v = strtod(value, &end);
    bool integer = o->type == OPT_INT || o->type == OPT_LLONG;
    if (errno != 0 || end == value || *end != '\0' || v < (double)o->min || v > (double)o->max ||
        (integer && v != (double)(long long)v))
        return rx_error_reject(err, "`%s` must be a%s number from %lld to %lld, not \"%.40s\"",
                               name, integer ? "n integer" : "", o->min, o->max, value);
    if (o->type == OPT_SECONDS)
        *(long long *)field = (long long)(v * 1000);
    else if (o->type == OPT_INT)
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
    char *buf = xmalloc(LIMIT_CONFIG_FILE_BYTES);
    size_t n = fread(buf, 1, LIMIT_CONFIG_FILE_BYTES, f);
    fclose(f);
    if (n == LIMIT_CONFIG_FILE_BYTES) {
        free(buf);
        return rx_error_reject(err, "--config %s: larger than %d MiB", path,
                               LIMIT_CONFIG_FILE_BYTES >> 20);
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
    if (cfg->warm > cfg->concurrency)
        return rx_error_reject(err,
                               "--warm (%d) must be at most --concurrency (%d): idle sandboxes "
                               "and running jobs share the worker's slots",
                               cfg->warm, cfg->concurrency);
    if (cfg->warm_preload != NULL && cfg->warm == 0)
        return rx_error_reject(err, "--warm-preload needs --warm: it names the modules the warm "
                                    "sandboxes' harness imports before a job comes");
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
