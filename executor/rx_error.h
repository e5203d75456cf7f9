/* SPDX-License-Identifier: MIT */
/* Errors are values: a heap object handed back through an out-parameter and
 * carried up to main(), which alone decides what to print and how to exit.
 *
 * Convention: int f(..., struct rx_error **err) returns >= 0 on success and
 * < 0 with *err set on failure; pointer-returning functions return NULL with
 * *err set. */
#ifndef RX_ERROR_H
#define RX_ERROR_H

/* What kind of failure this is, which decides the job's status. */
enum rx_error_kind {
    RX_ERR_INFRA = 0, /* engine or host problem: status infra_error */
    RX_ERR_REJECTED,  /* the job itself is invalid: status rejected */
    RX_ERR_CANCELLED, /* a signal asked us to stop */
    RX_ERR_OUTPUT,    /* what the job handed back is unusable: status result_invalid */
};

struct rx_error {
    enum rx_error_kind kind;
    int code;        /* errno-style cause; 0 if none */
    int http_status; /* engine HTTP status; 0 if not an HTTP error */
    char *msg;       /* owned */
};

/* Set *err (if err is not NULL and *err is NULL) and return -1.  If *err is
 * already set, the first error wins and this one is dropped. */
int rx_error_set(struct rx_error **err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same, of kind RX_ERR_REJECTED. */
int rx_error_reject(struct rx_error **err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prepend context to an existing error ("create container: ..."); returns -1. */
int rx_error_prefix(struct rx_error **err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* NULL-safe; resets *err to NULL. */
void rx_error_free(struct rx_error **err);

#define cleanup_error __attribute__((cleanup(rx_error_free)))

#endif
