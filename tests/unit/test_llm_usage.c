/* test_llm_usage.c — llm_usage_body on every whole-body fixture of
 * tests/fixtures/llm (exact token counts, have-bits, model, error), and
 * the mapping rules on small inline bodies. Streams: test_llm_stream.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "llm_fixture.h"

#define IN LLM_HAVE_INPUT
#define OUT LLM_HAVE_OUTPUT
#define CA LLM_HAVE_CACHED
#define CW LLM_HAVE_CACHE_WRITE
#define RE LLM_HAVE_REASONING

struct bcase {
	const char *file;
	const char *path, *host;   /* classified as a POST */
	struct want w;
};

#define OAI "api.openai.com"
#define GEM "generativelanguage.googleapis.com"

static const struct bcase cases[] = {
	{ "openai/chat.json", "/v1/chat/completions", OAI,
	    { 2143, 517, 1920, 0, 448, IN | OUT | CA | RE,
	    "o4-mini-2025-04-16", 0, 1 } },
	{ "openai/completions.json", "/v1/completions", OAI,
	    { 12, 31, 0, 0, 0, IN | OUT, "gpt-3.5-turbo-instruct", 0, 1 } },
	/* embeddings: output is a known 0 */
	{ "openai/embeddings.json", "/v1/embeddings", OAI,
	    { 23, 0, 0, 0, 0, IN | OUT, "text-embedding-3-small", 0, 1 } },
	{ "openai/error_429.json", "/v1/chat/completions", OAI,
	    { 0, 0, 0, 0, 0, 0, "", 1, 1 } },
	{ "openai/responses.json", "/v1/responses", OAI,
	    { 3280, 1209, 2944, 0, 1024, IN | OUT | CA | RE,
	    "gpt-5-2025-08-07", 0, 1 } },
	{ "azure/chat.json", "/openai/deployments/support-4o/chat/completions"
	    "?api-version=2024-10-21", "contoso.openai.azure.com",
	    { 1311, 88, 1152, 0, 0, IN | OUT | CA | RE, "gpt-4o-2024-11-20",
	    0, 1 } },
	/* input = 21 + 1888 cache writes + 12007 cache reads */
	{ "anthropic/message.json", "/v1/messages", "api.anthropic.com",
	    { 13916, 393, 12007, 1888, 0, IN | OUT | CA | CW,
	    "claude-sonnet-4-20250514", 0, 1 } },
	{ "anthropic/error.json", "/v1/messages", "api.anthropic.com",
	    { 0, 0, 0, 0, 0, 0, "", 1, 1 } },
	/* output = 312 candidates + 1229 thoughts */
	{ "gemini/generate.json", "/v1beta/models/gemini-2.5-pro:"
	    "generateContent", GEM,
	    { 5406, 1541, 4096, 0, 1229, IN | OUT | CA | RE, "gemini-2.5-pro",
	    0, 1 } },
	/* streamGenerateContent without alt=sse: one array, the last wins */
	{ "gemini/stream_array.json", "/v1beta/models/gemini-2.0-flash-001:"
	    "streamGenerateContent", GEM,
	    { 1317, 13, 1024, 0, 0, IN | OUT | CA, "gemini-2.0-flash-001", 0,
	    1 } },
	{ "gemini/error.json", "/v1beta/models/gemini-2.5-pro:"
	    "generateContent", GEM,
	    { 0, 0, 0, 0, 0, 0, "", 1, 1 } },
	{ "ollama/chat.json", "/api/chat", "localhost:11434",
	    { 26, 282, 0, 0, 0, IN | OUT, "llama3.2", 0, 1 } },
	{ "ollama/error.json", "/api/chat", "localhost:11434",
	    { 0, 0, 0, 0, 0, 0, "", 1, 1 } },
	/* "prompt_tokens_details": null: cached unknown */
	{ "vllm/chat.json", "/v1/chat/completions", "localhost:8000",
	    { 48, 139, 0, 0, 0, IN | OUT, "meta-llama/Llama-3.1-8B-Instruct", 0,
	    1 } },
	/* usage wins; cached from timings.cache_n */
	{ "llamacpp/chat.json", "/v1/chat/completions", "localhost:8080",
	    { 410, 40, 290, 0, 0, IN | OUT | CA, "gpt-oss-20b", 0, 1 } },
};

static void
test_fixture(void **state)
{
	const struct bcase *c = *state;
	struct llm_usage u;
	struct llm_req r;
	size_t len = 0;
	char *body;

	assert_int_equal(llm_classify("POST", c->path, c->host, &r), 1);
	assert_non_null(body = fixture_read(c->file, &len));
	memset(&u, 0, sizeof(u));
	assert_int_equal(llm_usage_body(&r, body, len, &u), 0);
	check(&u, &c->w);
	free(body);
}

static void
body(const char *path, const char *host, const char *json,
    struct llm_usage *u)
{
	struct llm_req r;

	assert_int_equal(llm_classify("POST", path, host, &r), 1);
	memset(u, 0, sizeof(*u));
	assert_int_equal(llm_usage_body(&r, json, strlen(json), u), 0);
}

/* Not JSON: -1, u untouched (the caller estimates). */
static void
test_not_json(void **state)
{
	struct llm_usage u, zero;
	struct llm_req r;

	llm_classify("POST", "/v1/chat/completions", OAI, &r);
	memset(&u, 0, sizeof(u));
	zero = u;
	assert_int_equal(llm_usage_body(&r, "<html>502 Bad Gateway</html>",
	    28, &u), -1);
	assert_int_equal(llm_usage_body(&r, "{\"usage\":{\"prompt_tokens\":5",
	    27, &u), -1);
	assert_memory_equal(&u, &zero, sizeof(u));
}

/* A missing count is unknown; a 0 that is there is known. */
static void
test_missing_vs_zero(void **state)
{
	struct llm_usage u;

	body("/v1/chat/completions", OAI, "{\"model\":\"gpt-4o\",\"usage\":"
	    "{\"prompt_tokens\":0,\"completion_tokens\":17}}", &u);
	assert_int_equal(u.have, IN | OUT);
	assert_int_equal(u.input, 0);
	assert_int_equal(u.output, 17);
	/* negative, fractional and string counts are not counts */
	body("/v1/chat/completions", OAI, "{\"usage\":{\"prompt_tokens\":-3,"
	    "\"completion_tokens\":2.5,\"prompt_tokens_details\":"
	    "{\"cached_tokens\":\"4\"}}}", &u);
	assert_int_equal(u.have, 0);
	assert_int_equal(u.input + u.output + u.cached, 0);
	/* no usage at all */
	body("/v1/chat/completions", OAI, "{\"model\":\"gpt-4o\",\"choices\":[],"
	    "\"usage\":null}", &u);
	assert_int_equal(u.have, 0);
	assert_string_equal(u.model, "gpt-4o");
	assert_int_equal(u.done, 1);
	/* Ollama without eval_count: output unknown */
	body("/api/generate", "localhost:11434", "{\"model\":\"phi3\","
	    "\"response\":\"\",\"done\":true,\"prompt_eval_count\":9}", &u);
	assert_int_equal(u.have, IN);
	assert_int_equal(u.input, 9);
}

/* Gemini (proto3 JSON) leaves zero counts out: once usageMetadata has a
 * total, absent candidates/thoughts are 0 and output is known. */
static void
test_gemini_zero_omitted(void **state)
{
	struct llm_usage u;

	body("/v1beta/models/gemini-2.5-flash:generateContent", GEM,
	    "{\"promptFeedback\":{\"blockReason\":\"SAFETY\"},\"usageMetadata\":"
	    "{\"promptTokenCount\":57,\"totalTokenCount\":57}}", &u);
	assert_int_equal(u.have, IN | OUT);
	assert_int_equal(u.input, 57);
	assert_int_equal(u.output, 0);
	/* thoughts only */
	body("/v1beta/models/gemini-2.5-flash:generateContent", GEM,
	    "{\"usageMetadata\":{\"promptTokenCount\":8,\"thoughtsTokenCount\":"
	    "99,\"totalTokenCount\":107}}", &u);
	assert_int_equal(u.have, IN | OUT | RE);
	assert_int_equal(u.output, 99);
	assert_int_equal(u.reasoning, 99);
}

/* The format follows the API, not the host: Anthropic's OpenAI-style
 * endpoint answers with prompt_tokens, read as OpenAI's. */
static void
test_compat_endpoint_of_provider(void **state)
{
	struct llm_usage u;

	body("/v1/chat/completions", "api.anthropic.com", "{\"model\":"
	    "\"claude-3-7-sonnet-20250219\",\"usage\":{\"prompt_tokens\":31,"
	    "\"completion_tokens\":12}}", &u);
	assert_int_equal(u.have, IN | OUT);
	assert_int_equal(u.input, 31);
	assert_int_equal(u.output, 12);
}

/* Responses: "error": null is no error; status failed is. */
static void
test_responses_status(void **state)
{
	struct llm_usage u;

	body("/v1/responses", OAI, "{\"status\":\"completed\",\"error\":null,"
	    "\"usage\":{\"input_tokens\":3,\"output_tokens\":4}}", &u);
	assert_int_equal(u.error, 0);
	body("/v1/responses", OAI, "{\"status\":\"failed\",\"usage\":null}",
	    &u);
	assert_int_equal(u.error, 1);
	assert_int_equal(u.have, 0);
}

int
main(void)
{
	struct CMUnitTest tests[sizeof(cases) / sizeof(cases[0]) + 6];
	size_t i, n = 0;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		tests[n++] = (struct CMUnitTest){ cases[i].file, test_fixture,
		    NULL, NULL, (void *)&cases[i] };
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_not_json);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_missing_vs_zero);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(
	    test_gemini_zero_omitted);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(
	    test_compat_endpoint_of_provider);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_responses_status);
	return _cmocka_run_group_tests("test_llm_usage", tests, n, NULL, NULL);
}
