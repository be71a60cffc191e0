/* test_llm_decode.c — chunked framing, Content-Encoding decoding and
 * bodies (lib/llm_decode.c). Compressed data is made here, at test time,
 * with zlib, brotli and zstd; each is decoded whole, a byte at a time and
 * in seeded random splits, and must give back exactly what went in. */
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

#include "llm_transport.h"

struct out {
	char *s;
	size_t len, cap;
	size_t calls, most; /* sink calls, largest piece */
};

static void
sink(void *arg, const char *p, size_t n)
{
	struct out *o = arg;

	assert_true(n > 0);
	if (o->len + n > o->cap) {
		o->cap = (o->len + n) * 2;
		o->s = realloc(o->s, o->cap);
		assert_non_null(o->s);
	}
	memcpy(o->s + o->len, p, n);
	o->len += n;
	o->calls++;
	if (n > o->most)
		o->most = n;
}

/* Some text that compresses, like a long SSE stream does. */
static char *
sample(size_t n)
{
	char *s = malloc(n);
	size_t i;
	unsigned x = 12345;

	for (i = 0; i < n; i++) {
		x = x * 1103515245 + 12345;
		s[i] = (x >> 16) % 7 == 0 ? '\n' : "data: {}abc"[(x >> 8) % 11];
	}
	return s;
}

/* ---- compressors ---- */

static char *
zlib_pack(const char *in, size_t n, int wbits, size_t *outn)
{
	z_stream z = { 0 };
	size_t cap = n + n / 10 + 1024;
	char *out = malloc(cap);

	assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, wbits, 8,
	    Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = (unsigned char *)in;
	z.avail_in = n;
	z.next_out = (unsigned char *)out;
	z.avail_out = cap;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	*outn = z.total_out;
	deflateEnd(&z);
	return out;
}

static char *
br_pack(const char *in, size_t n, int quality, int lgwin, size_t *outn)
{
	size_t cap = BrotliEncoderMaxCompressedSize(n);
	char *out = malloc(cap);

	*outn = cap;
	assert_int_equal(BrotliEncoderCompress(quality, lgwin,
	    BROTLI_MODE_TEXT, n, (const uint8_t *)in, outn,
	    (uint8_t *)out), BROTLI_TRUE);
	return out;
}

/* A streamed zstd frame (no content size, as a server streams it). */
static char *
zstd_pack(const char *in, size_t n, int wlog, size_t *outn)
{
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	size_t cap = ZSTD_compressBound(n) + 1024, r;
	char *out = malloc(cap);
	ZSTD_inBuffer ib = { in, n, 0 };
	ZSTD_outBuffer ob = { out, cap, 0 };

	assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(cc,
	    ZSTD_c_compressionLevel, 3)));
	if (wlog != 0)
		assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(cc,
		    ZSTD_c_windowLog, wlog)));
	r = ZSTD_compressStream2(cc, &ob, &ib, ZSTD_e_continue);
	assert_false(ZSTD_isError(r));
	do {
		r = ZSTD_compressStream2(cc, &ob, &ib, ZSTD_e_end);
		assert_false(ZSTD_isError(r));
	} while (r != 0);
	*outn = ob.pos;
	ZSTD_freeCCtx(cc);
	return out;
}

/* ---- decoding in splits ---- */

enum split { WHOLE, BYTES, RANDOM };

/* Decodes in (n bytes) as coding c; returns finish's result. */
static int
decode(enum llm_coding c, const char *in, size_t n, enum split how,
    unsigned seed, struct out *o)
{
	struct llm_decoder d = { 0 };
	size_t off = 0, k;
	int r;

	memset(o, 0, sizeof(*o));
	llm_decoder_start(&d, c);
	srandom(seed);
	while (off < n) {
		k = how == WHOLE ? n - off : how == BYTES ? 1 :
		    1 + (size_t)random() % 3000;
		if (k > n - off)
			k = n - off;
		llm_decoder_feed(&d, in + off, k, sink, o);
		off += k;
	}
	r = llm_decoder_finish(&d);
	llm_decoder_free(&d);
	return r;
}

/* Every split decodes packed to exactly want. */
static void
decode_check(enum llm_coding c, const char *packed, size_t n,
    const char *want, size_t wn)
{
	struct out o;
	unsigned seed;

	assert_int_equal(decode(c, packed, n, WHOLE, 0, &o), 0);
	assert_int_equal(o.len, wn);
	assert_memory_equal(o.s, want, wn);
	assert_true(o.most <= LLM_DECODE_OUT);
	free(o.s);
	assert_int_equal(decode(c, packed, n, BYTES, 0, &o), 0);
	assert_int_equal(o.len, wn);
	assert_memory_equal(o.s, want, wn);
	free(o.s);
	for (seed = 1; seed <= 5; seed++) {
		assert_int_equal(decode(c, packed, n, RANDOM, seed, &o), 0);
		assert_int_equal(o.len, wn);
		assert_memory_equal(o.s, want, wn);
		free(o.s);
	}
}

#define PLAIN_N 300000

static void
test_coding_parse(void **state)
{
	static const struct {
		const char *v;
		enum llm_coding c;
	} cases[] = {
		{ "gzip", LLM_CODING_GZIP },
		{ "x-gzip", LLM_CODING_GZIP },
		{ " GZip ", LLM_CODING_GZIP },
		{ "deflate", LLM_CODING_DEFLATE },
		{ "br", LLM_CODING_BR },
		{ "zstd", LLM_CODING_ZSTD },
		{ "identity", LLM_CODING_IDENTITY },
		{ "", LLM_CODING_IDENTITY },
		{ "identity, gzip", LLM_CODING_GZIP },
		{ "gzip,identity,", LLM_CODING_GZIP },
		{ "gzip, br", LLM_CODING_UNSUPPORTED },
		{ "compress", LLM_CODING_UNSUPPORTED },
		{ "gzipx", LLM_CODING_UNSUPPORTED },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(llm_coding_parse(cases[i].v,
		    strlen(cases[i].v)), cases[i].c);
}

static void
test_gzip(void **state)
{
	char *plain = sample(PLAIN_N), *p1, *p2, *two;
	size_t n1, n2;

	p1 = zlib_pack(plain, PLAIN_N, 15 + 16, &n1);
	decode_check(LLM_CODING_GZIP, p1, n1, plain, PLAIN_N);
	/* two members back to back: both, as gunzip does */
	p2 = zlib_pack(plain, 1000, 15 + 16, &n2);
	two = malloc(n1 + n2);
	memcpy(two, p1, n1);
	memcpy(two + n1, p2, n2);
	{
		char *want = malloc(PLAIN_N + 1000);

		memcpy(want, plain, PLAIN_N);
		memcpy(want + PLAIN_N, plain, 1000);
		decode_check(LLM_CODING_GZIP, two, n1 + n2, want,
		    PLAIN_N + 1000);
		free(want);
	}
	free(two);
	free(p2);
	free(p1);
	free(plain);
}

static void
test_deflate_zlib_and_raw(void **state)
{
	char *plain = sample(PLAIN_N), *p;
	size_t n;

	p = zlib_pack(plain, PLAIN_N, 15, &n); /* RFC 9110's "deflate" */
	assert_int_equal((unsigned char)p[0], 0x78);
	decode_check(LLM_CODING_DEFLATE, p, n, plain, PLAIN_N);
	free(p);
	p = zlib_pack(plain, PLAIN_N, -15, &n); /* what some servers send */
	decode_check(LLM_CODING_DEFLATE, p, n, plain, PLAIN_N);
	free(p);
	p = zlib_pack("", 0, -15, &n); /* an empty raw stream: 2 bytes */
	assert_int_equal(n, 2);
	decode_check(LLM_CODING_DEFLATE, p, n, "", 0);
	free(p);
	free(plain);
}

static void
test_brotli(void **state)
{
	char *plain = sample(PLAIN_N), *p;
	size_t n;

	p = br_pack(plain, PLAIN_N, 5, 22, &n);
	decode_check(LLM_CODING_BR, p, n, plain, PLAIN_N);
	free(p);
	free(plain);
}

static void
test_zstd(void **state)
{
	char *plain = sample(PLAIN_N), *p1, *p2, *two, *want;
	size_t n1, n2;

	p1 = zstd_pack(plain, PLAIN_N, 0, &n1);
	decode_check(LLM_CODING_ZSTD, p1, n1, plain, PLAIN_N);
	/* two frames back to back */
	p2 = zstd_pack(plain, 777, 0, &n2);
	two = malloc(n1 + n2);
	memcpy(two, p1, n1);
	memcpy(two + n1, p2, n2);
	want = malloc(PLAIN_N + 777);
	memcpy(want, plain, PLAIN_N);
	memcpy(want + PLAIN_N, plain, 777);
	decode_check(LLM_CODING_ZSTD, two, n1 + n2, want, PLAIN_N + 777);
	free(want);
	free(two);
	free(p2);
	free(p1);
	free(plain);
}

static void
test_truncated_and_corrupt(void **state)
{
	char *plain = sample(PLAIN_N), *p;
	size_t n;
	struct out o;

	p = zlib_pack(plain, PLAIN_N, 31, &n);
	assert_int_equal(decode(LLM_CODING_GZIP, p, n - 9, RANDOM, 4, &o),
	    -1);
	assert_true(o.len < PLAIN_N);
	free(o.s);
	p[n / 2] ^= 0x55;
	p[n / 2 + 1] ^= 0x55;
	assert_int_equal(decode(LLM_CODING_GZIP, p, n, WHOLE, 0, &o), -1);
	free(o.s);
	free(p);
	p = br_pack(plain, PLAIN_N, 5, 22, &n);
	assert_int_equal(decode(LLM_CODING_BR, p, n - 1, BYTES, 0, &o), -1);
	free(o.s);
	free(p);
	p = zstd_pack(plain, PLAIN_N, 0, &n);
	assert_int_equal(decode(LLM_CODING_ZSTD, p, n - 3, WHOLE, 0, &o), -1);
	free(o.s);
	assert_int_equal(decode(LLM_CODING_ZSTD, "not zstd", 8, WHOLE, 0, &o),
	    -1);
	assert_int_equal(o.len, 0);
	assert_int_equal(decode(LLM_CODING_UNSUPPORTED, "abc", 3, WHOLE, 0,
	    &o), -1);
	assert_int_equal(o.len, 0);
	/* identity is always complete */
	assert_int_equal(decode(LLM_CODING_IDENTITY, "abc", 3, BYTES, 0, &o),
	    0);
	assert_int_equal(o.len, 3);
	free(o.s);
	free(p);
	free(plain);
}

/* A stream cut short gives, in every split, exactly what its whole
 * blocks hold. Regression: brotli answers NEEDS_MORE_INPUT with output
 * still pending; fed in one piece, a cut br body gave 16 KiB of ~500. */
static void
test_truncated_same_in_splits(void **state)
{
	size_t big = 3000000, cut, k;
	char *plain = sample(big), *p[4];
	enum llm_coding c[4] = { LLM_CODING_GZIP, LLM_CODING_DEFLATE,
	    LLM_CODING_BR, LLM_CODING_ZSTD };
	size_t pn[4], whole;
	struct out o;
	int i, seed;

	p[0] = zlib_pack(plain, big, 31, &pn[0]);
	p[1] = zlib_pack(plain, big, 15, &pn[1]);
	p[2] = br_pack(plain, big, 5, 22, &pn[2]);
	p[3] = zstd_pack(plain, big, 0, &pn[3]);
	for (i = 0; i < 4; i++) {
		for (k = 1; k <= 3; k++) {
			cut = pn[i] * k / 4;
			assert_int_equal(decode(c[i], p[i], cut, WHOLE, 0, &o),
			    -1);
			whole = o.len;
			assert_true(whole > big * (k - 1) / 4);
			assert_memory_equal(o.s, plain, o.len);
			free(o.s);
			for (seed = 0; seed < 3; seed++) {
				decode(c[i], p[i], cut, seed ? RANDOM : BYTES,
				    seed, &o);
				assert_int_equal(o.len, whole);
				free(o.s);
			}
		}
		free(p[i]);
	}
	free(plain);
}

static void
test_window_caps(void **state)
{
	size_t big = 12 * 1024 * 1024, n;
	char *plain = sample(big), *p;
	struct out o;

	/* zstd: a 32 MiB window is past the 8 MiB cap: refused */
	p = zstd_pack(plain, 4096, 25, &n);
	assert_int_equal(decode(LLM_CODING_ZSTD, p, n, WHOLE, 0, &o), -1);
	assert_int_equal(o.len, 0);
	free(p);
	/* an 8 MiB window is fine */
	p = zstd_pack(plain, 4096, 23, &n);
	assert_int_equal(decode(LLM_CODING_ZSTD, p, n, WHOLE, 0, &o), 0);
	assert_int_equal(o.len, 4096);
	free(o.s);
	free(p);
	/* brotli: a 16 MiB window over 12 MiB of data needs more than the
	 * cap; the output stops there, sound up to that point */
	p = br_pack(plain, big, 1, 24, &n);
	assert_int_equal(decode(LLM_CODING_BR, p, n, WHOLE, 0, &o), -1);
	assert_memory_equal(o.s, plain, o.len);
	free(o.s);
	free(p);
	/* a 4 MiB window over the same: decoded */
	p = br_pack(plain, big, 1, 22, &n);
	assert_int_equal(decode(LLM_CODING_BR, p, n, WHOLE, 0, &o), 0);
	assert_int_equal(o.len, big);
	assert_memory_equal(o.s, plain, big);
	free(o.s);
	free(p);
	free(plain);
}

static void
test_decoder_reuse(void **state)
{
	struct llm_decoder d = { 0 };
	char *plain = sample(5000), *gz, *zs, *br;
	size_t ng, nz, nb;
	struct out o = { 0 };

	gz = zlib_pack(plain, 5000, 31, &ng);
	zs = zstd_pack(plain, 5000, 0, &nz);
	br = br_pack(plain, 5000, 5, 22, &nb);
	/* one decoder, body after body, as a keep-alive connection */
	llm_decoder_start(&d, LLM_CODING_GZIP);
	llm_decoder_feed(&d, gz, ng, sink, &o);
	assert_int_equal(llm_decoder_finish(&d), 0);
	llm_decoder_start(&d, LLM_CODING_ZSTD);
	llm_decoder_feed(&d, zs, nz, sink, &o);
	assert_int_equal(llm_decoder_finish(&d), 0);
	llm_decoder_start(&d, LLM_CODING_BR);
	llm_decoder_feed(&d, br, nb, sink, &o);
	assert_int_equal(llm_decoder_finish(&d), 0);
	assert_null(d.br); /* brotli's and zstd's windows are not kept */
	assert_null(d.zs);
	assert_int_equal(d.br_mem, 0);
	llm_decoder_start(&d, LLM_CODING_GZIP);
	llm_decoder_feed(&d, gz, ng, sink, &o);
	assert_int_equal(llm_decoder_finish(&d), 0);
	assert_int_equal(o.len, 4 * 5000);
	assert_memory_equal(o.s + 3 * 5000, plain, 5000);
	llm_decoder_free(&d);
	free(o.s);
	free(gz);
	free(zs);
	free(br);
	free(plain);
}

/* ---- chunked ---- */

static size_t
dechunk(const char *in, size_t n, enum split how, unsigned seed,
    struct out *o, struct llm_dechunk *k)
{
	size_t off = 0, step, used;

	memset(o, 0, sizeof(*o));
	llm_dechunk_start(k);
	srandom(seed);
	while (off < n && !k->done && !k->err) {
		step = how == WHOLE ? n - off : how == BYTES ? 1 :
		    1 + (size_t)random() % 9;
		if (step > n - off)
			step = n - off;
		used = llm_dechunk_feed(k, in + off, step, sink, o);
		assert_true(used == step || k->done || k->err);
		off += used;
	}
	return off;
}

static void
dechunk_check(const char *in, const char *want, const char *rest)
{
	struct llm_dechunk k;
	struct out o;
	size_t used, n = strlen(in);
	unsigned seed;

	for (seed = 0; seed < 12; seed++) {
		used = dechunk(in, n, seed == 0 ? WHOLE : seed == 1 ? BYTES :
		    RANDOM, seed, &o, &k);
		assert_int_equal(k.done, 1);
		assert_int_equal(k.err, 0);
		assert_int_equal(o.len, strlen(want));
		assert_memory_equal(o.s, want, o.len);
		assert_string_equal(in + used, rest);
		free(o.s);
	}
}

static void
test_chunked(void **state)
{
	dechunk_check("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nNEXT",
	    "hello world", "NEXT");
	/* extensions, upper-case hex, leading zeros, trailers */
	dechunk_check("5;name=\"v;x\"\r\nhello\r\n00A ; a=b\r\n0123456789\r\n"
	    "0;last\r\nX-Trailer: 1\r\nServer-Timing: t=2\r\n\r\nHTTP/1.1",
	    "hello0123456789", "HTTP/1.1");
	/* bare LF everywhere */
	dechunk_check("3\nabc\n0\nT: 1\n\n", "abc", "");
	dechunk_check("0\r\n\r\n", "", "");
}

static void
test_chunked_bad(void **state)
{
	static const char *bad[] = {
		"\r\n5\r\nhello\r\n",           /* no size */
		"5x\r\nhello\r\n",              /* junk after the size */
		"5\r\nhelloX\r\n",              /* no CRLF after the data */
		"5\rX",                         /* CR without LF */
		"10000000000000000\r\n",        /* 2^64: no size */
		"0\r\n\rX",                     /* bad end of trailers */
	};
	struct llm_dechunk k;
	struct out o;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		dechunk(bad[i], strlen(bad[i]), BYTES, 0, &o, &k);
		assert_int_equal(k.err, 1);
		assert_int_equal(k.done, 0);
		free(o.s);
	}
	/* the largest size that fits is still one */
	dechunk("7fffffffffffffff\r\nab", 20, WHOLE, 0, &o, &k);
	assert_int_equal(k.err, 0);
	assert_int_equal(k.left, 0x7fffffffffffffffULL - 2);
	free(o.s);
}

/* ---- bodies ---- */

static void
test_body_length(void **state)
{
	struct llm_body b = { 0 };
	struct out o = { 0 };

	llm_body_start(&b, LLM_BODY_LENGTH, 5, LLM_CODING_IDENTITY, sink, &o);
	assert_int_equal(llm_body_feed(&b, "hel", 3), 3);
	assert_int_equal(b.done, 0);
	assert_int_equal(llm_body_feed(&b, "loHTTP", 6), 2);
	assert_int_equal(b.done, 1);
	assert_int_equal(llm_body_feed(&b, "more", 4), 0);
	assert_int_equal(o.len, 5);
	assert_memory_equal(o.s, "hello", 5);
	/* none, and zero length: done at once */
	llm_body_start(&b, LLM_BODY_NONE, 0, LLM_CODING_IDENTITY, sink, &o);
	assert_int_equal(b.done, 1);
	llm_body_start(&b, LLM_BODY_LENGTH, 0, LLM_CODING_GZIP, sink, &o);
	assert_int_equal(b.done, 1);
	llm_body_free(&b);
	free(o.s);
}

static void
test_body_chunked_gzip(void **state)
{
	char *plain = sample(50000), *gz, *wire, *w;
	size_t ng, i, k, n;
	struct llm_body b = { 0 };
	struct out o = { 0 };

	gz = zlib_pack(plain, 50000, 31, &ng);
	wire = malloc(ng * 2 + 1000);
	w = wire;
	for (i = 0; i < ng; i += k) { /* chunks of 1..1000 bytes */
		k = 1 + (i * 7919) % 1000;
		if (k > ng - i)
			k = ng - i;
		w += sprintf(w, "%zx\r\n", k);
		memcpy(w, gz + i, k);
		w += k;
		w += sprintf(w, "\r\n");
	}
	w += sprintf(w, "0\r\n\r\nGET");
	n = w - wire;
	llm_body_start(&b, LLM_BODY_CHUNKED, 0, LLM_CODING_GZIP, sink, &o);
	for (i = 0; i < n && !b.done; i += k)
		k = llm_body_feed(&b, wire + i, n - i < 13 ? n - i : 13);
	assert_int_equal(b.done, 1);
	assert_int_equal(n - i, 3); /* "GET" is the next message's */
	assert_int_equal(llm_decoder_finish(&b.dec), 0);
	assert_int_equal(o.len, 50000);
	assert_memory_equal(o.s, plain, 50000);
	/* with no sink: framed alike, nothing decoded */
	o.len = 0;
	llm_body_start(&b, LLM_BODY_CHUNKED, 0, LLM_CODING_GZIP, NULL, NULL);
	assert_int_equal(llm_body_feed(&b, wire, n), n - 3);
	assert_int_equal(b.done, 1);
	assert_int_equal(b.dec.coding, LLM_CODING_IDENTITY);
	llm_body_free(&b);
	free(o.s);
	free(wire);
	free(gz);
	free(plain);
}

static void
test_body_close_and_bad(void **state)
{
	struct llm_body b = { 0 };
	struct out o = { 0 };

	llm_body_start(&b, LLM_BODY_CLOSE, 0, LLM_CODING_IDENTITY, sink, &o);
	assert_int_equal(llm_body_feed(&b, "abc", 3), 3);
	assert_int_equal(llm_body_feed(&b, "def", 3), 3);
	assert_int_equal(b.done, 0);
	assert_int_equal(o.len, 6);
	llm_body_start(&b, LLM_BODY_CHUNKED, 0, LLM_CODING_IDENTITY, sink, &o);
	llm_body_feed(&b, "zz\r\n", 4);
	assert_int_equal(b.err, 1);
	assert_int_equal(llm_body_feed(&b, "1\r\na\r\n", 6), 0);
	llm_body_free(&b);
	free(o.s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_coding_parse),
		cmocka_unit_test(test_gzip),
		cmocka_unit_test(test_deflate_zlib_and_raw),
		cmocka_unit_test(test_brotli),
		cmocka_unit_test(test_zstd),
		cmocka_unit_test(test_truncated_and_corrupt),
		cmocka_unit_test(test_truncated_same_in_splits),
		cmocka_unit_test(test_window_caps),
		cmocka_unit_test(test_decoder_reuse),
		cmocka_unit_test(test_chunked),
		cmocka_unit_test(test_chunked_bad),
		cmocka_unit_test(test_body_length),
		cmocka_unit_test(test_body_chunked_gzip),
		cmocka_unit_test(test_body_close_and_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
