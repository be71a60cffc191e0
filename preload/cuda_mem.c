/*
 * cuda_mem.c — device memory: what the process holds now, its high-water
 * mark, and the cap of the verdict page (issue 5, "Memory").
 *
 * Every allocation path is counted by the bytes it asked for (pitch ×
 * height for a pitched one) on the device of the current context;
 * cuMemCreate only for device-located handles (NCCL makes host-NUMA ones,
 * which hold no GPU memory). Stream-ordered frees count when called. A
 * context that dies takes its allocations with it.
 *
 * The cap: an allocation is reserved against the cap BEFORE the driver is
 * asked, under the lock, so two threads cannot both pass it; one that
 * would take the total over the cap fails with CUDA_ERROR_OUT_OF_MEMORY
 * and never reaches the driver — the cap itself can be reached, one byte
 * more cannot. cuMemGetInfo_v2 answers numbers that agree with the cap.
 * Allocations are not a hot path: a mutex and a small hash table.
 */
#include <pthread.h>
#include <stdlib.h>

#include "cushim.h"
#include "say.h"

struct alloc {
	uint64_t key; /* device pointer, or generic handle */
	uint64_t bytes;
	CUcontext ctx;
	int slot;
	struct alloc *next;
};

#define BUCKETS 4096

static struct {
	pthread_mutex_t mtx;
	struct alloc *b[BUCKETS];
	uint64_t in_use;   /* all devices */
	uint64_t reserved; /* asked of the driver, not answered yet */
} mm = { .mtx = PTHREAD_MUTEX_INITIALIZER };

static size_t
bucket(uint64_t k)
{
	return (size_t)((k * 0x9e3779b97f4a7c15ull) >> 52) & (BUCKETS - 1);
}

/* Reserve n bytes against the cap: 0, or -1 (over it: refused). */
static int
reserve(uint64_t n)
{
	uint64_t cap = cu_verdict_mem_cap();
	int ok;

	pthread_mutex_lock(&mm.mtx);
	ok = cap == 0 || (mm.in_use + mm.reserved <= cap &&
	    n <= cap - mm.in_use - mm.reserved);
	if (ok)
		mm.reserved += n;
	pthread_mutex_unlock(&mm.mtx);
	if (!ok) {
		cu_acct_refused(CU_REFUSED_ALLOC);
		shim_say("GPU allocation of %llu bytes refused: over the memory "
		    "cap of %llu bytes", (unsigned long long)n,
		    (unsigned long long)cap);
	}
	return ok ? 0 : -1;
}

/* The driver answered: the reservation becomes an allocation (or not). */
static void
settle(uint64_t reserved, CUresult rc, uint64_t key, uint64_t bytes)
{
	struct alloc *a = NULL;
	CUcontext ctx = NULL;
	int slot = cu_dev_slot_current();
	tg_pfn_cuCtxGetCurrent get = CU_REAL(cuCtxGetCurrent);

	if (rc == CUDA_SUCCESS) {
		if (get)
			get(&ctx);
		if ((a = malloc(sizeof(*a))) != NULL)
			*a = (struct alloc){ key, bytes, ctx, slot, NULL };
	}
	pthread_mutex_lock(&mm.mtx);
	mm.reserved -= reserved;
	if (a) {
		size_t i = bucket(key);

		a->next = mm.b[i];
		mm.b[i] = a;
		mm.in_use += bytes;
	}
	pthread_mutex_unlock(&mm.mtx);
	if (a)
		cu_acct_mem(slot, (int64_t)bytes);
}

static void
release(uint64_t key)
{
	struct alloc **pp, *a = NULL;

	pthread_mutex_lock(&mm.mtx);
	for (pp = &mm.b[bucket(key)]; *pp; pp = &(*pp)->next)
		if ((*pp)->key == key) {
			a = *pp;
			*pp = a->next;
			mm.in_use -= a->bytes;
			break;
		}
	pthread_mutex_unlock(&mm.mtx);
	if (a) {
		cu_acct_mem(a->slot, -(int64_t)a->bytes);
		free(a);
	}
}

void
cu_mem_ctx_gone(CUcontext ctx)
{
	struct alloc *gone = NULL;

	pthread_mutex_lock(&mm.mtx);
	for (size_t i = 0; i < BUCKETS; i++)
		for (struct alloc **pp = &mm.b[i]; *pp;) {
			struct alloc *a = *pp;

			if (a->ctx != ctx) {
				pp = &a->next;
				continue;
			}
			*pp = a->next;
			mm.in_use -= a->bytes;
			a->next = gone;
			gone = a;
		}
	pthread_mutex_unlock(&mm.mtx);
	while (gone) {
		struct alloc *a = gone;

		gone = a->next;
		cu_acct_mem(a->slot, -(int64_t)a->bytes);
		free(a);
	}
}

uint64_t
cu_mem_in_use(void)
{
	uint64_t n;

	pthread_mutex_lock(&mm.mtx);
	n = mm.in_use;
	pthread_mutex_unlock(&mm.mtx);
	return n;
}

/* A fork child: the parent's allocations are not the child's (the
 * entries are leaked on purpose: their lock may have been held). */
void
cu_mem_child(void)
{
	pthread_mutex_init(&mm.mtx, NULL);
	for (size_t i = 0; i < BUCKETS; i++)
		mm.b[i] = NULL;
	mm.in_use = mm.reserved = 0;
}

/* One allocation: reserve, ask, settle. */
#define ALLOC(n, call, out) do { \
	uint64_t n_ = (n); \
	CUresult rc_; \
	if (reserve(n_) != 0) \
		return CUDA_ERROR_OUT_OF_MEMORY; \
	rc_ = (call); \
	settle(n_, rc_, rc_ == CUDA_SUCCESS && (out) ? (uint64_t)*(out) : 0, \
	    n_); \
	return rc_; \
} while (0)

CUresult
cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytes)
{
	tg_pfn_cuMemAlloc_v2 real = CU_REAL(cuMemAlloc_v2);

	CU_NOT_INIT(real);
	ALLOC(bytes, real(dptr, bytes), dptr);
}

CUresult
cuMemAllocManaged(CUdeviceptr *dptr, size_t bytes, unsigned int flags)
{
	tg_pfn_cuMemAllocManaged real = CU_REAL(cuMemAllocManaged);

	CU_NOT_INIT(real);
	ALLOC(bytes, real(dptr, bytes, flags), dptr);
}

CUresult
cuMemAllocAsync(CUdeviceptr *dptr, size_t bytes, CUstream s)
{
	tg_pfn_cuMemAllocAsync real = CU_REAL(cuMemAllocAsync);

	CU_NOT_INIT(real);
	ALLOC(bytes, real(dptr, bytes, s), dptr);
}

CUresult
cuMemAllocAsync_ptsz(CUdeviceptr *dptr, size_t bytes, CUstream s)
{
	tg_pfn_cuMemAllocAsync_ptsz real = CU_REAL(cuMemAllocAsync_ptsz);

	CU_NOT_INIT(real);
	ALLOC(bytes, real(dptr, bytes, s), dptr);
}

CUresult
cuMemAllocFromPoolAsync(CUdeviceptr *dptr, size_t bytes, CUmemoryPool pool,
    CUstream s)
{
	tg_pfn_cuMemAllocFromPoolAsync real = CU_REAL(cuMemAllocFromPoolAsync);

	CU_NOT_INIT(real);
	ALLOC(bytes, real(dptr, bytes, pool, s), dptr);
}

CUresult
cuMemAllocFromPoolAsync_ptsz(CUdeviceptr *dptr, size_t bytes,
    CUmemoryPool pool, CUstream s)
{
	tg_pfn_cuMemAllocFromPoolAsync_ptsz real =
	    CU_REAL(cuMemAllocFromPoolAsync_ptsz);

	CU_NOT_INIT(real);
	ALLOC(bytes, real(dptr, bytes, pool, s), dptr);
}

/* Pitch: the driver picks the pitch, so the size is known only after;
 * width × height is reserved first, and an answer whose pitch takes the
 * total over the cap is freed again and refused. */
CUresult
cuMemAllocPitch_v2(CUdeviceptr *dptr, size_t *pitch, size_t width,
    size_t height, unsigned int elem)
{
	tg_pfn_cuMemAllocPitch_v2 real = CU_REAL(cuMemAllocPitch_v2);
	uint64_t want = (uint64_t)width * height, got;
	CUresult rc;

	CU_NOT_INIT(real);
	if (height != 0 && want / height != width)
		return CUDA_ERROR_INVALID_VALUE;
	if (reserve(want) != 0)
		return CUDA_ERROR_OUT_OF_MEMORY;
	rc = real(dptr, pitch, width, height, elem);
	got = rc == CUDA_SUCCESS && pitch ? (uint64_t)*pitch * height : want;
	if (rc == CUDA_SUCCESS && got > want) {
		pthread_mutex_lock(&mm.mtx);
		mm.reserved -= want;
		pthread_mutex_unlock(&mm.mtx);
		if (reserve(got) != 0) {
			tg_pfn_cuMemFree_v2 f = CU_REAL(cuMemFree_v2);

			if (f)
				f(*dptr);
			return CUDA_ERROR_OUT_OF_MEMORY;
		}
		want = got;
	}
	settle(want, rc, rc == CUDA_SUCCESS ? (uint64_t)*dptr : 0, got);
	return rc;
}

CUresult
cuMemFree_v2(CUdeviceptr p)
{
	tg_pfn_cuMemFree_v2 real = CU_REAL(cuMemFree_v2);
	CUresult rc;

	CU_NOT_INIT(real);
	if ((rc = real(p)) == CUDA_SUCCESS)
		release(p);
	return rc;
}

CUresult
cuMemFreeAsync(CUdeviceptr p, CUstream s)
{
	tg_pfn_cuMemFreeAsync real = CU_REAL(cuMemFreeAsync);
	CUresult rc;

	CU_NOT_INIT(real);
	if ((rc = real(p, s)) == CUDA_SUCCESS)
		release(p);
	return rc;
}

CUresult
cuMemFreeAsync_ptsz(CUdeviceptr p, CUstream s)
{
	tg_pfn_cuMemFreeAsync_ptsz real = CU_REAL(cuMemFreeAsync_ptsz);
	CUresult rc;

	CU_NOT_INIT(real);
	if ((rc = real(p, s)) == CUDA_SUCCESS)
		release(p);
	return rc;
}

/* Generic handles share the table with pointers: a handle's value could
 * equal a pointer's, so it is kept with its top bit flipped. */
#define HANDLE_KEY(h) ((uint64_t)(h) ^ 0x8000000000000000ull)

CUresult
cuMemCreate(CUmemGenericAllocationHandle *h, size_t size,
    const CUmemAllocationProp *prop, unsigned long long flags)
{
	tg_pfn_cuMemCreate real = CU_REAL(cuMemCreate);
	CUresult rc;

	CU_NOT_INIT(real);
	if (prop == NULL || prop->location.type != CU_MEM_LOCATION_TYPE_DEVICE)
		return real(h, size, prop, flags);
	if (reserve(size) != 0)
		return CUDA_ERROR_OUT_OF_MEMORY;
	rc = real(h, size, prop, flags);
	settle(size, rc, rc == CUDA_SUCCESS && h ? HANDLE_KEY(*h) : 0, size);
	return rc;
}

CUresult
cuMemRelease(CUmemGenericAllocationHandle h)
{
	tg_pfn_cuMemRelease real = CU_REAL(cuMemRelease);
	CUresult rc;

	CU_NOT_INIT(real);
	if ((rc = real(h)) == CUDA_SUCCESS)
		release(HANDLE_KEY(h));
	return rc;
}

CUresult
cuMemGetInfo_v2(size_t *freeb, size_t *total)
{
	tg_pfn_cuMemGetInfo_v2 real = CU_REAL(cuMemGetInfo_v2);
	uint64_t cap = cu_verdict_mem_cap(), used;
	CUresult rc;

	CU_NOT_INIT(real);
	if ((rc = real(freeb, total)) != CUDA_SUCCESS || cap == 0)
		return rc;
	used = cu_mem_in_use();
	if (total && *total > cap)
		*total = cap;
	if (freeb && *freeb > (used < cap ? cap - used : 0))
		*freeb = used < cap ? cap - used : 0;
	return rc;
}
