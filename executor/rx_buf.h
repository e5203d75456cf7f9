/* SPDX-License-Identifier: MIT */
/* A growable byte buffer with a hard cap, for every body read from the
 * engine or the job (curl's dynbuf "toobig" idea). */
#ifndef RX_BUF_H
#define RX_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct rx_buf {
    char *data; /* always NUL-terminated when non-NULL */
    size_t len;
    size_t alloc;
    size_t cap;   /* the most bytes it will hold */
    size_t total; /* bytes offered, kept or not */
    bool overflow;
};

/* A buffer holding at most cap bytes. */
void rx_buf_init(struct rx_buf *b, size_t cap);
/* Append; returns 0, or -1 (and sets overflow) when the cap would be passed.
 * Bytes up to the cap are kept either way. */
int rx_buf_append(struct rx_buf *b, const void *p, size_t n);
void rx_buf_reset(struct rx_buf *b);
void rx_buf_free(struct rx_buf *b);
/* Read fd to its end into b.  Returns 0, or -1 with errno set on a read
 * error.  Stops early (returning 0, b->overflow set) at the cap. */
int rx_buf_read_fd(struct rx_buf *b, int fd);
/* Give the bytes away (caller frees); leaves the buffer empty. */
char *rx_buf_steal(struct rx_buf *b, size_t *len);

#define cleanup_buf __attribute__((cleanup(rx_buf_free)))

#endif
