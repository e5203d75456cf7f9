/* SPDX-License-Identifier: MIT */
/* The spool queue against a hostile producer, without an engine: names at
 * the file system's limit, jobs over the size cap, special entries, and the
 * run lock of a task id.  The queue's sources are compiled in (it is not part
 * of libexecutor.a); Redis is stubbed out. */
#include "worker/queue.c"

#include <fcntl.h>
#include <stdarg.h>

/* Every open(2) of the queue goes through here: fail_claimed_open makes
 * the opening of a claimed job fail as a worker out of descriptors would
 * (the claim frees the descriptor of its scan just before, so using them
 * up cannot hit that one open). */
static int fail_claimed_open;

static int
test_open(const char *path, int flags, ...)
{
    mode_t mode = 0;
    if (flags & O_CREAT) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    if (fail_claimed_open && strstr(path, "/claimed/") != NULL) {
        errno = fail_claimed_open;
        return -1;
    }
    return open(path, flags, mode);
}

/* no_noreplace: renameat2 refuses RENAME_NOREPLACE, as on NFS. */
static int no_noreplace;

static int
test_renameat2(int ofd, const char *src, int nfd, const char *dst, unsigned flags)
{
    if (no_noreplace && (flags & RENAME_NOREPLACE)) {
        errno = EINVAL;
        return -1;
    }
    return renameat2(ofd, src, nfd, dst, flags);
}

#define open test_open
#define renameat2 test_renameat2
#include "worker/queue_dir.c"
#undef open
#undef renameat2

#include <ftw.h>

#include "tests/lib/tap.h"

struct queue *
queue_redis_open(const char *url RX_UNUSED, const struct queue_cfg *cfg RX_UNUSED,
                 struct rx_error **err)
{
    return rx_error_set(err, ENOTSUP, "no redis in this test"), NULL;
}

static char root[] = "/tmp/test_queue_dir.XXXXXX";

static int
rm_one(const char *path, const struct stat *st RX_UNUSED, int flag RX_UNUSED,
       struct FTW *ftw RX_UNUSED)
{
    remove(path);
    return 0;
}
static int notes;

static void
count_note(void *ud RX_UNUSED, const char *level RX_UNUSED, const char *event RX_UNUSED,
           struct json_object *fields)
{
    notes++;
    json_object_put(fields);
}

static struct queue *
open_as(const char *worker_id)
{
    struct queue_cfg cfg = {.worker_id = worker_id,
                            .lease_ms = 30000,
                            .max_attempts = 2,
                            .note = count_note};
    struct rx_error *err = NULL;
    struct queue *q = queue_dir_open(root, &cfg, &err);
    if (q == NULL)
        diag("open: %s", err->msg);
    rx_error_free(&err);
    return q;
}

static void
drop(const char *name, const char *text)
{
    cleanup_free char *p = xasprintf("%s/incoming/%s", root, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
}

static struct queue_job *
claim(struct queue *q)
{
    struct queue_job *j = NULL;
    struct rx_error *err = NULL;
    if (q->ops->claim(q, 0, &j, &err) < 0) {
        diag("claim: %s", err->msg);
        rx_error_free(&err);
    }
    return j;
}

static int
count_dir(const char *sub)
{
    cleanup_free char *p = xasprintf("%s/%s", root, sub);
    DIR *dh = opendir(p);
    int n = 0;
    struct dirent *e;
    while (dh && (e = readdir(dh)) != NULL)
        n += e->d_name[0] != '.';
    if (dh)
        closedir(dh);
    return n;
}

static void
names(void)
{
    char stem[300];
    memset(stem, 'a', 250);
    stem[250] = '\0';
    cleanup_free char *a = fit_name("worker-id@", stem, ".json");
    stem[249] = 'b';
    cleanup_free char *b = fit_name("worker-id@", stem, ".json");
    ok(strlen(a) <= NAME_MAX && strlen(b) <= NAME_MAX, "cut names fit NAME_MAX (%zu, %zu)",
       strlen(a), strlen(b));
    ok(strcmp(a, b) != 0, "two long stems cut alike stay two names");
    cleanup_free char *c = fit_name("w@", "job-1", "~2.json");
    is_str(c, "w@job-1~2.json", "a short name is kept as it is");
    int attempts = -1;
    char tag[TAG_LEN + 1];
    cleanup_free char *t1 = parse_name("job-1~2+0123abcd.json", &attempts, tag);
    ok(strcmp(t1, "job-1") == 0 && attempts == 2 && strcmp(tag, "0123abcd") == 0,
       "a put-back tag keeps the stem and the count (%s, %d, %s)", t1, attempts, tag);
    cleanup_free char *t2 = parse_name("job-1~2+0123ABCD.json", &attempts, tag);
    ok(strcmp(t2, "job-1~2+0123ABCD") == 0 && attempts == 0 && tag[0] == '\0',
       "anything else after ~N is part of the stem (%s)", t2);
}

/* A 255-byte name under a 100-character worker id: claimed, requeued with
 * its attempt count, then dead-lettered with the reason. */
static void
long_name(void)
{
    char id[101];
    memset(id, 'w', 100);
    id[100] = '\0';
    struct queue *q = open_as(id);
    char name[256];
    memset(name, 'n', 250);
    memcpy(name + 250, ".json", 6);
    drop(name, "{\"command\":[\"true\"]}");
    struct queue_job *j = claim(q);
    ok(j != NULL && j->payload && strcmp(j->payload, "{\"command\":[\"true\"]}") == 0,
       "a 255-byte name is claimed under a 100-character worker id");
    ok(j && j->default_task_id == NULL, "it is too long to be a task id");
    struct rx_error *err = NULL;
    ok(j && q->ops->release(q, j, true, "first try", NULL, NULL, &err) == 0, "requeued once");
    queue_job_free(j);
    ok(count_dir("incoming") == 1 && count_dir("claimed") == 0, "back in incoming/");
    j = claim(q);
    ok(j != NULL, "claimed again");
    ok(j && q->ops->release(q, j, true, "second try", NULL, NULL, &err) == 1,
       "dead-lettered after its second attempt (the count survived the cut name)");
    queue_job_free(j);
    ok(count_dir("dead") == 2 && count_dir("incoming") == 0 && count_dir("claimed") == 0,
       "in dead/ with its reason");
    rx_error_free(&err);
    q->ops->close(q);
}

static void
too_large(void)
{
    struct queue *q = open_as("w1");
    cleanup_free char *p = xasprintf("%s/incoming/huge.json", root);
    int fd = open(p, O_WRONLY | O_CREAT, 0644);
    ok(fd >= 0 && ftruncate(fd, 300ll << 20) == 0, "a sparse 300 MB job file");
    close(fd);
    struct queue_job *j = claim(q);
    ok(j && j->too_large && j->payload == NULL && j->len == (300u << 20),
       "refused by its size, not read (len %zu)", j ? j->len : 0);
    ok(j && j->default_task_id && strcmp(j->default_task_id, "huge") == 0,
       "its task id is its name");
    struct rx_error *err = NULL;
    ok(j && q->ops->complete(q, j, "huge", "{}", false, &err) == 0, "its result is stored");
    queue_job_free(j);
    rx_error_free(&err);
    q->ops->close(q);
}

static void
special_entries(void)
{
    struct queue *q = open_as("w2");
    cleanup_free char *fifo = xasprintf("%s/incoming/afifo.json", root);
    cleanup_free char *dir = xasprintf("%s/incoming/adir.json", root);
    ok(mkfifo(fifo, 0644) == 0 && mkdir(dir, 0755) == 0, "a FIFO and a directory in incoming/");
    drop("notes.txt", "{}");
    notes = 0;
    struct queue_job *j = claim(q);
    ok(j == NULL, "neither is a job");
    ok(count_dir("incoming") == 1, "only notes.txt is left in incoming/");
    cleanup_free char *why = xasprintf("%s/dead/afifo.error.json", root);
    char *data = NULL;
    size_t len = 0;
    struct rx_error *err = NULL;
    ok(read_file(why, 4096, &data, &len, &err) == 0 && strstr(data, "a FIFO"),
       "dead/afifo.error.json says what it is");
    free(data);
    rx_error_free(&err);
    int before = notes;
    j = claim(q);
    ok(j == NULL && notes == before, "notes.txt is reported once, not at every scan (%d)", notes);
    ok(before == 3, "three reports: two set aside, one ignored (%d)", before);
    q->ops->close(q);
}

static void
run_lock(void)
{
    struct queue *a = open_as("wa"), *b = open_as("wb");
    drop("one.json", "{\"task_id\":\"T\",\"command\":[\"true\"]}");
    drop("two.json", "{\"task_id\":\"T\",\"command\":[\"true\"]}");
    struct queue_job *ja = claim(a), *jb = claim(b);
    ok(ja && jb, "two copies of task id T claimed by two workers");
    bool got_a = false, got_b = true;
    struct rx_error *err = NULL;
    ok(ja && a->ops->lock(a, ja, "T", &got_a, &err) == 0 && got_a, "the first takes T's lock");
    ok(jb && b->ops->lock(b, jb, "T", &got_b, &err) == 0 && !got_b, "the second does not");
    /* The first crashes: its lock goes with it. */
    if (ja && ja->lock_fd >= 0) {
        close(ja->lock_fd);
        ja->lock_fd = -1;
    }
    ok(jb && b->ops->lock(b, jb, "T", &got_b, &err) == 0 && got_b,
       "a holder that died holds nothing");
    ok(jb && b->ops->complete(b, jb, "T", "{\"status\":\"success\"}", true, &err) == 0,
       "the second completes");
    ok(count_dir("running") == 0, "and gives up the lock (no file left in running/)");
    ok(ja && a->ops->lock(a, ja, "T", &got_a, &err) == 0 && got_a, "then T's lock is free again");
    ok(ja && a->ops->complete(a, ja, "T", NULL, true, &err) == 0, "a duplicate is dropped");
    struct json_object *st = NULL;
    int r = a->ops->status(a, &st, &err);
    ok(r == 0 && json_object_get_int(json_object_object_get(st, "duplicates")) == 1,
       "and counted: status %s", st ? json_object_to_json_string(st) : "?");
    json_object_put(st);
    rx_error_free(&err);
    queue_job_free(ja);
    queue_job_free(jb);
    a->ops->close(a);
    b->ops->close(b);
}

/* A job the worker cannot read for its own reasons (out of descriptors)
 * goes back as it was, no attempt counted; a symbolic link is no job. */
static void
read_failures(void)
{
    struct queue *q = open_as("w3");
    drop("later.json", "{\"command\":[\"true\"]}");
    struct queue_job *j = NULL;
    struct rx_error *err = NULL;
    fail_claimed_open = EMFILE;
    int r = q->ops->claim(q, 0, &j, &err);
    fail_claimed_open = 0;
    ok(r < 0 && j == NULL && err && err->code == EMFILE, "the claim fails with EMFILE (%s)",
       err ? err->msg : "no error");
    rx_error_free(&err);
    cleanup_free char *back = xasprintf("%s/incoming/later.json", root);
    cleanup_free char *res = xasprintf("%s/results/later.json", root);
    ok(access(back, F_OK) == 0 && count_dir("claimed") == 0 && access(res, F_OK) < 0,
       "the job is back in incoming/ under its own name: no attempt, no result");
    j = claim(q);
    ok(j && j->payload && strcmp(j->payload, "{\"command\":[\"true\"]}") == 0,
       "and is claimed whole once descriptors are free");
    ok(j && q->ops->complete(q, j, "later", "{}", true, &err) == 0, "and completed");
    queue_job_free(j);

    cleanup_free char *link = xasprintf("%s/incoming/alink.json", root);
    ok(symlink("/etc/passwd", link) == 0, "a symbolic link in incoming/");
    j = claim(q);
    ok(j && j->payload && j->len == 0, "is claimed with an empty payload (it ends rejected)");
    ok(j && q->ops->complete(q, j, "alink", "{}", false, &err) == 0, "and completed");
    queue_job_free(j);
    rx_error_free(&err);
    q->ops->close(q);
}

/* What a producer plants at running/TASK_ID is cleared: the lock is taken. */
static void
planted_locks(void)
{
    struct queue *q = open_as("w4");
    cleanup_free char *dir = xasprintf("%s/running/D", root);
    cleanup_free char *full = xasprintf("%s/running/E", root);
    cleanup_free char *inner = xasprintf("%s/running/E/x", root);
    cleanup_free char *fifo = xasprintf("%s/running/F", root);
    cleanup_free char *link = xasprintf("%s/running/L", root);
    ok(mkdir(dir, 0755) == 0 && mkdir(full, 0755) == 0 && mkdir(inner, 0755) == 0 &&
           mkfifo(fifo, 0644) == 0 && symlink("/etc/passwd", link) == 0,
       "a directory, a directory with something in it, a FIFO and a link in running/");
    const char *ids[] = {"D", "E", "F", "L"};
    for (int i = 0; i < 4; i++) {
        struct queue_job *j = queue_job_new();
        bool got = false;
        struct rx_error *err = NULL;
        int r = q->ops->lock(q, j, ids[i], &got, &err);
        ok(r == 0 && got && j->lock_fd >= 0, "running/%s: the lock is taken (%s)", ids[i],
           err ? err->msg : "no error");
        struct stat st;
        ok(lstat(j->lock ? j->lock : "", &st) == 0 && S_ISREG(st.st_mode),
           "running/%s is a lock file now", ids[i]);
        rx_error_free(&err);
        q->ops->unlock(q, j, &err);
        queue_job_free(j);
    }
    ok(count_dir("running") == 0, "all four given up");
    q->ops->close(q);
}

/* Claims and dead letters where RENAME_NOREPLACE is refused (EINVAL), and
 * a dead letter whose name is taken: nothing is replaced. */
static void
no_replace(void)
{
    for (int pass = 0; pass < 2; pass++) {
        no_noreplace = pass;
        const char *how = pass ? "by link and unlink (EINVAL)" : "by renameat2";
        struct queue *q = open_as(pass ? "w6" : "w5");
        cleanup_free char *name = xasprintf("dl%d.json", pass);
        cleanup_free char *old = xasprintf("%s/dead/dl%d.json", root, pass);
        FILE *f = fopen(old, "w");
        fputs("an older dead job", f);
        fclose(f);
        drop(name, "{\"command\":[\"false\"]}");
        struct queue_job *j = claim(q);
        ok(j && j->payload && strstr(j->payload, "false"), "claimed %s", how);
        struct rx_error *err = NULL;
        int r1 = j ? q->ops->release(q, j, true, "one", NULL, NULL, &err) : -1;
        queue_job_free(j);
        j = claim(q);
        int r2 = j ? q->ops->release(q, j, true, "two", NULL, NULL, &err) : -1;
        queue_job_free(j);
        ok(r1 == 0 && r2 == 1, "requeued, then dead-lettered %s (%d, %d: %s)", how, r1, r2,
           err ? err->msg : "no error");
        rx_error_free(&err);
        char *data = NULL;
        size_t len = 0;
        ok(read_file(old, 100, &data, &len, &err) == 0 && strcmp(data, "an older dead job") == 0,
           "the older dead/%s is kept", name);
        free(data);
        rx_error_free(&err);
        /* dead/dlN-XXXXXXXX.json and its .error.json beside the older one. */
        cleanup_free char *dd = xasprintf("%s/dead", root);
        DIR *dh = opendir(dd);
        struct dirent *e;
        int job = 0, reason = 0;
        cleanup_free char *pfx = xasprintf("dl%d-", pass);
        while (dh && (e = readdir(dh)) != NULL) {
            if (strncmp(e->d_name, pfx, strlen(pfx)) != 0)
                continue;
            size_t l = strlen(e->d_name);
            if (l > 11 && strcmp(e->d_name + l - 11, ".error.json") == 0)
                reason++;
            else
                job++;
        }
        if (dh)
            closedir(dh);
        ok(job == 1 && reason == 1,
           "the new one is beside it under another name, with its "
           "reason (%d, %d)",
           job, reason);
        ok(count_dir("claimed") == 0, "nothing left in claimed/");
        q->ops->close(q);
    }
    no_noreplace = 0;
}

/* ralph-worker submit's side: a job linked in whole under its task id,
 * never over one there; results read back, a missing one as none. */
static void
producer(void)
{
    struct queue *q = open_as("producer");
    struct rx_error *err = NULL;
    bool queued = false;
    const char job[] = "{\"task_id\":\"p1\",\"command\":[\"true\"]}";
    ok(q->ops->enqueue(q, "p1", job, strlen(job), &queued, &err) == 0 && queued, "enqueue: queued");
    cleanup_free char *p = xasprintf("%s/incoming/p1.json", root);
    char *data = NULL;
    size_t len = 0;
    FILE *f = fopen(p, "r");
    if (f != NULL) {
        data = xcalloc(1, 256);
        len = fread(data, 1, 255, f);
        fclose(f);
    }
    ok(data != NULL && len == strlen(job) && memcmp(data, job, len) == 0,
       "incoming/p1.json holds the job as given");
    free(data);
    ok(q->ops->enqueue(q, "p1", "{}", 2, &queued, &err) == 0 && !queued,
       "a second job under that task id is not queued over the first");
    struct queue_job *j = claim(q);
    ok(j != NULL && j->payload != NULL && strcmp(j->payload, job) == 0,
       "a worker claims it as written");
    char *res = NULL;
    ok(q->ops->result_get(q, "p1", &res, &len, &err) == 0 && res == NULL, "no result yet: none");
    ok(q->ops->complete(q, j, "p1", "{\"status\":\"success\"}", true, &err) == 0, "completed");
    ok(q->ops->result_get(q, "p1", &res, &len, &err) == 0 && res != NULL &&
           strcmp(res, "{\"status\":\"success\"}") == 0,
       "its result is read back");
    free(res);
    queue_job_free(j);
    rx_error_free(&err);
    q->ops->close(q);
}

/* A job dead-lettered with a result: the result stored under its task id
 * (no job waits for ever on it), never over one already there; a job only
 * requeued stores none. */
static void
dead_result(void)
{
    struct queue *q = open_as("w7");
    struct rx_error *err = NULL;
    const char res[] = "{\"task_id\":\"d1\",\"status\":\"infra_error\"}";
    drop("d1.json", "{\"task_id\":\"d1\",\"command\":[\"true\"]}");
    struct queue_job *j = claim(q);
    ok(j && q->ops->release(q, j, true, "one", "d1", res, &err) == 0, "requeued");
    queue_job_free(j);
    char *got = NULL;
    size_t len = 0;
    ok(q->ops->result_get(q, "d1", &got, &len, &err) == 0 && got == NULL,
       "no result for a job requeued");
    j = claim(q);
    ok(j && q->ops->release(q, j, true, "two", "d1", res, &err) == 1, "dead-lettered");
    queue_job_free(j);
    ok(q->ops->result_get(q, "d1", &got, &len, &err) == 0 && got != NULL && strcmp(got, res) == 0,
       "its result is stored");
    free(got);

    const char first[] = "{\"status\":\"success\"}";
    drop("d2.json", "{\"task_id\":\"d2\",\"command\":[\"true\"]}");
    j = claim(q);
    ok(j && q->ops->complete(q, j, "d2", first, true, &err) == 0, "d2 has a result");
    queue_job_free(j);
    drop("d2.json", "{\"task_id\":\"d2\",\"command\":[\"true\"]}");
    for (int i = 0; i < 2; i++) {
        j = claim(q);
        ok(j && q->ops->release(q, j, true, "again", "d2", res, &err) == i, "d2 released (%d)", i);
        queue_job_free(j);
    }
    ok(q->ops->result_get(q, "d2", &got, &len, &err) == 0 && got != NULL && strcmp(got, first) == 0,
       "a dead letter keeps the result already there");
    free(got);

    /* results/ unusable (here a file where the directory was): the job is
     * dead-lettered all the same, its reason saying the result was lost. */
    char rdir[256], rsave[256], reason[256];
    snprintf(rdir, sizeof(rdir), "%s/results", root);
    snprintf(rsave, sizeof(rsave), "%s/results.saved", root);
    snprintf(reason, sizeof(reason), "%s/dead/d3.error.json", root);
    drop("d3.json", "{\"task_id\":\"d3\",\"command\":[\"true\"]}");
    ok(rename(rdir, rsave) == 0 && close(open(rdir, O_CREAT | O_WRONLY, 0600)) == 0,
       "results/ replaced by a file");
    for (int i = 0; i < 2; i++) {
        j = claim(q);
        ok(j && q->ops->release(q, j, true, "lost", "d3", res, &err) == i, "d3 released (%d)", i);
        queue_job_free(j);
    }
    char *why = NULL;
    size_t why_len = 0;
    int got_why = read_file(reason, 1 << 16, &why, &why_len, &err);
    ok(got_why == 0 && why != NULL && strstr(why, "could not be stored") != NULL,
       "d3 is in dead/, its reason says the result was lost (%s)", why ? why : "none");
    free(why);
    ok(unlink(rdir) == 0 && rename(rsave, rdir) == 0, "results/ back");
    rx_error_free(&err);
    q->ops->close(q);
}

/* Read a spool file whole (tests only). */
static char *
slurp(const char *path)
{
    char *data = NULL;
    size_t len = 0;
    struct rx_error *err = NULL;
    if (read_file(path, 1 << 16, &data, &len, &err) < 0)
        rx_error_free(&err);
    return data;
}

/* How many files in incoming/ hold text; *stem_ok: all are NAME[~N...].json
 * of the stem given. */
static int
incoming_holding(const char *text, const char *stem, bool *stem_ok)
{
    cleanup_free char *in = xasprintf("%s/incoming", root);
    DIR *dh = opendir(in);
    struct dirent *e;
    int n = 0;
    while (dh && (e = readdir(dh)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        size_t l = strlen(stem);
        if (strncmp(e->d_name, stem, l) != 0 || !strchr(".~", e->d_name[l]))
            *stem_ok = false;
        cleanup_free char *p = xasprintf("%s/%s", in, e->d_name);
        cleanup_free char *data = slurp(p);
        n += data != NULL && strcmp(data, text) == 0;
    }
    if (dh)
        closedir(dh);
    return n;
}

/* A job put back (released, reaped or recovered) under a name another
 * producer's job already has in incoming/ replaces neither: it goes back
 * under a tagged name that keeps its stem (its default task id) and its
 * attempt count. */
static void
put_back_taken(void)
{
    const char mine[] = "{\"command\":[\"echo\",\"mine\"]}";
    const char theirs[] = "{\"command\":[\"echo\",\"theirs\"]}";
    cleanup_free char *notes_txt = xasprintf("%s/incoming/notes.txt", root);
    unlink(notes_txt); /* special_entries' */
    for (int pass = 0; pass < 2; pass++) {
        no_noreplace = pass;
        const char *how = pass ? "by link and unlink (EINVAL)" : "by renameat2";
        struct queue *q = open_as(pass ? "w9" : "w8");
        struct rx_error *err = NULL;
        int dead_before = count_dir("dead");
        drop("pb.json", mine);
        struct queue_job *j = claim(q);
        ok(j && j->payload && strcmp(j->payload, mine) == 0, "incoming/pb.json claimed (%s)", how);
        /* Another producer drops a different job where a retry goes. */
        drop("pb~1.json", theirs);
        ok(j && q->ops->release(q, j, true, "infra", NULL, NULL, &err) == 0,
           "released with an attempt counted (%s)", err ? err->msg : "no error");
        queue_job_free(j);
        bool stem_ok = true;
        ok(count_dir("incoming") == 2 && incoming_holding(mine, "pb", &stem_ok) == 1 &&
               incoming_holding(theirs, "pb", &stem_ok) == 1 && stem_ok,
           "both jobs are in incoming/, under stem pb (%d files) %s", count_dir("incoming"), how);
        /* Both are claimed, each with one attempt: a second counted release
         * dead-letters each (max_attempts 2), and each keeps task id pb. */
        int dead = 0, ids = 0, got = 0;
        for (int i = 0; i < 2; i++) {
            j = claim(q);
            got += j != NULL && j->payload != NULL;
            ids += j != NULL && j->default_task_id != NULL && strcmp(j->default_task_id, "pb") == 0;
            dead += j && q->ops->release(q, j, true, "again", NULL, NULL, &err) == 1;
            queue_job_free(j);
        }
        ok(got == 2 && ids == 2 && dead == 2,
           "both claimed under task id pb, each dead-lettered at its second attempt (%d, %d, %d)",
           got, ids, dead);
        ok(count_dir("incoming") == 0 && count_dir("claimed") == 0 &&
               count_dir("dead") == dead_before + 4,
           "incoming/ and claimed/ empty, both in dead/ with their reasons");

        /* No attempt counted (a job put back as it was): over a new
         * incoming/pu.json of the same name, neither is lost either. */
        drop("pu.json", mine);
        j = claim(q);
        drop("pu.json", theirs);
        ok(j && q->ops->release(q, j, false, NULL, NULL, NULL, &err) == 0, "put back uncounted");
        queue_job_free(j);
        stem_ok = true;
        ok(count_dir("incoming") == 2 && incoming_holding(mine, "pu", &stem_ok) == 1 &&
               incoming_holding(theirs, "pu", &stem_ok) == 1 && stem_ok,
           "both pu jobs are in incoming/ %s", how);
        for (int i = 0; i < 2; i++) {
            j = claim(q);
            ok(j && q->ops->complete(q, j, "pu", "{}", true, &err) == 0, "pu %d completed", i);
            queue_job_free(j);
        }
        rx_error_free(&err);
        q->ops->close(q);
    }
    no_noreplace = 0;
}

int
main(void)
{
    if (mkdtemp(root) == NULL)
        return 1;
    names();
    long_name();
    too_large();
    special_entries();
    run_lock();
    read_failures();
    planted_locks();
    no_replace();
    producer();
    dead_result();
    put_back_taken();
    nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return done_testing();
}
