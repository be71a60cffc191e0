/* meter.c — an LLM exchange becomes a ledger record; see meter.h. */
#include "meter.h"

#include <string.h>

#include "config.h"
#include "shim.h"

int (*shim_meter_settle)(struct tg_record *) = shim_settle_record;

const char *
shim_meter_provider(enum llm_provider p)
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

/* Counts the response did not give: estimated (meter.h). */
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
	/* Parts stay parts of their whole (the cost needs it). */
	if (rec->input_tokens < rec->cached_tokens + rec->cache_write_tokens)
		rec->input_tokens = rec->cached_tokens + rec->cache_write_tokens;
	if (rec->output_tokens < rec->reasoning_tokens)
		rec->output_tokens = rec->reasoning_tokens;
}

/* Does "k=v,k=v" tags name key k (klen bytes)? */
static int
has_key(const char *tags, const char *k, size_t klen)
{
	while (*tags) {
		if (strncmp(tags, k, klen) == 0 && tags[klen] == '=')
			return 1;
		tags += strcspn(tags, ",");
		tags += *tags == ',';
	}
	return 0;
}

/* The request's X-Tollgate-Tags, then the process's tags whose keys it
 * does not name; "" when the request has none (the daemon then uses the
 * registration's). A header that is not valid TOLLGATE_TAGS syntax is
 * ignored. Pairs that do not fit are left out whole. */
void
shim_meter_tags(char *out, size_t size, const char *req_tags)
{
	size_t len;

	out[0] = '\0';
	if (req_tags[0] == '\0' || !shim_tags_valid(req_tags) ||
	    strlen(req_tags) >= size)
		return;
	tg_strlcpy(out, req_tags, size);
	len = strlen(out);
	for (const char *p = shim_cfg.tags; *p; ) {
		size_t n = strcspn(p, ","), k = strcspn(p, "=");

		if (k < n && !has_key(req_tags, p, k) && len + 1 + n < size) {
			out[len++] = ',';
			memcpy(out + len, p, n);
			out[len += n] = '\0';
		}
		p += n;
		p += *p == ',';
	}
}

void
shim_meter_fill(struct tg_record *rec, const struct llm_exchange *x,
    uint32_t latency_ms)
{
	const struct llm_usage *u = &x->usage;

	memset(rec, 0, sizeof(*rec));
	rec->event_time_ns = shim_now_real();
	rec->kind = TG_KIND_LLM;
	rec->source = TG_SOURCE_SHIM;
	rec->http_status = x->status > 0 ? (uint32_t)x->status : 0;
	rec->latency_ms = latency_ms;
	rec->input_tokens = (u->have & LLM_HAVE_INPUT) ? u->input : 0;
	rec->output_tokens = (u->have & LLM_HAVE_OUTPUT) ? u->output : 0;
	rec->cached_tokens = (u->have & LLM_HAVE_CACHED) ? u->cached : 0;
	rec->cache_write_tokens = (u->have & LLM_HAVE_CACHE_WRITE) ?
	    u->cache_write : 0;
	rec->reasoning_tokens = (u->have & LLM_HAVE_REASONING) ?
	    u->reasoning : 0;
	estimate(rec, x);
	tg_strlcpy(rec->provider, shim_meter_provider(x->req.provider),
	    sizeof(rec->provider));
	tg_strlcpy(rec->model, u->model[0] ? u->model : x->req.model,
	    sizeof(rec->model));
	tg_strlcpy(rec->endpoint, x->req.endpoint, sizeof(rec->endpoint));
	shim_meter_tags(rec->tags, sizeof(rec->tags), x->req.tags);
}
