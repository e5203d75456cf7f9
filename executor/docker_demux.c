/* SPDX-License-Identifier: MIT */
#include "executor/docker_demux.h"

#include "executor/limits.h"
#include "executor/rx_util.h"

void
docker_demux_init(struct docker_demux *d, size_t stdout_cap, size_t stderr_cap)
{
    memset(d, 0, sizeof(*d));
    rx_buf_init(&d->out[0], stdout_cap);
    rx_buf_init(&d->out[1], stderr_cap);
    rx_buf_init(&d->syserr, LIMIT_SYSERR_BYTES);
}

int
docker_demux_feed(struct docker_demux *d, const void *data, size_t n, struct rx_error **err)
{
    const unsigned char *p = data;
    if (d->failed)
        return rx_error_set(err, EPROTO, "output stream: already failed");
    while (n > 0) {
        if (d->remaining == 0) {
            size_t take = 8 - d->hdr_len;
            if (take > n)
                take = n;
            memcpy(d->hdr + d->hdr_len, p, take);
            d->hdr_len += take;
            p += take;
            n -= take;
            if (d->hdr_len < 8)
                break;
            d->hdr_len = 0;
            unsigned char type = d->hdr[0];
            if (type > 3 || d->hdr[1] || d->hdr[2] || d->hdr[3]) {
                d->failed = true;
                return rx_error_set(err, EPROTO,
                                    "output stream: bad frame header %02x %02x %02x %02x",
                                    d->hdr[0], d->hdr[1], d->hdr[2], d->hdr[3]);
            }
            /* 0 is stdin echoed back: treat it as stdout, as docker-py does. */
            d->target = type == 2 ? 1 : type == 3 ? 2 : 0;
            d->remaining = (uint32_t)d->hdr[4] << 24 | (uint32_t)d->hdr[5] << 16 |
                           (uint32_t)d->hdr[6] << 8 | (uint32_t)d->hdr[7];
            continue;
        }
        size_t take = d->remaining < n ? d->remaining : n;
        struct rx_buf *b = d->target == 2 ? &d->syserr : &d->out[d->target];
        rx_buf_append(b, p, take); /* over the cap: counted, not kept */
        d->remaining -= (uint32_t)take;
        p += take;
        n -= take;
    }
    return 0;
}

bool
docker_demux_partial(const struct docker_demux *d)
{
    return d->remaining != 0 || d->hdr_len != 0;
}

void
docker_demux_free(struct docker_demux *d)
{
    rx_buf_free(&d->out[0]);
    rx_buf_free(&d->out[1]);
    rx_buf_free(&d->syserr);
}
