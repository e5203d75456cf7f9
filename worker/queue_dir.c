/* SPDX-License-Identifier: MIT */
/* The embedded queue: a spool directory.  Every state change is one
 * rename(2) (or link(2) for results), so a crash at any point leaves each job
 * in exactly one place:
 *   incoming/NAME[~N].json    waiting (N = failed attempts so far)
 *   incoming/NAME~N+TAG.json  the same, put back where another job of its name
 *                             waited (TAG: 8 hex digits; NAME is still its stem)
 *   claimed/WORKER@NAME.json  being run by WORKER
 *   results/TASK_ID.json      done (written once: the first result wins)
 *   dead/NAME.json            gave up after max attempts, or no job at all (+ NAME.error.json)
 *   workers/WORKER            heartbeat (its mtime is the lease)
 *   running/TASK_ID           the task id's run lock: flock(2)ed by the job that runs it
 *   stats/duplicates          how many copies of a task id were dropped (under flock)
 * A name that would pass NAME_MAX with the worker id or a suffix added is
 * shortened (its stem cut, a hash of the whole stem added): only stems
 * longer than a task id may be are ever cut. */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <limits.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>

#include "executor/limits.h"
#include "executor/rx_buf.h"
#include "executor/rx_json.h"
#include "executor/rx_util.h"
#include "executor/task_id.h"
#include "worker/queue.h"

struct queue_dir {
    struct queue base;
    char *root;
    char *worker_id;
    long long lease_ms;
    int max_attempts;
    int inotify_fd; /* wakes claim when a job lands in incoming/; -1: poll; -2: not yet */
    queue_note_fn *note;
    void *note_ud;
};

/* Hashes of the incoming/ names already reported, shared by the slots: each
 * is logged once per process (the oldest forgotten past LIMIT_DIR_NOTED). */
static unsigned long long noted[LIMIT_DIR_NOTED];
static unsigned n_noted;
static pthread_mutex_t noted_lock = PTHREAD_MUTEX_INITIALIZER;

static void
dir_closep(DIR **dh)
{
    if (*dh != NULL)
        closedir(*dh);
}
/* Closes a directory stream when it goes out of scope. */
#define cleanup_dir __attribute__((cleanup(dir_closep)))

static const char *const subdirs[] = {"incoming", "claimed", "results", "dead",
                                      "workers",  "running", "stats"};

/* FNV-1a, for shortened names and the noted set. */
static unsigned long long
hash64(const char *s)
{
    unsigned long long h = 0xcbf29ce484222325ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

/* The length of a put-back tag (see requeue_file): hex digits. */
#define TAG_LEN 8

/* "~N.json" for N attempts so far, ".json" for none; with a tag (TAG_LEN
 * hex digits, or "" for none), "~N+TAG.json" even for none. */
static void
attempt_suffix(int attempts, const char *tag, char out[32])
{
    if (tag[0] != '\0')
        snprintf(out, 32, "~%d+%.*s.json", attempts, TAG_LEN, tag);
    else if (attempts > 0)
        snprintf(out, 32, "~%d.json", attempts);
    else
        snprintf(out, 32, ".json");
}

/* Report something about the incoming/ entry `name` (once per name). */
static void
note_entry(struct queue_dir *d, const char *level, const char *event, const char *name,
           const char *why)
{
    unsigned long long h = hash64(name);
    pthread_mutex_lock(&noted_lock);
    unsigned n = n_noted < LIMIT_DIR_NOTED ? n_noted : LIMIT_DIR_NOTED;
    bool seen = false;
    for (unsigned i = 0; i < n && !seen; i++)
        seen = noted[i] == h;
    if (!seen)
        noted[n_noted++ % LIMIT_DIR_NOTED] = h;
    pthread_mutex_unlock(&noted_lock);
    if (seen || d->note == NULL)
        return;
    struct json_object *f = json_object_new_object();
    json_object_object_add(f, "file", json_object_new_string(name));
    json_object_object_add(f, "reason", json_object_new_string(why));
    d->note(d->note_ud, level, event, f);
}

/* PREFIX STEM SUFFIX as one file name of at most NAME_MAX bytes: a stem
 * too long for it is cut and a hash of the whole stem added, so two long
 * stems stay two names.  Caller frees. */
static char *
fit_name(const char *prefix, const char *stem, const char *suffix)
{
    size_t fixed = strlen(prefix) + strlen(suffix);
    if (fixed + strlen(stem) <= NAME_MAX)
        return xasprintf("%s%s%s", prefix, stem, suffix);
    size_t keep = NAME_MAX - fixed - 17;
    return xasprintf("%s%.*s-%016llx%s", prefix, (int)keep, stem, hash64(stem), suffix);
}

static int
mkdir_p(const char *path, struct rx_error **err)
{
    cleanup_free char *p = xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
            return rx_error_set(err, errno, "spool %s: mkdir %s: %s", path, p, strerror(errno));
        *s = '/';
    }
    if (mkdir(p, 0755) < 0 && errno != EEXIST)
        return rx_error_set(err, errno, "spool: mkdir %s: %s", p, strerror(errno));
    return 0;
}

/* Write data to dir/name atomically (temp file, fsync, then link or rename).
 * With exclusive, an existing target is kept and *existed set. */
static int
write_atomic(const char *dir, const char *name, const char *data, size_t len, bool exclusive,
             bool *existed, struct rx_error **err)
{
    /* Unique among threads and processes (and hosts sharing the spool). */
    static atomic_uint counter;
    char host[64] = "";
    gethostname(host, sizeof(host) - 1);
    cleanup_free char *tmp = xasprintf("%s/.tmp-%s-%d-%d-%u", dir, host, (int)getpid(),
                                       (int)gettid(), atomic_fetch_add(&counter, 1));
    cleanup_free char *dst = xasprintf("%s/%s", dir, name);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return rx_error_set(err, errno, "spool: create %s: %s", tmp, strerror(errno));
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return rx_error_set(err, e, "spool: write %s: %s", tmp, strerror(e));
        }
        off += (size_t)w;
    }
    if (fsync(fd) < 0 || close(fd) < 0) {
        int e = errno;
        unlink(tmp);
        return rx_error_set(err, e, "spool: fsync %s: %s", tmp, strerror(e));
    }
    if (existed)
        *existed = false;
    if (exclusive) {
        if (link(tmp, dst) < 0) {
            int e = errno;
            unlink(tmp);
            if (e == EEXIST) {
                if (existed)
                    *existed = true;
                return 0;
            }
            return rx_error_set(err, e, "spool: link %s: %s", dst, strerror(e));
        }
        unlink(tmp);
    } else if (rename(tmp, dst) < 0) {
        int e = errno;
        unlink(tmp);
        return rx_error_set(err, e, "spool: rename %s: %s", dst, strerror(e));
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

/* Is s TAG_LEN lowercase hex digits and nothing more? */
static bool
is_tag(const char *s)
{
    size_t n = strspn(s, "0123456789abcdef");
    return n == TAG_LEN && s[n] == '\0';
}

/* "NAME~N.json" -> stem NAME, attempts N (0 without ~N); "NAME~N+TAG.json"
 * likewise, tag TAG ("" without one). */
static char *
parse_name(const char *file, int *attempts, char tag[TAG_LEN + 1])
{
    size_t n = strlen(file);
    if (n > 5 && strcmp(file + n - 5, ".json") == 0)
        n -= 5;
    char *stem = xstrndup(file, n);
    *attempts = 0;
    tag[0] = '\0';
    char *t = strrchr(stem, '~');
    if (t != NULL && isdigit((unsigned char)t[1])) {
        char *end;
        long a = strtol(t + 1, &end, 10);
        bool tagged = *end == '+' && is_tag(end + 1);
        if ((*end == '\0' || tagged) && a >= 0 && a < 1000000) {
            *attempts = (int)a;
            if (tagged)
                memcpy(tag, end + 1, TAG_LEN + 1);
            *t = '\0';
        }
    }
    return stem;
}

/* rename(2) that never replaces dst.  Where the file system refuses
 * RENAME_NOREPLACE (EINVAL: NFS, some FUSE; 2026), link(2) then unlink(2):
 * of two workers that linked one src, the one whose unlink finds it gone
 * takes its link back and fails with ENOENT, as the loser of a rename
 * would.  Not for directories (link fails with EPERM). */
static int
rename_noreplace(const char *src, const char *dst)
{
    if (renameat2(AT_FDCWD, src, AT_FDCWD, dst, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
    if (link(src, dst) < 0)
        return -1;
    if (unlink(src) < 0) {
        int e = errno;
        unlink(dst);
        errno = e;
        return -1;
    }
    return 0;
}

/* Move the claimed file src to dead/ without replacing an older dead job
 * of the same name (a tag is added to the stem then), with the reason in
 * the .error.json beside it.  0 when moved (or gone: someone else moved
 * it), -1 with errno when it stays where it is. */
static int
dead_letter(struct queue_dir *d, const char *src, const char *stem, const char *why, int attempts)
{
    cleanup_free char *ddir = xasprintf("%s/dead", d->root);
    cleanup_free char *name = NULL;
    for (int i = 0; i < 5 && name == NULL; i++) {
        cleanup_free char *tag = queue_identity_new();
        cleanup_free char *s = i == 0 ? xstrdup(stem) : xasprintf("%s-%.8s", stem, tag);
        cleanup_free char *dname = fit_name("", s, ".json");
        cleanup_free char *dst = xasprintf("%s/%s", ddir, dname);
        if (rename_noreplace(src, dst) == 0)
            name = steal_pointer(&s);
        else if (errno == ENOENT)
            return 0;
        else if (errno != EEXIST)
            return -1;
    }
    if (name == NULL) {
        errno = EEXIST;
        return -1;
    }
    cleanup_free char *ename = fit_name("", name, ".error.json");
    struct json_object *info = json_object_new_object();
    json_object_object_add(info, "error", json_object_new_string(why ? why : "unknown"));
    json_object_object_add(info, "attempts", json_object_new_int(attempts));
    const char *txt = rx_json_compact(info);
    struct rx_error *err = NULL;
    /* The job is in dead/ already: a reason that cannot be written is only
     * said in the log. */
    if (write_atomic(ddir, ename, txt, strlen(txt), false, NULL, &err) < 0) {
        note_entry(d, "error", "spool_dead_reason_lost", ename, err->msg);
        rx_error_free(&err);
    }
    json_object_put(info);
    return 0;
}

/* Open a spool file for reading: only a regular file (a FIFO or device
 * planted in the spool must not block a worker, so the open does not wait
 * and anything else is refused); *size gets its size. */
static int
open_regular(const char *path, off_t *size, struct rx_error **err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return rx_error_set(err, errno, "spool: open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return rx_error_set(err, EINVAL, "spool: %s is not a regular file", path);
    }
    *size = st.st_size;
    return fd;
}

/* Read the first `size` bytes of fd into one buffer of that size (not a
 * growing one: no copy on the way).  Caller frees *out. */
static int
read_exactly(int fd, const char *path, size_t size, char **out, size_t *len, struct rx_error **err)
{
    char *buf = xmalloc(size + 1);
    size_t off = 0;
    while (off < size) {
        ssize_t r = read(fd, buf + off, size - off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            return rx_error_set(err, e, "spool: read %s: %s", path, strerror(e));
        }
        if (r == 0)
            break;
        off += (size_t)r;
    }
    buf[off] = '\0';
    *out = buf;
    *len = off;
    return 0;
}

/* Read a small spool file (heartbeats, queue id), at most cap bytes kept:
 * *len is what was read, or the file's size when that is over cap (a file
 * that shrank as it was read is never said to hold more than was read). */
static int
read_file(const char *path, size_t cap, char **out, size_t *len, struct rx_error **err)
{
    off_t size;
    cleanup_close int fd = open_regular(path, &size, err);
    if (fd < 0)
        return -1;
    if (read_exactly(fd, path, (size_t)size < cap ? (size_t)size : cap, out, len, err) < 0)
        return -1;
    if ((size_t)size > cap)
        *len = (size_t)size;
    return 0;
}

/* Load a claimed job: refused by its size before it is read.  One that is
 * no regular file (a symbolic link: ELOOP; a FIFO, socket or device:
 * EINVAL) gets an empty payload and ends as rejected.  Any other failure
 * (EMFILE, ENFILE, EIO, ENOMEM...) is the worker's, not the job's: -1
 * with *err set, the job untouched. */
static int
load_job(struct queue_job *j, struct rx_error **err)
{
    off_t size = 0;
    struct rx_error *e = NULL;
    cleanup_close int fd = open_regular(j->handle, &size, &e);
    if (fd >= 0 && (size_t)size > LIMIT_JOB_BYTES) {
        j->too_large = true;
        j->len = (size_t)size;
        return 0;
    }
    if (fd >= 0 && read_exactly(fd, j->handle, (size_t)size, &j->payload, &j->len, &e) == 0)
        return 0;
    int code = e != NULL ? e->code : 0;
    if (code == ELOOP || code == EINVAL) {
        rx_error_free(&e);
        j->payload = xstrdup("");
        j->len = 0;
        return 0;
    }
    *err = e;
    return -1;
}

/* Set aside a claimed entry that is no job file (a directory, FIFO,
 * socket or device) in dead/, with the reason next to it. */
static void
set_aside(struct queue_dir *d, const char *claimed, const char *file, const char *why)
{
    int attempts;
    char tag[TAG_LEN + 1];
    cleanup_free char *stem = parse_name(file, &attempts, tag);
    /* If even this fails it stays claimed: a restart under this id
     * recovers it, nothing else touches it. */
    if (dead_letter(d, claimed, stem, why, 0) < 0)
        note_entry(d, "error", "spool_entry_stuck", file, strerror(errno));
    else
        note_entry(d, "warn", "spool_entry_dead", file, why);
}

static int requeue_file(struct queue_dir *d, const char *claimed_path, bool count, const char *why,
                        const char *task_id, const char *dead_result, struct rx_error **err);

/* What kind of thing a non-job entry is, for dead/'s reason. */
static const char *
not_a_job(mode_t m)
{
    return S_ISDIR(m)    ? "a directory, not a job file"
           : S_ISLNK(m)  ? "a symbolic link, not a job file"
           : S_ISFIFO(m) ? "a FIFO, not a job file"
           : S_ISSOCK(m) ? "a socket, not a job file"
                         : "a device or other special file, not a job file";
}

/* One inotify instance per slot (fs.inotify.max_user_instances is per uid,
 * 128 by default); without one, claim polls every 100 ms. */
static void
watch_incoming(struct queue_dir *d, const char *in)
{
    if (d->inotify_fd != -2)
        return;
    d->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (d->inotify_fd >= 0 &&
        inotify_add_watch(d->inotify_fd, in, IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
        close(d->inotify_fd);
        d->inotify_fd = -1;
    }
}

/* Claim incoming/NAME: renamed into claimed/ under our id.  true with *dst
 * (its new path) and *stem (its name without the attempt count); false
 * when it is not one to run (not NAME.json, another worker took it, or not
 * a job file: set aside). */
static bool
claim_entry(struct queue_dir *d, const char *in, const char *name, char **dst, char **stem)
{
    size_t n = strlen(name);
    if (name[0] == '.')
        return false; /* being written (the producer renames it in when done) */
    if (n < 6 || strcmp(name + n - 5, ".json") != 0) {
        note_entry(d, "warn", "spool_entry_ignored", name,
                   "not NAME.json: rename it to end in .json to be run (or to start "
                   "with '.' while it is being written)");
        return false;
    }
    cleanup_free char *src = xasprintf("%s/%s", in, name);
    int attempts;
    char tag[TAG_LEN + 1];
    cleanup_free char *s = parse_name(name, &attempts, tag);
    cleanup_free char *prefix = xasprintf("%s@", d->worker_id);
    char suffix[32];
    attempt_suffix(attempts, tag, suffix); /* the tag kept: NAME~N.json may be ours too */
    cleanup_free char *cname = fit_name(prefix, s, suffix);
    cleanup_free char *path = xasprintf("%s/claimed/%s", d->root, cname);
    /* Never over another claimed file of ours (two long names cut alike). */
    if (rename_noreplace(src, path) < 0) {
        if (errno != ENOENT) /* ENOENT: another worker took it */
            note_entry(d, "error", "spool_claim_failed", name, strerror(errno));
        return false;
    }
    struct stat st;
    if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
        set_aside(d, path, name, not_a_job(st.st_mode));
        return false;
    }
    *dst = steal_pointer(&path);
    *stem = steal_pointer(&s);
    return true;
}

/* Read a claimed job into *out.  When it cannot be read it is put back as
 * it was, no attempt counted; the slot backs off (a worker out of
 * descriptors would fail every job). */
static int
load_claimed(struct queue_dir *d, char *dst, char *stem, struct queue_job **out,
             struct rx_error **err)
{
    struct queue_job *j = queue_job_new();
    j->handle = dst;
    if (task_id_valid(stem, strlen(stem)))
        j->default_task_id = stem;
    else
        free(stem);
    struct rx_error *lerr = NULL;
    if (load_job(j, &lerr) < 0) {
        struct rx_error *rerr = NULL;
        if (requeue_file(d, j->handle, false, NULL, NULL, NULL, &rerr) < 0) {
            note_entry(d, "error", "spool_entry_stuck", j->handle, rerr->msg);
            rx_error_free(&rerr);
        }
        queue_job_free(j);
        rx_error_set(err, lerr->code, "%s (put back, no attempt counted)", lerr->msg);
        rx_error_free(&lerr);
        return -1;
    }
    *out = j;
    return 0;
}

/* Wait up to left ms for a new entry.  The watch predates the scan before
 * it, so a job that landed since is already an event: sleep until one,
 * rescanning at least every second all the same (a missed event costs
 * latency only). */
static void
wait_for_entries(struct queue_dir *d, long long left)
{
    if (d->inotify_fd < 0) {
        rx_sleep_ms((int)(left < 100 ? left : 100));
        return;
    }
    struct pollfd p = {.fd = d->inotify_fd, .events = POLLIN};
    if (poll(&p, 1, (int)(left < 1000 ? left : 1000)) > 0) {
        char ev[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        while (read(d->inotify_fd, ev, sizeof(ev)) > 0) {
        }
    }
}

static int
dir_claim(struct queue *q, int timeout_ms, struct queue_job **out, struct rx_error **err)
{
    struct queue_dir *d = (struct queue_dir *)q;
    cleanup_free char *in = xasprintf("%s/incoming", d->root);
    long long deadline = rx_now_ms() + timeout_ms;
    *out = NULL;
    watch_incoming(d, in);
    for (;;) {
        DIR *dh = opendir(in);
        if (dh == NULL)
            return rx_error_set(err, errno, "spool: open %s: %s", in, strerror(errno));
        struct dirent *e;
        char *dst = NULL, *stem = NULL;
        while ((e = readdir(dh)) != NULL && !claim_entry(d, in, e->d_name, &dst, &stem)) {
        }
        closedir(dh); /* e is gone after this */
        if (dst != NULL)
            return load_claimed(d, dst, stem, out, err);
        long long left = deadline - rx_now_ms();
        if (left <= 0)
            return 0;
        wait_for_entries(d, left);
    }
}

static int
dir_result_exists(struct queue *q, const char *task_id, bool *exists,
                  struct rx_error **err RX_UNUSED)
{
    struct queue_dir *d = (struct queue_dir *)q;
    cleanup_free char *p = xasprintf("%s/results/%s.json", d->root, task_id);
    *exists = access(p, F_OK) == 0;
    return 0;
}

/* Clear running/TASK_ID of what is no lock file (a directory, FIFO,
 * symbolic link... planted there: opening it would fail, or block, on
 * every try and hold the slot): removed, or a directory that is not empty
 * renamed to running/.aside-UUID. */
static int
clear_lock_path(struct queue_dir *d, const char *path, const char *task_id, mode_t mode,
                struct rx_error **err)
{
    int r;
    if (!S_ISDIR(mode)) {
        r = unlink(path);
    } else if ((r = rmdir(path)) < 0 && (errno == ENOTEMPTY || errno == EEXIST)) {
        cleanup_free char *id = queue_identity_new();
        cleanup_free char *aside = xasprintf("%s/running/.aside-%s", d->root, id);
        r = rename(path, aside);
    }
    if (r < 0 && errno != ENOENT)
        return rx_error_set(err, errno, "spool: clear %s (no regular file): %s", path,
                            strerror(errno));
    cleanup_free char *name = xasprintf("running/%s", task_id);
    note_entry(d, "warn", "spool_lock_cleared", name,
               S_ISDIR(mode) ? "a directory where the run lock file goes: moved aside"
                             : "no regular file where the run lock file goes: removed");
    return 0;
}

/* The run lock is flock(2) on running/TASK_ID, so it goes with the process
 * that holds it: a worker that dies holds nothing.  The file is removed
 * by its holder; a lock taken on a file that was removed meanwhile is no
 * lock, hence the inode check and the retry. */
static int
dir_lock(struct queue *q, struct queue_job *job, const char *task_id, bool *got,
         struct rx_error **err)
{
    struct queue_dir *d = (struct queue_dir *)q;
    cleanup_free char *path = xasprintf("%s/running/%s", d->root, task_id);
    *got = false;
    for (int tries = 0; tries < 5; tries++) {
        struct stat st;
        if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
            if (clear_lock_path(d, path, task_id, st.st_mode, err) < 0)
                return -1;
            continue;
        }
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
        if (fd < 0)
            return rx_error_set(err, errno, "spool: open %s: %s", path, strerror(errno));
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
            int e = errno;
            close(fd);
            if (e == EWOULDBLOCK)
                return 0;
            return rx_error_set(err, e, "spool: lock %s: %s", path, strerror(e));
        }
        struct stat held, now;
        if (fstat(fd, &held) == 0 && stat(path, &now) == 0 && held.st_ino == now.st_ino &&
            held.st_dev == now.st_dev) {
            free(job->lock);
            job->lock = steal_pointer(&path);
            job->lock_fd = fd;
            *got = true;
            return 0;
        }
        close(fd);
    }
    return 0;
}

static void
unlock_job(struct queue_job *job)
{
    if (job->lock == NULL)
        return;
    unlink(job->lock); /* while still holding it */
    free(steal_pointer(&job->lock));
    if (job->lock_fd >= 0)
        close(job->lock_fd);
    job->lock_fd = -1;
}

static int
dir_unlock(struct queue *q RX_UNUSED, struct queue_job *job, struct rx_error **err RX_UNUSED)
{
    unlock_job(job);
    return 0;
}

/* Add one to stats/NAME (a decimal count, under flock). */
static void
count_add(struct queue_dir *d, const char *name)
{
    cleanup_free char *path = xasprintf("%s/stats/%s", d->root, name);
    cleanup_close int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0 || flock(fd, LOCK_EX) < 0)
        return;
    char buf[32] = "";
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    char txt[32];
    int len = snprintf(txt, sizeof(txt), "%lld\n", strtoll(buf, NULL, 10) + 1);
    if (pwrite(fd, txt, (size_t)len, 0) == len) {
        int r RX_UNUSED = ftruncate(fd, len);
    }
}

static long long
count_get(struct queue_dir *d, const char *name)
{
    cleanup_free char *path = xasprintf("%s/stats/%s", d->root, name);
    char *data = NULL;
    size_t len = 0;
    struct rx_error *err = NULL;
    long long v = 0;
    if (read_file(path, 31, &data, &len, &err) == 0)
        v = strtoll(data, NULL, 10);
    free(data);
    rx_error_free(&err);
    return v;
}

/* Store results/TASK_ID.json, written once: one already there is kept. */
static int
store_result(struct queue_dir *d, const char *task_id, const char *result, struct rx_error **err)
{
    cleanup_free char *rdir = xasprintf("%s/results", d->root);
    cleanup_free char *name = xasprintf("%s.json", task_id);
    bool existed = false;
    return write_atomic(rdir, name, result, strlen(result), true, &existed, err);
}

static int
dir_complete(struct queue *q, struct queue_job *job, const char *task_id, const char *result,
             bool success RX_UNUSED, struct rx_error **err)
{
    struct queue_dir *d = (struct queue_dir *)q;
    if (result != NULL && store_result(d, task_id, result, err) < 0)
        return -1;
    if (unlink(job->handle) < 0 && errno != ENOENT)
        return rx_error_set(err, errno, "spool: remove %s: %s", job->handle, strerror(errno));
    if (result == NULL)
        count_add(d, "duplicates");
    unlock_job(job);
    return 0;
}

/* Move a claimed file back to incoming (or to dead/, with dead_result
 * stored first as task_id's result when given: see queue_ops.release).
 * Never over a file there: incoming/NAME~N.json may be another producer's
 * job (one dropped under that name, or the same name put back by another
 * worker), so a name that is taken gets a fresh tag (NAME~N+TAG.json),
 * which keeps the stem (the default task id) and the attempt count. */
static int
requeue_file(struct queue_dir *d, const char *claimed_path, bool count, const char *why,
             const char *task_id, const char *dead_result, struct rx_error **err)
{
    const char *base = strrchr(claimed_path, '/');
    base = base ? base + 1 : claimed_path;
    const char *at = strchr(base, '@');
    const char *file = at ? at + 1 : base;
    int attempts;
    char tag[TAG_LEN + 1];
    cleanup_free char *stem = parse_name(file, &attempts, tag);
    if (count)
        attempts++;
    if (count && attempts >= d->max_attempts) {
        /* A result that cannot be stored (results/ unwritable) never keeps
         * the job from dead/, as on Redis: the dead letter's reason says so. */
        cleanup_free char *lost = NULL;
        struct rx_error *serr = NULL;
        if (dead_result != NULL && task_id != NULL &&
            store_result(d, task_id, dead_result, &serr) < 0) {
            lost = xasprintf("%s; its infra_error result could not be stored: %s", why, serr->msg);
            rx_error_free(&serr);
            why = lost;
        }
        if (dead_letter(d, claimed_path, stem, why, attempts) < 0)
            return rx_error_set(err, errno, "spool: dead-letter %s: %s", claimed_path,
                                strerror(errno));
        return 1;
    }
    for (int i = 0; i < 5; i++) {
        cleanup_free char *fresh = i == 0 ? NULL : queue_identity_new();
        char suffix[32];
        attempt_suffix(attempts, i == 0 ? "" : fresh, suffix); /* a uuid starts with 8 hex */
        cleanup_free char *name = fit_name("", stem, suffix);
        cleanup_free char *dst = xasprintf("%s/incoming/%s", d->root, name);
        if (rename_noreplace(claimed_path, dst) == 0 || errno == ENOENT)
            return 0; /* ENOENT: someone else moved it */
        if (errno != EEXIST)
            return rx_error_set(err, errno, "spool: requeue %s: %s", dst, strerror(errno));
    }
    /* It stays claimed: a reap or a restart under this id tries again. */
    return rx_error_set(err, EEXIST, "spool: requeue %s: five names taken in incoming/",
                        claimed_path);
}

static int
dir_release(struct queue *q, struct queue_job *job, bool count, const char *why,
            const char *task_id, const char *dead_result, struct rx_error **err)
{
    int r = requeue_file((struct queue_dir *)q, job->handle, count, why, task_id, dead_result, err);
    if (r >= 0)
        unlock_job(job);
    return r;
}

static int
dir_heartbeat(struct queue *q, const struct queue_beat *beat, struct rx_error **err)
{
    struct queue_dir *d = (struct queue_dir *)q;
    cleanup_free char *wdir = xasprintf("%s/workers", d->root);
    cleanup_json struct json_object *o = queue_beat_json(d->worker_id, beat);
    const char *s = rx_json_compact(o);
    return write_atomic(wdir, d->worker_id, s, strlen(s), false, NULL, err);
}

/* Age of a worker's heartbeat in ms, or -1 when it has none. */
static long long
heartbeat_age(struct queue_dir *d, const char *wid)
{
    cleanup_free char *p = xasprintf("%s/workers/%s", d->root, wid);
    struct stat st;
    if (stat(p, &st) < 0)
        return -1;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    long long age = (now.tv_sec - st.st_mtim.tv_sec) * 1000LL +
                    (now.tv_nsec - st.st_mtim.tv_nsec) / 1000000LL;
    return age < 0 ? 0 : age;
}

static int
dir_worker_alive(struct queue *q, const char *wid, bool *alive, struct rx_error **err RX_UNUSED)
{
    struct queue_dir *d = (struct queue_dir *)q;
    if (strchr(wid, '/') != NULL || wid[0] == '.') {
        *alive = false;
        return 0;
    }
    long long age = heartbeat_age(d, wid);
    *alive = age >= 0 && age <= d->lease_ms;
    return 0;
}

static int
dir_reap(struct queue *q, int *n, struct rx_error **err)
{
    struct queue_dir *d = (struct queue_dir *)q;
    cleanup_free char *cdir = xasprintf("%s/claimed", d->root);
    *n = 0;
    cleanup_dir DIR *dh = opendir(cdir);
    if (dh == NULL)
        return rx_error_set(err, errno, "spool: open %s: %s", cdir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(dh)) != NULL) {
        const char *at = strchr(e->d_name, '@');
        if (e->d_name[0] == '.' || at == NULL)
            continue;
        cleanup_free char *wid = xstrndup(e->d_name, (size_t)(at - e->d_name));
        if (strcmp(wid, d->worker_id) == 0)
            continue;
        bool alive = false;
        dir_worker_alive(q, wid, &alive, NULL);
        if (alive)
            continue;
        cleanup_free char *path = xasprintf("%s/%s", cdir, e->d_name);
        struct rx_error *e2 = NULL;
        if (requeue_file(d, path, true, "the worker running it stopped heartbeating", NULL, NULL,
                         &e2) >= 0)
            (*n)++;
        rx_error_free(&e2);
    }
    return 0;
}

static int
dir_recover(struct queue *q, int *n, struct rx_error **err)
{
    struct queue_dir *d = (struct queue_dir *)q;
    cleanup_free char *cdir = xasprintf("%s/claimed", d->root);
    cleanup_free char *mine = xasprintf("%s@", d->worker_id);
    *n = 0;
    cleanup_dir DIR *dh = opendir(cdir);
    if (dh == NULL)
        return rx_error_set(err, errno, "spool: open %s: %s", cdir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(dh)) != NULL) {
        if (strncmp(e->d_name, mine, strlen(mine)) != 0)
            continue;
        cleanup_free char *path = xasprintf("%s/%s", cdir, e->d_name);
        struct rx_error *e2 = NULL;
        if (requeue_file(d, path, true, "the worker running it was restarted", NULL, NULL, &e2) >=
            0)
            (*n)++;
        rx_error_free(&e2);
    }
    return 0;
}

static int
count_json(const char *dir, const char *skip_suffix)
{
    cleanup_dir DIR *dh = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (dh && (e = readdir(dh)) != NULL) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == '.' || l < 6 || strcmp(e->d_name + l - 5, ".json") != 0)
            continue;
        if (skip_suffix && l > strlen(skip_suffix) &&
            strcmp(e->d_name + l - strlen(skip_suffix), skip_suffix) == 0)
            continue;
        n++;
    }
    return n;
}

static int
dir_depth(struct queue *q, long long *n, struct rx_error **err RX_UNUSED)
{
    struct queue_dir *d = (struct queue_dir *)q;
    cleanup_free char *in = xasprintf("%s/incoming", d->root);
    *n = count_json(in, NULL);
    return 0;
}

static int
dir_status(struct queue *q, struct json_object **out, struct rx_error **err RX_UNUSED)
{
    struct queue_dir *d = (struct queue_dir *)q;
    struct json_object *o = json_object_new_object();
    cleanup_free char *in = xasprintf("%s/incoming", d->root);
    cleanup_free char *dead = xasprintf("%s/dead", d->root);
    cleanup_free char *res = xasprintf("%s/results", d->root);
    cleanup_free char *wdir = xasprintf("%s/workers", d->root);
    json_object_object_add(o, "queued", json_object_new_int(count_json(in, NULL)));
    struct json_object *proc = json_object_new_object();
    struct json_object *workers = json_object_new_object();
    cleanup_dir DIR *wdh = opendir(wdir);
    struct dirent *e;
    while (wdh && (e = readdir(wdh)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        long long age = heartbeat_age(d, e->d_name);
        if (age < 0 || age > d->lease_ms)
            continue;
        cleanup_free char *p = xasprintf("%s/%s", wdir, e->d_name);
        cleanup_free char *data = NULL;
        size_t len = 0;
        cleanup_error struct rx_error *e2 = NULL;
        if (read_file(p, LIMIT_HEARTBEAT_BYTES, &data, &len, &e2) < 0)
            data = xstrdup("");
        queue_status_add_worker(proc, workers, e->d_name, data, strlen(data));
    }
    json_object_object_add(o, "processing", proc);
    json_object_object_add(o, "workers", workers);
    int done = 0, failed = 0;
    cleanup_dir DIR *rdh = opendir(res);
    while (rdh && (e = readdir(rdh)) != NULL) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == '.' || l < 6 || strcmp(e->d_name + l - 5, ".json") != 0)
            continue;
        cleanup_free char *p = xasprintf("%s/%s", res, e->d_name);
        cleanup_free char *data = NULL;
        size_t len = 0;
        cleanup_error struct rx_error *e2 = NULL;
        if (read_file(p, LIMIT_RESULT_FILE_BYTES, &data, &len, &e2) == 0) {
            cleanup_json struct json_object *r = rx_json_parse(data, strlen(data), "result", NULL);
            const char *st = rx_json_get_str(r, "status");
            if (st && strcmp(st, "success") == 0)
                done++;
            else
                failed++;
        }
    }
    json_object_object_add(o, "done", json_object_new_int(done));
    json_object_object_add(o, "failed", json_object_new_int(failed));
    json_object_object_add(o, "dead", json_object_new_int(count_json(dead, ".error.json")));
    json_object_object_add(o, "duplicates", json_object_new_int64(count_get(d, "duplicates")));
    *out = o;
    return 0;
}

static int
dir_identity(struct queue *q, char **id, struct rx_error **err)
{
    struct queue_dir *d = (struct queue_dir *)q;
    cleanup_free char *path = xasprintf("%s/queue-id", d->root);
    if (access(path, F_OK) < 0) {
        /* Linked into place whole: the first worker's id wins and nobody
         * reads a half-written one. */
        cleanup_free char *fresh = queue_identity_new();
        if (write_atomic(d->root, "queue-id", fresh, strlen(fresh), true, NULL, err) < 0)
            return -1;
    }
    char *data = NULL;
    size_t len = 0;
    if (read_file(path, 64, &data, &len, err) < 0)
        return -1;
    /* One id, a newline allowed (len is the whole file, data its first 64 bytes). */
    if (len <= 64)
        while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
            len--;
    if (len > 64 || !queue_identity_valid(data, len)) {
        free(data);
        return rx_error_set(err, EPROTO,
                            "spool: %s is not a queue id (a regular file holding one; delete it "
                            "to make a new one)",
                            path);
    }
    data[len] = '\0';
    *id = data;
    return 0;
}

static void
dir_unregister(struct queue *q)
{
    struct queue_dir *d = (struct queue_dir *)q;
    cleanup_free char *p = xasprintf("%s/workers/%s", d->root, d->worker_id);
    unlink(p);
}

static void
dir_close(struct queue *q)
{
    struct queue_dir *d = (struct queue_dir *)q;
    if (d->inotify_fd >= 0)
        close(d->inotify_fd);
    free(d->root);
    free(d->worker_id);
    free(d);
}

static int
dir_enqueue(struct queue *q, const char *task_id, const char *payload, size_t len, bool *queued,
            struct rx_error **err)
{
    struct queue_dir *d = (struct queue_dir *)q;
    cleanup_free char *in = xasprintf("%s/incoming", d->root);
    cleanup_free char *name = xasprintf("%s.json", task_id);
    /* Linked in whole (the worker never sees a half-written job), and never
     * over a job already there under that name. */
    bool existed = false;
    if (write_atomic(in, name, payload, len, true, &existed, err) < 0)
        return -1;
    *queued = !existed;
    return 0;
}

static int
dir_result_get(struct queue *q, const char *task_id, char **json, size_t *len,
               struct rx_error **err)
{
    struct queue_dir *d = (struct queue_dir *)q;
    cleanup_free char *p = xasprintf("%s/results/%s.json", d->root, task_id);
    *json = NULL;
    struct rx_error *e = NULL;
    if (read_file(p, LIMIT_RESULT_READ_BYTES + 1, json, len, &e) < 0) {
        if (e->code == ENOENT) {
            rx_error_free(&e);
            return 0;
        }
        *err = e;
        return -1;
    }
    if (*len > LIMIT_RESULT_READ_BYTES) {
        free(steal_pointer(json));
        return rx_error_set(err, EFBIG, "spool: %s holds more than %u bytes (the job is done)", p,
                            LIMIT_RESULT_READ_BYTES);
    }
    return 0;
}

static const struct queue_ops dir_ops = {
    .mends_itself = false,
    .claim = dir_claim,
    .result_exists = dir_result_exists,
    .lock = dir_lock,
    .unlock = dir_unlock,
    .complete = dir_complete,
    .release = dir_release,
    .heartbeat = dir_heartbeat,
    .reap = dir_reap,
    .recover = dir_recover,
    .worker_alive = dir_worker_alive,
    .status = dir_status,
    .identity = dir_identity,
    .enqueue = dir_enqueue,
    .result_get = dir_result_get,
    .depth = dir_depth,
    .unregister = dir_unregister,
    .close = dir_close,
};

/* Does DIR fold case (vfat, an ext4 directory with +F, a macOS volume)?
 * There task ids "Job" and "job" would share one result and one lock. */
static bool
folds_case(const char *dir)
{
    cleanup_free char *id = queue_identity_new();
    cleanup_free char *lower = xasprintf("%s/.case-probe-%s-x", dir, id);
    cleanup_free char *upper = xasprintf("%s/.case-probe-%s-X", dir, id);
    int fd = open(lower, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return false; /* read-only (status): nothing can be stored there either */
    close(fd);
    bool folds = access(upper, F_OK) == 0;
    unlink(lower);
    return folds;
}

struct queue *
queue_dir_open(const char *path, const struct queue_cfg *cfg, struct rx_error **err)
{
    if (path[0] == '\0')
        return rx_error_reject(err, "queue dir: needs a path (dir:/var/spool/ralph)"), NULL;
    char *root = realpath(path, NULL);
    if (root == NULL && cfg->must_exist)
        return rx_error_reject(err, "queue dir %s: %s (no spool there)", path, strerror(errno)),
               NULL;
    if (root == NULL) {
        if (mkdir_p(path, err) < 0)
            return NULL;
        root = realpath(path, NULL);
        if (root == NULL)
            return rx_error_set(err, errno, "queue dir %s: %s", path, strerror(errno)), NULL;
    }
    for (size_t i = 0; i < RX_ARRAY_SIZE(subdirs); i++) {
        cleanup_free char *p = xasprintf("%s/%s", root, subdirs[i]);
        if (mkdir_p(p, err) < 0) {
            free(root);
            return NULL;
        }
        if ((strcmp(subdirs[i], "results") == 0 || strcmp(subdirs[i], "running") == 0) &&
            folds_case(p)) {
            free(root);
            return rx_error_reject(err,
                                   "spool %s: the file system folds case there, so task "
                                   "ids that differ only in case would share a result: "
                                   "use a case-sensitive one",
                                   p),
                   NULL;
        }
    }
    struct queue_dir *d = xcalloc(1, sizeof(*d));
    d->base.ops = &dir_ops;
    d->root = root;
    d->worker_id = xstrdup(cfg->worker_id);
    d->lease_ms = cfg->lease_ms;
    d->max_attempts = cfg->max_attempts;
    d->inotify_fd = -2; /* made by the first claim: only slots need one */
    d->note = cfg->note;
    d->note_ud = cfg->note_ud;
    return &d->base;
}
