/*
 * policy_bench.c — cost of one policy evaluation (an admission) with 50
 * rules of every kind, next to two baselines run interleaved in the same
 * process: the same loop with a policy of 0 rules (the fixed cost: zone
 * lookup, tag slots, decision) and a plain loop comparing the request's tag
 * string with 50 strings (what the cheapest possible "policy" costs).
 * usage: policy_bench [--iters N]     (target: ≤ 2 µs per evaluation)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy.h"

#define NRULES 50

static const char *const kinds[] = {
	/* budget */ "\"kind\": \"budget\", \"period\": \"%s\", "
	    "\"soft_usd\": \"40\", \"limit_usd\": \"50\"",
	/* quota */ "\"kind\": \"token_quota\", \"max_tokens\": 10000, "
	    "\"window\": {\"from\": \"19:00\", \"to\": \"07:00\"}",
	/* rate */ "\"kind\": \"rate\", \"requests_per_min\": 600, "
	    "\"concurrent\": 8, \"action\": \"delay\", \"delay_ms\": 250",
	/* pause */ "\"kind\": \"pause\", \"window\": {\"from\": \"09:00\", "
	    "\"to\": \"18:00\", \"days\": [\"mon\",\"tue\",\"wed\",\"thu\","
	    "\"fri\"]}",
	/* require_tags */ "\"kind\": \"require_tags\", \"tags\": [\"team\", "
	    "\"purpose\"], \"action\": \"report\"",
};

static char *
make_policy(int n)
{
	static const char *const periods[] = { "day", "week", "month" };
	size_t cap = 64 * 1024, len = 0;
	char *s = malloc(cap), body[512];

	len += snprintf(s + len, cap - len, "{\"schema_version\": 1, "
	    "\"timezone\": \"Europe/Berlin\", \"rules\": [");
	for (int i = 0; i < n; i++) {
		/* half the rules match team=t7: globs, exact names, models */
		const char *m = i % 4 == 0 ? "\"team\": \"t*\"" :
		    i % 4 == 1 ? "\"team\": \"t%d\"" :
		    i % 4 == 2 ? "\"model\": [\"gpt-4*\", \"claude-*\"]" :
		    "\"team\": \"t[0-9]\", \"purpose\": \"batch\"";
		char match[128];
		snprintf(match, sizeof(match), m, i);
		snprintf(body, sizeof(body), kinds[i % 5], periods[i % 3]);
		len += snprintf(s + len, cap - len, "%s{\"name\": \"r%d\", "
		    "\"match\": {%s}, %s}", i ? "," : "", i, match, body);
	}
	snprintf(s + len, cap - len, "]}");
	return s;
}

static void
usage_cb(void *arg, int rule, int64_t from, int64_t to, struct policy_usage *u)
{
	u->spent = 12 * TG_NANO_PER_USD + rule;
	u->tokens = 500;
	u->rpm = 10;
	u->concurrent = 1;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static volatile int sink;

static double
run_eval(const struct policy *p, long iters, int lazy)
{
	struct policy_tag tags[] = { { "team", "t7" }, { "purpose", "batch" } };
	struct policy_input in = { .tags = tags, .ntags = 2, .model = "gpt-4o",
	    .provider = "openai", .cost = 2500000, .tokens = 800,
	    /* Wed 2025-06-11 12:00Z: inside the pause window */
	    .now = 1749643200LL * 1000000000LL };
	struct policy_decision d = { .lazy_reason = lazy };
	double t0 = now_s();

	for (long i = 0; i < iters; i++) {
		in.now += 1000000;      /* 1 ms later each time */
		policy_eval(p, &in, usage_cb, NULL, &d);
		sink += d.verdict;
	}
	return (now_s() - t0) / iters * 1e9;
}

static double
run_strcmp(long iters)
{
	static char names[NRULES][16];
	const char *volatile tag = "team=t7";
	double t0 = now_s();

	for (int i = 0; i < NRULES; i++)
		snprintf(names[i], sizeof(names[i]), "team=t%d", i);
	for (long i = 0; i < iters; i++)
		for (int k = 0; k < NRULES; k++)
			sink += strcmp(tag, names[k]) == 0;
	return (now_s() - t0) / iters * 1e9;
}

int
main(int argc, char **argv)
{
	long iters = 200000;
	char err[512], *t0 = make_policy(0), *t50 = make_policy(NRULES);
	struct policy *p0, *p50;

	if (argc == 3 && strcmp(argv[1], "--iters") == 0)
		iters = atol(argv[2]);
	p0 = policy_parse("bench0", t0, strlen(t0), err, sizeof(err));
	p50 = p0 ? policy_parse("bench50", t50, strlen(t50), err,
	    sizeof(err)) : NULL;
	if (p50 == NULL) {
		fprintf(stderr, "policy_bench: %s\n", err);
		return 1;
	}
	run_eval(p50, iters / 10, 1);      /* warm up */
	for (int round = 1; round <= 3; round++) {
		double base = run_strcmp(iters), zero = run_eval(p0, iters, 1),
		    full = run_eval(p50, iters, 1),
		    text = run_eval(p50, iters, 0);
		printf("policy eval round %d: %d rules %7.1f ns/eval (with the "
		    "reason text %7.1f) | 0 rules %6.1f | baseline %d strcmp "
		    "%6.1f\n", round, NRULES, full, text, zero, NRULES, base);
	}
	policy_free(p0);
	policy_free(p50);
	free(t0);
	free(t50);
	return 0;
}
