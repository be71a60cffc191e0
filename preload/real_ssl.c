/* real_ssl.c — the real SSL_* functions, per calling library; see
 * real_ssl.h. */
#include "real_ssl.h"

#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "real.h"
#include "say.h"

/* One calling library: immutable once pushed on the list. */
struct ssl_caller {
	struct ssl_caller *next;
	uintptr_t lo, hi;              /* its mapped span */
	int ours;                      /* libtollgate itself: shim_ssl_outer */
	struct shim_ssl_fns fns;
};

__thread const struct shim_ssl_fns *shim_ssl_outer
    __attribute__((tls_model("initial-exec")));

/* Push-only list (a caller is pinned, never removed): read without a
 * lock; two threads resolving one library at once both push, harmless. */
static struct ssl_caller *_Atomic callers;
static struct shim_ssl_fns doubt;  /* the global scope alone */
static pthread_once_t doubt_once = PTHREAD_ONCE_INIT;

#define FN(f, name) { name, offsetof(struct shim_ssl_fns, f) }
static const struct { const char *name; size_t off; } ssl_names[] = {
	FN(ssl_new, "SSL_new"), FN(ssl_free, "SSL_free"),
	FN(connect, "SSL_connect"), FN(do_handshake, "SSL_do_handshake"),
	FN(shutdown, "SSL_shutdown"), FN(write, "SSL_write"),
	FN(write_ex, "SSL_write_ex"), FN(read, "SSL_read"),
	FN(read_ex, "SSL_read_ex"), FN(get_servername, "SSL_get_servername"),
	FN(get_error, "SSL_get_error"), FN(get_fd, "SSL_get_fd"),
	FN(set_alpn_protos, "SSL_set_alpn_protos"),
	FN(get_client_random, "SSL_get_client_random"),
};

static void *
find_in(void *scope, const char *name)
{
	void *p = dlsym(scope, name);

	if (p != NULL && shim_real_is_ours(p)) {
		shim_say("real %s resolves to tollgate itself (circular); "
		    "not used", name);
		return NULL;
	}
	return p;
}

/* The linker's order: the global scope after us, then h's own (h NULL:
 * none). */
static void
fill(struct shim_ssl_fns *f, void *h)
{
	for (size_t i = 0; i < sizeof(ssl_names) / sizeof(ssl_names[0]); i++) {
		void *p = find_in(RTLD_NEXT, ssl_names[i].name);

		if (p == NULL && h != NULL)
			p = find_in(h, ssl_names[i].name);
		*(void **)((char *)f + ssl_names[i].off) = p;
	}
}

static void
fill_doubt(void)
{
	fill(&doubt, NULL);
}

static const struct shim_ssl_fns *
in_doubt(void)
{
	pthread_once(&doubt_once, fill_doubt);
	return &doubt;
}

struct span {
	uintptr_t ra, lo, hi;
};

/* dl_iterate_phdr: the object whose PT_LOAD segments hold ra. */
static int
span_of(struct dl_phdr_info *in, size_t size, void *arg)
{
	struct span *s = arg;
	uintptr_t lo = UINTPTR_MAX, hi = 0, a, b;

	for (int i = 0; i < in->dlpi_phnum; i++) {
		if (in->dlpi_phdr[i].p_type != PT_LOAD)
			continue;
		a = in->dlpi_addr + in->dlpi_phdr[i].p_vaddr;
		b = a + in->dlpi_phdr[i].p_memsz;
		lo = a < lo ? a : lo;
		hi = b > hi ? b : hi;
	}
	if (s->ra < lo || s->ra >= hi)
		return 0;
	s->lo = lo;
	s->hi = hi;
	return 1;
}

static int
is_program(const struct link_map *lm)
{
	struct link_map *m = NULL;
	void *h = dlopen(NULL, RTLD_NOLOAD | RTLD_LAZY);
	int is;

	if (h == NULL)
		return 0;
	is = dlinfo(h, RTLD_DI_LINKMAP, &m) == 0 && m == lm;
	dlclose(h);
	return is;
}

/* The library at ra, opened again with NOLOAD and kept open (pinned), or
 * NULL. *program: ra is in the program itself, whose scope is the global
 * one (and which is never unloaded). */
static void *
caller_handle(const void *ra, int *program)
{
	struct link_map *lm = NULL, *m = NULL;
	Dl_info di;
	void *h;

	*program = 0;
	if (dladdr1(ra, &di, (void **)&lm, RTLD_DL_LINKMAP) == 0 || lm == NULL)
		return NULL;
	if ((*program = is_program(lm)))
		return NULL;
	if (di.dli_fname == NULL || di.dli_fname[0] == '\0' ||
	    (h = dlopen(di.dli_fname, RTLD_NOLOAD | RTLD_LAZY)) == NULL)
		return NULL;
	/* another object of that name (a relative path, another namespace) */
	if (dlinfo(h, RTLD_DI_LINKMAP, &m) != 0 || m != lm) {
		dlclose(h);
		return NULL;
	}
	return h;
}

static const struct shim_ssl_fns *
as_ours(void)
{
	return shim_ssl_outer != NULL ? shim_ssl_outer : in_doubt();
}

static const struct shim_ssl_fns *
resolve(const void *ra)
{
	struct span sp = { (uintptr_t)ra, 0, 0 };
	struct ssl_caller *c;
	int program = 0, ours = shim_real_is_ours(ra);
	void *h = ours ? NULL : caller_handle(ra, &program);

	if ((h == NULL && !program && !ours) ||
	    dl_iterate_phdr(span_of, &sp) == 0 ||
	    (c = calloc(1, sizeof(*c))) == NULL)
		return ours ? as_ours() : in_doubt();
	c->lo = sp.lo;
	c->hi = sp.hi;
	if (!(c->ours = ours))
		fill(&c->fns, h);
	c->next = atomic_load(&callers);
	while (!atomic_compare_exchange_weak(&callers, &c->next, c))
		;
	return ours ? as_ours() : &c->fns;
}

const struct shim_ssl_fns *
shim_ssl_real(const void *ra)
{
	uintptr_t a = (uintptr_t)ra;

	for (struct ssl_caller *c = atomic_load_explicit(&callers,
	    memory_order_acquire); c != NULL; c = c->next)
		if (a >= c->lo && a < c->hi)
			return c->ours ? as_ours() : &c->fns;
	return resolve(ra);
}

int
shim_ssl_missing(const char *name, int rc)
{
	shim_say("%s: no OpenSSL function for its caller; the call fails",
	    name);
	return rc;
}
