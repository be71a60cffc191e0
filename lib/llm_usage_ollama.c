/*
 * llm_usage_ollama.c — usage of Ollama's /api/chat and /api/generate.
 *
 *   input  = prompt_eval_count
 *   output = eval_count
 * Ollama leaves prompt_eval_count out when the whole prompt came from its
 * cache, and either count out on some paths: a missing count is unknown
 * (have-bit clear), never 0. No cache or reasoning counts exist.
 *
 * Streams are NDJSON (the default; "stream": false gives one object):
 * every line has "done"; the last has "done": true with the counts. An
 * error is a line {"error": "…"}.
 */
#include "llm_usage_int.h"

static void
line_apply(json_t *root, struct llm_usage *u)
{
	llm_take(u, root, "prompt_eval_count", &u->input, LLM_HAVE_INPUT);
	llm_take(u, root, "eval_count", &u->output, LLM_HAVE_OUTPUT);
	llm_model_json(u, json_object_get(root, "model"));
}

void
llm_ollama_body(const struct llm_req *r, json_t *root, struct llm_usage *u)
{
	line_apply(root, u);
}

/* Members looked for in one pass over each line. Only top-level ones
 * count: tool-call arguments are JSON objects in Ollama and may hold a
 * "done" or an "error" of their own. The depth is only counted for the
 * rare match that matters ("done": true, a non-null "error"). */
static const struct llm_key line_keys[] = { LLM_KEY("done"), LLM_KEY("error") };

void
llm_ollama_event(const struct llm_req *r, const char *event, const char *data,
    size_t len, struct llm_usage *u)
{
	const char *end = data + len, *p = data, *v;
	int which, done = 0;
	json_error_t err;
	json_t *root;

	while ((v = llm_scan_keys(p, end - p, line_keys, 2, &which)) != NULL) {
		if (which == 0 && llm_scan_is_true(v, end) &&
		    llm_scan_depth(data, v) == 1)
			done = 1;
		else if (which == 1 && !llm_scan_is_null(v, end) &&
		    llm_scan_depth(data, v) == 1)
			u->error = 1;
		p = v;
	}
	if (!done) {
		llm_model_scan(u, data, len, KEY("model"), 0);
		return;
	}
	if ((root = json_loadb(data, len, 0, &err)) == NULL)
		return;
	line_apply(root, u);
	u->done = 1;
	json_decref(root);
}
