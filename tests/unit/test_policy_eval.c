/* test_policy_eval.c — the policy engine's arithmetic: budget periods
 * (calendar-aligned, weeks from Monday, 23/25 h days), time-of-day windows
 * (across midnight, day sets name the start day), the bounds handed to the
 * usage callback, and which rule decides (deny > pause > delay > warn >
 * allow, the longest delay, file order on ties). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "policy.h"

#define H 3600LL
#define NS 1000000000LL

/* ns of a UTC civil time */
static int64_t
at(int y, unsigned mo, unsigned d, int h, int mi)
{
	return (tg_days_from_civil(y, mo, d) * 86400 + h * H + mi * 60) * NS;
}

static struct policy *
parse(const char *rules, const char *zone)
{
	char text[8192], err[512];
	struct policy *p;

	snprintf(text, sizeof(text), "{\"schema_version\": 1, \"timezone\": "
	    "\"%s\", \"rules\": [%s]}", zone, rules);
	p = policy_parse("t.json", text, strlen(text), err, sizeof(err));
	if (p == NULL)
		fail_msg("%s", err);
	return p;
}

static void
test_periods(void **state)
{
	struct policy *p = parse("", "Europe/Berlin");
	int64_t from, to;

	/* the week of the spring-forward: Mon 03-24 00:00 CET (23:00Z the
	 * day before) to Mon 03-31 00:00 CEST (22:00Z): 167 hours */
	policy_period_bounds(p, POLICY_WEEK, at(2025, 3, 30, 12, 0), &from, &to);
	assert_int_equal(from, at(2025, 3, 23, 23, 0));
	assert_int_equal(to, at(2025, 3, 30, 22, 0));
	/* Sunday 23:59 local is still that week; Monday 00:00 is the next */
	policy_period_bounds(p, POLICY_WEEK, at(2025, 3, 30, 21, 59), &from, &to);
	assert_int_equal(to, at(2025, 3, 30, 22, 0));
	policy_period_bounds(p, POLICY_WEEK, at(2025, 3, 30, 22, 0), &from, &to);
	assert_int_equal(from, at(2025, 3, 30, 22, 0));
	assert_int_equal(to, at(2025, 4, 6, 22, 0));
	/* March: from 03-01 00:00 CET to 04-01 00:00 CEST */
	policy_period_bounds(p, POLICY_MONTH, at(2025, 3, 15, 0, 0), &from, &to);
	assert_int_equal(from, at(2025, 2, 28, 23, 0));
	assert_int_equal(to, at(2025, 3, 31, 22, 0));
	/* December rolls into January */
	policy_period_bounds(p, POLICY_MONTH, at(2025, 12, 31, 22, 59), &from,
	    &to);
	assert_int_equal(from, at(2025, 11, 30, 23, 0));
	assert_int_equal(to, at(2025, 12, 31, 23, 0));
	/* the 25-hour day */
	policy_period_bounds(p, POLICY_DAY, at(2025, 10, 26, 12, 0), &from, &to);
	assert_int_equal(to - from, 25 * H * NS);
	policy_period_bounds(p, POLICY_TOTAL, at(2025, 10, 26, 12, 0), &from,
	    &to);
	assert_int_equal(from, 0);
	assert_int_equal(to, 0);
	policy_free(p);
}

struct seen {
	int calls, rule;
	int64_t from, to;
	struct policy_usage u;
};

static void
record(void *arg, int rule, int64_t from, int64_t to, struct policy_usage *u)
{
	struct seen *s = arg;

	s->calls++;
	s->rule = rule;
	s->from = from;
	s->to = to;
	*u = s->u;
}

static enum policy_verdict
eval_at(const struct policy *p, int64_t now, struct seen *s,
    struct policy_decision *d)
{
	struct policy_tag tags[] = { { "purpose", "batch" } };
	struct policy_input in = { .tags = tags, .ntags = 1, .now = now,
	    .tokens = 10 };

	memset(d, 0, sizeof(*d));
	policy_eval(p, &in, record, s, d);
	return d->verdict;
}

static void
test_window_across_midnight(void **state)
{
	/* Friday 22:00 to 02:00, Fridays only (UTC): Saturday 01:00 belongs
	 * to Friday's window, Sunday 01:00 to no window */
	struct policy *p = parse("{\"name\": \"q\", \"kind\": \"token_quota\", "
	    "\"max_tokens\": 100, \"window\": {\"from\": \"22:00\", \"to\": "
	    "\"02:00\", \"days\": [\"fri\"]}}", "UTC");
	struct policy_decision d;
	struct seen s = { .u = { .tokens = 95 } };

	/* 2025-06-21 is a Saturday */
	assert_int_equal(eval_at(p, at(2025, 6, 21, 1, 0), &s, &d), POLICY_DENY);
	assert_int_equal(s.calls, 1);
	assert_int_equal(s.from, at(2025, 6, 20, 22, 0));
	assert_int_equal(s.to, at(2025, 6, 21, 2, 0));
	assert_int_equal(d.reset, at(2025, 6, 21, 2, 0));
	assert_string_equal(d.reason, "token quota of 100 in 22:00-02:00 fri "
	    "reached");
	memset(&s, 0, sizeof(s));
	assert_int_equal(eval_at(p, at(2025, 6, 22, 1, 0), &s, &d), POLICY_ALLOW);
	assert_int_equal(s.calls, 0);   /* idle: no usage asked */
	assert_int_equal(d.reset, at(2025, 6, 27, 22, 0));
	/* the edges: start inclusive, end exclusive */
	assert_int_equal(eval_at(p, at(2025, 6, 20, 22, 0) - 1, &s, &d),
	    POLICY_ALLOW);
	s.u.tokens = 95;
	assert_int_equal(eval_at(p, at(2025, 6, 20, 22, 0), &s, &d), POLICY_DENY);
	assert_int_equal(eval_at(p, at(2025, 6, 21, 2, 0), &s, &d), POLICY_ALLOW);
	policy_free(p);
}

static void
test_budget_usage_bounds(void **state)
{
	struct policy *p = parse("{\"name\": \"b\", \"kind\": \"budget\", "
	    "\"period\": \"day\", \"limit_usd\": \"1.00\"}", "America/New_York");
	struct policy_decision d;
	struct seen s = { .u = { .spent = 999999999 } };

	/* 2025-11-02 12:00 EST: the day is 04:00Z to 05:00Z the next day */
	assert_int_equal(eval_at(p, at(2025, 11, 2, 17, 0), &s, &d),
	    POLICY_ALLOW);
	assert_int_equal(s.from, at(2025, 11, 2, 4, 0));
	assert_int_equal(s.to, at(2025, 11, 3, 5, 0));
	assert_int_equal(d.rule, 0);
	s.u.spent = TG_NANO_PER_USD;
	assert_int_equal(eval_at(p, at(2025, 11, 2, 17, 0), &s, &d),
	    POLICY_DENY);
	assert_string_equal(d.reason, "day budget of $1.00 is spent "
	    "(request ~$0.00)");
	policy_free(p);
}

static void
test_precedence(void **state)
{
	struct policy *p = parse(
	    "{\"name\": \"r1\", \"kind\": \"require_tags\", \"tags\": [\"team\"],"
	    " \"action\": \"report\"},"
	    "{\"name\": \"d1\", \"kind\": \"rate\", \"concurrent\": 1, "
	    " \"delay_ms\": 100},"
	    "{\"name\": \"d2\", \"kind\": \"rate\", \"concurrent\": 1, "
	    " \"delay_ms\": 300},"
	    "{\"name\": \"d3\", \"kind\": \"rate\", \"concurrent\": 1, "
	    " \"delay_ms\": 300},"
	    "{\"name\": \"p1\", \"kind\": \"pause\", \"match\": {\"purpose\": "
	    " \"ba*\"}, \"window\": {\"from\": \"00:00\", \"to\": \"12:00\"}},"
	    "{\"name\": \"x1\", \"kind\": \"require_tags\", \"tags\": "
	    " [\"team\"], \"match\": {\"purpose\": \"[b]atch\"}},"
	    "{\"name\": \"x2\", \"kind\": \"require_tags\", \"tags\": "
	    " [\"team\"]}", "UTC");
	struct policy_rule_state st[3];
	struct policy_decision d;
	struct seen s = { .u = { .concurrent = 1 } };

	/* deny beats pause; x1 comes first among equals */
	assert_int_equal(eval_at(p, at(2025, 6, 21, 1, 0), &s, &d), POLICY_DENY);
	assert_string_equal(p->rules[d.rule].name, "x1");
	assert_string_equal(d.reason, "missing tags: team");
	/* without the deny rules: pause beats the delays */
	p->nrules = 5;
	assert_int_equal(eval_at(p, at(2025, 6, 21, 1, 0), &s, &d),
	    POLICY_PAUSE);
	assert_string_equal(p->rules[d.rule].name, "p1");
	assert_int_equal(d.reset, at(2025, 6, 21, 12, 0));
	/* outside the pause: the longest delay, first of equals */
	assert_int_equal(eval_at(p, at(2025, 6, 21, 13, 0), &s, &d),
	    POLICY_DELAY);
	assert_string_equal(p->rules[d.rule].name, "d2");
	assert_int_equal(d.delay_ms, 300);
	/* no delays: the report's warn beats allow */
	s.u.concurrent = 0;
	assert_int_equal(eval_at(p, at(2025, 6, 21, 13, 0), &s, &d),
	    POLICY_WARN);
	assert_string_equal(p->rules[d.rule].name, "r1");
	/* the caller's state array is never overrun */
	memset(&d, 0, sizeof(d));
	d.states = st;
	d.cap = 3;
	struct policy_input in = { .now = at(2025, 6, 21, 13, 0) };
	policy_eval(p, &in, record, &s, &d);
	assert_int_equal(d.nstates, 3);
	assert_int_equal(d.cap, 3);
	p->nrules = 7;
	policy_free(p);
}

static void
test_selectors(void **state)
{
	struct policy *p = parse("{\"name\": \"m\", \"kind\": \"rate\", "
	    "\"concurrent\": 1, \"action\": \"deny\", \"match\": {\"model\": "
	    "[\"gpt-4*\", \"o?-mini\"], \"user\": \"alice\", \"exe\": "
	    "\"*/python3*\"}}", "UTC");
	struct policy_input in = { .model = "gpt-4o", .user = "alice",
	    .exe = "/usr/bin/python3.11" };
	struct policy_decision d = { 0 };
	struct seen s = { .u = { .concurrent = 1 } };

	policy_eval(p, &in, record, &s, &d);
	assert_int_equal(d.verdict, POLICY_DENY);
	in.model = "o3-mini";
	policy_eval(p, &in, record, &s, &d);
	assert_int_equal(d.verdict, POLICY_DENY);
	in.model = "gpt-3.5";
	policy_eval(p, &in, record, &s, &d);
	assert_int_equal(d.verdict, POLICY_ALLOW);
	assert_int_equal(d.rule, -1);
	in.model = "gpt-4o";
	in.user = NULL;         /* unknown user never matches a user glob */
	policy_eval(p, &in, record, &s, &d);
	assert_int_equal(d.rule, -1);
	policy_free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_periods),
		cmocka_unit_test(test_window_across_midnight),
		cmocka_unit_test(test_budget_usage_bounds),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_selectors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
