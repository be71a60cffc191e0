/* test_cli_timearg.c — tollctl's --since/--until grammar, exact values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "timearg.h"

#define NS 1000000000LL
/* 2025-03-04T05:06:07Z */
#define NOW (1741064767LL * NS)

struct good { const char *text; int64_t want; };

static void
test_good(void **state)
{
	static const struct good cases[] = {
		{ "7d", NOW - 7 * 86400 * NS },
		{ "24h", NOW - 24 * 3600 * NS },
		{ "30m", NOW - 30 * 60 * NS },
		{ "0m", NOW },
		{ "1970-01-01", 0 },
		{ "2025-03-04", 1741046400LL * NS },
		{ "2024-02-29", 1709164800LL * NS },
		{ "2025-03-04T05:06:07Z", NOW },
		{ "2025-03-04t05:06:07z", NOW },
		{ "2025-03-04 05:06:07Z", NOW },
		{ "2025-03-04T05:06:07.25Z", NOW + 250000000LL },
		{ "2025-03-04T05:06:07.000000001Z", NOW + 1 },
		{ "2025-03-04T07:06:07+02:00", NOW },
		{ "2025-03-04T00:36:07-04:30", NOW },
	};
	int64_t got;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		got = -1;
		assert_int_equal(timearg_parse(cases[i].text, NOW, &got), 0);
		assert_int_equal(got, cases[i].want);
	}
}

static void
test_bad(void **state)
{
	static const char *cases[] = { "", "x", "7", "d", "7x", "7dd", "-7d",
		"7 d", "2025-13-01", "2025-02-30", "2023-02-29", "2025-3-4",
		"2025-03-04T05:06Z", "2025-03-04T05:06:07", "2025-03-04T24:00:00Z",
		"2025-03-04T05:06:07+2:00", "2025-03-04T05:06:07.Z",
		"2025-03-04T05:06:07Zjunk", "1969-12-31", "99999999999d" };
	int64_t got = 42;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (timearg_parse(cases[i], NOW, &got) != -1)
			fail_msg("accepted '%s'", cases[i]);
	}
	assert_int_equal(got, 42);
	assert_int_equal(timearg_parse(NULL, NOW, &got), -1);
}

/* Regression "report --since/--until overflow past 2262": times whose ns
 * exceed INT64_MAX wrapped around (to the past, or negative); now they
 * are TIMEARG_RANGE, and everything up to INT64_MAX ns is accepted. */
static void
test_range(void **state)
{
	static const char *late[] = { "2262-04-12", "2262-04-11T23:47:17Z",
		"2262-04-11T23:47:16.854775808Z", "3000-01-01T00:00:00+01:00",
		"9999-12-31", "9999-12-31T23:59:59.999999999Z",
		"2262-04-11T23:47:16-00:01" };
	int64_t got = 42;

	for (size_t i = 0; i < sizeof(late) / sizeof(late[0]); i++)
		if (timearg_parse(late[i], NOW, &got) != TIMEARG_RANGE)
			fail_msg("'%s' not out of range", late[i]);
	assert_int_equal(got, 42);
	assert_int_equal(timearg_parse("2262-04-11T23:47:16.854775807Z", NOW,
	    &got), 0);
	assert_int_equal(got, INT64_MAX);
	assert_int_equal(timearg_parse("2262-04-11", NOW, &got), 0);
	assert_int_equal(got, 9223286400LL * NS);
	assert_int_equal(timearg_parse("2262-04-12T00:47:16+01:00", NOW, &got),
	    0);
	assert_int_equal(got, 9223372036LL * NS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_range),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
