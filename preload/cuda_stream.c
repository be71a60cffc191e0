/*
 * cuda_stream.c — stream capture and stream destruction, for busy time
 * (cuda_busy.c): no event may be recorded on a stream that captures, and
 * a destroyed stream's state must not outlive it (the driver reuses
 * handles).
 */
#include "cushim.h"

/* Begin: the stream's open batch is closed before the capture starts.
 * If the driver refuses the capture, the stream is not capturing. */
#define BEGIN(name, pt, params, args) \
CUresult name params \
{ \
	tg_pfn_##name real = CU_REAL(name); \
	CUresult rc; \
 \
	CU_NOT_INIT(real); \
	cu_busy_capture_begin(hStream, pt); \
	if ((rc = real args) != CUDA_SUCCESS) \
		cu_busy_capture_end(hStream, pt); \
	return rc; \
}

BEGIN(cuStreamBeginCapture, 0, (CUstream hStream), (hStream))
BEGIN(cuStreamBeginCapture_ptsz, 1, (CUstream hStream), (hStream))
BEGIN(cuStreamBeginCapture_v2, 0,
    (CUstream hStream, CUstreamCaptureMode mode), (hStream, mode))
BEGIN(cuStreamBeginCapture_v2_ptsz, 1,
    (CUstream hStream, CUstreamCaptureMode mode), (hStream, mode))

/* End: whatever the driver answers, the capture is over (an invalidated
 * one ends with an error). */
CUresult
cuStreamEndCapture(CUstream hStream, CUgraph *phGraph)
{
	tg_pfn_cuStreamEndCapture real = CU_REAL(cuStreamEndCapture);
	CUresult rc;

	CU_NOT_INIT(real);
	rc = real(hStream, phGraph);
	cu_busy_capture_end(hStream, 0);
	return rc;
}

CUresult
cuStreamEndCapture_ptsz(CUstream hStream, CUgraph *phGraph)
{
	tg_pfn_cuStreamEndCapture_ptsz real = CU_REAL(cuStreamEndCapture_ptsz);
	CUresult rc;

	CU_NOT_INIT(real);
	rc = real(hStream, phGraph);
	cu_busy_capture_end(hStream, 1);
	return rc;
}

CUresult
cuStreamDestroy(CUstream hStream)
{
	tg_pfn_cuStreamDestroy real = CU_REAL(cuStreamDestroy);

	CU_NOT_INIT(real);
	cu_busy_stream_gone(hStream);
	return real(hStream);
}

CUresult
cuStreamDestroy_v2(CUstream hStream)
{
	tg_pfn_cuStreamDestroy_v2 real = CU_REAL(cuStreamDestroy_v2);

	CU_NOT_INIT(real);
	cu_busy_stream_gone(hStream);
	return real(hStream);
}
