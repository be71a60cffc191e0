/*
 * llm_request.c — what admission needs from a request's JSON body
 * (llm_request_body in llm.h).
 *
 *   model         "model", unless the path named it (Gemini, Azure
 *                 deployments): the path is what the server obeys.
 *   stream        "stream": true; Ollama streams unless "stream": false;
 *                 Gemini's comes from the path (streamGenerateContent).
 *   include_usage "stream_options": {"include_usage": true}.
 *   max_tokens    the first present of max_completion_tokens (OpenAI's
 *                 current name, which wins over the old one when both
 *                 come), max_output_tokens (responses), max_tokens,
 *                 generationConfig.maxOutputTokens (also the proto
 *                 spelling generation_config.max_output_tokens) and
 *                 options.num_predict (Ollama; negative means no limit).
 *                 -1 when none, or when the value is not an integer ≥ 0.
 *   est_input_tokens  ceil(B / 4), B = the UTF-8 bytes of every string
 *                 value in the body (decoded), except the model name,
 *                 binary payloads (members named "data", "images",
 *                 "file_data") and "data:" URIs: prompts, system text,
 *                 tool definitions and roles count, base64 images do not.
 */
#include "llm.h"

#include <string.h>

#include <jansson.h>

/* Deeper text is not counted: a bound on recursion, far past real bodies. */
#define WALK_DEPTH_MAX 64

static const char *const binary_keys[] = { "data", "images", "file_data" };

static int
is_binary_key(const char *k)
{
	size_t i;

	for (i = 0; i < sizeof(binary_keys) / sizeof(binary_keys[0]); i++)
		if (strcmp(k, binary_keys[i]) == 0)
			return 1;
	return 0;
}

static uint64_t
text_bytes(json_t *v, int depth)
{
	const char *k;
	json_t *e;
	size_t i;
	uint64_t n = 0;

	if (depth > WALK_DEPTH_MAX)
		return 0;
	switch (json_typeof(v)) {
	case JSON_STRING:
		if (json_string_length(v) >= 5 &&
		    memcmp(json_string_value(v), "data:", 5) == 0)
			return 0;
		return json_string_length(v);
	case JSON_ARRAY:
		json_array_foreach(v, i, e)
			n += text_bytes(e, depth + 1);
		return n;
	case JSON_OBJECT:
		json_object_foreach(v, k, e) {
			if (depth == 0 && strcmp(k, "model") == 0)
				continue;
			if (!is_binary_key(k))
				n += text_bytes(e, depth + 1);
		}
		return n;
	default:
		return 0;
	}
}

/* obj.a (or obj.a.b when b is not NULL) as an integer ≥ 0, else -1;
 * 0 when absent so that the next spelling is tried. */
static int
get_limit(json_t *obj, const char *a, const char *b, int64_t *out)
{
	json_t *v = json_object_get(obj, a);

	if (v != NULL && b != NULL)
		v = json_is_object(v) ? json_object_get(v, b) : NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_integer(v) && json_integer_value(v) >= 0)
		*out = json_integer_value(v);
	else
		*out = -1; /* "no limit" (num_predict -1) or nonsense */
	return 1;
}

static int64_t
max_tokens(json_t *root)
{
	static const char *const spell[][2] = {
		{ "max_completion_tokens", NULL },
		{ "max_output_tokens", NULL },
		{ "max_tokens", NULL },
		{ "generationConfig", "maxOutputTokens" },
		{ "generation_config", "max_output_tokens" },
		{ "options", "num_predict" },
	};
	int64_t v;
	size_t i;

	for (i = 0; i < sizeof(spell) / sizeof(spell[0]); i++)
		if (get_limit(root, spell[i][0], spell[i][1], &v))
			return v;
	return -1;
}

static void
stream_flags(struct llm_req *r, json_t *root)
{
	json_t *s = json_object_get(root, "stream");
	json_t *so = json_object_get(root, "stream_options");

	switch (r->api) {
	case LLM_API_GEMINI:
		break; /* the path says */
	case LLM_API_OLLAMA_CHAT:
	case LLM_API_OLLAMA_GENERATE:
		r->stream = !json_is_false(s);
		break;
	default:
		r->stream = json_is_true(s);
		break;
	}
	r->include_usage = json_is_object(so) &&
	    json_is_true(json_object_get(so, "include_usage"));
}

int
llm_request_body(struct llm_req *r, const char *json, size_t len)
{
	json_error_t err;
	json_t *root, *m;
	uint64_t b;
	size_t n;

	root = json_loadb(json, len, 0, &err);
	if (root == NULL)
		return -1;
	if (!json_is_object(root)) {
		json_decref(root);
		return -1;
	}
	m = json_object_get(root, "model");
	if (r->model[0] == '\0' && json_is_string(m) &&
	    (n = json_string_length(m)) < sizeof(r->model))
		memcpy(r->model, json_string_value(m), n + 1);
	stream_flags(r, root);
	r->max_tokens = max_tokens(root);
	b = text_bytes(root, 0);
	r->est_input_tokens = (b + 3) / 4;
	json_decref(root);
	return 0;
}
