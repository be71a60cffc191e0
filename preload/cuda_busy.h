/*
 * cuda_busy.h — what the busy-time files share (the design and its error
 * bound are in cuda_busy.c's header comment):
 *
 *   cuda_busy.c          the slow path of a launch, capture, streams and
 *                        contexts gone
 *   cuda_busy_exit.c     a thread's exit, the process's, a fork child
 *   cuda_busy_table.c    the state: contexts, streams, closed batches,
 *                        events (a free list per context)
 *   cuda_busy_harvest.c  the GPU thread's round: probe busy streams,
 *                        close idle ones' batches, cut long ones
 *   cuda_busy_time.c     each context's timeline (reference event), and
 *                        closed batches timed into its union
 *   cuda_busy_sleep.c    the GPU thread's sleep, cut short by a new batch
 *
 * Everything here is guarded by cb.mtx, which only slow paths and the
 * harvester take; the launch hot path never touches it.
 */
#ifndef SHIM_CUDA_BUSY_H
#define SHIM_CUDA_BUSY_H

#include <pthread.h>
#include <stdint.h>

#include "busy_union.h"
#include "cushim.h"

#define CB_CTXS 16          /* contexts with busy-time state */
#define CB_STREAMS 256      /* streams with busy-time state */
#define CB_PENDING 256      /* closed batches not yet timed */
#define CB_FREE_EVENTS 16   /* idle events kept per context */
#define CB_EVENTS_READY 4   /* the harvester keeps this many created */
#define CB_UNION_CAP 64     /* recent disjoint intervals per context */

#define CB_SHORT_NS 2000000LL      /* harvest period while batches live */
#define CB_LONG_NS 50000000LL      /* and CB_LINGER_NS after the last */
#define CB_LINGER_NS 100000000LL
#define CB_ROLL_NS 100000000LL     /* a busy stream's batch is cut */
#define CB_REBASE_NS 1000000000LL  /* a context's reference is renewed */

enum cb_kind {
	CB_EXPLICIT,  /* a stream the program created: its handle */
	CB_LEGACY,    /* the context's legacy default stream */
	CB_PTDS,      /* a thread's per-thread default stream */
};

/* Consecutive launches on one stream, between two events. */
struct cb_batch {
	CUevent a, b;
	int64_t a_ns;   /* A on the context's timeline, once timed */
	int a_timed;
	int slot;       /* the device slot, from the launching thread */
};

struct cu_stream {
	int used;
	enum cb_kind kind;
	CUstream h;          /* CB_EXPLICIT: the handle */
	uint64_t owner;      /* CB_PTDS: the thread's serial (cb_serial) */
	int cx;              /* its context: index in cb.cx */
	int capturing;
	int open;            /* cur is an open batch */
	int want_close;      /* CB_PTDS: the harvester asked for an end */
	CUstream rec_h;      /* CB_PTDS: how the opening launch named it */
	int rec_ptsz;
	CUevent probe;       /* explicit, legacy: recorded while busy */
	int probe_live;      /* no launch went to the stream since it */
	uint64_t fills;      /* slow paths that filled a cache for it */
	int64_t seen_ns;     /* when the harvester first saw cur open */
	int inflight;        /* slow-path launches between before and after */
	uint64_t gen;        /* which use of this entry (a ticket's check) */
	uint64_t last_use;   /* for eviction */
	struct cb_batch cur;
};

struct cb_ctx {
	int used;
	CUcontext ctx;
	CUstream hs;         /* ours, non-blocking: holds the reference */
	CUevent ref, ref_next;
	int64_t ref_base;    /* ref's time on this context's timeline */
	int64_t ref_at, ref_next_at; /* our clock when they were recorded */
	int ncapturing;      /* its streams marked capturing */
	int nfree;
	CUevent free[CB_FREE_EVENTS];
	struct busy_union u;
};

struct cb_pending {
	int used;
	int cx;
	struct cb_batch bt;
};

struct cb_state {
	pthread_mutex_t mtx;
	uint64_t use_clock, gen_clock;
	struct cb_ctx cx[CB_CTXS];
	struct cu_stream st[CB_STREAMS];
	struct cb_pending pend[CB_PENDING];
};

extern struct cb_state cb;

/* This thread's serial (never 0, never reused in a process). */
uint64_t cb_serial(void);
/* The calling thread's current context (NULL: none, or no driver). */
CUcontext cb_current_ctx(void);

/* ---- cuda_busy_exit.c ----------------------------------------------- */

/* This thread opened a batch on its per-thread stream: its exit must
 * close it (a key destructor). */
void cb_want_exit_hook(void);

/* ---- cuda_busy_table.c (cb.mtx held) -------------------------------- */

int cb_ctx_index(CUcontext ctx, int create);
struct cu_stream *cb_stream_find(int cx, enum cb_kind kind, CUstream h,
    uint64_t owner, int create);
void cb_stream_forget(struct cu_stream *s);
void cb_ctx_forget(int cx);

/* An idle event of context cx; one is created only when may_create (the
 * caller's current context is cx's). NULL when none. */
CUevent cb_ev_take(int cx, int may_create);
void cb_ev_give(int cx, CUevent e);

/* Record e on stream h as a function of variant ptsz would see it. */
CUresult cb_record(CUevent e, CUstream h, int ptsz);

/* Open a batch on s: record its start event before a launch named
 * (h, ptsz). 0, or -1 (no batch: nothing recorded). */
int cb_open(struct cu_stream *s, CUstream h, int ptsz, int slot,
    int may_create);
/* Close s's open batch with an end event recorded now on (h, ptsz); the
 * batch waits in cb.pend to be timed, or is dropped when that fails. */
void cb_close(struct cu_stream *s, CUstream h, int ptsz, int may_create);
/* The same with an end event already recorded (the stream's probe). */
void cb_close_at(struct cu_stream *s, CUevent b);
/* Record s's probe on (h, ptsz): where its queued work ends now (valid
 * while probe_live: a slow-path launch on s clears it). 0 or -1. */
int cb_probe(struct cu_stream *s, CUstream h, int ptsz);
/* Forget s's open batch without an end (its events go back). */
void cb_drop_open(struct cu_stream *s);
void cb_pend_drop(struct cb_pending *p);

/* Any batch open or waiting? */
int cb_live(void);

/* ---- cuda_busy_sleep.c (cb.mtx not held) ---------------------------- */

/* A batch was opened: a GPU thread in its long sleep starts a round. */
void cb_wake(void);
/* A round begins: openings from now on cut the next sleep short. */
void cb_round_begins(void);
void cb_sleep_reset(void); /* a fork child */

/* ---- cuda_busy_time.c (cb.mtx held) --------------------------------- */

int64_t cb_mono_ns(void);
/* Give context cx its reference event (the caller's current context is
 * cx's), and renew it every CB_REBASE_NS. */
void cb_ensure_ref(int cx, int64_t now);
void cb_rebase(int cx, int64_t now);

/* Time what completed in context cx: start events against its
 * reference, closed batches into its union; adds[slot] += new busy ns.
 * oneshot: the last timing before the context is forgotten (destroyed,
 * exit): with no reference yet, a batch's own start event serves. */
void cb_time_ctx(int cx, uint64_t adds[TG_PAGE_GPUS], int oneshot);

/* ns from a cuEventElapsedTime answer (ms as a float). */
int64_t cb_ms_to_ns(float ms);

/* ---- cuda_busy_harvest.c -------------------------------------------- */

/* The calling thread's capture mode becomes relaxed until cb_relaxed_end,
 * so its queries cannot invalidate another thread's capture. Returns the
 * mode to put back, or -1 when it could not be changed. */
int cb_relaxed_begin(void);
void cb_relaxed_end(int old);

/* Hand adds[] to the device counters (cb.mtx not held). */
void cb_add_busy(const uint64_t adds[TG_PAGE_GPUS]);

/* Every context: close the explicit and legacy streams' open batches
 * now, from the calling thread, and time what completed (cb.mtx not
 * held; the caller's current context is put back). */
void cb_flush_all(void);

#endif
