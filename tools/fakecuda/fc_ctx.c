/*
 * fc_ctx.c — contexts: created ones and each device's primary context, the
 * calling thread's current one, and the device "held" time (from the first
 * live context on a device to the last one's end).
 */
#include <stdlib.h>

#include "fakecuda.h"

void
fc_ctx_init(struct fc_ctx *c, struct fc_device *d, int primary)
{
	c->magic = FC_MAGIC_CTX;
	c->primary = primary;
	c->dev = d;
	pthread_mutex_init(&c->lock, NULL);
	fc_stream_init(&c->legacy, c, FC_STREAM_LEGACY, 0);
	c->next = d->ctxs;
	d->ctxs = c;
}

/* Called with the device locked. */
static void
held_begin(struct fc_device *d)
{
	if (d->live_ctxs++ == 0)
		d->held_since = fc_now();
}

static void
held_end(struct fc_device *d)
{
	if (--d->live_ctxs == 0)
		fc_spans_add(&d->held, d->held_since, fc_now());
}

/* Ends a context, with its device locked: its streams die and its memory
 * is freed, as the real driver does; the structs stay (their schedules
 * are the truth). */
void
fc_ctx_kill(struct fc_ctx *c)
{
	struct fc_stream *s;

	c->alive = 0;
	pthread_mutex_lock(&c->lock);
	for (s = c->streams; s != NULL; s = s->next)
		s->magic = 0;
	pthread_mutex_unlock(&c->lock);
	fc_mem_ctx_gone(c);
	held_end(c->dev);
}

CUresult
fc_current(struct fc_thread *t, struct fc_ctx **out)
{
	if (t->ctx == NULL)
		return CUDA_ERROR_INVALID_CONTEXT;
	if (!t->ctx->alive)
		return CUDA_ERROR_CONTEXT_IS_DESTROYED;
	*out = t->ctx;
	return CUDA_SUCCESS;
}

static int
ctx_valid(CUcontext h)
{
	struct fc_ctx *c = (struct fc_ctx *)h;

	return c != NULL && c->magic == FC_MAGIC_CTX && c->alive;
}

static CUresult
ctx_create(struct fc_thread *t, CUcontext *pctx, CUdevice dev)
{
	struct fc_device *d = fc_device(dev);
	struct fc_ctx *c;

	if (pctx == NULL)
		return CUDA_ERROR_INVALID_VALUE;
	if (d == NULL)
		return CUDA_ERROR_INVALID_DEVICE;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return CUDA_ERROR_OUT_OF_MEMORY;
	pthread_mutex_lock(&d->lock);
	fc_ctx_init(c, d, 0);
	c->alive = 1;
	held_begin(d);
	pthread_mutex_unlock(&d->lock);
	t->ctx = c; /* a new context is made current */
	*pctx = (CUcontext)c;
	return CUDA_SUCCESS;
}

CUresult
cuCtxCreate(CUcontext *pctx, unsigned int flags, CUdevice dev)
{
	FC_ENTER(cuCtxCreate, t);
	return ctx_create(t, pctx, dev);
}

CUresult
cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev)
{
	FC_ENTER(cuCtxCreate_v2, t);
	return ctx_create(t, pctx, dev);
}

CUresult
cuCtxCreate_v3(CUcontext *pctx, CUexecAffinityParam *paramsArray,
    int numParams, unsigned int flags, CUdevice dev)
{
	FC_ENTER(cuCtxCreate_v3, t);
	if (numParams < 0 || (numParams > 0 && paramsArray == NULL))
		return CUDA_ERROR_INVALID_VALUE;
	return ctx_create(t, pctx, dev);
}

CUresult
cuCtxCreate_v4(CUcontext *pctx, CUctxCreateParams *p, unsigned int flags,
    CUdevice dev)
{
	FC_ENTER(cuCtxCreate_v4, t);
	if (p != NULL && p->execAffinityParams != NULL && p->cigParams != NULL)
		return CUDA_ERROR_INVALID_VALUE;
	return ctx_create(t, pctx, dev);
}

static CUresult
ctx_destroy(struct fc_thread *t, CUcontext h)
{
	struct fc_ctx *c = (struct fc_ctx *)h;

	if (!ctx_valid(h) || c->primary)
		return CUDA_ERROR_INVALID_CONTEXT;
	pthread_mutex_lock(&c->dev->lock);
	fc_ctx_kill(c);
	c->magic = 0;
	pthread_mutex_unlock(&c->dev->lock);
	if (t->ctx == c)
		t->ctx = NULL;
	return CUDA_SUCCESS;
}

CUresult
cuCtxDestroy(CUcontext ctx)
{
	FC_ENTER(cuCtxDestroy, t);
	return ctx_destroy(t, ctx);
}

CUresult
cuCtxDestroy_v2(CUcontext ctx)
{
	FC_ENTER(cuCtxDestroy_v2, t);
	return ctx_destroy(t, ctx);
}

CUresult
cuCtxSetCurrent(CUcontext ctx)
{
	FC_ENTER(cuCtxSetCurrent, t);
	if (ctx != NULL && !ctx_valid(ctx))
		return CUDA_ERROR_INVALID_CONTEXT;
	t->ctx = (struct fc_ctx *)ctx;
	return CUDA_SUCCESS;
}

CUresult
cuCtxGetCurrent(CUcontext *pctx)
{
	FC_ENTER(cuCtxGetCurrent, t);
	if (pctx == NULL)
		return CUDA_ERROR_INVALID_VALUE;
	*pctx = (CUcontext)t->ctx;
	return CUDA_SUCCESS;
}

static CUresult
ctx_sync(struct fc_thread *t, struct fc_ctx *c)
{
	CUresult rc;

	if ((rc = fc_capture_guard(t)) != CUDA_SUCCESS)
		return rc;
	fc_ctx_wait(c);
	fc_truth_write();
	return CUDA_SUCCESS;
}

CUresult
cuCtxSynchronize(void)
{
	struct fc_ctx *c;
	CUresult rc;

	FC_ENTER(cuCtxSynchronize, t);
	if ((rc = fc_current(t, &c)) != CUDA_SUCCESS)
		return rc;
	return ctx_sync(t, c);
}

CUresult
cuCtxSynchronize_v2(CUcontext ctx)
{
	struct fc_ctx *c;
	CUresult rc;

	FC_ENTER(cuCtxSynchronize_v2, t);
	if (ctx == NULL) {
		if ((rc = fc_current(t, &c)) != CUDA_SUCCESS)
			return rc;
	} else if (!ctx_valid(ctx))
		return CUDA_ERROR_INVALID_CONTEXT;
	else
		c = (struct fc_ctx *)ctx;
	return ctx_sync(t, c);
}

CUresult
cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev)
{
	struct fc_device *d;

	FC_ENTER(cuDevicePrimaryCtxRetain, t);
	if (pctx == NULL)
		return CUDA_ERROR_INVALID_VALUE;
	if ((d = fc_device(dev)) == NULL)
		return CUDA_ERROR_INVALID_DEVICE;
	pthread_mutex_lock(&d->lock);
	if (d->primary_refs++ == 0) {
		d->primary.magic = FC_MAGIC_CTX;
		d->primary.alive = 1;
		held_begin(d);
	}
	pthread_mutex_unlock(&d->lock);
	*pctx = (CUcontext)&d->primary;
	return CUDA_SUCCESS;
}

static CUresult
primary_release(CUdevice dev)
{
	struct fc_device *d = fc_device(dev);
	CUresult rc = CUDA_SUCCESS;

	if (d == NULL)
		return CUDA_ERROR_INVALID_DEVICE;
	pthread_mutex_lock(&d->lock);
	if (d->primary_refs == 0)
		rc = CUDA_ERROR_INVALID_CONTEXT;
	else if (--d->primary_refs == 0)
		fc_ctx_kill(&d->primary);
	pthread_mutex_unlock(&d->lock);
	return rc;
}

CUresult
cuDevicePrimaryCtxRelease(CUdevice dev)
{
	FC_ENTER(cuDevicePrimaryCtxRelease, t);
	return primary_release(dev);
}

CUresult
cuDevicePrimaryCtxRelease_v2(CUdevice dev)
{
	FC_ENTER(cuDevicePrimaryCtxRelease_v2, t);
	return primary_release(dev);
}
