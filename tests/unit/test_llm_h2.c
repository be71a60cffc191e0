/* test_llm_h2.c — HTTP/2 through the LLM parser (lib/llm_h2.c behind
 * llm_conn, with the real provider layer): each conversation is built
 * with nghttp2's HPACK deflaters (one per side, as the real peers keep
 * them) and hand-made frame headers, the bodies taken from
 * tests/fixtures/llm. A conversation is a list of pieces, each written
 * or read, in the order they happened; it is fed whole, a byte at a
 * time and in seeded random splits, and all must write the same log of
 * exchanges, which must equal the one written next to it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <nghttp2/nghttp2.h>
#include <zlib.h>

#include "llm_fixture.h"
#include "llm_h2.h"

enum {
	T_DATA, T_HEADERS, T_PRIORITY, T_RST_STREAM, T_SETTINGS,
	T_PUSH_PROMISE, T_PING, T_GOAWAY, T_WINDOW_UPDATE, T_CONTINUATION,
};
#define END_STREAM      0x01
#define ACK             0x01
#define END_HEADERS     0x04
#define PADDED          0x08
#define PRIORITY        0x20
#define FRAME_MAX       16384   /* SETTINGS_MAX_FRAME_SIZE's default */

#define OUT 1
#define IN 0

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
	if (n > 0)
		memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
}

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

/* ---- a conversation ---- */

#define PIECES_MAX 2048

struct piece {
	int out;
	size_t off, len;
};

struct conv {
	struct str dir[2];              /* [IN], [OUT] */
	struct piece p[PIECES_MAX];     /* in the order they happened */
	int n;
	nghttp2_hd_deflater *cli, *srv; /* each side's HPACK encoder */
};

/* The next bytes one side sent. */
static void
say(struct conv *cv, int out, const void *p, size_t n)
{
	struct piece *last = cv->n > 0 ? &cv->p[cv->n - 1] : NULL;

	if (last == NULL || last->out != out) {
		assert_true(cv->n < PIECES_MAX);
		last = &cv->p[cv->n++];
		last->out = out;
		last->off = cv->dir[out].len;
		last->len = 0;
	}
	str_add(&cv->dir[out], p, n);
	last->len += n;
}

static void
frame(struct conv *cv, int out, int type, int flags, uint32_t id,
    const void *payload, size_t n)
{
	unsigned char h[9] = {
		n >> 16, n >> 8, n, type, flags, id >> 24, id >> 16, id >> 8, id
	};

	say(cv, out, h, sizeof(h));
	say(cv, out, payload, n);
}

/* SETTINGS with pairs id, value, ..., ending in 0. */
static void
settings(struct conv *cv, int out, ...)
{
	unsigned char p[64];
	size_t n = 0;
	unsigned id, v;
	va_list ap;

	va_start(ap, out);
	while ((id = va_arg(ap, unsigned)) != 0) {
		v = va_arg(ap, unsigned);
		unsigned char e[6] = { id >> 8, id, v >> 24, v >> 16, v >> 8,
		    v };
		memcpy(p + n, e, 6);
		n += 6;
	}
	va_end(ap);
	frame(cv, out, T_SETTINGS, 0, 0, p, n);
}

static void
settings_ack(struct conv *cv, int out)
{
	frame(cv, out, T_SETTINGS, ACK, 0, NULL, 0);
}

/* The preface and both sides' first SETTINGS, as curl and a server send
 * them (none touches the header table). */
static void
conv_start(struct conv *cv)
{
	static const unsigned char wu[4] = { 0x3f, 0xff, 0x00, 0x01 };

	memset(cv, 0, sizeof(*cv));
	assert_int_equal(nghttp2_hd_deflate_new(&cv->cli, 4096), 0);
	assert_int_equal(nghttp2_hd_deflate_new(&cv->srv, 4096), 0);
	say(cv, OUT, llm_h2_preface, LLM_H2_PREFACE_LEN);
	settings(cv, OUT, 3, 100, 4, 10485760, 2, 0, 0);
	frame(cv, OUT, T_WINDOW_UPDATE, 0, 0, wu, 4);
	settings(cv, IN, 3, 250, 5, 16384, 0);
	settings_ack(cv, IN);
	settings_ack(cv, OUT);
}

static void
conv_free(struct conv *cv)
{
	free(cv->dir[0].s);
	free(cv->dir[1].s);
	nghttp2_hd_deflate_del(cv->cli);
	nghttp2_hd_deflate_del(cv->srv);
}

/* A header block of kv (name, value, ..., NULL) by that side's encoder,
 * into buf; its length. */
static size_t
hpack(struct conv *cv, int out, const char *const *kv, uint8_t *buf,
    size_t size)
{
	nghttp2_nv nv[32];
	size_t n;
	ssize_t r;

	for (n = 0; kv[2 * n] != NULL; n++) {
		assert_true(n < 32);
		nv[n].name = (uint8_t *)kv[2 * n];
		nv[n].value = (uint8_t *)kv[2 * n + 1];
		nv[n].namelen = strlen(kv[2 * n]);
		nv[n].valuelen = strlen(kv[2 * n + 1]);
		nv[n].flags = NGHTTP2_NV_FLAG_NONE;
	}
	r = nghttp2_hd_deflate_hd(out ? cv->cli : cv->srv, buf, size, nv, n);
	assert_true(r >= 0);
	return (size_t)r;
}

/* HEADERS, plus CONTINUATIONs past FRAME_MAX; the block's length. */
static size_t
headers(struct conv *cv, int out, uint32_t id, int flags,
    const char *const *kv)
{
	static uint8_t buf[256 * 1024];
	size_t n = hpack(cv, out, kv, buf, sizeof(buf)), off = 0, k;
	int type = T_HEADERS;

	do {
		k = n - off < FRAME_MAX ? n - off : FRAME_MAX;
		frame(cv, out, type, (off + k == n ? END_HEADERS : 0) |
		    (type == T_HEADERS ? flags : 0), id, buf + off, k);
		type = T_CONTINUATION;
		off += k;
	} while (off < n);
	return n;
}

/* DATA frames of at most `size` bytes, the last with END_STREAM (unless
 * open). */
static void
data(struct conv *cv, int out, uint32_t id, const char *p, size_t n,
    size_t size, int open)
{
	size_t off = 0, k;

	do {
		k = n - off < size ? n - off : size;
		frame(cv, out, T_DATA, off + k == n && !open ? END_STREAM : 0,
		    id, p + off, k);
		off += k;
	} while (off < n);
}

static void
post(struct conv *cv, uint32_t id, const char *authority, const char *path,
    const char *body)
{
	const char *kv[] = {
		":method", "POST", ":scheme", "https", ":authority", authority,
		":path", path, "user-agent", "test/1", "content-type",
		"application/json", "accept", "*/*", NULL
	};

	headers(cv, OUT, id, 0, kv);
	data(cv, OUT, id, body, strlen(body), FRAME_MAX, 0);
}

static void
resp_headers(struct conv *cv, uint32_t id, const char *status,
    const char *ctype, const char *coding, int flags)
{
	const char *kv[] = {
		":status", status, "content-type", ctype, "date",
		"Thu, 27 Nov 2025 10:00:00 GMT", coding ? "content-encoding" :
		NULL, coding, NULL
	};

	headers(cv, IN, id, flags, kv);
}

/* A whole response: headers, then the body in DATA frames of `size`. */
static void
respond(struct conv *cv, uint32_t id, const char *ctype, const char *body,
    size_t n, size_t size)
{
	resp_headers(cv, id, "200", ctype, NULL, 0);
	data(cv, IN, id, body, n, size, 0);
}

static char *
fixture(const char *name, size_t *n)
{
	char *s = fixture_read(name, n);

	assert_non_null(s);
	return s;
}

/* ---- the log ---- */

static struct str logb;

static const char *const provider_names[] = {
	"unknown", "openai", "azure", "anthropic", "gemini", "ollama", "compat",
};

static void
on_done(void *arg, const struct llm_exchange *x)
{
	const struct llm_req *r = &x->req;
	const struct llm_usage *u = &x->usage;

	str_fmt(&logb, "%d streamed=%d cut=%d bytes=%llu | %s %s %s "
	    "model=%s stream=%d iu=%d max=%lld est=%llu tags=%s | in=%llu "
	    "out=%llu cached=%llu cw=%llu re=%llu have=%u %s err=%d "
	    "done=%d\n", x->status, x->streamed, x->cut,
	    (unsigned long long)x->resp_body_bytes,
	    provider_names[r->provider], r->host, r->endpoint, r->model,
	    r->stream, r->include_usage, (long long)r->max_tokens,
	    (unsigned long long)r->est_input_tokens, r->tags,
	    (unsigned long long)u->input, (unsigned long long)u->output,
	    (unsigned long long)u->cached, (unsigned long long)u->cache_write,
	    (unsigned long long)u->reasoning, u->have, u->model, u->error,
	    u->done);
}

/* ---- running a conversation ---- */

enum split { WHOLE, BYTES, RANDOM };

static void
feed(struct llm_conn *c, const struct piece *pc, const char *p,
    enum split how)
{
	size_t off = 0, k, n = pc->len;

	while (off < n) {
		k = how == WHOLE ? n : how == BYTES ? 1 :
		    (random() % 4 == 0 ? 1 + (size_t)random() % 4000 :
		    1 + (size_t)random() % 30);
		if (k > n - off)
			k = n - off;
		if (pc->out)
			llm_conn_out(c, p + off, k);
		else
			llm_conn_in(c, p + off, k);
		off += k;
	}
}

/* Every piece in order, then the connection closes; the log, to free. */
static char *
run(const struct conv *cv, enum split how, unsigned seed)
{
	struct llm_conn *c;
	int i;

	logb.len = 0;
	str_add(&logb, "", 0);
	srandom(seed);
	assert_non_null(c = llm_conn_new(on_done, NULL));
	for (i = 0; i < cv->n; i++)
		feed(c, &cv->p[i], cv->dir[cv->p[i].out].s + cv->p[i].off,
		    how);
	assert_int_equal(llm_conn_state(c), LLM_REQ_PASS);
	assert_null(llm_conn_request(c));
	llm_conn_close(c);
	llm_conn_free(c);
	return strdup(logb.s);
}

static void
same(const char *got, const char *want, const char *how)
{
	size_t i;

	for (i = 0; got[i] == want[i] && got[i] != '\0'; i++)
		;
	if (got[i] != want[i])
		print_error("%s: logs part at byte %zu:\n got: %.120s\nwant: "
		    "%.120s\n", how, i, got + (i > 40 ? i - 40 : 0),
		    want + (i > 40 ? i - 40 : 0));
	assert_string_equal(got, want);
}

static void
expect(const struct conv *cv, const char *want)
{
	char *got, how[32];
	unsigned seed;

	got = run(cv, WHOLE, 0);
	same(got, want, "whole");
	free(got);
	got = run(cv, BYTES, 0);
	same(got, want, "a byte at a time");
	free(got);
	for (seed = 1; seed <= 8; seed++) {
		got = run(cv, RANDOM, seed);
		snprintf(how, sizeof(how), "random split %u", seed);
		same(got, want, how);
		free(got);
	}
}

/* ---- requests and their expected lines ---- */

#define OAI "api.openai.com"
#define CHAT "/v1/chat/completions"
/* "user" + the prompt: 31 text bytes, est 8 */
#define CHAT_BODY "{\"model\":\"o4-mini\",\"messages\":[{\"role\":\"user\"," \
	"\"content\":\"Explain HTTP/2 in one line.\"}]," \
	"\"max_completion_tokens\":1000}"
#define CHAT_X(cut, bytes) "200 streamed=0 cut=" #cut " bytes=" #bytes \
	" | openai api.openai.com /v1/chat/completions model=o4-mini " \
	"stream=0 iu=0 max=1000 est=8 tags= | in=2143 out=517 " \
	"cached=1920 cw=0 re=448 have=23 o4-mini-2025-04-16 err=0 done=1\n"
/* 4 + 6 text bytes: est 3 */
#define SSE_BODY "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":" \
	"\"user\",\"content\":\"Say hi\"}],\"stream\":true," \
	"\"stream_options\":{\"include_usage\":true}}"
#define SSE_X "200 streamed=1 cut=0 bytes=2054 | openai api.openai.com " \
	"/v1/chat/completions model=gpt-4o-mini stream=1 iu=1 max=-1 " \
	"est=3 tags= | in=57 out=9 cached=0 cw=0 re=0 have=23 " \
	"gpt-4o-mini-2024-07-18 err=0 done=1\n"
#define ANT "api.anthropic.com"
/* 4 + 13 text bytes: est 5 */
#define ANT_BODY "{\"model\":\"claude-opus-4-1\",\"max_tokens\":1024," \
	"\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":" \
	"\"Hello, Claude\"}]}"
#define ANT_REQ "| anthropic api.anthropic.com /v1/messages " \
	"model=claude-opus-4-1 stream=1 iu=0 max=1024 est=5 tags= | "
/* 472 + 0 + 3072 in; output 164, the last message_delta's */
#define ANT_X "200 streamed=1 cut=0 bytes=1170 " ANT_REQ "in=3544 out=164 " \
	"cached=3072 cw=0 re=0 have=15 claude-opus-4-1-20250805 err=0 " \
	"done=1\n"

/* ---- providers ---- */

static void
test_openai_json(void **state)
{
	struct conv cv;
	size_t n;
	char *body = fixture("openai/chat.json", &n);

	conv_start(&cv);
	post(&cv, 1, "api.openai.com:443", CHAT, CHAT_BODY);
	/* an interim response first: the final one is what counts */
	headers(&cv, IN, 1, 0, (const char *const []){ ":status", "100",
	    NULL });
	respond(&cv, 1, "application/json", body, n, 100);
	expect(&cv, CHAT_X(0, 868));
	conv_free(&cv);
	free(body);
}

static void
test_openai_sse(void **state)
{
	struct conv cv;
	size_t n;
	char *body = fixture("openai/chat_stream.sse", &n);

	conv_start(&cv);
	post(&cv, 1, OAI, CHAT, SSE_BODY);
	respond(&cv, 1, "text/event-stream; charset=utf-8", body, n, 77);
	expect(&cv, SSE_X);
	conv_free(&cv);
	free(body);
}

static void
test_anthropic_sse(void **state)
{
	struct conv cv;
	size_t n;
	char *body = fixture("anthropic/message_stream.sse", &n);

	conv_start(&cv);
	post(&cv, 1, ANT, "/v1/messages", ANT_BODY);
	respond(&cv, 1, "text/event-stream", body, n, 64);
	expect(&cv, ANT_X);
	conv_free(&cv);
	free(body);
}

static void
test_gemini_sse(void **state)
{
	struct conv cv;
	size_t n;
	char *body = fixture("gemini/stream.sse", &n);

	conv_start(&cv);
	/* "user" + 20: est 6; the model and stream come from the path */
	post(&cv, 1, "generativelanguage.googleapis.com",
	    "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
	    "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":"
	    "\"Why is the sky blue?\"}]}]}");
	respond(&cv, 1, "text/event-stream", body, n, 300);
	expect(&cv, "200 streamed=1 cut=0 bytes=1126 | gemini "
	    "generativelanguage.googleapis.com /v1beta/models/"
	    "gemini-2.5-flash:streamGenerateContent model=gemini-2.5-flash "
	    "stream=1 iu=0 max=-1 est=6 tags= | in=641 out=451 cached=0 "
	    "cw=0 re=380 have=19 gemini-2.5-flash err=0 done=1\n");
	conv_free(&cv);
	free(body);
}

static void
test_gzip(void **state)
{
	static unsigned char gz[4096];
	struct conv cv;
	z_stream z;
	size_t n;
	char *body = fixture("openai/chat.json", &n);

	memset(&z, 0, sizeof(z));
	assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 31, 8,
	    Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = (unsigned char *)body;
	z.avail_in = n;
	z.next_out = gz;
	z.avail_out = sizeof(gz);
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	deflateEnd(&z);
	conv_start(&cv);
	post(&cv, 1, OAI, CHAT, CHAT_BODY);
	resp_headers(&cv, 1, "200", "application/json", "gzip", 0);
	data(&cv, IN, 1, (char *)gz, z.total_out, 50, 0);
	/* bytes: the decoded body's */
	expect(&cv, CHAT_X(0, 868));
	conv_free(&cv);
	free(body);
}

/* ---- streams ---- */

/* Two streams at once, their frames interleaved both ways: each gets
 * its own exchange, in the order their responses end. */
static void
test_interleaved(void **state)
{
	struct conv cv;
	size_t na, no, a = 0, o = 0, k;
	char *ant = fixture("anthropic/message_stream.sse", &na);
	char *oai = fixture("openai/chat.json", &no);
	const char *kv3[] = {
		":method", "POST", ":scheme", "https", ":authority", OAI,
		":path", CHAT, "content-type", "application/json", NULL
	};

	conv_start(&cv);
	headers(&cv, OUT, 1, 0, (const char *const []){ ":method", "POST",
	    ":scheme", "https", ":authority", ANT, ":path", "/v1/messages",
	    "content-type", "application/json", NULL });
	headers(&cv, OUT, 3, 0, kv3);
	data(&cv, OUT, 1, ANT_BODY, 40, FRAME_MAX, 1);
	data(&cv, OUT, 3, CHAT_BODY, 50, FRAME_MAX, 1);
	resp_headers(&cv, 3, "200", "application/json", NULL, 0);
	data(&cv, OUT, 1, &ANT_BODY[40], strlen(ANT_BODY) - 40, 16, 0);
	resp_headers(&cv, 1, "200", "text/event-stream", NULL, 0);
	data(&cv, OUT, 3, &CHAT_BODY[50], strlen(CHAT_BODY) - 50, 16, 0);
	while (a < na || o < no) {
		if (a < na) {
			k = na - a < 80 ? na - a : 80;
			data(&cv, IN, 1, ant + a, k, k, a + k < na);
			a += k;
		}
		if (o < no) {
			k = no - o < 70 ? no - o : 70;
			data(&cv, IN, 3, oai + o, k, k, o + k < no);
			o += k;
		}
	}
	/* 13 frames of OpenAI's end before 15 of Anthropic's */
	expect(&cv, "200 streamed=0 cut=0 bytes=868 | openai api.openai.com "
	    "/v1/chat/completions model=o4-mini stream=0 iu=0 max=1000 est=8 "
	    "tags= | in=2143 out=517 cached=1920 cw=0 re=448 have=23 "
	    "o4-mini-2025-04-16 err=0 done=1\n" ANT_X);
	conv_free(&cv);
	free(ant);
	free(oai);
}

/* A request's block split over HEADERS (padded, with priority) and two
 * CONTINUATIONs; a PUSH_PROMISE (padded) whose block fills the server's
 * table; padded DATA both ways. */
static void
test_continuation_padding(void **state)
{
	static const char *const req[] = {
		":method", "POST", ":scheme", "https", ":authority", OAI,
		":path", CHAT, "content-type", "application/json",
		"x-tollgate-tags", "team=search,purpose=eval", NULL
	};
	static const char *const push[] = {
		":method", "GET", ":scheme", "https", ":authority", OAI,
		":path", "/pushed", "content-type", "application/json", NULL
	};
	static const char *const rsp[] = {
		":status", "200", "content-type", "application/json", NULL
	};
	uint8_t blk[512], p[1024];
	struct conv cv;
	size_t n, k, body_n, i;
	char *body = fixture("openai/chat.json", &body_n);

	conv_start(&cv);
	n = hpack(&cv, OUT, req, blk, sizeof(blk));
	assert_true(n > 20);
	/* pad length 7, then stream dependency and weight, then 10 bytes */
	p[0] = 7;
	memcpy(p + 1, "\x80\x00\x00\x00\x10", 5);
	memcpy(p + 6, blk, 10);
	memset(p + 16, 0, 7);
	frame(&cv, OUT, T_HEADERS, PADDED | PRIORITY, 1, p, 23);
	frame(&cv, OUT, T_CONTINUATION, 0, 1, blk + 10, 5);
	frame(&cv, OUT, T_CONTINUATION, END_HEADERS, 1, blk + 15, n - 15);
	/* the body in padded DATA frames of 40, padding 0..4 */
	for (i = 0, k = 0; i < strlen(CHAT_BODY); i += k) {
		k = strlen(CHAT_BODY) - i < 40 ? strlen(CHAT_BODY) - i : 40;
		p[0] = i % 5;
		memcpy(p + 1, &CHAT_BODY[i], k);
		memset(p + 1 + k, 0, p[0]);
		frame(&cv, OUT, T_DATA, PADDED | (i + k ==
		    strlen(CHAT_BODY) ? END_STREAM : 0), 1, p, 1 + k + p[0]);
	}
	/* PUSH_PROMISE: pad 3, promised stream 2 */
	n = hpack(&cv, IN, push, blk, sizeof(blk));
	p[0] = 3;
	memcpy(p + 1, "\x00\x00\x00\x02", 4);
	memcpy(p + 5, blk, n);
	memset(p + 5 + n, 0, 3);
	frame(&cv, IN, T_PUSH_PROMISE, PADDED | END_HEADERS, 1, p, n + 8);
	/* the response's block refers to entries the promise added */
	n = hpack(&cv, IN, rsp, blk, sizeof(blk));
	assert_true(n <= 3);
	p[0] = 200;
	memcpy(p + 1, blk, n);
	memset(p + 1 + n, 0, 200);
	frame(&cv, IN, T_HEADERS, PADDED | END_HEADERS, 1, p, 201 + n);
	for (i = 0; i < body_n; i += k) {
		k = body_n - i < 255 ? body_n - i : 255;
		p[0] = 255 - k;
		memcpy(p + 1, body + i, k);
		memset(p + 1 + k, 0, p[0]);
		frame(&cv, IN, T_DATA, PADDED | (i + k == body_n ?
		    END_STREAM : 0), 1, p, 256);
	}
	/* the pushed stream: not a request of the client's, unmetered */
	resp_headers(&cv, 2, "200", "application/json", NULL, 0);
	data(&cv, IN, 2, body, body_n, FRAME_MAX, 0);
	expect(&cv, "200 streamed=0 cut=0 bytes=868 | openai api.openai.com "
	    "/v1/chat/completions model=o4-mini stream=0 iu=0 max=1000 est=8 "
	    "tags=team=search,purpose=eval | in=2143 out=517 cached=1920 "
	    "cw=0 re=448 have=23 o4-mini-2025-04-16 err=0 done=1\n");
	conv_free(&cv);
	free(body);
}

/* The second request's headers are all references to the dynamic
 * table the first one filled. */
static void
test_dynamic_table(void **state)
{
	const char *kv[] = {
		":method", "POST", ":scheme", "https", ":authority",
		"api.openai.com", ":path", CHAT, "content-type",
		"application/json", "x-tollgate-tags", "team=a", NULL
	};
	struct conv cv;
	size_t n, first, second;
	char *body = fixture("openai/chat.json", &n);

	conv_start(&cv);
	first = headers(&cv, OUT, 1, 0, kv);
	data(&cv, OUT, 1, CHAT_BODY, strlen(CHAT_BODY), FRAME_MAX, 0);
	respond(&cv, 1, "application/json", body, n, FRAME_MAX);
	second = headers(&cv, OUT, 3, 0, kv);
	data(&cv, OUT, 3, CHAT_BODY, strlen(CHAT_BODY), FRAME_MAX, 0);
	respond(&cv, 3, "application/json", body, n, FRAME_MAX);
	/* one byte per field, indexed, but for :path, which nghttp2 never
	 * indexes: a literal with an indexed name, 15 bytes of Huffman */
	assert_true(first > 60);
	assert_int_equal(second, 21);
	expect(&cv, "200 streamed=0 cut=0 bytes=868 | openai api.openai.com "
	    "/v1/chat/completions model=o4-mini stream=0 iu=0 max=1000 est=8 "
	    "tags=team=a | in=2143 out=517 cached=1920 cw=0 re=448 have=23 "
	    "o4-mini-2025-04-16 err=0 done=1\n"
	    "200 streamed=0 cut=0 bytes=868 | openai api.openai.com "
	    "/v1/chat/completions model=o4-mini stream=0 iu=0 max=1000 est=8 "
	    "tags=team=a | in=2143 out=517 cached=1920 cw=0 re=448 have=23 "
	    "o4-mini-2025-04-16 err=0 done=1\n");
	conv_free(&cv);
	free(body);
}

#define CHAT_X2 "200 streamed=0 cut=0 bytes=868 | openai api.openai.com " \
	"/v1/chat/completions model=o4-mini stream=0 iu=0 max=1000 est=8 " \
	"tags= | in=2143 out=517 cached=1920 cw=0 re=448 have=23 " \
	"o4-mini-2025-04-16 err=0 done=1\n"

/* The server allows a bigger table: the client's encoder takes it after
 * its ACK and says so at its next block's start (a size update the
 * default bound refuses). */
static void
test_table_size_raised(void **state)
{
	struct conv cv;
	size_t n;
	char *body = fixture("openai/chat.json", &n);
	int acked;

	for (acked = 1; acked >= 0; acked--) {
		conv_start(&cv);
		nghttp2_hd_deflate_del(cv.cli);
		assert_int_equal(nghttp2_hd_deflate_new(&cv.cli, 8192), 0);
		settings(&cv, IN, 1, 8192, 0);
		if (acked)
			settings_ack(&cv, OUT);
		assert_int_equal(nghttp2_hd_deflate_change_table_size(cv.cli,
		    8192), 0);
		post(&cv, 1, OAI, CHAT, CHAT_BODY);
		respond(&cv, 1, "application/json", body, n, FRAME_MAX);
		/* unacknowledged, the update is out of bounds: dead */
		expect(&cv, acked ? CHAT_X2 : "");
		conv_free(&cv);
	}
	free(body);
}

/* The client asks for no table. A response the server encoded before it
 * saw that (before its ACK) still uses its table; after the ACK the
 * server's blocks start with a size update to 0. */
static void
test_table_size_lowered(void **state)
{
	static const char *const rsp[] = {
		":status", "200", "content-type", "application/json",
		"x-request-id", "req_0123456789abcdef", NULL
	};
	struct conv cv;
	size_t n;
	char *body = fixture("openai/chat.json", &n);

	conv_start(&cv);
	post(&cv, 1, OAI, CHAT, CHAT_BODY);
	post(&cv, 3, OAI, CHAT, CHAT_BODY);
	settings(&cv, OUT, 1, 0, 0);
	headers(&cv, IN, 1, 0, rsp);
	data(&cv, IN, 1, body, n, FRAME_MAX, 0);
	settings_ack(&cv, IN);
	assert_int_equal(nghttp2_hd_deflate_change_table_size(cv.srv, 0), 0);
	assert_int_equal(headers(&cv, IN, 3, 0, rsp) > 30, 1);
	data(&cv, IN, 3, body, n, FRAME_MAX, 0);
	expect(&cv, CHAT_X2 CHAT_X2);
	conv_free(&cv);
	free(body);
}

/* ---- ends ---- */

/* The server resets a stream midway; then the client resets one. */
static void
test_rst_stream(void **state)
{
	static const unsigned char code[4] = { 0, 0, 0, 8 }; /* CANCEL */
	struct conv cv;
	size_t n;
	char *body = fixture("anthropic/message_stream.sse", &n);
	/* just past message_start's event */
	const char *cut = strstr(body, "event: content_block_start");

	conv_start(&cv);
	post(&cv, 1, ANT, "/v1/messages", ANT_BODY);
	resp_headers(&cv, 1, "200", "text/event-stream", NULL, 0);
	data(&cv, IN, 1, body, cut - body, 100, 1);
	frame(&cv, IN, T_RST_STREAM, 0, 1, code, 4);
	post(&cv, 3, ANT, "/v1/messages", ANT_BODY);
	resp_headers(&cv, 3, "200", "text/event-stream", NULL, 0);
	data(&cv, IN, 3, body, 40, 100, 1);
	frame(&cv, OUT, T_RST_STREAM, 0, 3, code, 4);
	/* what message_start said stays; the second has nothing */
	expect(&cv, "200 streamed=1 cut=1 bytes=361 " ANT_REQ "in=3544 out=2 "
	    "cached=3072 cw=0 re=0 have=15 claude-opus-4-1-20250805 err=0 "
	    "done=0\n"
	    "200 streamed=1 cut=1 bytes=40 " ANT_REQ "in=0 out=0 cached=0 "
	    "cw=0 re=0 have=0  err=0 done=0\n");
	conv_free(&cv);
	free(body);
}

/* GOAWAY: streams above its last were not processed (cut, no status);
 * the connection's close cuts the rest. */
static void
test_goaway_close(void **state)
{
	static const unsigned char ga[8] = { 0, 0, 0, 1, 0, 0, 0, 0 };
	struct conv cv;
	size_t n;
	char *body = fixture("openai/chat_stream.sse", &n);

	conv_start(&cv);
	post(&cv, 1, OAI, CHAT, SSE_BODY);
	post(&cv, 3, OAI, CHAT, SSE_BODY);
	frame(&cv, IN, T_GOAWAY, 0, 0, ga, 8);
	resp_headers(&cv, 1, "200", "text/event-stream", NULL, 0);
	data(&cv, IN, 1, body, 500, 100, 1);
	expect(&cv, "0 streamed=0 cut=1 bytes=0 | openai api.openai.com "
	    "/v1/chat/completions model=gpt-4o-mini stream=1 iu=1 max=-1 "
	    "est=3 tags= | in=0 out=0 cached=0 cw=0 re=0 have=0  err=0 "
	    "done=0\n"
	    "200 streamed=1 cut=1 bytes=500 | openai api.openai.com "
	    "/v1/chat/completions model=gpt-4o-mini stream=1 iu=1 max=-1 "
	    "est=3 tags= | in=0 out=0 cached=0 cw=0 re=0 have=0 "
	    "gpt-4o-mini-2024-07-18 err=0 done=0\n");
	conv_free(&cv);
	free(body);
}

/* ---- what is not metered ---- */

/* GET /v1/models and a trailer-ended request to another path: no
 * exchange, but their blocks keep the tables in step for the next. */
static void
test_not_llm(void **state)
{
	static const char *const get[] = {
		":method", "GET", ":scheme", "https", ":authority", OAI,
		":path", "/v1/models", "authorization", "Bearer sk-x", NULL
	};
	static const char *const trailer[] = { "x-checksum", "abc", NULL };
	static const char models[] = "{\"object\":\"list\",\"data\":[]}";
	struct conv cv;
	size_t n;
	char *body = fixture("openai/chat.json", &n);

	conv_start(&cv);
	headers(&cv, OUT, 1, END_STREAM, get);
	resp_headers(&cv, 1, "200", "application/json", NULL, 0);
	data(&cv, IN, 1, models, sizeof(models) - 1, FRAME_MAX, 0);
	headers(&cv, OUT, 3, 0, (const char *const []){ ":method", "POST",
	    ":scheme", "https", ":authority", "example.com", ":path",
	    "/upload", NULL });
	data(&cv, OUT, 3, "abc", 3, FRAME_MAX, 1);
	headers(&cv, OUT, 3, END_STREAM, trailer);
	respond(&cv, 3, "application/json", "{}", 2, FRAME_MAX);
	post(&cv, 5, OAI, CHAT, CHAT_BODY);
	respond(&cv, 5, "application/json", body, n, FRAME_MAX);
	expect(&cv, CHAT_X2);
	conv_free(&cv);
	free(body);
}

/* A request's header block past LLM_HDRS_MAX: that stream is
 * unmetered, the next one is. */
static void
test_big_header_block(void **state)
{
	static char v[8][12001];
	const char *kv[] = {
		":method", "POST", ":scheme", "https", ":authority", OAI,
		":path", CHAT, "x-a", v[0], "x-b", v[1], "x-c", v[2], "x-d",
		v[3], "x-e", v[4], "x-f", v[5], "x-g", v[6], "x-h", v[7], NULL
	};
	struct conv cv;
	size_t n, i, j;
	char *body = fixture("openai/chat.json", &n);

	srandom(42);
	for (i = 0; i < 8; i++) {
		for (j = 0; j < 12000; j++)
			v[i][j] = 33 + random() % 94;
		v[i][j] = '\0';
	}
	conv_start(&cv);
	assert_true(headers(&cv, OUT, 1, 0, kv) > LLM_HDRS_MAX);
	data(&cv, OUT, 1, CHAT_BODY, strlen(CHAT_BODY), FRAME_MAX, 0);
	respond(&cv, 1, "application/json", body, n, FRAME_MAX);
	post(&cv, 3, OAI, CHAT, CHAT_BODY);
	respond(&cv, 3, "application/json", body, n, FRAME_MAX);
	expect(&cv, CHAT_X2);
	conv_free(&cv);
	free(body);
}

/* LLM_H2_STREAMS_MAX streams at once are metered; one more is not. */
static void
test_streams_max(void **state)
{
	static const char js[] = "{\"model\":\"m\",\"usage\":"
	    "{\"prompt_tokens\":3,\"completion_tokens\":4}}";
	static const char line[] = "200 streamed=0 cut=0 bytes=63 | openai "
	    "api.openai.com /v1/chat/completions model=m stream=0 iu=0 "
	    "max=-1 est=0 tags= | in=3 out=4 cached=0 cw=0 re=0 have=3 m "
	    "err=0 done=1\n";
	struct conv cv;
	char *got, *p;
	int id;
	size_t lines = 0;

	conv_start(&cv);
	for (id = 1; id <= 2 * LLM_H2_STREAMS_MAX + 1; id += 2)
		post(&cv, id, OAI, CHAT, "{\"model\":\"m\"}");
	for (id = 2 * LLM_H2_STREAMS_MAX + 1; id >= 1; id -= 2)
		respond(&cv, id, "application/json", js, sizeof(js) - 1,
		    FRAME_MAX);
	got = run(&cv, WHOLE, 0);
	for (p = got; *p != '\0'; p += sizeof(line) - 1, lines++)
		assert_memory_equal(p, line, sizeof(line) - 1);
	assert_int_equal(lines, LLM_H2_STREAMS_MAX);
	free(got);
	conv_free(&cv);
}

/* A frame that breaks RFC 9113 (or HPACK that does not inflate) after a
 * request kills the connection: the stream ends cut at once, and the
 * answer that follows counts for nothing. */
static void
bad_frame(struct conv *cv, int which)
{
	static const char *const rsp[] = {
		":status", "200", "content-type", "application/json", NULL
	};
	uint8_t blk[64];
	size_t n;

	switch (which) {
	case 0: /* a CONTINUATION with no block before it */
		frame(cv, IN, T_CONTINUATION, END_HEADERS, 1, "\x88", 1);
		break;
	case 1: /* padding longer than the payload */
		frame(cv, IN, T_DATA, PADDED, 1, "\x0a" "abcd", 5);
		break;
	case 2: /* a DATA inside a header block */
		n = hpack(cv, IN, rsp, blk, sizeof(blk));
		frame(cv, IN, T_HEADERS, 0, 1, blk, 1);
		frame(cv, IN, T_DATA, 0, 1, "{}", 2);
		frame(cv, IN, T_CONTINUATION, END_HEADERS, 1, blk + 1, n - 1);
		break;
	case 3: /* a reference to an empty dynamic table */
		frame(cv, IN, T_HEADERS, END_HEADERS, 1, "\xbe", 1);
		break;
	case 4: /* SETTINGS of 5 bytes */
		frame(cv, IN, T_SETTINGS, 0, 0, "\x00\x01\x00\x00\x00", 5);
		break;
	case 5: /* RST_STREAM of 5 bytes (of another stream) */
		frame(cv, IN, T_RST_STREAM, 0, 3, "\x00\x00\x00\x08\x00", 5);
		break;
	default: /* DATA on stream 0 */
		frame(cv, IN, T_DATA, 0, 0, "{}", 2);
		break;
	}
}

static void
test_bad_frames(void **state)
{
	struct conv cv;
	int which;

	for (which = 0; which < 7; which++) {
		conv_start(&cv);
		post(&cv, 1, OAI, CHAT, CHAT_BODY);
		bad_frame(&cv, which);
		respond(&cv, 1, "application/json", "{}", 2, FRAME_MAX);
		expect(&cv, "0 streamed=0 cut=1 bytes=0 | openai "
		    "api.openai.com /v1/chat/completions model=o4-mini "
		    "stream=0 iu=0 max=1000 est=8 tags= | in=0 out=0 cached=0 "
		    "cw=0 re=0 have=0  err=0 done=0\n");
		conv_free(&cv);
	}
}

/* Random bytes after the preface, both ways: nothing crashes. */
static void
test_garbage(void **state)
{
	struct conv cv;
	char buf[4096];
	unsigned seed;
	size_t i;

	for (seed = 0; seed < 200; seed++) {
		srandom(seed);
		conv_start(&cv);
		if (seed % 2)
			post(&cv, 1, OAI, CHAT, CHAT_BODY);
		for (i = 0; i < sizeof(buf); i++)
			buf[i] = (char)random();
		say(&cv, seed % 3 == 0 ? OUT : IN, buf, 1 + random() %
		    sizeof(buf));
		say(&cv, OUT, buf + 9, random() % (sizeof(buf) - 9));
		free(run(&cv, seed % 4 == 0 ? BYTES : RANDOM, seed));
		conv_free(&cv);
	}
}

/* ---- the connection around it ---- */

/* Frames without the preface (a connection joined midway) are never
 * taken for HTTP/2; a preface that turns into something else is read as
 * HTTP/1.x; after a close the same llm_conn reads HTTP/1.1 again. */
static void
test_preface(void **state)
{
	static const char h1[] = "POST /v1/chat/completions HTTP/1.1\r\n"
	    "Host: api.openai.com\r\nContent-Length: 2\r\n\r\n{}";
	static const char r1[] = "HTTP/1.1 200 OK\r\nContent-Type: "
	    "application/json\r\nContent-Length: 2\r\n\r\n{}";
	struct llm_conn *c;
	struct conv cv;
	size_t i;

	conv_start(&cv);
	post(&cv, 1, OAI, CHAT, CHAT_BODY);
	logb.len = 0;
	assert_non_null(c = llm_conn_new(on_done, NULL));
	/* everything but the preface */
	llm_conn_out(c, cv.dir[OUT].s + LLM_H2_PREFACE_LEN,
	    cv.dir[OUT].len - LLM_H2_PREFACE_LEN);
	assert_int_equal(llm_conn_state(c), LLM_REQ_PASS);
	llm_conn_close(c);
	/* "PRI * HTTP/2.0\r\n\r\nSM" then not the rest: not HTTP/2 */
	for (i = 0; i < 20; i++)
		llm_conn_out(c, llm_h2_preface + i, 1);
	llm_conn_out(c, "\r\r", 2);
	assert_int_equal(llm_conn_state(c), LLM_REQ_PASS);
	llm_conn_close(c);
	/* the preface a byte at a time, then HTTP/2: from its first byte no
	 * HTTP/1.1 request starts (the shim's admission holds none) */
	assert_int_equal(llm_conn_at_request_start(c), 1);
	for (i = 0; i < LLM_H2_PREFACE_LEN; i++) {
		llm_conn_out(c, llm_h2_preface + i, 1);
		assert_int_equal(llm_conn_state(c), i + 1 < LLM_H2_PREFACE_LEN ?
		    LLM_REQ_IDLE : LLM_REQ_PASS);
		assert_int_equal(llm_conn_at_request_start(c), 0);
	}
	llm_conn_close(c);
	assert_int_equal(llm_conn_at_request_start(c), 1);
	assert_int_equal(logb.len, 0);
	/* and HTTP/1.1 on the next connection, its first byte alone */
	llm_conn_out(c, h1, 1);
	assert_int_equal(llm_conn_at_request_start(c), 0);
	llm_conn_out(c, h1 + 1, sizeof(h1) - 2);
	assert_int_equal(llm_conn_state(c), LLM_REQ_READY);
	assert_int_equal(llm_conn_at_request_start(c), 1);
	llm_conn_in(c, r1, sizeof(r1) - 1);
	llm_conn_free(c);
	assert_string_equal(logb.s, "200 streamed=0 cut=0 bytes=2 | openai "
	    "api.openai.com /v1/chat/completions model= stream=0 iu=0 "
	    "max=-1 est=0 tags= | in=0 out=0 cached=0 cw=0 re=0 have=0  "
	    "err=0 done=1\n");
	conv_free(&cv);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_openai_json),
		cmocka_unit_test(test_openai_sse),
		cmocka_unit_test(test_anthropic_sse),
		cmocka_unit_test(test_gemini_sse),
		cmocka_unit_test(test_gzip),
		cmocka_unit_test(test_interleaved),
		cmocka_unit_test(test_continuation_padding),
		cmocka_unit_test(test_dynamic_table),
		cmocka_unit_test(test_table_size_raised),
		cmocka_unit_test(test_table_size_lowered),
		cmocka_unit_test(test_rst_stream),
		cmocka_unit_test(test_goaway_close),
		cmocka_unit_test(test_not_llm),
		cmocka_unit_test(test_big_header_block),
		cmocka_unit_test(test_streams_max),
		cmocka_unit_test(test_bad_frames),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_preface),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);

	free(logb.s);
	return r;
}
