/*
 * llm_usage.c — usage from a response body or a stream's events
 * (llm_usage_body, llm_usage_event in llm.h): picks the reader for the
 * request's API (the format follows the API, not the host: Anthropic's
 * and Gemini's OpenAI-compatible endpoints answer in OpenAI's shape), and
 * holds the helpers the readers share (llm_usage_int.h).
 *
 * A whole body counts as done once it parses; an "error" member that is
 * not null marks it as an error (all five formats put it there).
 */
#include "llm_usage_int.h"

#include <string.h>

int
llm_count(json_t *obj, const char *key, uint64_t *v)
{
	json_t *j = json_is_object(obj) ? json_object_get(obj, key) : NULL;

	if (!json_is_integer(j) || json_integer_value(j) < 0)
		return 0;
	*v = (uint64_t)json_integer_value(j);
	return 1;
}

int
llm_take(struct llm_usage *u, json_t *obj, const char *key, uint64_t *field,
    unsigned bit)
{
	if (!llm_count(obj, key, field))
		return 0;
	u->have |= bit;
	return 1;
}

void
llm_model_json(struct llm_usage *u, json_t *s)
{
	size_t n;

	if (!json_is_string(s) || (n = json_string_length(s)) == 0 ||
	    n >= sizeof(u->model))
		return;
	memcpy(u->model, json_string_value(s), n + 1);
}

void
llm_model_scan(struct llm_usage *u, const char *data, size_t len,
    const char *qkey, size_t qlen, int again)
{
	char m[sizeof(u->model)];
	const char *v;
	int n;

	if (u->model[0] != '\0' && !again)
		return;
	if ((v = llm_scan_key(data, len, qkey, qlen)) != NULL &&
	    (n = llm_scan_string(v, data + len, m, sizeof(m))) > 0)
		memcpy(u->model, m, n + 1);
}

json_t *
llm_parse_at(const char *v, const char *end)
{
	json_error_t err;
	size_t n;

	if (llm_scan_is_null(v, end) || (n = llm_scan_value(v, end)) == 0)
		return NULL;
	return json_loadb(v, n, 0, &err);
}

json_t *
llm_parse_key(const char *data, size_t len, const char *qkey, size_t qlen)
{
	const char *v = llm_scan_key(data, len, qkey, qlen);

	return v == NULL ? NULL : llm_parse_at(v, data + len);
}

int
llm_has_top_key(const char *data, size_t len, const char *qkey, size_t qlen)
{
	const char *p = data, *end = data + len, *v;

	for (; (v = llm_scan_key(p, end - p, qkey, qlen)) != NULL; p = v)
		if (llm_scan_depth(data, v) == 1)
			return !llm_scan_is_null(v, end);
	return 0;
}

int
llm_json_error(json_t *root)
{
	json_t *e;

	if (!json_is_object(root))
		return 0;
	e = json_object_get(root, "error");
	return e != NULL && !json_is_null(e);
}

int
llm_usage_body(const struct llm_req *r, const char *json, size_t len,
    struct llm_usage *u)
{
	json_error_t err;
	json_t *root;

	if ((root = json_loadb(json, len, 0, &err)) == NULL)
		return -1;
	switch (r->api) {
	case LLM_API_CHAT:
	case LLM_API_COMPLETIONS:
	case LLM_API_EMBEDDINGS:
		llm_openai_body(r, root, u);
		break;
	case LLM_API_RESPONSES:
		llm_responses_body(r, root, u);
		break;
	case LLM_API_MESSAGES:
		llm_anthropic_body(r, root, u);
		break;
	case LLM_API_GEMINI:
		llm_gemini_body(r, root, u);
		break;
	case LLM_API_OLLAMA_CHAT:
	case LLM_API_OLLAMA_GENERATE:
		llm_ollama_body(r, root, u);
		break;
	case LLM_API_NONE:
		break;
	}
	if (llm_json_error(root))
		u->error = 1;
	u->done = 1;
	json_decref(root);
	return 0;
}

void
llm_usage_event(const struct llm_req *r, const char *event, const char *data,
    size_t len, struct llm_usage *u)
{
	if (event == NULL)
		event = "";
	switch (r->api) {
	case LLM_API_CHAT:
	case LLM_API_COMPLETIONS:
	case LLM_API_EMBEDDINGS:
		llm_openai_event(r, event, data, len, u);
		break;
	case LLM_API_RESPONSES:
		llm_responses_event(r, event, data, len, u);
		break;
	case LLM_API_MESSAGES:
		llm_anthropic_event(r, event, data, len, u);
		break;
	case LLM_API_GEMINI:
		llm_gemini_event(r, event, data, len, u);
		break;
	case LLM_API_OLLAMA_CHAT:
	case LLM_API_OLLAMA_GENERATE:
		llm_ollama_event(r, event, data, len, u);
		break;
	case LLM_API_NONE:
		break;
	}
}
