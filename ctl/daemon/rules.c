/*
 * rules.c — usage so far per rule of the active policy (rules.h): what
 * policy_eval's usage callback reads, what admissions reserve and what
 * settlement adds.
 *
 * Spans: a budget, sandbox or token_quota rule holds one span at a time
 * (policy_rule_span: the period, or the window instance, in the policy's
 * zone). The span only moves forward through settlement: a record of the
 * stored span is added, one of a later span (the day changed and nothing
 * asked yet) moves the rule there first, one of an earlier span (a late
 * replay) counts nowhere, one of a span that has not begun at `now` (an
 * event time from a wrong clock) counts nowhere either, so a client
 * cannot wipe a budget by sending a record dated tomorrow. policy_eval
 * is the authority on `now`: when the span it asks about differs from the
 * stored one, the rule moves to it (spent and tokens restart at 0,
 * reserved stays: those requests are still in flight).
 *
 * Rate rules: one-second slots on the monotonic clock, slot = second % 60
 * stamped with its second; a slot whose stamp is older than 60 s counts
 * nothing and is reset when written. So "the last minute" is the current
 * second and the 59 before it.
 *
 * Sums saturate instead of overflowing; subtractions stop at 0. No
 * allocation after rules_load (getpwuid_r may allocate inside NSS, once
 * per uid: names are cached).
 */
#include "rules.h"
#include "ledger.h"
#include "log.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS 1000000000LL

/* ---- small arithmetic ---- */

static int64_t
sat_add(int64_t a, int64_t b)
{
	int64_t s;

	if (__builtin_add_overflow(a, b, &s))
		return b > 0 ? INT64_MAX : INT64_MIN;
	return s;
}

/* a - b, not below 0 (a counter never goes negative). */
static int64_t
sub0(int64_t a, int64_t b)
{
	return a > b ? a - b : 0;
}

static int64_t
pos(int64_t v)
{
	return v > 0 ? v : 0;
}

/* ---- user names (one thread: the daemon's main loop) ---- */

#define UCACHE 16

static struct {
	int used;
	uid_t uid;
	char name[64];
} ucache[UCACHE];
static unsigned unext;

/* The user name of uid, or the uid in decimal when it has none (or one
 * longer than 63 bytes, which no selector could be meant to name). */
static void
user_name(uid_t uid, char *out, size_t len)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	unsigned k;

	for (k = 0; k < UCACHE; k++)
		if (ucache[k].used && ucache[k].uid == uid) {
			snprintf(out, len, "%s", ucache[k].name);
			return;
		}
	k = unext++ % UCACHE;
	ucache[k].used = 1;
	ucache[k].uid = uid;
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) != 0 || res == NULL ||
	    strlen(pw.pw_name) >= sizeof(ucache[k].name))
		snprintf(ucache[k].name, sizeof(ucache[k].name), "%u",
		    (unsigned)uid);
	else
		memcpy(ucache[k].name, pw.pw_name, strlen(pw.pw_name) + 1);
	snprintf(out, len, "%s", ucache[k].name);
}

static const char *
known(const char *s)
{
	return s != NULL && *s != '\0' ? s : NULL;
}

void
rules_input_fill(struct rules_input *ri, const struct rules_subject *s,
    int64_t now)
{
	memset(&ri->in, 0, sizeof(ri->in));
	ri->in.ntags = policy_tags_parse(s->tags ? s->tags : "", ri->buf,
	    sizeof(ri->buf), ri->tagv, POLICY_MAX_TAGS);
	ri->in.tags = ri->tagv;
	user_name(s->uid, ri->user, sizeof(ri->user));
	ri->in.user = ri->user;
	ri->in.exe = known(s->exe);
	ri->in.model = known(s->model);
	ri->in.provider = known(s->provider);
	ri->in.kind = s->kind;
	ri->in.mode = POLICY_MODE_ENFORCE;
	ri->in.now = now;
}

/* ---- one rule's counters ---- */

static int
counts_kind(enum policy_kind k)
{
	return k == POLICY_K_BUDGET || k == POLICY_K_SANDBOX ||
	    k == POLICY_K_TOKEN_QUOTA || k == POLICY_K_RATE;
}

static int
is_rate(const struct rules *R, int i)
{
	return R->pol->rules[i].kind == POLICY_K_RATE;
}

/* Move to span [from, to): what was spent belongs to the old one. */
static void
roll(struct rule_usage *c, int64_t from, int64_t to)
{
	c->from = from;
	c->to = to;
	c->spanned = 1;
	c->spent = 0;
	c->tokens = 0;
}

/* A rule whose hard limit spent + reserved (budget, sandbox) or tokens +
 * reserved tokens (token_quota) has reached: standing verdicts change. */
static int
at_limit(const struct policy_rule *r, const struct rule_usage *c)
{
	if (r->kind == POLICY_K_TOKEN_QUOTA)
		return sat_add(c->tokens, c->reserved_tokens) >= r->max_tokens;
	return (r->kind == POLICY_K_BUDGET || r->kind == POLICY_K_SANDBOX) &&
	    r->limit > 0 && sat_add(c->spent, c->reserved) >= r->limit;
}

static int64_t
second_of(int64_t mono)
{
	return mono >= 0 ? mono / NS : -((-mono + NS - 1) / NS);
}

/* The rate slot of second sec, emptied if it held an older second. */
static int
slot(struct rule_usage *c, int64_t sec)
{
	int i = (int)(((sec % RULES_RATE_SLOTS) + RULES_RATE_SLOTS) %
	    RULES_RATE_SLOTS);

	if (c->stamp[i] != sec) {
		c->stamp[i] = sec;
		c->req[i] = 0;
		c->tok[i] = 0;
	}
	return i;
}

static void
rate_sums(struct rule_usage *c, int64_t sec, int64_t *rpm, int64_t *tpm)
{
	if (!c->sum_ok || c->sum_sec != sec) {
		c->sum_rpm = c->sum_tpm = 0;
		for (int i = 0; i < RULES_RATE_SLOTS; i++)
			if (c->stamp[i] > sec - RULES_RATE_SLOTS &&
			    c->stamp[i] <= sec) {
				c->sum_rpm = sat_add(c->sum_rpm, c->req[i]);
				c->sum_tpm = sat_add(c->sum_tpm, c->tok[i]);
			}
		c->sum_sec = sec;
		c->sum_ok = 1;
	}
	*rpm = sat_add(*rpm, c->sum_rpm);
	*tpm = sat_add(*tpm, c->sum_tpm);
}

/* A count in second sec: into the cached sums when their window holds it. */
static void
rate_add(struct rule_usage *c, int64_t sec, int64_t req, int64_t tok)
{
	int k = slot(c, sec);

	c->req[k] += (uint32_t)req;
	c->tok[k] = sat_add(c->tok[k], tok);
	if (c->sum_ok && sec > c->sum_sec - RULES_RATE_SLOTS &&
	    sec <= c->sum_sec) {
		c->sum_rpm = sat_add(c->sum_rpm, req);
		c->sum_tpm = sat_add(c->sum_tpm, tok);
	}
}

/* Bits of set, lowest first: for (i = -1; (i = next_bit(set, i, n)) >= 0;) */
static int
next_bit(const uint64_t set[POLICY_SET_WORDS], int i, int n)
{
	for (i++; i < n; i = (i | 63) + 1) {
		uint64_t w = set[i / 64] >> (i % 64);
		if (w != 0) {
			i += __builtin_ctzll(w);
			return i < n ? i : -1;
		}
	}
	return -1;
}

/* ---- the callback and the display ---- */

void
rules_usage(void *arg, int rule, int64_t from, int64_t to,
    struct policy_usage *u)
{
	const struct rules_eval *e = arg;
	struct rules *R = e->R;
	struct rule_usage *c;

	if (rule < 0 || rule >= R->n || !R->u[rule].counts)
		return;
	c = &R->u[rule];
	switch (R->pol->rules[rule].kind) {
	case POLICY_K_RATE:
		rate_sums(c, second_of(e->mono), &u->rpm, &u->tpm);
		break;
	case POLICY_K_TOKEN_QUOTA:
		if (!c->spanned || c->from != from || c->to != to)
			roll(c, from, to);
		u->tokens = sat_add(c->tokens, c->reserved_tokens);
		break;
	default:        /* budget, sandbox */
		if (!c->spanned || c->from != from || c->to != to)
			roll(c, from, to);
		u->spent = sat_add(c->spent, c->reserved);
		break;
	}
	u->concurrent = c->concurrent;
}

int
rules_peek(struct rules *R, int rule, int64_t now, int64_t mono,
    int64_t *from, int64_t *to, struct policy_usage *u)
{
	struct rules_eval e = { .R = R, .mono = mono };

	memset(u, 0, sizeof(*u));
	*from = *to = 0;
	if (rule < 0 || rule >= R->n || !R->u[rule].counts)
		return -1;
	if (is_rate(R, rule) ||
	    policy_rule_span(R->pol, rule, now, from, to))
		rules_usage(&e, rule, *from, *to, u);
	else    /* a token_quota outside its window */
		u->concurrent = R->u[rule].concurrent;
	return 0;
}

/* ---- admissions ---- */

void
rules_counting(const struct rules *R, const uint64_t set[POLICY_SET_WORDS],
    uint64_t out[POLICY_SET_WORDS])
{
	memset(out, 0, sizeof(out[0]) * POLICY_SET_WORDS);
	for (int i = -1; (i = next_bit(set, i, R->n)) >= 0;)
		if (R->u[i].counts)
			out[i / 64] |= 1ULL << (i % 64);
}

void
rules_reserve(struct rules *R, const uint64_t set[POLICY_SET_WORDS],
    tg_nano_usd cost, int64_t tokens, int64_t mono)
{
	int64_t sec = second_of(mono);

	for (int i = -1; (i = next_bit(set, i, R->n)) >= 0;) {
		struct rule_usage *c = &R->u[i];
		if (!c->counts)
			continue;
		c->reserved = sat_add(c->reserved, pos(cost));
		c->reserved_tokens = sat_add(c->reserved_tokens, pos(tokens));
		c->concurrent++;
		if (is_rate(R, i) && mono > 0)  /* 0: re-counted, not new */
			rate_add(c, sec, 1, 0);
	}
}

void
rules_unreserve(struct rules *R, const uint64_t set[POLICY_SET_WORDS],
    tg_nano_usd cost, int64_t tokens)
{
	for (int i = -1; (i = next_bit(set, i, R->n)) >= 0;) {
		struct rule_usage *c = &R->u[i];
		if (!c->counts)
			continue;
		c->reserved = sub0(c->reserved, pos(cost));
		c->reserved_tokens = sub0(c->reserved_tokens, pos(tokens));
		c->concurrent = sub0(c->concurrent, 1);
	}
}

/* ---- settlement ---- */

/* t lies in c's stored span. Spans of one rule never overlap, so this
 * is "t's span is the stored one", without working the span out. */
static int
in_span(const struct rule_usage *c, int64_t t)
{
	return c->spanned && ((c->from == 0 && c->to == 0) ||
	    (t >= c->from && t < c->to));
}

/* Whether a record of event time t counts in rule i, moving the rule to
 * t's span when that is a later one (see the top of the file). */
static int
follow(struct rules *R, int i, int64_t t, int64_t now)
{
	struct rule_usage *c = &R->u[i];
	int64_t from, to;

	if (in_span(c, t))
		return 1;
	if (!policy_rule_span(R->pol, i, t, &from, &to))
		return 0;               /* outside the rule's window */
	if (from > now || (c->spanned && from < c->from))
		return 0;               /* not begun yet / an earlier span */
	roll(c, from, to);
	return 1;
}

int
rules_settle(struct rules *R, const struct rules_subject *s,
    int64_t event_time, tg_nano_usd cost, int64_t tokens, int64_t now,
    int64_t mono)
{
	struct rules_input ri;
	uint64_t set[POLICY_SET_WORDS];
	int reached = 0, before;

	if (R->n == 0)
		return 0;
	cost = pos(cost);
	tokens = pos(tokens);
	rules_input_fill(&ri, s, now);
	policy_match_set(R->pol, &ri.in, set);
	for (int i = -1; (i = next_bit(set, i, R->n)) >= 0;) {
		struct rule_usage *c = &R->u[i];
		const struct policy_rule *r = &R->pol->rules[i];

		if (!c->counts)
			continue;
		if (r->kind == POLICY_K_RATE) {
			rate_add(c, second_of(mono), 0, tokens);
			continue;
		}
		if (!follow(R, i, event_time, now))
			continue;
		before = at_limit(r, c);
		c->spent = sat_add(c->spent, cost);
		c->tokens = sat_add(c->tokens, tokens);
		reached |= !before && at_limit(r, c);
	}
	return reached;
}

/* Rate slots keep a repeat's tokens: without the settlement's monotonic
 * second its slot is unknown, and counting a minute too much is the safe
 * side of a rate limit. */
void
rules_unsettle(struct rules *R, const struct rules_subject *s,
    int64_t event_time, tg_nano_usd cost, int64_t tokens, int64_t now)
{
	struct rules_input ri;
	uint64_t set[POLICY_SET_WORDS];

	if (R->n == 0)
		return;
	rules_input_fill(&ri, s, now);
	policy_match_set(R->pol, &ri.in, set);
	for (int i = -1; (i = next_bit(set, i, R->n)) >= 0;) {
		struct rule_usage *c = &R->u[i];

		if (!c->counts || is_rate(R, i) || !in_span(c, event_time))
			continue;       /* it was counted nowhere we still hold */
		c->spent = sub0(c->spent, pos(cost));
		c->tokens = sub0(c->tokens, pos(tokens));
	}
}

/* ---- start-up ---- */

/* One ledger record into every spanned rule whose span holds it. */
static int
load_row(void *arg, const struct ledger_scan_row *row)
{
	struct rules *R = arg;
	struct rules_subject s = { .tags = row->tags, .uid = row->uid,
	    .exe = row->exe, .model = row->model, .provider = row->provider,
	    .kind = row->kind == TG_KIND_GPU ? POLICY_GPU : POLICY_LLM };
	struct rules_input ri;
	uint64_t set[POLICY_SET_WORDS];
	int64_t t = row->event_time_ns, tokens;

	tokens = sat_add(pos(row->input_tokens), pos(row->output_tokens));
	rules_input_fill(&ri, &s, t);
	policy_match_set(R->pol, &ri.in, set);
	for (int i = -1; (i = next_bit(set, i, R->n)) >= 0;) {
		struct rule_usage *c = &R->u[i];

		if (!c->counts || is_rate(R, i) || !in_span(c, t))
			continue;       /* another span than the current one */
		c->spent = sat_add(c->spent, pos(row->cost_nano_usd));
		c->tokens = sat_add(c->tokens, tokens);
	}
	return 0;
}

/* The current spans at now; the earliest start of them (INT64_MIN for a
 * "total" one), or INT64_MAX when no rule holds a span. */
static int64_t
load_spans(struct rules *R, int64_t now)
{
	int64_t since = INT64_MAX, from, to;

	for (int i = 0; i < R->n; i++) {
		struct rule_usage *c = &R->u[i];

		c->counts = counts_kind(R->pol->rules[i].kind);
		if (!c->counts || !policy_rule_span(R->pol, i, now, &from, &to))
			continue;
		c->from = from;
		c->to = to;
		c->spanned = 1;
		if (from == 0 && to == 0)
			since = INT64_MIN;
		else if (from < since)
			since = from;
	}
	return since;
}

int
rules_load(struct rules *R, const struct policy *pol, struct ledger *lg,
    int64_t now, char *err, size_t errlen)
{
	int64_t since;

	R->pol = pol;
	R->n = 0;
	R->u = NULL;
	memset(ucache, 0, sizeof(ucache));     /* passwd may have changed */
	if (pol->nrules == 0)
		return 0;
	if ((R->u = calloc((size_t)pol->nrules, sizeof(*R->u))) == NULL) {
		tg_seterr(err, errlen, "policy counters: out of memory");
		return -1;
	}
	R->n = pol->nrules;
	since = load_spans(R, now);
	if (lg == NULL || since == INT64_MAX)
		return 0;
	if (ledger_scan(lg, since, load_row, R, err, errlen) == 0)
		return 0;
	for (int i = 0; i < R->n; i++)         /* empty, not half summed */
		R->u[i].spent = R->u[i].tokens = 0;
	return -1;
}

void
rules_free(struct rules *R)
{
	free(R->u);
	R->u = NULL;
	R->n = 0;
	R->pol = NULL;
}
