/* test_llm_frame.c — SSE events, NDJSON lines and bounded bodies
 * (lib/llm_frame.c): each input fed whole, a byte at a time and in
 * seeded random splits gives the same events, written out exactly. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "llm_transport.h"

/* Every event as "[name]data|" (data's own NULs would show as '~'). */
struct log {
	char *s;
	size_t len, cap;
};

static void
log_add(struct log *l, const char *p, size_t n)
{
	if (l->len + n + 1 > l->cap) {
		l->cap = (l->len + n + 1) * 2;
		l->s = realloc(l->s, l->cap);
		assert_non_null(l->s);
	}
	memcpy(l->s + l->len, p, n);
	l->len += n;
	l->s[l->len] = '\0';
}

static void
on_event(void *arg, const char *event, const char *data, size_t len)
{
	struct log *l = arg;

	assert_int_equal(data[len], '\0'); /* handed out NUL-terminated */
	log_add(l, "[", 1);
	log_add(l, event, strlen(event));
	log_add(l, "]", 1);
	log_add(l, data, len);
	log_add(l, "|", 1);
}

enum split { WHOLE, BYTES, RANDOM };

/* Feeds in into a fresh framer split as asked; returns the log (to
 * free) and the framer's cut flag. */
static char *
frame_run(enum llm_frame_mode mode, const char *in, size_t n,
    enum split how, unsigned seed, int *cut)
{
	struct llm_frame f;
	struct log l = { 0 };
	size_t off = 0, k;

	log_add(&l, "", 0);
	llm_frame_init(&f);
	llm_frame_start(&f, mode, on_event, &l);
	srandom(seed);
	while (off < n) {
		k = how == WHOLE ? n - off : how == BYTES ? 1 :
		    1 + (size_t)random() % 97;
		if (k > n - off)
			k = n - off;
		llm_frame_feed(&f, in + off, k);
		off += k;
	}
	llm_frame_end(&f, 0);
	*cut = f.cut;
	llm_frame_free(&f);
	return l.s;
}

/* Asserts that every split gives want (and cut == want_cut). */
static void
frame_check(enum llm_frame_mode mode, const char *in, size_t n,
    const char *want, int want_cut)
{
	char *got;
	unsigned seed;
	int cut;

	got = frame_run(mode, in, n, WHOLE, 0, &cut);
	assert_string_equal(got, want);
	assert_int_equal(cut, want_cut);
	free(got);
	got = frame_run(mode, in, n, BYTES, 0, &cut);
	assert_string_equal(got, want);
	assert_int_equal(cut, want_cut);
	free(got);
	for (seed = 1; seed <= 20; seed++) {
		got = frame_run(mode, in, n, RANDOM, seed, &cut);
		assert_string_equal(got, want);
		assert_int_equal(cut, want_cut);
		free(got);
	}
}

#define CHECK(mode, lit, want, cut) \
	frame_check(mode, lit, sizeof(lit) - 1, want, cut)

static void
test_sse_lf(void **state)
{
	CHECK(LLM_FRAME_SSE,
	    "data: {\"a\":1}\n\n"
	    "event: message_start\ndata: {\"b\":2}\n\n"
	    "data: [DONE]\n\n",
	    "[]{\"a\":1}|[message_start]{\"b\":2}|[][DONE]|", 0);
}

static void
test_sse_crlf_and_cr(void **state)
{
	CHECK(LLM_FRAME_SSE,
	    "event: ping\r\ndata: {}\r\n\r\ndata: x\r\n\r\n",
	    "[ping]{}|[]x|", 0);
	CHECK(LLM_FRAME_SSE,
	    "event: a\rdata: 1\r\rdata: 2\r\r",
	    "[a]1|[]2|", 0);
	/* separators mixed in one stream */
	CHECK(LLM_FRAME_SSE,
	    "data: 1\n\ndata: 2\r\n\r\ndata: 3\r\rdata: 4\n\r\n",
	    "[]1|[]2|[]3|[]4|", 0);
}

static void
test_sse_fields(void **state)
{
	/* comments, id/retry ignored, multi-line data joined with LF, the
	 * space after the colon optional and only one dropped, a name line
	 * wins per event, an event without data is no event */
	CHECK(LLM_FRAME_SSE,
	    ": keep-alive\n\n"
	    ":comment\ndata:first\ndata:  second\nid: 7\nretry: 10\n\n"
	    "event: lonely\n\n"
	    "event: x\nevent: y\ndata\n\n"
	    "data:\ndata:\n\n"
	    "dat: a\nevent-x: b\ndata: c\n\n",
	    "[]first\n second|[y]|[]\n|[]c|", 0);
}

static void
test_sse_end_without_blank_line(void **state)
{
	/* a stream cut after its last data line still delivers it */
	CHECK(LLM_FRAME_SSE, "data: 1\n\ndata: {\"usage\":3}",
	    "[]1|[]{\"usage\":3}|", 0);
	CHECK(LLM_FRAME_SSE, "data: 1\n\nevent: e\n", "[]1|", 0);
}

/* An event of n data bytes (filler x, with needle at 'at' if any). */
static char *
big_event(size_t n, const char *needle, size_t at, size_t *len)
{
	char *s = malloc(n + 64);
	size_t k;

	assert_non_null(s);
	memcpy(s, "data: ", 6);
	memset(s + 6, 'x', n);
	if (needle != NULL)
		memcpy(s + 6 + at, needle, strlen(needle));
	k = 6 + n;
	memcpy(s + k, "\n\ndata: after\n\n", 15);
	*len = k + 15;
	return s;
}

static void
test_sse_overlong(void **state)
{
	size_t len;
	char *s;

	/* just fits: n + NUL = LLM_CONN_MAX_BUF */
	s = big_event(LLM_CONN_MAX_BUF - 1, NULL, 0, &len);
	{
		char *got;
		int cut;

		got = frame_run(LLM_FRAME_SSE, s, len, RANDOM, 3, &cut);
		assert_int_equal(strlen(got), LLM_CONN_MAX_BUF - 1 + 3 + 8);
		assert_int_equal(cut, 0);
		free(got);
	}
	free(s);
	/* one more byte: skipped; no usage in it, so not cut */
	s = big_event(LLM_CONN_MAX_BUF, NULL, 0, &len);
	frame_check(LLM_FRAME_SSE, s, len, "[]after|", 0);
	free(s);
	/* usage near its start, past the bound, across any split */
	s = big_event(LLM_CONN_MAX_BUF + 10, "\"usage\"", 5, &len);
	frame_check(LLM_FRAME_SSE, s, len, "[]after|", 1);
	free(s);
	s = big_event(LLM_CONN_MAX_BUF + 10, "\"usage\"",
	    LLM_CONN_MAX_BUF + 1, &len);
	frame_check(LLM_FRAME_SSE, s, len, "[]after|", 1);
	free(s);
	s = big_event(2 * LLM_CONN_MAX_BUF, "eval_count", 1500000, &len);
	frame_check(LLM_FRAME_SSE, s, len, "[]after|", 1);
	free(s);
}

/* Regression (found by fuzz_llm_http): a field name longer than the 8
 * bytes kept, arriving in pieces, wrote past fname once it had
 * overflowed. */
static void
test_sse_long_field_name(void **state)
{
	static const char in[] = "x-very-long-field: 1\ndata: ok\n\n";
	struct llm_frame f;
	struct log l = { 0 };
	size_t i;

	llm_frame_init(&f);
	llm_frame_start(&f, LLM_FRAME_SSE, on_event, &l);
	for (i = 0; i < 12; i++)
		llm_frame_feed(&f, in + i, 1);
	assert_int_equal(f.fnlen, sizeof(f.fname) + 1);
	llm_frame_feed(&f, in + 12, sizeof(in) - 1 - 12);
	assert_string_equal(l.s, "[]ok|");
	llm_frame_free(&f);
	free(l.s);
	CHECK(LLM_FRAME_SSE, "x-very-long-field: 1\ndata-data-data: 2\n"
	    "dataxxxxxxxxxxxxxxxxxxxx\ndata: ok\n\n", "[]ok|", 0);
}

/* Regression (found by fuzz_llm_http): an event whose only data line is
 * empty, first in a stream, was written through a buffer not yet made. */
static void
test_sse_empty_first_event(void **state)
{
	CHECK(LLM_FRAME_SSE, "data\n\n", "[]|", 0);
	CHECK(LLM_FRAME_SSE, "event: e\ndata:\r\n\r\ndata: 1\n\n",
	    "[e]|[]1|", 0);
}

static void
test_ndjson(void **state)
{
	CHECK(LLM_FRAME_NDJSON,
	    "{\"a\":1}\n\n{\"b\":2}\r\n  \n{\"done\":true}",
	    "[]{\"a\":1}|[]{\"b\":2}|[]{\"done\":true}|", 0);
	CHECK(LLM_FRAME_NDJSON, "", "", 0);
}

static void
test_ndjson_overlong(void **state)
{
	size_t n = LLM_CONN_MAX_BUF + 5;
	char *s = malloc(n + 32);

	memset(s, 'x', n);
	memcpy(s + n, "\n{\"eval_count\":3}\n", 18);
	frame_check(LLM_FRAME_NDJSON, s, n + 18, "[]{\"eval_count\":3}|", 0);
	memcpy(s + 100, "\"prompt_eval_count\":9", 21);
	frame_check(LLM_FRAME_NDJSON, s, n + 18, "[]{\"eval_count\":3}|", 1);
	free(s);
}

static void
test_body_collect(void **state)
{
	struct llm_frame f;
	const char *in = "{\"usage\":{\"prompt_tokens\":5}}";
	size_t i;

	llm_frame_init(&f);
	llm_frame_start(&f, LLM_FRAME_BODY, NULL, NULL);
	for (i = 0; in[i] != '\0'; i++)
		llm_frame_feed(&f, in + i, 1);
	assert_int_equal(f.len, strlen(in));
	assert_memory_equal(f.buf, in, f.len);
	assert_int_equal(f.over, 0);
	assert_true(f.cap > f.len); /* room for the NUL */
	llm_frame_free(&f);
}

/* Accepts a candidate only if it ends the way a whole object does and
 * records the one it saw. */
static char seen[256];

static int
try_json(void *arg, const char *json, size_t len)
{
	int depth = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		if (json[i] == '{')
			depth++;
		else if (json[i] == '}' && --depth < 0)
			return -1;
	}
	if (depth != 0 || len >= sizeof(seen))
		return -1;
	memcpy(seen, json, len);
	seen[len] = '\0';
	return 0;
}

static void
test_body_tail_salvage(void **state)
{
	static const char *const keys[] = { "model", "usage", NULL };
	const char *end = ",\"model\":\"m\",\"usage\":{\"in\":7}}";
	size_t fill = 3 * LLM_CONN_MAX_BUF, off = 0, k;
	struct llm_frame f;
	char *chunk = malloc(70000);

	memset(chunk, 'y', 70000);
	chunk[0] = '{';
	llm_frame_init(&f);
	llm_frame_start(&f, LLM_FRAME_BODY, NULL, NULL);
	srandom(9);
	while (off < fill) {
		k = 1 + (size_t)random() % 70000;
		llm_frame_feed(&f, chunk, k);
		off += k;
	}
	llm_frame_feed(&f, end, strlen(end));
	assert_int_equal(f.over, 1);
	assert_true(f.len >= LLM_TAIL_KEEP);
	assert_true(f.len <= LLM_CONN_MAX_BUF - 1);
	assert_memory_equal(f.buf + f.len - strlen(end), end, strlen(end));
	assert_int_equal(llm_frame_salvage(f.buf, f.len, keys, try_json,
	    NULL), 0);
	assert_string_equal(seen, "{\"model\":\"m\",\"usage\":{\"in\":7}}");
	/* the buffer is left as it was */
	assert_memory_equal(f.buf + f.len - strlen(end), end, strlen(end));
	llm_frame_free(&f);
	free(chunk);
}

static void
test_salvage_order(void **state)
{
	static const char *const keys[] = { "usage", "model", "done", NULL };
	char a[] = "yyy,\"model\":{\"a\":1}}},\"usage\":{\"n\":2},\"done\":1}";
	char b[] = "no keys here}";
	char c[] = "x\"usage\":[}";

	/* "model" here is nested (its text ends with braces too many):
	 * refused; the top-level "usage" is next */
	assert_int_equal(llm_frame_salvage(a, strlen(a), keys, try_json,
	    NULL), 0);
	assert_string_equal(seen, "{\"usage\":{\"n\":2},\"done\":1}");
	assert_string_equal(a,
	    "yyy,\"model\":{\"a\":1}}},\"usage\":{\"n\":2},\"done\":1}");
	assert_int_equal(llm_frame_salvage(b, strlen(b), keys, try_json,
	    NULL), -1);
	/* a key not after ',' or '{' is no member */
	assert_int_equal(llm_frame_salvage(c, strlen(c), keys, try_json,
	    NULL), -1);
}

static void
test_release(void **state)
{
	struct llm_frame f;
	char *big = calloc(1, 200000);

	llm_frame_init(&f);
	llm_frame_start(&f, LLM_FRAME_BODY, NULL, NULL);
	llm_frame_feed(&f, big, 200000);
	assert_true(f.cap > LLM_TAIL_KEEP);
	llm_frame_release(&f);
	assert_null(f.buf);
	assert_int_equal(f.cap, 0);
	assert_int_equal(f.len, 0);
	llm_frame_feed(&f, "ab", 2);
	assert_int_equal(f.cap, 4096);
	llm_frame_release(&f); /* small buffers are kept */
	assert_int_equal(f.cap, 4096);
	llm_frame_free(&f);
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sse_lf),
		cmocka_unit_test(test_sse_crlf_and_cr),
		cmocka_unit_test(test_sse_fields),
		cmocka_unit_test(test_sse_end_without_blank_line),
		cmocka_unit_test(test_sse_overlong),
		cmocka_unit_test(test_sse_long_field_name),
		cmocka_unit_test(test_sse_empty_first_event),
		cmocka_unit_test(test_ndjson),
		cmocka_unit_test(test_ndjson_overlong),
		cmocka_unit_test(test_body_collect),
		cmocka_unit_test(test_body_tail_salvage),
		cmocka_unit_test(test_salvage_order),
		cmocka_unit_test(test_release),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
