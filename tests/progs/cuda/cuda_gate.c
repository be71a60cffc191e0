/*
 * cuda_gate — a CUDA process for the eBPF probe tests: it maps libcuda.so.1
 * (linked), prints "ready PID", waits for one line on stdin (the test
 * attaches its probes meanwhile), then makes exactly -n cuLaunchKernel
 * calls and -a cuMemAlloc_v2 + cuMemFree_v2
 * pairs of 4096 bytes, prints "done N A" and "ns T" (the launch loop's
 * CLOCK_MONOTONIC time), and waits until stdin is closed.
 *
 * usage: cuda_gate [-n launches] [-a allocs] [-o PATH]
 *   -o  open PATH first and hold it (a stand-in GPU device node)
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "cuda_abi.h"

#define CHECK(call) do { CUresult rc_ = (call); if (rc_ != CUDA_SUCCESS) { \
	fprintf(stderr, "cuda_gate: %s: %d\n", #call, (int)rc_); exit(1); } } while (0)

int
main(int argc, char **argv)
{
	long n = 0, a = 0, i;
	const char *dev = NULL;
	char line[64];
	CUdevice d;
	CUcontext ctx;
	CUmodule mod;
	CUfunction f;
	CUdeviceptr p;
	uint32_t us = 0;
	void *params[] = { &us };
	struct timespec t0, t1;
	int c;

	while ((c = getopt(argc, argv, "n:a:o:")) != -1) {
		switch (c) {
		case 'n': n = strtol(optarg, NULL, 10); break;
		case 'a': a = strtol(optarg, NULL, 10); break;
		case 'o': dev = optarg; break;
		default:
			fprintf(stderr, "usage: cuda_gate [-n N] [-a N] [-o PATH]\n");
			return 2;
		}
	}
	if (dev != NULL && open(dev, O_RDWR | O_CLOEXEC) < 0) {
		perror(dev);
		return 1;
	}
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return 1;
	CHECK(cuInit(0));
	CHECK(cuDeviceGet(&d, 0));
	CHECK(cuDevicePrimaryCtxRetain(&ctx, d));
	CHECK(cuCtxSetCurrent(ctx));
	CHECK(cuModuleLoadData(&mod, "gate"));
	CHECK(cuModuleGetFunction(&f, mod, "k"));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < n; i++)
		CHECK(cuLaunchKernel(f, 1, 1, 1, 1, 1, 1, 0, NULL, params, NULL));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	for (i = 0; i < a; i++) {
		CHECK(cuMemAlloc_v2(&p, 4096));
		CHECK(cuMemFree_v2(p));
	}
	printf("done %ld %ld\nns %lld\n", n, a,
	    (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL +
	    (t1.tv_nsec - t0.tv_nsec));
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin) != NULL)
		;
	return 0;
}
