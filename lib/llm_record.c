/* llm_record.c — see llm_record.h. */
#include "llm_record.h"

const char *
llm_provider_name(enum llm_provider p)
{
	switch (p) {
	case LLM_OPENAI:
		return "openai";
	case LLM_AZURE:
		return "azure";
	case LLM_ANTHROPIC:
		return "anthropic";
	case LLM_GEMINI:
		return "gemini";
	case LLM_OLLAMA:
		return "ollama";
	case LLM_COMPAT:
		return "openai-compatible";
	default:
		return "";
	}
}

/* Counts the response did not give. */
static void
estimate(struct tg_record *rec, const struct llm_exchange *x)
{
	const struct llm_usage *u = &x->usage;

	if (x->status >= 400 && !(u->have & (LLM_HAVE_INPUT | LLM_HAVE_OUTPUT)))
		return;
	if (!(u->have & LLM_HAVE_INPUT)) {
		rec->input_tokens = x->req.est_input_tokens;
		rec->flags |= TG_REC_ESTIMATED;
	}
	if (!(u->have & LLM_HAVE_OUTPUT)) {
		rec->output_tokens = (x->resp_body_bytes + 3) / 4;
		rec->flags |= TG_REC_ESTIMATED;
	}
}

void
llm_record_usage(struct tg_record *rec, const struct llm_exchange *x)
{
	const struct llm_usage *u = &x->usage;

	rec->http_status = x->status > 0 ? (uint32_t)x->status : 0;
	rec->input_tokens = (u->have & LLM_HAVE_INPUT) ? u->input : 0;
	rec->output_tokens = (u->have & LLM_HAVE_OUTPUT) ? u->output : 0;
	rec->cached_tokens = (u->have & LLM_HAVE_CACHED) ? u->cached : 0;
	rec->cache_write_tokens = (u->have & LLM_HAVE_CACHE_WRITE) ?
	    u->cache_write : 0;
	rec->reasoning_tokens = (u->have & LLM_HAVE_REASONING) ?
	    u->reasoning : 0;
	estimate(rec, x);
	if (rec->input_tokens < rec->cached_tokens + rec->cache_write_tokens)
		rec->input_tokens = rec->cached_tokens + rec->cache_write_tokens;
	if (rec->output_tokens < rec->reasoning_tokens)
		rec->output_tokens = rec->reasoning_tokens;
	tg_strlcpy(rec->provider, llm_provider_name(x->req.provider),
	    sizeof(rec->provider));
	tg_strlcpy(rec->model, u->model[0] ? u->model : x->req.model,
	    sizeof(rec->model));
	tg_strlcpy(rec->endpoint, x->req.endpoint, sizeof(rec->endpoint));
}
