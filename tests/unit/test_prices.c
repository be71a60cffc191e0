/* test_prices.c — the shipped price table, lookups, merges, error texts. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <unistd.h>
#include <cmocka.h>

#include "prices.h"

static char tmpdir[] = "/tmp/test_prices.XXXXXX";
static char shipped[PATH_MAX + 32];

/* policies/prices.json: $SRC, else ../../ from build/tests/test_prices. */
static int
find_shipped(void)
{
	char exe[PATH_MAX];
	const char *src = getenv("SRC");
	ssize_t n;
	char *p;
	int i;

	if (src) {
		snprintf(shipped, sizeof(shipped), "%s/policies/prices.json", src);
		if (access(shipped, R_OK) == 0)
			return 0;
	}
	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) == -1)
		return -1;
	exe[n] = '\0';
	for (i = 0; i < 3 && (p = strrchr(exe, '/')); i++)
		*p = '\0';
	snprintf(shipped, sizeof(shipped), "%s/policies/prices.json", exe);
	return access(shipped, R_OK);
}

static int
setup(void **state)
{
	if (find_shipped() == -1 || mkdtemp(tmpdir) == NULL)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *
write_file(const char *name, const char *text)
{
	static char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static void
test_shipped_table(void **state)
{
	const struct tg_price *p;
	struct tg_prices *t;
	char err[512] = "";

	t = tg_prices_load(shipped, err, sizeof(err));
	assert_non_null(t);
	assert_string_equal(err, "");
	assert_true(tg_prices_count(t) > 250);

	p = tg_prices_find(t, "openai", "gpt-4o");
	assert_non_null(p);
	assert_int_equal(p->input, 2500000);
	assert_int_equal(p->output, 10000000);
	assert_int_equal(p->cached_input, 1250000);
	assert_int_equal(p->cache_write, 2500000); /* none: = input */
	assert_int_equal(p->max_output_tokens, 16384);

	p = tg_prices_find(t, "anthropic", "claude-3-5-sonnet-20241022");
	assert_non_null(p);
	assert_int_equal(p->input, 3000000);
	assert_int_equal(p->output, 15000000);
	assert_int_equal(p->cached_input, 300000);
	assert_int_equal(p->cache_write, 3750000);
	assert_int_equal(p->max_output_tokens, 8192);

	/* embeddings are kept, output 0 */
	p = tg_prices_find(t, "openai", "text-embedding-3-small");
	assert_non_null(p);
	assert_int_equal(p->input, 20000);
	assert_int_equal(p->output, 0);
	tg_prices_free(t);
}

static void
test_lookup_order(void **state)
{
	const struct tg_price *p;
	struct tg_prices *t;
	char err[512];

	t = tg_prices_load(shipped, err, sizeof(err));
	assert_non_null(t);
	/* provider-qualified key first: Azure sells gpt-4o-mini dearer */
	p = tg_prices_find(t, "azure", "gpt-4o-mini");
	assert_non_null(p);
	assert_int_equal(p->input, 165000);
	assert_int_equal(p->output, 660000);
	p = tg_prices_find(t, "openai", "gpt-4o-mini");
	assert_int_equal(p->input, 150000);
	/* a provider with no qualified entry falls back to the bare name */
	p = tg_prices_find(t, NULL, "gpt-4o-mini");
	assert_int_equal(p->input, 150000);
	/* Gemini API holds the bare name, Vertex AI stays reachable */
	p = tg_prices_find(t, "gemini", "gemini-1.5-pro");
	assert_int_equal(p->input, 3500000);
	p = tg_prices_find(t, "vertex", "gemini-1.5-pro");
	assert_int_equal(p->input, 1250000);
	/* within a provider, LiteLLM's provider entry won */
	p = tg_prices_find(t, "deepseek", "deepseek-chat");
	assert_int_equal(p->input, 270000);
	assert_int_equal(p->cached_input, 70000);
	/* an unknown dated snapshot falls back to the undated model */
	p = tg_prices_find(t, "openai", "gpt-4o-2099-01-31");
	assert_non_null(p);
	assert_int_equal(p->input, 2500000);
	p = tg_prices_find(t, "azure", "gpt-4o-mini-2099-01-31");
	assert_int_equal(p->input, 165000);
	/* ... but only to an undated entry that exists */
	assert_null(tg_prices_find(t, "anthropic", "claude-3-5-haiku-20991231"));
	/* a known snapshot is used as it is */
	p = tg_prices_find(t, "openai", "gpt-4o-2024-05-13");
	assert_int_equal(p->input, 5000000);
	/* unknown models are unpriced */
	assert_null(tg_prices_find(t, "openai", "no-such-model"));
	assert_null(tg_prices_find(t, "openai", "no-such-2024-01-01"));
	assert_null(tg_prices_find(t, "openai", ""));
	assert_null(tg_prices_find(t, "openai", NULL));
	tg_prices_free(t);
}

static void
test_gpu_and_cost(void **state)
{
	const tg_pico_usd *g;
	const struct tg_price *p;
	struct tg_prices *t;
	struct tg_record r;
	tg_nano_usd n;
	char err[512];

	t = tg_prices_load(shipped, err, sizeof(err));
	assert_non_null(t);
	/* $2.99/hour = 2,990,000,000,000 pico-USD per hour, exactly (per
	 * second it would be 830555555.6, rounded: an hour 2 nano-USD off) */
	g = tg_prices_gpu_hourly(t, "H100");
	assert_non_null(g);
	assert_int_equal(*g, 2990000000000LL);
	assert_int_equal(*tg_prices_gpu_hourly(t, "L4"), 800000000000LL);
	assert_null(tg_prices_gpu_hourly(t, "Z80"));
	assert_null(tg_prices_gpu_hourly(t, "NVIDIA H100 80GB HBM3"));

	/* gpt-4o 1234 in / 567 out through the table: $0.008755 */
	p = tg_prices_find(t, "openai", "gpt-4o");
	memset(&r, 0, sizeof(r));
	r.input_tokens = 1234;
	r.output_tokens = 567;
	assert_int_equal(tg_record_cost(p, &r, &n), 0);
	assert_int_equal(n, 8755000);
	/* reservation: 1234 in + the model's 16384 max out, rounded up */
	assert_int_equal(tg_reserve_cost(p, 1234, p->max_output_tokens),
	    3085000 + 163840000);
	tg_prices_free(t);
}

/* Device names (cuDeviceGetName) → the table's GPU key: a whole token,
 * the longest key that matches, none → NULL. */
static void
test_gpu_key(void **state)
{
	static const struct { const char *name, *key; } cases[] = {
		{ "NVIDIA H100 80GB HBM3", "H100" },
		{ "NVIDIA H100 PCIe", "H100" },
		{ "NVIDIA A100-SXM4-80GB", "A100" },
		{ "tollgate fake GPU (NVIDIA H100 80GB HBM3 stand-in)", "H100" },
		{ "NVIDIA H200", "H200" },
		{ "NVIDIA L40S", "L40S" },      /* not "L4" */
		{ "NVIDIA L4", "L4" },
		{ "NVIDIA A10G", "A10G" },
		{ "Tesla T4", "T4" },
		{ "nvidia h100 80gb", "H100" }, /* ASCII case ignored */
		{ "H100", "H100" },
		{ "NVIDIA GH100", NULL },       /* not a whole token */
		{ "NVIDIA H1000", NULL },
		{ "NVIDIA L40", NULL },
		{ "NVIDIA GeForce RTX 4090", NULL },
		{ "", NULL },
	};
	struct tg_prices *t;
	const char *path, *k;
	char err[512];

	t = tg_prices_load(shipped, err, sizeof(err));
	assert_non_null(t);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		k = tg_prices_gpu_key(t, cases[i].name);
		if (cases[i].key == NULL && k != NULL)
			fail_msg("'%s': got '%s', want none", cases[i].name, k);
		if (cases[i].key && (k == NULL || strcmp(k, cases[i].key)))
			fail_msg("'%s': got '%s', want '%s'", cases[i].name,
			    k ? k : "(none)", cases[i].key);
	}
	assert_null(tg_prices_gpu_key(t, NULL));
	assert_null(tg_prices_gpu_key(NULL, "NVIDIA H100"));
	/* the longest of several matching keys wins, wherever it is */
	path = write_file("keys.json", "{\"schema_version\": 1, \"gpus\": {"
	    "\"H100\": {\"usd_per_hour\": 1}, \"H100 NVL\": "
	    "{\"usd_per_hour\": 2}, \"NVL\": {\"usd_per_hour\": 3}}}");
	assert_int_equal(tg_prices_merge(t, path, err, sizeof(err)), 0);
	assert_string_equal(tg_prices_gpu_key(t, "NVIDIA H100 NVL"), "H100 NVL");
	assert_string_equal(tg_prices_gpu_key(t, "NVIDIA H100 SXM"), "H100");
	assert_string_equal(tg_prices_gpu_key(t, "NVL H100x"), "NVL");
	tg_prices_free(t);
}

/* gpu_pricing "spot" (issue 5: "on-demand or spot per host setting"):
 * a GPU with spot_usd_per_hour is billed at it, exactly; one without
 * falls back to usd_per_hour. The mode is the last merged file's that sets
 * it; a gpus entry replaces both prices. */
static void
test_gpu_spot(void **state)
{
	static const char *const names[] = { "A100", "A10G", "H100", "H200",
		"L4", "L40S", "T4", NULL };
	struct tg_prices *t;
	const char *path, *g;
	char err[512];
	int spot = -1;
	size_t i;

	t = tg_prices_load(shipped, err, sizeof(err));
	assert_non_null(t);
	/* shipped: on demand, and no spot figures (a host sets its own) */
	assert_int_equal(tg_prices_gpu_pricing(t), TG_GPU_ON_DEMAND);
	for (i = 0; (g = tg_prices_gpu_at(t, i, &spot)) != NULL; i++) {
		assert_non_null(names[i]);
		assert_string_equal(g, names[i]);
		assert_int_equal(spot, 0);
	}
	assert_null(names[i]);

	path = write_file("spot.json", "{\"schema_version\": 1,"
	    " \"gpu_pricing\": \"spot\", \"gpus\": {"
	    " \"H100\": {\"usd_per_hour\": 2.99, \"spot_usd_per_hour\": 1.23},"
	    " \"L4\": {\"usd_per_hour\": 0.8, \"spot_usd_per_hour\": 0.0299}}}");
	assert_int_equal(tg_prices_merge(t, path, err, sizeof(err)), 0);
	assert_int_equal(tg_prices_gpu_pricing(t), TG_GPU_SPOT);
	/* $1.23/h: an hour is 1,230,000,000 nano-USD; $0.0299/h exact too */
	assert_int_equal(*tg_prices_gpu_hourly(t, "H100"), 1230000000000LL);
	assert_int_equal(*tg_prices_gpu_hourly(t, "L4"), 29900000000LL);
	/* no spot price: on demand ($1.79/h) */
	assert_int_equal(*tg_prices_gpu_hourly(t, "A100"), 1790000000000LL);
	assert_null(tg_prices_gpu_hourly(t, "Z80"));
	assert_string_equal(tg_prices_gpu_at(t, 2, &spot), "H100");
	assert_int_equal(spot, 1);
	assert_string_equal(tg_prices_gpu_at(t, 0, &spot), "A100");
	assert_int_equal(spot, 0);

	/* a file without gpu_pricing keeps the mode; its H100 entry
	 * replaces both prices, so H100 is on demand again */
	path = write_file("host.json", "{\"schema_version\": 1, \"gpus\":"
	    " {\"H100\": {\"usd_per_hour\": 3.5}}}");
	assert_int_equal(tg_prices_merge(t, path, err, sizeof(err)), 0);
	assert_int_equal(tg_prices_gpu_pricing(t), TG_GPU_SPOT);
	assert_int_equal(*tg_prices_gpu_hourly(t, "H100"), 3500000000000LL);
	assert_int_equal(*tg_prices_gpu_hourly(t, "L4"), 29900000000LL);

	/* on_demand: every GPU at usd_per_hour, spot figures kept */
	path = write_file("od.json", "{\"schema_version\": 1,"
	    " \"gpu_pricing\": \"on_demand\"}");
	assert_int_equal(tg_prices_merge(t, path, err, sizeof(err)), 0);
	assert_int_equal(tg_prices_gpu_pricing(t), TG_GPU_ON_DEMAND);
	assert_int_equal(*tg_prices_gpu_hourly(t, "L4"), 800000000000LL);
	assert_string_equal(tg_prices_gpu_at(t, 4, &spot), "L4");
	assert_int_equal(spot, 1);

	/* a bad gpu_pricing changes nothing, not even the file's models */
	path = write_file("badmode.json", "{\"schema_version\": 1,"
	    " \"gpu_pricing\": \"spot-only\", \"models\": {\"m-new\":"
	    " {\"input_usd_per_mtok\": 1, \"output_usd_per_mtok\": 1}}}");
	assert_int_equal(tg_prices_merge(t, path, err, sizeof(err)), -1);
	assert_null(tg_prices_find(t, NULL, "m-new"));
	assert_int_equal(tg_prices_gpu_pricing(t), TG_GPU_ON_DEMAND);
	assert_null(tg_prices_gpu_at(t, 7, &spot));
	assert_null(tg_prices_gpu_at(NULL, 0, NULL));
	assert_int_equal(tg_prices_gpu_pricing(NULL), TG_GPU_ON_DEMAND);
	tg_prices_free(t);
}

static void
test_merge(void **state)
{
	const struct tg_price *p;
	struct tg_prices *t;
	const char *path;
	char err[512];
	size_t n;

	t = tg_prices_load(shipped, err, sizeof(err));
	assert_non_null(t);
	n = tg_prices_count(t);
	path = write_file("override.json", "{\"schema_version\": 1,"
	    " \"models\": {\"gpt-4o\": {\"input_usd_per_mtok\": 2,"
	    "  \"output_usd_per_mtok\": 8},"
	    " \"house-llm\": {\"provider\": \"local\", \"input_usd_per_mtok\":"
	    "  0.123456, \"output_usd_per_mtok\": 0.000001,"
	    "  \"max_output_tokens\": 4096}},"
	    " \"gpus\": {\"H100\": {\"usd_per_hour\": 3.6}}}");
	assert_int_equal(tg_prices_merge(t, path, err, sizeof(err)), 0);
	assert_int_equal(tg_prices_count(t), n + 1);
	p = tg_prices_find(t, "openai", "gpt-4o");
	assert_int_equal(p->input, 2000000);
	assert_int_equal(p->output, 8000000);
	assert_int_equal(p->cached_input, 2000000); /* replaced whole */
	assert_int_equal(p->max_output_tokens, 0);
	p = tg_prices_find(t, "local", "house-llm");
	assert_int_equal(p->input, 123456);
	assert_int_equal(p->output, 1);
	assert_int_equal(p->max_output_tokens, 4096);
	assert_int_equal(*tg_prices_gpu_hourly(t, "H100"), 3600000000000LL);

	/* a bad override changes nothing, even its valid first entry */
	path = write_file("bad.json", "{\"schema_version\": 1,"
	    " \"models\": {\"a-good\": {\"input_usd_per_mtok\": 1,"
	    "  \"output_usd_per_mtok\": 1},"
	    " \"z-bad\": {\"input_usd_per_mtok\": 1}}}");
	assert_int_equal(tg_prices_merge(t, path, err, sizeof(err)), -1);
	assert_int_equal(tg_prices_count(t), n + 1);
	assert_null(tg_prices_find(t, NULL, "a-good"));
	tg_prices_free(t);
}

static void
test_errors(void **state)
{
	static const struct {
		const char *text, *want;
	} t[] = {
		{ "{\"schema_version\": 1, \"models\": {\"gpt-4o\":"
		  " {\"input_usd_per_mtok\": \"2.5\", \"output_usd_per_mtok\": 10}}}",
		  "models.gpt-4o.input_usd_per_mtok: expected a number" },
		{ "{\"schema_version\": 1, \"models\": {\"gpt-4o\":"
		  " {\"input_usd_per_mtok\": 2.5}}}",
		  "models.gpt-4o.output_usd_per_mtok: expected a number" },
		{ "{\"schema_version\": 1, \"models\": {\"gpt-4o\":"
		  " {\"input_usd_per_mtok\": -1, \"output_usd_per_mtok\": 10}}}",
		  "models.gpt-4o.input_usd_per_mtok: expected a number from 0 "
		  "to 1000000000" },
		{ "{\"schema_version\": 1, \"models\": {\"gpt-4o\":"
		  " {\"input_usd_per_mtok\": 1, \"output_usd_per_mtok\": 1,"
		  " \"cached_input_usd_per_mtok\": null}}}",
		  "models.gpt-4o.cached_input_usd_per_mtok: expected a number" },
		{ "{\"schema_version\": 1, \"models\": {\"gpt-4o\":"
		  " {\"inptu_usd_per_mtok\": 1, \"output_usd_per_mtok\": 1}}}",
		  "models.gpt-4o.inptu_usd_per_mtok: unknown key" },
		{ "{\"schema_version\": 1, \"models\": {\"m\":"
		  " {\"input_usd_per_mtok\": 1, \"output_usd_per_mtok\": 1,"
		  " \"max_output_tokens\": 1.5}}}",
		  "models.m.max_output_tokens: expected an integer >= 0" },
		{ "{\"schema_version\": 1, \"models\": {\"m\": 3}}",
		  "models.m: expected an object" },
		{ "{\"schema_version\": 1, \"models\": []}",
		  "models: expected an object" },
		{ "{\"schema_version\": 2, \"models\": {}}",
		  "schema_version: expected 1" },
		{ "{\"models\": {}}", "schema_version: expected 1" },
		{ "{\"schema_version\": 1, \"modles\": {}}", "modles: unknown key" },
		{ "{\"schema_version\": 1, \"gpus\": {\"H100\":"
		  " {\"usd_per_hour\": \"2\"}}}",
		  "gpus.H100.usd_per_hour: expected a number" },
		{ "{\"schema_version\": 1, \"gpus\": {\"H100\":"
		  " {\"usd_per_hour\": 1e7}}}",
		  "gpus.H100.usd_per_hour: expected a number from 0 to 1000000" },
		{ "{\"schema_version\": 1, \"gpus\": {\"H100\":"
		  " {\"usd_per_hour\": 2, \"spot_usd_per_hour\": \"1\"}}}",
		  "gpus.H100.spot_usd_per_hour: expected a number" },
		{ "{\"schema_version\": 1, \"gpus\": {\"H100\":"
		  " {\"usd_per_hour\": 2, \"spot_usd_per_hour\": -0.5}}}",
		  "gpus.H100.spot_usd_per_hour: expected a number from 0 to "
		  "1000000" },
		{ "{\"schema_version\": 1, \"gpus\": {\"H100\":"
		  " {\"spot_usd_per_hour\": 1}}}",
		  "gpus.H100.usd_per_hour: expected a number" },
		{ "{\"schema_version\": 1, \"gpus\": {\"H100\":"
		  " {\"usd_per_hour\": 2, \"spot_usd_per_hr\": 1}}}",
		  "gpus.H100.spot_usd_per_hr: unknown key" },
		{ "{\"schema_version\": 1, \"gpu_pricing\": \"Spot\"}",
		  "gpu_pricing: expected \"on_demand\" or \"spot\"" },
		{ "{\"schema_version\": 1, \"gpu_pricing\": true}",
		  "gpu_pricing: expected \"on_demand\" or \"spot\"" },
		{ "[1]", "expected a JSON object" },
	};
	char err[512], want[1024];
	const char *path;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		path = write_file("prices.json", t[i].text);
		assert_null(tg_prices_load(path, err, sizeof(err)));
		snprintf(want, sizeof(want), "%s: %s", path, t[i].want);
		assert_string_equal(err, want);
	}
	/* syntax errors give file:line:column */
	path = write_file("prices.json", "{\"schema_version\": 1,\n  oops}");
	assert_null(tg_prices_load(path, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s:2:", path);
	assert_memory_equal(err, want, strlen(want));
	/* a missing file names itself */
	snprintf(want, sizeof(want), "%s/nope.json", tmpdir);
	assert_null(tg_prices_load(want, err, sizeof(err)));
	assert_memory_equal(err, want, strlen(want));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shipped_table),
		cmocka_unit_test(test_lookup_order),
		cmocka_unit_test(test_gpu_and_cost),
		cmocka_unit_test(test_gpu_key),
		cmocka_unit_test(test_gpu_spot),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
