/* SPDX-License-Identifier: MIT */
/* JSON through json-c only: a strict parser that names where input went
 * wrong, and helpers for building values from untrusted bytes. */
#ifndef RX_JSON_H
#define RX_JSON_H

#include <json-c/json.h>
#include <stddef.h>

#include "executor/rx_error.h"

static inline void
rx_json_putp(struct json_object **o)
{
    if (*o != NULL)
        json_object_put(*o);
}
#define cleanup_json __attribute__((cleanup(rx_json_putp)))

/* Parse exactly one JSON value from data[0..len) (strict mode, UTF-8
 * validated, nothing but white space after it).  `what` names the input in
 * the error ("job.json", "engine reply to /version").  Returns a new
 * reference, or NULL with *err set (kind RX_ERR_INFRA; callers re-kind). */
struct json_object *rx_json_parse(const char *data, size_t len, const char *what,
                                  struct rx_error **err);
/* The same, nested at most max_depth levels (rx_json_parse: LIMIT_JSON_DEPTH). */
struct json_object *rx_json_parse_depth(const char *data, size_t len, int max_depth,
                                        const char *what, struct rx_error **err);

/* A JSON string from arbitrary bytes: invalid UTF-8 sequences become U+FFFD
 * and NUL bytes are kept (json-c escapes them), so output from a hostile job
 * always serialises to valid JSON. */
struct json_object *rx_json_string_from_bytes(const char *p, size_t n);

/* Serialise compactly; the string belongs to the object.  Never NULL: what
 * we build stays below json-c's 2 GiB bound (LIMIT_POLICY_OUTPUT_MAX), so a
 * failure is a failed allocation (rx_oom). */
const char *rx_json_compact(struct json_object *o);

/* Fetch obj[key] if present and a string/number/object, else NULL. */
const char *rx_json_get_str(struct json_object *obj, const char *key);
struct json_object *rx_json_get(struct json_object *obj, const char *key);

#endif
