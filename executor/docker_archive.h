/* SPDX-License-Identifier: MIT */
/* Files in and out through the archive endpoints (never bind mounts), so the
 * same code works when the caller itself runs in a container. */
#ifndef DOCKER_ARCHIVE_H
#define DOCKER_ARCHIVE_H

#include <stddef.h>

#include "executor/docker_client.h"

/* PUT a tar into directory `dir` of container id (created or stopped). */
int docker_archive_put(struct docker_client *dc, const char *id, const char *dir, const void *tar,
                       size_t len, struct rx_error **err);

/* GET the archive of `path`.  At most cap bytes of tar are read; more sets
 * *truncated and cuts the transfer.  *stat_size / *stat_mode get the file's
 * size and Go FileMode from the X-Docker-Container-Path-Stat header (-1 if
 * absent).  A missing path returns -1 with code ENOENT. */
int docker_archive_get(struct docker_client *dc, const char *id, const char *path, size_t cap,
                       struct rx_buf *tar, bool *truncated, long long *stat_size,
                       long long *stat_mode, struct rx_error **err);

/* HEAD the archive of `path`: its size and Go FileMode from the stat header
 * (symbolic links are not followed for the last component).  A missing
 * path returns -1 with code ENOENT and http_status 404. */
int docker_archive_stat(struct docker_client *dc, const char *id, const char *path,
                        long long *stat_size, long long *stat_mode, struct rx_error **err);

/* Go os.FileMode type bits, as the stat header reports them. */
#define GO_MODE_DIR (1ll << 31)
#define GO_MODE_SYMLINK (1ll << 27)
#define GO_MODE_DEVICE (1ll << 26)
#define GO_MODE_PIPE (1ll << 25)
#define GO_MODE_SOCKET (1ll << 24)
#define GO_MODE_CHARDEV (1ll << 21)
#define GO_MODE_IRREGULAR (1ll << 19)

#endif
