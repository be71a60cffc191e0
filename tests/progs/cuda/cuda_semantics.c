/*
 * cuda_semantics — the fake driver's answers, one check per rule it
 * documents (tools/fakecuda/README.md): errors, cuGetProcAddress's choice,
 * stream ordering, events, capture modes, graphs, memory. Calls the driver
 * by its exported names (linked directly). Prints "ok" and exits 0, or
 * names the first check that failed.
 */
#include <pthread.h>
#include <unistd.h>

#include "cuda_prog.h"

static CUfunction fn;

static void
launch_us(CUstream s, unsigned us)
{
	void *params[] = { &us };

	CHECK(cuLaunchKernel(fn, 1, 1, 1, 32, 1, 1, 0, s, params, NULL));
}

static void
expect_ms(CUevent a, CUevent b, double lo, double hi)
{
	float ms;

	CHECK(cuEventElapsedTime_v2(&ms, a, b));
	if (ms < lo || ms >= hi)
		die("elapsed %.4f ms, want [%.4f, %.4f)", ms, lo, hi);
}

static void
check_before_init(void)
{
	const char *s;
	int v, n;

	EXPECT(CUDA_ERROR_NOT_INITIALIZED, cuDeviceGetCount(&n));
	CHECK(cuDriverGetVersion(&v));
	if (v != 13000)
		die("driver version %d", v);
	CHECK(cuGetErrorName(CUDA_ERROR_OUT_OF_MEMORY, &s));
	if (strcmp(s, "CUDA_ERROR_OUT_OF_MEMORY") != 0)
		die("error name %s", s);
	CHECK(cuGetErrorString(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, &s));
	if (strcmp(s, "operation not permitted when stream is capturing") != 0)
		die("error string %s", s);
	EXPECT(CUDA_ERROR_INVALID_VALUE, cuGetErrorString((CUresult)12345, &s));
	if (s != NULL)
		die("unknown error has a string");
	EXPECT(CUDA_ERROR_INVALID_VALUE, cuInit(1));
}

static void
expect_proc(const char *base, int version, cuuint64_t flags, void *want,
    CUdriverProcAddressQueryResult want_status)
{
	CUdriverProcAddressQueryResult st = 99;
	void *p = (void *)1;

	CHECK(cuGetProcAddress_v2(base, &p, version, flags, &st));
	if (p != want || st != want_status)
		die("cuGetProcAddress_v2(%s, %d, %llu) = %p status %d, want %p "
		    "status %d", base, version, (unsigned long long)flags, p, st,
		    want, want_status);
}

#define PT CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM
#define LEGACY CU_GET_PROC_ADDRESS_LEGACY_STREAM
#define FOUND(base, v, flags, sym) \
	expect_proc(base, v, flags, (void *)sym, CU_GET_PROC_ADDRESS_SUCCESS)

static void
check_proc_address(void)
{
	void *p;

	FOUND("cuLaunchKernel", 12000, PT, cuLaunchKernel_ptsz);
	FOUND("cuLaunchKernel", 12000, LEGACY, cuLaunchKernel);
	FOUND("cuLaunchKernel", 12000, 0, cuLaunchKernel);
	FOUND("cuLaunchKernel", 6050, PT, cuLaunchKernel);
	FOUND("cuGraphInstantiate", 12000, 0, cuGraphInstantiateWithFlags);
	FOUND("cuGraphInstantiate", 11000, 0, cuGraphInstantiate_v2);
	FOUND("cuGraphInstantiate", 10000, 0, cuGraphInstantiate);
	FOUND("cuStreamBeginCapture", 10000, PT, cuStreamBeginCapture_ptsz);
	FOUND("cuStreamBeginCapture", 13000, PT, cuStreamBeginCapture_v2_ptsz);
	FOUND("cuCtxCreate", 12050, 0, cuCtxCreate_v4);
	FOUND("cuCtxCreate", 12040, 0, cuCtxCreate_v3);
	FOUND("cuEventElapsedTime", 12080, 0, cuEventElapsedTime_v2);
	FOUND("cuEventElapsedTime", 12070, 0, cuEventElapsedTime);
	FOUND("cuCtxSynchronize", 13000, 0, cuCtxSynchronize_v2);
	FOUND("cuMemAlloc", 13000, PT, cuMemAlloc_v2);
	FOUND("cuGetProcAddress", 12000, 0, cuGetProcAddress_v2);
	FOUND("cuGetProcAddress", 11030, 0, cuGetProcAddress);
	expect_proc("cuNoSuchFunction", 13000, 0, NULL,
	    CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND);
	expect_proc("cuLaunchKernelEx", 11050, 0, NULL,
	    CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT);
	expect_proc("cuLaunchKernel_ptsz", 13000, PT, NULL,
	    CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND);
	EXPECT(CUDA_ERROR_INVALID_VALUE, cuGetProcAddress_v2("cuInit", &p, 13010,
	    0, NULL));
	EXPECT(CUDA_ERROR_NOT_FOUND, cuGetProcAddress("cuNoSuchFunction", &p,
	    13000, 0));
	CHECK(cuGetProcAddress("cuLaunchKernel", &p, 13000, PT));
	if (p != (void *)cuLaunchKernel_ptsz)
		die("v1 per-thread lookup");
}

static void
check_launch_errors(CUcontext ctx)
{
	void *params[] = { NULL }, *extra[] = { CU_LAUNCH_PARAM_END };
	uint64_t not_a_stream[8] = { 0 };
	CUstream s;

	CHECK(cuCtxSetCurrent(NULL));
	EXPECT(CUDA_ERROR_INVALID_CONTEXT, cuStreamCreate(&s, 0));
	EXPECT(CUDA_ERROR_INVALID_CONTEXT,
	    cuLaunchKernel(fn, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL));
	CHECK(cuCtxSetCurrent(ctx));
	EXPECT(CUDA_ERROR_INVALID_HANDLE,
	    cuLaunchKernel(NULL, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL));
	EXPECT(CUDA_ERROR_INVALID_VALUE,
	    cuLaunchKernel(fn, 0, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL));
	EXPECT(CUDA_ERROR_INVALID_VALUE,
	    cuLaunchKernel(fn, 1, 1, 1, 1025, 1, 1, 0, NULL, NULL, NULL));
	EXPECT(CUDA_ERROR_INVALID_VALUE,
	    cuLaunchKernel(fn, 1, 65536, 1, 1, 1, 1, 0, NULL, NULL, NULL));
	EXPECT(CUDA_ERROR_INVALID_VALUE,
	    cuLaunchKernel(fn, 1, 1, 1, 1, 1, 1, 0, NULL, params, extra));
	EXPECT(CUDA_ERROR_INVALID_HANDLE,
	    cuLaunchKernel(fn, 1, 1, 1, 1, 1, 1, 0, (CUstream)not_a_stream, NULL,
	    NULL));
}

/* Events time the schedule exactly; extra[] carries the duration too. */
static void
check_events(void)
{
	unsigned us = 2000;
	size_t size = sizeof(us);
	void *extra[] = { CU_LAUNCH_PARAM_BUFFER_POINTER, &us,
	    CU_LAUNCH_PARAM_BUFFER_SIZE, &size, CU_LAUNCH_PARAM_END };
	CUevent e0, e1, never, untimed;
	CUstream s;
	float ms;

	CHECK(cuStreamCreate(&s, 0));
	CHECK(cuEventCreate(&e0, 0));
	CHECK(cuEventCreate(&e1, 0));
	CHECK(cuEventCreate(&never, 0));
	CHECK(cuEventCreate(&untimed, CU_EVENT_DISABLE_TIMING));
	CHECK(cuEventQuery(never)); /* an empty set of work */
	CHECK(cuEventRecord(e0, s));
	CHECK(cuLaunchKernel(fn, 1, 1, 1, 1, 1, 1, 0, s, NULL, extra));
	CHECK(cuEventRecord(e1, s));
	EXPECT(CUDA_ERROR_NOT_READY, cuEventQuery(e1));
	EXPECT(CUDA_ERROR_NOT_READY, cuStreamQuery(s));
	EXPECT(CUDA_ERROR_NOT_READY, cuEventElapsedTime(&ms, e0, e1));
	CHECK(cuEventSynchronize(e1));
	CHECK(cuStreamQuery(s));
	expect_ms(e0, e1, 2.0, 2.5);
	EXPECT(CUDA_ERROR_INVALID_HANDLE, cuEventElapsedTime(&ms, e0, never));
	CHECK(cuEventRecord(untimed, s));
	EXPECT(CUDA_ERROR_INVALID_HANDLE, cuEventElapsedTime(&ms, e0, untimed));
	CHECK(cuEventDestroy_v2(e0));
	CHECK(cuEventDestroy_v2(e1));
	CHECK(cuEventDestroy_v2(never));
	CHECK(cuEventDestroy_v2(untimed));
	CHECK(cuStreamDestroy_v2(s));
}

/* The legacy stream waits for blocking streams and they for it; a
 * non-blocking stream and the per-thread stream wait for nobody but
 * (the per-thread one) the legacy stream. */
static void
check_stream_order(void)
{
	CUstream a, nb;
	CUevent ea, el, en, eb, ep;

	CHECK(cuStreamCreate(&a, 0));
	CHECK(cuStreamCreate(&nb, CU_STREAM_NON_BLOCKING));
	CHECK(cuEventCreate(&ea, 0));
	CHECK(cuEventCreate(&el, 0));
	CHECK(cuEventCreate(&en, 0));
	CHECK(cuEventCreate(&eb, 0));
	CHECK(cuEventCreate(&ep, 0));
	CHECK(cuEventRecord(ea, a));
	launch_us(a, 3000);
	CHECK(cuEventRecord(en, nb));          /* not behind a */
	CHECK(cuEventQuery(en));
	CHECK(cuEventRecord_ptsz(ep, NULL));    /* per-thread: not behind a */
	CHECK(cuEventQuery(ep));
	CHECK(cuLaunchKernel(fn, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL));
	CHECK(cuEventRecord(el, NULL));        /* legacy: behind a */
	EXPECT(CUDA_ERROR_NOT_READY, cuEventQuery(el));
	CHECK(cuEventRecord_ptsz(ep, NULL));    /* now behind legacy */
	EXPECT(CUDA_ERROR_NOT_READY, cuEventQuery(ep));
	launch_us(nb, 1000);
	CHECK(cuEventRecord(eb, nb));
	CHECK(cuCtxSynchronize());
	expect_ms(ea, el, 3.0, 3.5);
	expect_ms(ea, ep, 3.0, 3.5);
	expect_ms(en, eb, 1.0, 1.5);
	CHECK(cuEventDestroy_v2(ea));
	CHECK(cuEventDestroy_v2(el));
	CHECK(cuEventDestroy_v2(en));
	CHECK(cuEventDestroy_v2(eb));
	CHECK(cuEventDestroy_v2(ep));
	CHECK(cuStreamDestroy_v2(a));
	CHECK(cuStreamDestroy_v2(nb));
}

static CUstreamCaptureStatus
capture_status(CUstream s)
{
	CUstreamCaptureStatus st;

	CHECK(cuStreamIsCapturing(s, &st));
	return st;
}

static CUevent other_event;
static CUstream other_stream;
static CUresult other_rc;

static void *
query_from_other_thread(void *relaxed)
{
	CUstreamCaptureMode mode = CU_STREAM_CAPTURE_MODE_RELAXED;

	if (relaxed)
		CHECK(cuThreadExchangeStreamCaptureMode(&mode));
	other_rc = cuEventQuery(other_event);
	return NULL;
}

static void *
end_from_other_thread(void *arg)
{
	CUgraph g;

	other_rc = cuStreamEndCapture(other_stream, &g);
	return NULL;
}

static CUresult
in_thread(void *(*body)(void *), void *arg)
{
	pthread_t t;

	pthread_create(&t, NULL, body, arg);
	pthread_join(t, NULL);
	return other_rc;
}

/* Capture modes, as CUDA defines them. */
static void
check_capture_modes(void)
{
	CUstream s;
	CUgraph g;
	CUdeviceptr p;

	CHECK(cuStreamCreate(&s, 0));
	CHECK(cuEventCreate(&other_event, 0));
	other_stream = s;
	EXPECT(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED,
	    cuStreamBeginCapture_v2(NULL, CU_STREAM_CAPTURE_MODE_GLOBAL));
	/* A relaxed thread's query leaves a global capture alone ... */
	CHECK(cuStreamBeginCapture_v2(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
	EXPECT(CUDA_ERROR_ILLEGAL_STATE,
	    cuStreamBeginCapture_v2(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
	EXPECT(CUDA_SUCCESS, in_thread(query_from_other_thread, (void *)1));
	EXPECT(CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD,
	    in_thread(end_from_other_thread, NULL));
	if (capture_status(s) != CU_STREAM_CAPTURE_STATUS_ACTIVE)
		die("relaxed query invalidated the capture");
	/* ... a global-mode thread's invalidates it. */
	EXPECT(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED,
	    in_thread(query_from_other_thread, NULL));
	if (capture_status(s) != CU_STREAM_CAPTURE_STATUS_INVALIDATED)
		die("global query left the capture valid");
	EXPECT(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED, cuStreamEndCapture(s, &g));
	if (g != NULL)
		die("an invalidated capture returned a graph");
	/* Thread-local: other threads are ignored, this one is not. */
	CHECK(cuStreamBeginCapture_v2(s, CU_STREAM_CAPTURE_MODE_THREAD_LOCAL));
	EXPECT(CUDA_SUCCESS, in_thread(query_from_other_thread, NULL));
	EXPECT(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, cuMemAlloc_v2(&p, 1));
	EXPECT(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED, cuStreamEndCapture(s, &g));
	/* Relaxed: anything goes, even from the capturing thread. */
	CHECK(cuStreamBeginCapture_v2(s, CU_STREAM_CAPTURE_MODE_RELAXED));
	CHECK(cuMemAlloc_v2(&p, 1));
	CHECK(cuMemFree_v2(p));
	CHECK(cuStreamEndCapture(s, &g));
	CHECK(cuGraphDestroy(g));
	CHECK(cuEventDestroy_v2(other_event));
	CHECK(cuStreamDestroy_v2(s));
}

/* What a capture records, and what breaks it. */
static void
check_capture_effects(void)
{
	CUgraphNode nodes[4];
	size_t n = 4;
	CUstream s;
	CUevent e;
	CUgraph g;
	float ms;

	CHECK(cuStreamCreate(&s, 0));
	CHECK(cuEventCreate(&e, 0));
	CHECK(cuStreamBeginCapture_v2(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
	launch_us(s, 5000);
	CHECK(cuEventRecord(e, s));
	CHECK(cuStreamEndCapture(s, &g));
	CHECK(cuStreamQuery(s)); /* nothing ran */
	EXPECT(CUDA_ERROR_CAPTURED_EVENT, cuEventQuery(e));
	EXPECT(CUDA_ERROR_CAPTURED_EVENT, cuEventElapsedTime(&ms, e, e));
	CHECK(cuGraphGetNodes(g, nodes, &n));
	if (n != 1 || nodes[1] != NULL)
		die("captured graph has %zu nodes", n);
	CHECK(cuGraphDestroy(g));
	/* Legacy-stream work while a blocking stream captures. */
	CHECK(cuStreamBeginCapture_v2(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
	EXPECT(CUDA_ERROR_STREAM_CAPTURE_IMPLICIT,
	    cuLaunchKernel(fn, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL));
	EXPECT(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED, cuStreamEndCapture(s, &g));
	/* Synchronizing the capturing stream. */
	CHECK(cuStreamBeginCapture_v2(s, CU_STREAM_CAPTURE_MODE_GLOBAL));
	EXPECT(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, cuStreamSynchronize(s));
	EXPECT(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED, cuStreamEndCapture(s, &g));
	EXPECT(CUDA_ERROR_ILLEGAL_STATE, cuStreamEndCapture(s, &g));
	CHECK(cuEventDestroy_v2(e));
	CHECK(cuStreamDestroy_v2(s));
}

static void
check_graph_update(void)
{
	unsigned us = 10;
	void *params[] = { &us };
	CUDA_KERNEL_NODE_PARAMS p = { .func = fn, .gridDimX = 1, .gridDimY = 1,
	    .gridDimZ = 1, .blockDimX = 1, .blockDimY = 1, .blockDimZ = 1,
	    .kernelParams = params };
	CUgraphExecUpdateResultInfo info;
	CUgraphExecUpdateResult r;
	CUgraph g, g2;
	CUgraphExec x;
	CUgraphNode n;

	CHECK(cuGraphCreate(&g, 0));
	CHECK(cuGraphCreate(&g2, 0));
	CHECK(cuGraphAddKernelNode_v2(&n, g, NULL, 0, &p));
	CHECK(cuGraphAddKernelNode_v2(&n, g2, NULL, 0, &p));
	CHECK(cuGraphAddKernelNode_v2(&n, g2, &n, 1, &p));
	CHECK(cuGraphInstantiateWithFlags(&x, g, 0));
	EXPECT(CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE, cuGraphExecUpdate_v2(x, g2,
	    &info));
	if (info.result != CU_GRAPH_EXEC_UPDATE_ERROR_TOPOLOGY_CHANGED)
		die("update result %d", info.result);
	EXPECT(CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE, cuGraphExecUpdate(x, g2, &n,
	    &r));
	CHECK(cuGraphExecUpdate(x, g, &n, &r));
	EXPECT(CUDA_ERROR_INVALID_VALUE, cuGraphCreate(&g2, 1));
	CHECK(cuGraphExecDestroy(x));
	CHECK(cuGraphDestroy(g));
	CHECK(cuGraphDestroy(g2));
}

static void
check_memory(void)
{
	CUmemAllocationProp prop = { .type = CU_MEM_ALLOCATION_TYPE_PINNED,
	    .location = { CU_MEM_LOCATION_TYPE_DEVICE, 0 } };
	CUmemGenericAllocationHandle h;
	size_t free0, free1, total, pitch;
	CUcontext c;
	CUdeviceptr p;

	CHECK(cuCtxCreate_v4(&c, NULL, 0, 0));
	EXPECT(CUDA_ERROR_INVALID_VALUE, cuMemAlloc_v2(&p, 0));
	EXPECT(CUDA_ERROR_INVALID_VALUE, cuMemFree_v2(0x1234));
	EXPECT(CUDA_ERROR_INVALID_VALUE, cuMemAllocPitch_v2(&p, &pitch, 10, 10, 3));
	EXPECT(CUDA_ERROR_INVALID_VALUE, cuMemCreate(&h, 1000, &prop, 0));
	prop.location.id = 99;
	EXPECT(CUDA_ERROR_INVALID_DEVICE, cuMemCreate(&h, 2 << 20, &prop, 0));
	prop.location.id = 0;
	CHECK(cuMemCreate(&h, 2 << 20, &prop, 0));
	EXPECT(CUDA_ERROR_INVALID_VALUE, cuMemFree_v2(h));
	CHECK(cuMemRelease(h));
	/* Destroying a context frees what was allocated in it. */
	CHECK(cuMemGetInfo_v2(&free0, &total));
	CHECK(cuMemAlloc_v2(&p, 12345));
	CHECK(cuMemGetInfo_v2(&free1, &total));
	if (free0 - free1 != 12345)
		die("allocated 12345, free went down by %zu", free0 - free1);
	CHECK(cuCtxDestroy_v2(c));
	EXPECT(CUDA_ERROR_INVALID_VALUE, cuMemFree_v2(p));
	EXPECT(CUDA_ERROR_INVALID_CONTEXT, cuMemGetInfo_v2(&free1, &total));
}

int
main(void)
{
	CUcontext ctx, cur;
	CUmodule mod;

	check_before_init();
	check_proc_address();
	CHECK(cuInit(0));
	EXPECT(CUDA_ERROR_INVALID_CONTEXT, cuDevicePrimaryCtxRelease_v2(0));
	CHECK(cuCtxCreate_v4(&ctx, NULL, 0, 0));
	CHECK(cuCtxGetCurrent(&cur));
	if (cur != ctx)
		die("a new context is not current");
	CHECK(cuModuleLoadData(&mod, "module"));
	CHECK(cuModuleGetFunction(&fn, mod, "spin"));
	check_launch_errors(ctx);
	check_events();
	check_stream_order();
	check_capture_modes();
	check_capture_effects();
	check_graph_update();
	CHECK(cuCtxDestroy_v2(ctx));
	check_memory();
	puts("ok");
	return 0;
}
