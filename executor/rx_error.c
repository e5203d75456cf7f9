/* SPDX-License-Identifier: MIT */
#include "executor/rx_error.h"

#include <stdarg.h>
#include <stdio.h>

#include "executor/rx_util.h"

static int vset(struct rx_error **err, enum rx_error_kind kind, int code, const char *fmt,
                va_list ap) __attribute__((format(printf, 4, 0)));

static int
vset(struct rx_error **err, enum rx_error_kind kind, int code, const char *fmt, va_list ap)
{
    if (err == NULL || *err != NULL)
        return -1;
    struct rx_error *e = xcalloc(1, sizeof(*e));
    e->kind = kind;
    e->code = code;
    if (vasprintf(&e->msg, fmt, ap) < 0)
        rx_oom();
    *err = e;
    return -1;
}

int
rx_error_set(struct rx_error **err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(err, RX_ERR_INFRA, code, fmt, ap);
    va_end(ap);
    return -1;
}

int
rx_error_reject(struct rx_error **err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(err, RX_ERR_REJECTED, EINVAL, fmt, ap);
    va_end(ap);
    return -1;
}

int
rx_error_prefix(struct rx_error **err, const char *fmt, ...)
{
    if (err == NULL || *err == NULL)
        return -1;
    char *prefix = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&prefix, fmt, ap) < 0)
        rx_oom();
    va_end(ap);
    char *msg = xasprintf("%s: %s", prefix, (*err)->msg);
    free(prefix);
    free((*err)->msg);
    (*err)->msg = msg;
    return -1;
}

void
rx_error_free(struct rx_error **err)
{
    if (err == NULL || *err == NULL)
        return;
    free((*err)->msg);
    free(*err);
    *err = NULL;
}
