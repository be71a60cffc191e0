/* test_rules.c — the daemon's per-rule usage counters (ctl/daemon/rules.c)
 * and their warm-up from the ledger (ledger_scan): exact sums of reserve,
 * unreserve, settle and unsettle per matching rule; a record of an earlier
 * span (or of one not begun) counted nowhere; a later span rolling spent
 * over while reserved stays; rate slots sliding over 60 s of an injected
 * monotonic clock; rules_settle saying 1 exactly when a hard limit is
 * reached; rules_load summing a real SQLite ledger for the current spans
 * only. Time is T0 = Friday 2025-09-05 00:00Z (ledger_fixture.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "ledger.h"
#include "ledger_fixture.h"
#include "log.h"
#include "rules.h"

#define USD 1000000000LL        /* nano-USD */
#define DAY (24 * HOUR)
#define SEP1 (T0 - 4 * DAY)     /* 2025-09-01 00:00Z */
#define OCT1 (SEP1 + 30 * DAY)

static const char rules_json[] =
    "{\"schema_version\": 1, \"timezone\": \"UTC\", \"rules\": ["
    "{\"name\": \"team-day\", \"kind\": \"budget\", \"period\": \"day\","
    " \"limit_usd\": 1, \"match\": {\"team\": \"search\"}},"
    "{\"name\": \"team-month\", \"kind\": \"budget\", \"period\": \"month\","
    " \"limit_usd\": 10, \"match\": {\"team\": \"search\"}},"
    "{\"name\": \"untag\", \"kind\": \"budget\", \"period\": \"day\","
    " \"limit_usd\": 1, \"match\": {\"untagged\": true}},"
    "{\"name\": \"night\", \"kind\": \"token_quota\", \"max_tokens\": 1000,"
    " \"window\": {\"from\": \"22:00\", \"to\": \"02:00\"}},"
    "{\"name\": \"rate\", \"kind\": \"rate\", \"requests_per_min\": 100,"
    " \"tokens_per_min\": 5000, \"concurrent\": 4,"
    " \"match\": {\"kind\": \"llm\"}},"
    "{\"name\": \"root\", \"kind\": \"budget\", \"period\": \"day\","
    " \"limit_usd\": 1, \"match\": {\"user\": \"root\"}},"
    "{\"name\": \"nouser\", \"kind\": \"budget\", \"period\": \"day\","
    " \"limit_usd\": 1, \"match\": {\"user\": \"4000000\"}},"
    "{\"name\": \"pause\", \"kind\": \"pause\", \"window\": {\"from\":"
    " \"09:00\", \"to\": \"17:00\"}},"
    "{\"name\": \"gpu\", \"kind\": \"sandbox\", \"limit_usd\": 2,"
    " \"match\": {\"kind\": \"gpu\"}},"
    "{\"name\": \"soft\", \"kind\": \"budget\", \"period\": \"day\","
    " \"soft_usd\": \"0.5\", \"match\": {\"team\": \"soft\"}}"
    "]}";

enum { TEAM_DAY, TEAM_MONTH, UNTAG, NIGHT, RATE, ROOT, NOUSER, PAUSE, GPU,
	SOFT, NRULES };

/* team=search as root, an LLM request */
static const struct rules_subject A = { .tags = "team=search,purpose=batch",
	.uid = 0, .model = "gpt-4o", .provider = "openai", .kind = POLICY_LLM };
/* tagged, not root, a GPU process */
static const struct rules_subject G = { .tags = "x=y", .uid = 1,
	.kind = POLICY_GPU };
/* team=soft, a soft threshold only */
static const struct rules_subject S = { .tags = "team=soft", .uid = 1,
	.kind = POLICY_LLM };

static struct policy *
policy(void)
{
	char err[512];
	struct policy *p = policy_parse("t.json", rules_json,
	    strlen(rules_json), err, sizeof(err));

	if (p == NULL)
		fail_msg("%s", err);
	assert_int_equal(p->nrules, NRULES);
	return p;
}

static void
load(struct rules *R, const struct policy *p, struct ledger *lg, int64_t now)
{
	char err[512] = "";

	if (rules_load(R, p, lg, now, err, sizeof(err)) != 0)
		fail_msg("rules_load: %s", err);
}

static void
subject_set(const struct policy *p, const struct rules_subject *s,
    uint64_t set[POLICY_SET_WORDS])
{
	struct rules_input ri;

	rules_input_fill(&ri, s, T0);
	policy_match_set(p, &ri.in, set);
}

/* What policy_eval would see for rule i at now/mono (rules_peek). */
static struct policy_usage
peek(struct rules *R, int i, int64_t now, int64_t mono)
{
	struct policy_usage u;
	int64_t from, to;

	assert_int_equal(rules_peek(R, i, now, mono, &from, &to, &u), 0);
	return u;
}

static void
span_is(struct rules *R, int i, int64_t now, int64_t from, int64_t to)
{
	struct policy_usage u;
	int64_t f, t;

	assert_int_equal(rules_peek(R, i, now, 0, &f, &t, &u), 0);
	assert_int_equal(f, from);
	assert_int_equal(t, to);
}

static void
test_input_fill(void **state)
{
	struct rules_subject s = { .tags = "team=search,purpose=batch",
	    .uid = 0, .exe = "", .model = "gpt-4o", .kind = POLICY_GPU };
	struct rules_input ri;

	rules_input_fill(&ri, &s, 123);
	assert_int_equal(ri.in.ntags, 2);
	assert_ptr_equal(ri.in.tags, ri.tagv);
	assert_string_equal(ri.tagv[1].key, "purpose");
	assert_string_equal(ri.tagv[1].value, "batch");
	assert_string_equal(ri.in.user, "root");
	assert_null(ri.in.exe);         /* "" is unknown */
	assert_string_equal(ri.in.model, "gpt-4o");
	assert_null(ri.in.provider);
	assert_int_equal(ri.in.kind, POLICY_GPU);
	assert_int_equal(ri.in.mode, POLICY_MODE_ENFORCE);
	assert_int_equal(ri.in.now, 123);
	assert_int_equal(ri.in.cost, 0);
	assert_int_equal(ri.in.tokens, 0);
	/* a uid without a name is its number, also when cached */
	s.uid = 4000000;
	s.tags = NULL;
	rules_input_fill(&ri, &s, 0);
	assert_string_equal(ri.in.user, "4000000");
	assert_int_equal(ri.in.ntags, 0);
	rules_input_fill(&ri, &s, 0);
	assert_string_equal(ri.in.user, "4000000");
}

static void
test_sums(void **state)
{
	struct policy *p = policy();
	struct rules R;
	struct policy_usage u;
	uint64_t set[POLICY_SET_WORDS], cnt[POLICY_SET_WORDS];
	int64_t now = T0 + 12 * HOUR, mono = 1000 * SEC, f, t;

	load(&R, p, NULL, now);
	subject_set(p, &A, set);
	/* team-day team-month night rate root, and pause (counts nothing) */
	assert_int_equal(set[0], 0xbb);
	rules_counting(&R, set, cnt);
	assert_int_equal(cnt[0], 0x3b);
	assert_int_equal(cnt[1] | cnt[2] | cnt[3], 0);
	subject_set(p, &(struct rules_subject){ .tags = "", .uid = 4000000,
	    .kind = POLICY_GPU }, set);
	assert_int_equal(set[0], 0x1cc);        /* untag night nouser pause gpu */

	rules_reserve(&R, cnt, 300000000, 500, mono);
	u = peek(&R, TEAM_DAY, now, mono);
	assert_int_equal(u.spent, 300000000);
	assert_int_equal(u.concurrent, 1);
	span_is(&R, TEAM_DAY, now, T0, T0 + DAY);
	span_is(&R, TEAM_MONTH, now, SEP1, OCT1);
	u = peek(&R, RATE, now, mono);
	assert_int_equal(u.rpm, 1);
	assert_int_equal(u.tpm, 0);
	assert_int_equal(u.concurrent, 1);
	/* the night quota is idle at noon: no span, nothing used */
	assert_int_equal(rules_peek(&R, NIGHT, now, mono, &f, &t, &u), 0);
	assert_int_equal(f, 0);
	assert_int_equal(t, 0);
	assert_int_equal(u.tokens, 0);
	assert_int_equal(u.concurrent, 1);
	u = peek(&R, UNTAG, now, mono);
	assert_int_equal(u.spent, 0);
	assert_int_equal(u.concurrent, 0);
	assert_int_equal(rules_peek(&R, PAUSE, now, mono, &f, &t, &u), -1);
	assert_int_equal(rules_peek(&R, NRULES, now, mono, &f, &t, &u), -1);
	assert_int_equal(rules_peek(&R, -1, now, mono, &f, &t, &u), -1);

	/* settled: the reservation goes, the cost stays */
	rules_unreserve(&R, cnt, 300000000, 500);
	assert_int_equal(rules_settle(&R, &A, T0 + 11 * HOUR, 250000000, 400,
	    now, mono), 0);
	assert_int_equal(peek(&R, TEAM_DAY, now, mono).spent, 250000000);
	assert_int_equal(peek(&R, TEAM_DAY, now, mono).concurrent, 0);
	assert_int_equal(peek(&R, TEAM_MONTH, now, mono).spent, 250000000);
	assert_int_equal(peek(&R, ROOT, now, mono).spent, 250000000);
	assert_int_equal(peek(&R, UNTAG, now, mono).spent, 0);
	assert_int_equal(peek(&R, RATE, now, mono).tpm, 400);
	assert_int_equal(peek(&R, NIGHT, now, mono).tokens, 0);

	/* a repeat: taken back from the spans, not from the rate slots */
	rules_unsettle(&R, &A, T0 + 11 * HOUR, 250000000, 400, now);
	assert_int_equal(peek(&R, TEAM_DAY, now, mono).spent, 0);
	assert_int_equal(peek(&R, TEAM_MONTH, now, mono).spent, 0);
	assert_int_equal(peek(&R, RATE, now, mono).tpm, 400);
	/* counters stop at 0 */
	rules_unreserve(&R, cnt, 1, 1);
	rules_unsettle(&R, &A, T0 + 11 * HOUR, 1, 1, now);
	u = peek(&R, TEAM_DAY, now, mono);
	assert_int_equal(u.spent, 0);
	assert_int_equal(u.concurrent, 0);

	/* the night window, 22:00-02:00 across midnight, at 23:30 */
	now = T0 + 23 * HOUR + 30 * MIN;
	assert_int_equal(rules_settle(&R, &A, T0 + 23 * HOUR, 10000000, 700,
	    now, mono), 0);
	span_is(&R, NIGHT, now, T0 + 22 * HOUR, T0 + 26 * HOUR);
	assert_int_equal(peek(&R, NIGHT, now, mono).tokens, 700);
	assert_int_equal(rules_settle(&R, &A, T0 + 23 * HOUR, 10000000, 299,
	    now, mono), 0);             /* 999 of the quota's 1000 */
	assert_int_equal(rules_settle(&R, &A, T0 + 23 * HOUR, 0, 1,
	    now, mono), 1);             /* its max reached: verdicts change */
	rules_reserve(&R, cnt, 0, 1, mono);
	assert_int_equal(peek(&R, NIGHT, now, mono).tokens, 1001);
	rules_unreserve(&R, cnt, 0, 1);

	/* policy_eval through the callback: the quota is used up */
	{
		struct rules_input ri;
		struct rules_eval e = { .R = &R, .mono = mono };
		struct policy_decision d = { .lazy_reason = 1 };

		rules_input_fill(&ri, &A, now);
		ri.in.tokens = 1;
		policy_eval(p, &ri.in, rules_usage, &e, &d);
		assert_int_equal(d.verdict, POLICY_DENY);
		assert_int_equal(d.rule, NIGHT);
		assert_int_equal(d.reset, T0 + 26 * HOUR);
	}
	rules_free(&R);
	assert_null(R.u);
	assert_int_equal(R.n, 0);
	policy_free(p);
}

static void
test_spans(void **state)
{
	struct policy *p = policy();
	struct rules R;
	uint64_t set[POLICY_SET_WORDS];
	int64_t now = T0 + 12 * HOUR, mono = 5 * SEC;

	load(&R, p, NULL, now);
	subject_set(p, &A, set);
	rules_reserve(&R, set, 300000000, 0, mono);
	assert_int_equal(rules_settle(&R, &A, T0 + 11 * HOUR, 250000000, 0,
	    now, mono), 0);
	/* Thursday's record: not today's, but this month's */
	assert_int_equal(rules_settle(&R, &A, T0 - HOUR, 400000000, 0, now,
	    mono), 0);
	/* dated tomorrow: a day that has not begun counts nowhere, and does
	 * not wipe today; the month has begun */
	assert_int_equal(rules_settle(&R, &A, T0 + 30 * HOUR, 100000000, 0,
	    now, mono), 0);
	assert_int_equal(peek(&R, TEAM_DAY, now, mono).spent,
	    250000000 + 300000000);
	assert_int_equal(peek(&R, TEAM_MONTH, now, mono).spent,
	    750000000 + 300000000);
	span_is(&R, TEAM_DAY, now, T0, T0 + DAY);

	/* Saturday 01:00: the first record of the new day moves the span
	 * on; spent restarts, the reservation (in flight) stays */
	now = T0 + 25 * HOUR;
	assert_int_equal(rules_settle(&R, &A, T0 + 24 * HOUR + 30 * MIN,
	    100000000, 0, now, mono), 0);
	span_is(&R, TEAM_DAY, now, T0 + DAY, T0 + 2 * DAY);
	assert_int_equal(peek(&R, TEAM_DAY, now, mono).spent,
	    100000000 + 300000000);
	/* a late replay of Friday: the day has moved on */
	assert_int_equal(rules_settle(&R, &A, T0 + 20 * HOUR, 50000000, 0,
	    now, mono), 0);
	assert_int_equal(peek(&R, TEAM_DAY, now, mono).spent,
	    100000000 + 300000000);
	assert_int_equal(peek(&R, TEAM_MONTH, now, mono).spent,
	    900000000 + 300000000);

	/* Sunday: nothing settled yet; policy_eval's span rolls it over */
	now = T0 + 50 * HOUR;
	{
		struct rules_eval e = { .R = &R, .mono = mono };
		struct policy_usage u = { 0 };

		rules_usage(&e, TEAM_DAY, T0 + 2 * DAY, T0 + 3 * DAY, &u);
		assert_int_equal(u.spent, 300000000);
		assert_int_equal(u.concurrent, 1);
	}
	span_is(&R, TEAM_DAY, now, T0 + 2 * DAY, T0 + 3 * DAY);
	assert_int_equal(peek(&R, TEAM_DAY, now, mono).spent, 300000000);
	/* a repeat of a record of a day left behind takes nothing back from
	 * the day, but from the month that still holds it */
	rules_unsettle(&R, &A, T0 + 24 * HOUR + 30 * MIN, 100000000, 0, now);
	rules_unreserve(&R, set, 300000000, 0);
	assert_int_equal(peek(&R, TEAM_DAY, now, mono).spent, 0);
	assert_int_equal(peek(&R, TEAM_MONTH, now, mono).spent, 800000000);
	rules_free(&R);
	policy_free(p);
}

static void
test_rate_slots(void **state)
{
	struct policy *p = policy();
	struct rules R;
	uint64_t set[POLICY_SET_WORDS];
	int64_t now = T0, m0 = 1000 * SEC + 500000000;
	struct policy_usage u;

	load(&R, p, NULL, now);
	subject_set(p, &A, set);
	rules_reserve(&R, set, 0, 0, m0);                  /* second 1000 */
	rules_reserve(&R, set, 0, 0, m0 + 10 * SEC);       /* 1010 */
	rules_settle(&R, &A, now, 0, 300, now, m0 + 20 * SEC); /* 1020 */
	u = peek(&R, RATE, now, m0 + 30 * SEC);
	assert_int_equal(u.rpm, 2);
	assert_int_equal(u.tpm, 300);
	assert_int_equal(u.concurrent, 2);
	/* second 1059 still holds second 1000; 1060 no longer */
	assert_int_equal(peek(&R, RATE, now, m0 + 59 * SEC).rpm, 2);
	u = peek(&R, RATE, now, m0 + 60 * SEC);
	assert_int_equal(u.rpm, 1);
	assert_int_equal(u.tpm, 300);
	u = peek(&R, RATE, now, m0 + 70 * SEC);
	assert_int_equal(u.rpm, 0);
	assert_int_equal(u.tpm, 300);
	assert_int_equal(peek(&R, RATE, now, m0 + 80 * SEC).tpm, 0);
	/* second 1060 reuses second 1000's slot */
	rules_reserve(&R, set, 0, 0, m0 + 60 * SEC);
	assert_int_equal(peek(&R, RATE, now, m0 + 60 * SEC).rpm, 2);
	assert_int_equal(peek(&R, RATE, now, m0 + 119 * SEC).rpm, 1);
	assert_int_equal(peek(&R, RATE, now, m0 + 120 * SEC).rpm, 0);
	/* only rate rules count requests */
	assert_int_equal(peek(&R, TEAM_DAY, now, m0 + 60 * SEC).rpm, 0);
	assert_int_equal(peek(&R, TEAM_DAY, now, m0 + 60 * SEC).concurrent, 3);
	rules_free(&R);
	policy_free(p);
}

static void
test_settle_reaches_limit(void **state)
{
	struct policy *p = policy();
	struct rules R;
	uint64_t set[POLICY_SET_WORDS];
	int64_t now = T0 + 12 * HOUR;

	load(&R, p, NULL, now);
	assert_int_equal(rules_settle(&R, &A, now, 600000000, 0, now, 0), 0);
	assert_int_equal(rules_settle(&R, &A, now, 399999999, 0, now, 0), 0);
	assert_int_equal(rules_settle(&R, &A, now, 1, 0, now, 0), 1);
	assert_int_equal(rules_settle(&R, &A, now, 500000000, 0, now, 0), 0);
	rules_free(&R);

	/* reserved counts towards the limit */
	load(&R, p, NULL, now);
	subject_set(p, &A, set);
	rules_reserve(&R, set, 500000000, 0, 0);
	assert_int_equal(rules_settle(&R, &A, now, 400000000, 0, now, 0), 0);
	assert_int_equal(rules_settle(&R, &A, now, 100000000, 0, now, 0), 1);
	/* a sandbox's total */
	assert_int_equal(rules_settle(&R, &G, now, 2 * USD - 1, 0, now, 0), 0);
	assert_int_equal(rules_settle(&R, &G, now - 30 * DAY, 1, 0, now, 0),
	    1);
	/* a soft threshold is no hard limit; a token quota's max is */
	assert_int_equal(rules_settle(&R, &S, now, 5 * USD, 0, now, 0), 0);
	assert_int_equal(rules_settle(&R, &G, T0 + 23 * HOUR, 0, 5000,
	    T0 + 23 * HOUR, 0), 1);
	rules_free(&R);
	policy_free(p);
}

/* No rules: everything is a no-op. */
static void
test_empty_policy(void **state)
{
	char err[512];
	const char *t = "{\"schema_version\": 1, \"timezone\": \"UTC\"}";
	struct policy *p = policy_parse("e.json", t, strlen(t), err,
	    sizeof(err));
	struct rules R;
	uint64_t set[POLICY_SET_WORDS] = { ~0ULL, ~0ULL, ~0ULL, ~0ULL };
	uint64_t cnt[POLICY_SET_WORDS];
	struct policy_usage u;
	int64_t f, to;

	assert_non_null(p);
	load(&R, p, NULL, T0);
	assert_int_equal(R.n, 0);
	rules_counting(&R, set, cnt);
	assert_int_equal(cnt[0] | cnt[1] | cnt[2] | cnt[3], 0);
	rules_reserve(&R, set, 1, 1, 0);
	rules_unreserve(&R, set, 1, 1);
	assert_int_equal(rules_settle(&R, &A, T0, USD, 1, T0, 0), 0);
	rules_unsettle(&R, &A, T0, USD, 1, T0);
	assert_int_equal(rules_peek(&R, 0, T0, 0, &f, &to, &u), -1);
	rules_free(&R);
	policy_free(p);
}

/* ---- the ledger ---- */

struct rec {
	uint8_t id;
	int64_t t;
	const char *tags;
	uint32_t uid;
	uint32_t kind, flags;
	uint64_t in, out;
	int64_t cost;
};

#define NOW (T0 + 90 * MIN)     /* Friday 01:30Z: inside the night window */

static const struct rec recs[] = {
	{ 1, T0 + HOUR, "team=search", 0, TG_KIND_LLM, 0, 100, 50, 100000000 },
	{ 2, T0 + 30 * MIN, "team=search", 0, TG_KIND_LLM, 0, 10, 5, 20000000 },
	/* Thursday 23:00: this month, this night window, not today */
	{ 3, T0 - HOUR, "team=search", 0, TG_KIND_LLM, 0, 1000, 0, 400000000 },
	/* August */
	{ 4, T0 - 5 * DAY, "team=search", 0, TG_KIND_LLM, 0, 7, 7, USD },
	/* refused: counts nothing */
	{ 5, T0 + HOUR, "team=search", 0, TG_KIND_LLM, TG_REC_REFUSED, 3, 3,
	  500000000 },
	/* another team, before the night window */
	{ 6, T0 - 3 * HOUR, "team=other", 1000, TG_KIND_LLM, 0, 20, 20,
	  70000000 },
	/* a GPU job ten days ago: the sandbox counts it (total) */
	{ 7, T0 - 10 * DAY, "", 1, TG_KIND_GPU, 0, 0, 0, 1500000000 },
};
#define NRECS (sizeof(recs) / sizeof(recs[0]))

static struct ledger *
ledger_with_recs(void)
{
	struct ledger *lg = open_new();
	struct ledger_entry e[NRECS];
	int ins[NRECS];

	memset(e, 0, sizeof(e));
	for (size_t i = 0; i < NRECS; i++) {
		e[i].rec.id[0] = recs[i].id;
		e[i].rec.event_time_ns = recs[i].t;
		e[i].rec.kind = recs[i].kind;
		e[i].rec.flags = recs[i].flags;
		e[i].rec.input_tokens = recs[i].in;
		e[i].rec.output_tokens = recs[i].out;
		tg_strlcpy(e[i].rec.tags, recs[i].tags, sizeof(e[i].rec.tags));
		if (recs[i].kind == TG_KIND_LLM) {
			tg_strlcpy(e[i].rec.provider, "openai",
			    sizeof(e[i].rec.provider));
			tg_strlcpy(e[i].rec.model, "gpt-4o",
			    sizeof(e[i].rec.model));
		}
		tg_strlcpy(e[i].rec.exe, "/usr/bin/python3",
		    sizeof(e[i].rec.exe));
		e[i].uid = recs[i].uid;
		e[i].cost_nano_usd = recs[i].cost;
	}
	assert_int_equal(ledger_insert(lg, e, NRECS, ins), 0);
	return lg;
}

struct seen_rows {
	int n, stop_at;
	int64_t t[NRECS];
	uint32_t kind[NRECS];
	struct ledger_scan_row second;
	char tags[64], exe[64], model[64], provider[64];
};

static int
see_row(void *arg, const struct ledger_scan_row *r)
{
	struct seen_rows *s = arg;

	if (s->n == 1) {
		s->second = *r;
		snprintf(s->tags, sizeof(s->tags), "%s", r->tags);
		snprintf(s->exe, sizeof(s->exe), "%s", r->exe);
		snprintf(s->model, sizeof(s->model), "%s", r->model);
		snprintf(s->provider, sizeof(s->provider), "%s", r->provider);
	}
	s->kind[s->n] = r->kind;
	s->t[s->n++] = r->event_time_ns;
	return s->n == s->stop_at ? 7 : 0;
}

static void
test_ledger_scan(void **state)
{
	struct ledger *lg = ledger_with_recs();
	struct seen_rows s = { 0 };
	char err[512] = "";

	/* from Thursday 22:00: 3, 2, 1 in time order; 5 refused, 6 before */
	assert_int_equal(ledger_scan(lg, T0 - 2 * HOUR, see_row, &s, err,
	    sizeof(err)), 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.t[0], T0 - HOUR);
	assert_int_equal(s.t[1], T0 + 30 * MIN);
	assert_int_equal(s.t[2], T0 + HOUR);
	assert_int_equal(s.second.uid, 0);
	assert_int_equal(s.second.kind, TG_KIND_LLM);
	assert_int_equal(s.second.input_tokens, 10);
	assert_int_equal(s.second.output_tokens, 5);
	assert_int_equal(s.second.cost_nano_usd, 20000000);
	assert_string_equal(s.tags, "team=search");
	assert_string_equal(s.exe, "/usr/bin/python3");
	assert_string_equal(s.model, "gpt-4o");
	assert_string_equal(s.provider, "openai");
	/* everything: six rows, the GPU one first */
	memset(&s, 0, sizeof(s));
	assert_int_equal(ledger_scan(lg, INT64_MIN, see_row, &s, err,
	    sizeof(err)), 0);
	assert_int_equal(s.n, 6);
	assert_int_equal(s.t[0], T0 - 10 * DAY);
	assert_int_equal(s.kind[0], TG_KIND_GPU);
	assert_int_equal(s.kind[1], TG_KIND_LLM);
	/* the since bound is inclusive */
	memset(&s, 0, sizeof(s));
	assert_int_equal(ledger_scan(lg, T0 + HOUR, see_row, &s, err,
	    sizeof(err)), 0);
	assert_int_equal(s.n, 1);
	/* the callback stops it */
	memset(&s, 0, sizeof(s));
	s.stop_at = 2;
	assert_int_equal(ledger_scan(lg, INT64_MIN, see_row, &s, err,
	    sizeof(err)), 7);
	assert_int_equal(s.n, 2);
	ledger_close(lg);
}

static void
test_load_from_ledger(void **state)
{
	struct ledger *lg = ledger_with_recs();
	struct policy *p = policy();
	struct rules R;
	struct policy_usage u;

	load(&R, p, lg, NOW);
	/* today: records 1 and 2; tokens are input + output */
	assert_int_equal(R.u[TEAM_DAY].spent, 120000000);
	assert_int_equal(R.u[TEAM_DAY].tokens, 165);
	assert_int_equal(R.u[ROOT].spent, 120000000);
	/* September: 1, 2 and Thursday's 3 */
	assert_int_equal(R.u[TEAM_MONTH].spent, 520000000);
	assert_int_equal(R.u[TEAM_MONTH].tokens, 1165);
	/* the window Thursday 22:00 - Friday 02:00: 1, 2, 3 */
	u = peek(&R, NIGHT, NOW, 0);
	assert_int_equal(u.tokens, 1165);
	span_is(&R, NIGHT, NOW, T0 - 2 * HOUR, T0 + 2 * HOUR);
	/* the sandbox's total, the GPU job of ten days ago */
	assert_int_equal(peek(&R, GPU, NOW, 0).spent, 1500000000);
	/* nothing today for these; rate slots start empty */
	assert_int_equal(peek(&R, UNTAG, NOW, 0).spent, 0);
	assert_int_equal(peek(&R, NOUSER, NOW, 0).spent, 0);
	u = peek(&R, RATE, NOW, 0);
	assert_int_equal(u.rpm, 0);
	assert_int_equal(u.tpm, 0);
	assert_int_equal(R.u[PAUSE].counts, 0);
	assert_int_equal(R.u[RATE].counts, 1);
	rules_free(&R);

	/* at noon the night window is idle: nothing summed into it */
	load(&R, p, lg, T0 + 12 * HOUR);
	assert_int_equal(R.u[NIGHT].spanned, 0);
	assert_int_equal(R.u[NIGHT].tokens, 0);
	assert_int_equal(R.u[TEAM_DAY].spent, 120000000);
	rules_free(&R);
	policy_free(p);
	ledger_close(lg);
}

static void
test_load_error(void **state)
{
	struct ledger *lg = ledger_with_recs();
	struct policy *p = policy();
	struct rules R;
	sqlite3 *db;
	char err[512] = "", want[PATH_MAX + 64];

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DROP TABLE records", NULL, NULL,
	    NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(rules_load(&R, p, lg, NOW, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: scan: no such table: records", path);
	assert_string_equal(err, want);
	/* empty but usable */
	assert_int_equal(R.n, NRULES);
	assert_int_equal(peek(&R, TEAM_DAY, NOW, 0).spent, 0);
	assert_int_equal(rules_settle(&R, &A, NOW, USD, 0, NOW, 0), 1);
	rules_free(&R);
	policy_free(p);
	ledger_close(lg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_input_fill),
		cmocka_unit_test(test_sums),
		cmocka_unit_test(test_spans),
		cmocka_unit_test(test_rate_slots),
		cmocka_unit_test(test_settle_reaches_limit),
		cmocka_unit_test(test_empty_policy),
		cmocka_unit_test(test_ledger_scan),
		cmocka_unit_test(test_load_from_ledger),
		cmocka_unit_test(test_load_error),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
