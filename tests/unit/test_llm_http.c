/* test_llm_http.c — one HTTP/1.1 connection through the LLM parser
 * (lib/llm_http.c over llm_decode.c and llm_frame.c): keep-alive and
 * pipelining, chunked with extensions and trailers, every
 * Content-Encoding, SSE and NDJSON, 100-continue, HEAD/204/304, bodies
 * past the bound, cuts, and garbage. Every scenario is fed whole, a byte
 * at a time and in seeded random splits; all must write the same log.
 *
 * The provider layer is replaced here by a recording stand-in (below):
 * these tests check what the transport hands over — the exact request
 * body, each event's name and data, the exact response body — not what a
 * provider makes of them (its own tests do that). The stand-in's
 * definitions satisfy llm_http.o's references, so the archive's real
 * ones are never linked into this binary.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <brotli/encode.h>
#include <zlib.h>
#include <zstd.h>

#include "llm.h"
#include "llm_transport.h"

/* ---- a growing string ---- */

struct str {
	char *s;
	size_t len, cap;
};

static void
str_add(struct str *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s = realloc(b->s, b->cap);
		assert_non_null(b->s);
	}
	memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
}

/* Appends a string literal, its length counted by the compiler. */
#define ADD(b, lit) str_add(b, lit, sizeof(lit) - 1)

static void
str_fmt(struct str *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < sizeof(tmp));
	str_add(b, tmp, n);
}

/* ---- the log every scenario writes ---- */

static struct str logb;

/* Text as the log shows it: long texts by their ends and length. */
static void
log_text(const char *p, size_t n)
{
	if (n <= 80) {
		str_add(&logb, p, n);
		return;
	}
	str_add(&logb, p, 30);
	str_fmt(&logb, "…(%zu)…", n);
	str_add(&logb, p + n - 30, 30);
}

/* Reads the number after key (e.g. "\"out\":") in p, or -1. */
static long long
num_after(const char *p, size_t n, const char *key)
{
	const char *q = memmem(p, n, key, strlen(key));

	return q != NULL ? atoll(q + strlen(key)) : -1;
}

static void
str_after(const char *p, size_t n, const char *key, char *out, size_t size)
{
	const char *q = memmem(p, n, key, strlen(key)), *e;

	if (q == NULL)
		return;
	q += strlen(key);
	e = memchr(q, '"', n - (q - p));
	if (e != NULL && (size_t)(e - q) < size) {
		memcpy(out, q, e - q);
		out[e - q] = '\0';
	}
}

/* ---- the stand-in provider layer ---- */

int
llm_classify(const char *method, const char *path, const char *host,
    struct llm_req *r)
{
	str_fmt(&logb, "classify %s %s %s\n", method, path, host);
	if (strcmp(method, "POST") != 0 || (strncmp(path, "/v1/", 4) != 0 &&
	    strncmp(path, "/api/", 5) != 0))
		return 0;
	r->provider = LLM_OPENAI;
	r->api = LLM_API_CHAT;
	snprintf(r->endpoint, sizeof(r->endpoint), "%.*s",
	    (int)strcspn(path, "?"), path);
	snprintf(r->host, sizeof(r->host), "%s", host);
	return 1;
}

int
llm_request_body(struct llm_req *r, const char *json, size_t len)
{
	assert_int_equal(json[len], '\0');
	ADD(&logb, "reqbody ");
	log_text(json, len);
	ADD(&logb, "\n");
	if (len == 0 || json[0] != '{')
		return -1;
	str_after(json, len, "\"model\":\"", r->model, sizeof(r->model));
	r->max_tokens = num_after(json, len, "\"max_tokens\":");
	r->stream = memmem(json, len, "\"stream\":true", 13) != NULL;
	return 0;
}

int
llm_usage_body(const struct llm_req *r, const char *json, size_t len,
    struct llm_usage *u)
{
	long long v;

	assert_int_equal(json[len], '\0');
	ADD(&logb, "body ");
	log_text(json, len);
	ADD(&logb, "\n");
	if (len == 0 || json[0] != '{')
		return -1;
	if ((v = num_after(json, len, "\"in\":")) >= 0) {
		u->input = v;
		u->have |= LLM_HAVE_INPUT;
	}
	if ((v = num_after(json, len, "\"out\":")) >= 0) {
		u->output = v;
		u->have |= LLM_HAVE_OUTPUT;
	}
	str_after(json, len, "\"model\":\"", u->model, sizeof(u->model));
	u->done = 1;
	return 0;
}

void
llm_usage_event(const struct llm_req *r, const char *event, const char *data,
    size_t len, struct llm_usage *u)
{
	long long v;

	assert_int_equal(data[len], '\0');
	str_fmt(&logb, "ev[%s]", event);
	log_text(data, len);
	ADD(&logb, "\n");
	if ((v = num_after(data, len, "\"out\":")) >= 0) {
		u->output = v; /* the last one wins */
		u->have |= LLM_HAVE_OUTPUT;
	}
	if ((len == 6 && memcmp(data, "[DONE]", 6) == 0) ||
	    memmem(data, len, "\"done\":true", 11) != NULL)
		u->done = 1;
}

static void
on_done(void *arg, const struct llm_exchange *x)
{
	str_fmt(&logb, "X %d streamed=%d cut=%d bytes=%llu "
	    "model=%s/%s in=%llu out=%llu done=%d err=%d | %s %s%s "
	    "tags=%s max=%lld stream=%d est=%llu\n",
	    x->status, x->streamed, x->cut,
	    (unsigned long long)x->resp_body_bytes, x->req.model,
	    x->usage.model, (unsigned long long)x->usage.input,
	    (unsigned long long)x->usage.output, x->usage.done,
	    x->usage.error, x->req.host, x->req.endpoint, "", x->req.tags,
	    (long long)x->req.max_tokens, x->req.stream,
	    (unsigned long long)x->req.est_input_tokens);
}

/* ---- running a scenario in splits ---- */

enum split { WHOLE, BYTES, RANDOM };

static void
feed(struct llm_conn *c, void (*fn)(struct llm_conn *, const void *,
    size_t), const char *p, size_t n, enum split how)
{
	size_t off = 0, k;

	while (off < n) {
		k = how == WHOLE ? n - off : how == BYTES ? 1 :
		    (random() % 4 == 0 ? 1 + (size_t)random() % 4000 :
		    1 + (size_t)random() % 40);
		if (k > n - off)
			k = n - off;
		fn(c, p + off, k);
		off += k;
	}
}

/* Writes out, reads in, then closes (or not): the log, to free. */
static char *
run(const struct str *out, const struct str *in, int close,
    enum split how, unsigned seed)
{
	struct llm_conn *c;
	char *s;

	logb.len = 0;
	ADD(&logb, "");
	srandom(seed);
	c = llm_conn_new(on_done, NULL);
	assert_non_null(c);
	feed(c, llm_conn_out, out->s, out->len, how);
	feed(c, llm_conn_in, in->s, in->len, how);
	if (close)
		llm_conn_close(c);
	llm_conn_free(c);
	s = strdup(logb.s);
	return s;
}

/* cmocka cuts long strings short: say where they part first. */
static void
same(const char *got, const char *want, const char *how)
{
	size_t i;

	for (i = 0; got[i] == want[i] && got[i] != '\0'; i++)
		;
	if (got[i] != want[i])
		print_error("%s: logs part at byte %zu:\n got: %.80s\nwant: "
		    "%.80s\n", how, i, got + (i > 20 ? i - 20 : 0),
		    want + (i > 20 ? i - 20 : 0));
	assert_string_equal(got, want);
}

static void
check(const struct str *out, const struct str *in, int close,
    const char *want)
{
	char *got, how[32];
	unsigned seed;

	got = run(out, in, close, WHOLE, 0);
	same(got, want, "whole");
	free(got);
	got = run(out, in, close, BYTES, 0);
	same(got, want, "bytes");
	free(got);
	for (seed = 1; seed <= 10; seed++) {
		got = run(out, in, close, RANDOM, seed);
		snprintf(how, sizeof(how), "random split %u", seed);
		same(got, want, how);
		free(got);
	}
}

/* ---- building messages ---- */

/* A request with a Content-Length body (body NULL: no body). */
static void
req(struct str *b, const char *method, const char *target,
    const char *headers, const char *body)
{
	str_fmt(b, "%s %s HTTP/1.1\r\nHost: api.example.com\r\n%s", method,
	    target, headers);
	if (body != NULL)
		str_fmt(b, "Content-Length: %zu\r\n", strlen(body));
	str_add(b, "\r\n", 2);
	if (body != NULL)
		str_add(b, body, strlen(body));
}

static void
resp(struct str *b, const char *status, const char *headers,
    const char *body, size_t n)
{
	str_fmt(b, "HTTP/1.1 %s\r\n%sContent-Length: %zu\r\n\r\n", status,
	    headers, n);
	str_add(b, body, n);
}

/* body as chunks of `size` bytes, every other one with an extension,
 * then trailers. */
static void
chunked(struct str *b, const char *body, size_t n, size_t size)
{
	size_t i, k;
	int odd = 0;

	for (i = 0; i < n; i += k) {
		k = n - i < size ? n - i : size;
		str_fmt(b, odd ? "%zX;ext=\"a;b\"\r\n" : "%zx\r\n", k);
		str_add(b, body + i, k);
		str_add(b, "\r\n", 2);
		odd = !odd;
	}
	ADD(b, "0\r\nX-Trailer: 1\r\nServer-Timing: a=2\r\n\r\n");
}

static void
resp_chunked(struct str *b, const char *headers, const char *body, size_t n,
    size_t size)
{
	str_fmt(b, "HTTP/1.1 200 OK\r\n%sTransfer-Encoding: chunked\r\n\r\n",
	    headers);
	chunked(b, body, n, size);
}

static void
str_free(struct str *b)
{
	free(b->s);
	memset(b, 0, sizeof(*b));
}

static const char sse_body[] =
    "data: {\"c\":\"hi\"}\n\n"
    ": ping\n\n"
    "data: {\"c\":\r\ndata: \"yo\"}\r\n\r\n"
    "event: x\ndata: {\"out\":5}\n\n"
    "data: [DONE]\n\n";

#define SSE_LOG \
    "ev[]{\"c\":\"hi\"}\n" \
    "ev[]{\"c\":\n\"yo\"}\n" \
    "ev[x]{\"out\":5}\n" \
    "ev[][DONE]\n"

#define CHAT_CLASSIFY \
    "classify POST /v1/chat/completions api.example.com\n"

/* ---- scenarios ---- */

static void
test_json_body(void **state)
{
	struct str out = { 0 }, in = { 0 };
	const char *rb = "{\"model\":\"m1\",\"usage\":{\"in\":11,\"out\":22}}";

	ADD(&out, "POST /v1/chat/completions HTTP/1.1\r\n"
	    "host: API.Example.com:443\r\ncontent-type: application/json\r\n"
	    "X-Tollgate-Tags: team=a,purpose=b\r\ncontent-length: 28\r\n\r\n"
	    "{\"model\":\"m\",\"max_tokens\":9}");
	resp(&in, "200 OK", "Content-Type: application/json\r\n", rb,
	    strlen(rb));
	check(&out, &in, 0,
	    CHAT_CLASSIFY
	    "reqbody {\"model\":\"m\",\"max_tokens\":9}\n"
	    "body {\"model\":\"m1\",\"usage\":{\"in\":11,\"out\":22}}\n"
	    "X 200 streamed=0 cut=0 bytes=41 model=m/m1 in=11 out=22 done=1 "
	    "err=0 | api.example.com /v1/chat/completions tags=team=a,"
	    "purpose=b max=9 stream=0 est=0\n");
	str_free(&out);
	str_free(&in);
}

static void
test_sse_chunked(void **state)
{
	struct str out = { 0 }, in = { 0 };
	size_t size;
	char want[2048];

	req(&out, "POST", "/v1/chat/completions", "",
	    "{\"model\":\"m\",\"stream\":true}");
	snprintf(want, sizeof(want), CHAT_CLASSIFY
	    "reqbody {\"model\":\"m\",\"stream\":true}\n" SSE_LOG
	    "X 200 streamed=1 cut=0 bytes=%zu model=m/ in=0 out=5 done=1 "
	    "err=0 | api.example.com /v1/chat/completions tags= max=-1 "
	    "stream=1 est=0\n", sizeof(sse_body) - 1);
	/* chunk boundaries everywhere: inside "data:", CRLF, events */
	for (size = 1; size <= 40; size += 3) {
		in.len = 0;
		resp_chunked(&in, "Content-Type: text/event-stream; "
		    "charset=utf-8\r\n", sse_body, sizeof(sse_body) - 1, size);
		check(&out, &in, 0, want);
	}
	str_free(&out);
	str_free(&in);
}

/* ---- each Content-Encoding ---- */

static void
pack_zlib(struct str *b, const char *in, size_t n, int wbits)
{
	z_stream z = { 0 };
	char buf[4096];
	int r;

	assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, wbits, 8,
	    Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = (unsigned char *)in;
	z.avail_in = n;
	do {
		z.next_out = (unsigned char *)buf;
		z.avail_out = sizeof(buf);
		r = deflate(&z, Z_FINISH);
		str_add(b, buf, sizeof(buf) - z.avail_out);
	} while (r == Z_OK);
	assert_int_equal(r, Z_STREAM_END);
	deflateEnd(&z);
}

static void
pack_br(struct str *b, const char *in, size_t n)
{
	size_t cap = BrotliEncoderMaxCompressedSize(n);
	char *buf = malloc(cap);

	assert_int_equal(BrotliEncoderCompress(5, 22, BROTLI_MODE_TEXT, n,
	    (const uint8_t *)in, &cap, (uint8_t *)buf), BROTLI_TRUE);
	str_add(b, buf, cap);
	free(buf);
}

static void
pack_zstd(struct str *b, const char *in, size_t n)
{
	size_t cap = ZSTD_compressBound(n);
	char *buf = malloc(cap);

	cap = ZSTD_compress(buf, cap, in, n, 3);
	assert_false(ZSTD_isError(cap));
	str_add(b, buf, cap);
	free(buf);
}

static void
test_encodings(void **state)
{
	static const char *names[] = { "gzip", "deflate", "deflate", "br",
	    "zstd", "x-gzip" };
	struct str out = { 0 }, in = { 0 }, packed = { 0 };
	char want[2048], hdr[128];
	size_t i;

	req(&out, "POST", "/v1/chat/completions", "", "{}");
	snprintf(want, sizeof(want), CHAT_CLASSIFY "reqbody {}\n" SSE_LOG
	    "X 200 streamed=1 cut=0 bytes=%zu model=/ in=0 out=5 done=1 "
	    "err=0 | api.example.com /v1/chat/completions tags= max=-1 "
	    "stream=0 est=0\n", sizeof(sse_body) - 1);
	for (i = 0; i < 6; i++) {
		packed.len = in.len = 0;
		if (i == 0 || i == 5)
			pack_zlib(&packed, sse_body, sizeof(sse_body) - 1, 31);
		else if (i == 1)
			pack_zlib(&packed, sse_body, sizeof(sse_body) - 1, 15);
		else if (i == 2) /* raw deflate, as some servers send */
			pack_zlib(&packed, sse_body, sizeof(sse_body) - 1, -15);
		else if (i == 3)
			pack_br(&packed, sse_body, sizeof(sse_body) - 1);
		else
			pack_zstd(&packed, sse_body, sizeof(sse_body) - 1);
		snprintf(hdr, sizeof(hdr), "Content-Type: text/event-stream\r\n"
		    "Content-Encoding: %s\r\n", names[i]);
		resp_chunked(&in, hdr, packed.s, packed.len, 7);
		check(&out, &in, 0, want);
		/* and with a Content-Length instead of chunks */
		in.len = 0;
		resp(&in, "200 OK", hdr, packed.s, packed.len);
		check(&out, &in, 0, want);
	}
	str_free(&out);
	str_free(&in);
	str_free(&packed);
}

static void
test_encoding_bad(void **state)
{
	struct str out = { 0 }, in = { 0 };

	/* unsupported coding: nothing decoded, cut; corrupt gzip: cut */
	req(&out, "POST", "/v1/chat/completions", "", "{}");
	req(&out, "POST", "/v1/chat/completions", "", "{}");
	resp(&in, "200 OK", "Content-Encoding: compress\r\n", "abc", 3);
	resp(&in, "200 OK", "Content-Encoding: gzip\r\n", "\x1f\x8b\x08xxxxx",
	    8);
	check(&out, &in, 0,
	    CHAT_CLASSIFY "reqbody {}\n" CHAT_CLASSIFY "reqbody {}\n"
	    "X 200 streamed=0 cut=1 bytes=0 model=/ in=0 out=0 done=0 err=0 | "
	    "api.example.com /v1/chat/completions tags= max=-1 stream=0 est=0\n"
	    "X 200 streamed=0 cut=1 bytes=0 model=/ in=0 out=0 done=0 err=0 | "
	    "api.example.com /v1/chat/completions tags= max=-1 stream=0 "
	    "est=0\n");
	str_free(&out);
	str_free(&in);
}

/* A stream whose gzip check fails at its very end: every event went by,
 * but nothing read from a corrupt body is kept. */
static void
test_encoding_bad_crc(void **state)
{
	struct str out = { 0 }, in = { 0 }, gz = { 0 };

	req(&out, "POST", "/v1/chat/completions", "", "{}");
	pack_zlib(&gz, sse_body, sizeof(sse_body) - 1, 31);
	gz.s[gz.len - 8] ^= 1; /* CRC32 */
	resp_chunked(&in, "Content-Type: text/event-stream\r\n"
	    "Content-Encoding: gzip\r\n", gz.s, gz.len, 10);
	check(&out, &in, 0, CHAT_CLASSIFY "reqbody {}\n" SSE_LOG
	    "X 200 streamed=1 cut=1 bytes=0 model=/ in=0 out=0 done=0 err=0 | "
	    "api.example.com /v1/chat/completions tags= max=-1 stream=0 "
	    "est=0\n");
	str_free(&out);
	str_free(&in);
	str_free(&gz);
}

static void
test_ndjson(void **state)
{
	struct str out = { 0 }, in = { 0 };
	static const char nd[] =
	    "{\"message\":{\"content\":\"a\"},\"done\":false}\n"
	    "{\"message\":{\"content\":\"b\"},\"done\":false}\r\n"
	    "{\"done\":true,\"out\":7}\n";

	ADD(&out, "POST /api/chat HTTP/1.1\r\nHost: localhost:11434\r\n"
	    "Content-Length: 2\r\n\r\n{}");
	resp_chunked(&in, "Content-Type: application/x-ndjson\r\n", nd,
	    sizeof(nd) - 1, 16);
	check(&out, &in, 0,
	    "classify POST /api/chat localhost\n"
	    "reqbody {}\n"
	    "ev[]{\"message\":{\"content\":\"a\"},\"done\":false}\n"
	    "ev[]{\"message\":{\"content\":\"b\"},\"done\":false}\n"
	    "ev[]{\"done\":true,\"out\":7}\n"
	    "X 200 streamed=1 cut=0 bytes=105 model=/ in=0 out=7 done=1 "
	    "err=0 | localhost /api/chat tags= max=-1 stream=0 est=0\n");
	str_free(&out);
	str_free(&in);
}

static void
test_pipelined(void **state)
{
	struct str out = { 0 }, in = { 0 }, gz = { 0 };
	const char *j = "{\"model\":\"r3\",\"usage\":{\"in\":3,\"out\":4}}";

	/* five requests written before any answer */
	req(&out, "HEAD", "/v1/chat/completions", "", NULL);
	req(&out, "GET", "/v1/models", "If-None-Match: \"x\"\r\n", NULL);
	req(&out, "POST", "/v1/chat/completions", "",
	    "{\"model\":\"a\",\"stream\":true}");
	req(&out, "POST", "/v1/embeddings", "", "{\"model\":\"b\"}");
	ADD(&out, "POST /v1/responses HTTP/1.1\r\nHost: api.example.com\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"
	    "5\r\n{\"mod\r\n8\r\nel\":\"c\"}\r\n0\r\n\r\n");
	/* HEAD: a length but no body; GET: 304; then SSE, 204, gzip JSON */
	ADD(&in, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
	ADD(&in, "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n");
	resp(&in, "200 OK", "Content-Type: text/event-stream\r\n", sse_body,
	    sizeof(sse_body) - 1);
	ADD(&in, "HTTP/1.1 204 No Content\r\n\r\n");
	pack_zlib(&gz, j, strlen(j), 31);
	resp(&in, "200 OK", "Content-Encoding: gzip\r\n", gz.s, gz.len);
	check(&out, &in, 0,
	    "classify HEAD /v1/chat/completions api.example.com\n"
	    "classify GET /v1/models api.example.com\n"
	    CHAT_CLASSIFY
	    "reqbody {\"model\":\"a\",\"stream\":true}\n"
	    "classify POST /v1/embeddings api.example.com\n"
	    "reqbody {\"model\":\"b\"}\n"
	    "classify POST /v1/responses api.example.com\n"
	    "reqbody {\"model\":\"c\"}\n"
	    SSE_LOG
	    "X 200 streamed=1 cut=0 bytes=94 model=a/ in=0 out=5 done=1 "
	    "err=0 | api.example.com /v1/chat/completions tags= max=-1 "
	    "stream=1 est=0\n"
	    "X 204 streamed=0 cut=0 bytes=0 model=b/ in=0 out=0 done=0 err=0 | "
	    "api.example.com /v1/embeddings tags= max=-1 stream=0 est=0\n"
	    "body {\"model\":\"r3\",\"usage\":{\"in\":3,\"out\":4}}\n"
	    "X 200 streamed=0 cut=0 bytes=39 model=c/r3 in=3 out=4 done=1 "
	    "err=0 | api.example.com /v1/responses tags= max=-1 stream=0 "
	    "est=0\n");
	str_free(&out);
	str_free(&in);
	str_free(&gz);
}

static void
test_pipe_too_deep(void **state)
{
	struct str out = { 0 }, in = { 0 }, want = { 0 };
	int i;

	for (i = 0; i <= LLM_PIPE_MAX; i++)
		req(&out, "POST", "/v1/chat/completions", "", "{}");
	ADD(&want, "");
	for (i = 0; i < LLM_PIPE_MAX; i++)
		str_add(&want, CHAT_CLASSIFY "reqbody {}\n",
		    sizeof(CHAT_CLASSIFY "reqbody {}\n") - 1);
	/* the ninth: pass-through; the eight pending end cut */
	for (i = 0; i < LLM_PIPE_MAX; i++)
		ADD(&want, "X 0 streamed=0 cut=1 bytes=0 model=/ in=0 out=0 "
		    "done=0 err=0 | api.example.com /v1/chat/completions tags= "
		    "max=-1 stream=0 est=0\n");
	check(&out, &in, 1, want.s);
	str_free(&out);
	str_free(&want);
}

static void
test_continue(void **state)
{
	struct str out = { 0 }, in = { 0 };
	const char *hdrs = "POST /v1/chat/completions HTTP/1.1\r\n"
	    "Host: api.example.com\r\nExpect: 100-continue\r\n"
	    "Content-Length: 13\r\n\r\n";
	struct llm_conn *c;
	const struct llm_req *r;

	logb.len = 0;
	c = llm_conn_new(on_done, NULL);
	assert_int_equal(llm_conn_state(c), LLM_REQ_IDLE);
	llm_conn_out(c, hdrs, 20);
	assert_int_equal(llm_conn_state(c), LLM_REQ_HEADERS);
	llm_conn_out(c, hdrs + 20, strlen(hdrs) - 20);
	/* headers out, body held by the client until 100 Continue */
	assert_int_equal(llm_conn_state(c), LLM_REQ_BODY);
	assert_int_equal(llm_conn_expects_continue(c), 1);
	assert_non_null(r = llm_conn_request(c));
	assert_string_equal(r->endpoint, "/v1/chat/completions");
	assert_string_equal(r->model, "");
	llm_conn_in(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
	llm_conn_out(c, "{\"model\":\"q\"}", 13);
	assert_int_equal(llm_conn_state(c), LLM_REQ_READY);
	assert_string_equal(llm_conn_request(c)->model, "q");
	llm_conn_in(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", 40);
	assert_non_null(strstr(logb.s, "X 200 "));
	/* READY lasts until the next request starts */
	assert_int_equal(llm_conn_state(c), LLM_REQ_READY);
	llm_conn_out(c, "GET / HTTP/1.1\r\n", 16);
	assert_int_equal(llm_conn_state(c), LLM_REQ_HEADERS);
	assert_int_equal(llm_conn_expects_continue(c), 0);
	llm_conn_out(c, "\r\n", 2);
	assert_int_equal(llm_conn_state(c), LLM_REQ_IDLE);
	assert_null(llm_conn_request(c));
	llm_conn_free(c);

	/* the same in any split, with a 102 and a 103 before the 100 */
	str_add(&out, hdrs, strlen(hdrs));
	ADD(&out, "{\"model\":\"q\"}");
	ADD(&in, "HTTP/1.1 102 Processing\r\n\r\n"
	    "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
	    "HTTP/1.1 100 Continue\r\n\r\n"
	    "HTTP/1.1 200\r\nContent-Length: 2\r\n\r\n{}");
	check(&out, &in, 0, CHAT_CLASSIFY "reqbody {\"model\":\"q\"}\n"
	    "body {}\n"
	    "X 200 streamed=0 cut=0 bytes=2 model=q/ in=0 out=0 done=1 err=0 | "
	    "api.example.com /v1/chat/completions tags= max=-1 stream=0 "
	    "est=0\n");
	str_free(&out);
	str_free(&in);
}

static void
test_states_unmetered(void **state)
{
	struct llm_conn *c = llm_conn_new(on_done, NULL);
	const char *g = "POST /upload HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 4\r\n\r\n";

	logb.len = 0;
	llm_conn_out(c, g, strlen(g));
	assert_int_equal(llm_conn_state(c), LLM_REQ_PASS);
	assert_null(llm_conn_request(c));
	llm_conn_out(c, "abcd", 4);
	assert_int_equal(llm_conn_state(c), LLM_REQ_IDLE);
	llm_conn_in(c, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", 41);
	assert_null(strstr(logb.s, "X ")); /* not metered: not reported */
	/* a metered one after it on the same connection */
	llm_conn_out(c, "POST /v1/x HTTP/1.1\r\nHost: h\r\n\r\n", 32);
	assert_int_equal(llm_conn_state(c), LLM_REQ_READY);
	llm_conn_free(c);
	assert_non_null(strstr(logb.s, "X 0 streamed=0 cut=1 "));
}

static void
test_cut_by_close(void **state)
{
	struct str out = { 0 }, in = { 0 };

	/* an SSE stream cut mid-way: its last whole event counts */
	req(&out, "POST", "/v1/chat/completions", "", "{}");
	req(&out, "POST", "/v1/chat/completions", "", "{}");
	ADD(&in, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"
	    "30\r\ndata: {\"out\":1}\n\ndata: {\"out\":2}\ndata: {\"ou");
	/* an event with a line cut short is dropped: a number in it may be
	 * cut short too */
	check(&out, &in, 1,
	    CHAT_CLASSIFY "reqbody {}\n" CHAT_CLASSIFY "reqbody {}\n"
	    "ev[]{\"out\":1}\n"
	    "X 200 streamed=1 cut=1 bytes=43 model=/ in=0 out=1 done=0 err=0 | "
	    "api.example.com /v1/chat/completions tags= max=-1 stream=0 est=0\n"
	    "X 0 streamed=0 cut=1 bytes=0 model=/ in=0 out=0 done=0 err=0 | "
	    "api.example.com /v1/chat/completions tags= max=-1 stream=0 "
	    "est=0\n");
	/* whole lines of an event whose blank line never came count */
	in.len -= 10;
	check(&out, &in, 1,
	    CHAT_CLASSIFY "reqbody {}\n" CHAT_CLASSIFY "reqbody {}\n"
	    "ev[]{\"out\":1}\n"
	    "ev[]{\"out\":2}\n"
	    "X 200 streamed=1 cut=1 bytes=33 model=/ in=0 out=2 done=0 err=0 | "
	    "api.example.com /v1/chat/completions tags= max=-1 stream=0 est=0\n"
	    "X 0 streamed=0 cut=1 bytes=0 model=/ in=0 out=0 done=0 err=0 | "
	    "api.example.com /v1/chat/completions tags= max=-1 stream=0 "
	    "est=0\n");
	str_free(&out);
	str_free(&in);
}

static void
test_until_close(void **state)
{
	struct str out = { 0 }, in = { 0 };

	/* no length: the close is its proper end */
	req(&out, "POST", "/v1/chat/completions", "", "{}");
	ADD(&in, "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n"
	    "{\"usage\":{\"in\":1,\"out\":2}}");
	check(&out, &in, 1,
	    CHAT_CLASSIFY "reqbody {}\n"
	    "body {\"usage\":{\"in\":1,\"out\":2}}\n"
	    "X 200 streamed=0 cut=0 bytes=26 model=/ in=1 out=2 done=1 err=0 | "
	    "api.example.com /v1/chat/completions tags= max=-1 stream=0 "
	    "est=0\n");
	/* a Content-Length body cut short is cut */
	in.len = 0;
	ADD(&in, "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n{\"in\":");
	check(&out, &in, 1,
	    CHAT_CLASSIFY "reqbody {}\n"
	    "body {\"in\":\n"
	    "X 200 streamed=0 cut=1 bytes=6 model=/ in=0 out=0 done=1 err=0 | "
	    "api.example.com /v1/chat/completions tags= max=-1 stream=0 "
	    "est=0\n");
	str_free(&out);
	str_free(&in);
}

static void
test_absolute_form(void **state)
{
	struct str out = { 0 }, in = { 0 };

	ADD(&out, "POST http://LocalHost:8080/v1/chat/completions?a=1 "
	    "HTTP/1.1\r\nHost: other.example\r\nContent-Length: 0\r\n\r\n");
	ADD(&out, "POST /v1/chat/completions HTTP/1.1\r\n"
	    "Host: [::1]:8000\r\nContent-Length: 0\r\n\r\n");
	check(&out, &in, 1,
	    "classify POST /v1/chat/completions?a=1 localhost\n"
	    "classify POST /v1/chat/completions ::1\n"
	    "X 0 streamed=0 cut=1 bytes=0 model=/ in=0 out=0 done=0 err=0 | "
	    "localhost /v1/chat/completions tags= max=-1 stream=0 est=0\n"
	    "X 0 streamed=0 cut=1 bytes=0 model=/ in=0 out=0 done=0 err=0 | "
	    "::1 /v1/chat/completions tags= max=-1 stream=0 est=0\n");
	str_free(&out);
}

static void
test_request_chunked_gzip(void **state)
{
	struct str out = { 0 }, in = { 0 }, gz = { 0 };
	const char *body = "{\"model\":\"z\",\"max_tokens\":64}";

	pack_zlib(&gz, body, strlen(body), 31);
	ADD(&out, "POST /v1/chat/completions HTTP/1.1\r\nHost: h\r\n"
	    "Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n");
	chunked(&out, gz.s, gz.len, 5);
	check(&out, &in, 1,
	    "classify POST /v1/chat/completions h\n"
	    "reqbody {\"model\":\"z\",\"max_tokens\":64}\n"
	    "X 0 streamed=0 cut=1 bytes=0 model=z/ in=0 out=0 done=0 err=0 | "
	    "h /v1/chat/completions tags= max=64 stream=0 est=0\n");
	str_free(&out);
	str_free(&gz);
}

static void
test_big_request(void **state)
{
	size_t fill = LLM_CONN_MAX_BUF + 500000, i;
	struct str body = { 0 }, out = { 0 }, in = { 0 };
	struct llm_conn *c;
	char hdr[256], want[1024];
	int n;

	ADD(&body, "{\"messages\":[{\"content\":\"");
	for (i = 0; i < fill; i += 10)
		ADD(&body, "xxxxxxxxxx");
	ADD(&body, "\"}],\"model\":\"big\",\"max_tokens\":5,"
	    "\"stream\":true}");
	n = snprintf(hdr, sizeof(hdr), "POST /v1/chat/completions HTTP/1.1\r\n"
	    "Host: h\r\nContent-Length: %zu\r\n\r\n", body.len);
	/* admission does not wait past the bound: READY with an estimate */
	logb.len = 0;
	c = llm_conn_new(on_done, NULL);
	llm_conn_out(c, hdr, n);
	llm_conn_out(c, body.s, LLM_CONN_MAX_BUF - 2);
	assert_int_equal(llm_conn_state(c), LLM_REQ_BODY);
	llm_conn_out(c, body.s + LLM_CONN_MAX_BUF - 2, 2);
	assert_int_equal(llm_conn_state(c), LLM_REQ_READY);
	assert_int_equal(llm_conn_request(c)->est_input_tokens,
	    (body.len + 3) / 4);
	assert_string_equal(llm_conn_request(c)->model, "");
	llm_conn_out(c, body.s + LLM_CONN_MAX_BUF, body.len - LLM_CONN_MAX_BUF);
	/* its end, salvaged, names the model for the record */
	assert_string_equal(llm_conn_request(c)->model, "big");
	llm_conn_free(c);
	/* the same in splits */
	str_add(&out, hdr, n);
	str_add(&out, body.s, body.len);
	snprintf(want, sizeof(want), "classify POST /v1/chat/completions h\n"
	    "reqbody {\"model\":\"big\",\"max_tokens\":5,\"stream\":true}\n"
	    "X 0 streamed=0 cut=1 bytes=0 model=big/ in=0 out=0 done=0 err=0 | "
	    "h /v1/chat/completions tags= max=5 stream=1 est=%zu\n",
	    (body.len + 3) / 4);
	check(&out, &in, 1, want);
	str_free(&body);
	str_free(&out);
}

static void
test_big_response(void **state)
{
	size_t fill = 2 * LLM_CONN_MAX_BUF, i;
	struct str body = { 0 }, out = { 0 }, in = { 0 };
	char want[1024];

	req(&out, "POST", "/v1/embeddings", "", "{}");
	ADD(&body, "{\"data\":[");
	for (i = 0; i < fill; i += 10)
		ADD(&body, "0.1234567,");
	ADD(&body, "0],\"model\":\"e\",\"usage\":{\"in\":3}}");
	resp(&in, "200 OK", "", body.s, body.len);
	snprintf(want, sizeof(want),
	    "classify POST /v1/embeddings api.example.com\n"
	    "reqbody {}\n"
	    "body {\"model\":\"e\",\"usage\":{\"in\":3}}\n"
	    "X 200 streamed=0 cut=0 bytes=%zu model=/e in=3 out=0 done=1 "
	    "err=0 | api.example.com /v1/embeddings tags= max=-1 stream=0 "
	    "est=0\n", body.len);
	check(&out, &in, 0, want);
	str_free(&body);
	str_free(&out);
	str_free(&in);
}

static void
test_overlong_event(void **state)
{
	size_t n = LLM_CONN_MAX_BUF + 100, i;
	struct str sse = { 0 }, out = { 0 }, in = { 0 };
	char want[1024];

	req(&out, "POST", "/v1/chat/completions", "", "{}");
	ADD(&sse, "data: {\"usage\":{\"x\":\"");
	for (i = 0; i < n; i += 10)
		ADD(&sse, "yyyyyyyyyy");
	ADD(&sse, "\"}}\n\ndata: [DONE]\n\n");
	resp_chunked(&in, "Content-Type: text/event-stream\r\n", sse.s, sse.len,
	    4096);
	snprintf(want, sizeof(want), CHAT_CLASSIFY "reqbody {}\n"
	    "ev[][DONE]\n"
	    "X 200 streamed=1 cut=1 bytes=%zu model=/ in=0 out=0 done=1 err=0 "
	    "| api.example.com /v1/chat/completions tags= max=-1 stream=0 "
	    "est=0\n", sse.len);
	check(&out, &in, 0, want);
	str_free(&sse);
	str_free(&out);
	str_free(&in);
}

/* ---- not HTTP, or not any more ---- */

static void
test_garbage(void **state)
{
	struct str out = { 0 }, in = { 0 };
	struct llm_conn *c;
	unsigned seed;
	size_t i;
	char junk[4096];

	/* TLS, HTTP/2's preface, lower-case junk: pass-through, silent */
	ADD(&out, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03");
	check(&out, &in, 1, "");
	out.len = 0;
	ADD(&out, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
	check(&out, &in, 1, "");
	out.len = 0;
	ADD(&out, "get / http/1.1\r\n\r\n");
	check(&out, &in, 1, "");
	/* random bytes both ways: no crash, nothing reported */
	for (seed = 0; seed < 200; seed++) {
		srandom(seed);
		for (i = 0; i < sizeof(junk); i++)
			junk[i] = (char)random();
		logb.len = 0;
		c = llm_conn_new(on_done, NULL);
		llm_conn_out(c, junk, 1 + random() % sizeof(junk));
		llm_conn_in(c, junk + 7, random() % (sizeof(junk) - 7));
		assert_int_equal(llm_conn_state(c), LLM_REQ_PASS);
		llm_conn_free(c);
		assert_int_equal(logb.len, 0);
	}
}

static void
test_broken_midway(void **state)
{
	struct str out = { 0 }, in = { 0 };

	req(&out, "POST", "/v1/chat/completions", "", "{}");
	/* a response nobody asked for after the first: pass-through */
	resp(&in, "200 OK", "", "{}", 2);
	resp(&in, "200 OK", "", "{}", 2);
	check(&out, &in, 1, CHAT_CLASSIFY "reqbody {}\nbody {}\n"
	    "X 200 streamed=0 cut=0 bytes=2 model=/ in=0 out=0 done=1 err=0 | "
	    "api.example.com /v1/chat/completions tags= max=-1 stream=0 "
	    "est=0\n");
	/* a bad chunk size: the exchange ends cut */
	in.len = 0;
	ADD(&in, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "2\r\n{}\r\nzz\r\n");
	check(&out, &in, 1, CHAT_CLASSIFY "reqbody {}\nbody {}\n"
	    "X 200 streamed=0 cut=1 bytes=2 model=/ in=0 out=0 done=1 err=0 | "
	    "api.example.com /v1/chat/completions tags= max=-1 stream=0 "
	    "est=0\n");
	/* switching protocols */
	in.len = 0;
	ADD(&in, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n"
	    "\x81\x05hello");
	check(&out, &in, 1, CHAT_CLASSIFY "reqbody {}\n"
	    "X 0 streamed=0 cut=1 bytes=0 model=/ in=0 out=0 done=0 err=0 | "
	    "api.example.com /v1/chat/completions tags= max=-1 stream=0 "
	    "est=0\n");
	/* two Content-Lengths that differ: a request smuggler's trick */
	out.len = in.len = 0;
	ADD(&out, "POST /v1/chat/completions HTTP/1.1\r\nHost: h\r\n"
	    "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}");
	check(&out, &in, 1, "");
	str_free(&out);
	str_free(&in);
}

static void
test_connection_close(void **state)
{
	struct str out = { 0 }, in = { 0 };
	struct llm_conn *c;

	req(&out, "POST", "/v1/chat/completions", "", "{}");
	resp(&in, "200 OK", "Connection: keep-alive, Close\r\n", "{}", 2);
	ADD(&in, "trailing junk the server wrote");
	check(&out, &in, 1, CHAT_CLASSIFY "reqbody {}\nbody {}\n"
	    "X 200 streamed=0 cut=0 bytes=2 model=/ in=0 out=0 done=1 err=0 | "
	    "api.example.com /v1/chat/completions tags= max=-1 stream=0 "
	    "est=0\n");
	/* junk after a closing response is ignored, not bad HTTP */
	c = llm_conn_new(on_done, NULL);
	llm_conn_out(c, out.s, out.len);
	llm_conn_in(c, in.s, in.len);
	assert_int_equal(llm_conn_state(c), LLM_REQ_READY);
	/* close makes the connection new again */
	llm_conn_close(c);
	assert_int_equal(llm_conn_state(c), LLM_REQ_IDLE);
	logb.len = 0;
	llm_conn_out(c, out.s, out.len);
	llm_conn_in(c, in.s, in.len);
	assert_non_null(strstr(logb.s, "X 200 streamed=0 cut=0 "));
	llm_conn_free(c);
	str_free(&out);
	str_free(&in);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_body),
		cmocka_unit_test(test_sse_chunked),
		cmocka_unit_test(test_encodings),
		cmocka_unit_test(test_encoding_bad),
		cmocka_unit_test(test_encoding_bad_crc),
		cmocka_unit_test(test_ndjson),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_pipe_too_deep),
		cmocka_unit_test(test_continue),
		cmocka_unit_test(test_states_unmetered),
		cmocka_unit_test(test_cut_by_close),
		cmocka_unit_test(test_until_close),
		cmocka_unit_test(test_absolute_form),
		cmocka_unit_test(test_request_chunked_gzip),
		cmocka_unit_test(test_big_request),
		cmocka_unit_test(test_big_response),
		cmocka_unit_test(test_overlong_event),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_broken_midway),
		cmocka_unit_test(test_connection_close),
	};
	int r;

	r = cmocka_run_group_tests(tests, NULL, NULL);
	free(logb.s);
	return r;
}
