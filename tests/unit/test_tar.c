/* SPDX-License-Identifier: MIT */
/* Archives: the input tar we build, and the output-archive reader's limits
 * against what a hostile container could hand back. */
#include <archive.h>
#include <archive_entry.h>

#include "executor/rx_util.h"
#include "executor/tar_stream.h"
#include "tests/lib/tap.h"

/* A tar in memory with one entry of the given kind. */
struct spec {
    const char *name;
    mode_t type;
    const char *data;
    la_int64_t size;  /* header size (may lie for regular files) */
    const char *link; /* symlink target or hardlink source */
    bool hardlink;
};

static void
write_entries(const struct spec *s, size_t n, struct rx_buf *out)
{
    struct archive *a = archive_write_new();
    archive_write_set_format_pax(a);
    archive_write_set_bytes_in_last_block(a, 1);
    size_t used = 0;
    static char mem[4 << 20];
    archive_write_open_memory(a, mem, sizeof(mem), &used);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, s[i].name);
        archive_entry_set_filetype(e, s[i].type);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, s[i].size);
        if (s[i].link && s[i].hardlink)
            archive_entry_set_hardlink(e, s[i].link);
        else if (s[i].link)
            archive_entry_set_symlink(e, s[i].link);
        archive_write_header(a, e);
        if (s[i].data && s[i].type == AE_IFREG && !s[i].hardlink)
            archive_write_data(a, s[i].data, strlen(s[i].data));
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
    rx_buf_init(out, sizeof(mem));
    rx_buf_append(out, mem, used);
}

static int
read1(const struct spec *s, size_t n, size_t cap, char **content, struct rx_error **err)
{
    struct rx_buf t;
    write_entries(s, n, &t);
    size_t len = 0;
    int r = tar_read_single_file(t.data, t.len, "output.json", cap, content, &len, err);
    rx_buf_free(&t);
    return r;
}

static void
expect_invalid(const struct spec *s, size_t n, size_t cap, const char *sub, const char *name)
{
    char *c = NULL;
    struct rx_error *err = NULL;
    int r = read1(s, n, cap, &c, &err);
    bool good = r < 0 && err && err->kind == RX_ERR_OUTPUT && strstr(err->msg, sub);
    if (!ok(good, "%s", name))
        diag("  got r=%d err=\"%s\", want \"%s\"", r, err ? err->msg : "(none)", sub);
    free(c);
    rx_error_free(&err);
}

static void
reader(void)
{
    char *c = NULL;
    struct rx_error *err = NULL;
    struct spec good = {"output.json", AE_IFREG, "{\"a\":1}", 7};
    ok(read1(&good, 1, 1024, &c, &err) == 0 && c && strcmp(c, "{\"a\":1}") == 0,
       "one regular file is read");
    free(c);
    c = NULL;
    struct spec nested = {"out/output.json", AE_IFREG, "[]", 2};
    ok(read1(&nested, 1, 1024, &c, &err) == 0, "a leading directory in the name is fine");
    free(c);
    c = NULL;
    struct spec empty = {"output.json", AE_IFREG, "", 0};
    ok(read1(&empty, 1, 1024, &c, &err) == 0 && c && c[0] == '\0', "empty file reads as empty");
    free(c);
    c = NULL;
    struct spec exact = {"output.json", AE_IFREG, "0123456789", 10};
    ok(read1(&exact, 1, 10, &c, &err) == 0, "file of exactly the cap");
    free(c);
    c = NULL;

    expect_invalid(&exact, 1, 9, "is 10 bytes, more than the 9 allowed", "file over the cap");
    struct spec sym = {"output.json", AE_IFLNK, NULL, 0, "/etc/passwd"};
    expect_invalid(&sym, 1, 1024, "a symbolic link", "symlink refused");
    struct spec dir = {"output.json/", AE_IFDIR, NULL, 0};
    expect_invalid(&dir, 1, 1024, "a directory", "directory refused");
    struct spec fifo = {"output.json", AE_IFIFO, NULL, 0};
    expect_invalid(&fifo, 1, 1024, "a FIFO", "FIFO refused");
    struct spec chr = {"output.json", AE_IFCHR, NULL, 0};
    expect_invalid(&chr, 1, 1024, "a character device", "device refused");
    struct spec hl = {"output.json", AE_IFREG, NULL, 0, "other", true};
    expect_invalid(&hl, 1, 1024, "hard link", "hard link refused");
    struct spec two[] = {{"output.json", AE_IFREG, "1", 1}, {"output.json", AE_IFREG, "2", 1}};
    expect_invalid(two, 2, 1024, "more than one entry", "second entry refused");
    struct spec other = {"passwd", AE_IFREG, "root:x:0:0", 10};
    expect_invalid(&other, 1, 1024, "instead", "entry with another name refused");
    struct spec abs = {"/output.json", AE_IFREG, "1", 1};
    expect_invalid(&abs, 1, 1024, "hostile name", "absolute name refused");
    struct spec dotdot = {"../output.json", AE_IFREG, "1", 1};
    expect_invalid(&dotdot, 1, 1024, "hostile name", "'..' name refused");

    /* A header claiming 10 GB is refused before any allocation. */
    struct rx_buf t;
    struct spec huge = {"output.json", AE_IFREG, NULL, 0};
    write_entries(&huge, 1, &t);
    /* Patch the ustar size field (offset 124, 12 octal digits). */
    memcpy(t.data + 124, "112402762000", 12);
    unsigned sum = 0;
    memset(t.data + 148, ' ', 8);
    for (int i = 0; i < 512; i++)
        sum += (unsigned char)t.data[i];
    snprintf(t.data + 148, 8, "%06o", sum);
    size_t len = 0;
    int r = tar_read_single_file(t.data, t.len, "output.json", 1 << 20, &c, &len, &err);
    ok(r < 0 && err && strstr(err->msg, "10000000000 bytes"), "10 GB header refused by size");
    if (err)
        diag("  %s", err->msg);
    rx_error_free(&err);
    rx_buf_free(&t);

    /* Truncated and garbage archives. */
    write_entries(&good, 1, &t);
    r = tar_read_single_file(t.data, 600, "output.json", 1024, &c, &len, &err);
    ok(r < 0 && err && err->kind == RX_ERR_OUTPUT, "truncated archive refused");
    rx_error_free(&err);
    rx_buf_free(&t);
    r = tar_read_single_file("garbage!", 8, "output.json", 1024, &c, &len, &err);
    ok(r < 0 && err && err->kind == RX_ERR_OUTPUT, "garbage refused");
    rx_error_free(&err);
    r = tar_read_single_file("", 0, "output.json", 1024, &c, &len, &err);
    ok(r < 0 && err && err->kind == RX_ERR_OUTPUT, "empty archive refused");
    rx_error_free(&err);
}

static void
builder(void)
{
    struct tar_entry_in in[] = {
        {"a/b/c.txt", "hello", 5, 0644},
        {"a/b/d.txt", "", 0, 0644},
        {"a/e.txt", "x", 1, 0600},
        {"top.txt", "t", 1, 0644},
    };
    struct rx_buf t;
    rx_buf_init(&t, 1 << 20);
    struct rx_error *err = NULL;
    ok(tar_build(in, 4, 65534, 65534, &t, &err) == 0, "input tar builds");
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    archive_read_open_memory(a, t.data, t.len);
    struct archive_entry *e;
    char names[512] = "";
    int owned = 0, count = 0, dirs = 0;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        count++;
        strcat(names, archive_entry_pathname(e));
        strcat(names, " ");
        if (archive_entry_uid(e) == 65534 && archive_entry_gid(e) == 65534)
            owned++;
        if (archive_entry_filetype(e) == AE_IFDIR) {
            dirs++;
            if ((archive_entry_perm(e) & 0777) != 0755)
                diag("  dir %s mode %o", archive_entry_pathname(e), archive_entry_perm(e));
        }
        if (strcmp(archive_entry_pathname(e), "a/b/c.txt") == 0) {
            char buf[16] = "";
            archive_read_data(a, buf, sizeof(buf) - 1);
            is_str(buf, "hello", "file content round-trips");
        }
    }
    archive_read_free(a);
    is_str(names, "./ a/ a/b/ a/b/c.txt a/b/d.txt a/e.txt top.txt ",
           "workspace root and each parent directory once, before its files");
    is_int(owned, count, "every entry owned by 65534:65534");
    is_int(dirs, 3, "three directory entries");
    rx_buf_free(&t);

    /* Non-ASCII names survive, whatever the process locale (C here). */
    struct tar_entry_in u8 = {"été/naïve.txt", "✓", 3, 0644};
    rx_buf_init(&t, 1 << 20);
    ok(tar_build(&u8, 1, 65534, 65534, &t, &err) == 0, "UTF-8 names build in the C locale");
    rx_error_free(&err);
    a = archive_read_new();
    archive_read_support_format_tar(a);
    archive_read_open_memory(a, t.data, t.len);
    bool found = false;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK)
        found = found || strcmp(archive_entry_pathname(e), "été/naïve.txt") == 0;
    archive_read_free(a);
    ok(found, "UTF-8 name read back byte for byte");
    rx_buf_free(&t);

    /* The cap on the built tar is enforced. */
    static char big[100000];
    static struct tar_entry_in b1 = {"big", big, sizeof(big), 0644};
    rx_buf_init(&t, 50000);
    ok(tar_build(&b1, 1, 0, 0, &t, &err) < 0 && t.overflow, "input tar over its cap fails");
    rx_error_free(&err);
    rx_buf_free(&t);
}

int
main(void)
{
    reader();
    builder();
    return done_testing();
}
