/*
 * nocuda_dlsym — a process that never touches CUDA (built WITHOUT
 * libcuda, see the Makefile): what dlsym answers for driver names and for
 * a name nobody defines, with dlerror's text. Under LD_PRELOAD of the
 * shim every line must read as it does without it (issue 5: "a process
 * with no CUDA sees no change in what dlsym(RTLD_DEFAULT, "cu…")
 * finds"), the error text included: it names the object glibc believes
 * asked, so a shim that looks the name up itself and lets its own
 * failure through shows up here.
 *
 * With next_preload.so loaded too, a last line reports what that library
 * saw (next_preload.c).
 *
 * usage: nocuda_dlsym      prints one line per lookup:
 *   SCOPE NAME found|NULL: DLERROR-TEXT
 */
#include <dlfcn.h>
#include <stdio.h>
#include <unistd.h>

static const char *const names[] = {
	"cuInit", "cuLaunchKernel", "cuLaunchKernel_ptsz", "cuGraphLaunch",
	"cuMemAlloc_v2", "cuGetProcAddress", "cuGetProcAddress_v2",
	"cuCtxCreate_v4", "tg_no_such_symbol",
};

static void
look(const char *scope, void *handle, const char *name)
{
	void *p;
	const char *err;

	dlerror(); /* clear: what follows is this lookup's */
	p = dlsym(handle, name);
	err = dlerror();
	printf("%s %s %s: %s\n", scope, name, p ? "found" : "NULL",
	    err ? err : "(no error)");
}

int
main(void)
{
	void *self = dlopen(NULL, RTLD_NOW);
	void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
	int (*report)(char *, size_t);
	char buf[1024];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		look("RTLD_DEFAULT", RTLD_DEFAULT, names[i]);
		look("dlopen(NULL)", self, names[i]);
		look("libc.so.6", libc, names[i]);
	}
	/* The preload of next_preload.c, when it is there: its getpid hook
	 * runs once here, then it says what its lookups found. */
	report = (int (*)(char *, size_t))dlsym(RTLD_DEFAULT,
	    "next_preload_report");
	if (report != NULL) {
		(void)getpid();
		report(buf, sizeof(buf));
		printf("next_preload: %s\n", buf);
	}
	return 0;
}
