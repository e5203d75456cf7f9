/* SPDX-License-Identifier: MIT */
#include "executor/result_frame.h"

#include <stdbool.h>

#include "executor/rx_util.h"

#define FRAME_TAG "RALPH-RESULT "
/* "RALPH-RESULT output " and 20 digits and "\n", with room to spare. */
#define FOOTER_MAX 64

size_t
result_frame_room(size_t max_payload)
{
    return max_payload + FOOTER_MAX;
}

/* Parse the footer that ends data[0..n): its start, kind and length. */
static bool
parse_footer(const char *data, size_t n, size_t *start, enum result_frame_kind *kind,
             size_t *len)
{
    if (n == 0 || data[n - 1] != '\n')
        return false;
    size_t tag = sizeof(FRAME_TAG) - 1;
    size_t lo = n > FOOTER_MAX ? n - FOOTER_MAX : 0;
    /* The last tag in the window: the footer's kind and digits hold none. */
    for (size_t i = n - 1; i-- > lo;) {
        /* i + tag < n: the kind starts at or before the final newline. */
        if (i + tag >= n || memcmp(data + i, FRAME_TAG, tag) != 0)
            continue;
        const char *p = data + i + tag, *end = data + n - 1;
        if ((size_t)(end - p) > 7 && memcmp(p, "output ", 7) == 0) {
            *kind = RESULT_FRAME_OUTPUT;
            p += 7;
        } else if ((size_t)(end - p) > 6 && memcmp(p, "error ", 6) == 0) {
            *kind = RESULT_FRAME_ERROR;
            p += 6;
        } else {
            return false;
        }
        if (end - p < 1 || end - p > 19)
            return false;
        size_t v = 0;
        for (; p < end; p++) {
            if (*p < '0' || *p > '9')
                return false;
            v = v * 10 + (size_t)(*p - '0');
        }
        *start = i;
        *len = v;
        return true;
    }
    return false;
}

enum result_frame_kind
result_frame_take(struct rx_buf *out, size_t cap, size_t max_payload, struct result_frame *f)
{
    memset(f, 0, sizeof(*f));
    size_t start = 0, len = 0;
    enum result_frame_kind kind = RESULT_FRAME_NONE;
    if (!out->overflow && out->data != NULL &&
        parse_footer(out->data, out->len, &start, &kind, &len) && len <= max_payload &&
        len <= start) {
        f->kind = kind;
        f->len = len;
        f->payload = xmalloc(len + 1);
        memcpy(f->payload, out->data + start - len, len);
        f->payload[len] = '\0';
        out->total -= out->len - (start - len);
        out->len = start - len;
        out->data[out->len] = '\0';
    }
    result_frame_clamp(out, cap);
    return f->kind;
}

void
result_frame_clamp(struct rx_buf *out, size_t cap)
{
    if (out->len > cap) {
        out->len = cap;
        out->data[cap] = '\0';
        out->overflow = true;
    }
}

void
result_frame_free(struct result_frame *f)
{
    free(f->payload);
    f->payload = NULL;
    f->len = 0;
    f->kind = RESULT_FRAME_NONE;
}
