/*
 * policy_print.c — the policy printed back in normal form (every default
 * made explicit, fixed key order, so show(parse(show(x))) == show(x)), and
 * decisions as one line (the .cases format of policies/README.md), as text
 * and as JSON; plus the reason text of a decision.
 */
#include "policy.h"
#include "policy_int.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#define NS 1000000000LL

static const char *const day_names[] = { "mon", "tue", "wed", "thu", "fri",
    "sat", "sun" };
static const char *const period_names[] = { "day", "week", "month", "total" };
static const char *const field_names[] = { "", "user", "model", "provider",
    "exe", "kind" };

void
policy_fmt_usd(tg_nano_usd v, char *buf, size_t len)
{
	size_t n;

	tg_usd_format(buf, len, v, 9);
	n = strlen(buf);
	/* shortest exact form, at least cents: 5.000000000 → 5.00 */
	while (n >= 4 && buf[n - 1] == '0' && buf[n - 3] != '.')
		buf[--n] = '\0';
}

void
policy_fmt_bytes(uint64_t v, char *buf, size_t len)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB" };
	int u = -1;

	while (u < 3 && v >= 1024 && v % 1024 == 0) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, "%llu%s", (unsigned long long)v,
	    u < 0 ? "" : units[u]);
}

void
policy_fmt_time(const struct policy *p, int64_t ns, char *buf, size_t len)
{
	int64_t t, day, sod, y;
	unsigned m, d;
	int32_t off;

	if (ns == 0) {
		snprintf(buf, len, "-");
		return;
	}
	t = ns / NS - (ns % NS < 0);
	off = tg_tz_offset(&p->tz, t);
	day = (t + off) / 86400 - ((t + off) % 86400 < 0);
	sod = t + off - day * 86400;
	tg_civil_from_days(day, &y, &m, &d);
	snprintf(buf, len, "%04lld-%02u-%02uT%02d:%02d:%02d%c%02d:%02d",
	    (long long)y, m, d, (int)(sod / 3600), (int)(sod / 60 % 60),
	    (int)(sod % 60), off < 0 ? '-' : '+', abs(off) / 3600,
	    abs(off) / 60 % 60);
}

static void
fmt_hhmm(unsigned min, char *buf, size_t len)
{
	snprintf(buf, len, "%02u:%02u", min / 60 % 100, min % 60);
}

/* ---- show ---- */

static json_t *
usd_json(tg_nano_usd v)
{
	char buf[48];

	policy_fmt_usd(v, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *
window_json(const struct policy_window *w)
{
	json_t *o = json_object(), *days = json_array();
	char buf[8];

	fmt_hhmm(w->from, buf, sizeof(buf));
	json_object_set_new(o, "from", json_string(buf));
	fmt_hhmm(w->to, buf, sizeof(buf));
	json_object_set_new(o, "to", json_string(buf));
	for (int i = 0; i < 7; i++)
		if (w->days & (1u << i))
			json_array_append_new(days, json_string(day_names[i]));
	json_object_set_new(o, "days", days);
	return o;
}

static json_t *
match_json(const struct policy *p, const struct policy_rule *r)
{
	json_t *m = json_object();

	for (int i = 0; i < r->nsel; i++) {
		const struct policy_sel *s = &r->sel[i];
		const char *key = s->field == POLICY_F_TAG ? p->keys[s->slot] :
		    field_names[s->field];
		json_t *v;

		if (s->npat == 1)
			v = json_string(s->pat[0].text);
		else {
			v = json_array();
			for (int k = 0; k < s->npat; k++)
				json_array_append_new(v,
				    json_string(s->pat[k].text));
		}
		json_object_set_new(m, key, v);
	}
	if (r->untagged >= 0)
		json_object_set_new(m, "untagged", json_boolean(r->untagged));
	return m;
}

/* mem_cap as "8GiB" when a unit divides it, else a plain integer. */
static void
gpu_json(const struct policy_rule *r, json_t *o)
{
	char buf[32];

	if (r->mem_cap) {
		policy_fmt_bytes(r->mem_cap, buf, sizeof(buf));
		json_object_set_new(o, "mem_cap", r->mem_cap % 1024 ?
		    json_integer((json_int_t)r->mem_cap) : json_string(buf));
	}
	if (r->launches_per_sec)
		json_object_set_new(o, "launches_per_sec",
		    json_integer(r->launches_per_sec));
}

static void
kind_json(const struct policy *p, const struct policy_rule *r, json_t *o)
{
	switch (r->kind) {
	case POLICY_K_BUDGET:
	case POLICY_K_SANDBOX:
		json_object_set_new(o, "period",
		    json_string(period_names[r->period]));
		if (r->limit)
			json_object_set_new(o, "limit_usd", usd_json(r->limit));
		if (r->soft)
			json_object_set_new(o, "soft_usd", usd_json(r->soft));
		if (r->kind == POLICY_K_SANDBOX) {
			json_object_set_new(o, "action", json_string("shutdown"));
			json_object_set_new(o, "grace_seconds",
			    json_integer(r->grace_seconds));
		}
		break;
	case POLICY_K_TOKEN_QUOTA:
		json_object_set_new(o, "max_tokens", json_integer(r->max_tokens));
		if (r->has_window)
			json_object_set_new(o, "window", window_json(&r->win));
		break;
	case POLICY_K_RATE:
		if (r->rpm)
			json_object_set_new(o, "requests_per_min",
			    json_integer(r->rpm));
		if (r->tpm)
			json_object_set_new(o, "tokens_per_min",
			    json_integer(r->tpm));
		if (r->concurrent)
			json_object_set_new(o, "concurrent",
			    json_integer(r->concurrent));
		json_object_set_new(o, "action", json_string(
		    r->action == POLICY_A_DELAY ? "delay" : "deny"));
		if (r->action == POLICY_A_DELAY)
			json_object_set_new(o, "delay_ms",
			    json_integer(r->delay_ms));
		break;
	case POLICY_K_PAUSE:
		json_object_set_new(o, "window", window_json(&r->win));
		json_object_set_new(o, "llm", json_string(
		    r->action == POLICY_A_WAIT ? "wait" : "deny"));
		json_object_set_new(o, "freeze", json_boolean(r->freeze));
		break;
	case POLICY_K_REQUIRE_TAGS: {
		json_t *a = json_array();
		for (int k = 0; k < r->nreq; k++)
			json_array_append_new(a, json_string(p->keys[r->req[k]]));
		json_object_set_new(o, "tags", a);
		json_object_set_new(o, "action", json_string(
		    r->action == POLICY_A_DENY ? "deny" : "report"));
		break;
	}
	case POLICY_K_GPU_LIMIT:
		gpu_json(r, o);
		break;
	}
}

char *
policy_show(const struct policy *p)
{
	json_t *root = json_object(), *rules = json_array();
	char *s;

	json_object_set_new(root, "schema_version",
	    json_integer(POLICY_SCHEMA_VERSION));
	if (p->description)
		json_object_set_new(root, "description",
		    json_string(p->description));
	json_object_set_new(root, "timezone", json_string(p->tz.name));
	json_object_set_new(root, "allow_mode_off",
	    json_boolean(p->allow_mode_off));
	if (p->idle.set)
		json_object_set_new(root, "idle", policy_idle_json(&p->idle));
	for (int i = 0; i < p->nrules; i++) {
		const struct policy_rule *r = &p->rules[i];
		json_t *o = json_object();

		json_object_set_new(o, "name", json_string(r->name));
		json_object_set_new(o, "kind",
		    json_string(policy_kind_name(r->kind)));
		json_object_set_new(o, "match", match_json(p, r));
		kind_json(p, r, o);
		json_object_set_new(o, "fail",
		    json_string(r->fail_closed ? "closed" : "open"));
		json_array_append_new(rules, o);
	}
	json_object_set_new(root, "rules", rules);
	s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	return s;
}

/* ---- reasons ---- */

static void
window_text(const struct policy_window *w, char *buf, size_t len)
{
	char f[8], t[8], days[40] = "";

	fmt_hhmm(w->from, f, sizeof(f));
	fmt_hhmm(w->to, t, sizeof(t));
	if (w->days != 0x7f)
		for (int i = 0; i < 7; i++)
			if (w->days & (1u << i)) {
				strcat(days, *days ? "," : " ");
				strcat(days, day_names[i]);
			}
	snprintf(buf, len, "%s-%s%s", f, t, days);
}

static void
missing_text(const struct policy *p, const struct policy_rule *r,
    unsigned missing, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int k = 0; k < r->nreq; k++)
		if (missing & (1u << k))
			n += (size_t)snprintf(buf + n, n < len ? len - n : 0,
			    "%s%s", n ? "," : "", p->keys[r->req[k]]);
}

static void
reason_budget(const struct policy_rule *r, const struct policy_input *in,
    const struct policy_rule_state *st, char *buf, size_t len)
{
	char lim[40], cost[40];
	const char *per = period_names[r->period];

	policy_fmt_usd(st->verdict == POLICY_WARN ? r->soft : r->limit, lim,
	    sizeof(lim));
	policy_fmt_usd(in->cost > 0 ? in->cost : 0, cost, sizeof(cost));
	if (st->verdict == POLICY_DENY)
		snprintf(buf, len, "%s budget of $%s %s (request ~$%s)%s",
		    r->kind == POLICY_K_SANDBOX ? "sandbox" : per, lim,
		    st->usd_left ? "would be exceeded" : "is spent", cost,
		    r->kind == POLICY_K_SANDBOX ? "; the sandbox is shut down" :
		    "");
	else if (st->verdict == POLICY_WARN)
		snprintf(buf, len, "soft threshold $%s of the %s budget reached "
		    "(request ~$%s)", lim, per, cost);
	else
		snprintf(buf, len, "within the %s budget", per);
}

static void
reason_rate(const struct policy_rule *r, const struct policy_rule_state *st,
    char *buf, size_t len)
{
	const char *what = st->over & POLICY_HAS_RPM ? "requests/min" :
	    st->over & POLICY_HAS_TPM ? "tokens/min" : "concurrent requests";
	int64_t lim = st->over & POLICY_HAS_RPM ? r->rpm :
	    st->over & POLICY_HAS_TPM ? r->tpm : r->concurrent;

	if (st->over == 0)
		snprintf(buf, len, "within the rate limits");
	else if (st->verdict == POLICY_DELAY)
		snprintf(buf, len, "over %lld %s: delayed %u ms",
		    (long long)lim, what, st->delay_ms);
	else
		snprintf(buf, len, "over %lld %s: refused", (long long)lim, what);
}

/* "GPU memory capped at 8GiB, 100 launches/s": what the page carries */
static void
gpu_text(const struct policy_rule *r, char *buf, size_t len)
{
	char cap[32] = "";

	if (r->mem_cap)
		policy_fmt_bytes(r->mem_cap, cap, sizeof(cap));
	if (r->mem_cap && r->launches_per_sec)
		snprintf(buf, len, "GPU memory capped at %s, %lld launches/s",
		    cap, (long long)r->launches_per_sec);
	else if (r->mem_cap)
		snprintf(buf, len, "GPU memory capped at %s", cap);
	else
		snprintf(buf, len, "GPU launches throttled to %lld/s",
		    (long long)r->launches_per_sec);
}

void
policy_reason(const struct policy *p, const struct policy_input *in,
    const struct policy_rule_state *st, struct policy_decision *d)
{
	const struct policy_rule *r = &p->rules[st->rule];
	char w[64], miss[128];
	char *buf = d->reason;
	size_t len = sizeof(d->reason);

	if (in->unreachable) {
		snprintf(buf, len, "daemon unreachable; %s", r->fail_closed ?
		    "the rule fails closed" : "failing open");
		return;
	}
	switch (r->kind) {
	case POLICY_K_BUDGET:
	case POLICY_K_SANDBOX:
		reason_budget(r, in, st, buf, len);
		break;
	case POLICY_K_TOKEN_QUOTA:
		snprintf(w, sizeof(w), "the day");
		if (r->has_window)
			window_text(&r->win, w, sizeof(w));
		if (st->flags & POLICY_IDLE)
			snprintf(buf, len, "outside the token window %s", w);
		else
			snprintf(buf, len, "token quota of %lld in %s %s",
			    (long long)r->max_tokens, w,
			    st->verdict == POLICY_DENY ? "reached" : "not reached");
		break;
	case POLICY_K_RATE:
		reason_rate(r, st, buf, len);
		break;
	case POLICY_K_PAUSE:
		window_text(&r->win, w, sizeof(w));
		snprintf(buf, len, "%s %s", st->flags & POLICY_IDLE ?
		    "outside the pause window" : st->verdict == POLICY_PAUSE ?
		    "paused during" : "LLM requests refused during", w);
		break;
	case POLICY_K_GPU_LIMIT:
		gpu_text(r, buf, len);
		break;
	case POLICY_K_REQUIRE_TAGS:
		missing_text(p, r, st->missing, miss, sizeof(miss));
		if (st->missing)
			snprintf(buf, len, "missing tags: %s%s", miss,
			    st->verdict == POLICY_DENY ? "" : " (reported)");
		else
			snprintf(buf, len, "required tags present");
		break;
	}
}

/* ---- decisions ---- */

static void
verdict_word(enum policy_verdict v, uint32_t ms, char *buf, size_t len)
{
	if (v == POLICY_DELAY)
		snprintf(buf, len, "delay=%ums", ms);
	else
		snprintf(buf, len, "%s", policy_verdict_name(v));
}

/* " usd=1.50 tokens=10" … of one rule's state. */
static void
amounts(FILE *f, const struct policy *p, const struct policy_rule_state *st)
{
	const struct policy_rule *r = &p->rules[st->rule];
	char buf[160];

	if (st->flags & POLICY_IDLE) {
		policy_fmt_time(p, st->reset, buf, sizeof(buf));
		fprintf(f, " idle next=%s", buf);
	}
	if (st->flags & POLICY_HAS_USD) {
		policy_fmt_usd(st->usd_left, buf, sizeof(buf));
		fprintf(f, " usd=%s", buf);
	}
	if (st->flags & POLICY_HAS_TOKENS)
		fprintf(f, " tokens=%lld", (long long)st->tokens_left);
	if (st->flags & POLICY_HAS_RPM)
		fprintf(f, " rpm=%lld", (long long)st->rpm_left);
	if (st->flags & POLICY_HAS_TPM)
		fprintf(f, " tpm=%lld", (long long)st->tpm_left);
	if (st->flags & POLICY_HAS_CONC)
		fprintf(f, " concurrent=%lld", (long long)st->conc_left);
	if (st->flags & POLICY_MISSING) {
		missing_text(p, r, st->missing, buf, sizeof(buf));
		fprintf(f, " missing=%s", buf);
	}
	if ((st->flags & POLICY_HAS_GPU) && r->mem_cap) {
		policy_fmt_bytes(r->mem_cap, buf, sizeof(buf));
		fprintf(f, " mem_cap=%s", buf);
	}
	if ((st->flags & POLICY_HAS_GPU) && r->launches_per_sec)
		fprintf(f, " launches_per_sec=%lld",
		    (long long)r->launches_per_sec);
}

static void
flags_line(FILE *f, const struct policy_decision *d)
{
	if (d->flags & POLICY_D_SHUTDOWN)
		fprintf(f, " shutdown=%us", d->grace_seconds);
	if (d->flags & POLICY_D_FREEZE)
		fputs(" freeze", f);
	if (d->flags & POLICY_D_MODE_OFF)
		fputs(" mode-off", f);
	if (d->flags & POLICY_D_MODE_REFUSED)
		fputs(" mode-off-refused", f);
	if (d->flags & POLICY_D_UNREACHABLE)
		fputs(" unreachable", f);
}

void
policy_print_line(FILE *f, const struct policy *p,
    const struct policy_decision *d)
{
	char v[32], t[48];

	verdict_word(d->verdict, d->delay_ms, v, sizeof(v));
	policy_fmt_time(p, d->reset, t, sizeof(t));
	fprintf(f, "%s %s reset=%s", v, d->rule < 0 ? "-" :
	    p->rules[d->rule].name, t);
	flags_line(f, d);
	for (int i = 0; i < d->nstates; i++) {
		const struct policy_rule_state *st = &d->states[i];
		verdict_word(st->verdict, st->delay_ms, v, sizeof(v));
		fprintf(f, "; %s %s", p->rules[st->rule].name, v);
		amounts(f, p, st);
	}
	fputc('\n', f);
}

void
policy_print_text(FILE *f, const struct policy *p,
    const struct policy_decision *d)
{
	char v[32], t[48];

	verdict_word(d->verdict, d->delay_ms, v, sizeof(v));
	policy_fmt_time(p, d->reset, t, sizeof(t));
	fprintf(f, "verdict: %s\n", v);
	if (d->rule >= 0)
		fprintf(f, "rule:    %s (%s)\n", p->rules[d->rule].name,
		    policy_kind_name(p->rules[d->rule].kind));
	else
		fprintf(f, "rule:    -\n");
	fprintf(f, "reason:  %s\n", d->reason);
	fprintf(f, "resets:  %s\n", d->reset ? t : "never");
	if (d->flags) {
		fputs("actions:", f);
		flags_line(f, d);
		fputc('\n', f);
	}
	if (d->nstates)
		fputs("matching rules (what is left):\n", f);
	for (int i = 0; i < d->nstates; i++) {
		const struct policy_rule_state *st = &d->states[i];
		verdict_word(st->verdict, st->delay_ms, v, sizeof(v));
		policy_fmt_time(p, st->flags & POLICY_IDLE ? 0 : st->reset, t,
		    sizeof(t));
		fprintf(f, "  %-20s %-12s %-8s reset=%s", p->rules[st->rule].name,
		    policy_kind_name(p->rules[st->rule].kind), v, t);
		amounts(f, p, st);
		fputc('\n', f);
	}
}

static json_t *
time_json(const struct policy *p, int64_t ns)
{
	char t[48];

	if (ns == 0)
		return json_null();
	policy_fmt_time(p, ns, t, sizeof(t));
	return json_string(t);
}

static json_t *
state_json(const struct policy *p, const struct policy_rule_state *st)
{
	const struct policy_rule *r = &p->rules[st->rule];
	json_t *o = json_object(), *left = json_object();
	char buf[160];

	json_object_set_new(o, "name", json_string(r->name));
	json_object_set_new(o, "kind", json_string(policy_kind_name(r->kind)));
	json_object_set_new(o, "verdict",
	    json_string(policy_verdict_name(st->verdict)));
	json_object_set_new(o, "delay_ms", json_integer(st->delay_ms));
	json_object_set_new(o, "idle", json_boolean(st->flags & POLICY_IDLE));
	json_object_set_new(o, "reset", time_json(p, st->reset));
	if (st->flags & POLICY_HAS_USD) {
		policy_fmt_usd(st->usd_left, buf, sizeof(buf));
		json_object_set_new(left, "usd", json_string(buf));
	}
	if (st->flags & POLICY_HAS_TOKENS)
		json_object_set_new(left, "tokens", json_integer(st->tokens_left));
	if (st->flags & POLICY_HAS_RPM)
		json_object_set_new(left, "requests_per_min",
		    json_integer(st->rpm_left));
	if (st->flags & POLICY_HAS_TPM)
		json_object_set_new(left, "tokens_per_min",
		    json_integer(st->tpm_left));
	if (st->flags & POLICY_HAS_CONC)
		json_object_set_new(left, "concurrent",
		    json_integer(st->conc_left));
	json_object_set_new(o, "remaining", left);
	if (st->flags & POLICY_MISSING) {
		missing_text(p, r, st->missing, buf, sizeof(buf));
		json_object_set_new(o, "missing", json_string(buf));
	}
	if ((st->flags & POLICY_HAS_GPU) && r->mem_cap)
		json_object_set_new(o, "mem_cap_bytes",
		    json_integer((json_int_t)r->mem_cap));
	if ((st->flags & POLICY_HAS_GPU) && r->launches_per_sec)
		json_object_set_new(o, "launches_per_sec",
		    json_integer(r->launches_per_sec));
	return o;
}

char *
policy_decision_json(const struct policy *p, const struct policy_decision *d)
{
	json_t *o = json_object(), *rules = json_array();
	char *s;

	json_object_set_new(o, "schema_version",
	    json_integer(POLICY_SCHEMA_VERSION));
	json_object_set_new(o, "verdict",
	    json_string(policy_verdict_name(d->verdict)));
	json_object_set_new(o, "delay_ms", json_integer(d->delay_ms));
	json_object_set_new(o, "rule", d->rule < 0 ? json_null() :
	    json_string(p->rules[d->rule].name));
	json_object_set_new(o, "reason", json_string(d->reason));
	json_object_set_new(o, "reset", time_json(p, d->reset));
	json_object_set_new(o, "shutdown",
	    json_boolean(d->flags & POLICY_D_SHUTDOWN));
	json_object_set_new(o, "grace_seconds", json_integer(d->grace_seconds));
	json_object_set_new(o, "freeze", json_boolean(d->flags & POLICY_D_FREEZE));
	json_object_set_new(o, "mode_off", json_boolean(d->flags &
	    POLICY_D_MODE_OFF));
	json_object_set_new(o, "mode_off_refused", json_boolean(d->flags &
	    POLICY_D_MODE_REFUSED));
	json_object_set_new(o, "unreachable", json_boolean(d->flags &
	    POLICY_D_UNREACHABLE));
	for (int i = 0; i < d->nstates; i++)
		json_array_append_new(rules, state_json(p, &d->states[i]));
	json_object_set_new(o, "rules", rules);
	s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	return s;
}
