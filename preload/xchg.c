/* xchg.c — one metered LLM connection; see xchg.h. */
#include "xchg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "meter.h"
#include "settle.h"
#include "shim.h"

static const char h2_preface[] = "PRI * HTTP/2.0\r\n";

void
shim_xchg_init(struct shim_xchg *x)
{
	memset(x, 0, sizeof(*x));
	x->tail = &x->done;
}

int
shim_xchg_looks_llm(const struct iovec *v, int nv, size_t n)
{
	char b[sizeof(h2_preface) - 1];
	size_t k = 0, m;

	for (int i = 0; i < nv && k < sizeof(b) && k < n; i++) {
		m = v[i].iov_len;
		if (m > sizeof(b) - k)
			m = sizeof(b) - k;
		if (m > n - k)
			m = n - k;
		memcpy(b + k, v[i].iov_base, m);
		k += m;
	}
	/* a first write shorter than the marker: what it has must match */
	return k > 0 && (memcmp(b, "POST ", k < 5 ? k : 5) == 0 ||
	    memcmp(b, h2_preface, k) == 0);
}

/* The parser's callback, under the carrier's lock: a record. */
static void
on_done(void *arg, const struct llm_exchange *e)
{
	struct shim_xchg *x = arg;
	struct shim_xchg_meta m = { 0 };
	struct shim_done *d;
	int64_t now;

	if (x->silent)
		return;
	now = m.start_ns = shim_now_mono();
	if (x->meta[e->seq % SHIM_XCHG_RING].seq == e->seq && e->seq != 0)
		m = x->meta[e->seq % SHIM_XCHG_RING];
	if ((d = malloc(sizeof(*d))) == NULL)
		return;
	shim_meter_fill(&d->rec, e, (uint32_t)((now - m.start_ns) / 1000000));
	d->rec.admit_id = m.admit_id;
	/* HTTP/2 requests are metered, never held: said, not hidden */
	if (e->h2 && x->admits)
		tg_strlcpy(d->rec.decision, "unenforceable",
		    sizeof(d->rec.decision));
	if (m.delay_ms > 0) {
		d->rec.delay_ms = m.delay_ms;
		tg_strlcpy(d->rec.decision, "delay", sizeof(d->rec.decision));
		tg_strlcpy(d->rec.rule, m.rule, sizeof(d->rec.rule));
	}
	d->next = NULL;
	*x->tail = d;
	x->tail = &d->next;
}

int
shim_xchg_start(struct shim_xchg *x)
{
	shim_xchg_end(x, 0);
	x->conn = llm_conn_new(on_done, x);
	return x->conn != NULL ? 0 : -1;
}

static void
drop_parser(struct shim_xchg *x, int report)
{
	if (x->conn != NULL) {
		x->silent = !report;
		llm_conn_free(x->conn);
		x->silent = 0;
		x->conn = NULL;
	}
	x->noted = 0;
	memset(x->meta, 0, sizeof(x->meta));
}

void
shim_xchg_end(struct shim_xchg *x, int report)
{
	drop_parser(x, report);
	free(x->held);
	free(x->resp);
	x->held = x->resp = NULL;
	x->nheld = x->held_cap = x->nresp = x->resp_off = 0;
	x->holding = x->continued = x->refused = 0;
	x->epoch++;
}

static void
feed(struct llm_conn *c, const struct iovec *v, int nv, size_t n, int out)
{
	size_t m;

	for (int i = 0; i < nv && n > 0; i++) {
		if ((m = v[i].iov_len) > n)
			m = n;
		if (m == 0)
			continue;
		if (out)
			llm_conn_out(c, v[i].iov_base, m);
		else
			llm_conn_in(c, v[i].iov_base, m);
		n -= m;
	}
}

/* Each metered request begun since the last write starts a clock. */
static void
note_start(struct shim_xchg *x)
{
	uint64_t begun = llm_conn_begun(x->conn);
	struct shim_xchg_meta *m;
	int64_t now;

	if (begun == x->noted)
		return;
	now = shim_now_mono();
	while (x->noted < begun) {
		m = &x->meta[++x->noted % SHIM_XCHG_RING];
		memset(m, 0, sizeof(*m));
		m->seq = x->noted;
		m->start_ns = now;
	}
}

void
shim_xchg_out(struct shim_xchg *x, const struct iovec *v, int nv, size_t n)
{
	if (x->conn == NULL)
		return;
	feed(x->conn, v, nv, n, 1);
	note_start(x);
}

void
shim_xchg_in(struct shim_xchg *x, const struct iovec *v, int nv, size_t n)
{
	if (x->conn != NULL)
		feed(x->conn, v, nv, n, 0);
}

/* ---- admission: holding a request (xchg.h) ---- */

/* Copy the first n bytes of v to the held buffer; -1 without memory. */
static int
hold_append(struct shim_xchg *x, const struct iovec *v, int nv, size_t n)
{
	size_t m;

	if (x->nheld + n > x->held_cap) {
		size_t cap = x->held_cap ? x->held_cap : 4096;
		char *p;

		while (cap < x->nheld + n)
			cap *= 2;
		if ((p = realloc(x->held, cap)) == NULL)
			return -1;
		x->held = p;
		x->held_cap = cap;
	}
	for (int i = 0; i < nv && n > 0; i++) {
		m = v[i].iov_len < n ? v[i].iov_len : n;
		memcpy(x->held + x->nheld, v[i].iov_base, m);
		x->nheld += m;
		n -= m;
	}
	return 0;
}

/* What the parser says of the request once these bytes are in. */
static enum shim_xw
hold_state(struct shim_xchg *x)
{
	switch (llm_conn_state(x->conn)) {
	case LLM_REQ_HEADERS:
		return SHIM_XW_HELD;
	case LLM_REQ_BODY:
		if (llm_conn_expects_continue(x->conn) && !x->continued) {
			x->continued = 1;
			return SHIM_XW_RELEASE; /* the headers; still holding */
		}
		return SHIM_XW_HELD;
	case LLM_REQ_READY:
		return SHIM_XW_ADMIT;
	default:                /* not an LLM request: it goes as it is */
		x->holding = 0;
		return SHIM_XW_RELEASE;
	}
}

enum shim_xw
shim_xchg_write(struct shim_xchg *x, const struct iovec *v, int nv,
    size_t n, int gate, size_t *took)
{
	*took = 0;
	x->admits = gate;
	if (x->refused) {
		*took = n;
		return SHIM_XW_SWALLOW;
	}
	if (!x->holding) {
		if (!gate || x->conn == NULL ||
		    !llm_conn_at_request_start(x->conn))
			return SHIM_XW_REAL;
		x->holding = 1;
		x->continued = 0;
	}
	if (n > SHIM_XCHG_HOLD_MAX - x->nheld)
		n = SHIM_XCHG_HOLD_MAX - x->nheld;
	if (n == 0 || hold_append(x, v, nv, n) < 0) {
		x->holding = 0; /* send what is held, then this as it is */
		return SHIM_XW_RELEASE;
	}
	shim_xchg_out(x, v, nv, n);
	*took = n;
	return hold_state(x);
}

char *
shim_xchg_take_held(struct shim_xchg *x, size_t *n)
{
	char *p = x->held;

	*n = x->nheld;
	x->held = NULL;
	x->nheld = x->held_cap = 0;
	return p;
}

const struct llm_req *
shim_xchg_request(const struct shim_xchg *x)
{
	return x->holding && x->conn ? llm_conn_request(x->conn) : NULL;
}

void
shim_xchg_admitted(struct shim_xchg *x, uint64_t admit_id,
    uint32_t delay_ms, const char *rule)
{
	struct shim_xchg_meta *m;

	x->holding = 0;
	m = &x->meta[x->noted % SHIM_XCHG_RING];        /* the latest begun */
	if (x->noted == 0 || m->seq != x->noted)
		return;
	m->admit_id = admit_id;
	m->delay_ms = delay_ms;
	m->start_ns = shim_now_mono();  /* the latency is the provider's */
	tg_strlcpy(m->rule, rule, sizeof(m->rule));
}

void
shim_xchg_refused(struct shim_xchg *x, char *resp, size_t nresp)
{
	drop_parser(x, 0);
	free(x->held);
	x->held = NULL;
	x->nheld = x->held_cap = 0;
	free(x->resp);
	x->resp = resp;
	x->nresp = resp ? nresp : 0;
	x->resp_off = 0;
	x->holding = 0;
	x->refused = 1;
}

size_t
shim_xchg_answer(struct shim_xchg *x, const struct iovec *v, int nv,
    size_t n, int peek)
{
	size_t k = 0, off = x->resp_off, m;

	for (int i = 0; i < nv && k < n && off < x->nresp; i++) {
		m = v[i].iov_len;
		if (m > n - k)
			m = n - k;
		if (m > x->nresp - off)
			m = x->nresp - off;
		memcpy(v[i].iov_base, x->resp + off, m);
		off += m;
		k += m;
	}
	if (!peek)
		x->resp_off = off;
	return k;
}

struct shim_done *
shim_xchg_take(struct shim_xchg *x)
{
	struct shim_done *d = x->done;

	x->done = NULL;
	x->tail = &x->done;
	return d;
}

void
shim_done_settle(struct shim_done *d)
{
	struct shim_done *next;
	int saved = errno;

	if (d == NULL)
		return;
	shim_inside++;
	if (shim_meter_settle == shim_settle_record) {
		shim_settle_enqueue(d);
	} else {
		for (; d != NULL; d = next) {
			next = d->next;
			shim_meter_settle(&d->rec);
			free(d);
		}
	}
	shim_inside--;
	errno = saved;
}

void
shim_done_free(struct shim_done *d)
{
	struct shim_done *next;

	for (; d != NULL; d = next) {
		next = d->next;
		free(d);
	}
}
