/*
 * cuda_workload — a driver-API program that resolves every function one of
 * the ways of cuda_prog.h, runs a workload through what it resolved, and
 * prints what it did as one JSON line (the counts a driver or a shim must
 * agree with).
 *
 * usage: cuda_workload [-r mode] [-P] [-x] [-n launches] [-d µs]
 *            [-s streams] [-p kec] [-k nodes] [-R replays] [-c captured]
 *            [-a] [-o] [-b launches]
 *   -r  link dlsym default gpa1 gpa2 gpagpa gpagpa1 (default link)
 *   -P  per-thread default stream variants (_ptsz)
 *   -x  a context of its own (cuCtxCreate) instead of the primary one
 *   -n  direct launches, spread over -s streams (0: the NULL stream) and
 *       over the paths of -p: k cuLaunchKernel, e Ex, c Cooperative
 *   -d  every kernel's duration in µs (its first argument)
 *   -k  a graph of k kernel nodes and a child graph of k more, launched
 *       -R times on the first stream, updated (cuGraphExecUpdate_v2), and
 *       launched -R times again
 *   -c  c launches captured on a stream of their own, the graph launched
 *       -R times there
 *   -a  one allocation by each path, all live at once, then freed
 *   -o  allocate all free memory, then one byte more (must fail)
 *   -b  time n no-op launches on the NULL stream, pinned to one CPU
 *   -W  after printing, wait until stdin is closed (a test reads what
 *       a shim published about the live process meanwhile)
 */
#include <sched.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "cuda_prog.h"

#define MAX_STREAMS 64
enum { PATH_KERNEL, PATH_EX, PATH_COOP, NPATH };

struct api {
	tg_pfn_cuInit init;
	tg_pfn_cuDeviceGet device_get;
	tg_pfn_cuDeviceGetCount device_count;
	tg_pfn_cuDeviceGetName device_name;
	tg_pfn_cuDeviceGetUuid_v2 device_uuid;
	tg_pfn_cuDeviceTotalMem_v2 total_mem;
	tg_pfn_cuDevicePrimaryCtxRetain primary_retain;
	tg_pfn_cuDevicePrimaryCtxRelease_v2 primary_release;
	tg_pfn_cuCtxCreate_v4 ctx_create;
	tg_pfn_cuCtxDestroy_v2 ctx_destroy;
	tg_pfn_cuCtxSetCurrent ctx_set;
	tg_pfn_cuCtxSynchronize ctx_sync;
	tg_pfn_cuModuleLoadData module_load;
	tg_pfn_cuModuleGetFunction module_function;
	tg_pfn_cuLaunchKernel launch;
	tg_pfn_cuLaunchKernelEx launch_ex;
	tg_pfn_cuLaunchCooperativeKernel launch_coop;
	tg_pfn_cuStreamCreate stream_create;
	tg_pfn_cuStreamDestroy_v2 stream_destroy;
	tg_pfn_cuStreamSynchronize stream_sync;
	tg_pfn_cuStreamBeginCapture_v2 begin_capture;
	tg_pfn_cuStreamEndCapture end_capture;
	tg_pfn_cuStreamIsCapturing is_capturing;
	tg_pfn_cuEventCreate event_create;
	tg_pfn_cuEventDestroy_v2 event_destroy;
	tg_pfn_cuEventRecord event_record;
	tg_pfn_cuEventElapsedTime_v2 event_elapsed;
	tg_pfn_cuGraphCreate graph_create;
	tg_pfn_cuGraphAddKernelNode_v2 graph_add_kernel;
	tg_pfn_cuGraphAddChildGraphNode graph_add_child;
	tg_pfn_cuGraphGetNodes graph_nodes;
	tg_pfn_cuGraphNodeGetType node_type;
	tg_pfn_cuGraphInstantiateWithFlags instantiate;
	tg_pfn_cuGraphInstantiateWithParams instantiate_params;
	tg_pfn_cuGraphExecUpdate_v2 exec_update;
	tg_pfn_cuGraphLaunch graph_launch;
	tg_pfn_cuGraphExecDestroy exec_destroy;
	tg_pfn_cuGraphDestroy graph_destroy;
	tg_pfn_cuMemGetInfo_v2 mem_info;
	tg_pfn_cuMemAlloc_v2 mem_alloc;
	tg_pfn_cuMemAllocPitch_v2 mem_pitch;
	tg_pfn_cuMemAllocManaged mem_managed;
	tg_pfn_cuMemAllocAsync mem_async;
	tg_pfn_cuMemAllocFromPoolAsync mem_pool_async;
	tg_pfn_cuDeviceGetDefaultMemPool default_pool;
	tg_pfn_cuMemFree_v2 mem_free;
	tg_pfn_cuMemFreeAsync mem_free_async;
	tg_pfn_cuMemCreate mem_create;
	tg_pfn_cuMemRelease mem_release;
};

static void
api_init(struct api *a, struct resolver *r)
{
#define GET(field, base) a->field = current(r, #base)
	GET(init, cuInit);
	GET(device_get, cuDeviceGet);
	GET(device_count, cuDeviceGetCount);
	GET(device_name, cuDeviceGetName);
	GET(device_uuid, cuDeviceGetUuid);
	GET(total_mem, cuDeviceTotalMem);
	GET(primary_retain, cuDevicePrimaryCtxRetain);
	GET(primary_release, cuDevicePrimaryCtxRelease);
	GET(ctx_create, cuCtxCreate);
	GET(ctx_destroy, cuCtxDestroy);
	GET(ctx_set, cuCtxSetCurrent);
	a->ctx_sync = r->fn[TG_FN_cuCtxSynchronize]; /* the v1 of no argument */
	GET(module_load, cuModuleLoadData);
	GET(module_function, cuModuleGetFunction);
	GET(launch, cuLaunchKernel);
	GET(launch_ex, cuLaunchKernelEx);
	GET(launch_coop, cuLaunchCooperativeKernel);
	GET(stream_create, cuStreamCreate);
	GET(stream_destroy, cuStreamDestroy);
	GET(stream_sync, cuStreamSynchronize);
	GET(begin_capture, cuStreamBeginCapture);
	GET(end_capture, cuStreamEndCapture);
	GET(is_capturing, cuStreamIsCapturing);
	GET(event_create, cuEventCreate);
	GET(event_destroy, cuEventDestroy);
	GET(event_record, cuEventRecord);
	GET(event_elapsed, cuEventElapsedTime);
	GET(graph_create, cuGraphCreate);
	GET(graph_add_kernel, cuGraphAddKernelNode);
	GET(graph_add_child, cuGraphAddChildGraphNode);
	GET(graph_nodes, cuGraphGetNodes);
	GET(node_type, cuGraphNodeGetType);
	GET(instantiate, cuGraphInstantiateWithFlags);
	GET(instantiate_params, cuGraphInstantiateWithParams);
	GET(exec_update, cuGraphExecUpdate);
	GET(graph_launch, cuGraphLaunch);
	GET(exec_destroy, cuGraphExecDestroy);
	GET(graph_destroy, cuGraphDestroy);
	GET(mem_info, cuMemGetInfo);
	GET(mem_alloc, cuMemAlloc);
	GET(mem_pitch, cuMemAllocPitch);
	GET(mem_managed, cuMemAllocManaged);
	GET(mem_async, cuMemAllocAsync);
	GET(mem_pool_async, cuMemAllocFromPoolAsync);
	GET(default_pool, cuDeviceGetDefaultMemPool);
	GET(mem_free, cuMemFree);
	GET(mem_free_async, cuMemFreeAsync);
	GET(mem_create, cuMemCreate);
	GET(mem_release, cuMemRelease);
#undef GET
}

struct opts {
	const char *mode;
	int pt, own_ctx, alloc, oom;
	long launches, bench;
	int wait;
	unsigned us;
	int streams, nodes, replays, captured;
	const char *paths;
};

struct run {
	struct api a;
	struct resolver r;
	struct opts o;
	CUcontext ctx;
	CUfunction fn;
	CUstream stream[MAX_STREAMS];
	int nstream;           /* 0: everything on the NULL stream */
	long path_count[NPATH];
	long graph_launches, graph_kernels;
	long long stream_ns[MAX_STREAMS + 1]; /* the last: the capture stream */
	double event_ms;
	long long mem_hwm, oom_free;
	char device[256];
};

static CUstream
stream_at(struct run *w, long i)
{
	return w->nstream ? w->stream[i % w->nstream] : NULL;
}

static void
launch_one(struct run *w, int path, CUstream s)
{
	void *params[] = { &w->o.us };
	CUlaunchAttribute attr = { .id = CU_LAUNCH_ATTRIBUTE_PRIORITY };
	CUlaunchConfig cfg = { 2, 1, 1, 128, 1, 1, 0, s, &attr, 1 };

	switch (path) {
	case PATH_KERNEL:
		CHECK(w->a.launch(w->fn, 2, 1, 1, 128, 1, 1, 0, s, params, NULL));
		break;
	case PATH_EX:
		CHECK(w->a.launch_ex(&cfg, w->fn, params, NULL));
		break;
	default:
		CHECK(w->a.launch_coop(w->fn, 2, 1, 1, 128, 1, 1, 0, s, params));
	}
	w->path_count[path]++;
}

static int
path_of(char c)
{
	return c == 'k' ? PATH_KERNEL : c == 'e' ? PATH_EX : c == 'c' ? PATH_COOP :
	    (die("unknown path %c", c), 0);
}

static void
run_launches(struct run *w)
{
	size_t npaths = strlen(w->o.paths);
	long i;

	for (i = 0; i < w->o.launches; i++) {
		launch_one(w, path_of(w->o.paths[i % npaths]), stream_at(w, i));
		w->stream_ns[w->nstream ? i % w->nstream : 0] += w->o.us * 1000LL;
	}
}

/* k kernel nodes, then one child graph node of k kernel nodes. */
static CUgraph
build_graph(struct run *w, unsigned *us)
{
	void *params[] = { us };
	CUDA_KERNEL_NODE_PARAMS p = { .func = w->fn, .gridDimX = 1, .gridDimY = 1,
	    .gridDimZ = 1, .blockDimX = 32, .blockDimY = 1, .blockDimZ = 1,
	    .kernelParams = params };
	CUgraph g, child;
	CUgraphNode n, prev = NULL;
	int i;

	CHECK(w->a.graph_create(&g, 0));
	CHECK(w->a.graph_create(&child, 0));
	for (i = 0; i < w->o.nodes; i++) { /* a chain in g, none in child */
		CHECK(w->a.graph_add_kernel(&n, g, prev ? &prev : NULL,
		    prev ? 1 : 0, &p));
		prev = n;
		CHECK(w->a.graph_add_kernel(&n, child, NULL, 0, &p));
	}
	CHECK(w->a.graph_add_child(&n, g, NULL, 0, child));
	CHECK(w->a.graph_destroy(child)); /* the node holds its own copy */
	return g;
}

/* The shape a shim would learn: k kernel nodes and one graph node. */
static void
check_graph_nodes(struct run *w, CUgraph g)
{
	CUgraphNode nodes[130];
	CUgraphNodeType type;
	size_t n = 0, i, kernels = 0;

	CHECK(w->a.graph_nodes(g, NULL, &n));
	if (n != (size_t)w->o.nodes + 1 || n > 130)
		die("graph has %zu nodes, want %d", n, w->o.nodes + 1);
	CHECK(w->a.graph_nodes(g, nodes, &n));
	for (i = 0; i < n; i++) {
		CHECK(w->a.node_type(nodes[i], &type));
		kernels += type == CU_GRAPH_NODE_TYPE_KERNEL;
	}
	if (kernels != (size_t)w->o.nodes)
		die("graph has %zu kernel nodes, want %d", kernels, w->o.nodes);
}

static void
run_graph(struct run *w)
{
	unsigned us = w->o.us;
	CUgraphExecUpdateResultInfo info;
	CUgraphExec exec;
	CUgraph g, g2;
	CUstream s = stream_at(w, 0);
	int i, pass;

	g = build_graph(w, &us);
	check_graph_nodes(w, g);
	CHECK(w->a.instantiate(&exec, g, 0));
	g2 = build_graph(w, &us); /* same shape: the update must succeed */
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < w->o.replays; i++)
			CHECK(w->a.graph_launch(exec, s));
		if (pass == 0)
			CHECK(w->a.exec_update(exec, g2, &info));
	}
	w->graph_launches += 2L * w->o.replays;
	w->graph_kernels += 2L * w->o.replays * 2 * w->o.nodes;
	w->stream_ns[0] += 2LL * w->o.replays * 2 * w->o.nodes * us * 1000;
	CHECK(w->a.exec_destroy(exec));
	CHECK(w->a.graph_destroy(g));
	CHECK(w->a.graph_destroy(g2));
}

static void
run_capture(struct run *w)
{
	CUDA_GRAPH_INSTANTIATE_PARAMS ip = { 0 };
	CUstreamCaptureStatus st;
	CUgraphExec exec;
	CUstream cs;
	CUgraph g;
	int i;

	CHECK(w->a.stream_create(&cs, 0));
	CHECK(w->a.begin_capture(cs, CU_STREAM_CAPTURE_MODE_GLOBAL));
	CHECK(w->a.is_capturing(cs, &st));
	if (st != CU_STREAM_CAPTURE_STATUS_ACTIVE)
		die("capture status %d", st);
	for (i = 0; i < w->o.captured; i++)
		launch_one(w, path_of(w->o.paths[i % strlen(w->o.paths)]), cs);
	CHECK(w->a.end_capture(cs, &g));
	CHECK(w->a.instantiate_params(&exec, g, &ip));
	for (i = 0; i < w->o.replays; i++)
		CHECK(w->a.graph_launch(exec, cs));
	w->graph_launches += w->o.replays;
	w->graph_kernels += (long)w->o.replays * w->o.captured;
	w->stream_ns[MAX_STREAMS] += (long long)w->o.replays * w->o.captured *
	    w->o.us * 1000;
	CHECK(w->a.stream_sync(cs));
	CHECK(w->a.exec_destroy(exec));
	CHECK(w->a.graph_destroy(g));
	CHECK(w->a.stream_destroy(cs));
}

#define MiB (1LL << 20)

/* One allocation per path, all live at once; host-NUMA memory does not
 * count as the device's. */
static void
run_allocs(struct run *w)
{
	CUmemAllocationProp prop = { .type = CU_MEM_ALLOCATION_TYPE_PINNED,
	    .location = { CU_MEM_LOCATION_TYPE_DEVICE, 0 } };
	CUmemGenericAllocationHandle dh, hh;
	CUdeviceptr p[5];
	CUmemoryPool pool;
	CUstream s = stream_at(w, 0);
	size_t pitch;

	CHECK(w->a.mem_alloc(&p[0], 1 * MiB));
	CHECK(w->a.mem_pitch(&p[1], &pitch, 1000, 100, 4));
	CHECK(w->a.mem_managed(&p[2], 3 * MiB, CU_MEM_ATTACH_GLOBAL));
	CHECK(w->a.mem_async(&p[3], 4 * MiB, s));
	CHECK(w->a.default_pool(&pool, 0));
	CHECK(w->a.mem_pool_async(&p[4], 5 * MiB, pool, s));
	CHECK(w->a.mem_create(&dh, 2 * MiB, &prop, 0));
	prop.location.type = CU_MEM_LOCATION_TYPE_HOST_NUMA;
	CHECK(w->a.mem_create(&hh, 2 * MiB, &prop, 0));
	w->mem_hwm = 15 * MiB + (long long)pitch * 100;
	CHECK(w->a.mem_free(p[0]));
	CHECK(w->a.mem_free(p[1]));
	CHECK(w->a.mem_free(p[2]));
	CHECK(w->a.mem_free_async(p[3], s));
	CHECK(w->a.mem_free_async(p[4], s));
	CHECK(w->a.mem_release(dh));
	CHECK(w->a.mem_release(hh));
}

/* All of the free memory fits; one byte more does not. */
static void
run_oom(struct run *w)
{
	size_t free, total;
	CUdeviceptr p, q;

	CHECK(w->a.mem_info(&free, &total));
	EXPECT(CUDA_ERROR_OUT_OF_MEMORY, w->a.mem_alloc(&q, free + 1));
	CHECK(w->a.mem_alloc(&p, free));
	EXPECT(CUDA_ERROR_OUT_OF_MEMORY, w->a.mem_alloc(&q, 1));
	CHECK(w->a.mem_free(p));
	w->oom_free = free;
	w->mem_hwm = total; /* the device was full */
}

static long long
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int
by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The median of 9 rounds of n no-op launches, ns per launch. */
static double
run_bench(struct run *w, long n)
{
	double per[9];
	cpu_set_t one;
	long long t0;
	long i;
	int k;

	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	sched_setaffinity(0, sizeof(one), &one);
	for (k = 0; k < 9; k++) {
		t0 = mono_ns();
		for (i = 0; i < n; i++)
			w->a.launch(w->fn, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL);
		per[k] = (double)(mono_ns() - t0) / n;
	}
	qsort(per, 9, sizeof(per[0]), by_value);
	return per[4];
}

static void
setup(struct run *w)
{
	static const char image[] = "tollgate test module";
	CUmodule mod;
	CUdevice dev;
	CUuuid uuid;
	size_t total;
	int n, i;

	CHECK(w->a.init(0));
	CHECK(w->a.device_count(&n));
	CHECK(w->a.device_get(&dev, 0));
	CHECK(w->a.device_name(w->device, sizeof(w->device), dev));
	CHECK(w->a.device_uuid(&uuid, dev));
	CHECK(w->a.total_mem(&total, dev));
	if (w->o.own_ctx)
		CHECK(w->a.ctx_create(&w->ctx, NULL, 0, dev));
	else {
		CHECK(w->a.primary_retain(&w->ctx, dev));
		CHECK(w->a.ctx_set(w->ctx));
	}
	CHECK(w->a.module_load(&mod, image));
	CHECK(w->a.module_function(&w->fn, mod, "spin"));
	for (i = 0; i < w->nstream; i++)
		CHECK(w->a.stream_create(&w->stream[i], 0));
}

static void
teardown(struct run *w)
{
	int i;

	for (i = 0; i < w->nstream; i++)
		CHECK(w->a.stream_destroy(w->stream[i]));
	if (w->o.own_ctx)
		CHECK(w->a.ctx_destroy(w->ctx));
	else
		CHECK(w->a.primary_release(0));
}

/* Runs body between an event on each stream before and one after; adds up
 * what the events measured. */
static void
timed(struct run *w, void (*body)(struct run *))
{
	CUevent start[MAX_STREAMS + 1], end[MAX_STREAMS + 1];
	int i, n = w->nstream ? w->nstream : 1;
	float ms;

	for (i = 0; i < n; i++) {
		CHECK(w->a.event_create(&start[i], 0));
		CHECK(w->a.event_create(&end[i], 0));
		CHECK(w->a.event_record(start[i], stream_at(w, i)));
	}
	body(w);
	for (i = 0; i < n; i++)
		CHECK(w->a.event_record(end[i], stream_at(w, i)));
	CHECK(w->a.ctx_sync());
	for (i = 0; i < n; i++) {
		CHECK(w->a.event_elapsed(&ms, start[i], end[i]));
		w->event_ms += ms;
		CHECK(w->a.event_destroy(start[i]));
		CHECK(w->a.event_destroy(end[i]));
	}
}

static void
work(struct run *w)
{
	run_launches(w);
	if (w->o.nodes > 0)
		run_graph(w);
}

static void
print_json(struct run *w)
{
	static const char *const bases[NPATH] = { "cuLaunchKernel",
	    "cuLaunchKernelEx", "cuLaunchCooperativeKernel" };
	void *fns[NPATH] = { (void *)w->a.launch, (void *)w->a.launch_ex,
	    (void *)w->a.launch_coop };
	long long min = 0, max = 0;
	long kernels = 0;
	int i;

	printf("{\"mode\":\"%s\",\"pt\":%d,\"device\":\"%s\",\"functions\":%d,"
	    "\"resolved\":%d,\"mismatch\":%d,\"launches\":{", w->o.mode, w->o.pt,
	    w->device, TG_FN_COUNT, w->r.resolved, w->r.mismatch);
	for (i = 0; i < NPATH; i++) {
		const char *name = name_of(&w->r, fns[i]);

		if (strncmp(name, bases[i], strlen(bases[i])) != 0)
			die("%s resolved to %s", bases[i], name);
		printf("%s\"%s\":%ld", i ? "," : "", name, w->path_count[i]);
		kernels += w->path_count[i];
	}
	for (i = 0; i <= MAX_STREAMS; i++) {
		min = w->stream_ns[i] > min ? w->stream_ns[i] : min;
		max += w->stream_ns[i];
	}
	printf("},\"captured\":%d,\"graph_launches\":{\"%s\":%ld},"
	    "\"graph_kernels\":%ld,\"kernels_run\":%ld,\"busy_min_ns\":%lld,"
	    "\"busy_max_ns\":%lld,\"event_ns\":%lld,\"mem_hwm\":%lld,"
	    "\"oom_free\":%lld}\n", w->o.captured,
	    name_of(&w->r, (void *)w->a.graph_launch), w->graph_launches,
	    w->graph_kernels, kernels - w->o.captured + w->graph_kernels, min, max,
	    (long long)(w->event_ms * 1e6 + 0.5), w->mem_hwm, w->oom_free);
}

static void
parse(struct opts *o, int argc, char **argv)
{
	int c;

	*o = (struct opts){ .mode = "link", .paths = "kec" };
	while ((c = getopt(argc, argv, "r:Pxn:d:s:p:k:R:c:aob:W")) != -1) {
		switch (c) {
		case 'r': o->mode = optarg; break;
		case 'P': o->pt = 1; break;
		case 'x': o->own_ctx = 1; break;
		case 'n': o->launches = atol(optarg); break;
		case 'd': o->us = atoi(optarg); break;
		case 's': o->streams = atoi(optarg); break;
		case 'p': o->paths = optarg; break;
		case 'k': o->nodes = atoi(optarg); break;
		case 'R': o->replays = atoi(optarg); break;
		case 'c': o->captured = atoi(optarg); break;
		case 'a': o->alloc = 1; break;
		case 'o': o->oom = 1; break;
		case 'b': o->bench = atol(optarg); break;
		case 'W': o->wait = 1; break;
		default: die("usage: see the comment at the top of cuda_workload.c");
		}
	}
	if (o->streams < 0 || o->streams > MAX_STREAMS || *o->paths == '\0' ||
	    o->nodes > 128)
		die("bad arguments");
}

int
main(int argc, char **argv)
{
	static struct run w;

	parse(&w.o, argc, argv);
	resolver_init(&w.r, w.o.mode, w.o.pt);
	api_init(&w.a, &w.r);
	w.nstream = w.o.streams;
	setup(&w);
	if (w.o.bench > 0) {
		printf("{\"ns_per_noop_launch\":%.2f}\n", run_bench(&w, w.o.bench));
		teardown(&w);
		return 0;
	}
	timed(&w, work);
	if (w.o.captured > 0)
		run_capture(&w);
	if (w.o.alloc)
		run_allocs(&w);
	if (w.o.oom)
		run_oom(&w);
	CHECK(w.a.ctx_sync());
	teardown(&w);
	print_json(&w);
	fflush(stdout);
	while (w.o.wait && getchar() != EOF)
		;
	return 0;
}
