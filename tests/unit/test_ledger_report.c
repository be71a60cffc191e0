/* test_ledger_report.c — ledger reports: rollups vs raw records, tier
 * edges, retention, a year of data, grouping, sorting and filters, the
 * document's shape, bad queries. Every number is exact. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <cmocka.h>

#include "ledger.h"
#include "ledger_fixture.h"
#include "ledger_spec.h"

static json_t *
row(json_t *doc, size_t i)
{
	return json_array_get(json_object_get(doc, "rows"), i);
}

/* --- rollups, raw edges, retention ------------------------------------- */

#define NEDGE 60

static void
edge_specs(struct spec *s)
{
	for (int k = 0; k < NEDGE; k++) {
		s[k] = (struct spec){ 100 + k, T0 + k * 7 * MIN,
		    k % 2 ? "gpt-4o" : "gpt-4o-mini", NULL, NULL, 0,
		    1000 + k, 50 + k, 12345 + 1000 * k };
	}
}

/* Brute force over the specs: requests, input, output, cost. */
static void
expect(const struct spec *s, size_t n, int64_t since, int64_t until,
    int64_t out[4])
{
	memset(out, 0, 4 * sizeof(out[0]));
	for (size_t i = 0; i < n; i++) {
		if (s[i].t < since || s[i].t >= until)
			continue;
		out[0]++;
		out[1] += s[i].in;
		out[2] += s[i].out;
		out[3] += s[i].cost;
	}
}

static void
check_totals(json_t *doc, const int64_t want[4])
{
	json_t *t = totals(doc);

	assert_int_equal(jint(t, "requests"), want[0]);
	assert_int_equal(jint(t, "input_tokens"), want[1]);
	assert_int_equal(jint(t, "output_tokens"), want[2]);
	assert_int_equal(jint(t, "cost_nano_usd"), want[3]);
}

static void
test_report_edges_and_retain(void **state)
{
	struct spec s[NEDGE];
	struct ledger *lg = open_new();
	int64_t want[4], since = T0 + 25 * MIN, until = T0 + 5 * HOUR + 10 * MIN;
	int ins[NEDGE];
	json_t *doc;

	edge_specs(s);
	insert_specs(lg, s, NEDGE, ins);
	/* partial edges from raw, hours 1..4 from rollups */
	expect(s, NEDGE, since, until, want);
	assert_true(want[0] > 0 && want[0] < NEDGE);
	doc = report(lg, since, until, "", NULL, 0, 0);
	check_totals(doc, want);
	json_decref(doc);
	/* no whole hour inside: all raw */
	expect(s, NEDGE, T0 + 61 * MIN, T0 + 119 * MIN, want);
	doc = report(lg, T0 + 61 * MIN, T0 + 119 * MIN, "", NULL, 0, 0);
	check_totals(doc, want);
	json_decref(doc);
	/* an empty range */
	doc = report(lg, since, since, "", NULL, 0, 0);
	assert_int_equal(jint(totals(doc), "requests"), 0);
	assert_int_equal(json_array_size(json_object_get(doc, "rows")), 0);
	json_decref(doc);

	/* aligned range: same numbers before and after the raw rows go */
	expect(s, NEDGE, T0 + HOUR, T0 + 5 * HOUR, want);
	doc = report(lg, T0 + HOUR, T0 + 5 * HOUR, "model", NULL, 0, 0);
	check_totals(doc, want);
	json_decref(doc);
	assert_int_equal(ledger_retain(lg, T0 + 6 * HOUR), 0);
	assert_int_equal(ledger_count(lg), 8); /* k*7 min >= 360 min: k = 52..59 */
	doc = report(lg, T0 + HOUR, T0 + 5 * HOUR, "model", NULL, 0, 0);
	check_totals(doc, want);
	json_decref(doc);
	/* documented: retained partial edges count nothing */
	doc = report(lg, since, until, "", NULL, 0, 0);
	check_totals(doc, want);
	json_decref(doc);
	/* the whole history is still there through rollups */
	expect(s, NEDGE, T0, T0 + 7 * HOUR, want);
	doc = report(lg, T0, T0 + 7 * HOUR, "", NULL, 0, 0);
	check_totals(doc, want);
	assert_int_equal(want[0], NEDGE);
	json_decref(doc);
	ledger_close(lg);
}

/* Every tier boundary: days, hours and raw edges against brute force. */
static void
test_report_tiers_sweep(void **state)
{
	enum { N = 3 * 24 * 60 / 37 + 1 };
	static const int64_t cuts[] = { 0, 1, 5 * HOUR, 5 * HOUR + 59 * MIN,
		24 * HOUR - 1, 24 * HOUR, 24 * HOUR + 1, 27 * HOUR + 7 * MIN,
		48 * HOUR, 49 * HOUR, 71 * HOUR + 30 * MIN, 72 * HOUR };
	const size_t ncuts = sizeof(cuts) / sizeof(cuts[0]);
	struct spec s[N];
	struct ledger *lg = open_new();
	int64_t want[4];
	int ins[N];
	size_t i, j;
	json_t *doc;

	for (i = 0; i < N; i++)
		s[i] = (struct spec){ 1000 + i, T0 + (int64_t)i * 37 * MIN,
		    i % 3 ? "gpt-4o" : "o1", NULL, NULL, 0, 10 + i, 1 + i % 5,
		    777 + 13 * (int64_t)i };
	insert_specs(lg, s, N, ins);
	for (i = 0; i < ncuts; i++)
		for (j = i; j < ncuts; j++) {
			expect(s, N, T0 + cuts[i], T0 + cuts[j], want);
			doc = report(lg, T0 + cuts[i], T0 + cuts[j], "model",
			    NULL, 0, 0);
			check_totals(doc, want);
			json_decref(doc);
		}
	/* raw records gone: hour-aligned ranges still exact */
	assert_int_equal(ledger_retain(lg, T0 + 73 * HOUR), 0);
	assert_int_equal(ledger_count(lg), 0);
	for (i = 0; i < 24 * 3; i += 5)
		for (j = i; j <= 24 * 3; j += 7) {
			expect(s, N, T0 + i * HOUR, T0 + j * HOUR, want);
			doc = report(lg, T0 + i * HOUR, T0 + j * HOUR, "", NULL,
			    0, 0);
			check_totals(doc, want);
			json_decref(doc);
		}
	ledger_close(lg);
}

#define YEAR_HOURS 8760
#define NMODELS 3

static void
test_year(void **state)
{
	static const char *const models[NMODELS] = { "gpt-4o", "gpt-4o-mini",
		"claude-3-5-sonnet-20241022" };
	int64_t want[NMODELS][4], month[4], mstart = T0 + 100 * HOUR;
	struct ledger *lg = open_new();
	struct spec *s;
	size_t n = YEAR_HOURS * NMODELS, i, done;
	int *ins;
	json_t *doc, *r;

	s = calloc(n, sizeof(*s));
	ins = calloc(n, sizeof(*ins));
	memset(want, 0, sizeof(want));
	memset(month, 0, sizeof(month));
	for (i = 0; i < n; i++) {
		int h = i / NMODELS, m = i % NMODELS;

		s[i] = (struct spec){ i + 1, T0 + h * HOUR + 30 * MIN, models[m],
		    NULL, NULL, 0, 1000 + h % 7, 100 + m, 2500 * (h % 11) + m };
		want[m][0]++;
		want[m][1] += s[i].in;
		want[m][2] += s[i].out;
		want[m][3] += s[i].cost;
		if (s[i].t >= mstart && s[i].t < mstart + 720 * HOUR) {
			month[0]++;
			month[1] += s[i].in;
			month[2] += s[i].out;
			month[3] += s[i].cost;
		}
	}
	for (done = 0; done < n; done += 512)
		insert_specs(lg, s + done, n - done < 512 ? n - done : 512,
		    ins + done);
	assert_int_equal(ledger_count(lg), n);
	assert_int_equal(ledger_retain(lg, T0 + YEAR_HOURS * HOUR), 0);
	assert_int_equal(ledger_count(lg), 0);

	doc = report(lg, T0, T0 + YEAR_HOURS * HOUR, "model", NULL, 0, 0);
	assert_int_equal(jint(totals(doc), "requests"), n);
	assert_int_equal(json_array_size(json_object_get(doc, "rows")),
	    NMODELS);
	for (i = 0; i < NMODELS; i++) {
		const char *name;
		int m;

		r = row(doc, i);
		name = json_string_value(json_object_get(r, "model"));
		for (m = 0; m < NMODELS && strcmp(models[m], name); m++)
			;
		assert_true(m < NMODELS);
		assert_int_equal(jint(r, "requests"), want[m][0]);
		assert_int_equal(jint(r, "input_tokens"), want[m][1]);
		assert_int_equal(jint(r, "output_tokens"), want[m][2]);
		assert_int_equal(jint(r, "cost_nano_usd"), want[m][3]);
	}
	json_decref(doc);
	doc = report(lg, mstart, mstart + 720 * HOUR, "", NULL, 0, 0);
	check_totals(doc, month);
	json_decref(doc);
	free(s);
	free(ins);
	ledger_close(lg);
}

/* --- grouping and filters ---------------------------------------------- */

static void
test_tags_and_share(void **state)
{
	struct spec s[] = {
		{ 1, T0 + MIN, "gpt-4o", "team=search,purpose=batch", NULL, 0, 10, 1, 100 },
		{ 2, T0 + MIN, "gpt-4o", "purpose=x,team=ads", NULL, 0, 20, 2, 300 },
		{ 3, T0 + MIN, "gpt-4o-mini", "", NULL, 0, 30, 3, 50 },
		{ 4, T0 + MIN, "gpt-4o-mini", "purpose=x", NULL, 0, 40, 4, 50 },
		{ 5, T0 + MIN, "o1", "team=search", NULL, 0, 50, 5, 300 },
		{ 6, T0 + MIN, "o1", "team=", NULL, 0, 60, 6, 0 },
	};
	struct ledger *lg = open_new();
	int ins[6];
	json_t *doc, *r;

	insert_specs(lg, s, 6, ins);
	doc = report(lg, T0, T0 + HOUR, "tag:team", NULL, 0, 0);
	assert_int_equal(json_array_size(json_object_get(doc, "rows")), 3);
	/* cost desc: search 400, ads 300, (untagged) 100 */
	r = row(doc, 0);
	assert_string_equal(json_string_value(json_object_get(r, "team")),
	    "search");
	assert_int_equal(jint(r, "requests"), 2);
	assert_int_equal(jint(r, "cost_nano_usd"), 400);
	assert_int_equal(jint(r, "input_tokens"), 60);
	r = row(doc, 1);
	assert_string_equal(json_string_value(json_object_get(r, "team")),
	    "ads");
	assert_int_equal(jint(r, "cost_nano_usd"), 300);
	r = row(doc, 2);
	assert_string_equal(json_string_value(json_object_get(r, "team")),
	    "(untagged)");
	assert_int_equal(jint(r, "requests"), 3);
	assert_int_equal(jint(r, "cost_nano_usd"), 100);
	assert_int_equal(jint(totals(doc), "cost_nano_usd"), 800);
	/* only record 3 has no tags at all: 50 / 800 */
	assert_true(json_real_value(json_object_get(doc,
	    "untagged_cost_share")) == 50.0 / 800.0);
	json_decref(doc);

	/* same share from raw records (non-aligned bounds) */
	doc = report(lg, T0 + 1, T0 + HOUR, "tag:purpose", NULL, 0, 0);
	assert_true(json_real_value(json_object_get(doc,
	    "untagged_cost_share")) == 50.0 / 800.0);
	/* (untagged) 350 ties x 350 (key order breaks it), batch 100 */
	r = row(doc, 0);
	assert_string_equal(json_string_value(json_object_get(r, "purpose")),
	    "(untagged)");
	assert_int_equal(jint(r, "cost_nano_usd"), 350);
	assert_int_equal(jint(r, "requests"), 3);
	r = row(doc, 1);
	assert_string_equal(json_string_value(json_object_get(r, "purpose")),
	    "x");
	assert_int_equal(jint(r, "cost_nano_usd"), 350);
	r = row(doc, 2);
	assert_string_equal(json_string_value(json_object_get(r, "purpose")),
	    "batch");
	json_decref(doc);

	/* by model, cost desc: gpt-4o 400, o1 300, gpt-4o-mini 100 */
	doc = report(lg, T0, T0 + HOUR, "model", NULL, 0, 0);
	assert_string_equal(json_string_value(json_object_get(row(doc, 0),
	    "model")), "gpt-4o");
	assert_string_equal(json_string_value(json_object_get(row(doc, 1),
	    "model")), "o1");
	assert_string_equal(json_string_value(json_object_get(row(doc, 2),
	    "model")), "gpt-4o-mini");
	json_decref(doc);
	ledger_close(lg);
}

static void
test_sort_ties_and_one_row(void **state)
{
	struct spec s[] = {
		{ 1, T0, "b-model", NULL, NULL, 0, 1, 1, 100 },
		{ 2, T0, "a-model", NULL, NULL, 0, 1, 1, 100 },
		{ 3, T0, "c-model", NULL, NULL, 0, 1, 1, 200 },
	};
	struct ledger *lg = open_new();
	int ins[3];
	json_t *doc, *r;

	insert_specs(lg, s, 3, ins);
	doc = report(lg, T0, T0 + HOUR, "model", NULL, 0, 0);
	assert_string_equal(json_string_value(json_object_get(row(doc, 0),
	    "model")), "c-model");
	assert_string_equal(json_string_value(json_object_get(row(doc, 1),
	    "model")), "a-model");
	assert_string_equal(json_string_value(json_object_get(row(doc, 2),
	    "model")), "b-model");
	json_decref(doc);
	/* by "": one row, no key, equal to the totals */
	doc = report(lg, T0, T0 + HOUR, "", NULL, 0, 0);
	assert_int_equal(json_array_size(json_object_get(doc, "rows")), 1);
	r = row(doc, 0);
	assert_null(json_object_get(r, "model"));
	assert_true(json_equal(r, totals(doc)));
	json_decref(doc);
	/* by provider */
	doc = report(lg, T0, T0 + HOUR, "provider", NULL, 0, 0);
	assert_string_equal(json_string_value(json_object_get(row(doc, 0),
	    "provider")), "openai");
	assert_int_equal(jint(row(doc, 0), "requests"), 3);
	json_decref(doc);
	ledger_close(lg);
}

static void
test_uid_and_run_filters(void **state)
{
	struct spec s[] = {
		{ 1, T0 + MIN, NULL, NULL, "run-a", 1000, 1, 1, 10 },
		{ 2, T0 + MIN, NULL, NULL, "run-b", 1000, 2, 2, 20 },
		{ 3, T0 + MIN, NULL, NULL, "run-a", 1001, 4, 4, 40 },
		{ 4, T0 + 2 * HOUR + MIN, NULL, NULL, "", 1001, 8, 8, 80 },
	};
	struct ledger *lg = open_new();
	int ins[4];
	json_t *doc;

	insert_specs(lg, s, 4, ins);
	/* whole hours (rollups) and a partial edge (raw) */
	for (int64_t since = T0; since <= T0 + 30 * SEC; since += 30 * SEC) {
		doc = report(lg, since, T0 + 3 * HOUR, "", NULL, 1, 1000);
		assert_int_equal(jint(totals(doc), "cost_nano_usd"), 30);
		json_decref(doc);
		doc = report(lg, since, T0 + 3 * HOUR, "", NULL, 1, 1001);
		assert_int_equal(jint(totals(doc), "cost_nano_usd"), 120);
		json_decref(doc);
		doc = report(lg, since, T0 + 3 * HOUR, "", NULL, 1, 0);
		assert_int_equal(jint(totals(doc), "requests"), 0);
		json_decref(doc);
		doc = report(lg, since, T0 + 3 * HOUR, "", "run-a", 0, 0);
		assert_int_equal(jint(totals(doc), "cost_nano_usd"), 50);
		assert_int_equal(jint(totals(doc), "requests"), 2);
		json_decref(doc);
		doc = report(lg, since, T0 + 3 * HOUR, "", "run-a", 1, 1001);
		assert_int_equal(jint(totals(doc), "cost_nano_usd"), 40);
		json_decref(doc);
		doc = report(lg, since, T0 + 3 * HOUR, "", "", 0, 0);
		assert_int_equal(jint(totals(doc), "cost_nano_usd"), 150);
		json_decref(doc);
	}
	ledger_close(lg);
}

static void
test_gpu_and_flags(void **state)
{
	struct ledger_entry e[2];
	struct spec s = { 1, T0 + MIN, "", NULL, NULL, 0, 0, 0, 7200 };
	struct ledger *lg = open_new();
	int ins[2];
	json_t *doc, *r, *t;

	entry(&e[0], &s);
	e[0].rec.kind = TG_KIND_GPU;
	e[0].rec.source = TG_SOURCE_EBPF;
	e[0].rec.provider[0] = '\0';
	e[0].rec.gpu_launches = 1000;
	e[0].rec.gpu_busy_ns = 1500000000;
	e[0].rec.gpu_held_ns = 3000000000;
	e[0].rec.gpu_mem_peak_bytes = 1 << 30;
	s.id = 2;
	s.model = "mystery";
	s.in = 100;
	s.out = 50;
	s.cost = 0;
	entry(&e[1], &s);
	e[1].unpriced = 1;
	e[1].rec.flags = TG_REC_ESTIMATED | TG_REC_REFUSED | TG_REC_REPLAYED;
	assert_int_equal(ledger_insert(lg, e, 2, ins), 0);

	for (int64_t since = T0; since <= T0 + 1; since++) {
		doc = report(lg, since, T0 + HOUR, "model", NULL, 0, 0);
		r = row(doc, 0);
		assert_string_equal(json_string_value(json_object_get(r,
		    "model")), "(gpu)");
		assert_int_equal(jint(r, "gpu_launches"), 1000);
		/* a GPU record is metered time, not a request (schema v2) */
		assert_int_equal(jint(r, "requests"), 0);
		assert_true(json_real_value(json_object_get(r,
		    "gpu_busy_seconds")) == 1.5);
		assert_true(json_real_value(json_object_get(r,
		    "gpu_held_seconds")) == 3.0);
		assert_int_equal(jint(r, "gpu_mem_peak_bytes"), 1 << 30);
		assert_true(json_is_null(json_object_get(r,
		    "cost_per_1k_tokens")));
		assert_true(json_real_value(json_object_get(r, "cost_usd")) ==
		    7200 / 1e9);
		r = row(doc, 1);
		assert_string_equal(json_string_value(json_object_get(r,
		    "model")), "mystery");
		assert_int_equal(jint(r, "unpriced_requests"), 1);
		assert_int_equal(jint(r, "estimated_requests"), 1);
		assert_int_equal(jint(r, "refused_requests"), 1);
		assert_true(json_real_value(json_object_get(r,
		    "cost_per_1k_tokens")) == 0.0);
		t = totals(doc);
		assert_int_equal(jint(t, "requests"), 1);
		assert_int_equal(jint(t, "gpu_mem_peak_bytes"), 1 << 30);
		assert_int_equal(jint(t, "unpriced_requests"), 1);
		json_decref(doc);
	}
	ledger_close(lg);
}

static void
test_document_shape(void **state)
{
	static const char *const keys[] = { "requests", "input_tokens",
		"output_tokens", "cached_tokens", "cache_write_tokens",
		"reasoning_tokens", "estimated_requests", "refused_requests",
		"gpu_launches", "gpu_busy_seconds", "gpu_held_seconds",
		"gpu_mem_peak_bytes", "cost_usd", "cost_per_1k_tokens",
		"cost_nano_usd", "unpriced_requests", NULL };
	struct spec s = { 1, T0 + MIN, "gpt-4o", NULL, NULL, 0, 1234, 567,
		8755000 };
	struct ledger *lg = open_new();
	int ins[1];
	json_t *doc, *r;

	insert_specs(lg, &s, 1, ins);
	doc = report(lg, T0, T0 + HOUR + 500, "model", NULL, 0, 0);
	assert_int_equal(jint(doc, "schema_version"), 1);
	assert_string_equal(json_string_value(json_object_get(doc, "since")),
	    "2025-09-05T00:00:00Z");
	assert_string_equal(json_string_value(json_object_get(doc, "until")),
	    "2025-09-05T01:00:00.000000500Z");
	r = row(doc, 0);
	for (int i = 0; keys[i]; i++) {
		if (json_object_get(r, keys[i]) == NULL)
			fail_msg("row lacks %s", keys[i]);
		if (json_object_get(totals(doc), keys[i]) == NULL)
			fail_msg("totals lack %s", keys[i]);
	}
	assert_int_equal(json_object_size(r), 17); /* + "model" */
	assert_int_equal(json_object_size(totals(doc)), 16);
	/* $0.008755 over 1801 tokens: $0.004861188... per 1k */
	assert_true(json_real_value(json_object_get(r, "cost_usd")) ==
	    0.008755);
	assert_true(json_real_value(json_object_get(r, "cost_per_1k_tokens")) ==
	    8755000 / 1e6 / 1801);
	assert_true(json_real_value(json_object_get(doc,
	    "untagged_cost_share")) == 1.0);
	json_decref(doc);
	ledger_close(lg);
}

static void
test_bad_queries(void **state)
{
	static const struct {
		const char *by, *want;
	} t[] = {
		{ "color", "unknown grouping 'color' (use model, provider, "
		  "source or tag:NAME)" },
		{ "tag:", "unknown grouping 'tag:' (use model, provider, "
		  "source or tag:NAME)" },
		{ "tag:a b", "unknown grouping 'tag:a b' (use model, provider, "
		  "source or tag:NAME)" },
		{ "tag:cost_usd", "tag name 'cost_usd' clashes with a report "
		  "column" },
	};
	struct ledger *lg = open_new();
	struct ledger_query q = { T0, T0 + HOUR, NULL, NULL, 0, 0 };
	char err[256];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		q.by = t[i].by;
		assert_null(ledger_report(lg, &q, err, sizeof(err)));
		assert_string_equal(err, t[i].want);
	}
	q.by = "model";
	q.until_ns = T0 - 1;
	assert_null(ledger_report(lg, &q, err, sizeof(err)));
	assert_string_equal(err, "report: until is before since");
	ledger_close(lg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_report_edges_and_retain),
		cmocka_unit_test(test_report_tiers_sweep),
		cmocka_unit_test(test_year),
		cmocka_unit_test(test_tags_and_share),
		cmocka_unit_test(test_sort_ties_and_one_row),
		cmocka_unit_test(test_uid_and_run_filters),
		cmocka_unit_test(test_gpu_and_flags),
		cmocka_unit_test(test_document_shape),
		cmocka_unit_test(test_bad_queries),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
