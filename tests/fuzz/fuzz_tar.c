/* SPDX-License-Identifier: MIT */
/* libFuzzer: the output-archive reader on arbitrary bytes (what a hostile
 * container could make the engine hand back). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "executor/tar_stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *content = NULL;
    size_t len = 0;
    struct rx_error *err = NULL;
    int r = tar_read_single_file(data, size, "output.json", 4096, &content, &len, &err);
    if (r == 0 && (content == NULL || len > 4096 || content[len] != '\0'))
        abort();
    if (r < 0 && (err == NULL || err->kind != RX_ERR_OUTPUT))
        abort();
    free(content);
    rx_error_free(&err);
    return 0;
}
