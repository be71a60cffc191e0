/*
 * llm_usage_openai.c — usage of OpenAI chat completions, completions and
 * embeddings, and of the servers that answer in their shape (Azure,
 * vLLM, llama.cpp, Ollama's /v1, Anthropic's and Gemini's compatible
 * endpoints).
 *
 *   input  = usage.prompt_tokens
 *   cached = usage.prompt_tokens_details.cached_tokens   (part of input)
 *   output = usage.completion_tokens
 *   reasoning = usage.completion_tokens_details.reasoning_tokens
 *            (part of output)
 * Embeddings produce no output tokens: their output is a known 0, so
 * that nobody estimates output tokens from a vector's bytes.
 *
 * Streams: usage comes in a chunk whose "usage" is not null — with
 * stream_options.include_usage, the last chunk before [DONE] with
 * "choices": []; every other chunk has "usage": null, and Azure sends
 * further empty-choices chunks (prompt filter results) without usage, so
 * the test is usage != null, never choices == []. vLLM's continuous
 * usage puts running totals in every chunk: the last wins. llama.cpp adds
 * "timings" (prompt_n processed + cache_n reused = the prompt; predicted_n
 * = the output), read for compatible servers and overridden by "usage"
 * in the same event. `data: [DONE]` ends the stream; `data: {"error":…}`
 * is an error. Only top-level members count: Azure's content filter
 * results carry an "error" of their own that is not the request's.
 */
#include "llm_usage_int.h"

#include <string.h>

static void
usage_apply(const struct llm_req *r, json_t *us, struct llm_usage *u)
{
	json_t *pd = json_object_get(us, "prompt_tokens_details");
	json_t *cd = json_object_get(us, "completion_tokens_details");

	llm_take(u, us, "prompt_tokens", &u->input, LLM_HAVE_INPUT);
	llm_take(u, pd, "cached_tokens", &u->cached, LLM_HAVE_CACHED);
	if (r->api == LLM_API_EMBEDDINGS) {
		if (u->have & LLM_HAVE_INPUT) {
			u->output = 0;
			u->have |= LLM_HAVE_OUTPUT;
		}
		return;
	}
	llm_take(u, us, "completion_tokens", &u->output, LLM_HAVE_OUTPUT);
	llm_take(u, cd, "reasoning_tokens", &u->reasoning, LLM_HAVE_REASONING);
}

/* llama.cpp: prompt_n counts only the tokens it had to process. */
static void
timings_apply(json_t *t, struct llm_usage *u)
{
	uint64_t p, c = 0, o;
	int have_c = llm_count(t, "cache_n", &c);

	if (llm_count(t, "prompt_n", &p)) {
		u->input = p + c;
		u->have |= LLM_HAVE_INPUT;
	}
	if (have_c) {
		u->cached = c;
		u->have |= LLM_HAVE_CACHED;
	}
	if (llm_count(t, "predicted_n", &o)) {
		u->output = o;
		u->have |= LLM_HAVE_OUTPUT;
	}
}

void
llm_openai_body(const struct llm_req *r, json_t *root, struct llm_usage *u)
{
	json_t *us = json_object_get(root, "usage");

	if (r->provider == LLM_COMPAT && json_is_object(json_object_get(root,
	    "timings")))
		timings_apply(json_object_get(root, "timings"), u);
	if (json_is_object(us))
		usage_apply(r, us, u);
	llm_model_json(u, json_object_get(root, "model"));
}

/* Keys looked for in one pass over each chunk; timings only for
 * compatible servers (OpenAI's own never send them). */
static const struct llm_key ev_keys[] = {
	LLM_KEY("usage"), LLM_KEY("error"), LLM_KEY("timings"),
};
enum { K_USAGE, K_ERROR, K_TIMINGS };

void
llm_openai_event(const struct llm_req *r, const char *event, const char *data,
    size_t len, struct llm_usage *u)
{
	const char *end = data + len, *p = data, *v, *at[3] = { 0 };
	int which, nk = r->provider == LLM_COMPAT ? 3 : 2;
	json_t *j;

	if (len == 0)
		return;
	if (*data != '{') {
		llm_scan_trim(&data, &len);
		if (len == 6 && memcmp(data, "[DONE]", 6) == 0)
			u->done = 1;
		if (len == 0 || *data != '{')
			return;
		p = data;
	}
	/* "usage": null in every content chunk costs no depth count */
	while ((v = llm_scan_keys(p, end - p, ev_keys, nk, &which)) != NULL) {
		if (at[which] == NULL && !llm_scan_is_null(v, end) &&
		    llm_scan_depth(data, v) == 1)
			at[which] = v;
		p = v;
	}
	if (at[K_ERROR] != NULL)
		u->error = 1;
	/* timings first: "usage" in the same chunk overrides them */
	if (at[K_TIMINGS] && (j = llm_parse_at(at[K_TIMINGS], end)) != NULL) {
		timings_apply(j, u);
		json_decref(j);
	}
	if (at[K_USAGE] && (j = llm_parse_at(at[K_USAGE], end)) != NULL) {
		if (json_is_object(j))
			usage_apply(r, j, u);
		json_decref(j);
	}
	/* the usage chunk's model is the one that ran */
	llm_model_scan(u, data, len, KEY("model"), at[K_USAGE] != NULL);
}
