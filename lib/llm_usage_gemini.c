/*
 * llm_usage_gemini.c — usage of Gemini's generateContent and
 * streamGenerateContent (Google AI and Vertex AI).
 *
 *   input     = usageMetadata.promptTokenCount (cached content included)
 *   cached    = usageMetadata.cachedContentTokenCount  (part of input)
 *   output    = candidatesTokenCount + thoughtsTokenCount (thoughts are
 *               billed as output but counted outside the candidates)
 *   reasoning = thoughtsTokenCount                      (part of output)
 *
 * The JSON is proto3's, which leaves zero counts out: once usageMetadata
 * carries a candidates, thoughts or total count, a missing candidates or
 * thoughts count is 0, and output is known.
 *
 * Streams (?alt=sse): every chunk is a whole GenerateContentResponse with
 * running usageMetadata: the last one wins. The chunk with a finishReason
 * ends it. An {"error": …} object can come on a 200 stream. The model is
 * in the request's path; the response's modelVersion names the one that
 * ran. Without alt=sse the stream is one JSON array of chunks, read as a
 * body.
 */
#include "llm_usage_int.h"

#include <string.h>

/* usageMetadata's counts, as read from a parsed object or from text */
enum { M_PROMPT, M_CACHED, M_CAND, M_THOUGHTS, M_TOTAL, M_N };
static const struct llm_key meta_keys[M_N] = {
	LLM_KEY("promptTokenCount"), LLM_KEY("cachedContentTokenCount"),
	LLM_KEY("candidatesTokenCount"), LLM_KEY("thoughtsTokenCount"),
	LLM_KEY("totalTokenCount"),
};

struct meta {
	uint64_t v[M_N];
	unsigned have;          /* 1 << M_* */
};

static void
meta_apply(const struct meta *m, struct llm_usage *u)
{
	if (m->have & 1 << M_PROMPT) {
		u->input = m->v[M_PROMPT];
		u->have |= LLM_HAVE_INPUT;
	}
	if (m->have & 1 << M_CACHED) {
		u->cached = m->v[M_CACHED];
		u->have |= LLM_HAVE_CACHED;
	}
	if (m->have & (1 << M_CAND | 1 << M_THOUGHTS | 1 << M_TOTAL)) {
		/* proto3: an absent count is 0 (the array starts zeroed) */
		u->output = m->v[M_CAND] + m->v[M_THOUGHTS];
		u->have |= LLM_HAVE_OUTPUT;
	}
	if (m->have & 1 << M_THOUGHTS) {
		u->reasoning = m->v[M_THOUGHTS];
		u->have |= LLM_HAVE_REASONING;
	}
}

static void
meta_json(json_t *o, struct llm_usage *u)
{
	struct meta m = { { 0 }, 0 };
	json_t *j;
	int i;

	for (i = 0; i < M_N; i++) {
		/* the key without its quotes */
		j = json_object_getn(o, meta_keys[i].q + 1, meta_keys[i].n - 2);
		if (json_is_integer(j) && json_integer_value(j) >= 0) {
			m.v[i] = json_integer_value(j);
			m.have |= 1u << i;
		}
	}
	meta_apply(&m, u);
}

/* Every chunk of a stream has usageMetadata: read its counts from the
 * text at v, without a parser or an allocation. The details arrays
 * inside it use other names ("tokenCount"), so the first match of each
 * is its own. */
static void
meta_text(const char *v, const char *end, struct llm_usage *u)
{
	struct meta m = { { 0 }, 0 };
	const char *p;
	size_t n;
	int which;

	if (*v != '{' || (n = llm_scan_value(v, end)) == 0)
		return;
	end = v + n;
	for (p = v; (v = llm_scan_keys(p, end - p, meta_keys, M_N, &which)) !=
	    NULL; p = v)
		if (!(m.have & 1u << which) &&
		    llm_scan_u64(v, end, &m.v[which]))
			m.have |= 1u << which;
	meta_apply(&m, u);
}

static void
chunk_apply(json_t *ch, struct llm_usage *u)
{
	json_t *m = json_object_get(ch, "usageMetadata");

	if (json_is_object(m))
		meta_json(m, u);
	llm_model_json(u, json_object_get(ch, "modelVersion"));
	if (llm_json_error(ch))
		u->error = 1;
}

void
llm_gemini_body(const struct llm_req *r, json_t *root, struct llm_usage *u)
{
	json_t *ch;
	size_t i;

	if (json_is_array(root)) {
		json_array_foreach(root, i, ch)
			chunk_apply(ch, u);
	} else
		chunk_apply(root, u);
}

/* Members looked for in one pass over each chunk. */
static const struct llm_key chunk_keys[] = {
	LLM_KEY("usageMetadata"), LLM_KEY("error"), LLM_KEY("finishReason"),
};
enum { K_META, K_ERROR, K_FINISH };

void
llm_gemini_event(const struct llm_req *r, const char *event, const char *data,
    size_t len, struct llm_usage *u)
{
	const char *end = data + len, *p = data, *v, *meta = NULL;
	int which;

	while ((v = llm_scan_keys(p, end - p, chunk_keys, 3, &which)) != NULL) {
		if (which == K_META && meta == NULL)
			meta = v;
		/* top level only: a function call's args are JSON, not a
		 * string, and may have an "error" member of their own */
		else if (which == K_ERROR && !llm_scan_is_null(v, end) &&
		    llm_scan_depth(data, v) == 1)
			u->error = 1;
		else if (which == K_FINISH && *v == '"')
			u->done = 1;
		p = v;
	}
	if (meta != NULL)
		meta_text(meta, end, u);
	llm_model_scan(u, data, len, KEY("modelVersion"), 0);
}
