/* SPDX-License-Identifier: MIT */
/* The harness's result frame: the JSON it wrote to the output file (or to
 * .ralph/error.json) once more at the very end of the code job's stdout,
 *   PAYLOAD "RALPH-RESULT " ("output" | "error") " " DECIMAL_LEN "\n"
 * so that no copy out of the container is needed (harness.py).  The job's
 * code runs in the harness's process and can print a frame as well as write
 * the file: the frame is exactly as hostile as the file, and parsed with the
 * same caps.  A stream with anything after the frame, or more bytes than
 * were kept, has none. */
#ifndef RESULT_FRAME_H
#define RESULT_FRAME_H

#include <stddef.h>

#include "executor/rx_buf.h"

enum result_frame_kind { RESULT_FRAME_NONE, RESULT_FRAME_OUTPUT, RESULT_FRAME_ERROR };

struct result_frame {
    enum result_frame_kind kind;
    char *payload; /* owned, NUL-terminated */
    size_t len;
};

/* The stdout kept for a code job: its cap plus room for a frame. */
size_t result_frame_room(size_t max_payload);

/* Take a frame whose payload is at most max_payload bytes off the end of
 * out (kept up to cap + result_frame_room(max_payload)), into *f; then hold
 * out to cap bytes, marking it truncated beyond.  Its byte count no longer
 * includes the frame.  Returns f->kind: RESULT_FRAME_NONE when there is no
 * such frame. */
enum result_frame_kind result_frame_take(struct rx_buf *out, size_t cap, size_t max_payload,
                                         struct result_frame *f);
/* Hold out to cap bytes, marking it truncated beyond (a stream that did
 * not end: no frame). */
void result_frame_clamp(struct rx_buf *out, size_t cap);
void result_frame_free(struct result_frame *f);

#define cleanup_result_frame __attribute__((cleanup(result_frame_free)))

#endif
