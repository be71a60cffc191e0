/*
 * cuda_busy.c — GPU busy time: how long each device had kernels running,
 * overlapping streams counted once. The launch slow path, capture, streams
 * and contexts gone, thread exit and fork are here; the harvest round is in
 * cuda_busy_harvest.c, the tables in cuda_busy_table.c (cuda_busy.h).
 *
 * Batches. A stream's busy time is measured by an event pair around a
 * batch of consecutive launches. The slow path of a launch on a stream
 * with no open batch records a start event A on that very stream (the
 * same handle and function variant as the launch) just before the launch,
 * then fills the thread's cache, so the next launches on that stream go
 * the hot path, which records nothing. The batch ends with an event B:
 *  - explicit and legacy streams: the harvester (the GPU thread) watches
 *    them with cuStreamQuery. Each round that finds one busy records a
 *    probe P on it (where its queued work ends) and moves cu_epoch, so the
 *    next launch on it takes the slow path and says so (probe_live = 0).
 *    When the stream is found idle, the batch ends at P if nothing was
 *    launched after P — exactly where the work ended — else at a B
 *    recorded now. While it stays busy the batch is cut every CB_ROLL_NS
 *    (a new A, then B: a launch slipping in between is in both, and the
 *    union counts it once); a slow-path launch between its A and the
 *    driver (inflight) keeps the stream from being taken for idle;
 *  - a per-thread default stream only its own thread can name: the
 *    harvester asks (want_close, then cu_epoch moves), and that thread's
 *    next launch on it records B after the launch and leaves no batch
 *    open: the launch after opens a new one. A thread that exits with a
 *    batch open records B from its key destructor; cu_busy_flush does
 *    the same for the calling thread at process exit.
 * Whenever the harvester closes a batch it moves cu_epoch first, so no
 * thread keeps a cache that names a closed batch. The race left: a launch
 * whose thread checked its cache just before the move may reach the driver
 * just after B (or after a probe, unseen), outside any batch; the window
 * is the few ns between the hot path's epoch load and the driver taking
 * the launch.
 *
 * Time. Per context the harvester records a reference event R, once, on a
 * non-blocking stream of its own (never the legacy stream: that would
 * order the program's blocking streams behind it); A is timed as soon as
 * it completes, as base + cuEventElapsedTime(R, A), and a closed batch is
 * [A, A + elapsed(A, B)). R is renewed every CB_REBASE_NS (base += the
 * elapsed time from the old to the new) because elapsed times are floats:
 * against a fixed R their resolution would decay to milliseconds in hours.
 * (An A that completes just as R is renewed is timed against the new R, a
 * small negative elapsed time; a driver that refused it would drop that
 * one batch.)
 * The batches of a context go into its union (lib/busy_union), so kernels
 * overlapping on different streams count once, and only the newly
 * covered ns go to the batch's device (cu_acct_add_busy, the slot taken
 * by the launching thread when the batch opened).
 *
 * Error bound. Inside a batch the time between A and B counts as busy,
 * idle gaps included:
 *  - explicit and legacy streams: exact when the stream was seen busy
 *    after its last launch (the usual case: work outlasts its launching);
 *    otherwise B lands at most one harvest period (CB_SHORT_NS, plus the
 *    GPU thread's scheduling delay) after the stream went idle, so each
 *    busy→idle transition adds at most one period; a batch opened while
 *    the GPU thread sleeps long wakes it (cu_busy_sleep), so that bound
 *    holds from the first launch; nothing is undercounted but the race
 *    above;
 *  - per-thread default streams: B lands after the first launch following
 *    the harvester's ask, so an idle gap before that launch (the thread
 *    computing or sleeping with its stream drained) counts as busy; a
 *    gap after it does not (the next batch starts at the next launch);
 *  - overlaps across contexts (two contexts on one device) count twice:
 *    their timelines cannot be compared;
 *  - float resolution: under 0.1 µs per batch (R is at most ~1 s old);
 *  - a batch ended by its context's destruction, its thread's exit or
 *    the process's exit (cu_busy_flush) ends then: its stream's idle time
 *    up to that moment counts;
 *  - a batch whose event fails, and batches still running when their
 *    context is destroyed or the process exits, count nothing.
 * Recording P or B on the legacy stream orders the context's blocking
 * streams' later work behind their current work, as any legacy-stream
 * operation does; it happens only while the program uses the legacy
 * stream itself (a batch is open there), at most once per round.
 *
 * Capture. No event is ever recorded on a capturing stream: capture_begin
 * (before the real call) closes the stream's open batch from the calling
 * thread and marks it; launches on it count 0 kernels (the graph launch
 * counts them) and never fill the cache, so each one sees the mark.
 * capture_end unmarks it unless cuStreamIsCapturing says it still
 * captures. The harvester runs in the relaxed capture mode, never queries
 * or records on a marked stream, and skips the legacy stream of a context
 * with any marked stream (querying it then invalidates the capture).
 */
#include <string.h>

#include "cuda_busy.h"

static __thread uint64_t my_serial;
static _Atomic uint64_t serials;

uint64_t
cb_serial(void)
{
	if (my_serial == 0)
		my_serial = atomic_fetch_add(&serials, 1) + 1;
	return my_serial;
}

CUcontext
cb_current_ctx(void)
{
	tg_pfn_cuCtxGetCurrent get = CU_REAL(cuCtxGetCurrent);
	CUcontext c = NULL;

	if (get == NULL || get(&c) != CUDA_SUCCESS)
		return NULL;
	return c;
}

/* Which stream a launch of variant ptsz on h really goes to. */
static enum cb_kind
kind_of(CUstream h, int ptsz)
{
	if (h == CU_STREAM_PER_THREAD || (h == NULL && ptsz))
		return CB_PTDS;
	if (h == NULL || h == CU_STREAM_LEGACY)
		return CB_LEGACY;
	return CB_EXPLICIT;
}

/* The state of (h, ptsz) in the current context ctx. */
static struct cu_stream *
lookup(CUcontext ctx, CUstream h, int ptsz, int create)
{
	int cx = cb_ctx_index(ctx, create);
	enum cb_kind k = kind_of(h, ptsz);

	if (cx < 0)
		return NULL;
	return cb_stream_find(cx, k, h, k == CB_PTDS ? cb_serial() : 0, create);
}

static void
fill(struct cu_thread *t, uint64_t epoch, CUstream h, int ptsz,
    struct cu_stream *s)
{
	if (t == NULL)
		return;
	t->epoch = epoch;
	t->stream = h;
	t->ptsz = ptsz;
	t->s = s;
}

/* The slow-path launch this thread has between before and after (one at
 * a time: a launch does not nest). */
static __thread struct {
	struct cu_stream *s;
	uint64_t gen, fills;
	CUstream h;
	int ptsz;
	int opened;     /* this launch opened the stream's batch */
} here;

/* Open a batch on s for a launch on (h, ptsz); 0 when one is open. */
static int
open_batch(struct cu_stream *s, CUstream h, int ptsz, int slot)
{
	if (s->kind == CB_LEGACY && cb.cx[s->cx].ncapturing > 0)
		return -1; /* work there would break the capture anyway */
	if (cb_open(s, h, ptsz, slot, 1) != 0)
		return -1;
	if (s->kind == CB_PTDS) {
		s->rec_h = h;
		s->rec_ptsz = ptsz;
		cb_want_exit_hook();
	}
	return 0;
}

void
cu_busy_before(struct cu_thread *t, CUstream h, int ptsz,
    struct cu_ticket *tk)
{
	/* Read first: a bump during this slow path leaves the cache stale. */
	uint64_t epoch = atomic_load_explicit(&cu_epoch, memory_order_acquire);
	CUcontext ctx = cb_current_ctx();
	int slot = ctx ? cu_ctx_slot(ctx) : -1;
	struct cu_stream *s;

	memset(tk, 0, sizeof(*tk));
	tk->count = 1;
	memset(&here, 0, sizeof(here));
	if (ctx == NULL)
		return; /* the launch fails: no context */
	pthread_mutex_lock(&cb.mtx);
	s = lookup(ctx, h, ptsz, 1);
	if (s == NULL) {
		fill(t, epoch, h, ptsz, NULL); /* tables full: not sampled */
	} else if (s->capturing) {
		tk->count = 0;
	} else if (s->open && s->kind == CB_PTDS && s->want_close) {
		tk->record_after = 1;
	} else if (s->open) {
		s->probe_live = 0; /* work goes in after the probe */
		s->fills++;
		fill(t, epoch, h, ptsz, s);
	} else if (open_batch(s, h, ptsz, slot) == 0) {
		here.opened = 1;
		/* An explicit or legacy stream gets a probe after this launch
		 * (cu_busy_after), valid until the next launch: that one must
		 * take the slow path to say so, so no cache is filled yet. */
		if (s->kind == CB_PTDS)
			fill(t, epoch, h, ptsz, s);
	}
	if (s != NULL && s->open) {
		/* Until after: the harvester must not take the stream for
		 * idle while this launch is on its way. */
		s->inflight++;
		tk->s = s;
		here.s = s;
		here.gen = s->gen;
		here.fills = s->fills;
		here.h = h;
		here.ptsz = ptsz;
	}
	pthread_mutex_unlock(&cb.mtx);
}

/* After the launch, with cb.mtx held and s still the entry seen before. */
static void
after_launch(struct cu_stream *s, const struct cu_ticket *tk)
{
	s->inflight--;
	if (!s->open || s->capturing)
		return;
	if (tk->record_after && s->kind == CB_PTDS && s->owner == cb_serial())
		cb_close(s, s->rec_h, s->rec_ptsz, 1);
	else if (here.opened && s->kind != CB_PTDS && s->fills == here.fills)
		cb_probe(s, here.h, here.ptsz);
}

void
cu_busy_after(struct cu_thread *t, struct cu_ticket *tk, CUresult rc)
{
	struct cu_stream *s = here.s;

	(void)t;
	(void)rc; /* a failed launch still ends the batch: B goes on anyway */
	if (s != NULL) {
		pthread_mutex_lock(&cb.mtx);
		/* Not forgotten meanwhile (a stream or context gone)? */
		if (s->used && s->gen == here.gen)
			after_launch(s, tk);
		pthread_mutex_unlock(&cb.mtx);
	}
	if (here.opened) {
		/* After the launch: woken first, the GPU thread could run its
		 * round before this launch reaches the driver. */
		cb_wake();
	}
	memset(&here, 0, sizeof(here));
}

/* s captures from now on: its open batch ends first (here: the caller's
 * current context is s's). */
static void
mark_capturing(struct cu_stream *s, CUstream h, int ptsz, int here)
{
	if (s->open)
		cb_close(s, h, ptsz, here);
	if (!s->capturing) {
		s->capturing = 1;
		cb.cx[s->cx].ncapturing++;
	}
}

void
cu_busy_capture_begin(CUstream h, int ptsz)
{
	CUcontext ctx = cb_current_ctx();
	struct cu_stream *s;

	if (ctx == NULL || kind_of(h, ptsz) == CB_LEGACY)
		return; /* the legacy stream cannot capture */
	pthread_mutex_lock(&cb.mtx);
	if ((s = lookup(ctx, h, ptsz, 1)) != NULL)
		mark_capturing(s, h, ptsz, 1);
	/* A handle is one stream whatever context is current: any other
	 * entry of it (made while another context was) captures too. */
	for (int i = 0; i < CB_STREAMS && kind_of(h, ptsz) == CB_EXPLICIT; i++)
		if (cb.st[i].used && cb.st[i].kind == CB_EXPLICIT &&
		    cb.st[i].h == h && &cb.st[i] != s)
			mark_capturing(&cb.st[i], h, ptsz, 0);
	pthread_mutex_unlock(&cb.mtx);
	cu_epoch_bump();
}

/* Does (h, ptsz) still capture? An error (a stream gone) means no. */
static int
still_capturing(CUstream h, int ptsz)
{
	void *f = ptsz ? cu_real_get(TG_FN_cuStreamIsCapturing_ptsz) :
	    cu_real_get(TG_FN_cuStreamIsCapturing);
	CUstreamCaptureStatus st = CU_STREAM_CAPTURE_STATUS_NONE;

	if (f == NULL ||
	    ((tg_pfn_cuStreamIsCapturing)f)(h, &st) != CUDA_SUCCESS)
		return 0;
	return st != CU_STREAM_CAPTURE_STATUS_NONE;
}

void
cu_busy_capture_end(CUstream h, int ptsz)
{
	CUcontext ctx = cb_current_ctx();
	struct cu_stream *s, *own;
	int over;

	if (ctx == NULL || kind_of(h, ptsz) == CB_LEGACY)
		return;
	pthread_mutex_lock(&cb.mtx);
	own = lookup(ctx, h, ptsz, 0);
	/* An end from the wrong thread, or a second begin refused while the
	 * first capture goes on, leaves the stream capturing. */
	over = !still_capturing(h, ptsz);
	for (int i = 0; over && i < CB_STREAMS; i++) {
		s = &cb.st[i];
		if (s->used && s->capturing && (s == own ||
		    (s->kind == CB_EXPLICIT && s->h == h))) {
			s->capturing = 0;
			cb.cx[s->cx].ncapturing--;
		}
	}
	pthread_mutex_unlock(&cb.mtx);
	cu_epoch_bump();
}

void
cu_busy_stream_gone(CUstream h)
{
	int found = 0;

	if (kind_of(h, 0) != CB_EXPLICIT)
		return;
	pthread_mutex_lock(&cb.mtx);
	for (int i = 0; i < CB_STREAMS; i++) {
		struct cu_stream *s = &cb.st[i];

		if (!s->used || s->kind != CB_EXPLICIT || s->h != h)
			continue;
		/* Its queued work still runs: end the batch behind it. The
		 * caller's context may be another: use an event made already. */
		if (s->open)
			cb_close(s, h, 0, 0);
		cb_stream_forget(s);
		found = 1;
	}
	pthread_mutex_unlock(&cb.mtx);
	if (found)
		cu_epoch_bump(); /* the handle may come back as another stream */
}

void
cu_busy_ctx_gone(CUcontext ctx)
{
	uint64_t adds[TG_PAGE_GPUS] = { 0 };
	int mode, cx, here = cb_current_ctx() == ctx;

	pthread_mutex_lock(&cb.mtx);
	if ((cx = cb_ctx_index(ctx, 0)) < 0) {
		pthread_mutex_unlock(&cb.mtx);
		return;
	}
	/* Save what can be saved: end the batches this thread can end, and
	 * time what already completed (typically: synchronized, then
	 * destroyed). */
	for (int i = 0; i < CB_STREAMS; i++) {
		struct cu_stream *s = &cb.st[i];

		if (!s->used || s->cx != cx || !s->open)
			continue;
		if (s->kind == CB_EXPLICIT)
			cb_close(s, s->h, 0, here);
		else if (here && s->kind == CB_LEGACY &&
		    cb.cx[cx].ncapturing == 0)
			cb_close(s, CU_STREAM_LEGACY, 0, 1);
		else if (here && s->kind == CB_PTDS && s->owner == cb_serial())
			cb_close(s, s->rec_h, s->rec_ptsz, 1);
	}
	mode = cb_relaxed_begin();
	cb_time_ctx(cx, adds, 1);
	cb_relaxed_end(mode);
	cb_ctx_forget(cx);
	pthread_mutex_unlock(&cb.mtx);
	cb_add_busy(adds);
	cu_epoch_bump();
}
