/*
 * fakecuda.h — the fake libcuda.so.1's state, shared by its files (see
 * README.md for what it models and what it does not).
 *
 * Time is CLOCK_MONOTONIC ns. Nothing runs in the background: each stream
 * keeps a schedule — the time its queued work ends (tail) — and a kernel of
 * d ns launched at t occupies [max(t, when the stream is free), +d]. Work
 * "completes" when the clock passes its end: queries compare, synchronize
 * sleeps until then. Busy time is the union of those intervals.
 */
#ifndef FAKECUDA_H
#define FAKECUDA_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

/* The cu* prototypes are the library's exports; everything else is
 * hidden (-fvisibility=hidden, and the version script). */
#pragma GCC visibility push(default)
#include "cuda_abi.h"
#pragma GCC visibility pop

#define FC_MAX_DEVICES 8
#define FC_DEFAULT_NAME "tollgate fake GPU (NVIDIA H100 80GB HBM3 stand-in)"
#define FC_DEFAULT_MEM_TOTAL (16ULL << 30)
#define FC_PITCH_ALIGN 512
#define FC_VMM_GRANULARITY (2ULL << 20)

#define FC_LIKELY(x) __builtin_expect(!!(x), 1)
#define FC_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Handle magics: a handle is a pointer to one of our structs. */
enum {
	FC_MAGIC_CTX = 0x43747821,
	FC_MAGIC_STREAM = 0x53747221,
	FC_MAGIC_EVENT = 0x45766e21,
	FC_MAGIC_MODULE = 0x4d6f6421,
	FC_MAGIC_FUNC = 0x46756e21,
	FC_MAGIC_GRAPH = 0x47726121,
	FC_MAGIC_NODE = 0x4e6f6421,
	FC_MAGIC_EXEC = 0x45786521,
	FC_MAGIC_POOL = 0x506f6f21,
};

/* Launch paths, as the truth file names them. */
enum fc_path {
	FC_LAUNCH_KERNEL,
	FC_LAUNCH_KERNEL_PTSZ,
	FC_LAUNCH_EX,
	FC_LAUNCH_EX_PTSZ,
	FC_LAUNCH_COOP,
	FC_LAUNCH_COOP_PTSZ,
	FC_GRAPH_LAUNCH,
	FC_GRAPH_LAUNCH_PTSZ,
	FC_PATH_COUNT
};

/* What one thread did; summed at dump time. Only the owner writes its
 * block (relaxed stores), so counting costs no atomic read-modify-write. */
struct fc_thread {
	uint64_t calls[TG_FN_COUNT];
	uint64_t launches[FC_PATH_COUNT]; /* successful calls, captured too */
	uint64_t captured;                /* launches recorded into a graph */
	uint64_t graphs_captured;         /* graph launches into a capture */
	uint64_t graph_kernels;           /* kernels run by graph launches */
	uint64_t event_records_in_capture;
	struct fc_ctx *ctx;               /* current context */
	struct fc_ctx *ptds_ctx;          /* per-thread default stream cache */
	struct fc_stream *ptds;
	CUstreamCaptureMode capture_mode;
	uint64_t serial;
	struct fc_thread *next;
};

#define FC_COUNT(field) \
	__atomic_store_n(&(field), __atomic_load_n(&(field), __ATOMIC_RELAXED) + 1, \
	    __ATOMIC_RELAXED)

struct fc_span {
	int64_t start, end;
};

struct fc_spans {
	struct fc_span *v;
	size_t n, cap;
};

enum fc_stream_kind { FC_STREAM_LEGACY, FC_STREAM_PTDS, FC_STREAM_USER };

struct fc_stream {
	uint32_t magic;
	enum fc_stream_kind kind;
	int blocking;                 /* waits for / is waited by legacy */
	unsigned int flags;
	struct fc_ctx *ctx;
	uint64_t owner_serial;        /* the thread of a per-thread stream */
	_Atomic int64_t tail;         /* when queued work ends; only grows */
	struct fc_capture *_Atomic cap; /* set while capturing */
	pthread_mutex_t lock;         /* spans, cap changes */
	struct fc_spans spans;
	struct fc_stream *next;
};

struct fc_ctx {
	uint32_t magic;
	_Atomic int alive;
	int primary;
	struct fc_device *dev;
	_Atomic int64_t blocking_tail;  /* max tail of blocking streams */
	_Atomic int capturing_blocking; /* blocking streams capturing */
	pthread_mutex_t lock;           /* streams */
	struct fc_stream legacy;
	struct fc_stream *streams;      /* per-thread and user streams */
	struct fc_ctx *next;            /* device's list, never unlinked */
};

struct fc_pool {
	uint32_t magic;
	struct fc_device *dev;
};

struct fc_mem_stats {
	size_t total, used, hwm;  /* device memory */
	size_t host_used, host_hwm; /* host-located cuMemCreate */
	uint64_t allocs, frees, ooms;
};

struct fc_device {
	int ordinal;
	struct fc_mem_stats mem;  /* under fc_mem.c's lock */
	pthread_mutex_t lock;     /* contexts and held time */
	struct fc_ctx primary;
	int primary_refs;
	int live_ctxs;
	int64_t held_since;       /* while live_ctxs > 0 */
	struct fc_spans held;
	struct fc_ctx *ctxs;      /* every context ever made on it */
	struct fc_pool pool;
};

enum fc_state { FC_UNINIT, FC_READY, FC_FORKED };

struct fc_global {
	_Atomic int state;
	int ndev;
	int driver_version;
	char name[256];
	char truth_path[4096];
	int is_fork_child;
	struct fc_device dev[FC_MAX_DEVICES];
	pthread_mutex_t lock;     /* threads, totals */
	struct fc_thread *threads;
	struct fc_thread totals;  /* of threads that exited */
	uint64_t next_serial;
	pthread_key_t key;
	pthread_mutex_t cap_lock; /* captures; innermost lock */
	struct fc_capture *captures;
	_Atomic int active_captures;
};

extern struct fc_global fc_g;
extern __thread struct fc_thread *fc_self
    __attribute__((tls_model("initial-exec")));

struct fc_thread *fc_thread_new(void);

/* The calling thread's block, counting this call of fn. */
static inline struct fc_thread *
fc_enter(enum tg_cu_fn fn)
{
	struct fc_thread *t = fc_self;

	if (FC_UNLIKELY(t == NULL))
		t = fc_thread_new();
	FC_COUNT(t->calls[fn]);
	return t;
}

/* CUDA_SUCCESS when initialized; else what every call answers. */
static inline CUresult
fc_ready(void)
{
	int s = atomic_load_explicit(&fc_g.state, memory_order_acquire);

	return FC_LIKELY(s == FC_READY) ? CUDA_SUCCESS : CUDA_ERROR_NOT_INITIALIZED;
}

#define FC_ENTER(fn, t) \
	struct fc_thread *t = fc_enter(TG_FN_##fn); \
	(void)t; \
	do { \
		CUresult rc_ = fc_ready(); \
		if (FC_UNLIKELY(rc_ != CUDA_SUCCESS)) \
			return rc_; \
	} while (0)

int64_t fc_now(void);
void fc_sleep_until(int64_t t);
void fc_spans_add(struct fc_spans *, int64_t start, int64_t end);
static inline int64_t fc_max64(int64_t a, int64_t b) { return a > b ? a : b; }
void fc_atomic_max(_Atomic int64_t *, int64_t);
struct fc_device *fc_device(CUdevice);

/* fc_ctx.c */
void fc_ctx_init(struct fc_ctx *, struct fc_device *, int primary);
void fc_ctx_kill(struct fc_ctx *); /* device locked */
CUresult fc_current(struct fc_thread *, struct fc_ctx **);

/* fc_stream.c */
void fc_stream_init(struct fc_stream *, struct fc_ctx *, enum fc_stream_kind,
    unsigned int flags);
CUresult fc_stream_get_slow(struct fc_thread *, CUstream, int ptsz,
    struct fc_stream **);
int64_t fc_stream_free_at(struct fc_stream *);
int64_t fc_stream_run(struct fc_stream *, int64_t dur);

/* The stream a handle means for a function of variant ptsz; inline, as
 * every launch asks. */
static inline CUresult
fc_stream_get(struct fc_thread *t, CUstream h, int ptsz, struct fc_stream **out)
{
	struct fc_stream *s = (struct fc_stream *)h;

	if (FC_LIKELY((uintptr_t)h > (uintptr_t)CU_STREAM_PER_THREAD &&
	    s->magic == FC_MAGIC_STREAM)) {
		*out = s;
		return CUDA_SUCCESS;
	}
	if (FC_LIKELY(h == NULL && t->ctx != NULL && t->ctx->alive)) {
		if (!ptsz) {
			*out = &t->ctx->legacy;
			return CUDA_SUCCESS;
		}
		if (FC_LIKELY(t->ptds_ctx == t->ctx &&
		    t->ptds->magic == FC_MAGIC_STREAM)) {
			*out = t->ptds;
			return CUDA_SUCCESS;
		}
	}
	return fc_stream_get_slow(t, h, ptsz, out);
}

/* Work on the legacy stream, however short, orders later work on the
 * blocking streams after what they had queued. */
static inline void
fc_stream_legacy_barrier(struct fc_stream *s)
{
	int64_t b = atomic_load_explicit(&s->ctx->blocking_tail,
	    memory_order_relaxed);

	if (FC_UNLIKELY(b > atomic_load_explicit(&s->tail, memory_order_relaxed)))
		fc_atomic_max(&s->tail, b);
}
int64_t fc_stream_mark(struct fc_stream *);
void fc_ctx_wait(struct fc_ctx *);

/* fc_mem.c */
void fc_mem_ctx_gone(struct fc_ctx *);
void fc_mem_fork_child(void);
void fc_mem_snapshot(struct fc_device *, struct fc_mem_stats *);

/* fc_capture.c */
struct fc_graph;
struct fc_capture {
	struct fc_stream *stream;
	struct fc_graph *graph;
	CUstreamCaptureMode mode;
	struct fc_thread *owner;
	_Atomic int invalidated;
	struct fc_capture *next;
};
CUresult fc_capture_guard(struct fc_thread *);
CUresult fc_capture_implicit(struct fc_stream *);

/* For work on legacy stream s: refused while a blocking stream of its
 * context captures. */
static inline CUresult
fc_capture_legacy_check(struct fc_stream *s)
{
	if (FC_LIKELY(atomic_load_explicit(&s->ctx->capturing_blocking,
	    memory_order_relaxed) == 0))
		return CUDA_SUCCESS;
	return fc_capture_implicit(s);
}
void fc_capture_invalidate(struct fc_capture *);
void fc_capture_abandon(struct fc_stream *);

/* fc_graph.c */
CUresult fc_graph_add_kernel(struct fc_graph *, int64_t dur, CUgraphNode *);
CUresult fc_graph_add_exec(struct fc_graph *, CUgraphExec, CUgraphNode *);
struct fc_graph *fc_graph_new(void);
void fc_graph_free(struct fc_graph *);

/* fc_launch.c: a "kernel" is any function of any module; its first
 * argument (kernelParams[0], or the start of the extra[] buffer) is a
 * uint32_t: how many µs it runs. */
struct fc_func {
	uint32_t magic;
	struct fc_func *next;
	char name[];
};
int64_t fc_kernel_extra_ns(void **extra);

static inline int64_t
fc_kernel_ns(void **kernelParams, void **extra)
{
	if (kernelParams != NULL)
		return kernelParams[0] != NULL ?
		    (int64_t)*(const uint32_t *)kernelParams[0] * 1000 : 0;
	return extra != NULL ? fc_kernel_extra_ns(extra) : 0;
}

/* fc_state.c, fc_truth.c */
void fc_truth_write(void);
void fc_fork_child(void);

#endif /* FAKECUDA_H */
