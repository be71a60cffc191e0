/*
 * llm_usage_anthropic.c — usage of Anthropic's messages API.
 *
 * Anthropic's input_tokens EXCLUDES the prompt tokens written to and read
 * from the cache; DESIGN.md's input includes them:
 *   input       = input_tokens + cache_creation_input_tokens
 *                 + cache_read_input_tokens
 *   cached      = cache_read_input_tokens       (part of input)
 *   cache_write = cache_creation_input_tokens   (part of input)
 *   output      = output_tokens (thinking included; no separate count,
 *                 so reasoning stays unknown)
 *
 * Streams: message_start's message.usage has the input and cache counts
 * (and a first output count); each message_delta's usage holds running
 * totals — output_tokens is cumulative, so the last one wins, never the
 * sum; newer API versions repeat the input counts there too. message_stop
 * ends the stream; an error event (overloaded_error…) can come anywhere,
 * as can ping. Events are told apart by their SSE name, or by the data's
 * leading "type" when a relay dropped the names; content deltas are
 * dropped on the name alone.
 */
#include "llm_usage_int.h"

#include <string.h>

/* One usage object: counts present in it replace the ones before; input
 * is kept as the sum, so Anthropic's own input_tokens is recovered from
 * the sum before a partial update. */
static void
usage_apply(json_t *us, struct llm_usage *u)
{
	uint64_t raw = 0, v;
	int have_raw = (u->have & LLM_HAVE_INPUT) != 0;

	if (have_raw)
		raw = u->input - u->cached - u->cache_write;
	if (llm_count(us, "input_tokens", &v)) {
		raw = v;
		have_raw = 1;
	}
	llm_take(u, us, "cache_creation_input_tokens", &u->cache_write,
	    LLM_HAVE_CACHE_WRITE);
	llm_take(u, us, "cache_read_input_tokens", &u->cached,
	    LLM_HAVE_CACHED);
	if (have_raw) {
		u->input = raw + u->cache_write + u->cached;
		u->have |= LLM_HAVE_INPUT;
	}
	llm_take(u, us, "output_tokens", &u->output, LLM_HAVE_OUTPUT);
}

void
llm_anthropic_body(const struct llm_req *r, json_t *root, struct llm_usage *u)
{
	json_t *us = json_object_get(root, "usage");

	if (json_is_object(us))
		usage_apply(us, u);
	llm_model_json(u, json_object_get(root, "model"));
}

/* The event's type from the data: Anthropic writes "type" first. */
static const char *
data_type(const char *data, size_t len, char *buf, size_t cap)
{
	const char *v = llm_scan_key(data, len, KEY("type"));

	if (v == NULL || llm_scan_string(v, data + len, buf, cap) < 0)
		return "";
	return buf;
}

static void
ev_usage(const char *data, size_t len, int start, struct llm_usage *u)
{
	json_error_t err;
	json_t *root, *m;

	if ((root = json_loadb(data, len, 0, &err)) == NULL)
		return;
	m = start ? json_object_get(root, "message") : root;
	if (json_is_object(json_object_get(m, "usage")))
		usage_apply(json_object_get(m, "usage"), u);
	if (start)
		llm_model_json(u, json_object_get(m, "model"));
	json_decref(root);
}

void
llm_anthropic_event(const struct llm_req *r, const char *event,
    const char *data, size_t len, struct llm_usage *u)
{
	char type[32];

	if (event[0] == '\0')
		event = data_type(data, len, type, sizeof(type));
	if (strncmp(event, "message_", 8) == 0) {
		if (strcmp(event + 8, "start") == 0)
			ev_usage(data, len, 1, u);
		else if (strcmp(event + 8, "delta") == 0)
			ev_usage(data, len, 0, u);
		else if (strcmp(event + 8, "stop") == 0)
			u->done = 1;
	} else if (strcmp(event, "error") == 0)
		u->error = 1;
}
