/*
 * bpf_cuda_late.c — for tests/e2e/bpf_cuda_audit.sh (which builds it): a
 * process that does NOT link libcuda and dlopens it late, so audit mode
 * finds it only through the cuInit uprobe. Prints "ready PID", waits for a
 * line; dlopens libcuda.so.1, calls cuInit, prints "init", waits for a
 * line (the daemon attaches meanwhile); makes N cuLaunchKernel calls,
 * prints "done N" and waits until stdin is closed.
 *
 * usage: bpf_cuda_late N
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cuda_abi.h"

static void *
sym(void *lib, const char *name)
{
	void *f = dlsym(lib, name);

	if (f == NULL) {
		fprintf(stderr, "bpf_cuda_late: %s: %s\n", name, dlerror());
		exit(1);
	}
	return f;
}

#define CHECK(call) do { CUresult rc_ = (call); if (rc_ != CUDA_SUCCESS) { \
	fprintf(stderr, "bpf_cuda_late: %s: %d\n", #call, (int)rc_); exit(1); } } while (0)

int
main(int argc, char **argv)
{
	CUresult (*init)(unsigned int);
	CUresult (*devget)(CUdevice *, int);
	CUresult (*retain)(CUcontext *, CUdevice);
	CUresult (*setcur)(CUcontext);
	CUresult (*modload)(CUmodule *, const void *);
	CUresult (*getfn)(CUfunction *, CUmodule, const char *);
	CUresult (*launch)(CUfunction, unsigned, unsigned, unsigned, unsigned,
	    unsigned, unsigned, unsigned, CUstream, void **, void **);
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 0, i;
	unsigned int us = 0;
	void *params[] = { &us }, *lib;
	char line[64];
	CUdevice d;
	CUcontext ctx;
	CUmodule mod;
	CUfunction f;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready %d\n", (int)getpid());
	if (fgets(line, sizeof(line), stdin) == NULL)
		return 1;
	if ((lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL)) == NULL) {
		fprintf(stderr, "bpf_cuda_late: %s\n", dlerror());
		return 1;
	}
	init = sym(lib, "cuInit");
	devget = sym(lib, "cuDeviceGet");
	retain = sym(lib, "cuDevicePrimaryCtxRetain");
	setcur = sym(lib, "cuCtxSetCurrent");
	modload = sym(lib, "cuModuleLoadData");
	getfn = sym(lib, "cuModuleGetFunction");
	launch = sym(lib, "cuLaunchKernel");
	CHECK(init(0));
	printf("init\n");
	if (fgets(line, sizeof(line), stdin) == NULL)
		return 1;
	CHECK(devget(&d, 0));
	CHECK(retain(&ctx, d));
	CHECK(setcur(ctx));
	CHECK(modload(&mod, "late"));
	CHECK(getfn(&f, mod, "k"));
	for (i = 0; i < n; i++)
		CHECK(launch(f, 1, 1, 1, 1, 1, 1, 0, NULL, params, NULL));
	printf("done %ld\n", n);
	while (fgets(line, sizeof(line), stdin) != NULL)
		;
	return 0;
}
