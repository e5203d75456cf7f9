/* SPDX-License-Identifier: MIT */
#include "executor/rx_json.h"

#include <stdint.h>

#include "executor/limits.h"
#include "executor/rx_buf.h"
#include "executor/rx_util.h"

static size_t utf8_seq(const unsigned char *p, size_t n);

/* check_text's scanners, one a kind of token: each starts at p[*at], the
 * token's first byte, and leaves *at past its end, or returns -1 with *off
 * and *why set. */

/* A string: valid UTF-8, and no "\u0000" if it is a key. */
static int
check_string(const char *p, size_t n, size_t *at, size_t *off, const char **why)
{
    size_t i = *at, start = i;
    bool nul = false;
    for (i++; i < n && p[i] != '"'; i++) {
        unsigned char d = (unsigned char)p[i];
        if (d == '\\') {
            if (i + 5 < n && p[i + 1] == 'u' && memcmp(p + i + 2, "0000", 4) == 0)
                nul = true;
            i++;
        } else if (d >= 0x80) {
            size_t k = utf8_seq((const unsigned char *)p + i, n - i);
            if (k == 0)
                return *off = i, *why = "invalid UTF-8 (overlong, surrogate or out of range)", -1;
            i += k - 1;
        }
    }
    size_t k = i + 1;
    while (k < n && strchr(" \t\r\n", p[k]) != NULL)
        k++;
    if (nul && k < n && p[k] == ':')
        return *off = start, *why = "a key contains a NUL character (\\u0000)", -1;
    *at = i + 1;
    return 0;
}

/* A number: JSON's grammar, and an integer within 64 bits. */
static int
check_number(const char *p, size_t n, size_t *at, size_t *off, const char **why)
{
    static const char umax[] = "18446744073709551615"; /* UINT64_MAX */
    static const char nmax[] = "9223372036854775808";  /* -INT64_MIN */
    /* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
    size_t i = *at, start = i;
    bool neg = p[i] == '-';
    if (neg)
        i++;
    size_t d0 = i;
    while (i < n && p[i] >= '0' && p[i] <= '9')
        i++;
    size_t nd = i - d0;
    if (nd == 0 || (nd > 1 && p[d0] == '0'))
        return *off = start, *why = "a number that is not JSON", -1;
    bool integer = true;
    if (i < n && p[i] == '.') {
        integer = false;
        size_t f0 = ++i;
        while (i < n && p[i] >= '0' && p[i] <= '9')
            i++;
        if (i == f0)
            return *off = start, *why = "a number that is not JSON (\"1.\")", -1;
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        integer = false;
        i++;
        if (i < n && (p[i] == '+' || p[i] == '-'))
            i++;
        size_t e0 = i;
        while (i < n && p[i] >= '0' && p[i] <= '9')
            i++;
        if (i == e0)
            return *off = start, *why = "a number that is not JSON", -1;
    }
    if (integer) {
        const char *lim = neg ? nmax : umax;
        size_t ll = strlen(lim);
        if (nd > ll || (nd == ll && memcmp(p + d0, lim, ll) > 0))
            return *off = start,
                   *why = "an integer that does not fit in 64 bits (send big numbers as strings)",
                   -1;
    }
    *at = i;
    return 0;
}

static bool
is_letter(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* A bare word: true, false or null (not NaN, Infinity or any other). */
static int
check_word(const char *p, size_t n, size_t *at, size_t *off, const char **why)
{
    size_t i = *at, w0 = i;
    while (i < n && is_letter(p[i]))
        i++;
    size_t wl = i - w0;
    if (!((wl == 4 && (memcmp(p + w0, "true", 4) == 0 || memcmp(p + w0, "null", 4) == 0)) ||
          (wl == 5 && memcmp(p + w0, "false", 5) == 0)))
        return *off = w0, *why = "a word that is not JSON (NaN and Infinity are not)", -1;
    *at = i;
    return 0;
}

/* json-c is lenient where JSON is not, and lossy: it accepts NaN, Infinity
 * and "1." even in strict mode and prints them back as is; it takes
 * overlong and surrogate UTF-8; it cuts keys at "\u0000"; and it saturates
 * integers beyond 64 bits (2**70 would read as 18446744073709551615).  This
 * pass over the raw text refuses all of that before json-c sees it.  Returns
 * 0, or -1 with *off and *why set. */
static int
check_text(const char *p, size_t n, size_t *off, const char **why)
{
    size_t i = 0;
    while (i < n) {
        char c = p[i];
        int r = 0;
        if (c == '"')
            r = check_string(p, n, &i, off, why);
        else if (c == '-' || (c >= '0' && c <= '9'))
            r = check_number(p, n, &i, off, why);
        else if (is_letter(c))
            r = check_word(p, n, &i, off, why);
        else
            i++;
        if (r < 0)
            return -1;
    }
    return 0;
}

struct json_object *
rx_json_parse(const char *data, size_t len, const char *what, struct rx_error **err)
{
    return rx_json_parse_depth(data, len, LIMIT_JSON_DEPTH, what, err);
}

struct json_object *
rx_json_parse_depth(const char *data, size_t len, int max_depth, const char *what,
                    struct rx_error **err)
{
    if (len > INT32_MAX)
        return rx_error_set(err, EFBIG, "%s: too large to parse", what), NULL;
    struct json_tokener *tok = json_tokener_new_ex(max_depth);
    if (tok == NULL)
        rx_oom();
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    struct json_object *o = json_tokener_parse_ex(tok, data, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t off = json_tokener_get_parse_end(tok);
    if (o == NULL && jerr == json_tokener_continue && len > 0) {
        /* A bare number ("42") is only known to be complete at a delimiter:
         * all the input was read, so nothing can trail it. */
        o = json_tokener_parse_ex(tok, " ", 1);
        jerr = json_tokener_get_error(tok);
        off = len;
    }

    if (o == NULL || jerr != json_tokener_success) {
        if (jerr == json_tokener_continue)
            rx_error_set(err, EINVAL, "%s: not valid JSON: unexpected end of input", what);
        else
            rx_error_set(err, EINVAL, "%s: not valid JSON at byte %zu: %s", what, off,
                         json_tokener_error_desc(jerr));
        json_object_put(o);
        json_tokener_free(tok);
        return NULL;
    }
    json_tokener_free(tok);
    for (size_t i = off; i < len; i++) {
        char c = data[i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            json_object_put(o);
            rx_error_set(err, EINVAL, "%s: not valid JSON: trailing data at byte %zu", what, i);
            return NULL;
        }
    }
    size_t bad_off = 0;
    const char *why = NULL;
    if (check_text(data, len, &bad_off, &why) < 0) {
        json_object_put(o);
        rx_error_set(err, ERANGE, "%s: not valid JSON at byte %zu: %s", what, bad_off, why);
        return NULL;
    }
    return o;
}

/* Length of a valid UTF-8 sequence at p (max n bytes), or 0 if invalid. */
static size_t
utf8_seq(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    size_t need;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
        need = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((need == 3 && cp < 0x800) || (need == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return need;
}

struct json_object *
rx_json_string_from_bytes(const char *p, size_t n)
{
    const unsigned char *u = (const unsigned char *)p;
    size_t i = 0;
    /* Fast path: already valid. */
    while (i < n) {
        size_t k = utf8_seq(u + i, n - i);
        if (k == 0)
            break;
        i += k;
    }
    if (i == n) {
        struct json_object *s = json_object_new_string_len(p, (int)n);
        if (s == NULL)
            rx_oom();
        return s;
    }
    struct rx_buf b;
    rx_buf_init(&b, n * 3 + 1);
    rx_buf_append(&b, p, i);
    while (i < n) {
        size_t k = utf8_seq(u + i, n - i);
        if (k == 0) {
            rx_buf_append(&b, "\xef\xbf\xbd", 3);
            i++;
        } else {
            rx_buf_append(&b, p + i, k);
            i += k;
        }
    }
    if (b.len > INT32_MAX)
        rx_oom(); /* the caps keep it far below (LIMIT_POLICY_OUTPUT_MAX) */
    struct json_object *s = json_object_new_string_len(b.data, (int)b.len);
    rx_buf_free(&b);
    if (s == NULL)
        rx_oom();
    return s;
}

const char *
rx_json_compact(struct json_object *o)
{
    const char *s =
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    if (s == NULL)
        rx_oom();
    return s;
}

struct json_object *
rx_json_get(struct json_object *obj, const char *key)
{
    struct json_object *v = NULL;
    if (obj == NULL || !json_object_is_type(obj, json_type_object))
        return NULL;
    if (!json_object_object_get_ex(obj, key, &v))
        return NULL;
    return v;
}

const char *
rx_json_get_str(struct json_object *obj, const char *key)
{
    struct json_object *v = rx_json_get(obj, key);
    if (v == NULL || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}
