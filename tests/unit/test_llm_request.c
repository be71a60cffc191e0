/* test_llm_request.c — llm_request_body: model, stream, include_usage,
 * every max-tokens spelling, and the exact input estimate
 * (ceil(text bytes / 4)) for known bodies. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "llm.h"

struct rcase {
	const char *name;
	const char *method, *path, *host;
	const char *body;
	const char *model;
	int stream, include_usage;
	int64_t max_tokens;
	uint64_t est;           /* with the text bytes it comes from */
};

#define CHAT "/v1/chat/completions"
#define OAI "api.openai.com"

static const struct rcase cases[] = {
	/* strings: "system" 6 + "You are terse." 14 + "user" 4 +
	 * "Hello there" 11 = 35 bytes → 9 */
	{ "openai chat stream+usage", "POST", CHAT, OAI,
	    "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"system\","
	    "\"content\":\"You are terse.\"},{\"role\":\"user\",\"content\":"
	    "\"Hello there\"}],\"stream\":true,\"stream_options\":"
	    "{\"include_usage\":true},\"max_tokens\":300}",
	    "gpt-4o", 1, 1, 300, 9 },
	/* max_completion_tokens wins over max_tokens; "user" 4 + "Prove
	 * it." 9 + "high" 4 = 17 → 5 */
	{ "max_completion_tokens", "POST", CHAT, OAI,
	    "{\"model\":\"o3\",\"max_tokens\":100,\"messages\":[{\"role\":"
	    "\"user\",\"content\":\"Prove it.\"}],\"reasoning_effort\":"
	    "\"high\",\"max_completion_tokens\":2000,\"stream\":false}",
	    "o3", 0, 0, 2000, 5 },
	/* include_usage without stream is still reported as asked */
	{ "stream false", "POST", CHAT, OAI,
	    "{\"model\":\"gpt-4o-mini\",\"messages\":[],\"stream_options\":"
	    "{\"include_usage\":false}}", "gpt-4o-mini", 0, 0, -1, 0 },
	/* responses: "Summarize this." 15 → 4 */
	{ "responses", "POST", "/v1/responses", OAI,
	    "{\"model\":\"gpt-5\",\"input\":\"Summarize this.\","
	    "\"max_output_tokens\":512,\"stream\":true}",
	    "gpt-5", 1, 0, 512, 4 },
	/* anthropic, base64 image skipped: "Be brief." 9 + "user" 4 +
	 * "text" 4 + "Hi" 2 + "image" 5 + "base64" 6 + "image/png" 9 = 39
	 * → 10 */
	{ "anthropic image", "POST", "/v1/messages", "api.anthropic.com",
	    "{\"model\":\"claude-sonnet-4-20250514\",\"max_tokens\":1024,"
	    "\"system\":\"Be brief.\",\"messages\":[{\"role\":\"user\","
	    "\"content\":[{\"type\":\"text\",\"text\":\"Hi\"},{\"type\":"
	    "\"image\",\"source\":{\"type\":\"base64\",\"media_type\":"
	    "\"image/png\",\"data\":\"iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB\"}}]}],"
	    "\"stream\":true}",
	    "claude-sonnet-4-20250514", 1, 0, 1024, 10 },
	/* gemini: the path's model stays; stream from the path; "user" 4
	 * + "Why is the sky blue?" 20 = 24 → 6 */
	{ "gemini", "POST", "/v1beta/models/gemini-2.5-flash:"
	    "streamGenerateContent?alt=sse", "generativelanguage.googleapis.com",
	    "{\"model\":\"not-this-one\",\"contents\":[{\"role\":\"user\","
	    "\"parts\":[{\"text\":\"Why is the sky blue?\"}]}],"
	    "\"generationConfig\":{\"maxOutputTokens\":800,\"temperature\":"
	    "0.2}}", "gemini-2.5-flash", 1, 0, 800, 6 },
	/* Vertex's proto spelling; inlineData.data skipped: "user" 4 +
	 * "image/jpeg" 10 + "What is this?" 13 = 27 → 7 */
	{ "vertex snake_case", "POST", "/v1/projects/p/locations/l/publishers/"
	    "google/models/gemini-2.0-flash:generateContent",
	    "europe-west4-aiplatform.googleapis.com",
	    "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"inlineData\":"
	    "{\"mimeType\":\"image/jpeg\",\"data\":\"/9j/4AAQSkZJRgABAQ\"}},"
	    "{\"text\":\"What is this?\"}]}],\"generation_config\":"
	    "{\"max_output_tokens\":64}}", "gemini-2.0-flash", 0, 0, 64, 7 },
	/* azure: the deployment names the model; the body's does not win */
	{ "azure deployment", "POST", "/openai/deployments/prod-4o/chat/"
	    "completions?api-version=2024-10-21", "x.openai.azure.com",
	    "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\","
	    "\"content\":\"ping\"}],\"max_tokens\":5}", "prod-4o", 0, 0, 5, 2 },
	/* ollama streams unless told not to; num_predict; "user" 4 +
	 * "why?" 4 = 8 → 2 */
	{ "ollama default stream", "POST", "/api/chat", "localhost:11434",
	    "{\"model\":\"llama3.2\",\"messages\":[{\"role\":\"user\","
	    "\"content\":\"why?\"}],\"options\":{\"num_predict\":128}}",
	    "llama3.2", 1, 0, 128, 2 },
	{ "ollama stream false", "POST", "/api/generate", "localhost:11434",
	    "{\"model\":\"mistral:7b\",\"prompt\":\"Name a colour.\","
	    "\"stream\":false,\"options\":{\"num_predict\":-1}}",
	    "mistral:7b", 0, 0, -1, 4 },
	/* images[] skipped: "Describe" 8 → 2 */
	{ "ollama images", "POST", "/api/generate", "localhost:11434",
	    "{\"model\":\"llava\",\"prompt\":\"Describe\",\"images\":"
	    "[\"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk\"]}",
	    "llava", 1, 0, -1, 2 },
	/* a data: URI is skipped, an https URL counts: "user" 4 +
	 * "image_url" 9 + "image_url" 9 + "https://example.com/cat.png" 27
	 * + "text" 4 + "Two cats?" 9 = 62 → 16 */
	{ "image urls", "POST", CHAT, OAI,
	    "{\"model\":\"gpt-4.1\",\"messages\":[{\"role\":\"user\","
	    "\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":"
	    "\"data:image/png;base64,iVBORw0KGgoAAAANSUhEUg\"}},{\"type\":"
	    "\"image_url\",\"image_url\":{\"url\":"
	    "\"https://example.com/cat.png\"}},{\"type\":\"text\",\"text\":"
	    "\"Two cats?\"}]}]}", "gpt-4.1", 0, 0, -1, 16 },
	/* decoded UTF-8 bytes: "user" 4 + "héllo wörld" 13 (é, ö: 2 bytes
	 * each, one given as \u00f6) = 17 → 5 */
	{ "utf-8", "POST", CHAT, OAI,
	    "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
	    "\"h\xc3\xa9llo w\\u00f6rld\"}]}", "m", 0, 0, -1, 5 },
	/* embeddings: "alpha" 5 + "beta" 4 + "float" 5 = 14 → 4 */
	{ "embeddings", "POST", "/v1/embeddings", OAI,
	    "{\"model\":\"text-embedding-3-small\",\"input\":[\"alpha\","
	    "\"beta\"],\"encoding_format\":\"float\"}",
	    "text-embedding-3-small", 0, 0, -1, 4 },
	/* limits that are not integers ≥ 0 are no limit */
	{ "max_tokens string", "POST", CHAT, OAI,
	    "{\"model\":\"m\",\"max_tokens\":\"100\"}", "m", 0, 0, -1, 1 },
	{ "max_tokens negative", "POST", CHAT, OAI,
	    "{\"model\":\"m\",\"max_tokens\":-5}", "m", 0, 0, -1, 0 },
	{ "max_tokens null", "POST", CHAT, OAI,
	    "{\"model\":\"m\",\"max_tokens\":null,\"max_output_tokens\":7}",
	    "m", 0, 0, 7, 0 },
	{ "max_tokens 0", "POST", CHAT, OAI,
	    "{\"model\":\"m\",\"max_tokens\":0}", "m", 0, 0, 0, 0 },
	/* a model too long for the field is left out, not cut */
	{ "long model", "POST", CHAT, OAI,
	    "{\"model\":\"m-0123456789012345678901234567890123456789012345678901"
	    "2345678901234567890123456789012345678901234567890123456789012345"
	    "678901234567890123456789\"}", "", 0, 0, -1, 0 },
};

static void
test_table(void **state)
{
	struct llm_req r;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct rcase *c = &cases[i];

		print_message("%s\n", c->name);
		memset(&r, 0, sizeof(r));
		assert_int_equal(llm_classify(c->method, c->path, c->host, &r),
		    1);
		assert_int_equal(llm_request_body(&r, c->body, strlen(c->body)),
		    0);
		assert_string_equal(r.model, c->model);
		assert_int_equal(r.stream, c->stream);
		assert_int_equal(r.include_usage, c->include_usage);
		assert_int_equal(r.max_tokens, c->max_tokens);
		assert_int_equal(r.est_input_tokens, c->est);
	}
}

/* Bodies that are not a JSON object: -1, and r keeps what it had. */
static void
test_not_json(void **state)
{
	static const char *const bad[] = {
		"", "{", "{\"model\":\"gpt-4o\",", "[1,2]", "\"text\"", "null",
		"{\"model\":\"a\"} trailing", "model=gpt-4o&stream=true",
	};
	const char *good = "{\"model\":\"gpt-4o\",\"stream\":true,"
	    "\"max_tokens\":9}";
	struct llm_req r, before;
	size_t i;

	memset(&r, 0, sizeof(r));
	llm_classify("POST", CHAT, OAI, &r);
	assert_int_equal(llm_request_body(&r, good, strlen(good)), 0);
	before = r;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(llm_request_body(&r, bad[i], strlen(bad[i])),
		    -1);
		assert_memory_equal(&r, &before, sizeof(r));
	}
}

/* The length bounds the parse: a body followed by more bytes (the next
 * pipelined request) is read up to len only. */
static void
test_length_bound(void **state)
{
	const char *buf = "{\"model\":\"gpt-4o\",\"max_tokens\":12}"
	    "POST /v1/chat/completions HTTP/1.1\r\n";
	struct llm_req r;

	memset(&r, 0, sizeof(r));
	llm_classify("POST", CHAT, OAI, &r);
	assert_int_equal(llm_request_body(&r, buf, 34), 0);
	assert_string_equal(r.model, "gpt-4o");
	assert_int_equal(r.max_tokens, 12);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_not_json),
		cmocka_unit_test(test_length_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
