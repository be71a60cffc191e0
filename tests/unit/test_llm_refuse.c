/* test_llm_refuse.c — llm_refusal_build: the synthesized 429 per
 * provider shape × deny/throttle, byte for byte; JSON escaping against
 * jansson's own json_dumps; retry-after clamping; a buffer one byte short;
 * headers that cannot be split. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "llm.h"
#include "llm_refuse.h"

#define S 1000000000LL
#define RESET   (1795824000LL * S)               /* 2026-11-28T00:00:00Z */
#define NOW     (1795791845LL * S + 500000000)   /* Fri 27 Nov 15:04:05.5 */

/* The expected responses, written out. Content-Length counted apart
 * (Python's json.dumps, separators (',', ':')). */
static const char openai_deny[] =
	"HTTP/1.1 429 Too Many Requests\r\n"
	"Content-Type: application/json\r\n"
	"Content-Length: 202\r\n"
	"Connection: close\r\n"
	"Date: Fri, 27 Nov 2026 15:04:05 GMT\r\n"
	"x-should-retry: false\r\n"
	"x-tollgate-rule: team-day\r\n"
	"\r\n"
	"{\"error\":{\"message\":\"tollgate: request refused by rule "
	"\\\"team-day\\\" (day budget of $5.00 is spent); "
	"resets at 2026-11-28T00:00:00Z\","
	"\"type\":\"insufficient_quota\",\"param\":null,"
	"\"code\":\"insufficient_quota\"}}";

static const char openai_throttle[] =
	"HTTP/1.1 429 Too Many Requests\r\n"
	"Content-Type: application/json\r\n"
	"Content-Length: 168\r\n"
	"Connection: close\r\n"
	"Date: Fri, 27 Nov 2026 15:04:05 GMT\r\n"
	"retry-after: 2\r\n"
	"x-tollgate-rule: rps\r\n"
	"\r\n"
	"{\"error\":{\"message\":\"tollgate: request throttled by rule "
	"\\\"rps\\\" (5 requests per second); retry after 2 s\","
	"\"type\":\"requests\",\"param\":null,"
	"\"code\":\"rate_limit_exceeded\"}}";

static const char anthropic_deny[] =
	"HTTP/1.1 429 Too Many Requests\r\n"
	"Content-Type: application/json\r\n"
	"Content-Length: 174\r\n"
	"Connection: close\r\n"
	"Date: Fri, 27 Nov 2026 15:04:05 GMT\r\n"
	"x-should-retry: false\r\n"
	"x-tollgate-rule: team-day\r\n"
	"\r\n"
	"{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\","
	"\"message\":\"tollgate: request refused by rule "
	"\\\"team-day\\\" (day budget of $5.00 is spent); "
	"resets at 2026-11-28T00:00:00Z\"}}";

static const char anthropic_throttle[] =
	"HTTP/1.1 429 Too Many Requests\r\n"
	"Content-Type: application/json\r\n"
	"Content-Length: 149\r\n"
	"Connection: close\r\n"
	"Date: Fri, 27 Nov 2026 15:04:05 GMT\r\n"
	"retry-after: 2\r\n"
	"x-tollgate-rule: rps\r\n"
	"\r\n"
	"{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\","
	"\"message\":\"tollgate: request throttled by rule "
	"\\\"rps\\\" (5 requests per second); retry after 2 s\"}}";

static const char gemini_deny[] =
	"HTTP/1.1 429 Too Many Requests\r\n"
	"Content-Type: application/json\r\n"
	"Content-Length: 174\r\n"
	"Connection: close\r\n"
	"Date: Fri, 27 Nov 2026 15:04:05 GMT\r\n"
	"x-should-retry: false\r\n"
	"x-tollgate-rule: team-day\r\n"
	"\r\n"
	"{\"error\":{\"code\":429,\"message\":\"tollgate: request refused "
	"by rule \\\"team-day\\\" (day budget of $5.00 is spent); "
	"resets at 2026-11-28T00:00:00Z\","
	"\"status\":\"RESOURCE_EXHAUSTED\"}}";

static const char gemini_throttle[] =
	"HTTP/1.1 429 Too Many Requests\r\n"
	"Content-Type: application/json\r\n"
	"Content-Length: 149\r\n"
	"Connection: close\r\n"
	"Date: Fri, 27 Nov 2026 15:04:05 GMT\r\n"
	"retry-after: 2\r\n"
	"x-tollgate-rule: rps\r\n"
	"\r\n"
	"{\"error\":{\"code\":429,\"message\":\"tollgate: request throttled "
	"by rule \\\"rps\\\" (5 requests per second); retry after 2 s\","
	"\"status\":\"RESOURCE_EXHAUSTED\"}}";

static const char ollama_deny[] =
	"HTTP/1.1 429 Too Many Requests\r\n"
	"Content-Type: application/json\r\n"
	"Content-Length: 121\r\n"
	"Connection: close\r\n"
	"Date: Fri, 27 Nov 2026 15:04:05 GMT\r\n"
	"x-should-retry: false\r\n"
	"x-tollgate-rule: team-day\r\n"
	"\r\n"
	"{\"error\":\"tollgate: request refused by rule \\\"team-day\\\" "
	"(day budget of $5.00 is spent); resets at 2026-11-28T00:00:00Z\"}";

static const char ollama_throttle[] =
	"HTTP/1.1 429 Too Many Requests\r\n"
	"Content-Type: application/json\r\n"
	"Content-Length: 96\r\n"
	"Connection: close\r\n"
	"Date: Fri, 27 Nov 2026 15:04:05 GMT\r\n"
	"retry-after: 2\r\n"
	"x-tollgate-rule: rps\r\n"
	"\r\n"
	"{\"error\":\"tollgate: request throttled by rule \\\"rps\\\" "
	"(5 requests per second); retry after 2 s\"}";

/* One request per row, classified as the shim would; its two answers. */
struct rcase {
	const char *path, *host;
	enum llm_provider provider;
	enum llm_api api;
	const char *deny, *throttle;
};

static const struct rcase cases[] = {
	{ "/v1/chat/completions", "api.openai.com", LLM_OPENAI, LLM_API_CHAT,
	    openai_deny, openai_throttle },
	{ "/v1/responses", "api.openai.com", LLM_OPENAI, LLM_API_RESPONSES,
	    openai_deny, openai_throttle },
	{ "/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21",
	    "contoso.openai.azure.com", LLM_AZURE, LLM_API_CHAT,
	    openai_deny, openai_throttle },
	{ "/v1/completions", "localhost", LLM_COMPAT, LLM_API_COMPLETIONS,
	    openai_deny, openai_throttle },
	/* Ollama's OpenAI-compatible path: OpenAI clients call it */
	{ "/v1/chat/completions", "localhost", LLM_COMPAT, LLM_API_CHAT,
	    openai_deny, openai_throttle },
	{ "/v1/messages", "api.anthropic.com", LLM_ANTHROPIC,
	    LLM_API_MESSAGES, anthropic_deny, anthropic_throttle },
	{ "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse",
	    "generativelanguage.googleapis.com", LLM_GEMINI, LLM_API_GEMINI,
	    gemini_deny, gemini_throttle },
	{ "/api/chat", "localhost", LLM_OLLAMA, LLM_API_OLLAMA_CHAT,
	    ollama_deny, ollama_throttle },
	{ "/api/generate", "localhost", LLM_OLLAMA, LLM_API_OLLAMA_GENERATE,
	    ollama_deny, ollama_throttle },
};

static void
classify(const char *path, const char *host, struct llm_req *r)
{
	memset(r, 0, sizeof(*r));
	assert_int_equal(llm_classify("POST", path, host, r), 1);
}

/* The response as a C string (buf has room for the NUL). */
static ssize_t
build(const struct llm_req *r, enum llm_refusal kind, const char *rule,
    const char *reason, int64_t reset, int64_t now, unsigned retry,
    char *buf, size_t size)
{
	ssize_t n;

	n = llm_refusal_build(r, kind, rule, reason, reset, now, retry, buf,
	    size - 1);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

static void
test_shapes(void **state)
{
	char buf[LLM_REFUSE_BUF + 1];
	struct llm_req r;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct rcase *c = &cases[i];

		classify(c->path, c->host, &r);
		assert_int_equal(r.provider, c->provider);
		assert_int_equal(r.api, c->api);
		assert_int_equal(build(&r, LLM_REFUSE_DENY, "team-day",
		    "day budget of $5.00 is spent", RESET, NOW, 0, buf,
		    sizeof(buf)), strlen(c->deny));
		assert_string_equal(buf, c->deny);
		assert_int_equal(build(&r, LLM_REFUSE_THROTTLE, "rps",
		    "5 requests per second", 0, NOW, 2, buf, sizeof(buf)),
		    strlen(c->throttle));
		assert_string_equal(buf, c->throttle);
	}
}

/* A request the shim has not classified (api NONE) goes by provider;
 * one of nobody's gets the OpenAI shape, the de-facto standard. */
static void
test_shape_by_provider(void **state)
{
	static const struct {
		enum llm_provider p;
		const char *deny;
	} t[] = {
		{ LLM_ANTHROPIC, anthropic_deny }, { LLM_GEMINI, gemini_deny },
		{ LLM_OLLAMA, ollama_deny }, { LLM_UNKNOWN, openai_deny },
		{ LLM_AZURE, openai_deny },
	};
	char buf[LLM_REFUSE_BUF + 1];
	struct llm_req r;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		memset(&r, 0, sizeof(r));
		r.provider = t[i].p;
		assert_int_equal(build(&r, LLM_REFUSE_DENY, "team-day",
		    "day budget of $5.00 is spent", RESET, NOW, 0, buf,
		    sizeof(buf)), strlen(t[i].deny));
		assert_string_equal(buf, t[i].deny);
	}
}

/* No rule, reason, reset or clock: the parts are left out, not empty. */
static void
test_minimal(void **state)
{
	static const char want[] =
		"HTTP/1.1 429 Too Many Requests\r\n"
		"Content-Type: application/json\r\n"
		"Content-Length: 118\r\n"
		"Connection: close\r\n"
		"x-should-retry: false\r\n"
		"\r\n"
		"{\"error\":{\"message\":\"tollgate: request refused\","
		"\"type\":\"insufficient_quota\",\"param\":null,"
		"\"code\":\"insufficient_quota\"}}";
	char buf[LLM_REFUSE_BUF + 1];
	struct llm_req r;

	classify("/v1/chat/completions", "api.openai.com", &r);
	assert_int_equal(build(&r, LLM_REFUSE_DENY, NULL, NULL, 0, 0, 0, buf,
	    sizeof(buf)), strlen(want));
	assert_string_equal(buf, want);
	assert_int_equal(build(&r, LLM_REFUSE_DENY, "", "", 0, 0, 0, buf,
	    sizeof(buf)), strlen(want));
	assert_string_equal(buf, want);
}

/* The body of a response (after the blank line) and its length. */
static const char *
body_of(const char *resp, size_t *len)
{
	const char *b = strstr(resp, "\r\n\r\n");

	assert_non_null(b);
	b += 4;
	*len = strlen(b);
	return b;
}

/* The Content-Length header's value. */
static size_t
content_length(const char *resp)
{
	const char *h = strstr(resp, "\r\nContent-Length: ");

	assert_non_null(h);
	return strtoul(h + 18, NULL, 10);
}

/* The message jansson reads back from an Ollama-shaped body. */
static void
assert_message(const char *resp, const char *want)
{
	json_error_t err;
	json_t *root;
	size_t n;
	const char *b = body_of(resp, &n);

	assert_int_equal(content_length(resp), n);
	root = json_loadb(b, n, 0, &err);
	assert_non_null(root);
	assert_string_equal(json_string_value(json_object_get(root, "error")),
	    want);
	json_decref(root);
}

/* Quotes, backslashes, control bytes, '/', DEL and UTF-8 in a reason are
 * escaped exactly as json_dumps(JSON_COMPACT) escapes them. */
static void
test_escaping(void **state)
{
	static const char reason[] = "tag \"team\"=a\\b\nc\td\r\x01\x1f"
	    "\x7f/\b\f \xe2\x82\xac \xf0\x9f\x92\xb8";
	static const char want_body[] =
		"{\"error\":\"tollgate: request refused by rule \\\"r.1_x\\\" "
		"(tag \\\"team\\\"=a\\\\b\\nc\\td\\r\\u0001\\u001F"
		"\x7f/\\b\\f \xe2\x82\xac \xf0\x9f\x92\xb8)\"}";
	char buf[LLM_REFUSE_BUF + 1], msg[512];
	struct llm_req r;
	json_t *o;
	char *dumped;
	size_t n;

	classify("/api/chat", "localhost", &r);
	assert_true(build(&r, LLM_REFUSE_DENY, "r.1_x", reason, 0, 0, 0, buf,
	    sizeof(buf)) > 0);
	assert_string_equal(body_of(buf, &n), want_body);

	snprintf(msg, sizeof(msg), "tollgate: request refused by rule "
	    "\"r.1_x\" (%s)", reason);
	o = json_pack("{s:s}", "error", msg);
	assert_non_null(o);
	dumped = json_dumps(o, JSON_COMPACT);
	assert_non_null(dumped);
	assert_string_equal(body_of(buf, &n), dumped);
	free(dumped);
	json_decref(o);
	assert_message(buf, msg);
}

/* Bytes that are not UTF-8 (a stray continuation, a truncated sequence,
 * an overlong '/', a surrogate, past U+10FFFF) become U+FFFD each, so
 * the body still parses; good sequences next to them are kept. */
static void
test_bad_utf8(void **state)
{
	static const char reason[] = "a\x80" "b\xe2\x82" "c\xc0\xaf"
	    "d\xed\xa0\x80" "e\xf4\x90\x80\x80" "f\xc3\xa9";
	static const char want[] = "tollgate: request refused (a\xef\xbf\xbd"
	    "b\xef\xbf\xbd\xef\xbf\xbd" "c\xef\xbf\xbd\xef\xbf\xbd"
	    "d\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
	    "e\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "f\xc3\xa9)";
	char buf[LLM_REFUSE_BUF + 1];
	struct llm_req r;

	classify("/api/generate", "localhost", &r);
	assert_true(build(&r, LLM_REFUSE_DENY, NULL, reason, 0, 0, 0, buf,
	    sizeof(buf)) > 0);
	assert_message(buf, want);
}

/* Every size short of the response gives -1/ENOSPC and writes nothing
 * past size; the exact size works. */
static void
test_too_small(void **state)
{
	char want[LLM_REFUSE_BUF], buf[LLM_REFUSE_BUF + 16];
	struct llm_req r;
	ssize_t len;
	size_t size;

	classify("/v1/messages", "api.anthropic.com", &r);
	len = llm_refusal_build(&r, LLM_REFUSE_DENY, "team-day",
	    "day budget of $5.00 is spent", RESET, NOW, 0, want, sizeof(want));
	assert_int_equal(len, strlen(anthropic_deny));
	for (size = 0; size < (size_t)len; size++) {
		memset(buf, 'Z', sizeof(buf));
		errno = 0;
		assert_int_equal(llm_refusal_build(&r, LLM_REFUSE_DENY,
		    "team-day", "day budget of $5.00 is spent", RESET, NOW, 0,
		    buf, size), -1);
		assert_int_equal(errno, ENOSPC);
		assert_int_equal(buf[size], 'Z');
	}
	memset(buf, 'Z', sizeof(buf));
	assert_int_equal(llm_refusal_build(&r, LLM_REFUSE_DENY, "team-day",
	    "day budget of $5.00 is spent", RESET, NOW, 0, buf, (size_t)len),
	    len);
	assert_memory_equal(buf, anthropic_deny, (size_t)len);
	assert_int_equal(buf[len], 'Z');
	assert_int_equal(llm_refusal_build(&r, LLM_REFUSE_DENY, NULL, NULL,
	    0, 0, 0, NULL, 0), -1);
	assert_int_equal(errno, ENOSPC);
}

/* retry-after is at least 1 (SDKs ignore 0) and at most 59 (openai-node
 * up to v5 honours only less than 60 s); header and message agree. */
static void
test_retry_clamp(void **state)
{
	static const struct {
		unsigned in, out;
	} t[] = {
		{ 0, 1 }, { 1, 1 }, { 7, 7 }, { 59, 59 }, { 60, 59 },
		{ 61, 59 }, { 3600, 59 }, { UINT_MAX, 59 },
	};
	char buf[LLM_REFUSE_BUF + 1], want[64];
	struct llm_req r;
	size_t i;

	classify("/api/chat", "localhost", &r);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_true(build(&r, LLM_REFUSE_THROTTLE, NULL, NULL, 0, 0,
		    t[i].in, buf, sizeof(buf)) > 0);
		snprintf(want, sizeof(want), "\r\nretry-after: %u\r\n",
		    t[i].out);
		assert_non_null(strstr(buf, want));
		snprintf(want, sizeof(want), "tollgate: request throttled; "
		    "retry after %u s", t[i].out);
		assert_message(buf, want);
		assert_null(strstr(buf, "x-should-retry"));
	}
}

/* A reset between seconds is announced at the next whole second, never
 * before it happens; Date rounds down (it is now). A leap day and a
 * Sunday check the civil conversion. */
static void
test_times(void **state)
{
	char buf[LLM_REFUSE_BUF + 1];
	struct llm_req r;

	classify("/api/chat", "localhost", &r);
	/* 2000-02-29T23:59:59Z is 951868799 */
	assert_true(build(&r, LLM_REFUSE_DENY, NULL, NULL, 951868799LL * S + 1,
	    951868799LL * S + 999999999, 0, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf,
	    "\r\nDate: Tue, 29 Feb 2000 23:59:59 GMT\r\n"));
	assert_message(buf,
	    "tollgate: request refused; resets at 2000-03-01T00:00:00Z");
	/* 2026-11-29T00:00:00Z, a Sunday */
	assert_true(build(&r, LLM_REFUSE_DENY, NULL, NULL, RESET + 86400 * S,
	    RESET + 86400 * S, 0, buf, sizeof(buf)) > 0);
	assert_non_null(strstr(buf,
	    "\r\nDate: Sun, 29 Nov 2026 00:00:00 GMT\r\n"));
	assert_message(buf,
	    "tollgate: request refused; resets at 2026-11-29T00:00:00Z");
}

/* A rule name that could split or fold a header is refused (EINVAL), as
 * is an unknown kind; a quote or backslash is fine in a header and is
 * escaped in the JSON. */
static void
test_bad_input(void **state)
{
	static const char *const bad[] = { "a\r\nx-evil: 1", "a b", "a\tb",
	    "r\xc3\xa9gle", "a\x7f" };
	char buf[LLM_REFUSE_BUF + 1];
	struct llm_req r;
	size_t i;

	classify("/api/chat", "localhost", &r);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		assert_int_equal(build(&r, LLM_REFUSE_DENY, bad[i], NULL, 0, 0,
		    0, buf, sizeof(buf)), -1);
		assert_int_equal(errno, EINVAL);
	}
	errno = 0;
	assert_int_equal(build(&r, (enum llm_refusal)2, "x", NULL, 0, 0, 0,
	    buf, sizeof(buf)), -1);
	assert_int_equal(errno, EINVAL);
	assert_true(build(&r, LLM_REFUSE_DENY, "q\"\\", NULL, 0, 0, 0, buf,
	    sizeof(buf)) > 0);
	assert_non_null(strstr(buf, "\r\nx-tollgate-rule: q\"\\\r\n"));
	assert_message(buf, "tollgate: request refused by rule \"q\"\\\"");
}

/* The longest name and reason the policy engine makes (63 and 191
 * bytes), every byte escaped to 6, fit LLM_REFUSE_BUF in every shape. */
static void
test_worst_case_fits(void **state)
{
	char rule[64], reason[192], buf[LLM_REFUSE_BUF];
	struct llm_req r;
	size_t i;
	ssize_t n;

	memset(rule, '"', sizeof(rule) - 1);
	rule[sizeof(rule) - 1] = '\0';
	memset(reason, '\x01', sizeof(reason) - 1);
	reason[sizeof(reason) - 1] = '\0';
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		classify(cases[i].path, cases[i].host, &r);
		n = llm_refusal_build(&r, LLM_REFUSE_THROTTLE, rule, reason,
		    INT64_MAX, INT64_MAX, UINT_MAX, buf, sizeof(buf));
		assert_true(n > 1200);
		assert_true(n <= LLM_REFUSE_BUF);
		n = llm_refusal_build(&r, LLM_REFUSE_DENY, rule, reason,
		    INT64_MAX, INT64_MAX, 0, buf, sizeof(buf));
		assert_true(n > 1200);
		assert_true(n <= LLM_REFUSE_BUF);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shapes),
		cmocka_unit_test(test_shape_by_provider),
		cmocka_unit_test(test_minimal),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_bad_utf8),
		cmocka_unit_test(test_too_small),
		cmocka_unit_test(test_retry_clamp),
		cmocka_unit_test(test_times),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_worst_case_fits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
