/*
 * nocuda_late — a program built WITHOUT libcuda that loads it late, as
 * cudart and frameworks do: dlopen("libcuda.so.1", RTLD_LOCAL) after
 * main started (and after the shim's constructor ran), then every
 * function through dlsym on that handle or, with -g, through the
 * cuGetProcAddress_v2 found that way. The launches must be counted like
 * any others (issue 5, "libcuda loaded late by dlopen").
 *
 * usage: nocuda_late [-g] [-n launches] [-d µs]
 * Prints one JSON line: {"launches":N,"loaded_late":1}
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cuda_abi.h"

static void *lib;
static tg_pfn_cuGetProcAddress_v2 gpa;

static void
fail(const char *what)
{
	fprintf(stderr, "FAIL: %s\n", what);
	exit(1);
}

/* name: the exported symbol; base, version: what cuGetProcAddress takes. */
static void *
find(const char *name, const char *base, int version)
{
	CUdriverProcAddressQueryResult st;
	void *p = NULL;

	if (gpa == NULL)
		p = dlsym(lib, name);
	else if (gpa(base, &p, version, CU_GET_PROC_ADDRESS_LEGACY_STREAM,
	    &st) != CUDA_SUCCESS || st != CU_GET_PROC_ADDRESS_SUCCESS)
		p = NULL;
	if (p == NULL)
		fail(name);
	return p;
}

#define CHECK(call) do { if ((call) != CUDA_SUCCESS) fail(#call); } while (0)

int
main(int argc, char **argv)
{
	tg_pfn_cuInit init;
	tg_pfn_cuDevicePrimaryCtxRetain retain;
	tg_pfn_cuDevicePrimaryCtxRelease_v2 release;
	tg_pfn_cuCtxSetCurrent set;
	tg_pfn_cuModuleLoadData load;
	tg_pfn_cuModuleGetFunction function;
	tg_pfn_cuLaunchKernel launch;
	tg_pfn_cuCtxSynchronize sync;
	CUcontext ctx;
	CUmodule mod;
	CUfunction fn;
	unsigned us = 0;
	long n = 100, i;
	int c, use_gpa = 0;

	while ((c = getopt(argc, argv, "gn:d:")) != -1) {
		switch (c) {
		case 'g': use_gpa = 1; break;
		case 'n': n = atol(optarg); break;
		case 'd': us = atoi(optarg); break;
		default: fail("usage: nocuda_late [-g] [-n launches] [-d µs]");
		}
	}
	if (dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD) != NULL)
		fail("libcuda.so.1 was loaded before main");
	if ((lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL)) == NULL)
		fail(dlerror());
	if (use_gpa)
		gpa = (tg_pfn_cuGetProcAddress_v2)find("cuGetProcAddress_v2",
		    NULL, 0);
	init = find("cuInit", "cuInit", 2000);
	retain = find("cuDevicePrimaryCtxRetain", "cuDevicePrimaryCtxRetain",
	    7000);
	release = find("cuDevicePrimaryCtxRelease_v2",
	    "cuDevicePrimaryCtxRelease", 11000);
	set = find("cuCtxSetCurrent", "cuCtxSetCurrent", 4000);
	load = find("cuModuleLoadData", "cuModuleLoadData", 2000);
	function = find("cuModuleGetFunction", "cuModuleGetFunction", 2000);
	launch = find("cuLaunchKernel", "cuLaunchKernel", 4000);
	sync = find("cuCtxSynchronize", "cuCtxSynchronize", 2000);
	CHECK(init(0));
	CHECK(retain(&ctx, 0));
	CHECK(set(ctx));
	CHECK(load(&mod, "module"));
	CHECK(function(&fn, mod, "spin"));
	for (i = 0; i < n; i++) {
		void *params[] = { &us };

		CHECK(launch(fn, 1, 1, 1, 32, 1, 1, 0, NULL, params, NULL));
	}
	CHECK(sync());
	CHECK(release(0));
	printf("{\"launches\":%ld,\"loaded_late\":1}\n", n);
	return 0;
}
