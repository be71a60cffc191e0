/*
 * cuda_launch.c — the launch wrappers: every path that runs kernels
 * (cuLaunchKernel, cuLaunchKernelEx, cuLaunchCooperativeKernel,
 * cuGraphLaunch, each with its _ptsz variant).
 *
 * The fast path, taken by nearly every launch: this thread's cache says
 * the stream has an open busy-time batch and nothing changed since
 * (cu_epoch), and the verdict word is TG_RUN. It costs a TLS load, four
 * loads and compares, the real call and one plain store; no clock, no
 * lock, no syscall. Anything else goes through launch_enter/leave: the
 * verdict (pause, throttle, deny), a fork child, a first launch of this
 * thread, busy-time sampling, capture.
 */
#include <string.h>

#include "cushim.h"

_Atomic uint64_t cu_epoch = 1; /* a new thread's cache (0) is stale */

const struct tg_verdict_page *_Atomic cu_vpage;

void cu_fork_check(void);

static inline int
verdict_run(void)
{
	const struct tg_verdict_page *v =
	    atomic_load_explicit(&cu_vpage, memory_order_relaxed);

	return v == NULL ||
	    __atomic_load_n(&v->verdict, __ATOMIC_RELAXED) == TG_RUN;
}

/* Another stream than last time: one this thread used lately, in the
 * same epoch, becomes the cached one. */
static int
recent(struct cu_thread *t, CUstream h, int pt)
{
	if (t->recent_epoch != t->epoch)
		return 0;
	for (int i = 0; i < 4; i++)
		if (t->recent[i].s != NULL && t->recent[i].h == h &&
		    t->recent[i].ptsz == pt) {
			t->stream = h;
			t->ptsz = pt;
			t->s = t->recent[i].s;
			return 1;
		}
	return 0;
}

static inline int
fast(struct cu_thread *t, CUstream h, int pt)
{
	return CU_LIKELY(t != NULL) &&
	    t->epoch == atomic_load_explicit(&cu_epoch, memory_order_relaxed) &&
	    ((t->stream == h && t->ptsz == pt) || recent(t, h, pt)) &&
	    verdict_run();
}

/* After a slow path that filled the cache: remember that stream too. */
static void
remember(struct cu_thread *t, CUstream h, int pt)
{
	if (t == NULL || t->stream != h || t->ptsz != pt || t->s == NULL)
		return;
	if (t->recent_epoch != t->epoch) {
		memset(t->recent, 0, sizeof(t->recent));
		t->recent_epoch = t->epoch;
		t->recent_next = 0;
	}
	for (int i = 0; i < 4; i++)
		if (t->recent[i].h == h && t->recent[i].ptsz == pt &&
		    t->recent[i].s != NULL) {
			t->recent[i].s = t->s;
			return;
		}
	t->recent[t->recent_next % 4].h = h;
	t->recent[t->recent_next % 4].ptsz = pt;
	t->recent[t->recent_next % 4].s = t->s;
	t->recent_next++;
}

static inline void
count(struct cu_thread *t, uint64_t kernels, uint64_t graphs)
{
	atomic_store_explicit(&t->launches, atomic_load_explicit(&t->launches,
	    memory_order_relaxed) + kernels, memory_order_relaxed);
	if (graphs)
		atomic_store_explicit(&t->graph_launches, atomic_load_explicit(
		    &t->graph_launches, memory_order_relaxed) + graphs,
		    memory_order_relaxed);
}

struct slow {
	struct cu_thread *t;
	struct cu_ticket tk;
};

/* Before the real call; anything but CUDA_SUCCESS is the launch's
 * answer (it never reaches the driver). */
static CUresult
launch_enter(struct slow *sl, CUstream h, int pt)
{
	CUresult rc;

	cu_fork_check();
	sl->t = cu_thread_attach();
	if (!verdict_run() && (rc = cu_verdict_gate()) != CUDA_SUCCESS) {
		cu_acct_refused(CU_REFUSED_LAUNCH);
		return rc;
	}
	cu_busy_before(sl->t, h, pt, &sl->tk);
	remember(sl->t, h, pt);
	return CUDA_SUCCESS;
}

/* The stream's batch was closed by this launch: no cache may name it. */
static void
forget_stream(struct cu_thread *t, CUstream h, int pt)
{
	for (int i = 0; t && i < 4; i++)
		if (t->recent[i].h == h && t->recent[i].ptsz == pt)
			t->recent[i].s = NULL;
	if (t && t->stream == h && t->ptsz == pt)
		t->epoch = 0;
}

static void
launch_leave(struct slow *sl, CUstream h, int pt, CUresult rc,
    uint64_t kernels, uint64_t graphs)
{
	if (sl->tk.record_after)
		forget_stream(sl->t, h, pt);
	cu_busy_after(sl->t, &sl->tk, rc);
	if (rc != CUDA_SUCCESS || !sl->tk.count)
		return;
	if (sl->t)
		count(sl->t, kernels, graphs);
	else
		cu_acct_shared_launch(kernels, graphs);
}

/* One wrapper: NAME PARAMS, the stream it launches on, per-thread (1 for
 * _ptsz), the kernels and graph launches one call runs, the real call's
 * arguments. */
#define CU_LAUNCH(name, params, stream, pt, kernels, graphs, args) \
CUresult name params \
{ \
	tg_pfn_##name real_ = CU_REAL(name); \
	struct cu_thread *t_ = cu_self; \
	CUstream h_ = (stream); \
	struct slow sl_; \
	CUresult rc_; \
 \
	if (CU_UNLIKELY(real_ == NULL)) \
		return CUDA_ERROR_NOT_INITIALIZED; \
	if (fast(t_, h_, pt)) { \
		if (CU_LIKELY((rc_ = real_ args) == CUDA_SUCCESS)) \
			count(t_, (kernels), (graphs)); \
		return rc_; \
	} \
	if ((rc_ = launch_enter(&sl_, h_, pt)) != CUDA_SUCCESS) \
		return rc_; \
	rc_ = real_ args; \
	launch_leave(&sl_, h_, pt, rc_, (kernels), (graphs)); \
	return rc_; \
}

#define KERNEL_PARAMS (CUfunction f, unsigned int gx, unsigned int gy, \
	unsigned int gz, unsigned int bx, unsigned int by, unsigned int bz, \
	unsigned int shmem, CUstream hStream, void **kernelParams, void **extra)
#define KERNEL_ARGS (f, gx, gy, gz, bx, by, bz, shmem, hStream, \
	kernelParams, extra)
#define COOP_PARAMS (CUfunction f, unsigned int gx, unsigned int gy, \
	unsigned int gz, unsigned int bx, unsigned int by, unsigned int bz, \
	unsigned int shmem, CUstream hStream, void **kernelParams)
#define COOP_ARGS (f, gx, gy, gz, bx, by, bz, shmem, hStream, kernelParams)
#define EX_PARAMS (const CUlaunchConfig *config, CUfunction f, \
	void **kernelParams, void **extra)
#define EX_ARGS (config, f, kernelParams, extra)
#define EX_STREAM (config ? config->hStream : NULL)

CU_LAUNCH(cuLaunchKernel, KERNEL_PARAMS, hStream, 0, 1, 0, KERNEL_ARGS)
CU_LAUNCH(cuLaunchKernel_ptsz, KERNEL_PARAMS, hStream, 1, 1, 0, KERNEL_ARGS)
CU_LAUNCH(cuLaunchCooperativeKernel, COOP_PARAMS, hStream, 0, 1, 0, COOP_ARGS)
CU_LAUNCH(cuLaunchCooperativeKernel_ptsz, COOP_PARAMS, hStream, 1, 1, 0,
    COOP_ARGS)
CU_LAUNCH(cuLaunchKernelEx, EX_PARAMS, EX_STREAM, 0, 1, 0, EX_ARGS)
CU_LAUNCH(cuLaunchKernelEx_ptsz, EX_PARAMS, EX_STREAM, 1, 1, 0, EX_ARGS)
/* A graph launch: one graph, and the kernels of its nodes. */
CU_LAUNCH(cuGraphLaunch, (CUgraphExec hGraphExec, CUstream hStream),
    hStream, 0, cu_graph_kernels(hGraphExec), 1, (hGraphExec, hStream))
CU_LAUNCH(cuGraphLaunch_ptsz, (CUgraphExec hGraphExec, CUstream hStream),
    hStream, 1, cu_graph_kernels(hGraphExec), 1, (hGraphExec, hStream))
