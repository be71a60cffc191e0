/*
 * real_ssl.h — the real OpenSSL functions behind the SSL_* hooks, found per
 * calling library, never once for the whole process (real.h resolves the
 * libc ones globally; that cannot work here).
 *
 * Why per caller: Debian's python3 loads libssl into a private scope (the
 * _ssl module is dlopen'ed RTLD_LOCAL), where dlsym(RTLD_NEXT) from a
 * preload finds nothing; and a process may hold two OpenSSL copies (a
 * wheel's renamed libssl beside the system's). An SSL* must only ever
 * reach the copy that made it.
 *
 * The rule is the dynamic linker's own, so a hooked call ends where the
 * caller's unhooked calls (SSL_new, SSL_CTX_*) went: first the global
 * scope after us (dlsym RTLD_NEXT), then the caller's own scope — the
 * library at the return address (dladdr1) opened again with RTLD_NOLOAD
 * and searched with dlsym. Global first matters: a library dlopen'ed
 * RTLD_LOCAL that needs one libssl while the program links another binds
 * to the program's (measured, tests/e2e/shim_tls.sh). A result in our
 * own object (shim_real_is_ours) is refused. A return address in our own
 * object means a real call tail-called another hook: shim_ssl_outer. When
 * in doubt — no library at the address (JIT code), or it cannot be opened
 * again — the global scope alone answers.
 *
 * Cost: the answer is cached per calling library (its mapped span, on a
 * push-only list read without a lock: a few compares per call); the
 * library is pinned (the NOLOAD handle is never closed), so a cached span
 * never comes to mean another library. A function found nowhere stays
 * NULL: the hook fails the call as OpenSSL would and says one line.
 *
 * Not seen at all: a library dlopen'ed with RTLD_DEEPBIND binds to
 * its own libssl first, past our hooks.
 *
 * Needs no libssl: SSL is opaque here, and a process without OpenSSL
 * never calls these hooks.
 */
#ifndef SHIM_REAL_SSL_H
#define SHIM_REAL_SSL_H

#include <stddef.h>

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

/* SSL_get_servername's type for a DNS host name. */
#define SHIM_TLSEXT_NAMETYPE_host_name 0

struct shim_ssl_fns {
	SSL *(*ssl_new)(SSL_CTX *);
	void (*ssl_free)(SSL *);
	int (*connect)(SSL *);
	int (*do_handshake)(SSL *);
	int (*shutdown)(SSL *);
	int (*write)(SSL *, const void *, int);
	int (*write_ex)(SSL *, const void *, size_t, size_t *);
	int (*read)(SSL *, void *, int);
	int (*read_ex)(SSL *, void *, size_t, size_t *);
	const char *(*get_servername)(const SSL *, int);
	/* for admission (tls.h): retries, the socket, the ALPN offer */
	int (*get_error)(const SSL *, int);
	int (*get_fd)(const SSL *);
	int (*set_alpn_protos)(SSL *, const unsigned char *, unsigned);
	size_t (*get_client_random)(const SSL *, unsigned char *, size_t);
};

/* The functions the code at ra (a hook's return address, taken in the
 * exported hook itself) binds to. Never NULL; a member may be. */
const struct shim_ssl_fns *shim_ssl_real(const void *ra);

/* The functions of the hook whose real call runs on this thread. A real
 * function may tail-call another hooked one through the PLT (OpenSSL's
 * SSL_connect ends in "jmp SSL_do_handshake"): that hook's return
 * address is then in our own code, and it uses these. */
extern __thread const struct shim_ssl_fns *shim_ssl_outer
    __attribute__((tls_model("initial-exec")));

/* Around each real call: shim_ssl_leave(shim_ssl_enter(f)). */
static inline const struct shim_ssl_fns *
shim_ssl_enter(const struct shim_ssl_fns *f)
{
	const struct shim_ssl_fns *o = shim_ssl_outer;

	shim_ssl_outer = f;
	return o;
}

static inline void
shim_ssl_leave(const struct shim_ssl_fns *o)
{
	shim_ssl_outer = o;
}

/* The hook's answer when its function is missing: says one line naming
 * it, returns rc. */
int shim_ssl_missing(const char *name, int rc);

#endif
