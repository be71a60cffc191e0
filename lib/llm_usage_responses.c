/*
 * llm_usage_responses.c — usage of OpenAI's responses API (/v1/responses,
 * Azure's /openai/v1/responses).
 *
 *   input  = usage.input_tokens
 *   cached = usage.input_tokens_details.cached_tokens     (part of input)
 *   output = usage.output_tokens
 *   reasoning = usage.output_tokens_details.reasoning_tokens
 *            (part of output)
 *
 * A body is a response object; "status": "failed" or an "error" that is
 * not null is an error. A stream is named semantic events without [DONE]:
 * it ends with response.completed, response.incomplete or
 * response.failed, each carrying the whole response with its usage, and
 * an "error" event may come instead. Only those events (and
 * response.created, for the model) are looked at; deltas are dropped on
 * their name. A stream without event names is read by each event's
 * "type", parsed only when the text holds "usage" or "error".
 */
#include "llm_usage_int.h"

#include <string.h>

enum ev_kind { EV_OTHER, EV_START, EV_END, EV_FAILED, EV_ERROR };

static enum ev_kind
ev_kind(const char *name)
{
	if (strncmp(name, "response.", 9) != 0)
		return strcmp(name, "error") == 0 ? EV_ERROR : EV_OTHER;
	name += 9;
	if (strcmp(name, "completed") == 0 || strcmp(name, "incomplete") == 0)
		return EV_END;
	if (strcmp(name, "failed") == 0)
		return EV_FAILED;
	if (strcmp(name, "created") == 0 || strcmp(name, "in_progress") == 0)
		return EV_START;
	return EV_OTHER;
}

static void
response_apply(json_t *resp, struct llm_usage *u)
{
	json_t *us = json_object_get(resp, "usage");
	json_t *st = json_object_get(resp, "status");

	if (json_is_object(us)) {
		llm_take(u, us, "input_tokens", &u->input, LLM_HAVE_INPUT);
		llm_take(u, json_object_get(us, "input_tokens_details"),
		    "cached_tokens", &u->cached, LLM_HAVE_CACHED);
		llm_take(u, us, "output_tokens", &u->output, LLM_HAVE_OUTPUT);
		llm_take(u, json_object_get(us, "output_tokens_details"),
		    "reasoning_tokens", &u->reasoning, LLM_HAVE_REASONING);
	}
	llm_model_json(u, json_object_get(resp, "model"));
	if (llm_json_error(resp) || (json_is_string(st) &&
	    strcmp(json_string_value(st), "failed") == 0))
		u->error = 1;
}

void
llm_responses_body(const struct llm_req *r, json_t *root, struct llm_usage *u)
{
	response_apply(root, u);
}

/* A terminal event: its "response" holds usage and model. */
static void
ev_end(json_t *root, enum ev_kind k, struct llm_usage *u)
{
	json_t *resp = json_object_get(root, "response");

	if (json_is_object(resp))
		response_apply(resp, u);
	if (k == EV_FAILED)
		u->error = 1;
	u->done = 1;
}

void
llm_responses_event(const struct llm_req *r, const char *event,
    const char *data, size_t len, struct llm_usage *u)
{
	json_error_t err;
	json_t *root = NULL, *t;
	enum ev_kind k;

	if (event[0] != '\0')
		k = ev_kind(event);
	else {
		if (memmem(data, len, "\"usage\"", 7) == NULL &&
		    memmem(data, len, "\"error\"", 7) == NULL)
			return;
		if ((root = json_loadb(data, len, 0, &err)) == NULL)
			return;
		t = json_object_get(root, "type");
		k = json_is_string(t) ? ev_kind(json_string_value(t)) :
		    EV_OTHER;
	}
	switch (k) {
	case EV_OTHER:
		break;
	case EV_ERROR:
		u->error = 1;
		break;
	case EV_START:
		llm_model_scan(u, data, len, KEY("model"), 0);
		break;
	case EV_END:
	case EV_FAILED:
		if (root == NULL && (root = json_loadb(data, len, 0, &err)) ==
		    NULL)
			break;
		ev_end(root, k, u);
		break;
	}
	json_decref(root);
}
