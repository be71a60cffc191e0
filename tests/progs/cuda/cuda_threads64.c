/*
 * cuda_threads64 — many threads launching at once, released together by a
 * barrier: even threads on a stream of their own through cuLaunchKernel,
 * odd ones on their per-thread default stream (NULL) through
 * cuLaunchKernel_ptsz. Prints what they did as one JSON line.
 *
 * usage: cuda_threads64 [-r mode] [-t threads] [-n launches] [-d µs]
 */
#include <pthread.h>
#include <unistd.h>

#include "cuda_prog.h"

#define MAX_THREADS 256

static struct {
	tg_pfn_cuCtxSetCurrent set;
	tg_pfn_cuStreamCreate stream_create;
	tg_pfn_cuStreamDestroy_v2 stream_destroy;
	tg_pfn_cuLaunchKernel launch[2];       /* legacy, per-thread */
	tg_pfn_cuStreamSynchronize sync[2];
} a;

static struct resolver rs[2]; /* legacy, per-thread */
static CUcontext ctx;
static CUfunction fn;
static pthread_barrier_t go;
static long per_thread;
static unsigned us;

static void *
thread(void *arg)
{
	int pt = (int)(intptr_t)arg & 1;
	void *params[] = { &us };
	CUstream s = NULL;
	long i;

	CHECK(a.set(ctx));
	if (!pt)
		CHECK(a.stream_create(&s, 0));
	pthread_barrier_wait(&go);
	for (i = 0; i < per_thread; i++)
		CHECK(a.launch[pt](fn, 1, 1, 1, 32, 1, 1, 0, s, params, NULL));
	CHECK(a.sync[pt](s));
	if (!pt)
		CHECK(a.stream_destroy(s));
	return NULL;
}

static void
resolve(const char *mode)
{
	int pt;

	for (pt = 0; pt < 2; pt++) {
		resolver_init(&rs[pt], mode, pt);
		a.launch[pt] = current(&rs[pt], "cuLaunchKernel");
		a.sync[pt] = current(&rs[pt], "cuStreamSynchronize");
	}
	a.set = current(&rs[0], "cuCtxSetCurrent");
	a.stream_create = current(&rs[0], "cuStreamCreate");
	a.stream_destroy = current(&rs[0], "cuStreamDestroy");
	if (rs[0].mismatch || rs[1].mismatch)
		die("resolution mismatches");
}

static void
setup(struct resolver *r)
{
	tg_pfn_cuModuleGetFunction function = current(r, "cuModuleGetFunction");
	tg_pfn_cuModuleLoadData load = current(r, "cuModuleLoadData");
	tg_pfn_cuDevicePrimaryCtxRetain retain =
	    current(r, "cuDevicePrimaryCtxRetain");
	tg_pfn_cuInit init = current(r, "cuInit");
	CUmodule mod;

	CHECK(init(0));
	CHECK(retain(&ctx, 0));
	CHECK(a.set(ctx));
	CHECK(load(&mod, "module"));
	CHECK(function(&fn, mod, "spin"));
}

int
main(int argc, char **argv)
{
	pthread_t tid[MAX_THREADS];
	const char *mode = "link";
	int c, i, n = 64;

	per_thread = 1000;
	while ((c = getopt(argc, argv, "r:t:n:d:")) != -1) {
		switch (c) {
		case 'r': mode = optarg; break;
		case 't': n = atoi(optarg); break;
		case 'n': per_thread = atol(optarg); break;
		case 'd': us = atoi(optarg); break;
		default: die("usage: cuda_threads64 [-r mode] [-t n] [-n n] [-d µs]");
		}
	}
	if (n < 2 || n > MAX_THREADS || n % 2)
		die("threads: an even number from 2 to %d", MAX_THREADS);
	resolve(mode);
	setup(&rs[0]);
	pthread_barrier_init(&go, NULL, n);
	for (i = 0; i < n; i++)
		if (pthread_create(&tid[i], NULL, thread, (void *)(intptr_t)i) != 0)
			die("pthread_create");
	for (i = 0; i < n; i++)
		pthread_join(tid[i], NULL);
	printf("{\"threads\":%d,\"launches\":{\"%s\":%ld,\"%s\":%ld},"
	    "\"busy_min_ns\":%lld,\"busy_max_ns\":%lld}\n", n,
	    name_of(&rs[0], (void *)a.launch[0]), n / 2 * per_thread,
	    name_of(&rs[1], (void *)a.launch[1]), n / 2 * per_thread,
	    per_thread * us * 1000LL, n * per_thread * us * 1000LL);
	return 0;
}
