/*
 * cuda_fork — CUDA across fork(), as the real driver has it: a child
 * forked before cuInit uses CUDA as a new process would; a child of a
 * process that initialized CUDA gets CUDA_ERROR_NOT_INITIALIZED from every
 * call. Prints one JSON line per process (children first).
 *
 * usage: cuda_fork [-r mode] [-n launches] [-d µs]
 *   The first child and the parent each launch n kernels (the parent
 *   twice: before and after the second fork).
 */
#include <sys/wait.h>
#include <unistd.h>

#include "cuda_prog.h"

struct api {
	tg_pfn_cuInit init;
	tg_pfn_cuDevicePrimaryCtxRetain retain;
	tg_pfn_cuDevicePrimaryCtxRelease_v2 release;
	tg_pfn_cuCtxSetCurrent set;
	tg_pfn_cuCtxSynchronize sync;
	tg_pfn_cuModuleLoadData load;
	tg_pfn_cuModuleGetFunction function;
	tg_pfn_cuLaunchKernel launch;
};

static struct api a;
static CUfunction fn;
static unsigned us;

static void
start(void)
{
	CUcontext ctx;
	CUmodule mod;

	CHECK(a.init(0));
	CHECK(a.retain(&ctx, 0));
	CHECK(a.set(ctx));
	CHECK(a.load(&mod, "module"));
	CHECK(a.function(&fn, mod, "spin"));
}

static void
launches(long n)
{
	void *params[] = { &us };
	long i;

	for (i = 0; i < n; i++)
		CHECK(a.launch(fn, 1, 1, 1, 32, 1, 1, 0, NULL, params, NULL));
}

static void
finish(const char *who, long n)
{
	CHECK(a.sync());
	CHECK(a.release(0));
	printf("{\"who\":\"%s\",\"pid\":%d,\"cuLaunchKernel\":%ld}\n", who,
	    (int)getpid(), n);
	fflush(stdout);
}

/* Runs child() in a child process; fails unless it exits 0. */
static void
in_child(void (*child)(long), long n)
{
	int status;
	pid_t pid;

	fflush(stdout);
	if ((pid = fork()) < 0)
		die("fork");
	if (pid == 0) {
		child(n);
		exit(0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		die("child %d failed", (int)pid);
}

static void
fresh_child(long n)
{
	start();
	launches(n);
	finish("before_init", n);
}

/* Everything the parent set up is unusable here, cuInit included. */
static void
inherited_child(long n)
{
	void *params[] = { &us };

	EXPECT(CUDA_ERROR_NOT_INITIALIZED,
	    a.launch(fn, 1, 1, 1, 32, 1, 1, 0, NULL, params, NULL));
	EXPECT(CUDA_ERROR_NOT_INITIALIZED, a.init(0));
	EXPECT(CUDA_ERROR_NOT_INITIALIZED, a.sync());
	printf("{\"who\":\"after_init\",\"pid\":%d,\"cuLaunchKernel\":0}\n",
	    (int)getpid());
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	struct resolver r;
	const char *mode = "link";
	long n = 10;
	int c;

	while ((c = getopt(argc, argv, "r:n:d:")) != -1) {
		switch (c) {
		case 'r': mode = optarg; break;
		case 'n': n = atol(optarg); break;
		case 'd': us = atoi(optarg); break;
		default: die("usage: cuda_fork [-r mode] [-n launches] [-d µs]");
		}
	}
	resolver_init(&r, mode, 0);
	a.init = current(&r, "cuInit");
	a.retain = current(&r, "cuDevicePrimaryCtxRetain");
	a.release = current(&r, "cuDevicePrimaryCtxRelease");
	a.set = current(&r, "cuCtxSetCurrent");
	a.sync = r.fn[TG_FN_cuCtxSynchronize];
	a.load = current(&r, "cuModuleLoadData");
	a.function = current(&r, "cuModuleGetFunction");
	a.launch = current(&r, "cuLaunchKernel");
	in_child(fresh_child, n);
	start();
	launches(n);
	in_child(inherited_child, n);
	launches(n);
	finish("parent", 2 * n);
	return 0;
}
