/*
 * policy_eval.c — one admission against a policy (see policy.h). Pure: the
 * clock is in->now, usage comes from the caller's callback, nothing is
 * allocated. The zone offset is looked up once per evaluation together
 * with the span in which it holds, so most local → UTC conversions are a
 * subtraction; only edges near a DST transition take the general path.
 */
#include "policy.h"
#include "policy_int.h"

#include <stdio.h>
#include <string.h>

#define DAY     86400
#define NS      1000000000LL

enum { PAT_EXACT, PAT_PREFIX, PAT_GLOB };

struct ectx {
	const struct policy *p;
	const struct policy_input *in;
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
to_utc(const struct ectx *x, int64_t local)
{
	int64_t t = local - x->off;

	if (t >= x->fast_lo && t < x->fast_hi)
		return t;
	return tg_tz_to_utc(&x->p->tz, local);
}

static void
ctx_time(struct ectx *x)
{
	int64_t from, to;

	x->now = floordiv(x->in->now, NS);
	x->off = tg_tz_span(&x->p->tz, x->now, &from, &to);
	/* An instant 2 days into a span cannot also be read in the span
	 * before it (a fall-back repeats at most hours), so the subtraction
	 * is the first pass; near the start, take the general path. */
	x->fast_lo = from < INT64_MIN + 2 * DAY ? INT64_MIN : from + 2 * DAY;
	x->fast_hi = to;
	x->lday = floordiv(x->now + x->off, DAY);
}

static void
ctx_tags(struct ectx *x)
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
cur_day(const struct ectx *x, int64_t *s, int64_t *e)
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
period(struct ectx *x, enum policy_period per, int64_t *from, int64_t *to)
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
win_at(const struct ectx *x, const struct policy_window *w, int64_t d,
    int64_t *s, int64_t *e)
{
	*s = to_utc(x, d * DAY + w->from * 60);
	*e = to_utc(x, (d + (w->from > w->to)) * DAY + w->to * 60);
}

static int window_calc(const struct ectx *, const struct policy_window *,
    int64_t *, int64_t *);

/* 1 with the current instance in [from, to) ns; 0 with the next start
 * in *from (0 if none within 8 days). */
static int
window(struct ectx *x, const struct policy_window *w, int64_t *from,
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
window_calc(const struct ectx *x, const struct policy_window *w,
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

void
policy_period_bounds(const struct policy *p, enum policy_period per,
    int64_t now, int64_t *from, int64_t *to)
{
	struct policy_input in = { .now = now };
	struct ectx x = { .p = p, .in = &in };

	ctx_time(&x);
	period(&x, per, from, to);
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
field_value(const struct ectx *x, const struct policy_sel *s)
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
matches(const struct ectx *x, const struct policy_rule *r)
{
	if (r->untagged >= 0 && r->untagged == x->tagged)
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

/* ---- one rule ---- */

static void
usage(policy_usage_fn fn, void *arg, int i, int64_t from, int64_t to,
    struct policy_usage *u)
{
	memset(u, 0, sizeof(*u));
	if (fn)
		fn(arg, i, from, to, u);
}

/* a + b > lim, or a already at lim; overflow counts as over. */
static int
over(int64_t a, int64_t b, int64_t lim)
{
	int64_t s;

	return a >= lim || __builtin_add_overflow(a, b, &s) || s > lim;
}

static int64_t
left(int64_t lim, int64_t used)
{
	return used >= lim ? 0 : lim - used;
}

static void
eval_budget(struct ectx *x, const struct policy_rule *r, int i,
    policy_usage_fn fn, void *arg, struct policy_rule_state *st)
{
	struct policy_usage u;
	int64_t from, to, sum, cost = x->in->cost > 0 ? x->in->cost : 0;

	period(x, r->period, &from, &to);
	usage(fn, arg, i, from, to, &u);
	st->reset = to;
	st->flags |= POLICY_HAS_USD;
	st->usd_left = left(r->limit ? r->limit : r->soft, u.spent);
	if (r->limit && over(u.spent, cost, r->limit)) {
		st->verdict = POLICY_DENY;
		st->over = POLICY_HAS_USD;
	} else if (r->soft && (u.spent >= r->soft ||
	    __builtin_add_overflow(u.spent, cost, &sum) || sum >= r->soft)) {
		st->verdict = POLICY_WARN;      /* reached the soft threshold */
		st->over = POLICY_HAS_USD;
	}
}

static void
eval_quota(struct ectx *x, const struct policy_rule *r, int i,
    policy_usage_fn fn, void *arg, struct policy_rule_state *st)
{
	struct policy_usage u;
	int64_t from, to, tok = x->in->tokens > 0 ? x->in->tokens : 0;

	if (r->has_window) {
		if (!window(x, &r->win, &from, &to)) {
			st->flags |= POLICY_IDLE;
			st->reset = from;
			return;
		}
	} else
		period(x, POLICY_DAY, &from, &to);
	usage(fn, arg, i, from, to, &u);
	st->reset = to;
	st->flags |= POLICY_HAS_TOKENS;
	st->tokens_left = left(r->max_tokens, u.tokens);
	if (over(u.tokens, tok, r->max_tokens)) {
		st->verdict = POLICY_DENY;
		st->over = POLICY_HAS_TOKENS;
	}
}

static void
eval_rate(struct ectx *x, const struct policy_rule *r, int i,
    policy_usage_fn fn, void *arg, struct policy_rule_state *st)
{
	struct policy_usage u;
	int64_t tok = x->in->tokens > 0 ? x->in->tokens : 0;

	usage(fn, arg, i, 0, 0, &u);
	if (r->rpm) {
		st->flags |= POLICY_HAS_RPM;
		st->rpm_left = left(r->rpm, u.rpm);
		st->over |= over(u.rpm, 1, r->rpm) ? POLICY_HAS_RPM : 0;
	}
	if (r->tpm) {
		st->flags |= POLICY_HAS_TPM;
		st->tpm_left = left(r->tpm, u.tpm);
		st->over |= over(u.tpm, tok, r->tpm) ? POLICY_HAS_TPM : 0;
	}
	if (r->concurrent) {
		st->flags |= POLICY_HAS_CONC;
		st->conc_left = left(r->concurrent, u.concurrent);
		st->over |= over(u.concurrent, 1, r->concurrent) ?
		    POLICY_HAS_CONC : 0;
	}
	/* the per-minute counts slide: all of them are gone a minute on */
	if (r->rpm || r->tpm)
		st->reset = (x->now + 60) * NS;
	if (st->over == 0)
		return;
	st->verdict = r->action == POLICY_A_DELAY ? POLICY_DELAY : POLICY_DENY;
	st->delay_ms = r->action == POLICY_A_DELAY ? r->delay_ms : 0;
}

static void
eval_pause(struct ectx *x, const struct policy_rule *r,
    struct policy_rule_state *st)
{
	int64_t from, to;

	if (!window(x, &r->win, &from, &to)) {
		st->flags |= POLICY_IDLE;
		st->reset = from;
		return;
	}
	st->reset = to;
	/* GPU launches always block; LLM requests wait or are refused */
	st->verdict = x->in->kind == POLICY_GPU || r->action == POLICY_A_WAIT ?
	    POLICY_PAUSE : POLICY_DENY;
}

static void
eval_require(struct ectx *x, const struct policy_rule *r,
    struct policy_rule_state *st)
{
	for (int k = 0; k < r->nreq; k++)
		if (x->vals[r->req[k]] == NULL)
			st->missing |= (uint8_t)(1u << k);
	if (st->missing == 0)
		return;
	st->flags |= POLICY_MISSING;
	st->verdict = r->action == POLICY_A_DENY ? POLICY_DENY : POLICY_WARN;
}

static void
eval_rule(struct ectx *x, int i, policy_usage_fn fn, void *arg,
    struct policy_rule_state *st)
{
	const struct policy_rule *r = &x->p->rules[i];

	memset(st, 0, sizeof(*st));
	st->rule = i;
	if (x->in->unreachable) {
		st->verdict = r->fail_closed ? POLICY_DENY : POLICY_ALLOW;
		return;
	}
	switch (r->kind) {
	case POLICY_K_BUDGET:
	case POLICY_K_SANDBOX:
		eval_budget(x, r, i, fn, arg, st);
		break;
	case POLICY_K_TOKEN_QUOTA:
		eval_quota(x, r, i, fn, arg, st);
		break;
	case POLICY_K_RATE:
		eval_rate(x, r, i, fn, arg, st);
		break;
	case POLICY_K_PAUSE:
		eval_pause(x, r, st);
		break;
	case POLICY_K_REQUIRE_TAGS:
		eval_require(x, r, st);
		break;
	}
}

/* ---- the decision ---- */

/* Is a more restrictive than b? Equal ones keep file order. */
static int
worse(const struct policy_rule_state *a, const struct policy_rule_state *b)
{
	if (a->verdict != b->verdict)
		return a->verdict > b->verdict;
	return a->verdict == POLICY_DELAY && a->delay_ms > b->delay_ms;
}

void
policy_decision_reason(const struct policy *p, const struct policy_input *in,
    struct policy_decision *d)
{
	if (d->flags & POLICY_D_MODE_OFF)
		snprintf(d->reason, sizeof(d->reason), "TOLLGATE_MODE=off and "
		    "the policy allows it: nothing enforced");
	else if (d->rule < 0)
		snprintf(d->reason, sizeof(d->reason), "%s", in->unreachable ?
		    "daemon unreachable; no rule applies, failing open" :
		    "no rule applies");
	else
		policy_reason(p, in, &d->best, d);
}

static void
decide(const struct policy *p, const struct policy_input *in,
    const struct policy_rule_state *best, struct policy_decision *d)
{
	if (best == NULL)
		return;
	const struct policy_rule *r = &p->rules[best->rule];

	d->verdict = best->verdict;
	d->delay_ms = best->delay_ms;
	d->rule = best->rule;
	d->reset = best->reset;
	if (best->verdict == POLICY_DENY && r->kind == POLICY_K_SANDBOX &&
	    !in->unreachable) {
		d->flags |= POLICY_D_SHUTDOWN;
		d->grace_seconds = r->grace_seconds;
	}
	if (best->verdict == POLICY_PAUSE && r->freeze)
		d->flags |= POLICY_D_FREEZE;
	d->best = *best;
}

void
policy_eval(const struct policy *p, const struct policy_input *in,
    policy_usage_fn fn, void *arg, struct policy_decision *d)
{
	struct ectx x;
	struct policy_rule_state cur, best;
	int have = 0;

	d->verdict = POLICY_ALLOW;
	d->delay_ms = 0;
	d->rule = -1;
	d->reset = 0;
	d->flags = in->unreachable ? POLICY_D_UNREACHABLE : 0;
	d->grace_seconds = 0;
	d->nstates = 0;
	d->reason[0] = '\0';
	if (in->mode == POLICY_MODE_OFF) {
		if (p->allow_mode_off) {
			d->flags |= POLICY_D_MODE_OFF;
			goto out;
		}
		d->flags |= POLICY_D_MODE_REFUSED;
	}
	x.p = p;
	x.in = in;
	x.have = 0;
	x.nwin = 0;
	ctx_time(&x);
	ctx_tags(&x);
	for (int i = 0; i < p->nrules; i++) {
		if (!matches(&x, &p->rules[i]))
			continue;
		eval_rule(&x, i, fn, arg, &cur);
		if (d->nstates < d->cap)
			d->states[d->nstates++] = cur;
		if (!have || worse(&cur, &best)) {
			best = cur;
			have = 1;
		}
	}
	decide(p, in, have ? &best : NULL, d);
out:
	if (!d->lazy_reason)
		policy_decision_reason(p, in, d);
}

const char *
policy_verdict_name(enum policy_verdict v)
{
	static const char *const n[] = { "allow", "warn", "delay", "pause",
	    "deny" };

	return (unsigned)v < 5 ? n[v] : "?";
}

const char *
policy_kind_name(enum policy_kind k)
{
	static const char *const n[] = { "budget", "token_quota", "rate",
	    "pause", "sandbox", "require_tags" };

	return (unsigned)k < 6 ? n[k] : "?";
}
