/* SPDX-License-Identifier: MIT */
#include "executor/rx_buf.h"

#include "executor/rx_util.h"

void
rx_buf_init(struct rx_buf *b, size_t cap)
{
    memset(b, 0, sizeof(*b));
    b->cap = cap;
}

int
rx_buf_append(struct rx_buf *b, const void *p, size_t n)
{
    b->total += n;
    size_t room = b->cap - b->len;
    size_t take = n < room ? n : room;
    if (take > 0) {
        if (b->len + take + 1 > b->alloc) {
            size_t na = b->alloc ? b->alloc : 256;
            while (na < b->len + take + 1)
                na *= 2;
            if (na > b->cap + 1)
                na = b->cap + 1;
            b->data = xrealloc(b->data, na);
            b->alloc = na;
        }
        memcpy(b->data + b->len, p, take);
        b->len += take;
        b->data[b->len] = '\0';
    }
    if (take < n) {
        b->overflow = true;
        return -1;
    }
    return 0;
}

void
rx_buf_reset(struct rx_buf *b)
{
    b->len = 0;
    b->total = 0;
    b->overflow = false;
    if (b->data != NULL)
        b->data[0] = '\0';
}

void
rx_buf_free(struct rx_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->alloc = b->total = 0;
    b->overflow = false;
}

int
rx_buf_read_fd(struct rx_buf *b, int fd)
{
    char chunk[65536];
    for (;;) {
        ssize_t r = read(fd, chunk, sizeof(chunk));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0 || rx_buf_append(b, chunk, (size_t)r) < 0)
            return 0;
    }
}

char *
rx_buf_steal(struct rx_buf *b, size_t *len)
{
    char *d = b->data ? b->data : xstrdup("");
    if (len != NULL)
        *len = b->len;
    b->data = NULL;
    b->len = b->alloc = b->total = 0;
    b->overflow = false;
    return d;
}
