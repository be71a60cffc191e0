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
#include <time.h>

#include "cuda_busy.h"

static int64_t
mono_ns(void)
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

	if (rc == CUDA_SUCCESS && (rc = elapsed(&ms, p->bt.a, p->bt.b)) ==
	    CUDA_SUCCESS) {
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

static void
ensure_ref(int cx, int64_t now)
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
static void
rebase(int cx, int64_t now)
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
	if (s->probe == NULL && (s->probe = cb_ev_take(s->cx, 1)) == NULL)
		return;
	s->probe_live = cb_record(s->probe, h, 0) == CUDA_SUCCESS;
	if (s->probe_live)
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
	ensure_ref(cx, now);
	for (int i = 0; i < CB_STREAMS; i++)
		if (cb.st[i].used && cb.st[i].cx == cx && cb.st[i].open)
			check_open(&cb.st[i], now, close_all);
	cb_time_ctx(cx, adds, close_all);
	if (close_all)
		return;
	rebase(cx, now);
	top_up(cx);
}

/* The GPU thread's sleep: a batch opened during a long one (nothing was
 * open) starts a round at once, or its first idle check would come up to
 * CB_LONG_NS late — more than the error bound allows. */
static struct {
	pthread_mutex_t mtx;
	pthread_cond_t cv;
	int cv_ok, woken;
	_Atomic int long_sleep; /* the GPU thread is in (or entering) one */
	_Atomic int pending;    /* a batch opened since the round began */
} zz = { .mtx = PTHREAD_MUTEX_INITIALIZER };
static pthread_once_t zz_once = PTHREAD_ONCE_INIT;

static void
zz_init(void)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	zz.cv_ok = pthread_condattr_setclock(&a, CLOCK_MONOTONIC) == 0 &&
	    pthread_cond_init(&zz.cv, &a) == 0;
	pthread_condattr_destroy(&a);
}

void
cu_busy_sleep(int64_t ns)
{
	struct timespec until, ts;
	int64_t t;

	pthread_once(&zz_once, zz_init);
	if (!zz.cv_ok || ns <= CB_SHORT_NS) {
		ts.tv_sec = ns / 1000000000LL;
		ts.tv_nsec = ns % 1000000000LL;
		nanosleep(&ts, NULL);
		return;
	}
	t = mono_ns() + ns;
	until.tv_sec = t / 1000000000LL;
	until.tv_nsec = t % 1000000000LL;
	pthread_mutex_lock(&zz.mtx);
	zz.woken = 0;
	/* long_sleep, then pending (cb_wake: the other way round): one of
	 * us sees the other's store, so no opening is missed. */
	atomic_store(&zz.long_sleep, 1);
	if (!atomic_exchange(&zz.pending, 0))
		while (!zz.woken &&
		    pthread_cond_timedwait(&zz.cv, &zz.mtx, &until) == 0)
			;
	atomic_store(&zz.long_sleep, 0);
	pthread_mutex_unlock(&zz.mtx);
}

void
cb_wake(void)
{
	atomic_store(&zz.pending, 1);
	if (!atomic_load(&zz.long_sleep))
		return;
	pthread_mutex_lock(&zz.mtx);
	zz.woken = 1;
	pthread_cond_signal(&zz.cv);
	pthread_mutex_unlock(&zz.mtx);
}

/* A fork child: the lock's holder may not exist here. */
void
cb_sleep_reset(void)
{
	pthread_mutex_init(&zz.mtx, NULL);
	zz.woken = 0;
	atomic_store(&zz.long_sleep, 0);
	atomic_store(&zz.pending, 0);
}

static __thread int relaxed; /* this thread's capture mode is relaxed */

int64_t
cu_busy_harvest(void)
{
	uint64_t adds[TG_PAGE_GPUS] = { 0 };
	int64_t now = mono_ns();
	int live;

	if (!relaxed)
		relaxed = 1;
	/* A batch opened from here on is seen by this round or, if too
	 * late for it, cuts the sleep after it short. */
	atomic_store(&zz.pending, 0);
	for (int cx = 0; cx < CB_CTXS; cx++) {
		pthread_mutex_lock(&cb.mtx);
		if (cb.cx[cx].used)
			round_ctx(cx, now, 0, adds);
		pthread_mutex_unlock(&cb.mtx);
	}
	pthread_mutex_lock(&cb.mtx);
	live = cb_live();
	pthread_mutex_unlock(&cb.mtx);
	cb_add_busy(adds);
	return live ? CB_SHORT_NS : CB_LONG_NS;
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
			round_ctx(cx, mono_ns(), 1, adds);
	pthread_mutex_unlock(&cb.mtx);
	set(was);
	cb_relaxed_end(mode);
	cb_add_busy(adds);
}
