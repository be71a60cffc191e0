/*
 * money.c — exact money arithmetic (see money.h and prices.h).
 *
 * Everything here is integer arithmetic in __int128, so no intermediate
 * ever rounds; the single rounding step is pico → nano, half-up. This file
 * uses libc only: the shim may link it to meter locally. The record cost
 * (tg_record_cost, tg_reserve_cost of prices.h) lives here too, so using
 * it never drags the JSON price loader into a binary.
 */
#include "money.h"
#include "prices.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdint.h>

#define PICO_PER_NANO 1000

/* Largest pico-USD-per-token price accepted: $1,000,000 per token. */
#define PICO_PRICE_MAX 1000000000000000000LL

/* pico → nano, half-up: floor((p + 500) / 1000), for either sign. */
static int
pico_to_nano(__int128 pico, tg_nano_usd *out)
{
	__int128 n, q;

	n = pico + PICO_PER_NANO / 2;
	q = n / PICO_PER_NANO;
	if (n % PICO_PER_NANO != 0 && n < 0)
		q--; /* C division truncates toward zero; we want floor */
	if (q > INT64_MAX || q < INT64_MIN)
		return -1;
	*out = (tg_nano_usd)q;
	return 0;
}

int
tg_cost_nano(tg_pico_usd pico_per_token, uint64_t tokens, tg_nano_usd *out)
{
	/* |pico| < 2^63 and tokens < 2^64: the product fits in 127 bits. */
	return pico_to_nano((__int128)pico_per_token * (__int128)tokens, out);
}

int
tg_usd_parse(const char *text, tg_nano_usd *out)
{
	const char *p = text;
	__int128 v = 0;
	int neg = 0, digits = 0, decimals = 0;

	if (p == NULL)
		return -1;
	if (*p == '-') {
		neg = 1;
		p++;
	}
	for (; *p >= '0' && *p <= '9'; p++, digits++) {
		v = v * 10 + (*p - '0');
		if (v > (__int128)INT64_MAX)
			return -1;
	}
	if (digits == 0)
		return -1; /* "", "-", ".5" */
	v *= TG_NANO_PER_USD;
	if (*p == '.') {
		__int128 scale = TG_NANO_PER_USD;

		for (p++; *p >= '0' && *p <= '9'; p++, decimals++) {
			if (decimals == 9)
				return -1; /* finer than a nano-USD */
			scale /= 10;
			v += (*p - '0') * scale;
		}
		if (decimals == 0)
			return -1; /* "1." */
	}
	if (*p != '\0')
		return -1;
	if (neg)
		v = -v;
	if (v > INT64_MAX || v < INT64_MIN)
		return -1;
	*out = (tg_nano_usd)v;
	return 0;
}

int
tg_price_from_double(double usd_per_token, tg_pico_usd *out)
{
	double pico;

	if (!isfinite(usd_per_token) || usd_per_token < 0)
		return -1;
	pico = usd_per_token * 1e12;
	if (pico > (double)PICO_PRICE_MAX)
		return -1;
	*out = llround(pico);
	return 0;
}

int
tg_usd_format(char *buf, size_t size, tg_nano_usd v, int decimals)
{
	static const uint64_t pow10[] = { 1, 10, 100, 1000, 10000, 100000,
	    1000000, 10000000, 100000000, 1000000000 };
	uint64_t mag, unit, whole, frac;
	const char *sign = "";

	if (decimals < 0)
		decimals = 0;
	if (decimals > 9)
		decimals = 9;
	/* Magnitude in unsigned arithmetic so INT64_MIN has one too. */
	mag = v < 0 ? -(uint64_t)v : (uint64_t)v;
	unit = pow10[9 - decimals];
	mag = mag / unit + (mag % unit >= unit - unit / 2 ? 1 : 0);
	whole = mag / pow10[decimals];
	frac = mag % pow10[decimals];
	if (v < 0 && mag != 0)
		sign = "-";
	if (decimals == 0)
		return snprintf(buf, size, "%s%llu", sign,
		    (unsigned long long)whole);
	return snprintf(buf, size, "%s%llu.%0*llu", sign,
	    (unsigned long long)whole, decimals, (unsigned long long)frac);
}

/* --- costs of records and reservations (declared in prices.h) ---------- */

int
tg_record_cost(const struct tg_price *p, const struct tg_record *r,
    tg_nano_usd *out)
{
	__int128 pico;
	uint64_t uncached;

	/* cached and cache writes are parts of input_tokens (DESIGN.md). */
	if (r->cached_tokens > r->input_tokens ||
	    r->cache_write_tokens > r->input_tokens - r->cached_tokens)
		return -1;
	uncached = r->input_tokens - r->cached_tokens - r->cache_write_tokens;
	/* Four products of < 2^63 × < 2^64 could overflow 127 bits when
	 * summed; prices are capped at 2^60 and checked here. */
	if (p->input < 0 || p->output < 0 || p->cached_input < 0 ||
	    p->cache_write < 0 || p->input > PICO_PRICE_MAX ||
	    p->output > PICO_PRICE_MAX || p->cached_input > PICO_PRICE_MAX ||
	    p->cache_write > PICO_PRICE_MAX)
		return -1;
	pico = (__int128)uncached * p->input +
	    (__int128)r->cached_tokens * p->cached_input +
	    (__int128)r->cache_write_tokens * p->cache_write +
	    (__int128)r->output_tokens * p->output;
	return pico_to_nano(pico, out);
}

tg_nano_usd
tg_reserve_cost(const struct tg_price *p, uint64_t input, uint64_t max_output)
{
	__int128 pico, nano;

	/* Capped prices keep the sum of the two products inside 127 bits. */
	if (p->input > PICO_PRICE_MAX || p->output > PICO_PRICE_MAX)
		return INT64_MAX;
	pico = (__int128)input * (p->input > 0 ? p->input : 0) +
	    (__int128)max_output * (p->output > 0 ? p->output : 0);
	/* Rounded up: a reservation never undercounts the worst case. */
	nano = (pico + PICO_PER_NANO - 1) / PICO_PER_NANO;
	return nano > INT64_MAX ? INT64_MAX : (tg_nano_usd)nano;
}
