/* SPDX-License-Identifier: MIT */
/* libFuzzer: job.json validation on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "executor/job_spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rx_error *err = NULL;
    char *tid = NULL;
    struct job_spec *job = job_spec_parse((const char *)data, size, &tid, &err);
    if ((job == NULL) == (err == NULL))
        abort(); /* exactly one of a job or an error */
    job_spec_free(job);
    free(tid);
    rx_error_free(&err);
    return 0;
}
