/* test_policy_tzif.c — the zone reader of the policy engine: offsets from
 * TZif files (table and POSIX footer), the DST rules of tg_tz_to_utc (gap:
 * first instant after; overlap: first pass), civil date arithmetic. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tzif.h"

#define H 3600

static struct tg_tz ny, berlin;

/* UTC seconds of a civil UTC time. */
static int64_t
utc(int y, unsigned mo, unsigned d, int h, int mi, int s)
{
	return tg_days_from_civil(y, mo, d) * 86400 + h * H + mi * 60 + s;
}

/* Local seconds of a civil local time. */
#define LOCAL utc

static int
setup(void **state)
{
	char err[256];

	if (tg_tz_load(&ny, "America/New_York", err, sizeof(err)) < 0 ||
	    tg_tz_load(&berlin, "Europe/Berlin", err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	return 0;
}

static void
test_civil(void **state)
{
	int64_t y;
	unsigned m, d;

	assert_int_equal(tg_days_from_civil(1970, 1, 1), 0);
	assert_int_equal(tg_days_from_civil(2000, 3, 1), 11017);
	assert_int_equal(tg_days_from_civil(1969, 12, 31), -1);
	tg_civil_from_days(20157, &y, &m, &d);          /* 2025-03-10 */
	assert_int_equal(y, 2025);
	assert_int_equal(m, 3);
	assert_int_equal(d, 10);
	assert_int_equal(tg_weekday(0), 3);             /* Thursday */
	assert_int_equal(tg_weekday(20157), 0);         /* Monday */
	assert_int_equal(tg_weekday(-1), 2);            /* Wednesday */
}

static void
test_offsets(void **state)
{
	/* New York 2025: EDT from 2025-03-09 07:00Z to 2025-11-02 06:00Z */
	assert_int_equal(tg_tz_offset(&ny, utc(2025, 3, 9, 6, 59, 59)), -5 * H);
	assert_int_equal(tg_tz_offset(&ny, utc(2025, 3, 9, 7, 0, 0)), -4 * H);
	assert_int_equal(tg_tz_offset(&ny, utc(2025, 11, 2, 5, 59, 59)), -4 * H);
	assert_int_equal(tg_tz_offset(&ny, utc(2025, 11, 2, 6, 0, 0)), -5 * H);
	/* Berlin 2025: CEST from 03-30 01:00Z to 10-26 01:00Z */
	assert_int_equal(tg_tz_offset(&berlin, utc(2025, 3, 30, 0, 59, 59)), H);
	assert_int_equal(tg_tz_offset(&berlin, utc(2025, 3, 30, 1, 0, 0)), 2 * H);
	assert_int_equal(tg_tz_offset(&berlin, utc(2025, 10, 26, 0, 59, 59)),
	    2 * H);
	assert_int_equal(tg_tz_offset(&berlin, utc(2025, 10, 26, 1, 0, 0)), H);
	/* past the file's table (2037): the footer rule */
	assert_int_equal(tg_tz_offset(&ny, utc(2090, 3, 12, 6, 59, 59)), -5 * H);
	assert_int_equal(tg_tz_offset(&ny, utc(2090, 3, 12, 7, 0, 0)), -4 * H);
	assert_int_equal(tg_tz_offset(&berlin, utc(2090, 10, 29, 0, 59, 59)),
	    2 * H);
	assert_int_equal(tg_tz_offset(&berlin, utc(2090, 10, 29, 1, 0, 0)), H);
}

static void
test_gap(void **state)
{
	/* 02:00-03:00 on 2025-03-09 does not exist in New York: every local
	 * time in it maps to 03:00 EDT = 07:00Z, the first instant after. */
	assert_int_equal(tg_tz_to_utc(&ny, LOCAL(2025, 3, 9, 2, 0, 0)),
	    utc(2025, 3, 9, 7, 0, 0));
	assert_int_equal(tg_tz_to_utc(&ny, LOCAL(2025, 3, 9, 2, 30, 0)),
	    utc(2025, 3, 9, 7, 0, 0));
	assert_int_equal(tg_tz_to_utc(&ny, LOCAL(2025, 3, 9, 1, 59, 59)),
	    utc(2025, 3, 9, 6, 59, 59));
	assert_int_equal(tg_tz_to_utc(&ny, LOCAL(2025, 3, 9, 3, 0, 0)),
	    utc(2025, 3, 9, 7, 0, 0));
	/* Berlin: 02:00-03:00 on 2025-03-30 → 03:00 CEST = 01:00Z */
	assert_int_equal(tg_tz_to_utc(&berlin, LOCAL(2025, 3, 30, 2, 15, 0)),
	    utc(2025, 3, 30, 1, 0, 0));
	/* footer years too */
	assert_int_equal(tg_tz_to_utc(&ny, LOCAL(2090, 3, 12, 2, 30, 0)),
	    utc(2090, 3, 12, 7, 0, 0));
}

static void
test_overlap(void **state)
{
	/* 01:00-02:00 on 2025-11-02 happens twice in New York: the first
	 * pass (EDT, 05:xxZ) is the one. */
	assert_int_equal(tg_tz_to_utc(&ny, LOCAL(2025, 11, 2, 1, 0, 0)),
	    utc(2025, 11, 2, 5, 0, 0));
	assert_int_equal(tg_tz_to_utc(&ny, LOCAL(2025, 11, 2, 1, 59, 59)),
	    utc(2025, 11, 2, 5, 59, 59));
	assert_int_equal(tg_tz_to_utc(&ny, LOCAL(2025, 11, 2, 2, 0, 0)),
	    utc(2025, 11, 2, 7, 0, 0));
	/* Berlin: 02:00-03:00 on 2025-10-26, first pass CEST = 00:xxZ */
	assert_int_equal(tg_tz_to_utc(&berlin, LOCAL(2025, 10, 26, 2, 30, 0)),
	    utc(2025, 10, 26, 0, 30, 0));
	assert_int_equal(tg_tz_to_utc(&berlin, LOCAL(2025, 10, 26, 3, 0, 0)),
	    utc(2025, 10, 26, 2, 0, 0));
}

static void
test_day_lengths(void **state)
{
	int64_t a, b;

	a = tg_tz_to_utc(&ny, LOCAL(2025, 3, 9, 0, 0, 0));
	b = tg_tz_to_utc(&ny, LOCAL(2025, 3, 10, 0, 0, 0));
	assert_int_equal(b - a, 23 * H);
	a = tg_tz_to_utc(&ny, LOCAL(2025, 11, 2, 0, 0, 0));
	b = tg_tz_to_utc(&ny, LOCAL(2025, 11, 3, 0, 0, 0));
	assert_int_equal(b - a, 25 * H);
	a = tg_tz_to_utc(&berlin, LOCAL(2025, 3, 30, 0, 0, 0));
	b = tg_tz_to_utc(&berlin, LOCAL(2025, 3, 31, 0, 0, 0));
	assert_int_equal(b - a, 23 * H);
	a = tg_tz_to_utc(&berlin, LOCAL(2025, 10, 26, 0, 0, 0));
	b = tg_tz_to_utc(&berlin, LOCAL(2025, 10, 27, 0, 0, 0));
	assert_int_equal(b - a, 25 * H);
}

static void
test_span(void **state)
{
	int64_t from, to;

	assert_int_equal(tg_tz_span(&ny, utc(2025, 6, 1, 0, 0, 0), &from, &to),
	    -4 * H);
	assert_int_equal(from, utc(2025, 3, 9, 7, 0, 0));
	assert_int_equal(to, utc(2025, 11, 2, 6, 0, 0));
	assert_int_equal(tg_tz_span(&berlin, utc(2091, 1, 1, 0, 0, 0), &from,
	    &to), H);
	assert_int_equal(from, utc(2090, 10, 29, 1, 0, 0));
	assert_int_equal(to, utc(2091, 3, 25, 1, 0, 0));
}

static void
test_posix(void **state)
{
	struct tg_tz tz;

	memset(&tz, 0, sizeof(tz));
	tz.ntypes = 1;
	/* southern hemisphere: Sydney, DST across the new year */
	assert_int_equal(tg_tz_parse_posix(&tz, "AEST-10AEDT,M10.1.0,M4.1.0/3"),
	    0);
	assert_int_equal(tz.std_off, 10 * H);
	assert_int_equal(tz.dst_off, 11 * H);
	assert_int_equal(tg_tz_offset(&tz, utc(2025, 1, 15, 0, 0, 0)), 11 * H);
	assert_int_equal(tg_tz_offset(&tz, utc(2025, 6, 15, 0, 0, 0)), 10 * H);
	/* 2025-04-06 03:00 AEDT = 2025-04-05 16:00Z */
	assert_int_equal(tg_tz_offset(&tz, utc(2025, 4, 5, 15, 59, 59)), 11 * H);
	assert_int_equal(tg_tz_offset(&tz, utc(2025, 4, 5, 16, 0, 0)), 10 * H);
	assert_int_equal(tg_tz_parse_posix(&tz, "<+0530>-5:30"), 0);
	assert_int_equal(tz.std_off, 5 * H + 1800);
	assert_int_equal(tz.has_dst, 0);
	assert_int_equal(tg_tz_parse_posix(&tz, "EST5EDT,M3.2.0,M13.1.0"), -1);
	assert_int_equal(tg_tz_parse_posix(&tz, "E5"), -1);
}

static void
test_bad_files(void **state)
{
	struct tg_tz tz;
	char err[128];
	unsigned char buf[64];

	memset(buf, 0, sizeof(buf));
	assert_int_equal(tg_tz_parse(&tz, buf, sizeof(buf), err, sizeof(err)),
	    -1);
	assert_string_equal(err, "not a TZif file or counts out of range");
	memcpy(buf, "TZif", 4);
	buf[4] = 0;             /* v1 */
	buf[39] = 1;            /* typecnt 1 */
	assert_int_equal(tg_tz_parse(&tz, buf, sizeof(buf), err, sizeof(err)),
	    -1);
	assert_string_equal(err, "TZif version 1 is not supported (need v2+)");
	buf[4] = '2';
	assert_int_equal(tg_tz_parse(&tz, buf, 44, err, sizeof(err)), -1);
	assert_string_equal(err, "truncated or bad v2 header");
	assert_int_equal(tg_tz_load(&tz, "../../etc/passwd", err, sizeof(err)),
	    -1);
	assert_string_equal(err, "'../../etc/passwd' is not a time zone name");
	assert_int_equal(tg_tz_load(&tz, "Nowhere/City", err, sizeof(err)), -1);
	assert_string_equal(err, "time zone 'Nowhere/City': not found");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_civil),
		cmocka_unit_test(test_offsets),
		cmocka_unit_test(test_gap),
		cmocka_unit_test(test_overlap),
		cmocka_unit_test(test_day_lengths),
		cmocka_unit_test(test_span),
		cmocka_unit_test(test_posix),
		cmocka_unit_test(test_bad_files),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
