/* SPDX-License-Identifier: MIT */
/* libFuzzer: JSON replies from the engine (strict parser, big-integer scan,
 * UTF-8 sanitiser) and API version negotiation on what they say. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "executor/docker_client.h"
#include "executor/rx_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rx_error *err = NULL;
    struct json_object *o = rx_json_parse((const char *)data, size, "reply", &err);
    if (o != NULL) {
        char out[16];
        if (docker_version_negotiate(rx_json_get_str(o, "ApiVersion"),
                                     rx_json_get_str(o, "MinAPIVersion"), out, &err) == 0 &&
            strlen(out) >= 16)
            abort();
        rx_json_get_str(rx_json_get(o, "State"), "Error");
        json_object_put(o);
    }
    rx_error_free(&err);
    /* Any bytes must become a string that serialises as valid JSON. */
    struct json_object *s = rx_json_string_from_bytes((const char *)data, size);
    const char *text = rx_json_compact(s);
    struct json_object *back = rx_json_parse(text, strlen(text), "round trip", &err);
    if (back == NULL)
        abort();
    json_object_put(back);
    json_object_put(s);
    rx_error_free(&err);
    return 0;
}
