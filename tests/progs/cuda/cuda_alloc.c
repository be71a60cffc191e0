/*
 * cuda_alloc — allocations of given sizes through one allocation path,
 * each one's result code, and what cuMemGetInfo_v2 says after it: the
 * numbers a memory cap must agree with (issue 5: "allocation over the cap
 * returns CUDA_ERROR_OUT_OF_MEMORY, exactly at the byte").
 *
 * usage: cuda_alloc [-r mode] [-P] [-p path] ITEM...
 *   -r     how functions are found (cuda_prog.h; default link)
 *   -P     the per-thread-stream variants
 *   -p     alloc (cuMemAlloc_v2, default), pitch (cuMemAllocPitch_v2,
 *          width ITEM × height 1), managed, async (cuMemAllocAsync),
 *          pool (cuMemAllocFromPoolAsync), create (cuMemCreate, device)
 *   ITEM   a byte count, or "free": what cuMemGetInfo_v2 says is free now
 * Allocations that succeed stay live until every ITEM was tried, then are
 * freed. A refused one is data, not a failure: the exit status is 0 unless
 * a set-up call fails. Prints one JSON line:
 *   {"path":P,"total0":T,"free0":F,"allocs":[{"bytes":N,"rc":R,
 *    "free":F,"total":T},...],"freed":K,"free_end":F,"total_end":T}
 */
#include <unistd.h>

#include "cuda_prog.h"

#define MAX_ITEMS 64

static struct {
	tg_pfn_cuMemGetInfo_v2 info;
	tg_pfn_cuMemAlloc_v2 alloc;
	tg_pfn_cuMemAllocPitch_v2 pitch;
	tg_pfn_cuMemAllocManaged managed;
	tg_pfn_cuMemAllocAsync async;
	tg_pfn_cuMemAllocFromPoolAsync pool_async;
	tg_pfn_cuDeviceGetDefaultMemPool default_pool;
	tg_pfn_cuMemCreate create;
	tg_pfn_cuMemFree_v2 free;
	tg_pfn_cuMemFreeAsync free_async;
	tg_pfn_cuMemRelease release;
	tg_pfn_cuStreamSynchronize sync;
} a;

enum path { P_ALLOC, P_PITCH, P_MANAGED, P_ASYNC, P_POOL, P_CREATE, NPATHS };
static const char *const path_names[NPATHS] = { "alloc", "pitch", "managed",
    "async", "pool", "create" };

struct live {
	CUdeviceptr p;
	CUmemGenericAllocationHandle h;
};

static void
start(struct resolver *r)
{
	tg_pfn_cuInit init = current(r, "cuInit");
	tg_pfn_cuDevicePrimaryCtxRetain retain =
	    current(r, "cuDevicePrimaryCtxRetain");
	tg_pfn_cuCtxSetCurrent set = current(r, "cuCtxSetCurrent");
	CUcontext ctx;

	CHECK(init(0));
	CHECK(retain(&ctx, 0));
	CHECK(set(ctx));
}

static void
resolve(struct resolver *r)
{
	a.info = current(r, "cuMemGetInfo");
	a.alloc = current(r, "cuMemAlloc");
	a.pitch = current(r, "cuMemAllocPitch");
	a.managed = current(r, "cuMemAllocManaged");
	a.async = current(r, "cuMemAllocAsync");
	a.pool_async = current(r, "cuMemAllocFromPoolAsync");
	a.default_pool = current(r, "cuDeviceGetDefaultMemPool");
	a.create = current(r, "cuMemCreate");
	a.free = current(r, "cuMemFree");
	a.free_async = current(r, "cuMemFreeAsync");
	a.release = current(r, "cuMemRelease");
	a.sync = current(r, "cuStreamSynchronize");
}

static CUresult
allocate(enum path path, size_t n, struct live *l)
{
	CUmemAllocationProp prop = { .type = CU_MEM_ALLOCATION_TYPE_PINNED,
	    .location = { CU_MEM_LOCATION_TYPE_DEVICE, 0 } };
	CUmemoryPool pool;
	size_t pitch;

	switch (path) {
	case P_ALLOC:
		return a.alloc(&l->p, n);
	case P_PITCH:
		return a.pitch(&l->p, &pitch, n, 1, 4);
	case P_MANAGED:
		return a.managed(&l->p, n, CU_MEM_ATTACH_GLOBAL);
	case P_ASYNC:
		return a.async(&l->p, n, NULL);
	case P_POOL:
		CHECK(a.default_pool(&pool, 0));
		return a.pool_async(&l->p, n, pool, NULL);
	default:
		return a.create(&l->h, n, &prop, 0);
	}
}

static void
release(enum path path, struct live *l)
{
	if (path == P_CREATE)
		CHECK(a.release(l->h));
	else if (path == P_ASYNC || path == P_POOL)
		CHECK(a.free_async(l->p, NULL));
	else
		CHECK(a.free(l->p));
}

int
main(int argc, char **argv)
{
	struct live live[MAX_ITEMS];
	struct resolver r;
	const char *mode = "link";
	enum path path = P_ALLOC;
	size_t freeb, total, n;
	CUresult rc[MAX_ITEMS];
	int c, i, pt = 0, items, freed = 0;

	while ((c = getopt(argc, argv, "r:Pp:")) != -1) {
		switch (c) {
		case 'r': mode = optarg; break;
		case 'P': pt = 1; break;
		case 'p':
			for (path = 0; path < NPATHS; path++)
				if (strcmp(optarg, path_names[path]) == 0)
					break;
			if (path == NPATHS)
				die("unknown path %s", optarg);
			break;
		default: die("usage: see the comment at the top of cuda_alloc.c");
		}
	}
	items = argc - optind;
	if (items < 1 || items > MAX_ITEMS)
		die("1 to %d sizes", MAX_ITEMS);
	resolver_init(&r, mode, pt);
	resolve(&r);
	start(&r);
	CHECK(a.info(&freeb, &total));
	printf("{\"path\":\"%s\",\"total0\":%zu,\"free0\":%zu,\"allocs\":[",
	    path_names[path], total, freeb);
	for (i = 0; i < items; i++) {
		const char *item = argv[optind + i];

		n = strcmp(item, "free") == 0 ? freeb : strtoull(item, NULL, 10);
		rc[i] = allocate(path, n, &live[i]);
		CHECK(a.info(&freeb, &total));
		printf("%s{\"bytes\":%zu,\"rc\":%d,\"free\":%zu,\"total\":%zu}",
		    i ? "," : "", n, (int)rc[i], freeb, total);
	}
	for (i = 0; i < items; i++)
		if (rc[i] == CUDA_SUCCESS) {
			release(path, &live[i]);
			freed++;
		}
	CHECK(a.sync(NULL));
	CHECK(a.info(&freeb, &total));
	printf("],\"freed\":%d,\"free_end\":%zu,\"total_end\":%zu}\n", freed,
	    freeb, total);
	return 0;
}
