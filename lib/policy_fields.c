/* policy_fields.c — see policy_fields.h. */
#include "policy_fields.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

int
pf_fail(struct pctx *c, const char *path, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	tg_seterr(c->err, c->errlen, "%s: %s: %s", c->file, path, msg);
	return -1;
}


/* Every key of o must be in the NULL-terminated list. */
int
pf_check_keys(struct pctx *c, const char *path, json_t *o,
    const char *const *allowed)
{
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v) {
		const char *const *a = allowed;
		while (*a && strcmp(*a, k) != 0)
			a++;
		if (*a == NULL)
			return pf_fail(c, path, "unknown key '%s'", k);
	}
	return 0;
}


int
pf_ident_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n < POLICY_NAME_MAX &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789_.-") == n;
}


/* A money amount: "5.00" or a JSON number; > 0 and at most $1e9. */
int
pf_get_usd(struct pctx *c, const char *path, json_t *v, tg_nano_usd *out)
{
	char buf[64];
	int ok = 0;

	if (json_is_string(v))
		ok = tg_usd_parse(json_string_value(v), out) == 0;
	else if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);
		ok = i > 0 && i <= MAX_USD / TG_NANO_PER_USD;
		*out = (tg_nano_usd)i * TG_NANO_PER_USD;
	} else if (json_is_real(v) && isfinite(json_real_value(v)) &&
	    fabs(json_real_value(v)) < 1e10) {
		snprintf(buf, sizeof(buf), "%.9f", json_real_value(v));
		ok = tg_usd_parse(buf, out) == 0;
	}
	if (!ok || *out <= 0 || *out > MAX_USD)
		return pf_fail(c, path, "expected a positive amount of USD "
		    "(\"5.00\" or 5), at most 1000000000");
	return 0;
}


int
pf_get_count(struct pctx *c, const char *path, json_t *v, int64_t max,
    int64_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) <= 0 ||
	    json_integer_value(v) > max)
		return pf_fail(c, path, "expected a positive integer, at most %lld",
		    (long long)max);
	*out = json_integer_value(v);
	return 0;
}


/* "512MiB" → 536870912; 0 when the text is not digits and an optional
 * binary unit, or the value passes max. */
static uint64_t
bytes_text(const char *s, uint64_t max)
{
	static const char *const units[] = { "", "KiB", "MiB", "GiB", "TiB" };
	size_t nd = strspn(s, "0123456789");
	uint64_t n = 0;

	if (nd == 0 || nd > 16)         /* 10^16 > 2^50: bounded below */
		return 0;
	for (size_t i = 0; i < nd; i++)
		n = n * 10 + (uint64_t)(s[i] - '0');
	for (int u = 0; u < 5; u++) {
		if (strcmp(s + nd, units[u]) != 0)
			continue;
		/* n < 10^16 < 2^54: shifting by 10u checked against max */
		if (n > (max >> (10 * u)))
			return 0;
		return n << (10 * u);
	}
	return 0;
}

int
pf_get_bytes(struct pctx *c, const char *path, json_t *v, uint64_t max,
    uint64_t *out)
{
	uint64_t n = 0;

	if (json_is_integer(v) && json_integer_value(v) > 0 &&
	    (uint64_t)json_integer_value(v) <= max)
		n = (uint64_t)json_integer_value(v);
	else if (json_is_string(v))
		n = bytes_text(json_string_value(v), max);
	if (n == 0)
		return pf_fail(c, path, "expected a positive integer of bytes "
		    "or a string like \"512MiB\" or \"8GiB\" (units KiB, MiB, "
		    "GiB, TiB), at most %llu", (unsigned long long)max);
	*out = n;
	return 0;
}


/* One of names[] → its index. */
int
pf_get_enum(struct pctx *c, const char *path, json_t *v,
    const char *const *names, int *out)
{
	char list[160] = "";

	if (json_is_string(v))
		for (int i = 0; names[i]; i++)
			if (strcmp(json_string_value(v), names[i]) == 0) {
				*out = i;
				return 0;
			}
	for (int i = 0; names[i]; i++) {
		strncat(list, i ? "|" : "\"", sizeof(list) - strlen(list) - 1);
		strncat(list, names[i], sizeof(list) - strlen(list) - 1);
	}
	return pf_fail(c, path, "expected %s\"", list);
}


int
pf_get_bool(struct pctx *c, const char *path, json_t *v, int *out)
{
	if (!json_is_boolean(v))
		return pf_fail(c, path, "expected true or false");
	*out = json_is_true(v);
	return 0;
}


int
pf_get_hhmm(struct pctx *c, const char *path, json_t *v, uint16_t *out)
{
	const char *s = json_is_string(v) ? json_string_value(v) : "";
	unsigned h = 99, m = 99;

	if (strlen(s) == 5 && s[2] == ':' && strspn(s, "0123456789") == 2 &&
	    strspn(s + 3, "0123456789") == 2) {
		h = (unsigned)(s[0] - '0') * 10 + (unsigned)(s[1] - '0');
		m = (unsigned)(s[3] - '0') * 10 + (unsigned)(s[4] - '0');
	}
	if (h > 23 || m > 59)
		return pf_fail(c, path, "expected a time of day \"HH:MM\" "
		    "(00:00 to 23:59)");
	*out = (uint16_t)(h * 60 + m);
	return 0;
}


int
pf_get_days(struct pctx *c, const char *path, json_t *v, uint8_t *out)
{
	static const char *const names[] = { "mon", "tue", "wed", "thu",
	    "fri", "sat", "sun", NULL };
	char sub[240];
	int d;

	if (!json_is_array(v) || json_array_size(v) == 0 ||
	    json_array_size(v) > 7)
		return pf_fail(c, path, "expected a list of 1 to 7 days "
		    "(\"mon\" … \"sun\")");
	*out = 0;
	for (size_t i = 0; i < json_array_size(v); i++) {
		snprintf(sub, sizeof(sub), "%.200s[%zu]", path, i);
		if (pf_get_enum(c, sub, json_array_get(v, i), names, &d) < 0)
			return -1;
		if (*out & (1u << d))
			return pf_fail(c, sub, "day listed twice");
		*out |= (uint8_t)(1u << d);
	}
	return 0;
}
