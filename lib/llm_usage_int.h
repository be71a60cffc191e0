/*
 * llm_usage_int.h — inside the usage parser: the per-API readers
 * (llm_usage_openai.c, llm_usage_anthropic.c, llm_usage_gemini.c,
 * llm_usage_ollama.c) and the helpers they share (llm_usage.c).
 *
 * Each API has a body reader, given the parsed JSON of a whole response,
 * and an event reader, given one SSE event or NDJSON line as text. Event
 * readers look at the text first (llm_scan.h) and parse with jansson only
 * the part that carries usage, so content events cost a scan and no
 * allocation.
 *
 * Counts are set, never added: every provider reports running totals
 * (Anthropic's message_delta, Gemini's usageMetadata, vLLM's continuous
 * usage), so the last report wins field by field and have-bits
 * accumulate.
 */
#ifndef TG_LLM_USAGE_INT_H
#define TG_LLM_USAGE_INT_H

#include "llm.h"
#include "llm_scan.h"

#include <jansson.h>

/* A quoted key for llm_scan_key: KEY("usage") → "\"usage\"", 7. */
#define KEY(k) "\"" k "\"", sizeof(k) + 1

/* obj[key] as a count: 1 and *v when it is an integer ≥ 0. */
int llm_count(json_t *obj, const char *key, uint64_t *v);
/* Set one field and its have-bit when obj[key] is a count. */
int llm_take(struct llm_usage *u, json_t *obj, const char *key,
    uint64_t *field, unsigned bit);
/* u->model from a JSON string (ignored when empty or too long). */
void llm_model_json(struct llm_usage *u, json_t *s);
/* u->model from the text's first string value of qkey when that is not
 * empty: while u->model is still "" (a stream's model is the same in
 * every event), or again when `again` (a usage event's model wins). */
void llm_model_scan(struct llm_usage *u, const char *data, size_t len,
    const char *qkey, size_t qlen, int again);
/* The JSON value starting at v, parsed; NULL when null or bad. */
json_t *llm_parse_at(const char *v, const char *end);
/* The value of qkey in the text, parsed; NULL when absent, null or bad. */
json_t *llm_parse_key(const char *data, size_t len, const char *qkey,
    size_t qlen);
/* 1 when qkey is a top-level member of the text's object with a value
 * other than null (a nested "error", as in a tool call's arguments or
 * Azure's content filter results, does not count). */
int llm_has_top_key(const char *data, size_t len, const char *qkey,
    size_t qlen);
/* 1 when a JSON body's "error" member is present and not null. */
int llm_json_error(json_t *root);

/* OpenAI chat/completions/embeddings and compatible servers */
void llm_openai_body(const struct llm_req *r, json_t *root,
    struct llm_usage *u);
void llm_openai_event(const struct llm_req *r, const char *event,
    const char *data, size_t len, struct llm_usage *u);
/* OpenAI responses */
void llm_responses_body(const struct llm_req *r, json_t *root,
    struct llm_usage *u);
void llm_responses_event(const struct llm_req *r, const char *event,
    const char *data, size_t len, struct llm_usage *u);
/* Anthropic messages */
void llm_anthropic_body(const struct llm_req *r, json_t *root,
    struct llm_usage *u);
void llm_anthropic_event(const struct llm_req *r, const char *event,
    const char *data, size_t len, struct llm_usage *u);
/* Gemini generateContent / streamGenerateContent */
void llm_gemini_body(const struct llm_req *r, json_t *root,
    struct llm_usage *u);
void llm_gemini_event(const struct llm_req *r, const char *event,
    const char *data, size_t len, struct llm_usage *u);
/* Ollama chat / generate */
void llm_ollama_body(const struct llm_req *r, json_t *root,
    struct llm_usage *u);
void llm_ollama_event(const struct llm_req *r, const char *event,
    const char *data, size_t len, struct llm_usage *u);

#endif
