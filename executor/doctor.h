/* SPDX-License-Identifier: MIT */
/* ralph-exec doctor: check that this machine can run jobs as promised, each
 * check with a verdict and, when it fails, what to do about it. */
#ifndef DOCTOR_H
#define DOCTOR_H

#include <stdbool.h>

/* Run every check, print them (text or JSON) on stdout; returns 0 when
 * every required check passed, 1 otherwise. */
int doctor_run(const char *policy_path, bool json);

#endif
