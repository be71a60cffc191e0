/*
 * llm_http.c — one HTTP/1.1 connection as the client sees it (see llm.h
 * and llm_transport.h): the requests it writes, the responses it reads,
 * matched in order through a FIFO of LLM_PIPE_MAX pending exchanges
 * (keep-alive and pipelining).
 *
 * Requests: request line (origin or absolute form), then Host,
 * Content-Length, Transfer-Encoding, Content-Encoding, Expect,
 * X-Tollgate-Tags; at the header section's end llm_classify() says
 * whether the request is metered. A metered body is collected (bounded,
 * decoded) and read by llm_request_body() once complete: that is
 * LLM_REQ_READY, which lasts until the next request starts. A body past
 * LLM_CONN_MAX_BUF makes it READY at once with what is known (an input
 * estimate from the body's size); its end is then salvaged for the record.
 *
 * Responses: 1xx interim responses (100 Continue) are skipped; HEAD, 204
 * and 304 have no body; a response without length ends at the close. A
 * metered response goes to a framer by Content-Type: text/event-stream →
 * llm_usage_event() per event, application/x-ndjson → per line, anything
 * else → one body for llm_usage_body() at its end. Then done() gets the
 * exchange. An unmetered exchange is only framed, never decoded. A body
 * that fails to decode (corrupt, or a coding we lack) ends cut with its
 * usage unknown: nothing read from it is trusted.
 *
 * A connection whose first bytes written are the HTTP/2 client preface
 * is handed to an llm_h2 (llm_h2.c) from there on, both ways. Anything
 * else that is not HTTP/1.x (TLS, HTTP/2 joined midway, a protocol
 * switch, broken framing) makes the connection pass-through until
 * llm_conn_close(): pending exchanges end as cut, nothing more is looked
 * at. The callback must not call llm_conn_out/in/close/free on its own
 * connection.
 */
#include "llm_h2.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { M_IDLE, M_LINE, M_HEADERS, M_BODY, M_IGNORE };  /* llm_msg.st */

struct llm_slot {
	struct llm_exchange x;
	unsigned char metered, head, connect, expect;
};

/* One direction: a message being parsed, then its body. */
struct llm_msg {
	int st;
	char line[LLM_LINE_MAX];
	size_t llen;
	int lover;              /* the line passed LLM_LINE_MAX: cut short */
	size_t hbytes;          /* of the header section so far */
	int64_t clen;           /* -1: no Content-Length */
	int te, chunked, te_other;
	enum llm_coding coding;
	enum llm_frame_mode ctype;
	int close;
	int bad;                /* a framing header could not be read */
	uint64_t seen;          /* decoded body bytes (requests) */
	struct llm_body body;
	struct llm_frame frame;
};

struct llm_conn {
	llm_done_fn done;
	void *arg;
	int dead;               /* not HTTP/1.x: pass-through until close */
	int h2_pre;             /* preface bytes seen at the start; -1: past */
	struct llm_h2 *h2;      /* HTTP/2: it reads every byte */
	enum llm_req_state rstate;
	struct llm_slot slot[LLM_PIPE_MAX];
	unsigned head, count;   /* the oldest pending exchange; how many */
	uint64_t begun;         /* metered requests begun (llm_conn_begun) */
	struct llm_slot *cur;   /* the request written last */
	struct llm_msg rq, rs;
	struct llm_resp resp;   /* the metered response being read */
	/* the request being written, until classified */
	char method[16];
	char target[LLM_TARGET_MAX];
	int tover;              /* target too long (or unread): unmetered */
	char host[256];
	int hover;
	char tags[256];
	int status;             /* of the response being read */
};

/* ---- the FIFO ---- */

static struct llm_slot *
slot_head(struct llm_conn *c)
{
	return &c->slot[c->head];
}

static void
slot_pop(struct llm_conn *c)
{
	c->head = (c->head + 1) % LLM_PIPE_MAX;
	c->count--;
}

static void
emit(struct llm_conn *c, struct llm_slot *s)
{
	if (s->metered && c->done != NULL)
		c->done(c->arg, &s->x);
}

static void
msg_reset(struct llm_msg *m, int st)
{
	m->st = st;
	m->llen = 0;
	m->lover = 0;
	m->hbytes = 0;
	m->clen = -1;
	m->te = m->chunked = m->te_other = 0;
	m->coding = LLM_CODING_IDENTITY;
	m->ctype = LLM_FRAME_BODY;
	m->close = 0;
	m->bad = 0;
	m->seen = 0;
}

/* ---- responses: usage at the end ---- */

/* The response for the oldest exchange ended (cut: before its end). */
static void
resp_done(struct llm_conn *c, int cut)
{
	struct llm_slot *s = slot_head(c);
	struct llm_msg *m = &c->rs;

	if (s->metered) {
		/* unread when it began before its request was classified */
		if (c->resp.x == &s->x)
			llm_resp_end(&c->resp, &m->body.dec, cut);
		else
			s->x.cut |= cut;
		emit(c, s);
	}
	c->resp.x = NULL;
	llm_frame_release(&m->frame);
	slot_pop(c);
	msg_reset(m, m->close ? M_IGNORE : M_IDLE);
}

/* Every pending exchange ends, cut. */
static void
flush(struct llm_conn *c)
{
	struct llm_slot *s;

	while (c->count > 0) {
		if (c->rs.st == M_BODY) {
			resp_done(c, 1);
			continue;
		}
		s = slot_head(c);
		s->x.cut = 1;
		emit(c, s);
		slot_pop(c);
		msg_reset(&c->rs, M_IDLE);
	}
}

static void
conn_dead(struct llm_conn *c)
{
	flush(c);
	c->dead = 1;
	c->rstate = LLM_REQ_PASS;
	llm_frame_release(&c->rq.frame);
	llm_frame_release(&c->rs.frame);
}

/* ---- header lines, both directions ---- */

/* Takes bytes up to the next LF into m->line (kept up to LLM_LINE_MAX);
 * returns what it consumed, *whole set once the line is complete. */
static size_t
take_line(struct llm_msg *m, const char *p, size_t n, int *whole)
{
	const char *lf = memchr(p, '\n', n);
	size_t take = lf != NULL ? (size_t)(lf - p) : n;
	size_t room = sizeof(m->line) - 1 - m->llen, k;

	k = take < room ? take : room;
	memcpy(m->line + m->llen, p, k);
	m->llen += k;
	m->lover |= (take > room);
	*whole = (lf != NULL);
	m->hbytes += take + *whole;
	if (*whole) {
		if (!m->lover && m->llen > 0 && m->line[m->llen - 1] == '\r')
			m->llen--;
		m->line[m->llen] = '\0';
	}
	return take + *whole;
}

static int
name_is(const char *name, size_t n, const char *want)
{
	return strlen(want) == n && strncasecmp(name, want, n) == 0;
}

/* Does the comma list v hold token t (case-insensitive)? last: as its
 * last member. */
static int
list_has(const char *v, const char *t, int last)
{
	size_t tl = strlen(t), k;
	const char *p = v, *e;
	int found = 0;

	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		e = p + strcspn(p, ",");
		for (k = e - p; k > 0 && (p[k - 1] == ' ' || p[k - 1] == '\t'); )
			k--;
		found = (k == tl && strncasecmp(p, t, tl) == 0);
		if (found && !last)
			return 1;
		p = e;
	}
	return found;
}

static void
hdr_length(struct llm_msg *m, const char *v)
{
	int64_t n = 0;
	const char *p = v;

	if (*p == '\0')
		m->bad = 1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (n > (INT64_MAX - 9) / 10) {
			m->bad = 1;
			return;
		}
		n = n * 10 + (*p - '0');
	}
	if (*p != '\0' || (m->clen >= 0 && m->clen != n))
		m->bad = 1; /* not a number, or two that differ */
	m->clen = n;
}

static void
hdr_te(struct llm_msg *m, const char *v)
{
	m->te = 1;
	m->chunked = list_has(v, "chunked", 1);
	/* another transfer coding ("gzip, chunked") is not decoded here */
	m->te_other |= !m->chunked || strchr(v, ',') != NULL;
}

static void
hdr_coding(struct llm_msg *m, const char *v, int over)
{
	enum llm_coding k = over ? LLM_CODING_UNSUPPORTED :
	    llm_coding_parse(v, strlen(v));

	if (k == LLM_CODING_IDENTITY)
		return;
	m->coding = (m->coding == LLM_CODING_IDENTITY) ? k :
	    LLM_CODING_UNSUPPORTED;
}

/* Request-only headers; a value too long to keep is not kept. */
static void
hdr_request(struct llm_conn *c, const char *name, size_t nl, const char *v,
    int over)
{
	size_t n = strlen(v);

	if (name_is(name, nl, "host")) {
		c->hover = over || n >= sizeof(c->host);
		if (!c->hover)
			memcpy(c->host, v, n + 1);
	} else if (name_is(name, nl, "x-tollgate-tags")) {
		if (!over && n < sizeof(c->tags))
			memcpy(c->tags, v, n + 1);
	} else if (name_is(name, nl, "expect") && c->cur != NULL)
		c->cur->expect = (strcasecmp(v, "100-continue") == 0);
}

/* One header line of either direction. */
static void
header(struct llm_conn *c, struct llm_msg *m, int req)
{
	char *line = m->line, *colon, *v, *e;
	size_t nl;

	if (line[0] == ' ' || line[0] == '\t')
		return; /* obs-fold: a continuation, of nothing we read */
	if ((colon = memchr(line, ':', m->llen)) == NULL || colon == line) {
		if (!m->lover)
			conn_dead(c);
		return;
	}
	nl = colon - line;
	if (memchr(line, ' ', nl) != NULL || memchr(line, '\t', nl) != NULL) {
		conn_dead(c); /* RFC 9112 5.1: no space before the colon */
		return;
	}
	for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
		;
	for (e = line + m->llen; e > v && (e[-1] == ' ' || e[-1] == '\t'); )
		*--e = '\0';
	if (name_is(line, nl, "content-length"))
		m->lover ? (void)(m->bad = 1) : hdr_length(m, v);
	else if (name_is(line, nl, "transfer-encoding"))
		m->lover ? (void)(m->bad = 1) : hdr_te(m, v);
	else if (name_is(line, nl, "content-encoding"))
		hdr_coding(m, v, m->lover);
	else if (name_is(line, nl, "content-type"))
		m->ctype = llm_resp_mode(v, strlen(v));
	else if (name_is(line, nl, "connection"))
		m->close |= list_has(v, "close", 0);
	else if (req)
		hdr_request(c, line, nl, v, m->lover);
}

/* ---- requests ---- */

static int
tchar_upper(int ch)
{
	return ch >= 'A' && ch <= 'Z';
}

int
llm_host_clean(const char *h, size_t n, char *dst, size_t size)
{
	const char *e = h + n, *q;
	size_t i, k;

	if (n > 0 && h[0] == '[') { /* [v6]:port */
		if ((q = memchr(h, ']', n)) == NULL)
			return -1;
		h++;
		e = q;
	} else if ((q = memchr(h, ':', n)) != NULL)
		e = q;
	k = e - h;
	if (k >= size)
		return -1;
	for (i = 0; i < k; i++)
		dst[i] = tolower((unsigned char)h[i]);
	dst[k] = '\0';
	return 0;
}

/* The host and path of the request target (absolute form wins over
 * Host, RFC 9112 3.2.2). 0 or -1. */
static int
target_split(struct llm_conn *c, char *host, size_t hsize,
    const char **path)
{
	const char *t = c->target, *a, *e;

	*path = t;
	if (strncasecmp(t, "http://", 7) != 0 &&
	    strncasecmp(t, "https://", 8) != 0)
		return c->hover ? -1 :
		    llm_host_clean(c->host, strlen(c->host), host, hsize);
	a = strchr(t, '/') + 2;
	e = a + strcspn(a, "/?");
	*path = *e == '/' ? e : "/";
	return llm_host_clean(a, e - a, host, hsize);
}

static int
classify(struct llm_conn *c, struct llm_slot *s)
{
	struct llm_req *r = &s->x.req;
	char host[256];
	const char *path;

	if (c->tover || target_split(c, host, sizeof(host), &path) != 0)
		return 0;
	memset(r, 0, sizeof(*r));
	r->max_tokens = -1;
	if (llm_classify(c->method, path, host, r) != 1)
		return 0;
	if (r->host[0] == '\0')
		snprintf(r->host, sizeof(r->host), "%s", host);
	memcpy(r->tags, c->tags, sizeof(r->tags));
	return 1;
}

/* "METHOD SP target SP HTTP/1.x" */
static void
request_line(struct llm_conn *c, struct llm_msg *m)
{
	char *l = m->line, *sp, *t, *v;
	size_t ml;

	if ((sp = strchr(l, ' ')) == NULL || (ml = sp - l) == 0 ||
	    ml >= sizeof(c->method)) {
		conn_dead(c);
		return;
	}
	memcpy(c->method, l, ml);
	c->method[ml] = '\0';
	t = sp + 1;
	if ((v = strchr(t, ' ')) == NULL) {
		/* only a line cut short may lack its version: unmetered */
		c->tover = 1;
		if (!m->lover) {
			conn_dead(c);
			return;
		}
	} else if (strcmp(v + 1, "HTTP/1.1") != 0 &&
	    strcmp(v + 1, "HTTP/1.0") != 0) {
		conn_dead(c); /* HTTP/2's preface "PRI * HTTP/2.0" among them */
		return;
	} else if (v - t >= LLM_TARGET_MAX || m->lover)
		c->tover = 1;
	else {
		memcpy(c->target, t, v - t);
		c->target[v - t] = '\0';
	}
	c->cur->head = (strcmp(c->method, "HEAD") == 0);
	c->cur->connect = (strcmp(c->method, "CONNECT") == 0);
	m->st = M_HEADERS;
}

static void
req_sink(void *arg, const char *p, size_t n)
{
	struct llm_conn *c = arg;

	c->rq.seen += n;
	llm_frame_feed(&c->rq.frame, p, n);
}

/* The request body's size, for an estimate: known ahead when it has a
 * length and no coding. */
static uint64_t
req_size(struct llm_conn *c)
{
	if (c->rq.body.framing == LLM_BODY_LENGTH &&
	    c->rq.body.dec.coding == LLM_CODING_IDENTITY)
		return (uint64_t)c->rq.clen;
	return c->rq.seen;
}

static void
req_done(struct llm_conn *c)
{
	struct llm_msg *m = &c->rq;
	int bad;

	bad = llm_decoder_finish(&m->body.dec) != 0;
	if (c->cur->metered) {
		llm_req_end(&c->cur->x.req, &m->frame, bad, req_size(c));
		c->rstate = LLM_REQ_READY;
	} else
		c->rstate = LLM_REQ_IDLE;
	llm_frame_release(&m->frame);
	msg_reset(m, M_IDLE);
}

static void
req_headers_done(struct llm_conn *c)
{
	struct llm_msg *m = &c->rq;
	struct llm_slot *s = c->cur;
	enum llm_framing fr;

	if (m->bad || (m->te && !m->chunked)) {
		conn_dead(c); /* RFC 9112 6.3: a request's length must be known */
		return;
	}
	fr = m->te ? LLM_BODY_CHUNKED : m->clen >= 0 ? LLM_BODY_LENGTH :
	    LLM_BODY_NONE;
	s->metered = classify(c, s);
	if (s->metered)
		s->x.seq = ++c->begun;
	m->st = M_BODY;
	if (s->metered) {
		c->rstate = LLM_REQ_BODY;
		llm_frame_start(&m->frame, LLM_FRAME_BODY, NULL, NULL);
		llm_body_start(&m->body, fr, (uint64_t)m->clen,
		    m->te_other ? LLM_CODING_UNSUPPORTED : m->coding,
		    req_sink, c);
	} else {
		c->rstate = LLM_REQ_PASS;
		llm_body_start(&m->body, fr, (uint64_t)m->clen,
		    LLM_CODING_IDENTITY, NULL, NULL);
	}
	if (m->body.done)
		req_done(c);
}

/* A new request's first byte (after blank lines, which RFC 9112 2.2
 * lets a server skip). */
static size_t
req_begin(struct llm_conn *c, const char *p, size_t n)
{
	size_t i = 0;
	struct llm_slot *s;

	while (i < n && (p[i] == '\r' || p[i] == '\n'))
		i++;
	if (i == n)
		return n;
	if (!tchar_upper((unsigned char)p[i]) || c->count == LLM_PIPE_MAX) {
		conn_dead(c); /* not a method (TLS, h2…), or too deep a pipe */
		return n;
	}
	s = &c->slot[(c->head + c->count++) % LLM_PIPE_MAX];
	memset(s, 0, sizeof(*s));
	s->x.req.max_tokens = -1;
	c->cur = s;
	c->rstate = LLM_REQ_HEADERS;
	c->tover = c->hover = 0;
	c->host[0] = c->tags[0] = c->target[0] = '\0';
	msg_reset(&c->rq, M_LINE);
	return i;
}

static size_t
req_lines(struct llm_conn *c, const char *p, size_t n)
{
	struct llm_msg *m = &c->rq;
	size_t used;
	int whole;

	used = take_line(m, p, n, &whole);
	if (m->hbytes > LLM_HDRS_MAX) {
		conn_dead(c);
		return n;
	}
	if (!whole)
		return used;
	if (m->st == M_LINE)
		request_line(c, m);
	else if (m->llen == 0 && !m->lover)
		req_headers_done(c);
	else
		header(c, m, 1);
	m->llen = 0;
	m->lover = 0;
	return used;
}

static size_t
req_body(struct llm_conn *c, const char *p, size_t n)
{
	struct llm_msg *m = &c->rq;
	size_t used = llm_body_feed(&m->body, p, n);

	if (m->body.err) {
		conn_dead(c);
		return n;
	}
	if (c->rstate == LLM_REQ_BODY && m->frame.over) {
		/* too long to hold: admission goes on with what is known */
		llm_req_estimate(&c->cur->x.req, req_size(c));
		c->rstate = LLM_REQ_READY;
	}
	if (m->body.done)
		req_done(c);
	return used;
}

static void
http1_out(struct llm_conn *c, const char *p, size_t n)
{
	size_t used;

	while (n > 0 && !c->dead) {
		switch (c->rq.st) {
		case M_IDLE:
			used = req_begin(c, p, n);
			break;
		case M_LINE:
		case M_HEADERS:
			used = req_lines(c, p, n);
			break;
		case M_BODY:
			used = req_body(c, p, n);
			break;
		default:
			used = n;
			break;
		}
		p += used;
		n -= used;
	}
}

/* Matches a connection's first bytes against the HTTP/2 client preface;
 * returns how many it took. Whole, it hands the connection to an llm_h2;
 * at the first byte that differs, the part that matched goes to the
 * HTTP/1.x parser after all. */
static size_t
h2_preface(struct llm_conn *c, const char *p, size_t n)
{
	size_t k = 0;

	while (k < n && c->h2_pre < LLM_H2_PREFACE_LEN &&
	    p[k] == llm_h2_preface[c->h2_pre]) {
		k++;
		c->h2_pre++;
	}
	if (c->h2_pre == LLM_H2_PREFACE_LEN) {
		c->h2_pre = -1;
		if ((c->h2 = llm_h2_new(c->done, c->arg)) == NULL)
			conn_dead(c);
	} else if (k < n) {
		http1_out(c, llm_h2_preface, c->h2_pre);
		c->h2_pre = -1;
	}
	return k;
}

void
llm_conn_out(struct llm_conn *c, const void *buf, size_t n)
{
	const char *p = buf;
	size_t k;

	if (c->h2_pre >= 0 && !c->dead) {
		k = h2_preface(c, p, n);
		p += k;
		n -= k;
	}
	if (c->h2 != NULL)
		llm_h2_out(c->h2, p, n);
	else
		http1_out(c, p, n);
}

/* ---- responses ---- */

/* "HTTP/1.x SP 3DIGIT [SP reason]" */
static int
status_line(struct llm_conn *c, const char *l)
{
	if (strncmp(l, "HTTP/1.", 7) != 0 || (l[7] != '0' && l[7] != '1') ||
	    l[8] != ' ' || !isdigit((unsigned char)l[9]) ||
	    !isdigit((unsigned char)l[10]) || !isdigit((unsigned char)l[11]) ||
	    (l[12] != '\0' && l[12] != ' '))
		return -1;
	c->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
	return c->status >= 100 ? 0 : -1;
}

static enum llm_framing
resp_framing(struct llm_conn *c, struct llm_slot *s)
{
	struct llm_msg *m = &c->rs;

	if (s->head || c->status == 204 || c->status == 304)
		return LLM_BODY_NONE;
	if (m->te) /* chunked last, else to the close (RFC 9112 6.3) */
		return m->chunked ? LLM_BODY_CHUNKED : LLM_BODY_CLOSE;
	return m->clen >= 0 ? LLM_BODY_LENGTH : LLM_BODY_CLOSE;
}

static void
resp_headers_done(struct llm_conn *c)
{
	struct llm_msg *m = &c->rs;
	struct llm_slot *s = slot_head(c);
	enum llm_coding coding;
	enum llm_framing fr;

	if (m->bad || c->status == 101 || (s->connect && c->status / 100 == 2)) {
		conn_dead(c); /* a tunnel or another protocol from here */
		return;
	}
	if (c->status < 200) { /* 100 Continue and other interim ones */
		msg_reset(m, M_LINE);
		return;
	}
	s->x.status = c->status;
	fr = resp_framing(c, s);
	m->st = M_BODY;
	if (s->metered) {
		coding = m->te_other ? LLM_CODING_UNSUPPORTED : m->coding;
		llm_resp_start(&c->resp, &s->x, &m->frame, m->ctype);
		llm_body_start(&m->body, fr, (uint64_t)m->clen, coding,
		    llm_resp_sink, &c->resp);
	} else
		llm_body_start(&m->body, fr, (uint64_t)m->clen,
		    LLM_CODING_IDENTITY, NULL, NULL);
	if (m->body.done)
		resp_done(c, 0);
}

static size_t
resp_begin(struct llm_conn *c, const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && (p[i] == '\r' || p[i] == '\n'))
		i++;
	if (i == n)
		return n;
	if (c->count == 0 || p[i] != 'H') {
		conn_dead(c); /* unasked for (a gap), or not HTTP/1.x */
		return n;
	}
	msg_reset(&c->rs, M_LINE);
	return i;
}

static size_t
resp_lines(struct llm_conn *c, const char *p, size_t n)
{
	struct llm_msg *m = &c->rs;
	size_t used;
	int whole;

	used = take_line(m, p, n, &whole);
	if (m->hbytes > LLM_HDRS_MAX) {
		conn_dead(c);
		return n;
	}
	if (!whole)
		return used;
	if (m->st == M_LINE) {
		if (m->lover || status_line(c, m->line) != 0) {
			conn_dead(c);
			return n;
		}
		m->st = M_HEADERS;
	} else if (m->llen == 0 && !m->lover)
		resp_headers_done(c);
	else
		header(c, m, 0);
	m->llen = 0;
	m->lover = 0;
	return used;
}

static size_t
resp_body(struct llm_conn *c, const char *p, size_t n)
{
	struct llm_msg *m = &c->rs;
	size_t used = llm_body_feed(&m->body, p, n);

	if (m->body.err) {
		conn_dead(c);
		return n;
	}
	if (m->body.done)
		resp_done(c, 0);
	return used;
}

void
llm_conn_in(struct llm_conn *c, const void *buf, size_t n)
{
	const char *p = buf;
	size_t used;

	if (c->h2 != NULL) {
		llm_h2_in(c->h2, p, n);
		return;
	}
	while (n > 0 && !c->dead) {
		switch (c->rs.st) {
		case M_IDLE:
			used = resp_begin(c, p, n);
			break;
		case M_LINE:
		case M_HEADERS:
			used = resp_lines(c, p, n);
			break;
		case M_BODY:
			used = resp_body(c, p, n);
			break;
		default:
			used = n; /* after "Connection: close": nothing */
			break;
		}
		p += used;
		n -= used;
	}
}

/* ---- the connection ---- */

struct llm_conn *
llm_conn_new(llm_done_fn done, void *arg)
{
	struct llm_conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->done = done;
	c->arg = arg;
	msg_reset(&c->rq, M_IDLE);
	msg_reset(&c->rs, M_IDLE);
	return c;
}

void
llm_conn_close(struct llm_conn *c)
{
	llm_h2_free(c->h2);
	c->h2 = NULL;
	c->h2_pre = 0;
	if (!c->dead && c->rs.st == M_BODY &&
	    c->rs.body.framing == LLM_BODY_CLOSE)
		resp_done(c, 0); /* its proper end */
	flush(c);
	llm_frame_release(&c->rq.frame);
	llm_frame_release(&c->rs.frame);
	/* ready for the same socket's next connection */
	c->dead = 0;
	c->rstate = LLM_REQ_IDLE;
	c->head = c->count = 0;
	c->cur = NULL;
	msg_reset(&c->rq, M_IDLE);
	msg_reset(&c->rs, M_IDLE);
}

void
llm_conn_free(struct llm_conn *c)
{
	if (c == NULL)
		return;
	llm_conn_close(c);
	llm_body_free(&c->rq.body);
	llm_body_free(&c->rs.body);
	llm_frame_free(&c->rq.frame);
	llm_frame_free(&c->rs.frame);
	free(c);
}

enum llm_req_state
llm_conn_state(const struct llm_conn *c)
{
	/* no admission hold on HTTP/2 (yet) */
	return c->dead || c->h2 != NULL ? LLM_REQ_PASS : c->rstate;
}

const struct llm_req *
llm_conn_request(const struct llm_conn *c)
{
	if (c->dead || c->cur == NULL || !c->cur->metered)
		return NULL;
	return &c->cur->x.req;
}

uint64_t
llm_conn_begun(const struct llm_conn *c)
{
	return c->h2 != NULL ? llm_h2_begun(c->h2) : c->begun;
}

int
llm_conn_at_request_start(const struct llm_conn *c)
{
	/* not on HTTP/2, nor inside what may be its preface */
	return !c->dead && c->h2 == NULL && c->h2_pre <= 0 &&
	    c->rq.st == M_IDLE;
}

int
llm_conn_expects_continue(const struct llm_conn *c)
{
	return !c->dead && c->cur != NULL && c->cur->expect;
}
