/*
 * policy_eval.c — one admission against a policy (see policy.h). Pure: the
 * clock is in->now, usage comes from the caller's callback, nothing is
 * allocated. The zone offset is looked up once per evaluation together
 * with the span in which it holds, so most local → UTC conversions are a
 * subtraction; only edges near a DST transition take the general path.
 * Those helpers live in policy_ctx.h, shared with policy_match.c.
 */
#include "policy.h"
#include "policy_int.h"
#include "policy_ctx.h"

#include <stdio.h>
#include <string.h>

void
policy_period_bounds(const struct policy *p, enum policy_period per,
    int64_t now, int64_t *from, int64_t *to)
{
	struct policy_ctx x = { .p = p };

	ctx_time(&x, now);
	period(&x, per, from, to);
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
eval_budget(struct policy_ctx *x, const struct policy_rule *r, int i,
    policy_usage_fn fn, void *arg, struct policy_rule_state *st)
{
	struct policy_usage u;
	int64_t from, to, sum, cost = x->in->cost > 0 ? x->in->cost : 0;

	rule_span(x, r, &from, &to);
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
eval_quota(struct policy_ctx *x, const struct policy_rule *r, int i,
    policy_usage_fn fn, void *arg, struct policy_rule_state *st)
{
	struct policy_usage u;
	int64_t from, to, tok = x->in->tokens > 0 ? x->in->tokens : 0;

	if (!rule_span(x, r, &from, &to)) {     /* outside its window */
		st->flags |= POLICY_IDLE;
		st->reset = from;
		return;
	}
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
eval_rate(struct policy_ctx *x, const struct policy_rule *r, int i,
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
eval_pause(struct policy_ctx *x, const struct policy_rule *r,
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
eval_require(struct policy_ctx *x, const struct policy_rule *r,
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
eval_rule(struct policy_ctx *x, int i, policy_usage_fn fn, void *arg,
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
	case POLICY_K_GPU_LIMIT:
		/* allows; its limits go on the verdict page (the daemon) */
		st->flags |= POLICY_HAS_GPU;
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
	struct policy_ctx x;
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
	ctx_time(&x, in->now);
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
	    "pause", "sandbox", "require_tags", "gpu_limit" };

	return (unsigned)k < 7 ? n[k] : "?";
}
