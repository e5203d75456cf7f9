/* SPDX-License-Identifier: MIT */
/* The harness's result frame at the end of a code job's stdout: taken only
 * when it is the very end of a stream kept whole, within its payload cap;
 * stdout is then held to its own cap, with its byte count less the frame. */
#include "executor/result_frame.h"
#include "executor/rx_util.h"
#include "tests/lib/tap.h"

/* A stdout of the given bytes, kept up to keep bytes. */
static void
fill(struct rx_buf *b, size_t keep, const char *s, size_t n)
{
    rx_buf_init(b, keep);
    rx_buf_append(b, s, n);
}

#define S(lit) lit, sizeof(lit) - 1

static void
taken(void)
{
    struct rx_buf b;
    struct result_frame f;
    fill(&b, 1024, S("hello\n{\"a\": 1}RALPH-RESULT output 8\n"));
    ok(result_frame_take(&b, 100, 100, &f) == RESULT_FRAME_OUTPUT && f.len == 8 &&
           strcmp(f.payload, "{\"a\": 1}") == 0,
       "a frame at the end: its payload");
    ok(b.len == 6 && strcmp(b.data, "hello\n") == 0 && b.total == 6 && !b.overflow,
       "stdout keeps what came before, its byte count without the frame");
    result_frame_free(&f);
    rx_buf_free(&b);

    fill(&b, 1024, S("{\"type\": \"E\", \"message\": \"m\"}RALPH-RESULT error 29\n"));
    ok(result_frame_take(&b, 100, 100, &f) == RESULT_FRAME_ERROR && f.len == 29 && b.len == 0 &&
           b.total == 0,
       "an error frame that is the whole of stdout");
    result_frame_free(&f);
    rx_buf_free(&b);

    /* A payload holding the tag itself, a NUL, and no newline before it. */
    static const char odd[] = "no newline[RALPH-RESULT output 3\n\0]RALPH-RESULT output 25\n";
    fill(&b, 1024, odd, sizeof(odd) - 1);
    ok(result_frame_take(&b, 100, 100, &f) == RESULT_FRAME_OUTPUT && f.len == 25 &&
           memcmp(f.payload, "[RALPH-RESULT output 3\n\0]", 25) == 0 && b.len == 10 &&
           memcmp(b.data, "no newline", 10) == 0,
       "the last tag is the footer; the payload is taken by its length, bytes as they are");
    result_frame_free(&f);
    rx_buf_free(&b);

    /* The job printed up to the cap and beyond: the frame still comes off,
     * then stdout is held to its cap. */
    char big[200];
    memset(big, 'x', 150);
    memcpy(big + 150, "42RALPH-RESULT output 2\n", 24);
    fill(&b, 150 + result_frame_room(100), big, 174);
    ok(result_frame_take(&b, 100, 100, &f) == RESULT_FRAME_OUTPUT && strcmp(f.payload, "42") == 0 &&
           b.len == 100 && b.overflow && b.total == 150,
       "stdout over its cap before the frame: frame taken, stdout cut to its cap, true count");
    result_frame_free(&f);
    rx_buf_free(&b);
}

static void
refused(void)
{
    static const struct {
        const char *s;
        const char *why;
    } cases[] = {
        {"42RALPH-RESULT output 2\ntrailing", "anything after the frame (a thread still printing)"},
        {"42RALPH-RESULT output 2", "no final newline"},
        {"42RALPH-RESULT output 3\n", "a length longer than what precedes it"},
        {"42RALPH-RESULT output \n", "no digits"},
        {"42RALPH-RESULT output 2x\n", "not a number"},
        {"42RALPH-RESULT output -2\n", "a negative length"},
        {"42RALPH-RESULT result 2\n", "an unknown kind"},
        {"42RALPH-RESULT output  2\n", "two spaces"},
        {"42RALPH-RESULT output 000000000000000000002\n", "more than 19 digits"},
        {"42RALPH-RESULT output 99999999999999999999\n", "a length that would overflow"},
        {"42RALPH-RESULTS output 2\n", "a different tag"},
        {"", "empty stdout"},
        {"\n", "a lone newline"},
    };
    for (size_t i = 0; i < RX_ARRAY_SIZE(cases); i++) {
        struct rx_buf b;
        struct result_frame f;
        size_t n = strlen(cases[i].s);
        fill(&b, 1024, cases[i].s, n);
        ok(result_frame_take(&b, 1024, 100, &f) == RESULT_FRAME_NONE && f.payload == NULL &&
               b.len == n && b.total == n && (n == 0 || memcmp(b.data, cases[i].s, n) == 0),
           "no frame: %s (stdout untouched)", cases[i].why);
        result_frame_free(&f);
        rx_buf_free(&b);
    }

    struct rx_buf b;
    struct result_frame f;
    fill(&b, 1024, S("12345RALPH-RESULT output 5\n"));
    ok(result_frame_take(&b, 1024, 4, &f) == RESULT_FRAME_NONE && b.len == 27,
       "a payload over its cap is no frame");
    rx_buf_free(&b);

    /* More came than was kept: what looks like a frame at the end of the
     * kept part is not the end of the stream. */
    fill(&b, 20, S("1RALPH-RESULT output 1\n and more"));
    ok(result_frame_take(&b, 10, 100, &f) == RESULT_FRAME_NONE && b.len == 10 && b.overflow &&
           b.total == 32,
       "a stream cut at the kept bytes has no frame; stdout held to its cap");
    rx_buf_free(&b);

    fill(&b, 1024, S("0123456789abcdef"));
    result_frame_clamp(&b, 4);
    ok(b.len == 4 && strcmp(b.data, "0123") == 0 && b.overflow && b.total == 16,
       "clamp: a stream that did not end is held to its cap");
    rx_buf_free(&b);
}

int
main(void)
{
    taken();
    refused();
    return done_testing();
}
