/*
 * policy_ctx.h — the evaluator's working state and helpers, for
 * policy_eval.c and policy_match.c only: the zone offset at now with the
 * span of UTC seconds it holds in (most local -> UTC conversions are a
 * subtraction; edges near a DST transition take tzif's general path),
 * calendar periods, time-of-day windows, tag slots and selector matching,
 * and the span a rule counts usage in. Usage: ctx_time(x, now) with x->p
 * set, have = nwin = 0; ctx_tags(x) with x->in set, before matches().
 *
 * Static definitions in a header on purpose: each of the two files gets
 * its own copy, so the daemon's counters use the very code policy_eval
 * decides with (same periods, windows, DST rules, matching), while
 * policy_eval's loop keeps the compiler's inlining of a single caller
 * (exported wrappers made matches() an out-of-line call and cost ~2-10%
 * of an evaluation, measured with tools/policy_bench under callgrind).
 */
#ifndef TG_POLICY_CTX_H
#define TG_POLICY_CTX_H

#include <string.h>

#include "policy.h"

#define DAY     86400
#define NS      1000000000LL

enum { PAT_EXACT, PAT_PREFIX, PAT_GLOB };

/* One evaluation (or one question of the counters) at one instant. */
struct policy_ctx {
	const struct policy *p;
	const struct policy_input *in;  /* ctx_tags and matching only */
	int64_t now;            /* seconds, rounded down */
	int32_t off;            /* offset at now ... */
	int64_t fast_lo, fast_hi; /* ... valid for UTC seconds in [lo, hi) */
	int64_t lday;           /* local day number of now */
	int tagged;
	const char *vals[POLICY_MAX_KEYS];
	int64_t per[3][2];      /* day/week/month bounds, seconds */
	unsigned have;          /* bit p: per[p] computed */
	/* windows already worked out in this evaluation (rules often share
	 * one): key, whether active, [from, to) ns */
	int nwin;
	struct { uint32_t key; int active; int64_t from, to; } win[8];
};

static int64_t
floordiv(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Local seconds → UTC seconds (DST rules in tzif.h). */
static int64_t
to_utc(const struct policy_ctx *x, int64_t local)
{
	int64_t t = local - x->off;

	if (t >= x->fast_lo && t < x->fast_hi)
		return t;
	return tg_tz_to_utc(&x->p->tz, local);
}

static void
ctx_time(struct policy_ctx *x, int64_t now)
{
	int64_t from, to;

	x->now = floordiv(now, NS);
	x->off = tg_tz_span(&x->p->tz, x->now, &from, &to);
	/* An instant 2 days into a span cannot also be read in the span
	 * before it (a fall-back repeats at most hours), so the subtraction
	 * is the first pass; near the start, take the general path. */
	x->fast_lo = from < INT64_MIN + 2 * DAY ? INT64_MIN : from + 2 * DAY;
	x->fast_hi = to;
	x->lday = floordiv(x->now + x->off, DAY);
}

static void
ctx_tags(struct policy_ctx *x)
{
	const struct policy *p = x->p;
	int n = x->in->ntags < POLICY_MAX_TAGS ? x->in->ntags : POLICY_MAX_TAGS;

	memset(x->vals, 0, sizeof(x->vals[0]) * (size_t)p->nkeys);
	x->tagged = 0;
	for (int i = 0; i < n; i++) {
		const struct policy_tag *t = &x->in->tags[i];
		if (t->value == NULL || *t->value == '\0')
			continue;
		x->tagged = 1;
		for (int k = 0; k < p->nkeys; k++)
			if (x->vals[k] == NULL && p->keys[k][0] == t->key[0] &&
			    strcmp(p->keys[k], t->key) == 0) {
				x->vals[k] = t->value;
				break;
			}
	}
}

/* ---- periods and windows ---- */

/* The local day that holds now, as the day rule sees it. */
static int64_t
cur_day(const struct policy_ctx *x, int64_t *s, int64_t *e)
{
	int64_t d = x->lday;

	*s = to_utc(x, d * DAY);
	if (*s > x->now)        /* a fall-back across midnight */
		*s = to_utc(x, --d * DAY);
	*e = to_utc(x, (d + 1) * DAY);
	if (*e <= x->now) {
		*s = *e;
		*e = to_utc(x, (++d + 1) * DAY);
	}
	return d;
}

static void
period(struct policy_ctx *x, enum policy_period per, int64_t *from, int64_t *to)
{
	int64_t d, s, e, y;
	unsigned m, dd;

	if (per == POLICY_TOTAL) {
		*from = *to = 0;
		return;
	}
	if (!(x->have & (1u << per))) {
		d = cur_day(x, &s, &e);
		if (per == POLICY_WEEK) {
			d -= tg_weekday(d);     /* weeks start on Monday */
			s = to_utc(x, d * DAY);
			e = to_utc(x, (d + 7) * DAY);
		} else if (per == POLICY_MONTH) {
			tg_civil_from_days(d, &y, &m, &dd);
			s = to_utc(x, tg_days_from_civil(y, m, 1) * DAY);
			e = to_utc(x, tg_days_from_civil(m == 12 ? y + 1 : y,
			    m == 12 ? 1 : m + 1, 1) * DAY);
		}
		x->per[per][0] = s;
		x->per[per][1] = e;
		x->have |= 1u << per;
	}
	*from = x->per[per][0] * NS;
	*to = x->per[per][1] * NS;
}

/* The window instance starting on local day d: [*s, *e) seconds. */
static void
win_at(const struct policy_ctx *x, const struct policy_window *w, int64_t d,
    int64_t *s, int64_t *e)
{
	*s = to_utc(x, d * DAY + w->from * 60);
	*e = to_utc(x, (d + (w->from > w->to)) * DAY + w->to * 60);
}

static int window_calc(const struct policy_ctx *, const struct policy_window *,
    int64_t *, int64_t *);

/* 1 with the current instance in [from, to) ns; 0 with the next start
 * in *from (0 if none within 8 days). */
static int
window(struct policy_ctx *x, const struct policy_window *w, int64_t *from,
    int64_t *to)
{
	uint32_t key = (uint32_t)w->from | (uint32_t)w->to << 11 |
	    (uint32_t)w->days << 22;
	int i, active;

	for (i = 0; i < x->nwin; i++)
		if (x->win[i].key == key) {
			*from = x->win[i].from;
			*to = x->win[i].to;
			return x->win[i].active;
		}
	active = window_calc(x, w, from, to);
	if (x->nwin < 8) {
		x->win[x->nwin].key = key;
		x->win[x->nwin].active = active;
		x->win[x->nwin].from = *from;
		x->win[x->nwin++].to = *to;
	}
	return active;
}

static int
window_calc(const struct policy_ctx *x, const struct policy_window *w,
    int64_t *from, int64_t *to)
{
	int64_t s, e;

	for (int64_t d = x->lday - 1; d <= x->lday; d++) {
		if (!(w->days & (1u << tg_weekday(d))))
			continue;
		win_at(x, w, d, &s, &e);
		if (s <= x->now && x->now < e) {
			*from = s * NS;
			*to = e * NS;
			return 1;
		}
	}
	*from = *to = 0;
	for (int64_t d = x->lday; d <= x->lday + 8; d++) {
		if (!(w->days & (1u << tg_weekday(d))))
			continue;
		win_at(x, w, d, &s, &e);
		if (s > x->now) {
			*from = s * NS;
			break;
		}
	}
	return 0;
}

/* ---- matching ---- */

/* [set] at p (after the '['): 1/0 whether c is in it, *end past ']';
 * -1 when unterminated (then '[' is an ordinary byte, as fnmatch does). */
static int
bracket(const char *p, unsigned char c, const char **end)
{
	int neg = *p == '!' || *p == '^', in = 0;
	const char *q = p + neg;

	do {
		unsigned char lo = (unsigned char)*q, hi;
		if (lo == '\0')
			return -1;
		if (lo == '\\' && q[1])
			lo = (unsigned char)*++q;
		hi = lo;
		if (q[1] == '-' && q[2] && q[2] != ']') {
			hi = (unsigned char)q[2];
			q += 2;
		}
		in |= lo <= c && c <= hi;
	} while (*++q != ']');
	*end = q + 1;
	return in != neg;
}

/* fnmatch(3) with no flags, byte-wise: '*', '?', [sets], '\\' escapes.
 * Our own because glibc's fnmatch costs ~100 ns (locale, wide chars), a
 * tenth of the whole budget of an admission. Stars backtrack to the last
 * star only, which is enough: a later star subsumes an earlier one. */
static int
glob(const char *p, const char *s)
{
	const char *star = NULL, *resume = NULL, *end;
	int r;

	while (*s) {
		if (*p == '*') {
			star = ++p;
			resume = s;
			continue;
		}
		if (*p == '?') {
			p++, s++;
			continue;
		}
		if (*p == '[' && (r = bracket(p + 1, (unsigned char)*s, &end)) >= 0) {
			if (r) {
				p = end, s++;
				continue;
			}
		} else {
			const char *q = *p == '\\' && p[1] ? p + 1 : p;
			if (*q && *q == *s) {
				p = q + 1, s++;
				continue;
			}
		}
		if (star == NULL)
			return 0;
		p = star;
		s = ++resume;
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

static int
pat_match(const struct policy_pat *pt, const char *v)
{
	switch (pt->how) {
	case PAT_EXACT:
		return v[0] == pt->text[0] && strcmp(v, pt->text) == 0;
	case PAT_PREFIX:
		return strncmp(v, pt->text, pt->len) == 0;
	default:
		return glob(pt->text, v);
	}
}

static const char *
field_value(const struct policy_ctx *x, const struct policy_sel *s)
{
	switch (s->field) {
	case POLICY_F_TAG:
		return x->vals[s->slot];
	case POLICY_F_USER:
		return x->in->user;
	case POLICY_F_MODEL:
		return x->in->model;
	case POLICY_F_PROVIDER:
		return x->in->provider;
	case POLICY_F_EXE:
		return x->in->exe;
	default:
		return x->in->kind == POLICY_GPU ? "gpu" : "llm";
	}
}

static int
matches(const struct policy_ctx *x, const struct policy_rule *r)
{
	if (r->untagged >= 0 && r->untagged == x->tagged)
		return 0;
	/* a GPU limit says nothing about LLM requests */
	if (r->kind == POLICY_K_GPU_LIMIT && x->in->kind != POLICY_GPU)
		return 0;
	for (int i = 0; i < r->nsel; i++) {
		const struct policy_sel *s = &r->sel[i];
		const char *v = field_value(x, s);
		int ok = 0;

		if (v == NULL)
			return 0;
		for (int k = 0; k < s->npat && !ok; k++)
			ok = pat_match(&s->pat[k], v);
		if (!ok)
			return 0;
	}
	return 1;
}

/* ---- the span a rule counts usage in ---- */

/* Budget and sandbox: the period holding now; token_quota: the window
 * instance holding now, or the calendar day without a window. 1 with
 * [from, to) ns (0, 0 for "total"); 0 for a quota outside its window
 * (*from = its next start, as window()) and for kinds that count nothing.
 * The one place that says so, for policy_eval and the daemon's counters
 * alike. inline: with two callers in policy_eval it would otherwise be a
 * call per rule. */
static inline int
rule_span(struct policy_ctx *x, const struct policy_rule *r, int64_t *from,
    int64_t *to)
{
	switch (r->kind) {
	case POLICY_K_BUDGET:
	case POLICY_K_SANDBOX:
		period(x, r->period, from, to);
		return 1;
	case POLICY_K_TOKEN_QUOTA:
		if (r->has_window)
			return window(x, &r->win, from, to);
		period(x, POLICY_DAY, from, to);
		return 1;
	default:
		*from = *to = 0;
		return 0;
	}
}

#endif
