/* SPDX-License-Identifier: MIT */
#include "executor/job_result.h"

#include <stdarg.h>

#include "executor/rx_json.h"
#include "executor/rx_util.h"

static const char *const status_names[] = {
    [JOB_SUCCESS] = "success",
    [JOB_ERROR] = "error",
    [JOB_TIMEOUT] = "timeout",
    [JOB_OOM] = "oom",
    [JOB_RESULT_INVALID] = "result_invalid",
    [JOB_REJECTED] = "rejected",
    [JOB_INFRA_ERROR] = "infra_error",
};

static const int status_exit[] = {
    [JOB_SUCCESS] = 0,        [JOB_ERROR] = 1,    [JOB_TIMEOUT] = 3,       [JOB_OOM] = 4,
    [JOB_RESULT_INVALID] = 5, [JOB_REJECTED] = 2, [JOB_INFRA_ERROR] = 125,
};

const char *
job_status_name(enum job_status st)
{
    return status_names[st];
}

int
job_status_exit_code(enum job_status st)
{
    return status_exit[st];
}

void
job_result_init(struct job_result *r)
{
    memset(r, 0, sizeof(*r));
    r->exit_code = -1;
    r->timings.warm_ms = -1;
    rx_buf_init(&r->out[0], 0);
    rx_buf_init(&r->out[1], 0);
    r->started_ms = rx_now_ms();
}

void
job_result_free(struct job_result *r)
{
    free(r->task_id);
    if (r->output)
        json_object_put(r->output);
    free(r->error);
    rx_buf_free(&r->out[0]);
    rx_buf_free(&r->out[1]);
    free(r->image);
    free(r->container_id);
    free(r->image_id);
    free(r->deps_image);
    free(r->engine_version);
    free(r->api_version);
    if (r->limits)
        json_object_put(r->limits);
    free(r->removal_error);
    free(r->warm_refused);
    memset(r, 0, sizeof(*r));
}

void
job_result_fail(struct job_result *r, enum job_status st, const char *fmt, ...)
{
    r->status = st;
    if (st == JOB_INFRA_ERROR && r->infra_cause == JOB_INFRA_NONE)
        r->infra_cause = JOB_INFRA_ENGINE;
    if (r->error != NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&r->error, fmt, ap) < 0)
        rx_oom();
    va_end(ap);
}

void
job_result_from_error(struct job_result *r, const struct rx_error *e)
{
    enum job_status st = e->kind == RX_ERR_REJECTED ? JOB_REJECTED
                         : e->kind == RX_ERR_OUTPUT ? JOB_RESULT_INVALID
                                                    : JOB_INFRA_ERROR;
    if (e->kind == RX_ERR_CANCELLED && r->infra_cause == JOB_INFRA_NONE)
        r->infra_cause = JOB_INFRA_CANCELLED;
    job_result_fail(r, st, "%s", e->msg);
}

static void
add_opt_str(struct json_object *o, const char *k, const char *v)
{
    json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

struct json_object *
job_result_to_json(const struct job_result *r)
{
    struct json_object *o = json_object_new_object();
    add_opt_str(o, "task_id", r->task_id);
    json_object_object_add(o, "status", json_object_new_string(job_status_name(r->status)));
    json_object_object_add(o, "exit_code",
                           r->has_exit_code ? json_object_new_int(r->exit_code) : NULL);
    json_object_object_add(o, "output", r->output ? json_object_get(r->output) : NULL);
    /* Messages may quote the job (exception text, names) cut at a byte cap. */
    json_object_object_add(o, "error",
                           r->error ? rx_json_string_from_bytes(r->error, strlen(r->error)) : NULL);
    for (int i = 0; i < 2; i++) {
        const char *name = i == 0 ? "stdout" : "stderr";
        char k[32];
        json_object_object_add(o, name,
                               rx_json_string_from_bytes(r->out[i].data ? r->out[i].data : "",
                                                         r->out[i].len));
        snprintf(k, sizeof(k), "%s_truncated", name);
        json_object_object_add(o, k, json_object_new_boolean(r->out[i].overflow));
        snprintf(k, sizeof(k), "%s_bytes", name);
        json_object_object_add(o, k, json_object_new_int64((int64_t)r->out[i].total));
    }
    json_object_object_add(o, "duration_ms", json_object_new_int64(r->duration_ms));
    add_opt_str(o, "image", r->image);
    add_opt_str(o, "image_id", r->image_id);
    add_opt_str(o, "deps_image", r->deps_image);
    add_opt_str(o, "container_id", r->container_id);
    if (r->engine_version != NULL) {
        struct json_object *e = json_object_new_object();
        add_opt_str(e, "kind", r->engine_kind);
        add_opt_str(e, "version", r->engine_version);
        add_opt_str(e, "api_version", r->api_version);
        json_object_object_add(o, "engine", e);
    } else {
        json_object_object_add(o, "engine", NULL);
    }
    json_object_object_add(o, "limits", r->limits ? json_object_get(r->limits) : NULL);
    struct json_object *t = json_object_new_object();
    const struct {
        const char *k;
        long long v;
    } tv[] = {
        {"deps", r->timings.deps_ms},       {"create", r->timings.create_ms},
        {"input", r->timings.input_ms},     {"attach", r->timings.attach_ms},
        {"start", r->timings.start_ms},     {"run", r->timings.run_ms},
        {"inspect", r->timings.inspect_ms}, {"output", r->timings.output_ms},
        {"remove", r->timings.remove_ms},
    };
    for (size_t i = 0; i < RX_ARRAY_SIZE(tv); i++) {
        /* A removal still to come has no time yet. */
        if (r->remove_pending && strcmp(tv[i].k, "remove") == 0)
            continue;
        json_object_object_add(t, tv[i].k, json_object_new_int64(tv[i].v));
    }
    /* A warm sandbox's job: no create, no start; its limits' update. */
    if (r->timings.warm_ms >= 0)
        json_object_object_add(t, "warm", json_object_new_int64(r->timings.warm_ms));
    json_object_object_add(o, "timings_ms", t);
    if (r->removal_error != NULL)
        json_object_object_add(o, "removal_error",
                               rx_json_string_from_bytes(r->removal_error,
                                                         strlen(r->removal_error)));
    return o;
}

/* Print bytes with everything but printable text, newline and tab escaped
 * (UTF-8 sequences are kept only when valid). */
static void
print_safe(FILE *f, const char *p, size_t n)
{
    struct json_object *s = rx_json_string_from_bytes(p, n); /* valid UTF-8 now */
    const unsigned char *u = (const unsigned char *)json_object_get_string(s);
    size_t len = (size_t)json_object_get_string_len(s);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = u[i];
        if (c == '\n' || c == '\t' || (c >= 0x20 && c != 0x7f))
            fputc(c, f);
        else
            fprintf(f, "\\x%02x", c);
    }
    json_object_put(s);
}

void
job_result_print_text(const struct job_result *r, FILE *f, size_t max_stream)
{
    fputs("task:     ", f);
    print_safe(f, r->task_id ? r->task_id : "(none)", strlen(r->task_id ? r->task_id : "(none)"));
    fprintf(f, "\nstatus:   %s", job_status_name(r->status));
    if (r->has_exit_code)
        fprintf(f, " (exit code %d)", r->exit_code);
    fprintf(f, " in %lld ms\n", r->duration_ms);
    if (r->image != NULL) {
        fputs("image:    ", f);
        print_safe(f, r->image, strlen(r->image));
        fputc('\n', f);
    }
    if (r->error != NULL) {
        fputs("error:    ", f);
        print_safe(f, r->error, strlen(r->error));
        fputc('\n', f);
    }
    if (r->output != NULL) {
        const char *o = json_object_to_json_string_ext(r->output, JSON_C_TO_STRING_PLAIN);
        size_t ol = strlen(o);
        fputs("output:   ", f);
        print_safe(f, o, ol < 2000 ? ol : 2000);
        fputs(ol > 2000 ? " ...\n" : "\n", f);
    }
    for (int i = 0; i < 2; i++) {
        const struct rx_buf *b = &r->out[i];
        fprintf(f, "--- %s: %zu bytes%s ---\n", i ? "stderr" : "stdout", b->total,
                b->overflow ? " (truncated)" : "");
        size_t n = b->len < max_stream ? b->len : max_stream;
        if (n > 0) {
            print_safe(f, b->data, n);
            if (b->data[n - 1] != '\n')
                fputc('\n', f);
            if (n < b->len)
                fprintf(f, "... (%zu more bytes in the JSON result)\n", b->len - n);
        }
    }
    if (r->removal_error != NULL) {
        fputs("warning:  ", f);
        print_safe(f, r->removal_error, strlen(r->removal_error));
        fputc('\n', f);
    }
}
