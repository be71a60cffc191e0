/* cuda_real.c — the driver's own functions and our wrappers, by TG_FN_*
 * index; see cushim.h. */
#include <dlfcn.h>
#include <string.h>

#include "cushim.h"
#include "real.h"

void *_Atomic cu_real[TG_FN_COUNT];

/* The real dlsym, from dlvsym — never _dl_sym or __libc_dlsym: the newest
 * version first (GLIBC_2.34, when libdl moved into libc), then the x86_64
 * base version. */
__attribute__((visibility("hidden"))) void *(*cu_dlsym_real)(void *,
    const char *);

void
cu_dlsym_init(void)
{
	void *p;

	if (__atomic_load_n(&cu_dlsym_real, __ATOMIC_ACQUIRE))
		return;
	if ((p = dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.34")) == NULL)
		p = dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.2.5");
	__atomic_store_n(&cu_dlsym_real, (void *(*)(void *, const char *))p,
	    __ATOMIC_RELEASE);
}


static const struct cu_row {
	const char *sym, *base;
	int version, per_thread;
} rows[TG_FN_COUNT] = {
#define ROW(sym, base, ver, pt, params) { #sym, #base, ver, pt },
	TG_CU_FUNCS(ROW)
#undef ROW
};

/* Every exported wrapper, by index; NULL where we do not hook. The
 * wrappers are the exported definitions of the same names (exports.map). */
#define CU_HOOKED(X) \
	X(cuLaunchKernel) X(cuLaunchKernel_ptsz) X(cuLaunchKernelEx) \
	X(cuLaunchKernelEx_ptsz) X(cuLaunchCooperativeKernel) \
	X(cuLaunchCooperativeKernel_ptsz) X(cuGraphLaunch) X(cuGraphLaunch_ptsz) \
	X(cuGraphInstantiate) X(cuGraphInstantiate_v2) \
	X(cuGraphInstantiateWithFlags) X(cuGraphInstantiateWithParams) \
	X(cuGraphInstantiateWithParams_ptsz) X(cuGraphExecUpdate) \
	X(cuGraphExecUpdate_v2) X(cuGraphExecDestroy) \
	X(cuStreamBeginCapture) X(cuStreamBeginCapture_ptsz) \
	X(cuStreamBeginCapture_v2) X(cuStreamBeginCapture_v2_ptsz) \
	X(cuStreamEndCapture) X(cuStreamEndCapture_ptsz) \
	X(cuStreamDestroy) X(cuStreamDestroy_v2) \
	X(cuCtxCreate) X(cuCtxCreate_v2) X(cuCtxCreate_v3) X(cuCtxCreate_v4) \
	X(cuCtxDestroy) X(cuCtxDestroy_v2) X(cuCtxSetCurrent) \
	X(cuDevicePrimaryCtxRetain) X(cuDevicePrimaryCtxRelease) \
	X(cuDevicePrimaryCtxRelease_v2) \
	X(cuMemAlloc_v2) X(cuMemAllocPitch_v2) X(cuMemAllocManaged) \
	X(cuMemAllocAsync) X(cuMemAllocAsync_ptsz) X(cuMemAllocFromPoolAsync) \
	X(cuMemAllocFromPoolAsync_ptsz) X(cuMemFree_v2) X(cuMemFreeAsync) \
	X(cuMemFreeAsync_ptsz) X(cuMemCreate) X(cuMemRelease) \
	X(cuMemGetInfo_v2) X(cuGetProcAddress) X(cuGetProcAddress_v2)

static void *const wrappers[TG_FN_COUNT] = {
#define WRAP(sym) [TG_FN_##sym] = (void *)sym,
	CU_HOOKED(WRAP)
#undef WRAP
};

void *
cu_wrapper(int i)
{
	return i >= 0 && i < TG_FN_COUNT ? wrappers[i] : NULL;
}

int
cu_fn_index(const char *sym)
{
	if (sym == NULL || strncmp(sym, "cu", 2) != 0)
		return -1;
	for (int i = 0; i < TG_FN_COUNT; i++)
		if (strcmp(rows[i].sym, sym) == 0)
			return i;
	return -1;
}

/* The driver loaded (by anyone, in any scope), or NULL. RTLD_NOLOAD: we
 * never load it ourselves. */
static void *
driver_handle(void)
{
	static void *_Atomic h;
	void *p = atomic_load_explicit(&h, memory_order_acquire);

	if (p == NULL && (p = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_NOLOAD)))
		atomic_store_explicit(&h, p, memory_order_release);
	return p;
}

/* The driver's definition of row i: the next one after us in the global
 * scope, or the one in a libcuda.so.1 loaded into a private scope. */
static void *
driver_sym(int i)
{
	void *p, *h;

	cu_dlsym_init();
	p = cu_dlsym_real(RTLD_NEXT, rows[i].sym);
	if (p && shim_real_is_ours(p))
		p = NULL;
	if (p == NULL && (h = driver_handle()) != NULL) {
		p = cu_dlsym_real(h, rows[i].sym);
		if (p && shim_real_is_ours(p))
			p = NULL;
	}
	return p;
}

/* Rows the loaded driver does not have (an older driver): asked once. */
static _Atomic uint8_t absent[TG_FN_COUNT];

void *
cu_real_find(int i)
{
	void *p = atomic_load_explicit(&cu_real[i], memory_order_acquire);

	if (p != NULL || atomic_load_explicit(&absent[i], memory_order_relaxed))
		return p;
	if ((p = driver_sym(i)) != NULL)
		atomic_store_explicit(&cu_real[i], p, memory_order_release);
	else if (driver_handle() != NULL)
		atomic_store_explicit(&absent[i], 1, memory_order_relaxed);
	return p;
}

/* The row cuGetProcAddress means by (base, version, per-thread): the
 * highest version <= the one asked for, the _ptsz variant only with the
 * per-thread flag (tools/fakecuda/README.md, cudaTypedefs.h). */
static const struct { const char *base; int version, per_thread;
    int fn; } aliases[] = {
#define ALIAS(base, ver, pt, sym) { #base, ver, pt, TG_FN_##sym },
	TG_CU_PROC_ALIASES(ALIAS)
#undef ALIAS
};

int
cu_row_for(const char *base, int version, int per_thread)
{
	int best = -1;

	for (size_t k = 0; k < sizeof(aliases) / sizeof(aliases[0]); k++)
		if (strcmp(aliases[k].base, base) == 0 &&
		    version >= aliases[k].version &&
		    aliases[k].per_thread <= per_thread)
			return aliases[k].fn;

	for (int i = 0; i < TG_FN_COUNT; i++) {
		const struct cu_row *r = &rows[i];

		if (strcmp(r->base, base) != 0 || r->version > version ||
		    (r->per_thread && !per_thread))
			continue;
		if (best < 0 || r->version > rows[best].version ||
		    (r->version == rows[best].version && r->per_thread))
			best = i;
	}
	return best;
}

/* p is the driver's own function i: keep it as the real one when none is
 * known yet, and answer with our wrapper. */
static void *
adopt_as(int i, void *p)
{
	void *none = NULL;

	atomic_compare_exchange_strong(&cu_real[i], &none, p);
	return wrappers[i];
}

void *
cu_real_adopt(void *p)
{
	if (p == NULL || shim_real_is_ours(p))
		return p;
	for (int i = 0; i < TG_FN_COUNT; i++)
		if (wrappers[i] && cu_real_find(i) == p)
			return adopt_as(i, p);
	return p;
}

void *
cu_real_adopt_row(int row, void *p)
{
	void *w;

	if (p == NULL || shim_real_is_ours(p))
		return p;
	if ((w = cu_real_adopt(p)) != p)
		return w;
	/* Not an exported address: still the driver's function of that row
	 * (the same ABI), so our wrapper of the row may call it. */
	return row >= 0 && wrappers[row] ? adopt_as(row, p) : p;
}
