/*
 * cuda_busy_harvest.c — the GPU thread's busy-time round (design and
 * error bound: cuda_busy.c). Per context, with cb.mtx held (so a capture
 * cannot begin, nor a stream or context go, under a query):
 *   1. make sure the context has its reference event R;
 *   2. explicit and legacy streams with an open batch: busy → record a
 *      probe P and move cu_epoch, so a launch after P is seen (its slow
 *      path clears probe_live); idle → the batch ends at P when nothing
 *      was launched after it (exact), else at a B recorded now; busy for
 *      CB_ROLL_NS → a new A, then B for the old batch; per-thread
 *      streams: ask their thread for B (want_close + cu_epoch);
 *   3. time what completed: A against R, closed batches into the union;
 *   4. renew R when it is CB_REBASE_NS old; keep a few events made.
 * The busy ns found go to the devices after the lock is let go.
 */
#include "cuda_busy.h"

int
cb_relaxed_begin(void)
{
	tg_pfn_cuThreadExchangeStreamCaptureMode x =
	    CU_REAL(cuThreadExchangeStreamCaptureMode);
	CUstreamCaptureMode m = CU_STREAM_CAPTURE_MODE_RELAXED;

	if (x == NULL || x(&m) != CUDA_SUCCESS)
		return -1;
	return (int)m;
}

void
cb_relaxed_end(int old)
{
	tg_pfn_cuThreadExchangeStreamCaptureMode x =
	    CU_REAL(cuThreadExchangeStreamCaptureMode);
	CUstreamCaptureMode m = (CUstreamCaptureMode)old;

	if (old >= 0 && x != NULL)
		x(&m);
}

void
cb_add_busy(const uint64_t adds[TG_PAGE_GPUS])
{
	for (int i = 0; i < TG_PAGE_GPUS; i++)
		if (adds[i])
			cu_acct_add_busy(i, adds[i]);
}

static void
top_up(int cx)
{
	struct cb_ctx *c = &cb.cx[cx];
	tg_pfn_cuEventCreate create = CU_REAL(cuEventCreate);
	CUevent e;

	while (create != NULL && c->nfree < CB_EVENTS_READY &&
	    create(&e, CU_EVENT_DEFAULT) == CUDA_SUCCESS)
		c->free[c->nfree++] = e;
}

static int
pend_room(void)
{
	for (int i = 0; i < CB_PENDING; i++)
		if (!cb.pend[i].used)
			return 1;
	return 0;
}

/* A busy stream's batch is cut: the new A is recorded before the old
 * batch's B, so a launch slipping in between is in both (counted once by
 * the union) rather than in neither. */
static void
roll(struct cu_stream *s, CUstream h, int64_t now)
{
	struct cb_batch old = s->cur;
	CUevent a;

	if (!pend_room() || (a = cb_ev_take(s->cx, 1)) == NULL)
		return;
	if (cb_record(a, h, 0) != CUDA_SUCCESS) {
		cb_ev_give(s->cx, a);
		return;
	}
	cb_close(s, h, 0, 1);
	s->cur = (struct cb_batch){ .a = a, .slot = old.slot };
	s->open = 1;
	s->probe_live = 0;
	s->seen_ns = now;
}

/* Mark where the stream's queued work ends now. */
static void
probe(struct cu_stream *s, CUstream h)
{
	if (cb_probe(s, h, 0) == 0)
		cu_epoch_bump(); /* the next launch on it takes the slow path */
}

/* The stream is idle: its batch ends at the probe when no launch came
 * after it (where the work really ended), else now. */
static void
close_idle(struct cu_stream *s, CUstream h)
{
	cu_epoch_bump(); /* before B: see the race in cuda_busy.c */
	if (s->probe_live) {
		cb_close_at(s, s->probe);
		s->probe = NULL;
	} else {
		cb_close(s, h, 0, 1);
	}
}

/* Step 2 for one stream with an open batch; close_all: at exit, no
 * query, every batch ends now. */
static void
check_open(struct cu_stream *s, int64_t now, int close_all)
{
	struct cb_ctx *c = &cb.cx[s->cx];
	CUstream h = s->kind == CB_LEGACY ? CU_STREAM_LEGACY : s->h;
	tg_pfn_cuStreamQuery query = CU_REAL(cuStreamQuery);
	CUresult rc;

	if (s->capturing || (s->kind == CB_LEGACY && c->ncapturing > 0))
		return;
	/* A launch between its A (or its cache check) and the driver: the
	 * stream may look idle only because that launch is not there yet. */
	if (s->inflight && !close_all)
		return;
	if (s->kind == CB_PTDS) {
		if (!s->want_close && !close_all) {
			s->want_close = 1;
			cu_epoch_bump();
		}
		return;
	}
	if (s->seen_ns == 0)
		s->seen_ns = now;
	rc = close_all ? CUDA_SUCCESS : query ? query(h) :
	    CUDA_ERROR_NOT_INITIALIZED;
	if (rc == CUDA_SUCCESS) {
		close_idle(s, h);
	} else if (rc == CUDA_ERROR_NOT_READY) {
		if (now - s->seen_ns >= CB_ROLL_NS)
			roll(s, h, now);
		else
			probe(s, h);
	} else {
		cu_epoch_bump(); /* the stream is gone or broken */
		if (s->kind == CB_EXPLICIT)
			cb_stream_forget(s);
		else
			cb_drop_open(s);
	}
}

/* One context's round; the calling thread's current context is set to
 * it (the GPU thread's own, or put back by cb_flush_all). */
static void
round_ctx(int cx, int64_t now, int close_all, uint64_t adds[TG_PAGE_GPUS])
{
	tg_pfn_cuCtxSetCurrent set = CU_REAL(cuCtxSetCurrent);

	if (set == NULL || set(cb.cx[cx].ctx) != CUDA_SUCCESS) {
		cb_ctx_forget(cx); /* destroyed behind our back */
		cu_epoch_bump();
		return;
	}
	cb_ensure_ref(cx, now);
	for (int i = 0; i < CB_STREAMS; i++)
		if (cb.st[i].used && cb.st[i].cx == cx && cb.st[i].open)
			check_open(&cb.st[i], now, close_all);
	cb_time_ctx(cx, adds, close_all);
	if (close_all)
		return;
	cb_rebase(cx, now);
	top_up(cx);
}

static __thread int relaxed; /* this thread's capture mode is relaxed */
static __thread int64_t last_live; /* a round began or ended with a batch */

int64_t
cu_busy_harvest(void)
{
	uint64_t adds[TG_PAGE_GPUS] = { 0 };
	int64_t now = cb_mono_ns();

	if (!relaxed)
		relaxed = cb_relaxed_begin() >= 0;
	cb_round_begins();
	pthread_mutex_lock(&cb.mtx);
	if (cb_live())
		last_live = now;
	pthread_mutex_unlock(&cb.mtx);
	for (int cx = 0; cx < CB_CTXS; cx++) {
		pthread_mutex_lock(&cb.mtx);
		if (cb.cx[cx].used)
			round_ctx(cx, now, 0, adds);
		pthread_mutex_unlock(&cb.mtx);
	}
	pthread_mutex_lock(&cb.mtx);
	if (cb_live())
		last_live = now;
	pthread_mutex_unlock(&cb.mtx);
	cb_add_busy(adds);
	/* Short rounds go on for a while after the last batch: a program
	 * whose tiny kernels leave each batch idle at once would otherwise
	 * wake the GPU thread at nearly every launch (cb_wake). */
	return now - last_live < CB_LINGER_NS ? CB_SHORT_NS : CB_LONG_NS;
}

void
cb_flush_all(void)
{
	tg_pfn_cuCtxGetCurrent get = CU_REAL(cuCtxGetCurrent);
	tg_pfn_cuCtxSetCurrent set = CU_REAL(cuCtxSetCurrent);
	uint64_t adds[TG_PAGE_GPUS] = { 0 };
	CUcontext was = NULL;
	int mode;

	if (get == NULL || set == NULL || get(&was) != CUDA_SUCCESS)
		return;
	mode = cb_relaxed_begin();
	pthread_mutex_lock(&cb.mtx);
	for (int cx = 0; cx < CB_CTXS; cx++)
		if (cb.cx[cx].used)
			round_ctx(cx, cb_mono_ns(), 1, adds);
	pthread_mutex_unlock(&cb.mtx);
	set(was);
	cb_relaxed_end(mode);
	cb_add_busy(adds);
}
