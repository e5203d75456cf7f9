/* SPDX-License-Identifier: MIT */
/* The audit log: one JSON line per job, appended, for the operator.  It
 * records what ran and under which hardening, never the job's code, inputs,
 * outputs or messages (a job's exception text may quote its data). */
#ifndef AUDIT_LOG_H
#define AUDIT_LOG_H

#include "executor/job_result.h"
#include "executor/rx_error.h"

/* Append the line for res to path (created 0640 if missing).  sandbox may be
 * NULL (a job rejected before it had one). */
int audit_log_append(const char *path, const struct job_result *res, const char *sandbox,
                     struct rx_error **err);

#endif
