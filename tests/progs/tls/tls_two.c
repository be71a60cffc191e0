/*
 * tls_two.c — two OpenSSL copies in one process, for tests/e2e/shim_tls.sh
 * (built there with cc). The copy is the system libssl.so.3 with its
 * SONAME renamed to libtgs.so.3, as auditwheel renames a wheel's libssl.
 * Each request is an HTTPS POST (tls_post.c) to the fake provider; under
 * the shim each must be metered, and each SSL* must reach only the libssl
 * that made it: while a request runs, the code of the libssl it must not
 * touch is made non-executable, so a call routed there crashes.
 *
 *   tls_two linked PORT CA DIR    (built with tls_post.c, linked to the copy)
 *	request 1 from this program through the copy; request 2 from
 *	DIR/tls_post_sys.so, dlopen'ed RTLD_LOCAL and linked to the system
 *	libssl, which binds to the copy all the same (the global scope comes
 *	first): the system libssl, loaded, never runs.
 *   tls_two private PORT CA DIR   (links no libssl)
 *	DIR/tls_post_copy.so and DIR/tls_post_sys.so, each dlopen'ed
 *	RTLD_LOCAL with its own libssl, as Python loads extension modules:
 *	one request through each, the other libssl non-executable.
 * Prints "status S" per request; exits 0 when each was 200.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef int post_fn(int, const char *, const char *, const char *);

#ifdef LINKED
post_fn tls_post;
#endif

static const char chat[] = "{\"model\":\"gpt-4o-mini\",\"messages\":"
    "[{\"role\":\"user\",\"content\":\"through one libssl\"}]}";
static const char msgs[] = "{\"model\":\"claude-3-5-haiku-20241022\","
    "\"max_tokens\":100,\"messages\":[{\"role\":\"user\",\"content\":"
    "\"through the other\"}]}";

struct guard {
	const char *suffix;  /* the library's file name, "/libssl.so.3" */
	int prot;
	int segs;
};

static int
guard_one(struct dl_phdr_info *in, size_t size, void *arg)
{
	struct guard *g = arg;
	size_t l = strlen(in->dlpi_name), m = strlen(g->suffix);
	long pg = sysconf(_SC_PAGESIZE);

	if (l < m || strcmp(in->dlpi_name + l - m, g->suffix) != 0)
		return 0;
	for (int i = 0; i < in->dlpi_phnum; i++) {
		const ElfW(Phdr) *p = &in->dlpi_phdr[i];
		uintptr_t a, b;

		if (p->p_type != PT_LOAD || !(p->p_flags & PF_X))
			continue;
		a = (in->dlpi_addr + p->p_vaddr) & ~(uintptr_t)(pg - 1);
		b = in->dlpi_addr + p->p_vaddr + p->p_memsz;
		if (mprotect((void *)a, b - a, g->prot) != 0) {
			perror("mprotect");
			exit(3);
		}
		g->segs++;
	}
	return 0;
}

/* The code of the library named suffix: off (PROT_READ) or back on. */
static void
guard(const char *suffix, int off)
{
	struct guard g = { suffix, off ? PROT_READ : PROT_READ | PROT_EXEC, 0 };

	dl_iterate_phdr(guard_one, &g);
	if (g.segs == 0) {
		fprintf(stderr, "%s is not loaded\n", suffix);
		exit(3);
	}
}

static post_fn *
load(const char *dir, const char *name)
{
	char path[4096];
	void *h;
	post_fn *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((h = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL ||
	    (f = (post_fn *)dlsym(h, "tls_post")) == NULL) {
		fprintf(stderr, "%s\n", dlerror());
		exit(3);
	}
	return f;
}

static int
post(post_fn *f, int port, const char *ca, const char *path,
    const char *body, const char *off)
{
	int st;

	guard(off, 1);
	st = f(port, ca, path, body);
	guard(off, 0);
	printf("status %d\n", st);
	return st == 200;
}

int
main(int argc, char **argv)
{
	post_fn *sys, *copy;
	int port, ok;

	if (argc != 5) {
		fprintf(stderr, "usage: tls_two linked|private PORT CA DIR\n");
		return 2;
	}
	port = atoi(argv[2]);
	sys = load(argv[4], "tls_post_sys.so");
#ifdef LINKED
	copy = tls_post;
	if (strcmp(argv[1], "linked") != 0)
		return 2;
	ok = post(copy, port, argv[3], "/v1/chat/completions", chat,
	    "/libssl.so.3");
	ok &= post(sys, port, argv[3], "/v1/messages", msgs, "/libssl.so.3");
#else
	if (strcmp(argv[1], "private") != 0)
		return 2;
	copy = load(argv[4], "tls_post_copy.so");
	ok = post(copy, port, argv[3], "/v1/chat/completions", chat,
	    "/libssl.so.3");
	ok &= post(sys, port, argv[3], "/v1/messages", msgs, "/libtgs.so.3");
#endif
	return ok ? 0 : 1;
}
