/*
 * cuda_procaddr.c — cuGetProcAddress and cuGetProcAddress_v2, how CUDA
 * 11.3+ runtimes find every driver function. The real one answers first;
 * the pointer it returned is then mapped to our wrapper of the same
 * function and version: by address (the driver's exported symbol of that
 * row), else by the row the request means (base name, version, the
 * per-thread flag), whose wrapper then calls exactly the returned pointer.
 * A function we do not hook comes back unchanged. Asking for
 * "cuGetProcAddress" itself therefore returns our wrapper of the version
 * the driver chose.
 */
#include "cushim.h"

static void
map_answer(const char *symbol, void **pfn, int version, cuuint64_t flags)
{
	int pt = (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) != 0;

	if (pfn == NULL || *pfn == NULL || symbol == NULL)
		return;
	*pfn = cu_real_adopt_row(cu_row_for(symbol, version, pt), *pfn);
}

CUresult
cuGetProcAddress(const char *symbol, void **pfn, int cudaVersion,
    cuuint64_t flags)
{
	tg_pfn_cuGetProcAddress real = CU_REAL(cuGetProcAddress);
	CUresult rc;

	CU_NOT_INIT(real);
	if ((rc = real(symbol, pfn, cudaVersion, flags)) == CUDA_SUCCESS)
		map_answer(symbol, pfn, cudaVersion, flags);
	return rc;
}

CUresult
cuGetProcAddress_v2(const char *symbol, void **pfn, int cudaVersion,
    cuuint64_t flags, CUdriverProcAddressQueryResult *symbolStatus)
{
	tg_pfn_cuGetProcAddress_v2 real = CU_REAL(cuGetProcAddress_v2);
	CUresult rc;

	CU_NOT_INIT(real);
	rc = real(symbol, pfn, cudaVersion, flags, symbolStatus);
	if (rc == CUDA_SUCCESS)
		map_answer(symbol, pfn, cudaVersion, flags);
	return rc;
}
