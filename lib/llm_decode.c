/*
 * llm_decode.c — an HTTP message body, framed and decoded (see
 * llm_transport.h): Content-Length, chunked (extensions and trailers
 * skipped), or to the connection's close; then Content-Encoding gzip and
 * deflate (zlib: both zlib-wrapped and raw deflate, as servers send
 * either), br (libbrotlidec), zstd (libzstd). Everything is incremental:
 * any split of the input gives the same output, which goes to a sink in
 * rounds of at most LLM_DECODE_OUT bytes.
 *
 * Memory: zlib's state and 32 KiB window, one output buffer, and the
 * brotli or zstd window, which the stream names: zstd's is capped with
 * ZSTD_d_windowLogMax, brotli's through its allocator, both at
 * LLM_DECODE_MEM_MAX (RFC 9659 asks HTTP senders to stay within 8 MiB).
 * A stream past the cap, corrupt data or an unknown coding only stop the
 * output (the exchange ends cut); the framing goes on, so the connection
 * stays in step.
 */
#include "llm_transport.h"

#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <brotli/decode.h>
#include <zlib.h>
#include <zstd.h>

/* ---- Content-Encoding ---- */

static enum llm_coding
coding_one(const char *v, size_t n)
{
	if ((n == 4 && strncasecmp(v, "gzip", 4) == 0) ||
	    (n == 6 && strncasecmp(v, "x-gzip", 6) == 0))
		return LLM_CODING_GZIP;
	if (n == 7 && strncasecmp(v, "deflate", 7) == 0)
		return LLM_CODING_DEFLATE;
	if (n == 2 && strncasecmp(v, "br", 2) == 0)
		return LLM_CODING_BR;
	if (n == 4 && strncasecmp(v, "zstd", 4) == 0)
		return LLM_CODING_ZSTD;
	if (n == 8 && strncasecmp(v, "identity", 8) == 0)
		return LLM_CODING_IDENTITY;
	return LLM_CODING_UNSUPPORTED;
}

enum llm_coding
llm_coding_parse(const char *v, size_t n)
{
	enum llm_coding c = LLM_CODING_IDENTITY, one;
	size_t i = 0, s, e;

	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < n && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e == s)
			continue;
		one = coding_one(v + s, e - s);
		if (one == LLM_CODING_IDENTITY)
			continue;
		/* Two real codings stacked: not worth decoding twice. */
		c = (c == LLM_CODING_IDENTITY) ? one : LLM_CODING_UNSUPPORTED;
	}
	return c;
}

/* ---- decoder ---- */

/* Brotli allocates through us so its window counts against the cap; a
 * size header in front of each block tells free how much comes back. */
union br_hdr {
	size_t size;
	max_align_t align;
};

static void *
br_alloc(void *opaque, size_t size)
{
	struct llm_decoder *d = opaque;
	union br_hdr *h;

	if (size > LLM_DECODE_MEM_MAX - d->br_mem)
		return NULL;
	if ((h = malloc(sizeof(*h) + size)) == NULL)
		return NULL;
	h->size = size;
	d->br_mem += size;
	return h + 1;
}

static void
br_free(void *opaque, void *p)
{
	struct llm_decoder *d = opaque;
	union br_hdr *h;

	if (p == NULL)
		return;
	h = (union br_hdr *)p - 1;
	d->br_mem -= h->size;
	free(h);
}

/* Brotli's and zstd's states hold their window: not kept between bodies
 * (zlib's 40 KiB are). */
static void
window_drop(struct llm_decoder *d)
{
	if (d->br != NULL)
		BrotliDecoderDestroyInstance(d->br);
	d->br = NULL;
	if (d->zs != NULL)
		ZSTD_freeDStream(d->zs);
	d->zs = NULL;
}

/* zlib with window bits wbits (gzip 31, zlib 15, raw -15). */
static int
z_open(struct llm_decoder *d, int wbits)
{
	z_stream *z = d->z;

	if (z != NULL)
		return inflateReset2(z, wbits) == Z_OK ? 0 : -1;
	if ((z = calloc(1, sizeof(*z))) == NULL)
		return -1;
	if (inflateInit2(z, wbits) != Z_OK) {
		free(z);
		return -1;
	}
	d->z = z;
	return 0;
}

static int
zs_open(struct llm_decoder *d)
{
	if ((d->zs = ZSTD_createDStream()) == NULL)
		return -1;
	return ZSTD_isError(ZSTD_DCtx_setParameter(d->zs,
	    ZSTD_d_windowLogMax, 23)) ? -1 : 0; /* 8 MiB */
}

static int
br_open(struct llm_decoder *d)
{
	window_drop(d);
	d->br = BrotliDecoderCreateInstance(br_alloc, br_free, d);
	return d->br != NULL ? 0 : -1;
}

void
llm_decoder_start(struct llm_decoder *d, enum llm_coding c)
{
	int r = 0;

	d->coding = c;
	d->err = d->end = 0;
	d->nhdr = 0;
	window_drop(d);
	if (c == LLM_CODING_IDENTITY)
		return;
	if (d->out == NULL && (d->out = malloc(LLM_DECODE_OUT)) == NULL)
		r = -1;
	else if (c == LLM_CODING_GZIP)
		r = z_open(d, 15 + 16);
	else if (c == LLM_CODING_BR)
		r = br_open(d);
	else if (c == LLM_CODING_ZSTD)
		r = zs_open(d);
	else if (c != LLM_CODING_DEFLATE)
		r = -1;
	d->err = (r != 0);
}

static void
z_feed(struct llm_decoder *d, const unsigned char *p, size_t n,
    llm_sink_fn sink, void *arg)
{
	z_stream *z = d->z;
	size_t used;
	int r;

	while (n > 0 && !d->err) {
		if (d->end) {
			/* Another gzip member follows, or trailing bytes that
			 * clients ignore too. */
			if (d->coding != LLM_CODING_GZIP || p[0] != 0x1f)
				return;
			inflateReset(z);
			d->end = 0;
		}
		z->next_in = (unsigned char *)p;
		z->avail_in = n > UINT_MAX ? UINT_MAX : (unsigned)n;
		do {
			z->next_out = (unsigned char *)d->out;
			z->avail_out = LLM_DECODE_OUT;
			r = inflate(z, Z_NO_FLUSH);
			if (sink != NULL && z->avail_out < LLM_DECODE_OUT)
				sink(arg, d->out, LLM_DECODE_OUT - z->avail_out);
			if (r == Z_STREAM_END)
				d->end = 1;
			else if (r == Z_BUF_ERROR)
				break; /* no progress possible: wants input */
			else if (r != Z_OK)
				d->err = 1;
		} while (!d->end && !d->err &&
		    (z->avail_in > 0 || z->avail_out == 0));
		used = (const unsigned char *)z->next_in - p;
		p += used;
		n -= used;
		if (used == 0 && !d->end)
			return;
	}
}

/* "deflate" is zlib-wrapped by the RFC, raw by many servers: the first
 * two bytes tell (a zlib header is CM 8 and a multiple of 31). */
static void
deflate_feed(struct llm_decoder *d, const unsigned char *p, size_t n,
    llm_sink_fn sink, void *arg)
{
	int zlib;

	while (d->nhdr < 2 && n > 0) {
		d->hdr[d->nhdr++] = *p++;
		n--;
	}
	if (d->nhdr < 2)
		return;
	if (d->nhdr == 2) {
		zlib = (d->hdr[0] & 0x0f) == 8 &&
		    ((d->hdr[0] << 8) | d->hdr[1]) % 31 == 0;
		d->nhdr = 3;
		if (z_open(d, zlib ? 15 : -15) != 0) {
			d->err = 1;
			return;
		}
		z_feed(d, d->hdr, 2, sink, arg);
	}
	z_feed(d, p, n, sink, arg);
}

static void
br_feed(struct llm_decoder *d, const unsigned char *p, size_t n,
    llm_sink_fn sink, void *arg)
{
	BrotliDecoderResult r;
	uint8_t *next_out;
	size_t avail_out;

	if (d->end)
		return; /* bytes after the stream: ignored */
	for (;;) {
		next_out = (uint8_t *)d->out;
		avail_out = LLM_DECODE_OUT;
		r = BrotliDecoderDecompressStream(d->br, &n, &p, &avail_out,
		    &next_out, NULL);
		if (sink != NULL && avail_out < LLM_DECODE_OUT)
			sink(arg, d->out, LLM_DECODE_OUT - avail_out);
		if (r == BROTLI_DECODER_RESULT_SUCCESS)
			d->end = 1;
		else if (r == BROTLI_DECODER_RESULT_ERROR)
			d->err = 1;
		/* NEEDS_MORE_INPUT with a full buffer: output is still
		 * pending inside, and may be all there is if the body ends */
		if (r != BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT &&
		    (r != BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT ||
		    avail_out != 0))
			return;
	}
}

static void
zs_feed(struct llm_decoder *d, const unsigned char *p, size_t n,
    llm_sink_fn sink, void *arg)
{
	ZSTD_inBuffer in = { p, n, 0 };
	ZSTD_outBuffer out;
	size_t r;

	for (;;) {
		out.dst = d->out;
		out.size = LLM_DECODE_OUT;
		out.pos = 0;
		r = ZSTD_decompressStream(d->zs, &out, &in);
		if (sink != NULL && out.pos > 0)
			sink(arg, d->out, out.pos);
		if (ZSTD_isError(r)) {
			d->err = 1;
			return;
		}
		d->end = (r == 0); /* a frame ended; another may follow */
		if (in.pos == in.size && out.pos < out.size)
			return;
	}
}

void
llm_decoder_feed(struct llm_decoder *d, const char *p, size_t n,
    llm_sink_fn sink, void *arg)
{
	const unsigned char *u = (const unsigned char *)p;

	if (d->err || n == 0)
		return;
	switch (d->coding) {
	case LLM_CODING_IDENTITY:
		if (sink != NULL)
			sink(arg, p, n);
		break;
	case LLM_CODING_GZIP:
		z_feed(d, u, n, sink, arg);
		break;
	case LLM_CODING_DEFLATE:
		deflate_feed(d, u, n, sink, arg);
		break;
	case LLM_CODING_BR:
		br_feed(d, u, n, sink, arg);
		break;
	case LLM_CODING_ZSTD:
		zs_feed(d, u, n, sink, arg);
		break;
	default:
		d->err = 1;
		break;
	}
}

int
llm_decoder_finish(struct llm_decoder *d)
{
	int ok;

	ok = !d->err && (d->coding == LLM_CODING_IDENTITY || d->end);
	window_drop(d);
	return ok ? 0 : -1;
}

void
llm_decoder_free(struct llm_decoder *d)
{
	window_drop(d);
	if (d->z != NULL) {
		inflateEnd(d->z);
		free(d->z);
	}
	free(d->out);
	d->z = d->zs = NULL;
	d->out = NULL;
}

/* ---- chunked ---- */

enum {
	CK_SIZE,        /* hex digits of a chunk size */
	CK_SIZE_LF,     /* a CR ended the size line */
	CK_EXT,         /* extensions: skipped to the line's end */
	CK_DATA,
	CK_DATA_CR,     /* the CRLF after a chunk's data */
	CK_DATA_LF,
	CK_TRAILER,     /* at the start of a trailer line */
	CK_TRAILER_LINE,
	CK_TRAILER_LF,  /* a CR began the empty line */
};

static const signed char hexv[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6,
	['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
	['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
	['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
}; /* value + 1; 0: not a hex digit */

void
llm_dechunk_start(struct llm_dechunk *k)
{
	memset(k, 0, sizeof(*k));
	k->st = CK_SIZE;
}

static void
size_done(struct llm_dechunk *k)
{
	k->st = k->left == 0 ? CK_TRAILER : CK_DATA;
	k->digits = 0;
}

/* The size line's hex digits, then the byte that ends them. */
static const char *
size_digits(struct llm_dechunk *k, const char *p, const char *end)
{
	int v;

	for (; p < end && (v = hexv[(unsigned char)*p]) != 0; p++) {
		if (k->left >> 59) { /* a size past 2^63 is no size */
			k->err = 1;
			return p;
		}
		k->left = k->left << 4 | (uint64_t)(v - 1);
		k->digits++;
	}
	if (p == end)
		return p;
	if (k->digits == 0)
		k->err = 1;
	else if (*p == '\r' && end - p >= 2 && p[1] == '\n') {
		size_done(k); /* the usual CRLF, at once */
		return p + 2;
	} else if (*p == '\r')
		k->st = CK_SIZE_LF;
	else if (*p == '\n')
		size_done(k);
	else if (*p == ';' || *p == ' ' || *p == '\t')
		k->st = CK_EXT;
	else
		k->err = 1;
	return p + 1;
}

/* Skips to just past the next LF; 1 when it was found. */
static int
skip_line(const char **p, const char *end)
{
	const char *q = memchr(*p, '\n', end - *p);

	*p = q != NULL ? q + 1 : end;
	return q != NULL;
}

size_t
llm_dechunk_feed(struct llm_dechunk *k, const char *p0, size_t n,
    llm_sink_fn sink, void *arg)
{
	const char *p = p0, *end = p0 + n;
	size_t m;

	while (p < end && !k->done && !k->err) {
		switch (k->st) {
		case CK_SIZE:
			p = size_digits(k, p, end);
			break;
		case CK_SIZE_LF:
			if (*p++ == '\n')
				size_done(k);
			else
				k->err = 1;
			break;
		case CK_EXT:
			if (skip_line(&p, end))
				size_done(k);
			break;
		case CK_DATA:
			m = (uint64_t)(end - p) < k->left ? (size_t)(end - p) :
			    (size_t)k->left;
			if (sink != NULL)
				sink(arg, p, m);
			p += m;
			if ((k->left -= m) == 0)
				k->st = CK_DATA_CR;
			break;
		case CK_DATA_CR:
		case CK_DATA_LF:
			if (k->st == CK_DATA_CR && end - p >= 2 &&
			    p[0] == '\r' && p[1] == '\n') {
				k->st = CK_SIZE; /* the usual CRLF, at once */
				p += 2;
				break;
			}
			if (*p == '\r' && k->st == CK_DATA_CR)
				k->st = CK_DATA_LF;
			else if (*p == '\n')
				k->st = CK_SIZE;
			else
				k->err = 1;
			p++;
			break;
		case CK_TRAILER:
			if (*p == '\r' || *p == '\n') {
				k->done = (*p == '\n');
				k->st = CK_TRAILER_LF;
				p++;
			} else
				k->st = CK_TRAILER_LINE;
			break;
		case CK_TRAILER_LINE:
			if (skip_line(&p, end))
				k->st = CK_TRAILER;
			break;
		case CK_TRAILER_LF:
			k->done = (*p == '\n');
			k->err = !k->done;
			p++;
			break;
		}
	}
	return p - p0;
}

/* ---- a body ---- */

static void
body_decode(void *arg, const char *p, size_t n)
{
	struct llm_body *b = arg;

	llm_decoder_feed(&b->dec, p, n, b->sink, b->arg);
}

static void
body_deliver(struct llm_body *b, const char *p, size_t n)
{
	if (b->sink == NULL || n == 0)
		return;
	if (b->dec.coding == LLM_CODING_IDENTITY)
		b->sink(b->arg, p, n);
	else
		llm_decoder_feed(&b->dec, p, n, b->sink, b->arg);
}

void
llm_body_start(struct llm_body *b, enum llm_framing f, uint64_t len,
    enum llm_coding c, llm_sink_fn sink, void *arg)
{
	b->framing = f;
	b->left = len;
	b->sink = sink;
	b->arg = arg;
	b->err = 0;
	b->done = (f == LLM_BODY_NONE || (f == LLM_BODY_LENGTH && len == 0));
	if (f == LLM_BODY_CHUNKED)
		llm_dechunk_start(&b->chunk);
	/* Nobody reads a dropped body: it is framed, never decoded. */
	llm_decoder_start(&b->dec, sink != NULL ? c : LLM_CODING_IDENTITY);
}

size_t
llm_body_feed(struct llm_body *b, const char *p, size_t n)
{
	size_t m;

	if (b->done || b->err)
		return 0;
	switch (b->framing) {
	case LLM_BODY_LENGTH:
		m = (uint64_t)n < b->left ? n : (size_t)b->left;
		body_deliver(b, p, m);
		b->done = ((b->left -= m) == 0);
		return m;
	case LLM_BODY_CHUNKED:
		if (b->sink == NULL)
			m = llm_dechunk_feed(&b->chunk, p, n, NULL, NULL);
		else if (b->dec.coding == LLM_CODING_IDENTITY)
			m = llm_dechunk_feed(&b->chunk, p, n, b->sink, b->arg);
		else
			m = llm_dechunk_feed(&b->chunk, p, n, body_decode, b);
		b->done = b->chunk.done;
		b->err = b->chunk.err;
		return m;
	case LLM_BODY_CLOSE:
		body_deliver(b, p, n);
		return n;
	default:
		b->done = 1;
		return 0;
	}
}

void
llm_body_free(struct llm_body *b)
{
	llm_decoder_free(&b->dec);
}
