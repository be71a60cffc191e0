/* test_policy_match.c — what the daemon's per-rule counters ask the policy
 * engine (policy.h, policy_match.c): the span a rule counts in at a time
 * (day/week/month/total periods, windows across midnight and in a DST
 * gap, America/New_York), that it is exactly the span policy_eval hands
 * its usage callback, the next edge of any rule, which rules an input
 * matches, and the "k=v,k=v" tag syntax. */
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
	static char text[64 * 1024];
	char err[512];
	struct policy *p;

	snprintf(text, sizeof(text), "{\"schema_version\": 1, \"timezone\": "
	    "\"%s\", \"rules\": [%s]}", zone, rules);
	p = policy_parse("t.json", text, strlen(text), err, sizeof(err));
	if (p == NULL)
		fail_msg("%s", err);
	return p;
}

/* One rule of every kind, New York time. */
static const char ny_rules[] =
    "{\"name\": \"day\", \"kind\": \"budget\", \"period\": \"day\","
    " \"limit_usd\": 1},"
    "{\"name\": \"week\", \"kind\": \"budget\", \"period\": \"week\","
    " \"limit_usd\": 1},"
    "{\"name\": \"month\", \"kind\": \"budget\", \"period\": \"month\","
    " \"limit_usd\": 1},"
    "{\"name\": \"sb\", \"kind\": \"sandbox\", \"limit_usd\": 1},"
    "{\"name\": \"night\", \"kind\": \"token_quota\", \"max_tokens\": 100,"
    " \"window\": {\"from\": \"19:00\", \"to\": \"07:00\"}},"
    "{\"name\": \"daily\", \"kind\": \"token_quota\", \"max_tokens\": 100},"
    "{\"name\": \"gap\", \"kind\": \"token_quota\", \"max_tokens\": 100,"
    " \"window\": {\"from\": \"02:30\", \"to\": \"04:00\"}},"
    "{\"name\": \"rate\", \"kind\": \"rate\", \"requests_per_min\": 10},"
    "{\"name\": \"pause\", \"kind\": \"pause\", \"window\": {\"from\":"
    " \"09:00\", \"to\": \"17:00\", \"days\": [\"mon\", \"tue\", \"wed\","
    " \"thu\", \"fri\"]}},"
    "{\"name\": \"req\", \"kind\": \"require_tags\", \"tags\": [\"team\"]}";

enum { R_DAY, R_WEEK, R_MONTH, R_SB, R_NIGHT, R_DAILY, R_GAP, R_RATE,
	R_PAUSE, R_REQ, NRULES };

static void
span_is(const struct policy *p, int rule, int64_t t, int ret, int64_t from,
    int64_t to)
{
	int64_t f = -1, e = -1;

	assert_int_equal(policy_rule_span(p, rule, t, &f, &e), ret);
	assert_int_equal(f, from);
	assert_int_equal(e, to);
}

static void
test_span_periods(void **state)
{
	struct policy *p = parse(ny_rules, "America/New_York");
	/* Sunday 2025-03-09 12:00 EDT, the spring-forward day */
	int64_t t = at(2025, 3, 9, 16, 0);

	/* the 23-hour day: 00:00 EST (05:00Z) to 00:00 EDT (04:00Z) */
	span_is(p, R_DAY, t, 1, at(2025, 3, 9, 5, 0), at(2025, 3, 10, 4, 0));
	/* the 167-hour week from Monday 03-03 */
	span_is(p, R_WEEK, t, 1, at(2025, 3, 3, 5, 0), at(2025, 3, 10, 4, 0));
	span_is(p, R_MONTH, t, 1, at(2025, 3, 1, 5, 0), at(2025, 4, 1, 4, 0));
	span_is(p, R_SB, t, 1, 0, 0);                  /* total */
	span_is(p, R_DAILY, t, 1, at(2025, 3, 9, 5, 0), at(2025, 3, 10, 4, 0));
	/* the 25-hour day of the fall-back */
	span_is(p, R_DAY, at(2025, 11, 2, 17, 0), 1, at(2025, 11, 2, 4, 0),
	    at(2025, 11, 3, 5, 0));
	/* a week starts on Monday 00:00: Sunday 23:59 EDT is the old week */
	span_is(p, R_WEEK, at(2025, 3, 17, 3, 59), 1, at(2025, 3, 10, 4, 0),
	    at(2025, 3, 17, 4, 0));
	span_is(p, R_WEEK, at(2025, 3, 17, 4, 0), 1, at(2025, 3, 17, 4, 0),
	    at(2025, 3, 24, 4, 0));
	/* kinds that count nothing, and a rule that does not exist */
	span_is(p, R_RATE, t, 0, 0, 0);
	span_is(p, R_PAUSE, t, 0, 0, 0);
	span_is(p, R_REQ, t, 0, 0, 0);
	span_is(p, NRULES, t, 0, 0, 0);
	span_is(p, -1, t, 0, 0, 0);
	policy_free(p);
}

static void
test_span_windows(void **state)
{
	struct policy *p = parse(ny_rules, "America/New_York");

	/* 19:00-07:00 across midnight and the spring-forward: Saturday
	 * 19:00 EST (00:00Z) to Sunday 07:00 EDT (11:00Z), 11 hours; the
	 * same instance before and after midnight */
	span_is(p, R_NIGHT, at(2025, 3, 9, 4, 30), 1, at(2025, 3, 9, 0, 0),
	    at(2025, 3, 9, 11, 0));
	span_is(p, R_NIGHT, at(2025, 3, 9, 6, 0), 1, at(2025, 3, 9, 0, 0),
	    at(2025, 3, 9, 11, 0));
	/* start inclusive, end exclusive; outside: 0 with no bounds */
	span_is(p, R_NIGHT, at(2025, 3, 9, 0, 0), 1, at(2025, 3, 9, 0, 0),
	    at(2025, 3, 9, 11, 0));
	span_is(p, R_NIGHT, at(2025, 3, 9, 0, 0) - 1, 0, 0, 0);
	span_is(p, R_NIGHT, at(2025, 3, 9, 11, 0), 0, 0, 0);
	span_is(p, R_NIGHT, at(2025, 3, 9, 16, 0), 0, 0, 0);
	/* 02:30 lies in the gap: the window starts at 03:00 EDT (07:00Z) */
	span_is(p, R_GAP, at(2025, 3, 9, 7, 30), 1, at(2025, 3, 9, 7, 0),
	    at(2025, 3, 9, 8, 0));
	span_is(p, R_GAP, at(2025, 3, 9, 7, 0) - 1, 0, 0, 0);
	/* the fall-back: 02:30-04:00 EST is 07:30Z to 09:00Z */
	span_is(p, R_GAP, at(2025, 11, 2, 8, 0), 1, at(2025, 11, 2, 7, 30),
	    at(2025, 11, 2, 9, 0));
	policy_free(p);
}

/* policy_eval's usage callback, remembering what it was handed per rule */
struct seen {
	int called[NRULES];
	int64_t from[NRULES], to[NRULES];
};

static void
record(void *arg, int rule, int64_t from, int64_t to, struct policy_usage *u)
{
	struct seen *s = arg;

	s->called[rule]++;
	s->from[rule] = from;
	s->to[rule] = to;
}

/* Every 37 minutes for ten days over both DST changes: the span of each
 * counting rule is exactly what policy_eval hands the callback, and the
 * callback is asked exactly when the span exists. */
static void
test_span_is_evals(void **state)
{
	struct policy *p = parse(ny_rules, "America/New_York");
	int64_t starts[] = { at(2025, 3, 4, 0, 0), at(2025, 10, 28, 0, 0) };
	int checked = 0;

	for (int k = 0; k < 2; k++)
		for (int64_t t = starts[k]; t < starts[k] + 240 * H * NS;
		    t += 37 * 60 * NS + 1) {
			struct policy_input in = { .now = t };
			struct policy_decision d = { .lazy_reason = 1 };
			struct seen s;

			memset(&s, 0, sizeof(s));
			policy_eval(p, &in, record, &s, &d);
			for (int i = 0; i < R_RATE; i++) {
				int64_t f, e;
				int r = policy_rule_span(p, i, t, &f, &e);
				assert_int_equal(s.called[i], r);
				if (r) {
					assert_int_equal(s.from[i], f);
					assert_int_equal(s.to[i], e);
					checked++;
				}
			}
		}
	/* 2 × 390 instants × 4 period rules, plus windows' active ones */
	assert_true(checked > 2 * 390 * 4);
	policy_free(p);
}

static void
test_next_edge(void **state)
{
	struct policy *p = parse(
	    "{\"name\": \"pause\", \"kind\": \"pause\", \"window\": {\"from\":"
	    " \"09:00\", \"to\": \"17:00\", \"days\": [\"mon\", \"tue\", \"wed\","
	    " \"thu\", \"fri\"]}},"
	    "{\"name\": \"day\", \"kind\": \"budget\", \"period\": \"day\","
	    " \"limit_usd\": 1}", "UTC");
	struct policy *ny = parse(ny_rules, "America/New_York");
	struct policy *none = parse(
	    "{\"name\": \"sb\", \"kind\": \"sandbox\", \"limit_usd\": 1},"
	    "{\"name\": \"r\", \"kind\": \"rate\", \"concurrent\": 1},"
	    "{\"name\": \"q\", \"kind\": \"require_tags\", \"tags\": [\"a\"]}",
	    "UTC");

	/* Wednesday 2025-06-11: inside the pause it closes at 17:00 */
	assert_int_equal(policy_next_edge(p, at(2025, 6, 11, 12, 0)),
	    at(2025, 6, 11, 17, 0));
	assert_int_equal(policy_next_edge(p, at(2025, 6, 11, 17, 0) - 1),
	    at(2025, 6, 11, 17, 0));
	/* after it: the day ends before the next pause opens */
	assert_int_equal(policy_next_edge(p, at(2025, 6, 11, 17, 0)),
	    at(2025, 6, 12, 0, 0));
	/* without the budget: Friday evening → Monday 09:00 */
	p->nrules = 1;
	assert_int_equal(policy_next_edge(p, at(2025, 6, 13, 18, 0)),
	    at(2025, 6, 16, 9, 0));
	assert_int_equal(policy_next_edge(p, at(2025, 6, 16, 9, 0) - 1),
	    at(2025, 6, 16, 9, 0));
	p->nrules = 2;
	/* New York, Sunday 2025-03-09 01:00 EST: the night window closes at
	 * 07:00 EDT (11:00Z), before the day (04:00Z on the 10th) */
	assert_int_equal(policy_next_edge(ny, at(2025, 3, 9, 6, 0)),
	    at(2025, 3, 9, 7, 0));      /* the gap window opens at 03:00 EDT */
	assert_int_equal(policy_next_edge(ny, at(2025, 3, 9, 7, 0)),
	    at(2025, 3, 9, 8, 0));      /* ... and closes at 04:00 EDT */
	assert_int_equal(policy_next_edge(ny, at(2025, 3, 9, 8, 0)),
	    at(2025, 3, 9, 11, 0));
	/* Sunday noon: the day ends (the pause is mon-fri, the night window
	 * opens at 19:00 EDT = 23:00Z) */
	assert_int_equal(policy_next_edge(ny, at(2025, 3, 9, 16, 0)),
	    at(2025, 3, 9, 23, 0));
	/* nothing with an edge: total, rate, require_tags */
	assert_int_equal(policy_next_edge(none, at(2025, 6, 11, 12, 0)), 0);
	policy_free(p);
	policy_free(ny);
	policy_free(none);
}

static void
test_match_set(void **state)
{
	struct policy *p = parse(
	    "{\"name\": \"team\", \"kind\": \"budget\", \"period\": \"day\","
	    " \"limit_usd\": 1, \"match\": {\"team\": \"search*\"}},"
	    "{\"name\": \"user\", \"kind\": \"budget\", \"period\": \"day\","
	    " \"limit_usd\": 1, \"match\": {\"user\": \"alice\"}},"
	    "{\"name\": \"untag\", \"kind\": \"budget\", \"period\": \"day\","
	    " \"limit_usd\": 1, \"match\": {\"untagged\": true}},"
	    "{\"name\": \"tagged\", \"kind\": \"budget\", \"period\": \"day\","
	    " \"limit_usd\": 1, \"match\": {\"untagged\": false}},"
	    "{\"name\": \"gpu\", \"kind\": \"rate\", \"concurrent\": 1,"
	    " \"match\": {\"kind\": \"gpu\"}},"
	    "{\"name\": \"all\", \"kind\": \"rate\", \"concurrent\": 1},"
	    "{\"name\": \"model\", \"kind\": \"budget\", \"period\": \"day\","
	    " \"limit_usd\": 1, \"match\": {\"model\": [\"gpt-4*\", \"claude-*\"],"
	    " \"provider\": \"openai\"}},"
	    "{\"name\": \"exe\", \"kind\": \"rate\", \"concurrent\": 1,"
	    " \"match\": {\"exe\": \"/usr/bin/py*\"}}", "UTC");
	struct policy_tag ta[] = { { "purpose", "x" }, { "team", "search-a" } };
	struct policy_tag tc[] = { { "team", "" } };
	struct policy_input a = { .tags = ta, .ntags = 2, .user = "alice",
	    .model = "gpt-4o", .provider = "openai", .kind = POLICY_LLM };
	struct policy_input b = { .user = "bob", .kind = POLICY_GPU,
	    .exe = "/usr/bin/python3" };
	struct policy_input c = { .tags = tc, .ntags = 1 };
	uint64_t set[POLICY_SET_WORDS];

	policy_match_set(p, &a, set);   /* team user tagged all model */
	assert_int_equal(set[0], 0x6b);
	assert_int_equal(set[1] | set[2] | set[3], 0);
	policy_match_set(p, &b, set);   /* untag gpu all exe */
	assert_int_equal(set[0], 0xb4);
	/* an empty value is no tag; no user matches no user glob */
	policy_match_set(p, &c, set);   /* untag all */
	assert_int_equal(set[0], 0x24);
	a.provider = "azure";           /* both model selectors must hold */
	policy_match_set(p, &a, set);
	assert_int_equal(set[0], 0x2b);
	policy_free(p);
}

/* Could a rule hold an LLM request of this process, whatever model it
 * names? Report-only and soft-only rules cannot; model and provider
 * selectors count as matching; tags, user and exe decide. */
static void
test_may_refuse_llm(void **state)
{
	struct policy *soft = parse(
	    "{\"name\": \"soft\", \"kind\": \"budget\", \"period\": \"day\","
	    " \"soft_usd\": 1},"
	    "{\"name\": \"tags\", \"kind\": \"require_tags\", \"tags\":"
	    " [\"team\"], \"action\": \"report\"}", "UTC");
	struct policy *p = parse(
	    "{\"name\": \"gpt\", \"kind\": \"budget\", \"period\": \"day\","
	    " \"limit_usd\": 1, \"match\": {\"model\": \"gpt-4*\","
	    " \"team\": \"search\"}},"
	    "{\"name\": \"gpu\", \"kind\": \"rate\", \"concurrent\": 1,"
	    " \"match\": {\"kind\": \"gpu\", \"user\": \"bob\"}},"
	    "{\"name\": \"closed\", \"kind\": \"budget\", \"period\": \"day\","
	    " \"soft_usd\": 1, \"fail\": \"closed\", \"match\": {\"exe\":"
	    " \"/opt/agent*\"}}", "UTC");
	struct policy_tag search[] = { { "team", "search" } };
	struct policy_tag ads[] = { { "team", "ads" } };
	struct policy_input in = { .tags = search, .ntags = 1,
	    .kind = POLICY_GPU };

	assert_int_equal(policy_may_refuse_llm(soft, &in), 0);
	assert_int_equal(policy_may_refuse_llm(p, &in), 1);    /* gpt */
	in.tags = ads;
	assert_int_equal(policy_may_refuse_llm(p, &in), 0);
	in.user = "bob";        /* "gpu" never matches an LLM request */
	assert_int_equal(policy_may_refuse_llm(p, &in), 0);
	in.exe = "/opt/agent";  /* a soft budget that fails closed */
	assert_int_equal(policy_may_refuse_llm(p, &in), 1);
	policy_free(soft);
	policy_free(p);
}

/* Bits past the first word: rule 65 of 70 */
static void
test_match_set_words(void **state)
{
	static char rules[32 * 1024];
	size_t len = 0;
	struct policy *p;
	struct policy_tag t[] = { { "team", "x" } };
	struct policy_input in = { .tags = t, .ntags = 1 };
	uint64_t set[POLICY_SET_WORDS];

	for (int i = 0; i < 70; i++)
		len += snprintf(rules + len, sizeof(rules) - len, "%s{\"name\": "
		    "\"r%d\", \"kind\": \"rate\", \"concurrent\": 1, \"match\": "
		    "{\"team\": \"%s\"}}", i ? "," : "", i, i == 65 ? "x" : "y");
	p = parse(rules, "UTC");
	policy_match_set(p, &in, set);
	assert_int_equal(set[0], 0);
	assert_int_equal(set[1], 2);
	assert_int_equal(set[2], 0);
	assert_int_equal(set[3], 0);
	policy_free(p);
}

static void
test_tags_parse(void **state)
{
	struct policy_tag t[4];
	char buf[64];

	assert_int_equal(policy_tags_parse("team=search,purpose=batch", buf,
	    sizeof(buf), t, 4), 2);
	assert_string_equal(t[0].key, "team");
	assert_string_equal(t[0].value, "search");
	assert_string_equal(t[1].key, "purpose");
	assert_string_equal(t[1].value, "batch");
	/* no '=', an empty key, an empty pair: skipped; an empty value kept */
	assert_int_equal(policy_tags_parse("a=1,,noeq,=v,b=,c=3=4", buf,
	    sizeof(buf), t, 4), 3);
	assert_string_equal(t[0].key, "a");
	assert_string_equal(t[0].value, "1");
	assert_string_equal(t[1].key, "b");
	assert_string_equal(t[1].value, "");
	assert_string_equal(t[2].key, "c");
	assert_string_equal(t[2].value, "3=4");
	/* at most cap */
	assert_int_equal(policy_tags_parse("a=1,b=2,c=3", buf, sizeof(buf), t,
	    2), 2);
	assert_string_equal(t[1].key, "b");
	/* too long for buf: whole pairs only, never a cut value */
	assert_int_equal(policy_tags_parse("team=search,purpose=batch", buf,
	    20, t, 4), 1);
	assert_string_equal(t[0].value, "search");
	assert_int_equal(policy_tags_parse("a=1,b=2", buf, 4, t, 4), 1);
	assert_string_equal(t[0].value, "1");
	assert_int_equal(policy_tags_parse("a=1", buf, 4, t, 4), 1);
	assert_int_equal(policy_tags_parse("abcdef=1", buf, 4, t, 4), 0);
	assert_int_equal(policy_tags_parse("", buf, sizeof(buf), t, 4), 0);
	assert_int_equal(policy_tags_parse(NULL, buf, sizeof(buf), t, 4), 0);
	assert_int_equal(policy_tags_parse(",a=", buf, sizeof(buf), t, 4), 1);
	assert_string_equal(t[0].key, "a");
	assert_string_equal(t[0].value, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_span_periods),
		cmocka_unit_test(test_span_windows),
		cmocka_unit_test(test_span_is_evals),
		cmocka_unit_test(test_next_edge),
		cmocka_unit_test(test_match_set),
		cmocka_unit_test(test_match_set_words),
		cmocka_unit_test(test_may_refuse_llm),
		cmocka_unit_test(test_tags_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
