/* SPDX-License-Identifier: MIT */
#include "executor/docker_attach.h"

#include <ctype.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "executor/limits.h"
#include "executor/rx_json.h"
#include "executor/rx_util.h"

struct docker_attach {
    int fd;
    int cancel_fd;
    char *early; /* stream bytes that came in with the reply headers */
    size_t early_len;
    int (*watch)(void *ud); /* docker_attach_watch */
    void *watch_ud;
    long long watch_every_ms;
};

/* How long the stream is read to its end once the watch saw the process
 * gone: its last output left it before it ended, but the engine may pass
 * it on later (seen: over 200 ms with both cores busy), and the stream's
 * end comes after it.  A stream still open then is a leftover child's,
 * which the kill ends. */
#define WATCH_DRAIN_MAX_MS 2000

void
docker_attach_adopt(struct docker_attach *a, struct docker_client *dc)
{
    a->cancel_fd = docker_http_cancel_fd(dc->http);
}

void
docker_attach_watch(struct docker_attach *a, long long every_ms, int (*fn)(void *ud), void *ud)
{
    a->watch = fn;
    a->watch_ud = ud;
    a->watch_every_ms = every_ms;
}

void
docker_attach_close(struct docker_attach *a)
{
    if (a == NULL)
        return;
    if (a->fd >= 0)
        close(a->fd);
    free(a->early);
    free(a);
}

static int
write_all(int fd, const char *p, size_t n, struct rx_error **err)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return rx_error_set(err, errno, "attach: write to engine: %s", strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Read the reply up to the blank line (bounded, with a timeout). */
static int
read_headers(int fd, struct rx_buf *b, size_t *hdr_end, struct rx_error **err)
{
    long long deadline = rx_now_ms() + 30000;
    for (;;) {
        char *end = b->data ? memmem(b->data, b->len, "\r\n\r\n", 4) : NULL;
        if (end != NULL) {
            *hdr_end = (size_t)(end - b->data) + 4;
            return 0;
        }
        if (b->overflow)
            return rx_error_set(err, EPROTO, "attach: reply headers larger than %u bytes",
                                LIMIT_ATTACH_HEADER_BYTES);
        long long left = deadline - rx_now_ms();
        if (left <= 0)
            return rx_error_set(err, ETIMEDOUT, "attach: engine did not answer in time");
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = poll(&p, 1, (int)left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            continue;
        char chunk[4096];
        ssize_t r = recv(fd, chunk, sizeof(chunk), 0);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r < 0)
            return rx_error_set(err, errno, "attach: read from engine: %s", strerror(errno));
        if (r == 0)
            return rx_error_set(err, EPROTO, "attach: engine closed the connection");
        rx_buf_append(b, chunk, (size_t)r);
    }
}

/* Send the request (path, and a JSON body or none) and read the reply; on
 * success the stream bytes that arrived with the headers are kept in
 * a->early. */
static int
handshake(struct docker_attach *a, const char *path, const char *body, const char *what,
          struct rx_error **err)
{
    cleanup_free char *req = xasprintf("POST %s HTTP/1.1\r\n"
                                       "Host: localhost\r\n"
                                       "User-Agent: ralph-exec\r\n"
                                       "Content-Type: %s\r\n"
                                       "Content-Length: %zu\r\n"
                                       "Connection: Upgrade\r\n"
                                       "Upgrade: tcp\r\n"
                                       "\r\n%s",
                                       path, body ? "application/json" : "text/plain",
                                       body ? strlen(body) : 0, body ? body : "");
    if (write_all(a->fd, req, strlen(req), err) < 0)
        return -1;

    cleanup_buf struct rx_buf b;
    rx_buf_init(&b, LIMIT_ATTACH_HEADER_BYTES);
    size_t hdr_end = 0;
    if (read_headers(a->fd, &b, &hdr_end, err) < 0)
        return -1;
    int status = 0;
    if (sscanf(b.data, "HTTP/1.%*d %d", &status) != 1)
        return rx_error_set(err, EPROTO, "attach: unreadable reply from the engine");
    if (status != 101 && status != 200) {
        /* An error reply: its JSON body may already be here. */
        cleanup_resp struct docker_resp resp = {.status = status};
        rx_buf_init(&resp.body, LIMIT_ATTACH_ERROR_BYTES);
        rx_buf_append(&resp.body, b.data + hdr_end, b.len - hdr_end);
        /* Podman prepares (creates) the container at attach: its start
         * errors come back here (docker_error_explain reads them). */
        docker_resp_error(&resp, err, what);
        return -1;
    }
    if (b.len > hdr_end) {
        a->early_len = b.len - hdr_end;
        a->early = xmalloc(a->early_len);
        memcpy(a->early, b.data + hdr_end, a->early_len);
    }
    return 0;
}

static struct docker_attach *
open_stream(struct docker_client *dc, const char *path, const char *body, const char *what,
            struct rx_error **err)
{
    const char *sock = docker_http_socket(dc->http);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(sock) >= sizeof(sa.sun_path))
        return rx_error_set(err, ENAMETOOLONG, "attach: socket path too long"), NULL;
    memcpy(sa.sun_path, sock, strlen(sock) + 1);

    struct docker_attach *a = xcalloc(1, sizeof(*a));
    a->cancel_fd = docker_http_cancel_fd(dc->http);
    a->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int fl;
    if (a->fd < 0) {
        rx_error_set(err, errno, "attach: socket: %s", strerror(errno));
    } else if (connect(a->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        rx_error_set(err, errno, "attach: connect to %s: %s", sock, strerror(errno));
    } else if (handshake(a, path, body, what, err) < 0) {
        /* err is set */
    } else if ((fl = fcntl(a->fd, F_GETFL)) < 0 || fcntl(a->fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        rx_error_set(err, errno, "attach: fcntl: %s", strerror(errno));
    } else {
        return a;
    }
    docker_attach_close(a);
    return NULL;
}

struct docker_attach *
docker_attach_open(struct docker_client *dc, const char *id, bool with_stdin, struct rx_error **err)
{
    cleanup_free char *path = xasprintf("/v%s/containers/%s/attach?stream=1&stdout=1&stderr=1%s",
                                        dc->api_version, id, with_stdin ? "&stdin=1" : "");
    return open_stream(dc, path, NULL, "attach to container", err);
}

struct docker_attach *
docker_attach_exec(struct docker_client *dc, const char *exec_id, struct rx_error **err)
{
    cleanup_free char *path = xasprintf("/v%s/exec/%s/start", dc->api_version, exec_id);
    return open_stream(dc, path, "{\"Detach\":false,\"Tty\":false}", "start exec", err);
}

/* What one pump shares between its writing and its reading half. */
struct pump {
    struct docker_attach *a;
    const char *data; /* stdin, written from sent on */
    size_t len, sent;
    bool wr_open;
    bool feed; /* docker_attach_feed: return once stdin is all written */
    struct docker_demux *d;
    char *chunk;
    long long last_read; /* when output last came (the watch's quiet time) */
};

#define PUMP_GO_ON (-2) /* neither half ended the pump */

/* Write the next piece of stdin: PUMP_GO_ON, or how a feed ends. */
static int
pump_write(struct pump *p)
{
    size_t want = p->len - p->sent;
    if (want > LIMIT_ATTACH_CHUNK_BYTES)
        want = LIMIT_ATTACH_CHUNK_BYTES;
    ssize_t w = want ? send(p->a->fd, p->data + p->sent, want, MSG_NOSIGNAL) : 0;
    if (w < 0 && errno != EAGAIN && errno != EINTR) {
        /* The job closed its stdin early: not our failure. */
        p->wr_open = false;
        shutdown(p->a->fd, SHUT_WR);
        if (p->feed)
            return DOCKER_ATTACH_STDIN_CLOSED;
    } else if (w > 0) {
        p->sent += (size_t)w;
    }
    if (p->wr_open && p->sent == p->len) {
        if (p->feed)
            return DOCKER_ATTACH_SENT;
        p->wr_open = false;
        shutdown(p->a->fd, SHUT_WR);
    }
    return PUMP_GO_ON;
}

/* Read what the engine sent into the demux: PUMP_GO_ON, DOCKER_ATTACH_EOF,
 * or -1 with *err set. */
static int
pump_read(struct pump *p, struct rx_error **err)
{
    ssize_t r = recv(p->a->fd, p->chunk, LIMIT_ATTACH_CHUNK_BYTES, 0);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return PUMP_GO_ON;
    /* A stream closed with stdin bytes it never read (the job exited
     * without reading it all) is reset, not ended: the same end; the exit
     * code tells, and a lost engine fails wait. */
    if (r == 0 || (r < 0 && errno == ECONNRESET))
        return DOCKER_ATTACH_EOF;
    if (r < 0)
        return rx_error_set(err, errno, "attach: read: %s", strerror(errno));
    p->last_read = rx_now_ms();
    return docker_demux_feed(p->d, p->chunk, (size_t)r, err) < 0 ? -1 : PUMP_GO_ON;
}

/* The pump; with feed, it returns DOCKER_ATTACH_SENT once stdin_data is
 * all written, leaving stdin open (docker_attach_feed). */
static int
pump(struct docker_attach *a, const char *stdin_data, size_t stdin_len, struct docker_demux *d,
     long long deadline_ms, bool feed, struct rx_error **err)
{
    if (a->early_len > 0) {
        int r = docker_demux_feed(d, a->early, a->early_len, err);
        free(a->early);
        a->early = NULL;
        a->early_len = 0;
        if (r < 0)
            return -1;
    }
    if (feed && stdin_len == 0)
        return DOCKER_ATTACH_SENT;
    struct pump p = {.a = a,
                     .data = stdin_data,
                     .len = stdin_len,
                     .wr_open = stdin_data != NULL,
                     .feed = feed,
                     .d = d};
    if (!p.wr_open)
        shutdown(a->fd, SHUT_WR);
    p.chunk = xmalloc(LIMIT_ATTACH_CHUNK_BYTES);
    int ret = PUMP_GO_ON;
    /* The watch asks only once the stream has been quiet for its period: a
     * stream with output flowing is not done.  Once it says gone, the
     * stream is read to its end, for at most WATCH_DRAIN_MAX_MS. */
    bool gone = false;
    long long gone_at = 0;
    p.last_read = rx_now_ms();
    while (ret == PUMP_GO_ON) {
        long long now = rx_now_ms();
        if (a->watch != NULL && !gone && now - p.last_read >= a->watch_every_ms) {
            gone = a->watch(a->watch_ud) == 1;
            gone_at = now;
            if (!gone)
                p.last_read = now; /* ask again one period later */
        }
        /* Gone: what is left of its output, to the stream's end, at most
         * WATCH_DRAIN_MAX_MS (the rest would be a leftover child's). */
        long long end = deadline_ms;
        if (gone && gone_at + WATCH_DRAIN_MAX_MS < end)
            end = gone_at + WATCH_DRAIN_MAX_MS;
        long long left = end - now;
        if (left <= 0) {
            ret = gone && end < deadline_ms ? DOCKER_ATTACH_GONE : DOCKER_ATTACH_DEADLINE;
            break;
        }
        if (a->watch != NULL && !gone && p.last_read + a->watch_every_ms - now < left)
            left = p.last_read + a->watch_every_ms - now;
        struct pollfd pf[2] = {
            {.fd = a->fd, .events = (short)(POLLIN | (p.wr_open ? POLLOUT : 0))},
            {.fd = a->cancel_fd, .events = POLLIN},
        };
        int np = a->cancel_fd >= 0 ? 2 : 1;
        int pr = poll(pf, (nfds_t)np, left > 1000 ? 1000 : (int)left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr < 0) {
            ret = rx_error_set(err, errno, "attach: poll: %s", strerror(errno));
        } else if (np == 2 && (pf[1].revents & (POLLIN | POLLHUP))) {
            ret = rx_error_set(err, ECANCELED, "cancelled while the job ran");
            (*err)->kind = RX_ERR_CANCELLED;
        } else {
            if (p.wr_open && (pf[0].revents & (POLLOUT | POLLERR | POLLHUP)))
                ret = pump_write(&p);
            if (ret == PUMP_GO_ON && (pf[0].revents & (POLLIN | POLLHUP | POLLERR)))
                ret = pump_read(&p, err);
        }
    }
    free(p.chunk);
    return ret;
}

int
docker_attach_pump(struct docker_attach *a, const char *stdin_data, size_t stdin_len,
                   struct docker_demux *d, long long deadline_ms, struct rx_error **err)
{
    return pump(a, stdin_data, stdin_len, d, deadline_ms, false, err);
}

int
docker_attach_feed(struct docker_attach *a, const char *data, size_t len, struct docker_demux *d,
                   long long deadline_ms, struct rx_error **err)
{
    return pump(a, data, len, d, deadline_ms, true, err);
}

int
docker_attach_read(struct docker_attach *a, size_t n, struct docker_demux *d, long long deadline_ms,
                   struct rx_error **err)
{
    if (a->early_len > 0) {
        int r = docker_demux_feed(d, a->early, a->early_len, err);
        free(steal_pointer(&a->early));
        a->early_len = 0;
        if (r < 0)
            return -1;
    }
    char chunk[4096];
    while (d->out[DOCKER_STREAM_STDOUT].total < n) {
        long long left = deadline_ms - rx_now_ms();
        if (left <= 0)
            return DOCKER_ATTACH_DEADLINE;
        struct pollfd pf[2] = {
            {.fd = a->fd, .events = POLLIN},
            {.fd = a->cancel_fd, .events = POLLIN},
        };
        int np = a->cancel_fd >= 0 ? 2 : 1;
        int pr = poll(pf, (nfds_t)np, left > 1000 ? 1000 : (int)left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr < 0)
            return rx_error_set(err, errno, "attach: poll: %s", strerror(errno));
        if (np == 2 && (pf[1].revents & (POLLIN | POLLHUP))) {
            rx_error_set(err, ECANCELED, "cancelled while reading the process's output");
            (*err)->kind = RX_ERR_CANCELLED;
            return -1;
        }
        if (pr == 0)
            continue;
        ssize_t r = recv(a->fd, chunk, sizeof(chunk), 0);
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (r == 0 || (r < 0 && errno == ECONNRESET))
            return DOCKER_ATTACH_EOF;
        if (r < 0)
            return rx_error_set(err, errno, "attach: read: %s", strerror(errno));
        if (docker_demux_feed(d, chunk, (size_t)r, err) < 0)
            return -1;
    }
    return DOCKER_ATTACH_OUTPUT;
}
