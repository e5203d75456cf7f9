/* SPDX-License-Identifier: MIT */
/* What a task id may be.  Its own module so that code which only names
 * things by task id (the queues) need not include the job parser. */
#ifndef TASK_ID_H
#define TASK_ID_H

#include <stdbool.h>
#include <stddef.h>

/* A task id: 1 to LIMIT_TASK_ID_BYTES (128) of ASCII letters, digits, '.',
 * '_', '-', ':', starting with a letter or digit (it names files, keys and
 * labels).  s need not be NUL-terminated. */
bool task_id_valid(const char *s, size_t len);

#endif
