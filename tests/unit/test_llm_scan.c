/* test_llm_scan.c — the allocation-free JSON looks of llm_scan.h: keys
 * found at every offset (across the 16-byte steps and the tail), never
 * inside strings or as values, depth, values, counts. Each text sits in
 * a buffer of its exact size, so a read past the end shows in valgrind. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "llm_scan.h"

static const struct llm_key two[] = { LLM_KEY("usage"), LLM_KEY("error") };

/* "usage": 77 after `pad` filler bytes and before `tail` more. */
static void
test_key_every_offset(void **state)
{
	char text[128];
	size_t pad, tail, n;
	const char *v;
	int which;

	for (pad = 0; pad < 40; pad++)
		for (tail = 0; tail < 20; tail++) {
			n = snprintf(text, sizeof(text),
			    "{\"%0*d\":1,\"usage\":77%*s}", (int)pad + 1, 0,
			    (int)tail, "");
			char *buf = malloc(n);
			memcpy(buf, text, n);
			v = llm_scan_keys(buf, n, two, 2, &which);
			assert_non_null(v);
			assert_int_equal(which, 0);
			assert_int_equal(v - buf, strstr(text, "77") - text);
			/* cut just before the colon: no key */
			assert_null(llm_scan_keys(buf, strstr(text, "\":77") -
			    text + 1, two, 2, &which));
			free(buf);
		}
}

static void
test_not_keys(void **state)
{
	/* inside a string (quotes escaped), as a value, without a colon */
	const char *t = "{\"content\":\"\\\"usage\\\": 1\",\"type\":\"usage\","
	    "\"list\":[\"error\"],\"error\" }";
	int which;

	assert_null(llm_scan_keys(t, strlen(t), two, 2, &which));
	t = "{\"a\":\"x\\\\\",\"error\" :\t{\"code\":1}}";
	assert_non_null(llm_scan_keys(t, strlen(t), two, 2, &which));
	assert_int_equal(which, 1);
}

static void
test_depth(void **state)
{
	const char *t = "{\"a\":{\"error\":1},\"s\":\"{[\",\"error\":2}";
	const char *v1 = strstr(t, "1"), *v2 = strstr(t, "2");

	assert_int_equal(llm_scan_depth(t, v1), 2);
	assert_int_equal(llm_scan_depth(t, v2), 1);
	assert_int_equal(llm_scan_depth(t, t), 0);
}

/* The length of the value that starts right after `key` in t. */
static size_t
value_len(const char *t, const char *key)
{
	const char *v = strstr(t, key) + strlen(key);

	return llm_scan_value(v, t + strlen(t));
}

#define END(s) ((s) + strlen(s))

static void
test_values(void **state)
{
	const char *t = "{\"o\":{\"s\":\"}]\\\"\"},\"a\":[1,[2]],\"n\":12}";
	char out[8];
	uint64_t x;

	assert_int_equal(value_len(t, "\"o\":"), strlen("{\"s\":\"}]\\\"\"}"));
	assert_int_equal(value_len(t, "\"a\":"), strlen("[1,[2]]"));
	assert_int_equal(value_len(t, "\"n\":"), 2);
	assert_int_equal(llm_scan_value(t, t + 10), 0);      /* cut */
	assert_int_equal(llm_scan_is_null("null}", END("null}")), 1);
	assert_int_equal(llm_scan_is_null("nullx", END("nullx")), 0);
	assert_int_equal(llm_scan_is_true("true", END("true")), 1);
	assert_int_equal(llm_scan_is_true("tru", END("tru")), 0);
	assert_int_equal(llm_scan_u64("18446744073709551609,",
	    END("18446744073709551609,"), &x), 1);
	assert_true(x == 18446744073709551609ULL);
	assert_int_equal(llm_scan_u64("184467440737095516150",
	    END("184467440737095516150"), &x), 0);   /* too big */
	assert_int_equal(llm_scan_u64("-1", END("-1"), &x), 0);
	assert_int_equal(llm_scan_u64("2.5", END("2.5"), &x), 0);
	assert_int_equal(llm_scan_u64("3e2", END("3e2"), &x), 0);
	assert_int_equal(llm_scan_string("\"gpt-4o\",", END("\"gpt-4o\","),
	    out, sizeof(out)), 6);
	assert_string_equal(out, "gpt-4o");
	assert_int_equal(llm_scan_string("\"a\\\"b\"", END("\"a\\\"b\""), out,
	    sizeof(out)), -1);                        /* escape */
	assert_int_equal(llm_scan_string("\"12345678\"", END("\"12345678\""),
	    out, sizeof(out)), -1);                   /* too long */
	assert_int_equal(llm_scan_string("\"abc", END("\"abc"), out,
	    sizeof(out)), -1);                        /* unterminated */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_every_offset),
		cmocka_unit_test(test_not_keys),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
