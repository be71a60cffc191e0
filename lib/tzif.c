/*
 * tzif.c — TZif v2+ reader and offset arithmetic (see tzif.h).
 * Only the 64-bit (v2) data block is used; the v1 block is skipped.
 * Zones with leap seconds ("right/…") are refused: the policy engine
 * counts POSIX seconds.
 */
#include "tzif.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define DAY 86400
#define HDR 44

int64_t
tg_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	/* H. Hinnant's algorithm: days of the proleptic Gregorian calendar. */
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + (int64_t)doe - 719468;
}

void
tg_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;

	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

int
tg_weekday(int64_t days)
{
	/* 1970-01-01 was a Thursday (3 when Monday is 0). */
	int64_t w = (days + 3) % 7;

	return (int)(w < 0 ? w + 7 : w);
}

static int64_t
floordiv(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static int64_t
be64(const unsigned char *p)
{
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* ---- POSIX TZ strings (the TZif footer) ---- */

static const char *
posix_name(const char *s)
{
	if (*s == '<') {
		const char *e = strchr(s, '>');
		return e && e - s >= 2 ? e + 1 : NULL;
	}
	const char *p = s;
	while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
		p++;
	return p - s >= 3 ? p : NULL;
}

/* [+-]hh[:mm[:ss]], hours up to 167; into *secs. */
static const char *
posix_time(const char *s, int32_t *secs)
{
	int sign = 1, part[3] = { 0, 0, 0 };

	if (*s == '+' || *s == '-')
		sign = *s++ == '-' ? -1 : 1;
	for (int i = 0; i < 3; i++) {
		if (i > 0 && *s != ':')
			break;
		if (i > 0)
			s++;
		if (*s < '0' || *s > '9')
			return NULL;
		part[i] = 0;
		while (*s >= '0' && *s <= '9' && part[i] < 1000)
			part[i] = part[i] * 10 + (*s++ - '0');
	}
	if (part[0] > 167 || part[1] > 59 || part[2] > 59)
		return NULL;
	*secs = sign * (part[0] * 3600 + part[1] * 60 + part[2]);
	return s;
}

static const char *
posix_num(const char *s, int *v, int lo, int hi)
{
	if (*s < '0' || *s > '9')
		return NULL;
	*v = 0;
	while (*s >= '0' && *s <= '9' && *v <= hi)
		*v = *v * 10 + (*s++ - '0');
	return *v >= lo && *v <= hi ? s : NULL;
}

static const char *
posix_date(const char *s, struct tg_tz_date *dt)
{
	dt->secs = 7200;
	dt->m = dt->w = dt->d = 0;
	if (*s == 'M') {
		dt->kind = 'M';
		if ((s = posix_num(s + 1, &dt->m, 1, 12)) == NULL || *s++ != '.' ||
		    (s = posix_num(s, &dt->w, 1, 5)) == NULL || *s++ != '.' ||
		    (s = posix_num(s, &dt->d, 0, 6)) == NULL)
			return NULL;
	} else if (*s == 'J') {
		dt->kind = 'J';
		if ((s = posix_num(s + 1, &dt->d, 1, 365)) == NULL)
			return NULL;
	} else {
		dt->kind = 'n';
		if ((s = posix_num(s, &dt->d, 0, 365)) == NULL)
			return NULL;
	}
	if (*s == '/')
		s = posix_time(s + 1, &dt->secs);
	return s;
}

int
tg_tz_parse_posix(struct tg_tz *tz, const char *s)
{
	int32_t off;

	tz->has_footer = tz->has_dst = 0;
	if ((s = posix_name(s)) == NULL || (s = posix_time(s, &off)) == NULL)
		return -1;
	tz->std_off = -off;     /* POSIX offsets count west of Greenwich */
	if (*s == '\0') {
		tz->has_footer = 1;
		return 0;
	}
	if ((s = posix_name(s)) == NULL)
		return -1;
	tz->dst_off = tz->std_off + 3600;
	if (*s != ',' && *s != '\0') {
		if ((s = posix_time(s, &off)) == NULL)
			return -1;
		tz->dst_off = -off;
	}
	if (*s == '\0') {
		/* No rule given: POSIX leaves it to the implementation;
		 * use the US rule, as glibc does. */
		s = ",M3.2.0,M11.1.0";
	}
	if (*s++ != ',' || (s = posix_date(s, &tz->start)) == NULL ||
	    *s++ != ',' || (s = posix_date(s, &tz->end)) == NULL || *s != '\0')
		return -1;
	tz->has_footer = tz->has_dst = 1;
	return 0;
}

static int
is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* The local seconds of a rule date in year y. */
static int64_t
rule_local(const struct tg_tz_date *dt, int64_t y)
{
	int64_t day;

	if (dt->kind == 'J')
		day = tg_days_from_civil(y, 1, 1) + dt->d - 1 +
		    (is_leap(y) && dt->d >= 60);
	else if (dt->kind == 'n')
		day = tg_days_from_civil(y, 1, 1) + dt->d;
	else {
		static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31,
		    30, 31, 30, 31 };
		int64_t first = tg_days_from_civil(y, dt->m, 1);
		int len = mdays[dt->m - 1] + (dt->m == 2 && is_leap(y));
		int wd1 = (tg_weekday(first) + 1) % 7;  /* 0 = Sunday */

		day = first + (dt->d - wd1 + 7) % 7 + (dt->w - 1) * 7;
		while (day >= first + len)
			day -= 7;
	}
	return day * DAY + dt->secs;
}

/* DST start and end of year y as UTC seconds. */
static void
rule_year(const struct tg_tz *tz, int64_t y, int64_t *s, int64_t *e)
{
	*s = rule_local(&tz->start, y) - tz->std_off;
	*e = rule_local(&tz->end, y) - tz->dst_off;
}

static int64_t
year_of(int64_t t)
{
	int64_t y;
	unsigned m, d;

	tg_civil_from_days(floordiv(t, DAY), &y, &m, &d);
	return y;
}

static int32_t
footer_offset(const struct tg_tz *tz, int64_t t)
{
	int64_t s, e, y = year_of(t + tz->std_off);
	int dst;

	if (!tz->has_dst)
		return tz->std_off;
	rule_year(tz, y, &s, &e);
	if (s < e)
		dst = s <= t && t < e;
	else
		dst = !(e <= t && t < s);
	return dst ? tz->dst_off : tz->std_off;
}

/* Index of the last transition <= t; needs trans[0] <= t. */
static int
last_trans(const struct tg_tz *tz, int64_t t)
{
	int lo = 0, hi = tz->ntrans;

	while (hi - lo > 1) {
		int mid = (lo + hi) / 2;
		if (tz->trans[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

int32_t
tg_tz_offset(const struct tg_tz *tz, int64_t t)
{
	if (tz->ntrans == 0 || t < tz->trans[0]) {
		if (tz->ntrans == 0 && tz->has_footer)
			return footer_offset(tz, t);
		return tz->utoff[0];
	}
	if (t >= tz->trans[tz->ntrans - 1] && tz->has_footer)
		return footer_offset(tz, t);
	return tz->utoff[tz->tidx[last_trans(tz, t)]];
}

static void
footer_span(const struct tg_tz *tz, int64_t t, int64_t *from, int64_t *to)
{
	int64_t y = year_of(t + tz->std_off), b[6];

	*from = INT64_MIN;
	*to = INT64_MAX;
	if (!tz->has_dst)
		return;
	for (int i = 0; i < 3; i++)
		rule_year(tz, y - 1 + i, &b[2 * i], &b[2 * i + 1]);
	for (int i = 0; i < 6; i++) {
		if (b[i] <= t && b[i] > *from)
			*from = b[i];
		if (b[i] > t && b[i] < *to)
			*to = b[i];
	}
}

int32_t
tg_tz_span(const struct tg_tz *tz, int64_t t, int64_t *from, int64_t *to)
{
	int n = tz->ntrans, lo;

	if (n > 0 && t < tz->trans[0]) {
		*from = INT64_MIN;
		*to = tz->trans[0];
		return tz->utoff[0];
	}
	if (n == 0 || (t >= tz->trans[n - 1] && tz->has_footer)) {
		if (!tz->has_footer) {
			*from = INT64_MIN;
			*to = INT64_MAX;
			return tz->utoff[0];
		}
		footer_span(tz, t, from, to);
		if (n > 0 && *from < tz->trans[n - 1])
			*from = tz->trans[n - 1];
		return footer_offset(tz, t);
	}
	lo = last_trans(tz, t);
	*from = tz->trans[lo];
	*to = lo + 1 < n ? tz->trans[lo + 1] : INT64_MAX;
	return tz->utoff[tz->tidx[lo]];
}

/* Slow and general: try every offset in force within ±30 h; keep the
 * earliest instant that reads `local` (first pass of a repeated hour).
 * None reads it (a gap): the first instant whose local time is after it. */
int64_t
tg_tz_to_utc(const struct tg_tz *tz, int64_t local)
{
	int32_t cand[12];
	int n = 0, found = 0;
	int64_t best = 0;
	int32_t mino = INT32_MAX, maxo = INT32_MIN;

	for (int k = -5; k <= 5; k++) {
		int32_t o = tg_tz_offset(tz, local + k * 6 * 3600);
		int dup = 0;
		for (int i = 0; i < n; i++)
			dup |= cand[i] == o;
		if (!dup)
			cand[n++] = o;
	}
	for (int i = 0; i < n; i++) {
		int64_t t = local - cand[i];
		mino = cand[i] < mino ? cand[i] : mino;
		maxo = cand[i] > maxo ? cand[i] : maxo;
		if (tg_tz_offset(tz, t) == cand[i] && (!found || t < best)) {
			best = t;
			found = 1;
		}
	}
	if (found)
		return best;
	/* gap: f(t) = t + offset(t) is below local at lo, above it at hi */
	int64_t lo = local - maxo, hi = local - mino;
	while (hi - lo > 1) {
		int64_t mid = lo + (hi - lo) / 2;
		if (mid + tg_tz_offset(tz, mid) > local)
			hi = mid;
		else
			lo = mid;
	}
	return hi;
}

/* ---- TZif files ---- */

struct counts {
	uint32_t isut, isstd, leap, time, type, chr;
};

static int
read_header(const unsigned char *p, size_t len, struct counts *c, int *ver)
{
	if (len < HDR || memcmp(p, "TZif", 4) != 0)
		return -1;
	*ver = p[4];
	c->isut = be32(p + 20);
	c->isstd = be32(p + 24);
	c->leap = be32(p + 28);
	c->time = be32(p + 32);
	c->type = be32(p + 36);
	c->chr = be32(p + 40);
	if (c->time > TG_TZ_MAX_TRANS || c->type == 0 ||
	    c->type > TG_TZ_MAX_TYPES || c->chr > 4096 || c->leap > 1024 ||
	    c->isut > c->type || c->isstd > c->type)
		return -1;
	return 0;
}

static size_t
block_size(const struct counts *c, int tbytes)
{
	return (size_t)c->time * tbytes + c->time + c->type * 6 + c->chr +
	    (size_t)c->leap * (tbytes + 4) + c->isstd + c->isut;
}

static int
read_block(struct tg_tz *tz, const unsigned char *p, const struct counts *c,
    char *err, size_t errlen)
{
	const unsigned char *idx = p + c->time * 8, *types = idx + c->time;

	tz->ntrans = (int)c->time;
	tz->ntypes = (int)c->type;
	for (uint32_t i = 0; i < c->time; i++) {
		tz->trans[i] = be64(p + i * 8);
		tz->tidx[i] = idx[i];
		if (idx[i] >= c->type || (i > 0 && tz->trans[i] <= tz->trans[i - 1])) {
			tg_seterr(err, errlen, "bad transition %u", i);
			return -1;
		}
	}
	for (uint32_t i = 0; i < c->type; i++) {
		int32_t off = (int32_t)be32(types + i * 6);
		if (off < -25 * 3600 || off > 26 * 3600) {
			tg_seterr(err, errlen, "UTC offset %d out of range", off);
			return -1;
		}
		tz->utoff[i] = off;
	}
	return 0;
}

/* "\n<TZ string>\n" after the v2 block; an empty one means none. */
static int
read_footer(struct tg_tz *tz, const unsigned char *p, size_t len)
{
	char s[128];
	const unsigned char *nl;

	tz->has_footer = tz->has_dst = 0;
	if (len < 2 || p[0] != '\n' ||
	    (nl = memchr(p + 1, '\n', len - 1)) == NULL)
		return -1;
	if (nl == p + 1)
		return 0;
	if ((size_t)(nl - p - 1) >= sizeof(s))
		return -1;
	memcpy(s, p + 1, nl - p - 1);
	s[nl - p - 1] = '\0';
	return tg_tz_parse_posix(tz, s);
}

int
tg_tz_parse(struct tg_tz *tz, const unsigned char *buf, size_t len,
    char *err, size_t errlen)
{
	struct counts c;
	size_t off, n;
	int ver;

	if (read_header(buf, len, &c, &ver) < 0) {
		tg_seterr(err, errlen, "not a TZif file or counts out of range");
		return -1;
	}
	if (ver < '2') {
		tg_seterr(err, errlen, "TZif version 1 is not supported (need v2+)");
		return -1;
	}
	off = HDR + block_size(&c, 4);
	if (off > len || read_header(buf + off, len - off, &c, &ver) < 0) {
		tg_seterr(err, errlen, "truncated or bad v2 header");
		return -1;
	}
	if (c.leap != 0) {
		tg_seterr(err, errlen, "leap-second zones are not supported");
		return -1;
	}
	off += HDR;
	n = block_size(&c, 8);
	if (n > len - off) {
		tg_seterr(err, errlen, "truncated v2 data block");
		return -1;
	}
	if (read_block(tz, buf + off, &c, err, errlen) < 0)
		return -1;
	if (read_footer(tz, buf + off + n, len - off - n) < 0) {
		tg_seterr(err, errlen, "bad TZ footer");
		return -1;
	}
	return 0;
}

static int
name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n >= TG_TZ_NAME_MAX || name[0] == '/' || strstr(name, ".."))
		return 0;
	return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789/_-+") == n;
}

static ssize_t
slurp(const char *path, unsigned char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;
	ssize_t r;

	if (fd < 0)
		return -1;
	while (got < size && (r = read(fd, buf + got, size - got)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			got = (size_t)-1;
			break;
		}
		got += (size_t)r;
	}
	close(fd);
	return (ssize_t)got;
}

int
tg_tz_load(struct tg_tz *tz, const char *name, char *err, size_t errlen)
{
	const char *dir = getenv("TZDIR");
	char path[512], why[128];
	unsigned char *buf;
	ssize_t n;
	int rc;

	if (!name_ok(name)) {
		tg_seterr(err, errlen, "'%s' is not a time zone name", name);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%s",
	    dir && *dir ? dir : "/usr/share/zoneinfo", name);
	if ((buf = malloc(TG_TZ_MAX_FILE + 1)) == NULL) {
		tg_seterr(err, errlen, "out of memory");
		return -1;
	}
	n = slurp(path, buf, TG_TZ_MAX_FILE + 1);
	if (n < 0 || n > TG_TZ_MAX_FILE) {
		tg_seterr(err, errlen, "time zone '%s': %s", name,
		    n < 0 ? "not found" : "file too large");
		free(buf);
		return -1;
	}
	memset(tz, 0, sizeof(*tz));
	rc = tg_tz_parse(tz, buf, (size_t)n, why, sizeof(why));
	free(buf);
	if (rc < 0) {
		tg_seterr(err, errlen, "time zone '%s': %s", name, why);
		return -1;
	}
	snprintf(tz->name, sizeof(tz->name), "%s", name);
	return 0;
}
