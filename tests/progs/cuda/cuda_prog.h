/*
 * cuda_prog.h — what the driver-API test programs share: finding every
 * function of lib/cuda_abi.h one of seven ways, and failing loudly.
 *
 *   link     the address the program was linked against (it links
 *            libcuda.so.1 itself: every function is referenced below)
 *   dlsym    dlopen("libcuda.so.1", RTLD_LOCAL) + dlsym(handle, name)
 *   default  dlopen(RTLD_GLOBAL), then dlsym(RTLD_DEFAULT, name)
 *   gpa1     cuGetProcAddress (v1) from dlsym, by base name and version
 *   gpa2     cuGetProcAddress_v2 from dlsym, likewise
 *   gpagpa   the cuGetProcAddress_v2 that cuGetProcAddress_v2 returns for
 *            "cuGetProcAddress" at 12000, likewise
 *   gpagpa1  the v1 that cuGetProcAddress_v2 returns at 11030, likewise
 * With "pt", the per-thread-default-stream variants: the _ptsz names, or
 * CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM.
 *
 * Each mode resolves every row of TG_CU_FUNCS, by name or by (base, the
 * row's version, the row's stream flag), and counts the pointers that
 * differ from another way's (dlsym's, or link's for dlsym itself): 0
 * without a shim, and 0 under a shim that hooks lookups consistently.
 */
#ifndef CUDA_PROG_H
#define CUDA_PROG_H

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_abi.h"

enum resolve_mode { R_LINK, R_DLSYM, R_DEFAULT, R_GPA1, R_GPA2, R_GPAGPA,
    R_GPAGPA1, R_COUNT };
static const char *const resolve_names[R_COUNT] = {
	"link", "dlsym", "default", "gpa1", "gpa2", "gpagpa", "gpagpa1"
};

static const struct row {
	const char *sym, *base;
	int version, per_thread;
	void *linked;
} rows[TG_FN_COUNT] = {
#define ROW(sym, base, ver, pt, params) { #sym, #base, ver, pt, (void *)sym },
	TG_CU_FUNCS(ROW)
#undef ROW
};

struct resolver {
	enum resolve_mode mode;
	int pt;
	void *lib;
	tg_pfn_cuGetProcAddress gpa1;
	tg_pfn_cuGetProcAddress_v2 gpa2;
	void *fn[TG_FN_COUNT];
	int resolved, mismatch;
};

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "FAIL: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

/* A call that must answer want. */
#define EXPECT(want, call) do { \
	CUresult rc_ = (call); \
	if (rc_ != (want)) \
		die("%s:%d: %s = %d, want %d", __FILE__, __LINE__, #call, \
		    (int)rc_, (int)(want)); \
} while (0)
#define CHECK(call) EXPECT(CUDA_SUCCESS, call)

static inline int
resolve_mode(const char *name)
{
	int i;

	for (i = 0; i < R_COUNT; i++)
		if (strcmp(name, resolve_names[i]) == 0)
			return i;
	die("unknown resolve mode %s", name);
}

static inline int
is_gpa(enum resolve_mode m)
{
	return m >= R_GPA1;
}

/* What cuGetProcAddress answers for base at version: a pointer or NULL. */
static inline void *
gpa(struct resolver *r, const char *base, int version, int pt)
{
	cuuint64_t flags = pt ? CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM :
	    CU_GET_PROC_ADDRESS_LEGACY_STREAM;
	CUdriverProcAddressQueryResult st;
	void *p = NULL;

	if (r->gpa2 != NULL) {
		if (r->gpa2(base, &p, version, flags, &st) != CUDA_SUCCESS ||
		    st != CU_GET_PROC_ADDRESS_SUCCESS)
			return NULL;
	} else if (r->gpa1(base, &p, version, flags) != CUDA_SUCCESS)
		return NULL;
	return p;
}

static inline void
resolver_open(struct resolver *r)
{
	void *p = NULL;

	if (r->mode == R_LINK)
		return;
	r->lib = dlopen("libcuda.so.1", RTLD_NOW |
	    (r->mode == R_DEFAULT ? RTLD_GLOBAL : RTLD_LOCAL));
	if (r->lib == NULL)
		die("dlopen libcuda.so.1: %s", dlerror());
	if (r->mode == R_GPA1)
		r->gpa1 = (tg_pfn_cuGetProcAddress)dlsym(r->lib, "cuGetProcAddress");
	if (r->mode >= R_GPA2)
		r->gpa2 = (tg_pfn_cuGetProcAddress_v2)dlsym(r->lib,
		    "cuGetProcAddress_v2");
	if (r->mode == R_GPAGPA || r->mode == R_GPAGPA1) {
		int v = r->mode == R_GPAGPA ? 12000 : 11030;

		if ((p = gpa(r, "cuGetProcAddress", v, 0)) == NULL)
			die("cuGetProcAddress for cuGetProcAddress@%d", v);
		r->gpa2 = r->mode == R_GPAGPA ? p : NULL;
		r->gpa1 = r->mode == R_GPAGPA1 ? p : NULL;
	}
	if (is_gpa(r->mode) && r->gpa1 == NULL && r->gpa2 == NULL)
		die("no cuGetProcAddress");
}

static inline void *
resolve_row(struct resolver *r, const struct row *w)
{
	switch (r->mode) {
	case R_LINK:
		return w->linked;
	case R_DLSYM:
		return dlsym(r->lib, w->sym);
	case R_DEFAULT:
		return dlsym(RTLD_DEFAULT, w->sym);
	default:
		return gpa(r, w->base, w->version, w->per_thread);
	}
}

/* Resolves every row, counting the unresolved and the mismatched. */
static inline void
resolve_all(struct resolver *r)
{
	void *ref, *lib = r->lib;
	int i;

	if (lib == NULL && (lib = dlopen("libcuda.so.1", RTLD_NOW)) == NULL)
		die("dlopen libcuda.so.1: %s", dlerror());
	for (i = 0; i < TG_FN_COUNT; i++) {
		r->fn[i] = resolve_row(r, &rows[i]);
		ref = r->mode == R_DLSYM ? rows[i].linked : dlsym(lib, rows[i].sym);
		if (r->fn[i] != NULL)
			r->resolved++;
		if (r->fn[i] != ref) {
			fprintf(stderr, "%s: %s resolves to %p, not %p\n",
			    resolve_names[r->mode], rows[i].sym, r->fn[i], ref);
			r->mismatch++;
		}
	}
	if (lib != r->lib)
		dlclose(lib);
}

/* The row a caller built against cuda.h 13.0 means by base: the highest
 * version, the _ptsz one at equal versions when pt. */
static inline int
newest_row(const char *base, int pt)
{
	int i, best = -1;

	for (i = 0; i < TG_FN_COUNT; i++) {
		if (strcmp(rows[i].base, base) != 0 || (rows[i].per_thread && !pt))
			continue;
		if (best < 0 || rows[i].version > rows[best].version ||
		    (rows[i].version == rows[best].version && rows[i].per_thread))
			best = i;
	}
	if (best < 0)
		die("no function %s", base);
	return best;
}

/* The function a program uses for base: the newest row's pointer, or, in
 * the cuGetProcAddress modes, what it answers at TG_CUDA_ABI_VERSION. */
static inline void *
current(struct resolver *r, const char *base)
{
	void *p;

	if (!is_gpa(r->mode))
		return r->fn[newest_row(base, r->pt)];
	if ((p = gpa(r, base, TG_CUDA_ABI_VERSION, r->pt)) == NULL)
		die("cuGetProcAddress(%s) found nothing", base);
	return p;
}

/* The exported name of a resolved pointer. */
static inline const char *
name_of(struct resolver *r, void *p)
{
	int i;

	for (i = 0; i < TG_FN_COUNT; i++)
		if (r->fn[i] == p)
			return rows[i].sym;
	return "?";
}

static inline void
resolver_init(struct resolver *r, const char *mode, int pt)
{
	memset(r, 0, sizeof(*r));
	r->mode = resolve_mode(mode);
	r->pt = pt;
	resolver_open(r);
	resolve_all(r);
}

#endif /* CUDA_PROG_H */
