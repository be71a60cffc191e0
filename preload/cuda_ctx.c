/*
 * cuda_ctx.c — contexts: which device each one is on, and how long each
 * device is held (from its first live context — created, or the primary
 * one retained — to its last one gone). A context's memory dies with it
 * (cuda_mem.c forgets it); its streams' busy-time state too (cuda_busy.c).
 * A change of the current context moves cu_epoch: the launch caches
 * (which stream a NULL handle means) are per context.
 */
#include <pthread.h>

#include "cushim.h"

#define CTXS 256
#define DEVS 64

static struct {
	pthread_mutex_t mtx;
	int n;
	struct { CUcontext ctx; int slot; int primary; } c[CTXS];
	int prim_refs[DEVS];
} cx = { .mtx = PTHREAD_MUTEX_INITIALIZER };

void cu_mem_ctx_gone(CUcontext ctx);

static int
find(CUcontext ctx)
{
	for (int i = 0; i < cx.n; i++)
		if (cx.c[i].ctx == ctx)
			return i;
	return -1;
}

int
cu_ctx_slot(CUcontext ctx)
{
	int i, slot;

	pthread_mutex_lock(&cx.mtx);
	i = find(ctx);
	slot = i >= 0 ? cx.c[i].slot : -1;
	pthread_mutex_unlock(&cx.mtx);
	return slot;
}

int
cu_dev_slot_current(void)
{
	tg_pfn_cuCtxGetCurrent get = CU_REAL(cuCtxGetCurrent);
	CUcontext c = NULL;

	if (get == NULL || get(&c) != CUDA_SUCCESS || c == NULL)
		return -1;
	return cu_ctx_slot(c);
}

/* A new live context on slot. */
static void
born(CUcontext ctx, int slot, int primary)
{
	pthread_mutex_lock(&cx.mtx);
	if (find(ctx) < 0 && cx.n < CTXS)
		cx.c[cx.n++] = (typeof(cx.c[0])){ ctx, slot, primary };
	pthread_mutex_unlock(&cx.mtx);
	cu_acct_hold_begin(slot);
	cu_acct_start();
	cu_epoch_bump();
}

/* ctx is gone (destroyed, or the primary released for the last time). */
static void
died(CUcontext ctx)
{
	int i, slot = -1;

	pthread_mutex_lock(&cx.mtx);
	if ((i = find(ctx)) >= 0) {
		slot = cx.c[i].slot;
		cx.c[i] = cx.c[--cx.n];
	}
	pthread_mutex_unlock(&cx.mtx);
	cu_mem_ctx_gone(ctx);
	if (slot >= 0)
		cu_acct_hold_end(slot);
	cu_epoch_bump();
}

static CUresult
created(CUresult rc, CUcontext *pctx, CUdevice dev)
{
	if (rc == CUDA_SUCCESS && pctx != NULL && *pctx != NULL)
		born(*pctx, cu_dev_slot(dev), 0);
	return rc;
}

CUresult
cuCtxCreate(CUcontext *pctx, unsigned int flags, CUdevice dev)
{
	tg_pfn_cuCtxCreate real = CU_REAL(cuCtxCreate);

	CU_NOT_INIT(real);
	return created(real(pctx, flags, dev), pctx, dev);
}

CUresult
cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev)
{
	tg_pfn_cuCtxCreate_v2 real = CU_REAL(cuCtxCreate_v2);

	CU_NOT_INIT(real);
	return created(real(pctx, flags, dev), pctx, dev);
}

CUresult
cuCtxCreate_v3(CUcontext *pctx, CUexecAffinityParam *params, int n,
    unsigned int flags, CUdevice dev)
{
	tg_pfn_cuCtxCreate_v3 real = CU_REAL(cuCtxCreate_v3);

	CU_NOT_INIT(real);
	return created(real(pctx, params, n, flags, dev), pctx, dev);
}

CUresult
cuCtxCreate_v4(CUcontext *pctx, CUctxCreateParams *params,
    unsigned int flags, CUdevice dev)
{
	tg_pfn_cuCtxCreate_v4 real = CU_REAL(cuCtxCreate_v4);

	CU_NOT_INIT(real);
	return created(real(pctx, params, flags, dev), pctx, dev);
}

static CUresult
destroy(tg_pfn_cuCtxDestroy real, CUcontext ctx)
{
	CUresult rc;

	CU_NOT_INIT(real);
	cu_busy_ctx_gone(ctx);
	if ((rc = real(ctx)) == CUDA_SUCCESS)
		died(ctx);
	return rc;
}

CUresult
cuCtxDestroy(CUcontext ctx)
{
	return destroy(CU_REAL(cuCtxDestroy), ctx);
}

CUresult
cuCtxDestroy_v2(CUcontext ctx)
{
	return destroy(CU_REAL(cuCtxDestroy_v2), ctx);
}

CUresult
cuCtxSetCurrent(CUcontext ctx)
{
	tg_pfn_cuCtxSetCurrent real = CU_REAL(cuCtxSetCurrent);
	CUresult rc;

	CU_NOT_INIT(real);
	if ((rc = real(ctx)) == CUDA_SUCCESS)
		cu_epoch_bump();
	return rc;
}

CUresult
cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev)
{
	tg_pfn_cuDevicePrimaryCtxRetain real = CU_REAL(cuDevicePrimaryCtxRetain);
	CUresult rc;
	int first;

	CU_NOT_INIT(real);
	if ((rc = real(pctx, dev)) != CUDA_SUCCESS || pctx == NULL ||
	    *pctx == NULL || dev < 0 || dev >= DEVS)
		return rc;
	pthread_mutex_lock(&cx.mtx);
	first = cx.prim_refs[dev]++ == 0;
	pthread_mutex_unlock(&cx.mtx);
	if (first)
		born(*pctx, cu_dev_slot(dev), 1);
	return rc;
}

/* The primary context of dev while retained, or NULL. */
static CUcontext
primary_of(CUdevice dev)
{
	CUcontext c = NULL;
	int slot = cu_dev_slot(dev);

	pthread_mutex_lock(&cx.mtx);
	for (int i = 0; i < cx.n; i++)
		if (cx.c[i].primary && cx.c[i].slot == slot)
			c = cx.c[i].ctx;
	pthread_mutex_unlock(&cx.mtx);
	return c;
}

static CUresult
release(tg_pfn_cuDevicePrimaryCtxRelease real, CUdevice dev)
{
	CUcontext prim;
	CUresult rc;
	int last;

	CU_NOT_INIT(real);
	if (dev < 0 || dev >= DEVS)
		return real(dev);
	pthread_mutex_lock(&cx.mtx);
	last = cx.prim_refs[dev] == 1;
	pthread_mutex_unlock(&cx.mtx);
	prim = last ? primary_of(dev) : NULL;
	if (prim)
		cu_busy_ctx_gone(prim);
	if ((rc = real(dev)) != CUDA_SUCCESS)
		return rc;
	pthread_mutex_lock(&cx.mtx);
	last = cx.prim_refs[dev] > 0 && --cx.prim_refs[dev] == 0;
	pthread_mutex_unlock(&cx.mtx);
	if (last && prim)
		died(prim);
	return rc;
}

CUresult
cuDevicePrimaryCtxRelease(CUdevice dev)
{
	return release(CU_REAL(cuDevicePrimaryCtxRelease), dev);
}

CUresult
cuDevicePrimaryCtxRelease_v2(CUdevice dev)
{
	return release(CU_REAL(cuDevicePrimaryCtxRelease_v2), dev);
}

/* A fork child: the parent's contexts are not the child's. */
void
cu_ctx_child(void)
{
	pthread_mutex_init(&cx.mtx, NULL);
	cx.n = 0;
	for (int i = 0; i < DEVS; i++)
		cx.prim_refs[i] = 0;
}
