/* SPDX-License-Identifier: MIT */
/* POST /containers/{id}/attach and POST /exec/{id}/start hijack the HTTP
 * connection into a raw bidirectional stream, which libcurl's easy interface
 * does not model; this module speaks those requests itself over its own unix
 * socket.  Attach
 * before start, so no output is missed; stdout and stderr then flow while the
 * job runs, into capped buffers, and the engine keeps no copy (log driver
 * "none"). */
#ifndef DOCKER_ATTACH_H
#define DOCKER_ATTACH_H

#include <stdbool.h>
#include <stddef.h>

#include "executor/docker_client.h"
#include "executor/docker_demux.h"

struct docker_attach;

/* Open the attach stream; with_stdin also attaches the container's stdin
 * (created with OpenStdin and StdinOnce).  Returns NULL with *err set. */
struct docker_attach *docker_attach_open(struct docker_client *dc, const char *id, bool with_stdin,
                                         struct rx_error **err);
/* Start an exec (POST /exec/{id}/start, not detached) and hold its stream:
 * the process's stdin (when the exec was created with AttachStdin), stdout
 * and stderr, as for an attach.  Returns NULL with *err set. */
struct docker_attach *docker_attach_exec(struct docker_client *dc, const char *exec_id,
                                         struct rx_error **err);

/* Have the pump ask fn(ud) every every_ms whether the process behind the
 * stream has gone (1) while the stream stays open: an exec's stream can
 * outlive its process (a background child holding its stdout), and under
 * gVisor it can outlive the whole container.  Then the stream is read to
 * its end, for at most 2 s, and the pump ends DOCKER_ATTACH_GONE (or EOF). */
void docker_attach_watch(struct docker_attach *a, long long every_ms, int (*fn)(void *ud),
                         void *ud);

enum docker_attach_end {
    DOCKER_ATTACH_EOF = 0,          /* the container closed its output */
    DOCKER_ATTACH_DEADLINE = 1,     /* deadline_ms (monotonic) passed first */
    DOCKER_ATTACH_SENT = 2,         /* docker_attach_feed: all written */
    DOCKER_ATTACH_STDIN_CLOSED = 3, /* docker_attach_feed: the stream refused stdin */
    DOCKER_ATTACH_GONE = 4,         /* the watch saw the process gone (docker_attach_watch) */
    DOCKER_ATTACH_OUTPUT = 5,       /* docker_attach_read: the output asked for came */
};

/* Move bytes until the stream ends or the deadline passes: write stdin_data
 * (then half-close), demultiplex output into d.  The cancel fd (from the
 * client) interrupts it with an RX_ERR_CANCELLED error.  Returns a
 * docker_attach_end, or -1 with *err set. */
int docker_attach_pump(struct docker_attach *a, const char *stdin_data, size_t stdin_len,
                       struct docker_demux *d, long long deadline_ms, struct rx_error **err);
/* Write data to the job's stdin, demultiplexing its output into d the
 * while, and leave stdin open (a code job's input or go-ahead, before the
 * pump): DOCKER_ATTACH_SENT once all of it is written, or how the stream
 * ended first (EOF: the container's output closed, an interpreter that
 * exited; STDIN_CLOSED; DEADLINE), or -1 with *err set (RX_ERR_CANCELLED
 * on cancellation).  Never a silent short write. */
int docker_attach_feed(struct docker_attach *a, const char *data, size_t len,
                       struct docker_demux *d, long long deadline_ms, struct rx_error **err);
/* Read output into d, writing nothing (stdin stays open), until d has had
 * at least n bytes of stdout: DOCKER_ATTACH_OUTPUT; or how the stream ended
 * first (EOF, DEADLINE), or -1 with *err set (RX_ERR_CANCELLED on
 * cancellation).  For a process that writes a line and then waits on stdin
 * (a warm sandbox's harness, ready): what it writes after n bytes, if any,
 * may be read too. */
int docker_attach_read(struct docker_attach *a, size_t n, struct docker_demux *d,
                       long long deadline_ms, struct rx_error **err);
/* A stream opened by another client (a warm sandbox's harness, opened by
 * the pool's): cancelled from now on through dc's cancel fd. */
void docker_attach_adopt(struct docker_attach *a, struct docker_client *dc);
void docker_attach_close(struct docker_attach *a);

#endif
