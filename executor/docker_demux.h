/* SPDX-License-Identifier: MIT */
/* The engine's multiplexed stdout/stderr stream (Tty=false): frames of an
 * 8-byte header {type, 0, 0, 0, size (big-endian u32)} and a payload.  Bytes
 * arrive in arbitrary slices, so a header may straddle two reads: this is a
 * state machine fed slice by slice.  Each stream is kept up to its cap; the
 * true byte counts are kept beyond it. */
#ifndef DOCKER_DEMUX_H
#define DOCKER_DEMUX_H

#include <stddef.h>
#include <stdint.h>

#include "executor/rx_buf.h"
#include "executor/rx_error.h"

enum { DOCKER_STREAM_STDOUT = 0, DOCKER_STREAM_STDERR = 1 };

struct docker_demux {
    unsigned char hdr[8];
    size_t hdr_len;
    uint32_t remaining; /* payload bytes left in the current frame */
    int target;         /* 0 stdout, 1 stderr, 2 system error */
    struct rx_buf out[2];
    struct rx_buf syserr; /* type-3 frames: engine-side errors */
    bool failed;
};

void docker_demux_init(struct docker_demux *d, size_t stdout_cap, size_t stderr_cap);
/* Feed bytes.  Returns 0, or -1 with *err set on a malformed stream (after
 * which the demuxer refuses more input). */
int docker_demux_feed(struct docker_demux *d, const void *p, size_t n, struct rx_error **err);
/* True when the stream ended in the middle of a frame. */
bool docker_demux_partial(const struct docker_demux *d);
void docker_demux_free(struct docker_demux *d);

#endif
