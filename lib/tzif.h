/*
 * tzif.h — one IANA time zone, read from a TZif v2+ file (RFC 8536) of
 * /usr/share/zoneinfo ($TZDIR overrides), with its POSIX TZ footer for
 * instants after the last transition. glibc has no per-call zone and
 * setenv("TZ") is not thread-safe, so the policy engine carries its own.
 *
 * Loading is bounded (file size, counts) and validated; lookups are pure
 * functions of the loaded struct (no I/O, no allocation, thread-safe).
 *
 * Local times are "local seconds": the civil date and time of the zone
 * written as if it were UTC (days_from_civil × 86400 + seconds of day).
 * DST rules of tg_tz_to_utc():
 *   - a local time inside a spring-forward gap maps to the first instant
 *     that exists after it (the transition itself);
 *   - a local time repeated by a fall-back maps to its first pass.
 */
#ifndef TG_TZIF_H
#define TG_TZIF_H

#include <stddef.h>
#include <stdint.h>

#define TG_TZ_MAX_FILE  (64 * 1024)
#define TG_TZ_MAX_TRANS 2048
#define TG_TZ_MAX_TYPES 64
#define TG_TZ_NAME_MAX  64

/* One rule date of a POSIX TZ string: Mm.w.d, Jn or n, at secs local. */
struct tg_tz_date {
	char kind;          /* 'M', 'J' or 'n' */
	int m, w, d;        /* M: month, week 1..5, weekday 0 = Sunday; J/n: d */
	int32_t secs;       /* local time of day of the change (may be <0, >24h) */
};

struct tg_tz {
	char name[TG_TZ_NAME_MAX];
	int ntrans;
	int64_t trans[TG_TZ_MAX_TRANS];     /* UTC seconds, increasing */
	uint8_t tidx[TG_TZ_MAX_TRANS];      /* type after each transition */
	int ntypes;
	int32_t utoff[TG_TZ_MAX_TYPES];     /* seconds east of UTC */
	/* footer: std offset, and when has_dst the DST offset and rule */
	int has_footer, has_dst;
	int32_t std_off, dst_off;
	struct tg_tz_date start, end;
};

/* Load zone `name` ("Europe/Berlin", "UTC"). Names are checked: letters,
 * digits, '/', '_', '-', '+', no "..", no leading '/'. 0, or -1 with err. */
int tg_tz_load(struct tg_tz *tz, const char *name, char *err, size_t errlen);

/* Parse TZif bytes (tests use this). 0, or -1 with err. */
int tg_tz_parse(struct tg_tz *tz, const unsigned char *buf, size_t len,
    char *err, size_t errlen);

/* Parse a POSIX TZ string ("CET-1CEST,M3.5.0,M10.5.0/3") into the footer
 * fields. 0 or -1. */
int tg_tz_parse_posix(struct tg_tz *tz, const char *s);

/* UTC offset (seconds east) in force at UTC second t. */
int32_t tg_tz_offset(const struct tg_tz *tz, int64_t t);

/* The offset at UTC second t, and a span [*from, *to) around t in which
 * it holds (never longer than the real one; INT64_MIN/MAX when open). */
int32_t tg_tz_span(const struct tg_tz *tz, int64_t t, int64_t *from,
    int64_t *to);

/* Local seconds → UTC second, with the DST rules above. */
int64_t tg_tz_to_utc(const struct tg_tz *tz, int64_t local);

/* Civil date <-> days since 1970-01-01 (proleptic Gregorian). */
int64_t tg_days_from_civil(int64_t y, unsigned m, unsigned d);
void tg_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);

/* Day of week of a day number: 0 = Monday … 6 = Sunday. */
int tg_weekday(int64_t days);

#endif
