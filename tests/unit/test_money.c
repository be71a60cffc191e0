/* test_money.c — exact money: pico × tokens → nano-USD, parse, format. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <math.h>
#include <string.h>
#include <cmocka.h>

#include "money.h"
#include "prices.h"

static void
test_cost_nano_exact(void **state)
{
	tg_nano_usd n;

	/* gpt-4o input, $2.50/Mtok = 2,500,000 pico/token, × 1234 tokens
	 * = 3,085,000,000 pico = 3,085,000 nano. */
	assert_int_equal(tg_cost_nano(2500000, 1234, &n), 0);
	assert_int_equal(n, 3085000);
	/* gpt-4o output, $10/Mtok × 567 = 5,670,000 nano. */
	assert_int_equal(tg_cost_nano(10000000, 567, &n), 0);
	assert_int_equal(n, 5670000);
	assert_int_equal(tg_cost_nano(0, 123456789, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(tg_cost_nano(2500000, 0, &n), 0);
	assert_int_equal(n, 0);
}

static void
test_cost_nano_half_up(void **state)
{
	tg_nano_usd n;

	assert_int_equal(tg_cost_nano(499, 1, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(tg_cost_nano(500, 1, &n), 0);  /* 0.5 nano → 1 */
	assert_int_equal(n, 1);
	assert_int_equal(tg_cost_nano(1499, 1, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(tg_cost_nano(1500, 1, &n), 0);
	assert_int_equal(n, 2);
	/* 4688 pico (gemini-1.5-flash-exp) × 3 = 14064 pico → 14 nano */
	assert_int_equal(tg_cost_nano(4688, 3, &n), 0);
	assert_int_equal(n, 14);
	/* half-up on the negative side too: -0.5 → 0, -0.501 → -1 */
	assert_int_equal(tg_cost_nano(-500, 1, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(tg_cost_nano(-501, 1, &n), 0);
	assert_int_equal(n, -1);
}

static void
test_cost_nano_overflow(void **state)
{
	tg_nano_usd n = 42;

	assert_int_equal(tg_cost_nano(INT64_MAX, UINT64_MAX, &n), -1);
	assert_int_equal(n, 42); /* untouched on error */
	/* 2^63 tokens × 1000 pico = 2^63 nano: one past INT64_MAX */
	assert_int_equal(tg_cost_nano(1000, (uint64_t)1 << 63, &n), -1);
	/* INT64_MAX tokens × 1000 pico = INT64_MAX nano exactly */
	assert_int_equal(tg_cost_nano(1000, INT64_MAX, &n), 0);
	assert_int_equal(n, INT64_MAX);
}

static struct tg_price
price(tg_pico_usd in, tg_pico_usd out, tg_pico_usd cached, tg_pico_usd cw)
{
	struct tg_price p = { in, out, cached, cw, 0 };

	return p;
}

static void
test_record_cost(void **state)
{
	struct tg_price p;
	struct tg_record r;
	tg_nano_usd n;

	/* gpt-4o: 1234 in / 567 out = $0.003085 + $0.00567 = $0.008755 */
	p = price(2500000, 10000000, 1250000, 2500000);
	memset(&r, 0, sizeof(r));
	r.input_tokens = 1234;
	r.output_tokens = 567;
	assert_int_equal(tg_record_cost(&p, &r, &n), 0);
	assert_int_equal(n, 8755000);

	/* claude-3-5-sonnet: 10000 input = 2000 uncached + 6000 cache reads
	 * + 2000 cache writes, 500 output:
	 * 2000×3e6 + 6000×3e5 + 2000×3.75e6 + 500×1.5e7 pico
	 * = 6e9 + 1.8e9 + 7.5e9 + 7.5e9 = 22.8e9 pico = 22,800,000 nano */
	p = price(3000000, 15000000, 300000, 3750000);
	r.input_tokens = 10000;
	r.cached_tokens = 6000;
	r.cache_write_tokens = 2000;
	r.output_tokens = 500;
	assert_int_equal(tg_record_cost(&p, &r, &n), 0);
	assert_int_equal(n, 22800000);

	/* Rounded once, not per part: 1499 + 1499 pico = 2998 → 3 nano
	 * (per part it would be 1 + 1 = 2). */
	p = price(1499, 1499, 1499, 1499);
	memset(&r, 0, sizeof(r));
	r.input_tokens = 1;
	r.output_tokens = 1;
	assert_int_equal(tg_record_cost(&p, &r, &n), 0);
	assert_int_equal(n, 3);
}

static void
test_record_cost_errors(void **state)
{
	struct tg_price p = price(1000, 1000, 1000, 1000);
	struct tg_record r;
	tg_nano_usd n = 7;

	memset(&r, 0, sizeof(r));
	r.input_tokens = 10;
	r.cached_tokens = 6;
	r.cache_write_tokens = 5; /* 6 + 5 > 10 */
	assert_int_equal(tg_record_cost(&p, &r, &n), -1);
	r.cached_tokens = 11;
	r.cache_write_tokens = 0;
	assert_int_equal(tg_record_cost(&p, &r, &n), -1);
	assert_int_equal(n, 7);
	/* cached + writes == input is fine: no uncached input */
	r.cached_tokens = 6;
	r.cache_write_tokens = 4;
	assert_int_equal(tg_record_cost(&p, &r, &n), 0);
	assert_int_equal(n, 10);
	/* overflow of the nano result */
	memset(&r, 0, sizeof(r));
	r.output_tokens = UINT64_MAX;
	p.output = 1000000000000LL;
	assert_int_equal(tg_record_cost(&p, &r, &n), -1);
	/* a negative price is refused */
	p = price(-1, 0, 0, 0);
	assert_int_equal(tg_record_cost(&p, &r, &n), -1);
}

static void
test_reserve_cost(void **state)
{
	struct tg_price p = price(2500000, 10000000, 1250000, 2500000);

	/* 1000 in + 16384 max out: 2.5e9 + 163.84e9 pico = 166,340,000 nano */
	assert_int_equal(tg_reserve_cost(&p, 1000, 16384), 166340000);
	/* rounded up: 1001 pico → 2 nano */
	p = price(1001, 0, 0, 0);
	assert_int_equal(tg_reserve_cost(&p, 1, 0), 2);
	p = price(1000, 0, 0, 0);
	assert_int_equal(tg_reserve_cost(&p, 1, 0), 1);
	/* saturates instead of wrapping */
	p = price(INT64_MAX, INT64_MAX, 0, 0);
	assert_int_equal(tg_reserve_cost(&p, UINT64_MAX, UINT64_MAX),
	    INT64_MAX);
}

static void
test_usd_parse(void **state)
{
	static const struct {
		const char *text;
		int rc;
		tg_nano_usd v;
	} t[] = {
		{ "12.345678901", 0, 12345678901LL },
		{ "1", 0, 1000000000LL },
		{ "0.5", 0, 500000000LL },
		{ "-0.5", 0, -500000000LL },
		{ "0.000000001", 0, 1 },
		{ "100.10", 0, 100100000000LL },
		{ "9223372036.854775807", 0, INT64_MAX },
		{ "-9223372036.854775808", 0, INT64_MIN },
		{ "9223372036.854775808", -1, 0 },
		{ "-9223372036.854775809", -1, 0 },
		{ "9223372037", -1, 0 },
		{ "99999999999999999999999", -1, 0 },
		{ "0.0000000001", -1, 0 }, /* finer than a nano */
		{ "", -1, 0 },
		{ "-", -1, 0 },
		{ ".5", -1, 0 },
		{ "1.", -1, 0 },
		{ "1e3", -1, 0 },
		{ " 1", -1, 0 },
		{ "1 ", -1, 0 },
		{ "+1", -1, 0 },
		{ "1.2.3", -1, 0 },
		{ "$5", -1, 0 },
	};
	tg_nano_usd v;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		v = 12345;
		assert_int_equal(tg_usd_parse(t[i].text, &v), t[i].rc);
		if (t[i].rc == 0)
			assert_int_equal(v, t[i].v);
		else
			assert_int_equal(v, 12345);
	}
	assert_int_equal(tg_usd_parse(NULL, &v), -1);
}

static void
test_price_from_double(void **state)
{
	tg_pico_usd p;

	assert_int_equal(tg_price_from_double(2.5e-06, &p), 0);
	assert_int_equal(p, 2500000);
	assert_int_equal(tg_price_from_double(1.65e-07, &p), 0);
	assert_int_equal(p, 165000);
	assert_int_equal(tg_price_from_double(4.6875e-09, &p), 0);
	assert_int_equal(p, 4688); /* 4687.5 → nearest, half away */
	assert_int_equal(tg_price_from_double(0, &p), 0);
	assert_int_equal(p, 0);
	assert_int_equal(tg_price_from_double(-1e-6, &p), -1);
	assert_int_equal(tg_price_from_double(NAN, &p), -1);
	assert_int_equal(tg_price_from_double(INFINITY, &p), -1);
	assert_int_equal(tg_price_from_double(1e7, &p), -1);
}

static void
test_usd_format(void **state)
{
	static const struct {
		tg_nano_usd v;
		int dec;
		const char *want;
	} t[] = {
		{ 8755000, 6, "0.008755" },
		{ 8755000, 9, "0.008755000" },
		{ 8755000, 2, "0.01" },
		{ 1234567890, 9, "1.234567890" },
		{ 1234567890, 4, "1.2346" },
		{ 1500000000, 0, "2" },
		{ -1500000000, 0, "-2" },
		{ 1499999999, 0, "1" },
		{ -400000000, 0, "0" }, /* no "-0" */
		{ -5000000, 2, "-0.01" },
		{ 0, 2, "0.00" },
		{ INT64_MAX, 9, "9223372036.854775807" },
		{ INT64_MIN, 9, "-9223372036.854775808" },
		{ INT64_MIN, 0, "-9223372037" },
		{ 999999999, 3, "1.000" },
	};
	char buf[64];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(tg_usd_format(buf, sizeof(buf), t[i].v,
		    t[i].dec), (int)strlen(t[i].want));
		assert_string_equal(buf, t[i].want);
	}
	/* a short buffer truncates and reports the length needed */
	assert_int_equal(tg_usd_format(buf, 4, 1234567890, 9), 11);
	assert_string_equal(buf, "1.2");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cost_nano_exact),
		cmocka_unit_test(test_cost_nano_half_up),
		cmocka_unit_test(test_cost_nano_overflow),
		cmocka_unit_test(test_record_cost),
		cmocka_unit_test(test_record_cost_errors),
		cmocka_unit_test(test_reserve_cost),
		cmocka_unit_test(test_usd_parse),
		cmocka_unit_test(test_price_from_double),
		cmocka_unit_test(test_usd_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
