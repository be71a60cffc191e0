/* test_llm_stream.c — llm_usage_event on every stream fixture of
 * tests/fixtures/llm, fed one event at a time (exact counts, have-bits,
 * model, error, done), and the stream rules on inline events: Azure's
 * usage != null, Anthropic's cumulative output, Gemini's last
 * usageMetadata, Ollama's missing counts, content that mentions "usage". */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "llm_fixture.h"

#define IN LLM_HAVE_INPUT
#define OUT LLM_HAVE_OUTPUT
#define CA LLM_HAVE_CACHED
#define CW LLM_HAVE_CACHE_WRITE
#define RE LLM_HAVE_REASONING

struct scase {
	const char *file;
	const char *path, *host;   /* classified as a POST */
	int events;                /* how many the file holds */
	struct want w;
};

#define OAI "api.openai.com"
#define CHAT "/v1/chat/completions"
#define GEM "generativelanguage.googleapis.com"
#define GSTREAM(m) "/v1beta/models/" m ":streamGenerateContent?alt=sse"

static const struct scase cases[] = {
	{ "openai/chat_stream.sse", CHAT, OAI, 7,
	    { 57, 9, 0, 0, 0, IN | OUT | CA | RE, "gpt-4o-mini-2024-07-18", 0,
	    1 } },
	/* no include_usage: nothing known, but the model and the end are */
	{ "openai/chat_stream_nousage.sse", CHAT, OAI, 5,
	    { 0, 0, 0, 0, 0, 0, "gpt-4.1-2025-04-14", 0, 1 } },
	{ "openai/chat_stream_error.sse", CHAT, OAI, 3,
	    { 0, 0, 0, 0, 0, 0, "gpt-4o-2024-08-06", 1, 0 } },
	{ "openai/responses_stream.sse", "/v1/responses", OAI, 11,
	    { 412, 11, 0, 0, 0, IN | OUT | CA | RE, "gpt-4.1-mini-2025-04-14",
	    0, 1 } },
	{ "openai/responses_incomplete.sse", "/v1/responses", OAI, 5,
	    { 1536, 256, 1408, 0, 256, IN | OUT | CA | RE, "o3-2025-04-16", 0,
	    1 } },
	{ "openai/responses_failed.sse", "/v1/responses", OAI, 3,
	    { 0, 0, 0, 0, 0, 0, "gpt-4o-2024-08-06", 1, 1 } },
	/* the first chunk has "choices": [] and no usage; "model": "" */
	{ "azure/chat_stream.sse", "/openai/deployments/eu-4o/chat/"
	    "completions?api-version=2024-10-21", "contoso.openai.azure.com", 8,
	    { 734, 6, 512, 0, 0, IN | OUT | CA | RE, "gpt-4o-2024-11-20", 0,
	    1 } },
	/* 472 + 0 + 3072; output 164 (message_delta), not 2 + 164 */
	{ "anthropic/message_stream.sse", "/v1/messages", "api.anthropic.com",
	    9, { 3544, 164, 3072, 0, 0, IN | OUT | CA | CW,
	    "claude-opus-4-1-20250805", 0, 1 } },
	/* cut by an error event: what message_start said stays */
	{ "anthropic/message_stream_error.sse", "/v1/messages",
	    "api.anthropic.com", 5, { 2656, 1, 0, 2560, 0, IN | OUT | CA | CW,
	    "claude-3-5-haiku-20241022", 1, 0 } },
	/* the last usageMetadata: 71 candidates + 380 thoughts */
	{ "gemini/stream.sse", GSTREAM("gemini-2.5-flash"), GEM, 3,
	    { 641, 451, 0, 0, 380, IN | OUT | RE, "gemini-2.5-flash", 0, 1 } },
	/* an error object on a 200 stream, after two chunks */
	{ "gemini/stream_error.sse", GSTREAM("gemini-2.0-flash"), GEM, 3,
	    { 208, 17, 0, 0, 0, IN | OUT, "gemini-2.0-flash", 1, 0 } },
	{ "ollama/chat_stream.ndjson", "/api/chat", "localhost:11434", 5,
	    { 143, 57, 0, 0, 0, IN | OUT, "qwen3:8b", 0, 1 } },
	{ "ollama/generate_stream.ndjson", "/api/generate", "localhost:11434",
	    4, { 11, 4, 0, 0, 0, IN | OUT, "mistral:7b", 0, 1 } },
	/* prompt_eval_count missing: input unknown, not 0 */
	{ "ollama/generate_cached.ndjson", "/api/generate", "localhost:11434",
	    3, { 0, 2, 0, 0, 0, OUT, "mistral:7b", 0, 1 } },
	{ "vllm/chat_stream.sse", CHAT, "localhost:8000", 6,
	    { 35, 6, 0, 0, 0, IN | OUT, "Qwen/Qwen2.5-7B-Instruct", 0, 1 } },
	/* running usage in every chunk: the last, not the sum */
	{ "vllm/chat_stream_continuous.sse", CHAT, "localhost:8000", 6,
	    { 92, 5, 0, 0, 0, IN | OUT, "Qwen/Qwen2.5-7B-Instruct", 0, 1 } },
	/* usage 1085 wins over timings 61 + 1024; cached from cache_n */
	{ "llamacpp/chat_stream.sse", CHAT, "localhost:8080", 5,
	    { 1085, 4, 1024, 0, 0, IN | OUT | CA, "gpt-oss-20b", 0, 1 } },
};

static int
feed(const struct llm_req *r, const char *file, const char *text, size_t len,
    struct llm_usage *u)
{
	size_t n = strlen(file);

	if (n > 7 && strcmp(file + n - 7, ".ndjson") == 0)
		return fixture_feed_ndjson(r, text, len, u);
	return fixture_feed_sse(r, text, len, u);
}

static void
test_fixture(void **state)
{
	const struct scase *c = *state;
	struct llm_usage u;
	struct llm_req r;
	size_t len = 0;
	char *text;

	assert_int_equal(llm_classify("POST", c->path, c->host, &r), 1);
	assert_non_null(text = fixture_read(c->file, &len));
	memset(&u, 0, sizeof(u));
	assert_int_equal(feed(&r, c->file, text, len, &u), c->events);
	check(&u, &c->w);
	free(text);
}

/* The same streams with their SSE event names dropped (a relay that
 * keeps only data lines): read by each event's "type". */
static void
test_without_names(void **state)
{
	static const char *const files[] = {
		"openai/responses_stream.sse", "anthropic/message_stream.sse",
		"anthropic/message_stream_error.sse",
	};
	static const char *const paths[] = {
		"/v1/responses", "/v1/messages", "/v1/messages",
	};
	struct llm_usage named, bare;
	struct llm_req r;
	size_t i, len = 0, j, k;
	char *text;

	for (i = 0; i < 3; i++) {
		llm_classify("POST", paths[i], "example.test", &r);
		assert_non_null(text = fixture_read(files[i], &len));
		memset(&named, 0, sizeof(named));
		fixture_feed_sse(&r, text, len, &named);
		/* blank out "event:" lines: they become unknown fields */
		for (j = 0; j + 6 <= len; j++)
			if ((j == 0 || text[j - 1] == '\n') &&
			    memcmp(text + j, "event:", 6) == 0)
				for (k = j; text[k] != '\n'; k++)
					text[k] = 'x';
		memset(&bare, 0, sizeof(bare));
		fixture_feed_sse(&r, text, len, &bare);
		assert_memory_equal(&named, &bare, sizeof(named));
		assert_int_equal(bare.have != 0, 1);
		free(text);
	}
}

static void
ev(const struct llm_req *r, const char *name, const char *data,
    struct llm_usage *u)
{
	fixture_event(r, name, data, strlen(data), u);
}

static void
req(struct llm_req *r, const char *path, const char *host,
    struct llm_usage *u)
{
	assert_int_equal(llm_classify("POST", path, host, r), 1);
	memset(u, 0, sizeof(*u));
}

/* Azure: empty-choices chunks without usage, or with "usage": null, are
 * not the usage chunk; the one whose usage is an object is. */
static void
test_azure_usage_not_null(void **state)
{
	struct llm_usage u;
	struct llm_req r;

	req(&r, "/openai/deployments/d/chat/completions", "a.openai.azure.com",
	    &u);
	ev(&r, "", "{\"choices\":[],\"created\":0,\"id\":\"\",\"model\":\"\","
	    "\"prompt_filter_results\":[]}", &u);
	ev(&r, "", "{\"choices\":[],\"model\":\"gpt-4o\",\"usage\":null}", &u);
	assert_int_equal(u.have, 0);
	/* a content filter that failed is not a failed request */
	ev(&r, "", "{\"choices\":[{\"content_filter_results\":{\"error\":"
	    "{\"code\":\"content_filter_error\",\"message\":\"The contents "
	    "are not filtered\"}},\"delta\":{\"content\":\"x\"},\"index\":0}],"
	    "\"usage\":null}", &u);
	assert_int_equal(u.error, 0);
	ev(&r, "", "{\"choices\":[],\"model\":\"gpt-4o\",\"usage\":"
	    "{\"prompt_tokens\":70,\"completion_tokens\":3}}", &u);
	ev(&r, "", "{\"choices\":[],\"model\":\"gpt-4o\"}", &u);
	assert_int_equal(u.have, IN | OUT);
	assert_int_equal(u.input, 70);
	assert_int_equal(u.output, 3);
	assert_string_equal(u.model, "gpt-4o");
	assert_int_equal(u.done, 0);
	ev(&r, "", " [DONE]\r\n", &u);
	assert_int_equal(u.done, 1);
}

/* Anthropic: each message_delta's output_tokens is the running total. */
static void
test_anthropic_cumulative(void **state)
{
	struct llm_usage u;
	struct llm_req r;

	req(&r, "/v1/messages", "api.anthropic.com", &u);
	ev(&r, "message_start", "{\"type\":\"message_start\",\"message\":"
	    "{\"model\":\"claude-sonnet-4-5\",\"usage\":{\"input_tokens\":50,"
	    "\"cache_read_input_tokens\":200,\"output_tokens\":1}}}", &u);
	ev(&r, "message_delta", "{\"type\":\"message_delta\",\"usage\":"
	    "{\"output_tokens\":10}}", &u);
	ev(&r, "ping", "{\"type\": \"ping\"}", &u);
	ev(&r, "message_delta", "{\"type\":\"message_delta\",\"usage\":"
	    "{\"output_tokens\":25}}", &u);
	assert_int_equal(u.output, 25);
	/* a later delta repeating the input counts (server tools) */
	ev(&r, "message_delta", "{\"type\":\"message_delta\",\"usage\":"
	    "{\"input_tokens\":80,\"cache_read_input_tokens\":200,"
	    "\"output_tokens\":31}}", &u);
	assert_int_equal(u.input, 280);
	assert_int_equal(u.cached, 200);
	assert_int_equal(u.output, 31);
	assert_int_equal(u.have, IN | OUT | CA);
	assert_int_equal(u.done, 0);
	ev(&r, "message_stop", "{\"type\":\"message_stop\"}", &u);
	assert_int_equal(u.done, 1);
	assert_int_equal(u.error, 0);
}

/* Gemini: usage is the LAST usageMetadata, and an error object in a
 * 200 stream is an error; a function call's args saying "error" is not. */
static void
test_gemini_last_and_error(void **state)
{
	struct llm_usage u;
	struct llm_req r;

	req(&r, GSTREAM("gemini-2.5-flash"), GEM, &u);
	ev(&r, "", "{\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":"
	    "{\"name\":\"report\",\"args\":{\"error\":\"disk full\"}}}]}}],"
	    "\"usageMetadata\":{\"promptTokenCount\":30,"
	    "\"candidatesTokenCount\":9,\"totalTokenCount\":39}}", &u);
	assert_int_equal(u.error, 0);
	ev(&r, "", "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"x\"}]}"
	    "}],\"usageMetadata\":{\"promptTokenCount\":30,"
	    "\"candidatesTokenCount\":14,\"totalTokenCount\":44}}", &u);
	assert_int_equal(u.output, 14);
	assert_int_equal(u.done, 0);
	ev(&r, "", "{\"error\":{\"code\":500,\"message\":\"Internal error\","
	    "\"status\":\"INTERNAL\"}}", &u);
	assert_int_equal(u.error, 1);
	assert_int_equal(u.input, 30);
	assert_int_equal(u.output, 14);
}

/* Text that mentions "usage" or "error" inside a string is content. */
static void
test_content_mentions_keys(void **state)
{
	struct llm_usage u;
	struct llm_req r;

	req(&r, CHAT, OAI, &u);
	ev(&r, "", "{\"model\":\"gpt-4o\",\"choices\":[{\"delta\":{\"content\":"
	    "\"set \\\"usage\\\": {\\\"prompt_tokens\\\": 5} and \\\"error\\\":"
	    " 1\"}}],\"usage\":null}", &u);
	assert_int_equal(u.have, 0);
	assert_int_equal(u.error, 0);
	req(&r, "/api/chat", "localhost:11434", &u);
	ev(&r, "", "{\"model\":\"m\",\"message\":{\"content\":"
	    "\"\\\"done\\\": true\"},\"done\":false}", &u);
	assert_int_equal(u.done, 0);
	/* tool-call arguments are JSON objects in Ollama */
	ev(&r, "", "{\"model\":\"m\",\"message\":{\"tool_calls\":[{\"function\":"
	    "{\"arguments\":{\"done\":true,\"error\":\"x\"}}}]},\"done\":false}",
	    &u);
	assert_int_equal(u.done, 0);
	assert_int_equal(u.error, 0);
	assert_int_equal(u.have, 0);
	ev(&r, "", "{\"error\":\"out of memory\"}", &u);
	assert_int_equal(u.error, 1);
}

/* llama.cpp without usage (older builds, timings_per_token): the prompt
 * is prompt_n processed + cache_n reused. */
static void
test_llamacpp_timings_only(void **state)
{
	struct llm_usage u;
	struct llm_req r;

	req(&r, "/chat/completions", "localhost:8080", &u);
	ev(&r, "", "{\"choices\":[{\"delta\":{\"content\":\"a\"}}],\"model\":"
	    "\"qwen\",\"timings\":{\"cache_n\":100,\"prompt_n\":23,"
	    "\"predicted_n\":1}}", &u);
	ev(&r, "", "{\"choices\":[{\"delta\":{\"content\":\"b\"}}],\"model\":"
	    "\"qwen\",\"timings\":{\"cache_n\":100,\"prompt_n\":23,"
	    "\"predicted_n\":2}}", &u);
	assert_int_equal(u.have, IN | OUT | CA);
	assert_int_equal(u.input, 123);
	assert_int_equal(u.cached, 100);
	assert_int_equal(u.output, 2);
	/* OpenAI's own API never sends timings: not read there */
	req(&r, CHAT, OAI, &u);
	ev(&r, "", "{\"timings\":{\"prompt_n\":5,\"predicted_n\":6}}", &u);
	assert_int_equal(u.have, 0);
}

/* Responses: an "error" event, and deltas that are never parsed. */
static void
test_responses_error_event(void **state)
{
	struct llm_usage u;
	struct llm_req r;

	req(&r, "/v1/responses", OAI, &u);
	ev(&r, "response.output_text.delta", "{\"type\":"
	    "\"response.output_text.delta\",\"delta\":\"{\\\"usage\\\":1}\"}",
	    &u);
	assert_int_equal(u.have, 0);
	ev(&r, "error", "{\"type\":\"error\",\"code\":\"ERR_SOMETHING\","
	    "\"message\":\"Something went wrong\",\"param\":null,"
	    "\"sequence_number\":1}", &u);
	assert_int_equal(u.error, 1);
	assert_int_equal(u.done, 0);
}

/* Malformed events change nothing and never read past len. */
static void
test_malformed(void **state)
{
	static const char *const bad[] = {
		"", "{", "{\"usage\":", "{\"usage\":{\"prompt_tokens\":5",
		"[DONE", "data: [DONE]", "{\"usageMetadata\":{\"promptToken",
		"{\"usage\":nul", "{\"usage\" {\"prompt_tokens\":1}}",
	};
	static const char *const paths[] = {
		CHAT, "/v1/responses", "/v1/messages", "/api/chat",
		GSTREAM("g"),
	};
	struct llm_usage u, zero;
	struct llm_req r;
	size_t i, j;

	for (j = 0; j < sizeof(paths) / sizeof(paths[0]); j++) {
		req(&r, paths[j], "localhost", &u);
		zero = u;
		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			ev(&r, "", bad[i], &u);
			ev(&r, "message_delta", bad[i], &u);
			ev(&r, "response.completed", bad[i], &u);
		}
		assert_memory_equal(&u, &zero, sizeof(u));
	}
}

/* Content events are looked at without a parser: jansson allocates
 * nothing for them (the parser itself calls no malloc). */
static int allocs;

static void *
count_malloc(size_t n)
{
	allocs++;
	return malloc(n);
}

static void
test_no_alloc_for_content(void **state)
{
	static const struct {
		const char *path, *name, *content, *uname, *usage;
	} p[] = {
		{ CHAT, "", "{\"model\":\"gpt-4o\",\"choices\":[{\"delta\":"
		    "{\"content\":\"hi\"}}],\"usage\":null}", "",
		    "{\"choices\":[],\"usage\":{\"prompt_tokens\":1}}" },
		{ "/v1/responses", "response.output_text.delta", "{\"type\":"
		    "\"response.output_text.delta\",\"delta\":\"hi\"}",
		    "response.completed", "{\"type\":\"response.completed\","
		    "\"response\":{\"usage\":{\"input_tokens\":1}}}" },
		{ "/v1/messages", "content_block_delta", "{\"type\":"
		    "\"content_block_delta\",\"delta\":{\"text\":\"hi\"}}",
		    "message_delta", "{\"type\":\"message_delta\",\"usage\":"
		    "{\"output_tokens\":1}}" },
		{ "/api/chat", "", "{\"model\":\"m\",\"message\":{\"content\":"
		    "\"hi\"},\"done\":false}", "",
		    "{\"done\":true,\"eval_count\":1}" },
	};
	struct llm_usage u;
	struct llm_req r;
	size_t i;
	int k;

	json_set_alloc_funcs(count_malloc, free);
	for (i = 0; i < sizeof(p) / sizeof(p[0]); i++) {
		req(&r, p[i].path, "localhost", &u);
		allocs = 0;
		for (k = 0; k < 100; k++)
			ev(&r, p[i].name, p[i].content, &u);
		assert_int_equal(allocs, 0);
		/* the counter works: a usage event parses */
		ev(&r, p[i].uname, p[i].usage, &u);
		assert_true(allocs > 0);
		assert_int_not_equal(u.have, 0);
	}
	/* Gemini: every chunk has usage, read without a parser too */
	req(&r, GSTREAM("g"), GEM, &u);
	allocs = 0;
	ev(&r, "", "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":"
	    "\"hi\"}]}}],\"usageMetadata\":{\"promptTokenCount\":3,"
	    "\"candidatesTokenCount\":1}}", &u);
	assert_int_equal(allocs, 0);
	assert_int_equal(u.input, 3);
	json_set_alloc_funcs(malloc, free);
}

#define NCASES (sizeof(cases) / sizeof(cases[0]))

int
main(void)
{
	static const struct CMUnitTest extra[] = {
		cmocka_unit_test(test_without_names),
		cmocka_unit_test(test_azure_usage_not_null),
		cmocka_unit_test(test_anthropic_cumulative),
		cmocka_unit_test(test_gemini_last_and_error),
		cmocka_unit_test(test_content_mentions_keys),
		cmocka_unit_test(test_llamacpp_timings_only),
		cmocka_unit_test(test_responses_error_event),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_no_alloc_for_content),
	};
	struct CMUnitTest tests[NCASES + sizeof(extra) / sizeof(extra[0])];
	size_t i, n = 0;

	for (i = 0; i < NCASES; i++)
		tests[n++] = (struct CMUnitTest){ cases[i].file, test_fixture,
		    NULL, NULL, (void *)&cases[i] };
	for (i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
		tests[n++] = extra[i];
	return _cmocka_run_group_tests("test_llm_stream", tests, n, NULL, NULL);
}
