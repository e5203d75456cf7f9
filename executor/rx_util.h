/* SPDX-License-Identifier: MIT */
/* Small helpers shared by every module: allocation that never returns NULL,
 * cleanup attributes for owned resources, and ownership transfer. */
#ifndef RX_UTIL_H
#define RX_UTIL_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RX_UNUSED __attribute__((unused))
#define RX_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Out of memory is the one failure the library does not carry as a value:
 * like crun's OOM(), it is reported and the process aborts. */
__attribute__((noreturn)) void rx_oom(void);

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a new string; caller frees. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static inline void
rx_freep(void *p)
{
    free(*(void **)p);
}
static inline void
rx_closep(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        close(*fd);
        errno = saved;
    }
}
static inline void
rx_fclosep(FILE **f)
{
    if (*f != NULL)
        fclose(*f);
}

#define cleanup_free __attribute__((cleanup(rx_freep)))
#define cleanup_close __attribute__((cleanup(rx_closep)))
#define cleanup_fclose __attribute__((cleanup(rx_fclosep)))

/* Hand an owned pointer over: returns it and leaves NULL behind. */
static inline void *
rx_steal_pointer(void *pp)
{
    void **p = (void **)pp;
    void *v = *p;
    *p = NULL;
    return v;
}
#define steal_pointer(pp) ((__typeof__(*(pp)))rx_steal_pointer(pp))

/* Milliseconds on the monotonic clock. */
long long rx_now_ms(void);
/* Sleep for ms milliseconds (a signal may cut it short). */
void rx_sleep_ms(long ms);
/* Seconds since the epoch (wall clock), for labels humans read. */
long long rx_wall_s(void);
/* Now as UTC ISO 8601 with milliseconds ("2026-11-22T01:02:03.456Z"). */
void rx_iso8601_now(char out[32]);

#endif
