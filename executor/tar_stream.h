/* SPDX-License-Identifier: MIT */
/* Tar archives through libarchive: the input tar we send (built in memory,
 * owned by the job user), and the output tar the engine hands back, which
 * comes from a hostile container and is read with every limit on. */
#ifndef TAR_STREAM_H
#define TAR_STREAM_H

#include <stddef.h>
#include <sys/types.h>

#include "executor/rx_buf.h"
#include "executor/rx_error.h"

struct tar_entry_in {
    const char *path; /* relative, already validated */
    const char *data;
    size_t len;
    mode_t mode; /* permission bits */
};

/* Build an uncompressed tar holding a "./" entry (mode 0700) and the given
 * files, with every parent directory as an explicit entry, all owned by
 * uid:gid (files mode as given, directories 0755).  The "./" entry makes the
 * extraction point itself the job user's where the engine applies it
 * (Podman).  out must be initialised with a cap.
 * Returns 0 or -1 with *err set. */
int tar_build(const struct tar_entry_in *entries, size_t n, uid_t uid, gid_t gid,
              struct rx_buf *out, struct rx_error **err);

/* Read a tar that must hold exactly one regular file whose last path
 * component is `name`, at most `cap` bytes.  Anything else (a symlink, hard
 * link, directory, device, FIFO, second entry, absolute or ".." name, bigger
 * file, truncated or malformed archive) is an error of kind RX_ERR_OUTPUT
 * saying which.  *content (caller frees, NUL-terminated) and *len get the
 * data. */
int tar_read_single_file(const void *tar, size_t tar_len, const char *name, size_t cap,
                         char **content, size_t *len, struct rx_error **err);

#endif
