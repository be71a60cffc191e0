/*
 * llm_scan.c — allocation-free looks into JSON text (see llm_scan.h).
 * libc only; every function is bounded by the end pointer it is given.
 */
#include "llm_scan.h"

#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

static int
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static const char *
skip_ws(const char *p, const char *end)
{
	while (p < end && is_ws(*p))
		p++;
	return p;
}

/* keys[j] is at p[0..]; 1 when it is followed by ':' (it is a key, not
 * a string value equal to it), *val then the value's first byte. */
static int
key_at(const char *p, const char *end, const struct llm_key *k,
    const char **val)
{
	const char *v;

	if ((size_t)(end - p) < k->n || memcmp(p, k->q, k->n) != 0)
		return 0;
	v = skip_ws(p + k->n, end);
	if (v >= end || *v != ':')
		return 0;
	v = skip_ws(v + 1, end);
	if (v >= end)
		return 0;
	*val = v;
	return 1;
}

/* A '"' at p: the value of the key that starts there, if one does. */
static const char *
try_keys(const char *p, const char *end, const struct llm_key *keys, int nk,
    int *which)
{
	const char *v;
	int j;

	for (j = 0; j < nk; j++)
		if (key_at(p, end, &keys[j], &v)) {
			*which = j;
			return v;
		}
	return NULL;
}

static const char *
scan_tail(const char *p, const char *end, const struct llm_key *keys, int nk,
    int *which)
{
	const char *v;

	while (p < end && (p = memchr(p, '"', end - p)) != NULL) {
		if ((v = try_keys(p, end, keys, nk, which)) != NULL)
			return v;
		p++;
	}
	return NULL;
}

#ifdef __SSE2__
/*
 * 16 positions at a time: a candidate has '"' at i, the key's first
 * letter at i+1 and '"' at i+len-1; candidates (rare in JSON) are then
 * compared whole. Loads are unaligned and stay inside [p, end).
 */
const char *
llm_scan_keys(const char *p, size_t n, const struct llm_key *keys, int nk,
    int *which)
{
	const char *end = p + n, *v;
	const __m128i quote = _mm_set1_epi8('"');
	__m128i first[LLM_SCAN_KEYS_MAX];
	size_t i, maxlen = 0;
	unsigned m;
	int j;

	if (nk > LLM_SCAN_KEYS_MAX)
		nk = LLM_SCAN_KEYS_MAX;
	for (j = 0; j < nk; j++) {
		first[j] = _mm_set1_epi8(keys[j].q[1]);
		if (keys[j].n > maxlen)
			maxlen = keys[j].n;
	}
	for (i = 0; i + maxlen + 15 <= n; i += 16) {
		__m128i b0 = _mm_loadu_si128((const __m128i *)(p + i));
		__m128i b1 = _mm_loadu_si128((const __m128i *)(p + i + 1));
		__m128i q0 = _mm_cmpeq_epi8(b0, quote), t;

		for (m = 0, j = 0; j < nk; j++) {
			t = _mm_loadu_si128((const __m128i *)
			    (p + i + keys[j].n - 1));
			t = _mm_and_si128(_mm_cmpeq_epi8(t, quote),
			    _mm_cmpeq_epi8(b1, first[j]));
			m |= _mm_movemask_epi8(_mm_and_si128(t, q0));
		}
		for (; m != 0; m &= m - 1)
			if ((v = try_keys(p + i + __builtin_ctz(m), end, keys,
			    nk, which)) != NULL)
				return v;
	}
	return scan_tail(p + i, end, keys, nk, which);
}
#else
const char *
llm_scan_keys(const char *p, size_t n, const struct llm_key *keys, int nk,
    int *which)
{
	return scan_tail(p, p + n, keys, nk, which);
}
#endif

const char *
llm_scan_key(const char *p, size_t n, const char *qkey, size_t qlen)
{
	struct llm_key k = { qkey, qlen };
	int which;

	return llm_scan_keys(p, n, &k, 1, &which);
}

/* The byte after the string starting at s (s points at its '"'), or NULL. */
static const char *
string_end(const char *s, const char *end)
{
	for (s++; s < end; s++) {
		if (*s == '\\')
			s++;
		else if (*s == '"')
			return s + 1;
	}
	return NULL;
}

/* The byte after the object or array starting at s, or NULL. Strings are
 * skipped whole so that brackets inside them do not count. */
static const char *
nest_end(const char *s, const char *end)
{
	int depth = 0;

	while (s < end) {
		switch (*s) {
		case '"':
			if ((s = string_end(s, end)) == NULL)
				return NULL;
			continue;
		case '{':
		case '[':
			depth++;
			break;
		case '}':
		case ']':
			if (--depth == 0)
				return s + 1;
			break;
		}
		s++;
	}
	return NULL;
}

int
llm_scan_depth(const char *p, const char *at)
{
	int depth = 0;

	while (p < at) {
		switch (*p) {
		case '"':
			if ((p = string_end(p, at)) == NULL)
				return -1; /* at is inside a string */
			continue;
		case '{':
		case '[':
			depth++;
			break;
		case '}':
		case ']':
			depth--;
			break;
		}
		p++;
	}
	return depth;
}

size_t
llm_scan_value(const char *v, const char *end)
{
	const char *e;

	if (v >= end)
		return 0;
	if (*v == '{' || *v == '[')
		e = nest_end(v, end);
	else if (*v == '"')
		e = string_end(v, end);
	else {
		/* number or literal: up to the next delimiter or the end */
		for (e = v; e < end && !is_ws(*e) && *e != ',' && *e != '}' &&
		    *e != ']'; e++)
			;
	}
	return e == NULL ? 0 : (size_t)(e - v);
}

static int
is_literal(const char *v, const char *end, const char *lit, size_t n)
{
	if ((size_t)(end - v) < n || memcmp(v, lit, n) != 0)
		return 0;
	/* "nullx" is not null */
	return v + n == end || is_ws(v[n]) || v[n] == ',' || v[n] == '}' ||
	    v[n] == ']';
}

int
llm_scan_is_null(const char *v, const char *end)
{
	return is_literal(v, end, "null", 4);
}

int
llm_scan_is_true(const char *v, const char *end)
{
	return is_literal(v, end, "true", 4);
}

int
llm_scan_u64(const char *v, const char *end, uint64_t *out)
{
	uint64_t x = 0;
	const char *p;

	for (p = v; p < end && *p >= '0' && *p <= '9'; p++) {
		if (x > (UINT64_MAX - 9) / 10)
			return 0; /* no count is that large */
		x = x * 10 + (*p - '0');
	}
	if (p == v || (p < end && (*p == '.' || *p == 'e' || *p == 'E')))
		return 0;
	*out = x;
	return 1;
}

int
llm_scan_string(const char *v, const char *end, char *out, size_t cap)
{
	const char *q;
	size_t n;

	if (v >= end || *v != '"' || cap == 0)
		return -1;
	v++;
	if ((q = memchr(v, '"', end - v)) == NULL)
		return -1;
	n = q - v;
	/* model names carry no escapes; one here means "read it properly" */
	if (n >= cap || memchr(v, '\\', n) != NULL)
		return -1;
	memcpy(out, v, n);
	out[n] = '\0';
	return (int)n;
}

void
llm_scan_trim(const char **p, size_t *n)
{
	while (*n > 0 && is_ws(**p)) {
		(*p)++;
		(*n)--;
	}
	while (*n > 0 && is_ws((*p)[*n - 1]))
		(*n)--;
}
