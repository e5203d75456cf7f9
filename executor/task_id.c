/* SPDX-License-Identifier: MIT */
#include "executor/task_id.h"

#include "executor/limits.h"

/* ASCII only, whatever the locale: a task id names files, keys and labels. */
static bool
ascii_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool
task_id_valid(const char *s, size_t len)
{
    if (s == NULL || len == 0 || len > LIMIT_TASK_ID_BYTES || !ascii_alnum((unsigned char)s[0]))
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!ascii_alnum(c) && c != '.' && c != '_' && c != '-' && c != ':')
            return false;
    }
    return true;
}
