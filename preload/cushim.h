/*
 * cushim.h — what the shim's CUDA parts share (issue 5). The driver API
 * itself is declared in lib/cuda_abi.h.
 *
 *   cuda_real.c     the driver's own functions, by TG_FN_* index;
 *                   wrappers answer CUDA_ERROR_NOT_INITIALIZED until one
 *                   is found
 *   hook_dlsym.c    the dlsym override (tail call into the real one)
 *   cuda_procaddr.c cuGetProcAddress(_v2): the real answer mapped to our
 *                   wrapper of the same function and version
 *   cuda_launch.c   the launch wrappers: count, verdict, busy sampling
 *   cuda_graph.c    kernel nodes per executable graph
 *   cuda_ctx.c      contexts: held time per device
 *   cuda_mem.c      allocations: in use, high-water, the cap
 *   cuda_verdict.c  pause, throttle, deny (the verdict page's word)
 *   cuda_busy.c     busy time: event pairs, harvested by the GPU thread
 *   cuda_acct.c     the process's GPU numbers and their copy on the
 *                   counters page; the GPU thread
 *
 * The hot path (a launch that changes nothing): one TLS pointer, three
 * loads compared with what this thread cached, the verdict word, the real
 * call, one plain store to a per-thread counter. Everything else happens
 * in slow paths, entered when the thread's cache is stale (cu_epoch moved:
 * a capture began or ended, a context or stream changed, the harvester
 * wants a sample, a fork), the stream is another than last time, or the
 * verdict is not TG_RUN.
 */
#ifndef SHIM_CUSHIM_H
#define SHIM_CUSHIM_H

#include <stdatomic.h>
#include <stdint.h>

#include "cuda_abi.h"
#include "page.h"

#define CU_LIKELY(x) __builtin_expect(!!(x), 1)
#define CU_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---- cuda_real.c ---------------------------------------------------- */

/* The driver's functions; NULL until found. Filled by cu_real_find (the
 * next definition after us, or libcuda.so.1 once it is loaded) and by
 * cuGetProcAddress/dlsym answers. Read with relaxed loads. */
extern void *_Atomic cu_real[TG_FN_COUNT];

/* The real function i, looking for it when not known yet: NULL while no
 * driver is loaded. */
void *cu_real_find(int i);

#define CU_REAL(name) ((tg_pfn_##name)cu_real_get(TG_FN_##name))
static inline void *
cu_real_get(int i)
{
	void *p = atomic_load_explicit(&cu_real[i], memory_order_relaxed);

	return CU_LIKELY(p != NULL) ? p : cu_real_find(i);
}

/* In a wrapper: no driver loaded yet. */
#define CU_NOT_INIT(real) do { if ((real) == NULL) \
	return CUDA_ERROR_NOT_INITIALIZED; } while (0)

/* Our wrapper of function i (exported symbol), or NULL when we do not
 * hook it. */
void *cu_wrapper(int i);

/* The index of a hooked symbol name ("cuLaunchKernel_ptsz"), or -1. */
int cu_fn_index(const char *sym);

/* Given the driver's pointer p (from its dlsym or cuGetProcAddress):
 * remember it as the real function when it is one of ours' real ones, and
 * return what the caller should get: our wrapper, or p unchanged. */
void *cu_real_adopt(void *p);

/* The row cuGetProcAddress(base, version, flags) means, or -1; and
 * cu_real_adopt for an answer that is not an exported address: then the
 * row's wrapper calls p. */
int cu_row_for(const char *base, int version, int per_thread);
void *cu_real_adopt_row(int row, void *p);

/* The real dlsym (cuda_real.c), found by cu_dlsym_init: our own lookups
 * of cu* names go to it, never through the override. */
extern void *(*cu_dlsym_real)(void *, const char *);
void cu_dlsym_init(void);

/* ---- per-thread state (cuda_launch.c) -------------------------------- */

/* Bumped when every thread's cache must be dropped. */
extern _Atomic uint64_t cu_epoch;
static inline void
cu_epoch_bump(void)
{
	atomic_fetch_add_explicit(&cu_epoch, 1, memory_order_release);
}

struct cu_stream; /* cuda_busy.c */

struct cu_thread {
	/* The cache: while epoch == cu_epoch and a launch names the same
	 * stream (handle and variant), that launch is counted and needs no
	 * busy sampling. */
	uint64_t epoch;
	CUstream stream;
	int ptsz;
	struct cu_stream *s;
	/* Streams this thread launched on lately, valid while recent_epoch
	 * == cu_epoch: a program that cycles over a few streams refills the
	 * cache from here without a slow path (cuda_launch.c). */
	uint64_t recent_epoch;
	struct { CUstream h; int ptsz; struct cu_stream *s; } recent[4];
	unsigned recent_next;
	/* Written by this thread only (relaxed stores); read by the GPU
	 * thread (relaxed loads). */
	_Atomic uint64_t launches;       /* kernels that ran */
	_Atomic uint64_t graph_launches;
	/* The slot table's bookkeeping (cuda_threads.c). */
	int slot;
} __attribute__((aligned(64))); /* no cache line shared */

extern __thread struct cu_thread *cu_self
    __attribute__((tls_model("initial-exec")));

/* This thread's state, made on its first launch (NULL when no slot could
 * be had: the launch is then counted in a shared atomic instead). */
struct cu_thread *cu_thread_attach(void);

/* All threads' counts, the exited ones' included (cuda_threads.c). */
void cu_threads_sum(uint64_t *launches, uint64_t *graphs);
void cu_threads_child(void);

/* Kernel nodes of an executable graph, child graphs included (0 for one
 * we did not see instantiated), cuda_graph.c. */
uint64_t cu_graph_kernels(CUgraphExec g);

/* ---- cuda_acct.c ---------------------------------------------------- */

/* The device slot (0..TG_PAGE_GPUS-1) of ordinal dev, learning its name
 * and uuid the first time; -1 when the table is full. */
int cu_dev_slot(CUdevice dev);
/* The device slot of the calling thread's current context (-1: none). */
int cu_dev_slot_current(void);

void cu_acct_add_busy(int slot, uint64_t ns);
void cu_acct_hold_begin(int slot);  /* a context on it came to life */
void cu_acct_hold_end(int slot);    /* one went away */
void cu_acct_mem(int slot, int64_t delta); /* in use += delta */
void cu_acct_refused(int what);     /* CU_REFUSED_LAUNCH / _ALLOC */
void cu_acct_blocked(int what, uint64_t ns); /* CU_BLOCKED_PAUSE/_THROTTLE */
void cu_acct_shared_launch(uint64_t kernels, uint64_t graphs);
enum { CU_REFUSED_LAUNCH, CU_REFUSED_ALLOC };
enum { CU_BLOCKED_PAUSE, CU_BLOCKED_THROTTLE };

/* Register with the daemon if this process has not, and start the GPU
 * thread (a first context, from a slow path). */
void cu_acct_start(void);

/* Copy the numbers to the counters page now (the GPU thread every
 * CU_PUBLISH_NS; context changes; exit). */
void cu_acct_publish(void);

/* A fork child is detected (its first CUDA slow path, or the atfork
 * handler) and forgets the parent's GPU state. */
void cu_fork_check(void);
void cu_atfork_child(void) __attribute__((weak));

/* Contexts (cuda_ctx.c): the device slot of ctx, -1 when unknown. */
int cu_ctx_slot(CUcontext ctx);
#define CU_PUBLISH_NS 100000000LL

/* ---- cuda_verdict.c ------------------------------------------------- */

/* The verdict page, or NULL when not registered (set by cuda_acct.c
 * when a registration maps it; read with one relaxed load per launch). */
extern const struct tg_verdict_page *_Atomic cu_vpage;

/* Apply a verdict other than TG_RUN before a launch: returns
 * CUDA_SUCCESS to go on (after a pause or throttle wait) or the error the
 * launch answers (deny). */
CUresult cu_verdict_gate(void);

/* The daemon hung up our connection: end that registration (its pages
 * turn to zeros) so the GPU thread registers anew. 1 when it did. */
int cu_drop_if_daemon_gone(void);

/* The memory cap in bytes (0: none). */
uint64_t cu_verdict_mem_cap(void);

/* ---- cuda_busy.c ---------------------------------------------------- */

/* What one slow-path launch must do around the real call. */
struct cu_ticket {
	struct cu_stream *s;
	int count;        /* 0: the launch is captured into a graph */
	int record_after; /* cu_busy_after records the batch's end event */
};

/* Before the real launch on (h, ptsz) by thread t (t may be NULL): find
 * the stream's state, open a batch (record its start event) when none is
 * open, and refresh t's cache when the stream may take fast launches. */
void cu_busy_before(struct cu_thread *t, CUstream h, int ptsz,
    struct cu_ticket *tk);
/* After it, with what the driver answered. */
void cu_busy_after(struct cu_thread *t, struct cu_ticket *tk, CUresult rc);

/* Capture hooks: before cuStreamBeginCapture* (a batch open on the
 * stream is closed first), after cuStreamEndCapture (rc = its result). */
void cu_busy_capture_begin(CUstream h, int ptsz);
void cu_busy_capture_end(CUstream h, int ptsz);

/* A stream or a context is gone: forget what refers to it. */
void cu_busy_stream_gone(CUstream h);
void cu_busy_ctx_gone(CUcontext ctx);

/* One harvest round, from the GPU thread: completed batches become busy
 * time (cu_acct_add_busy), idle streams' batches are closed. Returns the
 * ns to sleep before the next round. */
int64_t cu_busy_harvest(void);

/* Forget everything (a fork child; events of the parent are not ours). */
void cu_busy_reset(void);

/* The GPU thread's sleep between rounds (instead of nanosleep): a batch
 * opened while it sleeps long starts a round at once. */
void cu_busy_sleep(int64_t ns);
/* At process exit: end every batch this thread can end and time all that
 * completed (registered with atexit when the GPU thread starts). */
void cu_busy_flush(void);

#endif
