/*
 * llm_refuse.c — the synthesized 429 of a refused or throttled LLM
 * request; the contract is in llm_refuse.h.
 *
 * The response is rendered twice by the same code: once only counting
 * (Content-Length must precede the body), once writing. A writer that
 * runs out of room keeps counting and stops writing, like snprintf, so
 * the caller learns the response does not fit without a partial one
 * being mistaken for whole.
 *
 * JSON is escaped here rather than with jansson: the shim is linked
 * against libc only (Makefile) and runs inside other people's processes.
 * The escapes are jansson's (json_dumps, JSON_COMPACT), which
 * test_llm_refuse checks byte for byte.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "llm_refuse.h"
#include "tzif.h"

struct out {
	char *p;                /* NULL: count only */
	size_t size, len;
};

/* The body around the message, per error shape. */
struct shape {
	const char *pre, *post;
};

static const struct shape openai_deny = {
	"{\"error\":{\"message\":",
	",\"type\":\"insufficient_quota\",\"param\":null,"
	    "\"code\":\"insufficient_quota\"}}",
};
static const struct shape openai_throttle = {
	"{\"error\":{\"message\":",
	",\"type\":\"requests\",\"param\":null,"
	    "\"code\":\"rate_limit_exceeded\"}}",
};
static const struct shape anthropic = {
	"{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\","
	    "\"message\":",
	"}}",
};
static const struct shape gemini = {
	"{\"error\":{\"code\":429,\"message\":",
	",\"status\":\"RESOURCE_EXHAUSTED\"}}",
};
static const struct shape ollama = { "{\"error\":", "}" };

/* What a refusal is made of, gathered once for both passes. */
struct refusal {
	const struct shape *shape;
	enum llm_refusal kind;
	const char *rule, *reason;
	int64_t reset_ns, now_ns;
	unsigned retry;
};

static void
put(struct out *o, const char *s, size_t n)
{
	/* Once len passed size it stays past it: nothing more is written. */
	if (o->p != NULL && o->len + n <= o->size)
		memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void
put_str(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void
put_uint(struct out *o, unsigned long long v)
{
	char b[24];

	put(o, b, (size_t)snprintf(b, sizeof(b), "%llu", v));
}

/* Length of the valid UTF-8 sequence at p (1 for ASCII), 0 when the bytes
 * there are not one: overlong forms, surrogates and code points past
 * U+10FFFF are refused as jansson refuses them. */
static size_t
utf8_len(const unsigned char *p)
{
	unsigned c = p[0], cp, min;
	size_t n, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f, min = 0x80;
	else if ((c & 0xf0) == 0xe0)
		n = 3, cp = c & 0x0f, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07, min = 0x10000;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)      /* a NUL stops here too */
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static void
put_esc_ascii(struct out *o, unsigned char c)
{
	char u[8];

	switch (c) {
	case '"':  put(o, "\\\"", 2); return;
	case '\\': put(o, "\\\\", 2); return;
	case '\b': put(o, "\\b", 2); return;
	case '\f': put(o, "\\f", 2); return;
	case '\n': put(o, "\\n", 2); return;
	case '\r': put(o, "\\r", 2); return;
	case '\t': put(o, "\\t", 2); return;
	}
	if (c < 0x20)
		put(o, u, (size_t)snprintf(u, sizeof(u), "\\u%04X", c));
	else
		put(o, (const char *)&c, 1);
}

/* s as the inside of a JSON string; bytes that are not UTF-8 become
 * U+FFFD, so a tag value of arbitrary bytes in a reason cannot make the
 * body unparseable. */
static void
put_esc(struct out *o, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	while (*p != '\0') {
		n = utf8_len(p);
		if (n == 0) {
			put(o, "\xef\xbf\xbd", 3);
			p++;
		} else if (n == 1)
			put_esc_ascii(o, *p++);
		else {
			put(o, (const char *)p, n);
			p += n;
		}
	}
}

/* ns → whole UTC seconds, rounded up (a reset is never announced before
 * it happens) or down (the Date of now). */
static void
civil(int64_t ns, int up, int64_t *y, unsigned *mo, unsigned *d,
    unsigned *sod, int *wday)
{
	int64_t s = ns / 1000000000 + (up && ns % 1000000000 != 0);
	int64_t day = s / 86400;

	*sod = (unsigned)(s % 86400);
	tg_civil_from_days(day, y, mo, d);
	*wday = tg_weekday(day);
}

static void
put_rfc3339(struct out *o, int64_t ns)
{
	int64_t y;
	unsigned mo, d, sod;
	int wd;
	char b[40];

	civil(ns, 1, &y, &mo, &d, &sod, &wd);
	put(o, b, (size_t)snprintf(b, sizeof(b),
	    "%04lld-%02u-%02uT%02u:%02u:%02uZ", (long long)y, mo, d,
	    sod / 3600, sod / 60 % 60, sod % 60));
}

/* IMF-fixdate (RFC 9110 5.6.7), with its own English names: strftime's
 * %a and %b follow the host program's locale. */
static void
put_http_date(struct out *o, int64_t ns)
{
	static const char wdays[7][4] = { "Mon", "Tue", "Wed", "Thu", "Fri",
	    "Sat", "Sun" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May",
	    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	int64_t y;
	unsigned mo, d, sod;
	int wd;
	char b[48];

	civil(ns, 0, &y, &mo, &d, &sod, &wd);
	put(o, b, (size_t)snprintf(b, sizeof(b),
	    "%s, %02u %s %04lld %02u:%02u:%02u GMT", wdays[wd], d,
	    months[mo - 1], (long long)y, sod / 3600, sod / 60 % 60, sod % 60));
}

/* The message, quoted: see llm_refuse.h for its wording. */
static void
put_message(struct out *o, const struct refusal *f)
{
	put(o, "\"", 1);
	put_str(o, f->kind == LLM_REFUSE_DENY ? "tollgate: request refused" :
	    "tollgate: request throttled");
	if (f->rule[0] != '\0') {
		put_str(o, " by rule \\\"");
		put_esc(o, f->rule);
		put_str(o, "\\\"");
	}
	if (f->reason[0] != '\0') {
		put_str(o, " (");
		put_esc(o, f->reason);
		put_str(o, ")");
	}
	if (f->kind == LLM_REFUSE_THROTTLE) {
		put_str(o, "; retry after ");
		put_uint(o, f->retry);
		put_str(o, " s");
	}
	if (f->reset_ns > 0) {
		put_str(o, "; resets at ");
		put_rfc3339(o, f->reset_ns);
	}
	put(o, "\"", 1);
}

static void
put_body(struct out *o, const struct refusal *f)
{
	put_str(o, f->shape->pre);
	put_message(o, f);
	put_str(o, f->shape->post);
}

static void
put_head(struct out *o, const struct refusal *f, size_t body_len)
{
	put_str(o, "HTTP/1.1 429 Too Many Requests\r\n"
	    "Content-Type: application/json\r\n"
	    "Content-Length: ");
	put_uint(o, body_len);
	put_str(o, "\r\nConnection: close\r\n");
	if (f->now_ns > 0) {
		put_str(o, "Date: ");
		put_http_date(o, f->now_ns);
		put_str(o, "\r\n");
	}
	if (f->kind == LLM_REFUSE_DENY)
		put_str(o, "x-should-retry: false\r\n");
	else {
		put_str(o, "retry-after: ");
		put_uint(o, f->retry);
		put_str(o, "\r\n");
	}
	if (f->rule[0] != '\0') {
		put_str(o, "x-tollgate-rule: ");
		put_str(o, f->rule);
		put_str(o, "\r\n");
	}
	put_str(o, "\r\n");
}

/* The shape the client's SDK parses: by API first (Anthropic's and
 * Ollama's OpenAI-compatible paths are OpenAI APIs), then by provider. */
static const struct shape *
shape_of(const struct llm_req *r, enum llm_refusal kind)
{
	switch (r->api) {
	case LLM_API_MESSAGES:
		return &anthropic;
	case LLM_API_GEMINI:
		return &gemini;
	case LLM_API_OLLAMA_CHAT:
	case LLM_API_OLLAMA_GENERATE:
		return &ollama;
	case LLM_API_NONE:
		if (r->provider == LLM_ANTHROPIC)
			return &anthropic;
		if (r->provider == LLM_GEMINI)
			return &gemini;
		if (r->provider == LLM_OLLAMA)
			return &ollama;
		break;
	default:
		break;
	}
	return kind == LLM_REFUSE_DENY ? &openai_deny : &openai_throttle;
}

/* A header value may hold visible ASCII only: no CR/LF to split it. */
static int
header_token(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	for (; *p != '\0'; p++)
		if (*p < '!' || *p > '~')
			return 0;
	return 1;
}

ssize_t
llm_refusal_build(const struct llm_req *r, enum llm_refusal kind,
    const char *rule, const char *reason, int64_t reset_ns, int64_t now_ns,
    unsigned retry_after_s, char *buf, size_t size)
{
	struct refusal f;
	struct out count = { NULL, 0, 0 }, o = { buf, size, 0 };

	f.rule = rule != NULL ? rule : "";
	if ((kind != LLM_REFUSE_DENY && kind != LLM_REFUSE_THROTTLE) ||
	    !header_token(f.rule)) {
		errno = EINVAL;
		return -1;
	}
	f.shape = shape_of(r, kind);
	f.kind = kind;
	f.reason = reason != NULL ? reason : "";
	f.reset_ns = reset_ns;
	f.now_ns = now_ns;
	f.retry = retry_after_s < LLM_REFUSE_RETRY_MIN ? LLM_REFUSE_RETRY_MIN :
	    retry_after_s > LLM_REFUSE_RETRY_MAX ? LLM_REFUSE_RETRY_MAX :
	    retry_after_s;

	put_body(&count, &f);
	put_head(&o, &f, count.len);
	put_body(&o, &f);
	if (o.len > size || o.len > SSIZE_MAX) {
		errno = ENOSPC;
		return -1;
	}
	return (ssize_t)o.len;
}
