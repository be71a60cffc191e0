/* xchg.c — one metered LLM connection; see xchg.h. */
#include "xchg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "meter.h"
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
	struct shim_done *d;
	int64_t now, t0;

	if (x->silent)
		return;
	now = t0 = shim_now_mono();
	if (x->finished != x->started)
		t0 = x->start_ns[x->finished++ % SHIM_XCHG_RING];
	if ((d = malloc(sizeof(*d))) == NULL)
		return;
	shim_meter_fill(&d->rec, e, (uint32_t)((now - t0) / 1000000));
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

void
shim_xchg_end(struct shim_xchg *x, int report)
{
	if (x->conn != NULL) {
		x->silent = !report;
		llm_conn_free(x->conn);
		x->silent = 0;
		x->conn = NULL;
	}
	x->cur = NULL;
	x->started = x->finished = 0;
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

/* A metered request that appeared since the last write starts a clock
 * (consecutive requests use distinct slots: a new pointer). */
static void
note_start(struct shim_xchg *x)
{
	const struct llm_req *r = llm_conn_request(x->conn);

	if (r != NULL && r != x->cur &&
	    x->started - x->finished < SHIM_XCHG_RING)
		x->start_ns[x->started++ % SHIM_XCHG_RING] = shim_now_mono();
	x->cur = r;
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
	for (; d != NULL; d = next) {
		next = d->next;
		shim_meter_settle(&d->rec);
		free(d);
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
