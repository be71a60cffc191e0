/*
 * fc_mem.c — device memory accounting: every allocation path counts its
 * exact requested bytes (cuMemAllocPitch: pitch × height, the pitch
 * rounded up to 512) against the device's total, and an allocation that
 * would pass it fails with CUDA_ERROR_OUT_OF_MEMORY — so total bytes can
 * be allocated and one more cannot. Managed memory counts as device memory;
 * cuMemCreate counts only device-located handles (host and host-NUMA ones,
 * as NCCL makes, are tracked apart). Stream-ordered allocations are counted
 * when called and freed when cuMemFreeAsync is called (no pool keeps
 * them). Destroying a context frees what was allocated in it.
 * Addresses are made up, never dereferenceable, and never reused.
 */
#include <stdlib.h>

#include "fakecuda.h"

enum alloc_kind { MEM_DEVPTR, MEM_ASYNC, MEM_HANDLE };

struct alloc {
	unsigned long long key;  /* device pointer or handle */
	size_t size;
	enum alloc_kind kind;
	int on_host;             /* a host-located cuMemCreate */
	struct fc_device *dev;
	struct fc_ctx *ctx;      /* NULL: outlives contexts */
	struct alloc *next;
};

#define NBUCKET 4096

static struct {
	pthread_mutex_t lock;
	struct alloc *bucket[NBUCKET];
	unsigned long long next_key;
} mem = { PTHREAD_MUTEX_INITIALIZER, { NULL }, 0x7f0000000000ULL };

static struct alloc **
slot(unsigned long long key)
{
	return &mem.bucket[(key >> 9) % NBUCKET];
}

/* Locked. */
static CUresult
charge(struct fc_mem_stats *m, size_t size, int on_host)
{
	if (on_host) {
		m->host_used += size;
		if (m->host_used > m->host_hwm)
			m->host_hwm = m->host_used;
		return CUDA_SUCCESS;
	}
	if (size > m->total - m->used) {
		m->ooms++;
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	m->used += size;
	if (m->used > m->hwm)
		m->hwm = m->used;
	m->allocs++;
	return CUDA_SUCCESS;
}

static void
refund(struct alloc *a)
{
	struct fc_mem_stats *m = &a->dev->mem;

	if (a->on_host) {
		m->host_used -= a->size;
		return;
	}
	m->used -= a->size;
	m->frees++;
}

static CUresult
mem_add(struct fc_device *d, struct fc_ctx *c, size_t size,
    enum alloc_kind kind, int on_host, unsigned long long *key)
{
	struct alloc *a;
	CUresult rc;

	if (size == 0)
		return CUDA_ERROR_INVALID_VALUE;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return CUDA_ERROR_OUT_OF_MEMORY;
	pthread_mutex_lock(&mem.lock);
	if ((rc = charge(&d->mem, size, on_host)) == CUDA_SUCCESS) {
		*a = (struct alloc){ mem.next_key, size, kind, on_host, d, c, NULL };
		mem.next_key += ((size + 511) & ~511ULL) + 512;
		a->next = *slot(a->key);
		*slot(a->key) = a;
		*key = a->key;
	}
	pthread_mutex_unlock(&mem.lock);
	if (rc != CUDA_SUCCESS)
		free(a);
	return rc;
}

/* Frees the allocation at key if its kind is among kinds (a bit set). */
static CUresult
mem_del(unsigned long long key, unsigned kinds)
{
	struct alloc **pp, *a = NULL;

	pthread_mutex_lock(&mem.lock);
	for (pp = slot(key); *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->key == key && (kinds & (1u << (*pp)->kind))) {
			a = *pp;
			*pp = a->next;
			refund(a);
			break;
		}
	pthread_mutex_unlock(&mem.lock);
	free(a);
	return a != NULL ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

void
fc_mem_ctx_gone(struct fc_ctx *c)
{
	struct alloc **pp, *a;
	size_t i;

	pthread_mutex_lock(&mem.lock);
	for (i = 0; i < NBUCKET; i++)
		for (pp = &mem.bucket[i]; (a = *pp) != NULL;) {
			if (a->ctx != c) {
				pp = &a->next;
				continue;
			}
			*pp = a->next;
			refund(a);
			free(a);
		}
	pthread_mutex_unlock(&mem.lock);
}

/* A fork child owns none of its parent's allocations. */
void
fc_mem_fork_child(void)
{
	size_t i;

	pthread_mutex_init(&mem.lock, NULL);
	for (i = 0; i < NBUCKET; i++)
		mem.bucket[i] = NULL;
}

void
fc_mem_snapshot(struct fc_device *d, struct fc_mem_stats *out)
{
	pthread_mutex_lock(&mem.lock);
	*out = d->mem;
	pthread_mutex_unlock(&mem.lock);
}

/* A synchronous allocation in the current context. */
static CUresult
alloc_sync(struct fc_thread *t, CUdeviceptr *dptr, size_t size)
{
	struct fc_ctx *c;
	CUresult rc;

	if (dptr == NULL)
		return CUDA_ERROR_INVALID_VALUE;
	if ((rc = fc_current(t, &c)) != CUDA_SUCCESS)
		return rc;
	if ((rc = fc_capture_guard(t)) != CUDA_SUCCESS)
		return rc;
	return mem_add(c->dev, c, size, MEM_DEVPTR, 0, dptr);
}

CUresult
cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize)
{
	FC_ENTER(cuMemAlloc_v2, t);
	return alloc_sync(t, dptr, bytesize);
}

CUresult
cuMemAllocPitch_v2(CUdeviceptr *dptr, size_t *pPitch, size_t WidthInBytes,
    size_t Height, unsigned int ElementSizeBytes)
{
	size_t pitch;

	FC_ENTER(cuMemAllocPitch_v2, t);
	if (pPitch == NULL || WidthInBytes == 0 || Height == 0 ||
	    (ElementSizeBytes != 4 && ElementSizeBytes != 8 &&
	    ElementSizeBytes != 16) || WidthInBytes > SIZE_MAX - FC_PITCH_ALIGN)
		return CUDA_ERROR_INVALID_VALUE;
	pitch = (WidthInBytes + FC_PITCH_ALIGN - 1) & ~(size_t)(FC_PITCH_ALIGN - 1);
	if (Height > SIZE_MAX / pitch)
		return CUDA_ERROR_INVALID_VALUE;
	*pPitch = pitch;
	return alloc_sync(t, dptr, pitch * Height);
}

CUresult
cuMemAllocManaged(CUdeviceptr *dptr, size_t bytesize, unsigned int flags)
{
	FC_ENTER(cuMemAllocManaged, t);
	if (flags != CU_MEM_ATTACH_GLOBAL && flags != CU_MEM_ATTACH_HOST)
		return CUDA_ERROR_INVALID_VALUE;
	return alloc_sync(t, dptr, bytesize);
}

CUresult
cuMemFree_v2(CUdeviceptr dptr)
{
	CUresult rc;

	FC_ENTER(cuMemFree_v2, t);
	if ((rc = fc_capture_guard(t)) != CUDA_SUCCESS)
		return rc;
	return mem_del(dptr, 1u << MEM_DEVPTR | 1u << MEM_ASYNC);
}

static CUresult
alloc_async(struct fc_thread *t, CUdeviceptr *dptr, size_t size,
    struct fc_device *d, CUstream hs, int ptsz)
{
	struct fc_stream *s;
	CUresult rc;

	if (dptr == NULL)
		return CUDA_ERROR_INVALID_VALUE;
	if ((rc = fc_stream_get(t, hs, ptsz, &s)) != CUDA_SUCCESS)
		return rc;
	if (d == NULL)
		d = s->ctx->dev;
	return mem_add(d, s->ctx, size, MEM_ASYNC, 0, dptr);
}

CUresult
cuMemAllocAsync(CUdeviceptr *dptr, size_t bytesize, CUstream hStream)
{
	FC_ENTER(cuMemAllocAsync, t);
	return alloc_async(t, dptr, bytesize, NULL, hStream, 0);
}

CUresult
cuMemAllocAsync_ptsz(CUdeviceptr *dptr, size_t bytesize, CUstream hStream)
{
	FC_ENTER(cuMemAllocAsync_ptsz, t);
	return alloc_async(t, dptr, bytesize, NULL, hStream, 1);
}

static struct fc_device *
pool_device(CUmemoryPool h)
{
	struct fc_pool *p = (struct fc_pool *)h;

	return p != NULL && p->magic == FC_MAGIC_POOL ? p->dev : NULL;
}

CUresult
cuMemAllocFromPoolAsync(CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool,
    CUstream hStream)
{
	FC_ENTER(cuMemAllocFromPoolAsync, t);
	if (pool_device(pool) == NULL)
		return CUDA_ERROR_INVALID_VALUE;
	return alloc_async(t, dptr, bytesize, pool_device(pool), hStream, 0);
}

CUresult
cuMemAllocFromPoolAsync_ptsz(CUdeviceptr *dptr, size_t bytesize,
    CUmemoryPool pool, CUstream hStream)
{
	FC_ENTER(cuMemAllocFromPoolAsync_ptsz, t);
	if (pool_device(pool) == NULL)
		return CUDA_ERROR_INVALID_VALUE;
	return alloc_async(t, dptr, bytesize, pool_device(pool), hStream, 1);
}

static CUresult
free_async(struct fc_thread *t, CUdeviceptr dptr, CUstream hs, int ptsz)
{
	struct fc_stream *s;
	CUresult rc;

	if ((rc = fc_stream_get(t, hs, ptsz, &s)) != CUDA_SUCCESS)
		return rc;
	return mem_del(dptr, 1u << MEM_DEVPTR | 1u << MEM_ASYNC);
}

CUresult
cuMemFreeAsync(CUdeviceptr dptr, CUstream hStream)
{
	FC_ENTER(cuMemFreeAsync, t);
	return free_async(t, dptr, hStream, 0);
}

CUresult
cuMemFreeAsync_ptsz(CUdeviceptr dptr, CUstream hStream)
{
	FC_ENTER(cuMemFreeAsync_ptsz, t);
	return free_async(t, dptr, hStream, 1);
}

/* Physical memory for the virtual memory API: sizes are multiples of the
 * 2 MiB granularity, as the real driver requires. */
CUresult
cuMemCreate(CUmemGenericAllocationHandle *handle, size_t size,
    const CUmemAllocationProp *prop, unsigned long long flags)
{
	struct fc_device *d;
	int on_host;

	FC_ENTER(cuMemCreate, t);
	if (handle == NULL || prop == NULL || flags != 0 ||
	    prop->type != CU_MEM_ALLOCATION_TYPE_PINNED ||
	    size % FC_VMM_GRANULARITY != 0)
		return CUDA_ERROR_INVALID_VALUE;
	switch (prop->location.type) {
	case CU_MEM_LOCATION_TYPE_DEVICE:
		if ((d = fc_device(prop->location.id)) == NULL)
			return CUDA_ERROR_INVALID_DEVICE;
		on_host = 0;
		break;
	case CU_MEM_LOCATION_TYPE_HOST:
	case CU_MEM_LOCATION_TYPE_HOST_NUMA:
	case CU_MEM_LOCATION_TYPE_HOST_NUMA_CURRENT:
		d = &fc_g.dev[0]; /* tracked apart, on device 0's record */
		on_host = 1;
		break;
	default:
		return CUDA_ERROR_INVALID_VALUE;
	}
	return mem_add(d, NULL, size, MEM_HANDLE, on_host, handle);
}

CUresult
cuMemRelease(CUmemGenericAllocationHandle handle)
{
	FC_ENTER(cuMemRelease, t);
	return mem_del(handle, 1u << MEM_HANDLE);
}

CUresult
cuMemGetInfo_v2(size_t *free, size_t *total)
{
	struct fc_mem_stats snap;
	struct fc_ctx *c;
	CUresult rc;

	FC_ENTER(cuMemGetInfo_v2, t);
	if (free == NULL || total == NULL)
		return CUDA_ERROR_INVALID_VALUE;
	if ((rc = fc_current(t, &c)) != CUDA_SUCCESS)
		return rc;
	fc_mem_snapshot(c->dev, &snap);
	*free = snap.total - snap.used;
	*total = snap.total;
	return CUDA_SUCCESS;
}

CUresult
cuDeviceGetDefaultMemPool(CUmemoryPool *pool_out, CUdevice dev)
{
	struct fc_device *d;

	FC_ENTER(cuDeviceGetDefaultMemPool, t);
	if (pool_out == NULL)
		return CUDA_ERROR_INVALID_VALUE;
	if ((d = fc_device(dev)) == NULL)
		return CUDA_ERROR_INVALID_DEVICE;
	*pool_out = (CUmemoryPool)&d->pool;
	return CUDA_SUCCESS;
}
