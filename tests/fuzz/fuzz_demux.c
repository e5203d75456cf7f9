/* SPDX-License-Identifier: MIT */
/* libFuzzer: the stdout/stderr frame demultiplexer, fed in slices whose
 * sizes come from the input itself; counts must add up and every stream
 * stays within its cap. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "executor/docker_demux.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct docker_demux d;
    docker_demux_init(&d, 16, 32);
    size_t step = (size_t)data[0] % 13 + 1, off = 1;
    while (off < size) {
        size_t n = size - off < step ? size - off : step;
        struct rx_error *err = NULL;
        int r = docker_demux_feed(&d, data + off, n, &err);
        rx_error_free(&err);
        if (r < 0)
            break;
        off += n;
    }
    for (int i = 0; i < 2; i++)
        if (d.out[i].len > d.out[i].cap || d.out[i].len > d.out[i].total)
            abort();
    if (d.out[0].len > 16 || d.out[1].len > 32)
        abort();
    docker_demux_free(&d);
    return 0;
}
