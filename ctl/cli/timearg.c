/* timearg.c — see timearg.h. */
#include "timearg.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define NS 1000000000LL

/* Exactly n digits at s into *v; 0 or -1. */
static int
digits(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil); no timezone database involved. */
static int64_t
days_from_civil(int y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int
days_in_month(int y, int m)
{
	static const int dm[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : dm[m - 1];
}

static int
parse_relative(const char *s, int64_t now_ns, int64_t *out)
{
	char *end;
	unsigned long long n;
	int64_t unit;

	if (!isdigit((unsigned char)*s))
		return -1;
	n = strtoull(s, &end, 10);
	if (end[0] == '\0' || end[1] != '\0')
		return -1;
	switch (*end) {
	case 'd': unit = 86400 * NS; break;
	case 'h': unit = 3600 * NS; break;
	case 'm': unit = 60 * NS; break;
	default: return -1;
	}
	if (n > (unsigned long long)(INT64_MAX / unit) || (int64_t)n * unit > now_ns)
		return -1;
	*out = now_ns - (int64_t)n * unit;
	return 0;
}

static int
parse_date(const char *s, int *y, int *mo, int *d)
{
	if (digits(s, 4, y) || s[4] != '-' || digits(s + 5, 2, mo) ||
	    s[7] != '-' || digits(s + 8, 2, d))
		return -1;
	if (*y < 1970 || *mo < 1 || *mo > 12 || *d < 1 ||
	    *d > days_in_month(*y, *mo))
		return -1;
	return 0;
}

/* ".123456789" → ns; advances *s. */
static int64_t
parse_fraction(const char **s)
{
	int64_t ns = 0, scale = NS / 10;
	const char *p = *s;

	if (*p != '.' || !isdigit((unsigned char)p[1]))
		return 0;
	for (p++; isdigit((unsigned char)*p); p++) {
		ns += (*p - '0') * scale;
		scale /= 10;
	}
	*s = p;
	return ns;
}

/* "Z" or "+hh:mm"/"-hh:mm" → offset seconds east of UTC; -1 bad. */
static int
parse_offset(const char *p, int64_t *off)
{
	int hh, mm;

	if ((p[0] == 'Z' || p[0] == 'z') && p[1] == '\0') {
		*off = 0;
		return 0;
	}
	if ((p[0] != '+' && p[0] != '-') || digits(p + 1, 2, &hh) ||
	    p[3] != ':' || digits(p + 4, 2, &mm) || p[6] != '\0' || hh > 23 ||
	    mm > 59)
		return -1;
	*off = (int64_t)(hh * 3600 + mm * 60) * (p[0] == '-' ? -1 : 1);
	return 0;
}

static int
parse_rfc3339(const char *s, int64_t *out)
{
	int y, mo, d, h, mi, sec;
	int64_t frac, off, secs;
	const char *p;

	if (parse_date(s, &y, &mo, &d) < 0)
		return -1;
	if (s[10] == '\0') {
		secs = days_from_civil(y, mo, d) * 86400;
		if (secs > INT64_MAX / NS)
			return TIMEARG_RANGE;
		*out = secs * NS;
		return 0;
	}
	if ((s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) ||
	    s[16] != ':' || digits(s + 17, 2, &sec) || h > 23 || mi > 59 ||
	    sec > 60)
		return -1;
	p = s + 19;
	frac = parse_fraction(&p);
	if (parse_offset(p, &off) < 0)
		return -1;
	secs = (days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) -
	    off;
	/* 9999-12-31 fits in seconds; in ns only up to 2262-04-11 */
	if (secs < 0)
		return -1;
	if (secs > (INT64_MAX - frac) / NS)
		return TIMEARG_RANGE;
	*out = secs * NS + frac;
	return 0;
}

int
timearg_parse(const char *text, int64_t now_ns, int64_t *out)
{
	if (text == NULL || *text == '\0' || strlen(text) > 40)
		return -1;
	if (parse_relative(text, now_ns, out) == 0)
		return 0;
	return parse_rfc3339(text, out);
}
