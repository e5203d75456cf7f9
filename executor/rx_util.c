/* SPDX-License-Identifier: MIT */
#include "executor/rx_util.h"

#include <stdarg.h>
#include <time.h>

void
rx_oom(void)
{
    static const char msg[] = "ralph-exec: out of memory\n";
    ssize_t r RX_UNUSED = write(STDERR_FILENO, msg, sizeof(msg) - 1);
    abort();
}

void *
xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        rx_oom();
    return p;
}

void *
xcalloc(size_t n, size_t m)
{
    void *p = calloc(n ? n : 1, m ? m : 1);
    if (p == NULL)
        rx_oom();
    return p;
}

void *
xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        rx_oom();
    return q;
}

char *
xstrdup(const char *s)
{
    char *p = strdup(s);
    if (p == NULL)
        rx_oom();
    return p;
}

char *
xstrndup(const char *s, size_t n)
{
    char *p = strndup(s, n);
    if (p == NULL)
        rx_oom();
    return p;
}

char *
xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    int r = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (r < 0)
        rx_oom();
    return s;
}

long long
rx_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
rx_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

void
rx_iso8601_now(char out[32])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", (tm.tm_year + 1900) % 10000,
             (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100,
             tm.tm_sec % 100, (ts.tv_nsec / 1000000) % 1000);
}

long long
rx_wall_s(void)
{
    return (long long)time(NULL);
}
