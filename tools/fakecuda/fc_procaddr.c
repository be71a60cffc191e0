/*
 * fc_procaddr.c — cuGetProcAddress (v1) and cuGetProcAddress_v2: this
 * driver's own functions by base name, CUDA version and stream flags.
 *
 * Of the rows of TG_CU_FUNCS (and TG_CU_PROC_ALIASES) named base whose
 * version is <= the one asked for and <= the driver's, the one with the
 * highest version wins; at equal versions the per-thread (_ptsz) variant
 * wins when CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM is asked for, and
 * is never returned otherwise (flags 0 mean the legacy stream, as for a
 * caller not built for per-thread streams). As cuda.h 13.0 documents: a
 * version above the driver's is CUDA_ERROR_INVALID_VALUE; a name not found,
 * or found only at higher versions, is CUDA_SUCCESS with *pfn NULL and the
 * status SYMBOL_NOT_FOUND or VERSION_NOT_SUFFICIENT (v2); v1, which has no
 * status, answers CUDA_ERROR_NOT_FOUND then.
 */
#include <string.h>

#include "fakecuda.h"

static const struct proc {
	const char *base;
	int version;
	int per_thread;
	void *fn;
} procs[] = {
#define ROW(sym, base, ver, pt, params) { #base, ver, pt, (void *)sym },
	TG_CU_FUNCS(ROW)
#undef ROW
#define ALIAS(base, ver, pt, sym) { #base, ver, pt, (void *)sym },
	TG_CU_PROC_ALIASES(ALIAS)
#undef ALIAS
};

static CUresult
lookup(const char *symbol, void **pfn, int version, cuuint64_t flags,
    CUdriverProcAddressQueryResult *status)
{
	const struct proc *p, *best = NULL;
	int pt = (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) != 0;
	int named = 0;

	if (symbol == NULL || pfn == NULL || flags > 3)
		return CUDA_ERROR_INVALID_VALUE;
	if (version > fc_g.driver_version)
		return CUDA_ERROR_INVALID_VALUE;
	for (p = procs; p < procs + sizeof(procs) / sizeof(procs[0]); p++) {
		if (strcmp(p->base, symbol) != 0 || p->version > fc_g.driver_version)
			continue;
		named = 1;
		if (p->version > version || (p->per_thread && !pt))
			continue;
		if (best == NULL || p->version > best->version ||
		    (p->version == best->version && p->per_thread))
			best = p;
	}
	*pfn = best != NULL ? best->fn : NULL;
	*status = best != NULL ? CU_GET_PROC_ADDRESS_SUCCESS : named ?
	    CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT :
	    CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
	return CUDA_SUCCESS;
}

CUresult
cuGetProcAddress(const char *symbol, void **pfn, int cudaVersion,
    cuuint64_t flags)
{
	CUdriverProcAddressQueryResult status;
	CUresult rc;

	fc_enter(TG_FN_cuGetProcAddress);
	rc = lookup(symbol, pfn, cudaVersion, flags, &status);
	if (rc == CUDA_SUCCESS && status != CU_GET_PROC_ADDRESS_SUCCESS)
		return CUDA_ERROR_NOT_FOUND;
	return rc;
}

CUresult
cuGetProcAddress_v2(const char *symbol, void **pfn, int cudaVersion,
    cuuint64_t flags, CUdriverProcAddressQueryResult *symbolStatus)
{
	CUdriverProcAddressQueryResult status;
	CUresult rc;

	fc_enter(TG_FN_cuGetProcAddress_v2);
	rc = lookup(symbol, pfn, cudaVersion, flags, &status);
	if (rc == CUDA_SUCCESS && symbolStatus != NULL)
		*symbolStatus = status;
	return rc;
}
