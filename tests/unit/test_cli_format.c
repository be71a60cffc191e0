/* test_cli_format.c — tollctl's output: report table and CSV, the JSON
 * pretty printer (byte-exact tokens), the run summary and the budget
 * gate's exit status. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "jsonpp.h"
#include "report_fmt.h"
#include "run.h"

/* A document as ledger_report.c makes it (by model). */
static const char doc_text[] =
    "{\"schema_version\":1,\"by\":\"model\",\"totals\":{\"requests\":4,"
    "\"input_tokens\":5400,\"output_tokens\":1500,\"cached_tokens\":2000,"
    "\"refused_requests\":1,\"gpu_busy_seconds\":1.5,\"cost_usd\":0.0288,"
    "\"cost_nano_usd\":28800000},\"rows\":["
    "{\"model\":\"claude-3-5-sonnet-20241022\",\"requests\":1,"
    "\"input_tokens\":2400,\"output_tokens\":900,\"cached_tokens\":2000,"
    "\"gpu_busy_seconds\":0.0,\"cost_usd\":0.0153,\"cost_nano_usd\":15300000},"
    "{\"model\":\"gpt-4o\",\"requests\":3,\"input_tokens\":3000,"
    "\"output_tokens\":600,\"refused_requests\":1,\"gpu_busy_seconds\":1.5,"
    "\"cost_usd\":0.0135,\"cost_nano_usd\":13500000},"
    "{\"model\":\"(gpu)\",\"requests\":0,\"cost_nano_usd\":0}],"
    "\"untagged_cost_share\":0.25}";

static char *
render(int (*fn)(FILE *, json_t *, const char *), json_t *doc, const char *by)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(fn(f, doc, by), 0);
	fclose(f);
	return buf;
}

static json_t *
load(const char *text)
{
	json_t *doc = json_loads(text, 0, NULL);

	assert_non_null(doc);
	return doc;
}

static void
test_table(void **state)
{
	json_t *doc = load(doc_text);
	char *out = render(report_write_table, doc, "model");

	assert_string_equal(out,
	    "model                       requests  input  output  cached    cost $  $/1k tok  GPU s\n"
	    "claude-3-5-sonnet-20241022         1   2400     900    2000  0.015300  0.004636    0.0\n"
	    "gpt-4o                             3   3000     600       0  0.013500  0.003750    1.5\n"
	    "(gpu)                              0      0       0       0  0.000000         -    0.0\n"
	    "total                              4   5400    1500    2000  0.028800  0.004174    1.5\n"
	    "untagged: 25.0%\n");
	free(out);
	json_decref(doc);
}

static void
test_csv(void **state)
{
	json_t *doc = load(doc_text);
	char *out = render(report_write_csv, doc, "model");

	assert_string_equal(out,
	    "model,requests,input_tokens,output_tokens,cached_tokens,"
	    "cache_write_tokens,reasoning_tokens,estimated_requests,"
	    "refused_requests,gpu_launches,gpu_busy_seconds,gpu_held_seconds,"
	    "gpu_mem_peak_bytes,cost_usd,cost_per_1k_tokens,cost_nano_usd\n"
	    "claude-3-5-sonnet-20241022,1,2400,900,2000,0,0,0,0,0,0,0,0,"
	    "0.015300000,0.004636364,15300000\n"
	    "gpt-4o,3,3000,600,0,0,0,0,1,0,1.5,0,0,0.013500000,0.003750000,13500000\n"
	    "(gpu),0,0,0,0,0,0,0,0,0,0,0,0,0.000000000,,0\n");
	free(out);
	json_decref(doc);
}

static void
test_tag_key(void **state)
{
	json_t *doc = load("{\"rows\":[{\"team\":\"a,b\",\"requests\":2,"
	    "\"cost_usd\":0.5},{\"requests\":1}],\"totals\":{\"requests\":3}}");
	char *out = render(report_write_csv, doc, "tag:team");

	/* a key with a comma is quoted; cost_usd is used without nano;
	 * a row without the tag is untagged */
	assert_non_null(strstr(out, "team,requests,"));
	assert_non_null(strstr(out, "\n\"a,b\",2,0,"));
	assert_non_null(strstr(out, ",0.500000000,,500000000\n"));
	assert_non_null(strstr(out, "\n(untagged),1,"));
	free(out);
	json_decref(doc);
}

static void
test_jsonpp(void **state)
{
	static const char in[] = "{\"a\":[1,2.50,{}],\"b\":{\"c\":\"x,{\\\"y\\\":[\"},"
	    "\"d\":[],\"e\":0.1000000000000000055511151231257827,\"f\":null}";
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_int_equal(jsonpp_write(f, in, strlen(in)), 0);
	fclose(f);
	assert_string_equal(buf,
	    "{\n"
	    "  \"a\": [\n"
	    "    1,\n"
	    "    2.50,\n"
	    "    {}\n"
	    "  ],\n"
	    "  \"b\": {\n"
	    "    \"c\": \"x,{\\\"y\\\":[\"\n"
	    "  },\n"
	    "  \"d\": [],\n"
	    "  \"e\": 0.1000000000000000055511151231257827,\n"
	    "  \"f\": null\n"
	    "}\n");
	free(buf);
}

static void
test_run_result(void **state)
{
	struct run_result r;
	json_t *doc;

	/* the daemon's "run" object */
	doc = load("{\"totals\":{},\"run\":{\"budget_nano_usd\":10000000,"
	    "\"spent_nano_usd\":9000000,\"refused_requests\":3,"
	    "\"budget_exceeded\":true}}");
	assert_int_equal(run_result_get(doc, 10000000, &r), 0);
	assert_int_equal(r.budget_nano, 10000000);
	assert_int_equal(r.spent_nano, 9000000);
	assert_int_equal(r.refused, 3);
	assert_int_equal(r.exceeded, 1);
	assert_int_equal(run_exit_status(&r, 0, 86), 86);
	assert_int_equal(run_exit_status(&r, 7, 9), 9);
	json_decref(doc);

	/* within budget: CMD's status */
	doc = load("{\"run\":{\"budget_nano_usd\":20000000,"
	    "\"spent_nano_usd\":13500000,\"refused_requests\":0,"
	    "\"budget_exceeded\":false}}");
	assert_int_equal(run_result_get(doc, 20000000, &r), 0);
	assert_int_equal(r.exceeded, 0);
	assert_int_equal(run_exit_status(&r, 7, 86), 7);
	assert_int_equal(run_exit_status(&r, 143, 86), 143);
	json_decref(doc);

	/* spend reached the budget exactly, no refusal: exceeded */
	doc = load("{\"run\":{\"spent_nano_usd\":5,\"refused_requests\":0}}");
	assert_int_equal(run_result_get(doc, 5, &r), 0);
	assert_int_equal(r.exceeded, 1);
	json_decref(doc);

	/* no budget, no "run" object: derived from the totals */
	doc = load("{\"totals\":{\"cost_nano_usd\":42,\"refused_requests\":0}}");
	assert_int_equal(run_result_get(doc, -1, &r), 0);
	assert_int_equal(r.spent_nano, 42);
	assert_int_equal(r.exceeded, 0);
	json_decref(doc);

	doc = load("[1]");
	assert_int_equal(run_result_get(doc, -1, &r), -1);
	json_decref(doc);
}

static void
test_summary_line(void **state)
{
	json_t *doc = load("{\"totals\":{\"requests\":5,\"input_tokens\":2000,"
	    "\"output_tokens\":400},\"run\":{\"budget_nano_usd\":10000000,"
	    "\"spent_nano_usd\":9000000,\"refused_requests\":3}}");
	struct run_result r;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_int_equal(run_result_get(doc, 10000000, &r), 0);
	run_summary_print(f, doc, &r, 0, 86);
	fclose(f);
	assert_string_equal(buf,
	    "tollctl run: 5 requests, tokens in 2000 / out 400, cost $0.009000, "
	    "budget $0.010000, refused 3\n"
	    "tollctl run: budget exceeded: exit status 86 (the command's was 0)\n");
	free(buf);
	json_decref(doc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_csv),
		cmocka_unit_test(test_tag_key),
		cmocka_unit_test(test_jsonpp),
		cmocka_unit_test(test_run_result),
		cmocka_unit_test(test_summary_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
