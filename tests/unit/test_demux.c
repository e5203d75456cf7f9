/* SPDX-License-Identifier: MIT */
/* The multiplexed stdout/stderr stream: frames split at every byte boundary,
 * caps with true counts, stdin frames, engine error frames, bad headers. */
#include "executor/docker_demux.h"
#include "executor/rx_util.h"
#include "tests/lib/tap.h"

static size_t
frame(unsigned char *out, int type, const char *payload, size_t n)
{
    out[0] = (unsigned char)type;
    out[1] = out[2] = out[3] = 0;
    out[4] = (unsigned char)(n >> 24);
    out[5] = (unsigned char)(n >> 16);
    out[6] = (unsigned char)(n >> 8);
    out[7] = (unsigned char)n;
    memcpy(out + 8, payload, n);
    return n + 8;
}

static size_t
sample(unsigned char *s)
{
    size_t n = 0;
    n += frame(s + n, 1, "hello ", 6);
    n += frame(s + n, 2, "oops\n", 5);
    n += frame(s + n, 1, "", 0);
    n += frame(s + n, 0, "world\n", 6);
    n += frame(s + n, 3, "engine broke", 12);
    n += frame(s + n, 2, "again\n", 6);
    return n;
}

static void
splits(void)
{
    unsigned char s[256];
    size_t n = sample(s);
    int good = 0, total = 0;
    /* Every pair of cut points: three slices of every shape. */
    for (size_t a = 0; a <= n; a++) {
        for (size_t b = a; b <= n; b++) {
            struct docker_demux d;
            docker_demux_init(&d, 1024, 1024);
            int r = docker_demux_feed(&d, s, a, NULL);
            r |= docker_demux_feed(&d, s + a, b - a, NULL);
            r |= docker_demux_feed(&d, s + b, n - b, NULL);
            total++;
            if (r == 0 && d.out[0].len == 12 && memcmp(d.out[0].data, "hello world\n", 12) == 0 &&
                d.out[1].len == 11 && memcmp(d.out[1].data, "oops\nagain\n", 11) == 0 &&
                d.syserr.len == 12 && !docker_demux_partial(&d))
                good++;
            docker_demux_free(&d);
        }
    }
    is_int(good, total, "every split of the stream demultiplexes the same");

    /* One byte at a time. */
    struct docker_demux d;
    docker_demux_init(&d, 1024, 1024);
    for (size_t i = 0; i < n; i++)
        docker_demux_feed(&d, s + i, 1, NULL);
    ok(d.out[0].len == 12 && d.out[1].len == 11, "byte-at-a-time feed");
    docker_demux_free(&d);

    /* Ending inside a frame is noticed. */
    docker_demux_init(&d, 1024, 1024);
    docker_demux_feed(&d, s, 10, NULL);
    ok(docker_demux_partial(&d), "stream cut inside a frame is partial");
    docker_demux_free(&d);
    docker_demux_init(&d, 1024, 1024);
    docker_demux_feed(&d, s, 3, NULL);
    ok(docker_demux_partial(&d), "stream cut inside a header is partial");
    docker_demux_free(&d);
}

static void
caps(void)
{
    struct docker_demux d;
    docker_demux_init(&d, 10, 4);
    static char big[100000];
    memset(big, 'x', sizeof(big));
    unsigned char *buf = xmalloc(sizeof(big) + 64);
    size_t n = frame(buf, 1, big, sizeof(big));
    for (int i = 0; i < 30; i++)
        docker_demux_feed(&d, buf, n, NULL);
    n = frame(buf, 2, "abcdefgh", 8);
    docker_demux_feed(&d, buf, n, NULL);
    is_int(d.out[0].len, 10, "stdout kept up to its cap");
    is_int(d.out[0].total, 3000000, "stdout true count beyond the cap");
    ok(d.out[0].overflow, "stdout truncated flag");
    is_int(d.out[1].len, 4, "stderr kept up to its own cap");
    ok(memcmp(d.out[1].data, "abcd", 4) == 0, "stderr keeps the first bytes");
    is_int(d.out[1].total, 8, "stderr true count");
    free(buf);
    docker_demux_free(&d);

    /* A frame claiming 4 GiB - 1 bytes costs nothing: payload is counted
     * as it arrives, never allocated up front. */
    docker_demux_init(&d, 16, 16);
    unsigned char h[8] = {1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff};
    ok(docker_demux_feed(&d, h, 8, NULL) == 0 && docker_demux_partial(&d),
       "huge frame header accepted, nothing allocated");
    docker_demux_free(&d);
}

static void
bad(void)
{
    struct docker_demux d;
    struct rx_error *err = NULL;
    docker_demux_init(&d, 16, 16);
    unsigned char h[8] = {7, 0, 0, 0, 0, 0, 0, 1};
    ok(docker_demux_feed(&d, h, 8, &err) < 0 && err && strstr(err->msg, "bad frame header"),
       "unknown stream type rejected");
    rx_error_free(&err);
    ok(docker_demux_feed(&d, "x", 1, &err) < 0, "no input accepted after a failure");
    rx_error_free(&err);
    docker_demux_free(&d);

    /* Raw (TTY-style) text is not mistaken for frames. */
    docker_demux_init(&d, 16, 16);
    ok(docker_demux_feed(&d, "hello world!", 12, &err) < 0, "raw text rejected");
    rx_error_free(&err);
    docker_demux_free(&d);
}

int
main(void)
{
    splits();
    caps();
    bad();
    return done_testing();
}
