/*
 * llm_scan.h — allocation-free looks into JSON text, for the usage
 * parser's fast path (llm_usage*.c): find a key, measure the value after
 * it, read a string or a literal, all without building a tree. Nothing
 * here validates JSON; a caller that needs the value parses the span
 * with jansson.
 *
 * A key is found by its quoted form ("usage"). Inside a JSON string
 * every '"' is escaped, so a quoted key never matches text in a value;
 * it can still match a string VALUE equal to the key ("type":"usage"),
 * which llm_scan_key skips by requiring a ':' after it.
 */
#ifndef TG_LLM_SCAN_H
#define TG_LLM_SCAN_H

#include <stddef.h>
#include <stdint.h>

/* A key with its quotes: LLM_KEY("usage") → { "\"usage\"", 7 }. */
struct llm_key {
	const char *q;
	size_t n;
};
#define LLM_KEY(k) { "\"" k "\"", sizeof(k) + 1 }
#define LLM_SCAN_KEYS_MAX 6

/* The first `"key":` of any of keys[0..nk-1] (nk ≤ LLM_SCAN_KEYS_MAX) in
 * [p, p+n): the first byte of its value, *which the key's index; NULL
 * when none. One pass over the text (16 bytes a step with SSE2), so
 * looking for two keys costs what looking for one does. */
const char *llm_scan_keys(const char *p, size_t n, const struct llm_key *keys,
    int nk, int *which);

/* The same for one key: qkey with its quotes, qlen its length. */
const char *llm_scan_key(const char *p, size_t n, const char *qkey,
    size_t qlen);

/* Length of the JSON value starting at v (object, array, string, number
 * or literal), or 0 when it does not end before end. */
size_t llm_scan_value(const char *v, const char *end);

/* How deep `at` lies in the JSON text that starts at p: 1 inside the
 * outermost object (a top-level member's value starts at depth 1), 0
 * outside it. Strings are skipped whole. O(at - p): for the rare match
 * that must be a top-level member, not for every event. */
int llm_scan_depth(const char *p, const char *at);

/* 1 when the value at v is the literal null / true. */
int llm_scan_is_null(const char *v, const char *end);
int llm_scan_is_true(const char *v, const char *end);

/* The unsigned integer at v (digits only: no sign, fraction or
 * exponent): 1 and *out, or 0. */
int llm_scan_u64(const char *v, const char *end, uint64_t *out);

/* Copy the string value at v into out (cap bytes, NUL-terminated).
 * Returns its length, or -1 when v is not a string, holds an escape, or
 * does not fit. */
int llm_scan_string(const char *v, const char *end, char *out, size_t cap);

/* The text with JSON white space cut from both ends. */
void llm_scan_trim(const char **p, size_t *n);

#endif
