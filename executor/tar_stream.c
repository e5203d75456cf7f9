/* SPDX-License-Identifier: MIT */
#include "executor/tar_stream.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdarg.h>
#include <time.h>

#include "executor/rx_util.h"

static void
archive_freep(struct archive **a)
{
    if (*a != NULL)
        archive_write_free(*a);
}
static void
archive_read_freep(struct archive **a)
{
    if (*a != NULL)
        archive_read_free(*a);
}
static void
entry_freep(struct archive_entry **e)
{
    if (*e != NULL)
        archive_entry_free(*e);
}
#define cleanup_archive_write __attribute__((cleanup(archive_freep)))
#define cleanup_archive_read __attribute__((cleanup(archive_read_freep)))
#define cleanup_entry __attribute__((cleanup(entry_freep)))

static la_ssize_t
on_write(struct archive *a RX_UNUSED, void *ud, const void *buf, size_t n)
{
    struct rx_buf *out = ud;
    if (rx_buf_append(out, buf, n) < 0)
        return -1;
    return (la_ssize_t)n;
}

static int
add_entry(struct archive *a, const char *path, const char *data, size_t len, mode_t type,
          mode_t perm, uid_t uid, gid_t gid, struct rx_error **err)
{
    cleanup_entry struct archive_entry *e = archive_entry_new();
    if (e == NULL)
        rx_oom();
    archive_entry_set_pathname(e, path);
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, perm);
    archive_entry_set_uid(e, uid);
    archive_entry_set_gid(e, gid);
    archive_entry_set_mtime(e, time(NULL), 0);
    archive_entry_set_size(e, type == AE_IFREG ? (la_int64_t)len : 0);
    if (archive_write_header(a, e) != ARCHIVE_OK)
        return rx_error_set(err, EIO, "input tar: %s: %s", path, archive_error_string(a));
    if (type == AE_IFREG && len > 0 && archive_write_data(a, data, len) != (la_ssize_t)len)
        return rx_error_set(err, EIO, "input tar: %s: %s", path, archive_error_string(a));
    return 0;
}

/* Is dir (length dl) already in the list of added directories? */
static bool
seen_dir(char **dirs, size_t n, const char *dir, size_t dl)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(dirs[i]) == dl && memcmp(dirs[i], dir, dl) == 0)
            return true;
    return false;
}

int
tar_build(const struct tar_entry_in *entries, size_t n, uid_t uid, gid_t gid, struct rx_buf *out,
          struct rx_error **err)
{
    cleanup_archive_write struct archive *a = archive_write_new();
    if (a == NULL)
        rx_oom();
    /* Names are UTF-8 already (job.json is): hdrcharset=BINARY writes them
     * as they are instead of converting from the process locale, which
     * fails for any non-ASCII name in the C locale. */
    if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
        archive_write_set_format_option(a, "pax", "hdrcharset", "BINARY") != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
        archive_write_open2(a, out, NULL, on_write, NULL, NULL) != ARCHIVE_OK)
        return rx_error_set(err, EIO, "input tar: %s", archive_error_string(a));

    int ret = -1;
    size_t ndirs = 0;
    char **dirs = xcalloc(n * 8 + 1, sizeof(char *));
    size_t dcap = n * 8 + 1;
    if (add_entry(a, "./", NULL, 0, AE_IFDIR, 0700, uid, gid, err) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const char *p = entries[i].path;
        /* Parent directories first, each once, so none is created root-owned. */
        for (const char *s = strchr(p, '/'); s != NULL; s = strchr(s + 1, '/')) {
            size_t dl = (size_t)(s - p);
            if (seen_dir(dirs, ndirs, p, dl))
                continue;
            if (ndirs == dcap) {
                dcap *= 2;
                dirs = xrealloc(dirs, dcap * sizeof(char *));
            }
            dirs[ndirs++] = xstrndup(p, dl);
            cleanup_free char *dp = xasprintf("%s/", dirs[ndirs - 1]);
            if (add_entry(a, dp, NULL, 0, AE_IFDIR, 0755, uid, gid, err) < 0)
                goto out;
        }
        if (add_entry(a, p, entries[i].data, entries[i].len, AE_IFREG, entries[i].mode, uid, gid,
                      err) < 0)
            goto out;
    }
    if (archive_write_close(a) != ARCHIVE_OK) {
        rx_error_set(err, EIO, "input tar: %s", archive_error_string(a));
        goto out;
    }
    ret = 0;
out:
    for (size_t i = 0; i < ndirs; i++)
        free(dirs[i]);
    free(dirs);
    return ret;
}

static int out_err(struct rx_error **err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* An error about the output the job handed back (status result_invalid). */
static int
out_err(struct rx_error **err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        rx_oom();
    va_end(ap);
    rx_error_set(err, EINVAL, "%s", msg);
    free(msg);
    if (err != NULL && *err != NULL)
        (*err)->kind = RX_ERR_OUTPUT;
    return -1;
}

static const char *
type_word(mode_t t)
{
    switch (t) {
    case AE_IFLNK: return "a symbolic link";
    case AE_IFDIR: return "a directory";
    case AE_IFCHR: return "a character device";
    case AE_IFBLK: return "a block device";
    case AE_IFIFO: return "a FIFO";
    case AE_IFSOCK: return "a socket";
    default: return "not a regular file";
    }
}

int
tar_read_single_file(const void *tar, size_t tar_len, const char *name, size_t cap, char **content,
                     size_t *len, struct rx_error **err)
{
    cleanup_archive_read struct archive *a = archive_read_new();
    if (a == NULL)
        rx_oom();
    /* Plain tar only: the engine sends it uncompressed, and no filter means
     * no decompression bomb. */
    archive_read_support_format_tar(a);
    if (archive_read_open_memory(a, tar, tar_len) != ARCHIVE_OK)
        return out_err(err, "output file %s: unreadable archive: %s", name,
                       archive_error_string(a));
    struct archive_entry *e = NULL;
    int r = archive_read_next_header(a, &e);
    if (r == ARCHIVE_EOF)
        return out_err(err, "output file %s: %s", name, "the archive is empty");
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
        return out_err(err, "output file %s: unreadable archive: %s", name,
                       archive_error_string(a));

    const char *ename = archive_entry_pathname(e);
    if (ename == NULL)
        return out_err(err, "output file %s: %s", name, "archive entry has no name");
    /* The entry must name the file itself: its last component is `name`,
     * with no ".." and no absolute path (Docker sends "output.json"). */
    bool dotdot = false;
    for (const char *c = ename; *c; c = strchr(c, '/') ? strchr(c, '/') + 1 : c + strlen(c))
        if (c[0] == '.' && c[1] == '.' && (c[2] == '/' || c[2] == '\0'))
            dotdot = true;
    if (ename[0] == '/' || dotdot)
        return out_err(err, "output file %s: archive entry has a hostile name \"%.100s\"", name,
                       ename);
    /* "output.json/" is a directory entry: compare without trailing slashes,
     * so the type check below names it. */
    size_t el = strlen(ename);
    while (el > 0 && ename[el - 1] == '/')
        el--;
    const char *base = ename + el;
    while (base > ename && base[-1] != '/')
        base--;
    if ((size_t)(ename + el - base) != strlen(name) || strncmp(base, name, strlen(name)) != 0)
        /* Podman (4.3) follows a symbolic link it is asked for (within the
         * volume) and names the entry after the target. */
        return out_err(err,
                       "output file %s: archive holds \"%.100s\" instead (the engine followed "
                       "a symbolic link)",
                       name, ename);
    if (archive_entry_hardlink(e) != NULL)
        return out_err(err, "output file %s: %s", name, "is a hard link");
    mode_t t = archive_entry_filetype(e);
    if (t != AE_IFREG)
        return out_err(err, "output file %s: %s, not a regular file", name, type_word(t));
    if (archive_entry_sparse_count(e) > 0)
        return out_err(err, "output file %s: %s", name, "is stored sparse");
    la_int64_t size = archive_entry_size(e);
    if (size < 0 || (uint64_t)size > cap) {
        char detail[96];
        snprintf(detail, sizeof(detail), "is %lld bytes, more than the %zu allowed",
                 (long long)size, cap);
        return out_err(err, "output file %s: %s", name, detail);
    }
    cleanup_free char *buf = xmalloc((size_t)size + 1);
    size_t got = 0;
    while (got < (size_t)size) {
        la_ssize_t n = archive_read_data(a, buf + got, (size_t)size - got);
        if (n < 0)
            return out_err(err, "output file %s: truncated archive: %s", name,
                           archive_error_string(a));
        if (n == 0)
            break;
        got += (size_t)n;
    }
    if (got != (size_t)size)
        return out_err(err, "output file %s: %s", name, "truncated archive");
    buf[got] = '\0';
    r = archive_read_next_header(a, &e);
    if (r != ARCHIVE_EOF)
        return out_err(err, "output file %s: %s", name, "the archive holds more than one entry");
    *content = steal_pointer(&buf);
    *len = got;
    return 0;
}
