/*
 * cuda_busy_table.c — busy time's state (cuda_busy.h): bounded tables of
 * contexts, streams and closed batches, and each context's idle events.
 * Every function here runs with cb.mtx held. Events are made once per
 * context and reused: a steady state creates none.
 */
#include <string.h>

#include "cuda_busy.h"

struct cb_state cb = { .mtx = PTHREAD_MUTEX_INITIALIZER };

int
cb_ctx_index(CUcontext ctx, int create)
{
	int i, hole = -1;

	for (i = 0; i < CB_CTXS; i++) {
		if (cb.cx[i].used && cb.cx[i].ctx == ctx)
			return i;
		if (!cb.cx[i].used && hole < 0)
			hole = i;
	}
	if (!create || hole < 0)
		return -1;
	memset(&cb.cx[hole], 0, sizeof(cb.cx[hole]));
	cb.cx[hole].used = 1;
	cb.cx[hole].ctx = ctx;
	busy_union_init(&cb.cx[hole].u, CB_UNION_CAP);
	return hole;
}

static int
same(const struct cu_stream *s, int cx, enum cb_kind kind, CUstream h,
    uint64_t owner)
{
	return s->used && s->cx == cx && s->kind == kind &&
	    (kind != CB_EXPLICIT || s->h == h) &&
	    (kind != CB_PTDS || s->owner == owner);
}

/* A free entry, or the least recently used one with nothing open (no
 * thread's cache can name it: caches are filled only while a batch is
 * open, and dropped when it closes). */
static struct cu_stream *
stream_slot(void)
{
	struct cu_stream *best = NULL;

	for (int i = 0; i < CB_STREAMS; i++) {
		struct cu_stream *s = &cb.st[i];

		if (!s->used)
			return s;
		if (!s->open && !s->capturing && !s->inflight &&
		    (best == NULL || s->last_use < best->last_use))
			best = s;
	}
	if (best)
		cb_stream_forget(best);
	return best;
}

struct cu_stream *
cb_stream_find(int cx, enum cb_kind kind, CUstream h, uint64_t owner,
    int create)
{
	struct cu_stream *s;

	for (int i = 0; i < CB_STREAMS; i++)
		if (same(&cb.st[i], cx, kind, h, owner)) {
			cb.st[i].last_use = ++cb.use_clock;
			return &cb.st[i];
		}
	if (!create || (s = stream_slot()) == NULL)
		return NULL;
	memset(s, 0, sizeof(*s));
	s->used = 1;
	s->kind = kind;
	s->h = kind == CB_EXPLICIT ? h : NULL;
	s->owner = kind == CB_PTDS ? owner : 0;
	s->cx = cx;
	s->gen = ++cb.gen_clock;
	s->last_use = ++cb.use_clock;
	return s;
}

void
cb_stream_forget(struct cu_stream *s)
{
	if (s->open)
		cb_drop_open(s);
	cb_ev_give(s->cx, s->probe);
	if (s->capturing && cb.cx[s->cx].ncapturing > 0)
		cb.cx[s->cx].ncapturing--;
	memset(s, 0, sizeof(*s));
}

/* The context is going away with everything made in it: forget without
 * calling the driver (its events and our stream die with it). */
void
cb_ctx_forget(int cx)
{
	for (int i = 0; i < CB_STREAMS; i++)
		if (cb.st[i].used && cb.st[i].cx == cx)
			memset(&cb.st[i], 0, sizeof(cb.st[i]));
	for (int i = 0; i < CB_PENDING; i++)
		if (cb.pend[i].used && cb.pend[i].cx == cx)
			memset(&cb.pend[i], 0, sizeof(cb.pend[i]));
	memset(&cb.cx[cx], 0, sizeof(cb.cx[cx]));
}

CUevent
cb_ev_take(int cx, int may_create)
{
	struct cb_ctx *c = &cb.cx[cx];
	tg_pfn_cuEventCreate create;
	CUevent e = NULL;

	if (c->nfree > 0)
		return c->free[--c->nfree];
	if (!may_create || (create = CU_REAL(cuEventCreate)) == NULL ||
	    create(&e, CU_EVENT_DEFAULT) != CUDA_SUCCESS)
		return NULL;
	return e;
}

void
cb_ev_give(int cx, CUevent e)
{
	struct cb_ctx *c = &cb.cx[cx];
	tg_pfn_cuEventDestroy_v2 destroy;

	if (e == NULL)
		return;
	if (c->nfree < CB_FREE_EVENTS) {
		c->free[c->nfree++] = e;
		return;
	}
	if ((destroy = CU_REAL(cuEventDestroy_v2)) != NULL)
		destroy(e);
}

CUresult
cb_record(CUevent e, CUstream h, int ptsz)
{
	void *f = ptsz ? cu_real_get(TG_FN_cuEventRecord_ptsz) :
	    cu_real_get(TG_FN_cuEventRecord);

	if (f == NULL)
		return CUDA_ERROR_NOT_INITIALIZED;
	return ((tg_pfn_cuEventRecord)f)(e, h);
}

int
cb_open(struct cu_stream *s, CUstream h, int ptsz, int slot, int may_create)
{
	CUevent a = cb_ev_take(s->cx, may_create);

	if (a == NULL)
		return -1;
	if (cb_record(a, h, ptsz) != CUDA_SUCCESS) {
		cb_ev_give(s->cx, a);
		return -1;
	}
	memset(&s->cur, 0, sizeof(s->cur));
	s->cur.a = a;
	s->cur.slot = slot;
	s->open = 1;
	s->want_close = s->probe_live = 0;
	s->seen_ns = 0;
	return 0;
}

static struct cb_pending *
pend_slot(void)
{
	for (int i = 0; i < CB_PENDING; i++)
		if (!cb.pend[i].used)
			return &cb.pend[i];
	return NULL;
}

/* The open batch ends at b (recorded): it waits to be timed. */
void
cb_close_at(struct cu_stream *s, CUevent b)
{
	struct cb_pending *p = pend_slot();

	if (p == NULL) {
		cb_ev_give(s->cx, b);
		cb_drop_open(s);
		return;
	}
	p->used = 1;
	p->cx = s->cx;
	p->bt = s->cur;
	p->bt.b = b;
	memset(&s->cur, 0, sizeof(s->cur));
	s->open = s->want_close = s->probe_live = 0;
	s->seen_ns = 0;
}

void
cb_close(struct cu_stream *s, CUstream h, int ptsz, int may_create)
{
	CUevent b = pend_slot() ? cb_ev_take(s->cx, may_create) : NULL;

	if (b == NULL || cb_record(b, h, ptsz) != CUDA_SUCCESS) {
		cb_ev_give(s->cx, b);
		cb_drop_open(s);
		return;
	}
	cb_close_at(s, b);
}

int
cb_probe(struct cu_stream *s, CUstream h, int ptsz)
{
	if (s->probe == NULL && (s->probe = cb_ev_take(s->cx, 1)) == NULL)
		return -1;
	s->probe_live = cb_record(s->probe, h, ptsz) == CUDA_SUCCESS;
	return s->probe_live ? 0 : -1;
}

void
cb_drop_open(struct cu_stream *s)
{
	cb_ev_give(s->cx, s->cur.a);
	memset(&s->cur, 0, sizeof(s->cur));
	s->open = s->want_close = s->probe_live = 0;
	s->seen_ns = 0;
}

void
cb_pend_drop(struct cb_pending *p)
{
	cb_ev_give(p->cx, p->bt.a);
	cb_ev_give(p->cx, p->bt.b);
	memset(p, 0, sizeof(*p));
}

int
cb_live(void)
{
	for (int i = 0; i < CB_STREAMS; i++)
		if (cb.st[i].used && cb.st[i].open)
			return 1;
	for (int i = 0; i < CB_PENDING; i++)
		if (cb.pend[i].used)
			return 1;
	return 0;
}
