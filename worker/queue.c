/* SPDX-License-Identifier: MIT */
#include "worker/queue.h"

#include "executor/rx_util.h"

#include <uuid/uuid.h>

struct queue *
queue_open(const char *url, const struct queue_cfg *cfg, struct rx_error **err)
{
    if (strncmp(url, "dir:", 4) == 0)
        return queue_dir_open(url + 4, cfg, err);
    if (strncmp(url, "redis://", 8) == 0)
        return queue_redis_open(url, cfg, err);
    return rx_error_reject(err, "--queue %.200s: expected dir:PATH or redis://HOST:PORT[/DB]", url),
           NULL;
}

char *
queue_label(const char *url, const struct queue_cfg *cfg)
{
    if (strncmp(url, "dir:", 4) == 0) {
        char *abs = realpath(url + 4, NULL);
        char *s = xasprintf("dir:%s", abs ? abs : url + 4);
        free(abs);
        return s;
    }
    return xasprintf("%s#%s", url, cfg->prefix ? cfg->prefix : "ralph");
}

char *
queue_identity_new(void)
{
    uuid_t u;
    char s[37];
    uuid_generate_random(u);
    uuid_unparse_lower(u, s);
    return xstrdup(s);
}

bool
queue_identity_valid(const char *id, size_t len)
{
    char s[37];
    uuid_t u;
    if (len != 36)
        return false;
    memcpy(s, id, 36);
    s[36] = '\0';
    return uuid_parse(s, u) == 0;
}

struct queue_job *
queue_job_new(void)
{
    struct queue_job *j = xcalloc(1, sizeof(*j));
    j->lock_fd = -1;
    return j;
}

void
queue_job_free(struct queue_job *job)
{
    if (job == NULL)
        return;
    if (job->lock_fd >= 0)
        close(job->lock_fd);
    free(job->lock);
    free(job->lock_token);
    free(job->payload);
    free(job->handle);
    free(job->default_task_id);
    free(job);
}
