/* SPDX-License-Identifier: MIT */
/* A tiny TAP producer for the unit tests (crun/bubblewrap style).  Each test
 * binary prints "ok N - ..." / "not ok N - ..." lines and a plan at the end;
 * prove reads them. */
#ifndef TAP_H
#define TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_failed;

static inline int tap_ok(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline int
tap_ok(int cond, const char *fmt, ...)
{
    va_list ap;
    tap_n++;
    printf("%s %d - ", cond ? "ok" : "not ok", tap_n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    if (!cond)
        tap_failed++;
    fflush(stdout);
    return cond;
}

#define ok(cond, ...) tap_ok(!!(cond), __VA_ARGS__)
#define diag(...) (printf("# "), printf(__VA_ARGS__), printf("\n"))
#define is_int(got, want, name)                                  \
    do {                                                         \
        long long g_ = (long long)(got), w_ = (long long)(want); \
        if (!ok(g_ == w_, "%s", name))                           \
            diag("  got %lld, want %lld", g_, w_);               \
    } while (0)
#define is_str(got, want, name)                                                        \
    do {                                                                               \
        const char *g_ = (got), *w_ = (want);                                          \
        if (!ok(g_ && w_ && strcmp(g_, w_) == 0, "%s", name))                          \
            diag("  got \"%s\", want \"%s\"", g_ ? g_ : "(null)", w_ ? w_ : "(null)"); \
    } while (0)
#define like(got, sub, name)                                                  \
    do {                                                                      \
        const char *g_ = (got), *s_ = (sub);                                  \
        if (!ok(g_ && strstr(g_, s_) != NULL, "%s", name))                    \
            diag("  \"%s\" does not contain \"%s\"", g_ ? g_ : "(null)", s_); \
    } while (0)

static inline int
done_testing(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

#endif
