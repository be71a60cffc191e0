/* test_llm_classify.c — llm_classify: method/path/host → provider, API,
 * model, endpoint, host; query strings, ports and non-LLM paths. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "llm.h"

struct ccase {
	const char *method, *path, *host;
	int ret;
	enum llm_provider provider;
	enum llm_api api;
	const char *model, *endpoint, *rhost;
	int stream;
};

#define OAI "api.openai.com"
#define AZ "contoso-eu.openai.azure.com"
#define ANT "api.anthropic.com"
#define GEM "generativelanguage.googleapis.com"

static const struct ccase cases[] = {
	/* OpenAI */
	{ "POST", "/v1/chat/completions", OAI, 1, LLM_OPENAI, LLM_API_CHAT,
	    "", "/v1/chat/completions", OAI, 0 },
	{ "POST", "/v1/chat/completions?trace=1", "api.openai.com:443", 1,
	    LLM_OPENAI, LLM_API_CHAT, "", "/v1/chat/completions", OAI, 0 },
	{ "POST", "/v1/responses", "API.OpenAI.com.", 1, LLM_OPENAI,
	    LLM_API_RESPONSES, "", "/v1/responses", OAI, 0 },
	{ "POST", "/v1/completions", OAI, 1, LLM_OPENAI, LLM_API_COMPLETIONS,
	    "", "/v1/completions", OAI, 0 },
	{ "POST", "/v1/embeddings", OAI, 1, LLM_OPENAI, LLM_API_EMBEDDINGS,
	    "", "/v1/embeddings", OAI, 0 },
	{ "GET", "/v1/models", OAI, 0, LLM_UNKNOWN, LLM_API_NONE, "",
	    "/v1/models", OAI, 0 },
	{ "GET", "/v1/chat/completions/chatcmpl-abc", OAI, 0, LLM_UNKNOWN,
	    LLM_API_NONE, "", "/v1/chat/completions/chatcmpl-abc", OAI, 0 },
	{ "POST", "/v1/responses/resp_123/cancel", OAI, 0, LLM_UNKNOWN,
	    LLM_API_NONE, "", "/v1/responses/resp_123/cancel", OAI, 0 },
	{ "POST", "/v1/audio/transcriptions", OAI, 0, LLM_UNKNOWN,
	    LLM_API_NONE, "", "/v1/audio/transcriptions", OAI, 0 },
	{ "post", "/v1/chat/completions", OAI, 0, LLM_UNKNOWN, LLM_API_NONE,
	    "", "/v1/chat/completions", OAI, 0 },
	/* Azure: deployments (model = deployment name) and the v1 API */
	{ "POST", "/openai/deployments/gpt4o-prod/chat/completions"
	    "?api-version=2024-10-21", AZ, 1, LLM_AZURE, LLM_API_CHAT,
	    "gpt4o-prod", "/openai/deployments/gpt4o-prod/chat/completions",
	    AZ, 0 },
	{ "POST", "/openai/deployments/emb-small/embeddings"
	    "?api-version=2024-10-21", AZ, 1, LLM_AZURE, LLM_API_EMBEDDINGS,
	    "emb-small", "/openai/deployments/emb-small/embeddings", AZ, 0 },
	{ "POST", "/openai/v1/chat/completions", AZ, 1, LLM_AZURE,
	    LLM_API_CHAT, "", "/openai/v1/chat/completions", AZ, 0 },
	{ "POST", "/openai/v1/responses", "contoso.cognitiveservices.azure.com",
	    1, LLM_AZURE, LLM_API_RESPONSES, "", "/openai/v1/responses",
	    "contoso.cognitiveservices.azure.com", 0 },
	{ "POST", "/openai/responses?api-version=2025-04-01-preview", AZ, 1,
	    LLM_AZURE, LLM_API_RESPONSES, "", "/openai/responses", AZ, 0 },
	{ "POST", "/openai/deployments/gpt-4o/chat/completions", "llm.corp.example",
	    1, LLM_AZURE, LLM_API_CHAT, "gpt-4o",
	    "/openai/deployments/gpt-4o/chat/completions", "llm.corp.example",
	    0 },
	{ "POST", "/openai/deployments//chat/completions", AZ, 0, LLM_UNKNOWN,
	    LLM_API_NONE, "", "/openai/deployments//chat/completions", AZ, 0 },
	{ "GET", "/openai/deployments?api-version=2022-12-01", AZ, 0,
	    LLM_UNKNOWN, LLM_API_NONE, "", "/openai/deployments", AZ, 0 },
	/* not a subdomain of openai.azure.com: an unknown host */
	{ "POST", "/v1/chat/completions", "evilopenai.azure.com", 1,
	    LLM_COMPAT, LLM_API_CHAT, "", "/v1/chat/completions",
	    "evilopenai.azure.com", 0 },
	/* Anthropic */
	{ "POST", "/v1/messages", ANT, 1, LLM_ANTHROPIC, LLM_API_MESSAGES, "",
	    "/v1/messages", ANT, 0 },
	{ "POST", "/v1/messages?beta=true", ANT, 1, LLM_ANTHROPIC,
	    LLM_API_MESSAGES, "", "/v1/messages", ANT, 0 },
	{ "POST", "/v1/messages/count_tokens", ANT, 0, LLM_UNKNOWN,
	    LLM_API_NONE, "", "/v1/messages/count_tokens", ANT, 0 },
	{ "POST", "/v1/messages/batches", ANT, 0, LLM_UNKNOWN, LLM_API_NONE,
	    "", "/v1/messages/batches", ANT, 0 },
	{ "POST", "/v1/chat/completions", ANT, 1, LLM_ANTHROPIC, LLM_API_CHAT,
	    "", "/v1/chat/completions", ANT, 0 },
	{ "POST", "/v1/messages", "localhost:8080", 1, LLM_ANTHROPIC,
	    LLM_API_MESSAGES, "", "/v1/messages", "localhost", 0 },
	/* Gemini: model in the path; the API key in the query stays out */
	{ "POST", "/v1beta/models/gemini-2.5-flash:generateContent"
	    "?key=AIzaSyD-not-a-real-key", GEM, 1, LLM_GEMINI, LLM_API_GEMINI,
	    "gemini-2.5-flash", "/v1beta/models/gemini-2.5-flash:generateContent",
	    GEM, 0 },
	{ "POST", "/v1beta/models/gemini-2.5-pro:streamGenerateContent"
	    "?alt=sse", GEM, 1, LLM_GEMINI, LLM_API_GEMINI, "gemini-2.5-pro",
	    "/v1beta/models/gemini-2.5-pro:streamGenerateContent", GEM, 1 },
	{ "POST", "/v1beta/models/gemini-2.5-pro:countTokens", GEM, 0,
	    LLM_UNKNOWN, LLM_API_NONE, "",
	    "/v1beta/models/gemini-2.5-pro:countTokens", GEM, 0 },
	{ "POST", "/v1beta/models/:generateContent", GEM, 0, LLM_UNKNOWN,
	    LLM_API_NONE, "", "/v1beta/models/:generateContent", GEM, 0 },
	{ "POST", "/v1/projects/p-42/locations/us-central1/publishers/google/"
	    "models/gemini-2.0-flash-001:streamGenerateContent?alt=sse",
	    "us-central1-aiplatform.googleapis.com", 1, LLM_GEMINI,
	    LLM_API_GEMINI, "gemini-2.0-flash-001", "/v1/projects/p-42/"
	    "locations/us-central1/publishers/google/models/"
	    "gemini-2.0-flash-001:streamGenerateContent",
	    "us-central1-aiplatform.googleapis.com", 1 },
	{ "POST", "/v1beta/openai/chat/completions", GEM, 1, LLM_GEMINI,
	    LLM_API_CHAT, "", "/v1beta/openai/chat/completions", GEM, 0 },
	/* Ollama */
	{ "POST", "/api/chat", "localhost:11434", 1, LLM_OLLAMA,
	    LLM_API_OLLAMA_CHAT, "", "/api/chat", "localhost", 0 },
	{ "POST", "/api/generate", "127.0.0.1:11434", 1, LLM_OLLAMA,
	    LLM_API_OLLAMA_GENERATE, "", "/api/generate", "127.0.0.1", 0 },
	{ "GET", "/api/tags", "localhost:11434", 0, LLM_UNKNOWN, LLM_API_NONE,
	    "", "/api/tags", "localhost", 0 },
	{ "POST", "/api/chat/extra", "localhost:11434", 0, LLM_UNKNOWN,
	    LLM_API_NONE, "", "/api/chat/extra", "localhost", 0 },
	/* OpenAI-compatible servers on hosts we do not know */
	{ "POST", "/v1/chat/completions", "localhost:8000", 1, LLM_COMPAT,
	    LLM_API_CHAT, "", "/v1/chat/completions", "localhost", 0 },
	{ "POST", "/chat/completions", "gpu-box:8080", 1, LLM_COMPAT,
	    LLM_API_CHAT, "", "/chat/completions", "gpu-box", 0 },
	{ "POST", "/api/v1/chat/completions", "openrouter.ai", 1, LLM_COMPAT,
	    LLM_API_CHAT, "", "/api/v1/chat/completions", "openrouter.ai", 0 },
	{ "POST", "/v1/embeddings", "[::1]:8000", 1, LLM_COMPAT,
	    LLM_API_EMBEDDINGS, "", "/v1/embeddings", "[::1]", 0 },
	{ "POST", "/completions", "gpu-box:8080", 0, LLM_UNKNOWN,
	    LLM_API_NONE, "", "/completions", "gpu-box", 0 },
	{ "POST", "/search/completions", "app.example", 0, LLM_UNKNOWN,
	    LLM_API_NONE, "", "/search/completions", "app.example", 0 },
	{ "GET", "/healthz", "localhost:8000", 0, LLM_UNKNOWN, LLM_API_NONE,
	    "", "/healthz", "localhost", 0 },
	{ "POST", "/healthz", "localhost:8000", 0, LLM_UNKNOWN, LLM_API_NONE,
	    "", "/healthz", "localhost", 0 },
	{ "POST", "/", "localhost", 0, LLM_UNKNOWN, LLM_API_NONE, "", "/",
	    "localhost", 0 },
	/* absolute-form (through a proxy); no Host header */
	{ "POST", "http://localhost:11434/api/chat", NULL, 1, LLM_OLLAMA,
	    LLM_API_OLLAMA_CHAT, "", "/api/chat", "localhost", 0 },
	{ "POST", "https://api.openai.com/v1/chat/completions?x=1", "", 1,
	    LLM_OPENAI, LLM_API_CHAT, "", "/v1/chat/completions", OAI, 0 },
};

static void
test_table(void **state)
{
	struct llm_req r;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct ccase *c = &cases[i];

		memset(&r, 0x5a, sizeof(r));
		strcpy(r.tags, "team=search");
		print_message("%s %s %s\n", c->method, c->path,
		    c->host ? c->host : "(null)");
		assert_int_equal(llm_classify(c->method, c->path, c->host, &r),
		    c->ret);
		assert_int_equal(r.provider, c->provider);
		assert_int_equal(r.api, c->api);
		assert_string_equal(r.model, c->model);
		assert_string_equal(r.endpoint, c->endpoint);
		assert_string_equal(r.host, c->rhost);
		assert_int_equal(r.stream, c->stream);
		assert_int_equal(r.include_usage, 0);
		assert_int_equal(r.max_tokens, -1);
		assert_int_equal(r.est_input_tokens, 0);
		/* the transport's tags survive */
		assert_string_equal(r.tags, "team=search");
	}
}

/* Lengths past the fields' sizes are cut, never overflow. */
static void
test_long_fields(void **state)
{
	char path[600], host[600], model[200];
	struct llm_req r;

	memset(model, 'm', sizeof(model) - 1);
	model[sizeof(model) - 1] = '\0';
	snprintf(path, sizeof(path), "/v1beta/models/%s:generateContent", model);
	memset(host, 'h', sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	assert_int_equal(llm_classify("POST", path, host, &r), 1);
	assert_int_equal(r.provider, LLM_GEMINI);
	assert_string_equal(r.model, ""); /* 199 bytes: left to the body */
	assert_int_equal(strlen(r.endpoint), sizeof(r.endpoint) - 1);
	assert_int_equal(strlen(r.host), sizeof(r.host) - 1);
	assert_int_equal(llm_classify("POST", NULL, "x", &r), 0);
	assert_int_equal(llm_classify(NULL, "/v1/chat/completions", "x", &r),
	    0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_long_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
