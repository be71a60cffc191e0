/*
 * cuda_busy_time.c — busy time's clocks (design: cuda_busy.c). A context's
 * timeline is its reference event R plus an offset: a start event A is
 * placed at base + cuEventElapsedTime(R, A) once it completes, a closed
 * batch is [A, A + elapsed(A, B)), and the union of those is its busy
 * time. R is renewed every CB_REBASE_NS, the offset carried over, so the
 * floats stay precise. What touches the tables runs with cb.mtx held.
 */
#include <time.h>

#include "cuda_busy.h"

int64_t
cb_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t
cb_ms_to_ns(float ms)
{
	double ns = (double)ms * 1e6; /* by hand: the shim links no libm */

	return (int64_t)(ns < 0 ? ns - 0.5 : ns + 0.5);
}

static CUresult
elapsed(float *ms, CUevent a, CUevent b)
{
	void *f = cu_real_get(TG_FN_cuEventElapsedTime_v2);

	if (f == NULL)
		f = cu_real_get(TG_FN_cuEventElapsedTime);
	if (f == NULL)
		return CUDA_ERROR_NOT_INITIALIZED;
	return ((tg_pfn_cuEventElapsedTime)f)(ms, a, b);
}

/* Completion is polled with cuEventQuery, as cuda.h asks: elapsed-time
 * answers are not meant for it. */
static CUresult
done(CUevent e)
{
	tg_pfn_cuEventQuery query = CU_REAL(cuEventQuery);

	return query ? query(e) : CUDA_ERROR_NOT_INITIALIZED;
}

/* A timeline: a reference event and its time. */
struct tl {
	CUevent ref;
	int64_t base;
};

/* Time bt's start against the timeline, once A completed. */
static CUresult
time_start(const struct tl *tl, struct cb_batch *bt)
{
	float ms;
	CUresult rc;

	if (bt->a_timed)
		return CUDA_SUCCESS;
	if (tl->ref == NULL)
		return CUDA_ERROR_NOT_READY;
	if ((rc = done(bt->a)) != CUDA_SUCCESS)
		return rc;
	if ((rc = elapsed(&ms, tl->ref, bt->a)) == CUDA_SUCCESS) {
		bt->a_ns = tl->base + cb_ms_to_ns(ms);
		bt->a_timed = 1;
	}
	return rc;
}

/* A closed batch whose events completed: its new part of the union. */
static void
time_closed(const struct tl *tl, struct cb_pending *p,
    uint64_t adds[TG_PAGE_GPUS])
{
	struct cb_ctx *c = &cb.cx[p->cx];
	CUresult rc = time_start(tl, &p->bt);
	int64_t dur;
	uint64_t n;
	float ms;

	if (rc == CUDA_SUCCESS && (rc = done(p->bt.b)) == CUDA_SUCCESS &&
	    (rc = elapsed(&ms, p->bt.a, p->bt.b)) == CUDA_SUCCESS) {
		dur = cb_ms_to_ns(ms);
		n = busy_union_add(&c->u, p->bt.a_ns,
		    p->bt.a_ns + (dur > 0 ? dur : 0));
		if (p->bt.slot >= 0 && p->bt.slot < TG_PAGE_GPUS)
			adds[p->bt.slot] += n;
	}
	if (rc != CUDA_ERROR_NOT_READY)
		cb_pend_drop(p); /* timed, or failed: no time invented */
}

/* The context's reference; for a last timing (oneshot) of a context
 * that has none yet, any start event of its batches serves: any event of
 * the context gives the same differences. */
static struct tl
timeline(int cx, int oneshot)
{
	struct tl tl = { cb.cx[cx].ref, cb.cx[cx].ref_base };

	for (int i = 0; i < CB_PENDING && tl.ref == NULL && oneshot; i++)
		if (cb.pend[i].used && cb.pend[i].cx == cx)
			tl.ref = cb.pend[i].bt.a;
	return tl;
}

void
cb_time_ctx(int cx, uint64_t adds[TG_PAGE_GPUS], int oneshot)
{
	struct tl tl = timeline(cx, oneshot);
	CUresult rc;

	/* Open batches' starts first, while R is recent: precision. Not
	 * against a borrowed reference: they may outlive this call. */
	for (int i = 0; i < CB_STREAMS && tl.ref == cb.cx[cx].ref; i++) {
		struct cu_stream *s = &cb.st[i];

		if (!s->used || s->cx != cx || !s->open)
			continue;
		rc = time_start(&tl, &s->cur);
		if (rc != CUDA_SUCCESS && rc != CUDA_ERROR_NOT_READY) {
			cb_drop_open(s);
			cu_epoch_bump();
		}
	}
	for (int i = 0; i < CB_PENDING; i++)
		if (cb.pend[i].used && cb.pend[i].cx == cx)
			time_closed(&tl, &cb.pend[i], adds);
}

void
cb_ensure_ref(int cx, int64_t now)
{
	struct cb_ctx *c = &cb.cx[cx];
	tg_pfn_cuStreamCreate create = CU_REAL(cuStreamCreate);
	CUevent e;

	if (c->ref != NULL)
		return;
	if (c->hs == NULL && (create == NULL ||
	    create(&c->hs, CU_STREAM_NON_BLOCKING) != CUDA_SUCCESS)) {
		c->hs = NULL;
		return;
	}
	if ((e = cb_ev_take(cx, 1)) == NULL)
		return;
	if (cb_record(e, c->hs, 0) != CUDA_SUCCESS) {
		cb_ev_give(cx, e);
		return;
	}
	c->ref = e;
	c->ref_at = now;
}

/* A new reference every CB_REBASE_NS; it takes over once both are
 * complete and the distance between them is known. */
void
cb_rebase(int cx, int64_t now)
{
	struct cb_ctx *c = &cb.cx[cx];
	CUresult rc;
	float ms;

	if (c->ref == NULL)
		return;
	if (c->ref_next == NULL) {
		if (now - c->ref_at < CB_REBASE_NS ||
		    (c->ref_next = cb_ev_take(cx, 1)) == NULL)
			return;
		c->ref_next_at = now;
		if (cb_record(c->ref_next, c->hs, 0) != CUDA_SUCCESS)
			goto fail;
		return;
	}
	if ((rc = done(c->ref_next)) == CUDA_SUCCESS)
		rc = elapsed(&ms, c->ref, c->ref_next);
	if (rc == CUDA_ERROR_NOT_READY)
		return;
	if (rc != CUDA_SUCCESS)
		goto fail;
	c->ref_base += cb_ms_to_ns(ms);
	cb_ev_give(cx, c->ref);
	c->ref = c->ref_next;
	c->ref_at = c->ref_next_at;
	c->ref_next = NULL;
	return;
fail:
	cb_ev_give(cx, c->ref_next);
	c->ref_next = NULL;
	c->ref_at = now; /* try again a period later */
}
