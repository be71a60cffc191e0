/*
 * policy_match.c — what the daemon's per-rule counters need from the
 * policy engine (policy.h, "for the daemon's per-rule counters"): which
 * rules an input matches, the span a rule counts in at a given time, the
 * next instant a standing verdict can change, and the "k=v,k=v" tag
 * syntax. Matching, periods, windows and the DST rules are policy_eval's
 * own code (policy_ctx.h), so they cannot drift from what it decides.
 * Pure: no I/O, no clock, no allocation.
 */
#include "policy.h"
#include "policy_ctx.h"

#include <string.h>

void
policy_match_set(const struct policy *p, const struct policy_input *in,
    uint64_t set[POLICY_SET_WORDS])
{
	struct policy_ctx x = { .p = p, .in = in };

	memset(set, 0, sizeof(set[0]) * POLICY_SET_WORDS);
	ctx_tags(&x);
	for (int i = 0; i < p->nrules && i < POLICY_MAX_RULES; i++)
		if (matches(&x, &p->rules[i]))
			set[i / 64] |= 1ULL << (i % 64);
}

/* matches() where the request's model and provider are unknown: their
 * selectors may match whatever the request names. */
static int
may_match(const struct policy_ctx *x, const struct policy_rule *r)
{
	if (r->untagged >= 0 && r->untagged == x->tagged)
		return 0;
	if (r->kind == POLICY_K_GPU_LIMIT && x->in->kind != POLICY_GPU)
		return 0;
	for (int i = 0; i < r->nsel; i++) {
		const struct policy_sel *s = &r->sel[i];
		const char *v;
		int ok = 0;

		if (s->field == POLICY_F_MODEL || s->field == POLICY_F_PROVIDER)
			continue;
		if ((v = field_value(x, s)) == NULL)
			return 0;
		for (int k = 0; k < s->npat && !ok; k++)
			ok = pat_match(&s->pat[k], v);
		if (!ok)
			return 0;
	}
	return 1;
}

/* Soft-only budgets warn; every other action can hold a request. */
static int
may_refuse(const struct policy_rule *r)
{
	if (r->fail_closed)
		return 1;
	if (r->action == POLICY_A_REPORT)
		return 0;
	if ((r->kind == POLICY_K_BUDGET || r->kind == POLICY_K_SANDBOX) &&
	    r->limit == 0)
		return 0;
	return 1;
}

int
policy_may_refuse_llm(const struct policy *p, const struct policy_input *in)
{
	struct policy_input llm = *in;
	struct policy_ctx x = { .p = p, .in = &llm };

	llm.kind = POLICY_LLM;
	llm.model = llm.provider = NULL;
	ctx_tags(&x);
	for (int i = 0; i < p->nrules && i < POLICY_MAX_RULES; i++)
		if (may_refuse(&p->rules[i]) && may_match(&x, &p->rules[i]))
			return 1;
	return 0;
}

int
policy_rule_span(const struct policy *p, int rule, int64_t t, int64_t *from,
    int64_t *to)
{
	struct policy_ctx x = { .p = p };

	*from = *to = 0;
	if (rule < 0 || rule >= p->nrules)
		return 0;
	ctx_time(&x, t);
	if (rule_span(&x, &p->rules[rule], from, to))
		return 1;
	*from = *to = 0;        /* not the idle window's next start */
	return 0;
}

int64_t
policy_next_edge(const struct policy *p, int64_t now)
{
	struct policy_ctx x = { .p = p };
	int64_t best = 0, from, to, e;

	ctx_time(&x, now);
	for (int i = 0; i < p->nrules; i++) {
		const struct policy_rule *r = &p->rules[i];

		/* an active span ends at to; an idle window opens at from;
		 * "total", rate and require_tags give 0: no edge */
		if (r->kind == POLICY_K_PAUSE)
			e = window(&x, &r->win, &from, &to) ? to : from;
		else
			e = rule_span(&x, r, &from, &to) ? to : from;
		if (e > 0 && (best == 0 || e < best))
			best = e;
	}
	return best;
}

/* The length of s that fits in buflen bytes with its NUL, cut back to
 * whole pairs when s is longer: a half pair would be a wrong tag. */
static size_t
fit(const char *s, size_t buflen)
{
	size_t len = strnlen(s, buflen);

	if (len < buflen)
		return len;
	len = buflen - 1;
	if (s[len] == ',')
		return len;
	while (len > 0 && s[len - 1] != ',')
		len--;
	return len > 0 ? len - 1 : 0;
}

int
policy_tags_parse(const char *s, char *buf, size_t buflen,
    struct policy_tag *tags, int cap)
{
	char *p, *end, *eq;
	size_t len;
	int n = 0, last = 0;

	if (s == NULL || buflen == 0)
		return 0;
	len = fit(s, buflen);
	memcpy(buf, s, len);
	buf[len] = '\0';
	for (p = buf; !last && *p != '\0' && n < cap; p = end + 1) {
		if ((end = strchr(p, ',')) == NULL) {
			end = p + strlen(p);
			last = 1;
		}
		*end = '\0';
		if ((eq = strchr(p, '=')) == NULL || eq == p)
			continue;       /* no '=' or an empty key */
		*eq = '\0';
		tags[n].key = p;
		tags[n++].value = eq + 1;
	}
	return n;
}
