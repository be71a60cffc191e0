/*
 * llm_classify.c — which LLM API a request is, from its method, path and
 * host (llm_classify in llm.h). libc only, no allocation.
 *
 * Only POST requests to a token-metered API count: chat completions,
 * completions, responses, embeddings (OpenAI and the servers that copy
 * it), Anthropic messages, Gemini generateContent/streamGenerateContent,
 * Ollama chat/generate. Everything else (GET /v1/models, /healthz,
 * /v1/messages/count_tokens, batch and file APIs) is not metered.
 *
 * The provider comes from the host when it is one we know (a provider's
 * own host wins, so Gemini's OpenAI-compatible /v1beta/openai/chat/
 * completions is billed as Gemini); otherwise from the path. On a known
 * host any path ending in an OpenAI API name counts; on an unknown host
 * only /v1/<api> (after any prefix: /api/v1/…, /openai/v1/…) or
 * /chat/completions alone (llama.cpp, DeepSeek) does, which keeps other
 * web servers' /completions out, llama.cpp's native /completions among
 * them (its answer is not in OpenAI's shape).
 *
 * The model is taken from the path where the path carries it: Gemini's
 * …/models/{model}:generateContent and Azure's /openai/deployments/{name}/
 * (the deployment name, usually the model's; the response's model says
 * which one ran).
 */
#include "llm.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

struct host_rule {
	const char *name;
	const char *seps;       /* "": exact; else what may join a subdomain */
	enum llm_provider provider;
};

static const struct host_rule host_rules[] = {
	{ "api.openai.com", "", LLM_OPENAI },
	{ "openai.azure.com", ".", LLM_AZURE },
	{ "cognitiveservices.azure.com", ".", LLM_AZURE },
	{ "services.ai.azure.com", ".", LLM_AZURE },
	{ "api.anthropic.com", "", LLM_ANTHROPIC },
	{ "generativelanguage.googleapis.com", "", LLM_GEMINI },
	/* Vertex AI: us-central1-aiplatform.googleapis.com */
	{ "aiplatform.googleapis.com", ".-", LLM_GEMINI },
};

/* OpenAI-style API names; chat first, since it ends in /completions too. */
static const struct {
	const char *name;
	enum llm_api api;
} oai_apis[] = {
	{ "/chat/completions", LLM_API_CHAT },
	{ "/completions", LLM_API_COMPLETIONS },
	{ "/responses", LLM_API_RESPONSES },
	{ "/embeddings", LLM_API_EMBEDDINGS },
};

#define AZURE_DEPLOY "/openai/deployments/"

static int
ends_with(const char *s, size_t n, const char *suf)
{
	size_t k = strlen(suf);

	return n >= k && memcmp(s + n - k, suf, k) == 0;
}

static enum llm_provider
host_provider(const char *host)
{
	size_t n = strlen(host), k;
	size_t i;

	for (i = 0; i < sizeof(host_rules) / sizeof(host_rules[0]); i++) {
		const struct host_rule *h = &host_rules[i];

		k = strlen(h->name);
		if (n == k && strcmp(host, h->name) == 0)
			return h->provider;
		if (h->seps[0] != '\0' && n > k + 1 &&
		    strcmp(host + n - k, h->name) == 0 &&
		    strchr(h->seps, host[n - k - 1]) != NULL)
			return h->provider;
	}
	return LLM_UNKNOWN;
}

enum llm_provider
llm_host_provider(const char *host)
{
	char low[256];
	size_t n = strlen(host);

	if (n >= sizeof(low))
		return LLM_UNKNOWN;
	for (size_t i = 0; i <= n; i++)
		low[i] = (host[i] >= 'A' && host[i] <= 'Z') ? host[i] + 32 :
		    host[i];
	if (n > 0 && low[n - 1] == '.')
		low[n - 1] = '\0';
	return host_provider(low);
}

/* Host (or an absolute-form URL's authority) → r->host: lower case,
 * without port, brackets kept for IPv6, a trailing dot dropped. */
static void
set_host(struct llm_req *r, const char *h, size_t n)
{
	const char *colon;
	size_t i;

	if (n > 0 && h[0] == '[') {
		const char *rb = memchr(h, ']', n);
		if (rb != NULL)
			n = rb - h + 1;
	} else if ((colon = memchr(h, ':', n)) != NULL)
		n = colon - h;
	if (n > 0 && h[n - 1] == '.')
		n--;
	if (n >= sizeof(r->host))
		n = sizeof(r->host) - 1;
	for (i = 0; i < n; i++)
		r->host[i] = (h[i] >= 'A' && h[i] <= 'Z') ? h[i] + 32 : h[i];
	r->host[n] = '\0';
}

static void
set_model(struct llm_req *r, const char *m, size_t n)
{
	if (n == 0 || n >= sizeof(r->model))
		return; /* one that does not fit: left to the body/response */
	memcpy(r->model, m, n);
	r->model[n] = '\0';
}

/* Gemini: the last segment is "{model}:generateContent" or
 * "{model}:streamGenerateContent". */
static int
gemini_path(struct llm_req *r, const char *p, size_t n)
{
	const char *seg, *colon;
	size_t segn;

	seg = memrchr(p, '/', n);
	seg = seg ? seg + 1 : p;
	segn = p + n - seg;
	if ((colon = memchr(seg, ':', segn)) == NULL || colon == seg)
		return 0;
	if (ends_with(seg, segn, ":streamGenerateContent"))
		r->stream = 1;
	else if (!ends_with(seg, segn, ":generateContent"))
		return 0;
	r->api = LLM_API_GEMINI;
	set_model(r, seg, colon - seg);
	return 1;
}

/* An OpenAI-style API name at the end of the path. strict: only
 * "/v1/<api>" (after any prefix) or "/chat/completions" alone. */
static enum llm_api
oai_path(const char *p, size_t n, int strict)
{
	size_t i, k;

	for (i = 0; i < sizeof(oai_apis) / sizeof(oai_apis[0]); i++) {
		if (!ends_with(p, n, oai_apis[i].name))
			continue;
		k = strlen(oai_apis[i].name);
		if (!strict || ends_with(p, n - k, "/v1") ||
		    (n == k && oai_apis[i].api == LLM_API_CHAT))
			return oai_apis[i].api;
		return LLM_API_NONE;
	}
	return LLM_API_NONE;
}

/* The API and the provider its path implies (LLM_UNKNOWN: none). */
static enum llm_provider
path_api(struct llm_req *r, const char *p, size_t n, int known_host)
{
	size_t dk = strlen(AZURE_DEPLOY);

	if (gemini_path(r, p, n))
		return LLM_GEMINI;
	if (n == 9 && memcmp(p, "/api/chat", 9) == 0) {
		r->api = LLM_API_OLLAMA_CHAT;
		return LLM_OLLAMA;
	}
	if (n == 13 && memcmp(p, "/api/generate", 13) == 0) {
		r->api = LLM_API_OLLAMA_GENERATE;
		return LLM_OLLAMA;
	}
	if (ends_with(p, n, "/v1/messages")) {
		r->api = LLM_API_MESSAGES;
		return LLM_ANTHROPIC;
	}
	if (n > dk && memcmp(p, AZURE_DEPLOY, dk) == 0) {
		const char *name = p + dk, *slash = memchr(name, '/', n - dk);

		if (slash == NULL || slash == name ||
		    (r->api = oai_path(p, n, 0)) == LLM_API_NONE)
			return LLM_UNKNOWN;
		set_model(r, name, slash - name);
		return LLM_AZURE;
	}
	r->api = oai_path(p, n, !known_host);
	return r->api == LLM_API_NONE ? LLM_UNKNOWN : LLM_COMPAT;
}

static void
req_reset(struct llm_req *r)
{
	/* tags come from a header the transport reads: left alone */
	r->provider = LLM_UNKNOWN;
	r->api = LLM_API_NONE;
	r->model[0] = r->host[0] = r->endpoint[0] = '\0';
	r->stream = r->include_usage = 0;
	r->max_tokens = -1;
	r->est_input_tokens = 0;
}

int
llm_classify(const char *method, const char *path, const char *host,
    struct llm_req *r)
{
	enum llm_provider hp, pp;
	size_t n;

	req_reset(r);
	if (path == NULL)
		return 0;
	/* absolute-form (a request to a proxy): http://host:port/path */
	if (strncasecmp(path, "http://", 7) == 0 ||
	    strncasecmp(path, "https://", 8) == 0) {
		const char *a = strchr(path, '/') + 2;

		path = a + strcspn(a, "/?");
		if (host == NULL || host[0] == '\0')
			set_host(r, a, path - a);
	}
	if (host != NULL && host[0] != '\0')
		set_host(r, host, strlen(host));
	n = strcspn(path, "?#");
	snprintf(r->endpoint, sizeof(r->endpoint), "%.*s", (int)n, path);
	if (method == NULL || strcmp(method, "POST") != 0)
		return 0;
	hp = host_provider(r->host);
	pp = path_api(r, path, n, hp != LLM_UNKNOWN);
	if (r->api == LLM_API_NONE)
		return 0;
	r->provider = hp != LLM_UNKNOWN ? hp : pp;
	return 1;
}
