/*
 * llm_h2.c — one HTTP/2 connection (RFC 9113) as the client sees it,
 * read passively after its preface (see llm_h2.h).
 *
 * Frames: the 9-byte header is gathered across pieces; a payload is
 * never gathered: its fixed fields (pad length, priority, promised
 * stream, GOAWAY's last stream) are, then the rest streams through —
 * header block fragments straight into the direction's HPACK inflater,
 * DATA straight into the stream's decoder and framer — and padding is
 * skipped. A header block is HEADERS or PUSH_PROMISE plus CONTINUATIONs,
 * nothing between them on that side.
 *
 * HPACK: one libnghttp2 inflater per direction; every block is inflated,
 * metered or not, to keep its table in step. A peer's
 * SETTINGS_HEADER_TABLE_SIZE bounds the other side's encoder, so it is
 * applied to the other direction's inflater at that side's ACK, which
 * comes in order with the blocks its encoder wrote (bounded by
 * LLM_H2_TABLE_MAX).
 *
 * Streams: a client HEADERS on a new stream is classified from :method,
 * :path and :authority (else Host); an LLM stream gets a slot (at most
 * LLM_H2_STREAMS_MAX alive, else unmetered) with its request body read
 * at its END_STREAM and its response metered through llm_resp.c as
 * HTTP/1.1's is. Its exchange goes to done() when the response ends,
 * cut when a side resets the stream, GOAWAY leaves it unprocessed, its
 * header block passes LLM_HDRS_MAX, or the connection ends or dies.
 * Frames that break RFC 9113's framing, or HPACK that does not inflate,
 * kill the connection: pending streams end cut, the rest passes through.
 *
 * Memory: two inflaters (tables up to LLM_H2_TABLE_MAX, fields up to
 * nghttp2's 64 KiB) and, per live metered stream, what an HTTP/1.1
 * exchange holds (two framers bounded by LLM_CONN_MAX_BUF, decoders);
 * slots are kept for later streams, so DATA allocates nothing. A frame's
 * length has 24 bits (under 16 MiB) and is never buffered.
 */
#include "llm_h2.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

const char llm_h2_preface[LLM_H2_PREFACE_LEN + 1] =
    "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

enum {                          /* frame types, RFC 9113 6 */
	T_DATA, T_HEADERS, T_PRIORITY, T_RST_STREAM, T_SETTINGS,
	T_PUSH_PROMISE, T_PING, T_GOAWAY, T_WINDOW_UPDATE, T_CONTINUATION,
};
#define FL_END_STREAM   0x01
#define FL_ACK          0x01
#define FL_END_HEADERS  0x04
#define FL_PADDED       0x08
#define FL_PRIORITY     0x20
#define SET_TABLE_SIZE  0x1     /* SETTINGS_HEADER_TABLE_SIZE */
#define NO_SIZE         UINT32_MAX /* a SETTINGS that left it alone */

enum { S_HEAD, S_LEAD, S_PAYLOAD };     /* h2_dir.st */

struct h2_stream {
	uint32_t id;            /* 0: a free slot */
	int req_open;           /* the request body is still coming */
	int resp_open;          /* the final response's body is coming */
	uint64_t req_seen;      /* decoded request body bytes */
	struct llm_exchange x;
	struct llm_frame rqf, rsf;
	struct llm_decoder rqd, rsd;
	struct llm_resp resp;
};

/* The header block one side is writing, and what it said. */
struct h2_block {
	uint32_t id;            /* its stream; 0: none in progress */
	int push;               /* a PUSH_PROMISE's: only inflated */
	int open;               /* a client's, opening a new stream */
	int end_stream;
	int over;               /* past LLM_HDRS_MAX: unmetered */
	size_t bytes;
	int status;             /* a response's */
	enum llm_frame_mode mode;
	enum llm_coding coding;
};

/* The request fields of a block that opens a stream. */
struct h2_reqhead {
	char method[16];
	char path[LLM_TARGET_MAX];
	char authority[256];
	char host[256];
	char tags[256];
	int over;               /* one was too long to keep: unmetered */
};

/* One direction of the connection. */
struct h2_dir {
	nghttp2_hd_inflater *hd;
	int st;
	unsigned char head[9];
	unsigned nhead;
	uint32_t len, id;       /* the frame being read */
	uint8_t type, flags;
	uint32_t left;          /* its payload still to come, padding too */
	uint32_t pad;
	unsigned char lead[8];  /* its fixed fields */
	unsigned nlead, want;
	unsigned char ent[6];   /* SETTINGS: an entry across pieces */
	unsigned nent;
	uint32_t table;         /* SETTINGS: its header table size */
	uint32_t pend[LLM_H2_PEND_MAX]; /* the peer's asked sizes, to ACK */
	unsigned npend;
	struct h2_block blk;
};

struct llm_h2 {
	llm_done_fn done;
	void *arg;
	int dead;
	struct h2_dir out, in;
	struct h2_reqhead rq;
	uint32_t last_id;       /* the highest stream the client opened */
	struct h2_stream *st[LLM_H2_STREAMS_MAX];
	unsigned nst;           /* slots made */
	uint64_t begun;         /* metered streams opened */
};

static uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/* ---- streams ---- */

static struct h2_stream *
stream_find(struct llm_h2 *h, uint32_t id)
{
	unsigned i;

	for (i = 0; i < h->nst; i++)
		if (h->st[i]->id == id)
			return h->st[i];
	return NULL;
}

/* The live stream with the lowest id above after, or NULL. */
static struct h2_stream *
stream_next(struct llm_h2 *h, uint32_t after)
{
	struct h2_stream *best = NULL;
	unsigned i;

	for (i = 0; i < h->nst; i++)
		if (h->st[i]->id > after &&
		    (best == NULL || h->st[i]->id < best->id))
			best = h->st[i];
	return best;
}

/* A free slot, made once and kept for the streams that follow. */
static struct h2_stream *
stream_slot(struct llm_h2 *h)
{
	struct h2_stream *st;

	if ((st = stream_find(h, 0)) != NULL)
		return st;
	if (h->nst == LLM_H2_STREAMS_MAX ||
	    (st = calloc(1, sizeof(*st))) == NULL)
		return NULL;
	llm_frame_init(&st->rqf);
	llm_frame_init(&st->rsf);
	h->st[h->nst++] = st;
	return st;
}

static void
req_sink(void *arg, const char *p, size_t n)
{
	struct h2_stream *st = arg;

	st->req_seen += n;
	llm_frame_feed(&st->rqf, p, n);
}

static void
req_end(struct h2_stream *st)
{
	int bad;

	if (!st->req_open)
		return;
	st->req_open = 0;
	bad = llm_decoder_finish(&st->rqd) != 0;
	llm_req_end(&st->x.req, &st->rqf, bad, st->req_seen);
	llm_frame_release(&st->rqf);
}

/* The exchange ends (cut: before its response did) and goes out. */
static void
stream_done(struct llm_h2 *h, struct h2_stream *st, int cut)
{
	req_end(st);
	if (st->resp_open)
		llm_resp_end(&st->resp, &st->rsd, cut);
	else
		st->x.cut = 1;
	if (h->done != NULL)
		h->done(h->arg, &st->x);
	llm_frame_release(&st->rsf);
	st->resp_open = 0;
	st->id = 0;
}

/* Every stream above last ends cut, in order. */
static void
streams_cut(struct llm_h2 *h, uint32_t last)
{
	struct h2_stream *st;

	while ((st = stream_next(h, last)) != NULL)
		stream_done(h, st, 1);
}

static void
h2_dead(struct llm_h2 *h)
{
	if (h->dead)
		return;
	h->dead = 1;
	streams_cut(h, 0);
}

/* A client's new stream: metered when llm_classify() says so. */
static struct h2_stream *
stream_open(struct llm_h2 *h, uint32_t id, enum llm_coding coding)
{
	struct h2_reqhead *q = &h->rq;
	const char *a = q->authority[0] != '\0' ? q->authority : q->host;
	struct h2_stream *st;
	struct llm_req r;
	char host[256];

	if (q->over || llm_host_clean(a, strlen(a), host, sizeof(host)) != 0)
		return NULL;
	memset(&r, 0, sizeof(r));
	r.max_tokens = -1;
	if (llm_classify(q->method, q->path, host, &r) != 1 ||
	    (st = stream_slot(h)) == NULL)
		return NULL;
	if (r.host[0] == '\0')
		snprintf(r.host, sizeof(r.host), "%s", host);
	memcpy(r.tags, q->tags, sizeof(r.tags));
	memset(&st->x, 0, sizeof(st->x));
	st->x.req = r;
	st->x.seq = ++h->begun;
	st->x.h2 = 1;
	st->id = id;
	st->req_open = 1;
	st->req_seen = 0;
	llm_frame_start(&st->rqf, LLM_FRAME_BODY, NULL, NULL);
	llm_decoder_start(&st->rqd, coding);
	return st;
}

/* A response's header block ended: the final one starts its body. */
static void
resp_headers(struct llm_h2 *h, struct h2_stream *st, struct h2_block *b)
{
	if (b->over) {
		stream_done(h, st, 1);
		return;
	}
	if (!st->resp_open) {
		if (b->status >= 100 && b->status < 200)
			return; /* 100 Continue and other interim ones */
		st->x.status = b->status;
		llm_resp_start(&st->resp, &st->x, &st->rsf, b->mode);
		llm_decoder_start(&st->rsd, b->coding);
		st->resp_open = 1;
	}
	if (b->end_stream)
		stream_done(h, st, 0);
}

/* ---- header fields ---- */

static int
name_is(const nghttp2_nv *nv, const char *want)
{
	size_t n = strlen(want);

	return nv->namelen == n && memcmp(nv->name, want, n) == 0;
}

/* The value into dst; -1 (and "") when it does not fit. */
static int
keep(char *dst, size_t size, const nghttp2_nv *nv)
{
	if (nv->valuelen >= size) {
		dst[0] = '\0';
		return -1;
	}
	memcpy(dst, nv->value, nv->valuelen);
	dst[nv->valuelen] = '\0';
	return 0;
}

/* Another Content-Encoding field: two real codings are not decoded. */
static enum llm_coding
coding_add(enum llm_coding have, const nghttp2_nv *nv)
{
	enum llm_coding k = llm_coding_parse((const char *)nv->value,
	    nv->valuelen);

	if (k == LLM_CODING_IDENTITY)
		return have;
	return have == LLM_CODING_IDENTITY ? k : LLM_CODING_UNSUPPORTED;
}

static int
status_of(const nghttp2_nv *nv)
{
	const uint8_t *v = nv->value;

	if (nv->valuelen != 3 || v[0] < '1' || v[0] > '9' || v[1] < '0' ||
	    v[1] > '9' || v[2] < '0' || v[2] > '9')
		return 0;
	return (v[0] - '0') * 100 + (v[1] - '0') * 10 + (v[2] - '0');
}

static void
req_field(struct h2_reqhead *q, struct h2_block *b, const nghttp2_nv *nv)
{
	if (name_is(nv, ":method"))
		q->over |= keep(q->method, sizeof(q->method), nv);
	else if (name_is(nv, ":path"))
		q->over |= keep(q->path, sizeof(q->path), nv);
	else if (name_is(nv, ":authority"))
		q->over |= keep(q->authority, sizeof(q->authority), nv);
	else if (name_is(nv, "host"))
		q->over |= keep(q->host, sizeof(q->host), nv);
	else if (name_is(nv, "x-tollgate-tags"))
		keep(q->tags, sizeof(q->tags), nv);
	else if (name_is(nv, "content-encoding"))
		b->coding = coding_add(b->coding, nv);
}

static void
field(struct llm_h2 *h, struct h2_dir *d, const nghttp2_nv *nv)
{
	struct h2_block *b = &d->blk;

	if (b->over || b->push)
		return;
	if (d == &h->out) {
		if (b->open)
			req_field(&h->rq, b, nv);
	} else if (name_is(nv, ":status"))
		b->status = status_of(nv);
	else if (name_is(nv, "content-type"))
		b->mode = llm_resp_mode((const char *)nv->value, nv->valuelen);
	else if (name_is(nv, "content-encoding"))
		b->coding = coding_add(b->coding, nv);
}

/* ---- header blocks ---- */

/* Fragment bytes through the direction's inflater; final: the block's
 * end. 0, or -1 when HPACK is broken. */
static int
inflate(struct llm_h2 *h, struct h2_dir *d, const uint8_t *p, size_t n,
    int final)
{
	nghttp2_nv nv;
	ssize_t r;
	int fl;

	for (;;) {
		fl = 0;
		r = nghttp2_hd_inflate_hd2(d->hd, &nv, &fl, p, n, final);
		if (r < 0)
			return -1;
		p += r;
		n -= r;
		if (fl & NGHTTP2_HD_INFLATE_EMIT)
			field(h, d, &nv);
		if (fl & NGHTTP2_HD_INFLATE_FINAL) {
			nghttp2_hd_inflate_end_headers(d->hd);
			return 0;
		}
		if (!(fl & NGHTTP2_HD_INFLATE_EMIT) && n == 0)
			return 0;
	}
}

static void
block_begin(struct llm_h2 *h, struct h2_dir *d)
{
	struct h2_block *b = &d->blk;

	memset(b, 0, sizeof(*b));
	b->id = d->id;
	b->push = (d->type == T_PUSH_PROMISE);
	b->end_stream = !b->push && (d->flags & FL_END_STREAM);
	b->mode = LLM_FRAME_BODY;
	b->coding = LLM_CODING_IDENTITY;
	if (d == &h->out && !b->push && (d->id & 1) && d->id > h->last_id) {
		h->last_id = d->id;
		b->open = 1;
		memset(&h->rq, 0, sizeof(h->rq));
	}
}

static void
block_feed(struct llm_h2 *h, struct h2_dir *d, const char *p, size_t n)
{
	struct h2_block *b = &d->blk;

	if ((b->bytes += n) > LLM_HDRS_MAX)
		b->over = 1;
	if (inflate(h, d, (const uint8_t *)p, n, 0) != 0)
		h2_dead(h);
}

static void
block_end(struct llm_h2 *h, struct h2_dir *d)
{
	static const uint8_t none[1];
	struct h2_block *b = &d->blk;
	struct h2_stream *st;
	uint32_t id = b->id;

	b->id = 0;
	if (inflate(h, d, none, 0, 1) != 0) {
		h2_dead(h);
		return;
	}
	if (b->push)
		return;
	if (d == &h->out) {
		st = b->open ? (b->over ? NULL :
		    stream_open(h, id, b->coding)) : stream_find(h, id);
		if (st != NULL && b->end_stream)
			req_end(st);
	} else if ((st = stream_find(h, id)) != NULL)
		resp_headers(h, st, b);
}

/* ---- SETTINGS ---- */

static void
settings_feed(struct h2_dir *d, const char *p, size_t n)
{
	for (; n > 0; p++, n--) {
		d->ent[d->nent++] = (unsigned char)*p;
		if (d->nent < sizeof(d->ent))
			continue;
		d->nent = 0;
		if ((d->ent[0] << 8 | d->ent[1]) == SET_TABLE_SIZE)
			d->table = be32(d->ent + 2);
	}
}

/* d's SETTINGS ask the peer's encoder, from the peer's ACK on; d's ACK
 * says its own encoder follows what the peer asked. */
static void
settings_end(struct llm_h2 *h, struct h2_dir *d)
{
	struct h2_dir *peer = d == &h->out ? &h->in : &h->out;
	uint32_t v;

	if (!(d->flags & FL_ACK)) {
		if (peer->npend == LLM_H2_PEND_MAX)
			h2_dead(h);
		else
			peer->pend[peer->npend++] = d->table;
		return;
	}
	if (d->npend == 0)
		return; /* an ACK of nothing we saw */
	v = d->pend[0];
	memmove(d->pend, d->pend + 1, --d->npend * sizeof(d->pend[0]));
	if (v != NO_SIZE && nghttp2_hd_inflate_change_table_size(d->hd,
	    v < LLM_H2_TABLE_MAX ? v : LLM_H2_TABLE_MAX) != 0)
		h2_dead(h);
}

/* ---- frames ---- */

static int
padded(const struct h2_dir *d)
{
	return (d->flags & FL_PADDED) && (d->type == T_DATA ||
	    d->type == T_HEADERS || d->type == T_PUSH_PROMISE);
}

/* The fixed fields in front of a payload we read. */
static unsigned
lead_size(const struct h2_dir *d)
{
	switch (d->type) {
	case T_DATA:
		return padded(d);
	case T_HEADERS:
		return padded(d) + (d->flags & FL_PRIORITY ? 5 : 0);
	case T_PUSH_PROMISE:
		return padded(d) + 4;
	case T_RST_STREAM:
		return 4;
	case T_GOAWAY:
		return 8;
	default:
		return 0;
	}
}

/* Does the frame break the framing rules of what we read? */
static int
frame_bad(const struct h2_dir *d)
{
	int on_stream = d->type == T_DATA || d->type == T_HEADERS ||
	    d->type == T_PUSH_PROMISE || d->type == T_CONTINUATION ||
	    d->type == T_RST_STREAM;

	if (d->blk.id != 0) /* RFC 9113 6.10: a block's frames in a row */
		return d->type != T_CONTINUATION || d->id != d->blk.id;
	if (d->type == T_CONTINUATION || (on_stream && d->id == 0) ||
	    d->len < lead_size(d))
		return 1;
	if (d->type == T_SETTINGS)
		return d->id != 0 || d->len % 6 != 0 ||
		    ((d->flags & FL_ACK) && d->len != 0);
	if (d->type == T_GOAWAY)
		return d->id != 0;
	return d->type == T_RST_STREAM && d->len != 4;
}

static void
frame_end(struct llm_h2 *h, struct h2_dir *d)
{
	struct h2_stream *st;

	d->st = S_HEAD;
	d->nhead = 0;
	switch (d->type) {
	case T_DATA:
		if ((d->flags & FL_END_STREAM) &&
		    (st = stream_find(h, d->id)) != NULL) {
			if (d == &h->out)
				req_end(st);
			else
				stream_done(h, st, 0);
		}
		break;
	case T_HEADERS:
	case T_PUSH_PROMISE:
	case T_CONTINUATION:
		if (d->flags & FL_END_HEADERS)
			block_end(h, d);
		break;
	case T_SETTINGS:
		settings_end(h, d);
		break;
	case T_RST_STREAM:
		if ((st = stream_find(h, d->id)) != NULL)
			stream_done(h, st, 1);
		break;
	case T_GOAWAY: /* the server's: streams above it were not processed */
		if (d == &h->in)
			streams_cut(h, be32(d->lead) & 0x7fffffff);
		break;
	}
}

/* The fixed fields are in: the rest of the payload follows. */
static void
payload_begin(struct llm_h2 *h, struct h2_dir *d)
{
	d->pad = padded(d) ? d->lead[0] : 0;
	if (d->pad > d->left) {
		h2_dead(h);
		return;
	}
	if (d->type == T_HEADERS || d->type == T_PUSH_PROMISE)
		block_begin(h, d);
	else if (d->type == T_SETTINGS) {
		d->nent = 0;
		d->table = NO_SIZE;
	}
	d->st = S_PAYLOAD;
	if (d->left == 0)
		frame_end(h, d);
}

static void
frame_begin(struct llm_h2 *h, struct h2_dir *d)
{
	const unsigned char *p = d->head;

	d->len = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
	d->type = p[3];
	d->flags = p[4];
	d->id = be32(p + 5) & 0x7fffffff;
	if (frame_bad(d)) {
		h2_dead(h);
		return;
	}
	d->left = d->len;
	d->nlead = 0;
	d->want = lead_size(d);
	if (d->want > 0)
		d->st = S_LEAD;
	else
		payload_begin(h, d);
}

/* Payload bytes between the fixed fields and the padding. */
static void
payload(struct llm_h2 *h, struct h2_dir *d, const char *p, size_t n)
{
	struct h2_stream *st;

	switch (d->type) {
	case T_DATA:
		if ((st = stream_find(h, d->id)) == NULL)
			break;
		if (d == &h->out && st->req_open)
			llm_decoder_feed(&st->rqd, p, n, req_sink, st);
		else if (d == &h->in && st->resp_open)
			llm_decoder_feed(&st->rsd, p, n, llm_resp_sink,
			    &st->resp);
		break;
	case T_HEADERS:
	case T_PUSH_PROMISE:
	case T_CONTINUATION:
		block_feed(h, d, p, n);
		break;
	case T_SETTINGS:
		settings_feed(d, p, n);
		break;
	}
}

static size_t
take(struct llm_h2 *h, struct h2_dir *d, const char *p, size_t n)
{
	size_t k;

	switch (d->st) {
	case S_HEAD:
		k = n < 9 - d->nhead ? n : 9 - d->nhead;
		memcpy(d->head + d->nhead, p, k);
		if ((d->nhead += k) == 9)
			frame_begin(h, d);
		return k;
	case S_LEAD:
		k = n < d->want - d->nlead ? n : d->want - d->nlead;
		memcpy(d->lead + d->nlead, p, k);
		d->left -= k;
		if ((d->nlead += k) == d->want)
			payload_begin(h, d);
		return k;
	}
	if (d->left > d->pad) {
		k = n < d->left - d->pad ? n : d->left - d->pad;
		payload(h, d, p, k);
	} else
		k = n < d->left ? n : d->left; /* padding */
	if ((d->left -= k) == 0 && !h->dead)
		frame_end(h, d);
	return k;
}

static void
feed(struct llm_h2 *h, struct h2_dir *d, const char *p, size_t n)
{
	size_t k;

	while (n > 0 && !h->dead) {
		k = take(h, d, p, n);
		p += k;
		n -= k;
	}
}

/* ---- the connection ---- */

struct llm_h2 *
llm_h2_new(llm_done_fn done, void *arg)
{
	struct llm_h2 *h;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	h->done = done;
	h->arg = arg;
	if (nghttp2_hd_inflate_new(&h->out.hd) != 0 ||
	    nghttp2_hd_inflate_new(&h->in.hd) != 0) {
		llm_h2_free(h);
		return NULL;
	}
	return h;
}

void
llm_h2_out(struct llm_h2 *h, const char *p, size_t n)
{
	feed(h, &h->out, p, n);
}

void
llm_h2_in(struct llm_h2 *h, const char *p, size_t n)
{
	feed(h, &h->in, p, n);
}

void
llm_h2_free(struct llm_h2 *h)
{
	struct h2_stream *st;
	unsigned i;

	if (h == NULL)
		return;
	streams_cut(h, 0);
	for (i = 0; i < h->nst; i++) {
		st = h->st[i];
		llm_frame_free(&st->rqf);
		llm_frame_free(&st->rsf);
		llm_decoder_free(&st->rqd);
		llm_decoder_free(&st->rsd);
		free(st);
	}
	if (h->out.hd != NULL)
		nghttp2_hd_inflate_del(h->out.hd);
	if (h->in.hd != NULL)
		nghttp2_hd_inflate_del(h->in.hd);
	free(h);
}

uint64_t
llm_h2_begun(const struct llm_h2 *h)
{
	return h->begun;
}
