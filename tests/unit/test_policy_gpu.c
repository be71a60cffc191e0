/* test_policy_gpu.c — the gpu_limit rule kind: mem_cap and
 * launches_per_sec parsed (integers and binary units, exact bounds, one
 * error naming the rule and key), printed back in normal form, and
 * evaluated: it allows, matches only GPU requests, never makes an LLM
 * request refusable, and its limits show in the per-rule state. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "policy.h"

static char err[512];

static struct policy *
parse_rule(const char *keys)
{
	char text[2048];

	snprintf(text, sizeof(text), "{\"schema_version\": 1, \"timezone\": "
	    "\"UTC\", \"rules\": [{\"name\": \"g\", \"kind\": \"gpu_limit\"%s%s}]}",
	    *keys ? ", " : "", keys);
	err[0] = '\0';
	return policy_parse("t.json", text, strlen(text), err, sizeof(err));
}

/* mem_cap of a rule that parses. */
static uint64_t
cap_of(const char *value)
{
	char keys[256];
	struct policy *p;
	uint64_t v;

	snprintf(keys, sizeof(keys), "\"mem_cap\": %s", value);
	p = parse_rule(keys);
	if (p == NULL)
		fail_msg("%s: %s", value, err);
	v = p->rules[0].mem_cap;
	assert_int_equal(p->rules[0].launches_per_sec, 0);
	policy_free(p);
	return v;
}

static void
test_mem_cap_values(void **state)
{
	assert_int_equal(cap_of("4096"), 4096);
	assert_int_equal(cap_of("\"4096\""), 4096);
	assert_int_equal(cap_of("\"64KiB\""), 65536);
	assert_int_equal(cap_of("\"512MiB\""), 536870912ULL);
	assert_int_equal(cap_of("\"8GiB\""), 8589934592ULL);
	assert_int_equal(cap_of("\"1TiB\""), 1099511627776ULL);
	/* the bound, both ways of writing it */
	assert_int_equal(cap_of("\"1024TiB\""), 1ULL << 50);
	assert_int_equal(cap_of("1125899906842624"), 1ULL << 50);
	assert_int_equal(cap_of("1"), 1);
}

#define CAP_ERR "t.json: rules[0].mem_cap: expected a positive integer of " \
    "bytes or a string like \"512MiB\" or \"8GiB\" (units KiB, MiB, GiB, " \
    "TiB), at most 1125899906842624"

static void
bad(const char *keys, const char *want)
{
	struct policy *p = parse_rule(keys);

	if (p != NULL)
		fail_msg("%s: parsed", keys);
	assert_string_equal(err, want);
}

static void
test_mem_cap_refused(void **state)
{
	static const char *const values[] = { "0", "-4096", "1.5", "\"\"",
	    "\"8GB\"", "\"8 GiB\"", "\"8gib\"", "\"GiB\"", "\"0MiB\"",
	    "\"-1KiB\"", "\"1025TiB\"", "\"1048577GiB\"", "1125899906842625",
	    "\"1125899906842625\"", "\"99999999999999999TiB\"", "true",
	    "[4096]", "\"8GiB \"", "\"8PiB\"" };
	char keys[128];

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		snprintf(keys, sizeof(keys), "\"mem_cap\": %s", values[i]);
		bad(keys, CAP_ERR);
	}
}

static void
test_launches_and_keys(void **state)
{
	struct policy *p = parse_rule("\"launches_per_sec\": 1000000000, "
	    "\"mem_cap\": \"2GiB\", \"match\": {\"team\": \"ml\"}");

	assert_non_null(p);
	assert_int_equal(p->rules[0].kind, POLICY_K_GPU_LIMIT);
	assert_int_equal(p->rules[0].launches_per_sec, 1000000000);
	assert_int_equal(p->rules[0].mem_cap, 2147483648ULL);
	policy_free(p);
	bad("\"launches_per_sec\": 0", "t.json: rules[0].launches_per_sec: "
	    "expected a positive integer, at most 1000000000");
	bad("\"launches_per_sec\": 1000000001", "t.json: "
	    "rules[0].launches_per_sec: expected a positive integer, at most "
	    "1000000000");
	bad("\"launches_per_sec\": \"100\"", "t.json: "
	    "rules[0].launches_per_sec: expected a positive integer, at most "
	    "1000000000");
	bad("", "t.json: rules[0].mem_cap: expected at least one of mem_cap, "
	    "launches_per_sec");
	bad("\"mem_cap\": 1, \"window\": {\"from\": \"01:00\", \"to\": "
	    "\"02:00\"}", "t.json: rules[0]: unknown key 'window'");
	bad("\"mem_cap\": 1, \"action\": \"deny\"",
	    "t.json: rules[0]: unknown key 'action'");
}

/* show → "8GiB" where a unit divides it, else the integer; re-parses. */
static void
test_print_back(void **state)
{
	struct policy *p = parse_rule("\"mem_cap\": 8589934592, "
	    "\"launches_per_sec\": 250");
	struct policy *q;
	char *s, *s2, b[32];

	assert_non_null(p);
	s = policy_show(p);
	assert_non_null(strstr(s, "\"kind\": \"gpu_limit\",\n      \"match\": "
	    "{},\n      \"mem_cap\": \"8GiB\",\n      \"launches_per_sec\": 250,"
	    "\n      \"fail\": \"open\""));
	q = policy_parse("s.json", s, strlen(s), err, sizeof(err));
	assert_non_null(q);
	s2 = policy_show(q);
	assert_string_equal(s, s2);
	free(s);
	free(s2);
	policy_free(p);
	policy_free(q);
	policy_fmt_bytes(4097, b, sizeof(b));
	assert_string_equal(b, "4097");
	policy_fmt_bytes(3ULL << 30 | 1ULL << 20, b, sizeof(b));
	assert_string_equal(b, "3073MiB");
	policy_fmt_bytes(1ULL << 50, b, sizeof(b));
	assert_string_equal(b, "1024TiB");
	p = parse_rule("\"mem_cap\": 4097");
	s = policy_show(p);
	assert_non_null(strstr(s, "\"mem_cap\": 4097,"));
	free(s);
	policy_free(p);
}

static void
test_eval(void **state)
{
	struct policy *p = parse_rule("\"mem_cap\": \"40GiB\", "
	    "\"launches_per_sec\": 5000, \"match\": {\"team\": \"ml\"}");
	struct policy_tag tag = { "team", "ml" };
	struct policy_input in = { .tags = &tag, .ntags = 1,
		.kind = POLICY_GPU };
	struct policy_rule_state st[2];
	struct policy_decision d = { .states = st, .cap = 2 };

	policy_eval(p, &in, NULL, NULL, &d);
	assert_int_equal(d.verdict, POLICY_ALLOW);
	assert_int_equal(d.rule, 0);
	assert_int_equal(d.nstates, 1);
	assert_int_equal(st[0].flags, POLICY_HAS_GPU);
	assert_string_equal(d.reason, "GPU memory capped at 40GiB, 5000 "
	    "launches/s");
	/* LLM requests: no match, and nothing to admit */
	in.kind = POLICY_LLM;
	policy_eval(p, &in, NULL, NULL, &d);
	assert_int_equal(d.rule, -1);
	assert_int_equal(d.nstates, 0);
	assert_int_equal(policy_may_refuse_llm(p, &in), 0);
	/* another team: no match either */
	in.kind = POLICY_GPU;
	tag.value = "web";
	policy_eval(p, &in, NULL, NULL, &d);
	assert_int_equal(d.rule, -1);
	/* no window, no period: no edge */
	assert_int_equal(policy_next_edge(p, 1750000000LL * 1000000000LL), 0);
	policy_free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mem_cap_values),
		cmocka_unit_test(test_mem_cap_refused),
		cmocka_unit_test(test_launches_and_keys),
		cmocka_unit_test(test_print_back),
		cmocka_unit_test(test_eval),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
