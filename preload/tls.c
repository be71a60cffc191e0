/* tls.c — per-SSL* LLM metering state behind the SSL_* hooks; see tls.h. */
#include "tls.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fork.h"
#include "instance.h"
#include "shim.h"

struct tls_state {
	pthread_mutex_t mu;
	_Atomic uint64_t gen;        /* owner's generation; 0: being taken */
	SSL *ssl;                    /* whose state; NULL: none */
	const struct shim_ssl_fns *fns; /* the SSL's own library's */
	struct shim_xchg x;          /* metered iff kind is METERED */
	char server[SHIM_TLS_SERVER_MAX];
};

static SSL *_Atomic tls_key[SHIM_TLS_SLOTS];  /* NULL: a free slot */
static uint8_t tls_kind[SHIM_TLS_SLOTS];
/* Allocated once per slot, never freed (tls.h). */
static struct tls_state *_Atomic tls_st[SHIM_TLS_SLOTS];

static void
set_kind(int k, uint8_t v)
{
	__atomic_store_n(&tls_kind[k], v, __ATOMIC_RELAXED);
}

static uint8_t
get_kind(int k)
{
	return __atomic_load_n(&tls_kind[k], __ATOMIC_RELAXED);
}

static unsigned
home(const SSL *s)
{
	uint64_t h = ((uintptr_t)s >> 4) * 0x9e3779b97f4a7c15ull;

	return (unsigned)(h >> (64 - __builtin_ctz(SHIM_TLS_SLOTS)));
}

static unsigned
probe(const SSL *s, unsigned i)
{
	return (home(s) + i) & (SHIM_TLS_SLOTS - 1);
}

/* s's slot, or -1: the hot path of every hook. */
static int
find(const SSL *s)
{
	if (s == NULL)
		return -1;
	for (unsigned i = 0; i < SHIM_TLS_PROBE; i++) {
		unsigned k = probe(s, i);

		if (atomic_load_explicit(&tls_key[k], memory_order_relaxed) == s)
			return (int)k;
	}
	return -1;
}

/* A fork child's first touch of a state its parent made: dropped without
 * reporting; a mutex a parent thread held is replaced, and what it
 * guarded leaked, not trusted. The SSL stays keyed (its SSL_free still
 * finds it) and passes through. */
static void
take_over(struct tls_state *st, int k)
{
	if (pthread_mutex_trylock(&st->mu) == 0) {
		shim_xchg_end(&st->x, 0);
		shim_done_free(shim_xchg_take(&st->x));
		pthread_mutex_unlock(&st->mu);
	} else {
		shim_fork_fresh_lock(&st->mu);
		shim_xchg_init(&st->x);
	}
	set_kind(k, SHIM_TLS_NONE);
}

/* 1 when st belongs to this process generation (taking it over from a
 * parent first); 0 while another thread takes it over. */
static int
state_own(struct tls_state *st, int k, uint64_t g)
{
	uint64_t sg = atomic_load(&st->gen);

	if (sg == g)
		return 1;
	if (sg == 0 || !atomic_compare_exchange_strong(&st->gen, &sg, 0))
		return 0;
	take_over(st, k);
	atomic_store(&st->gen, g);
	return 1;
}

static struct tls_state *
state_get(int k, uint64_t g)
{
	struct tls_state *st = atomic_load(&tls_st[k]), *fresh;

	if (st != NULL)
		return st;
	if ((fresh = calloc(1, sizeof(*fresh))) == NULL)
		return NULL;
	pthread_mutex_init(&fresh->mu, NULL);
	shim_xchg_init(&fresh->x);
	atomic_store(&fresh->gen, g);
	if (!atomic_compare_exchange_strong(&tls_st[k], &st, fresh)) {
		pthread_mutex_destroy(&fresh->mu);
		free(fresh);
		return st;
	}
	return fresh;
}

/* Slot k's state, locked, when it is s's and this process may meter it;
 * NULL: pass through. Inside tollgate. */
static struct tls_state *
lock_slot(int k, const SSL *s)
{
	struct tls_state *st = atomic_load(&tls_st[k]);

	if (st == NULL || !state_own(st, k, shim_instance_sync()))
		return NULL;
	pthread_mutex_lock(&st->mu);
	if (st->ssl == s)
		return st;
	pthread_mutex_unlock(&st->mu);
	return NULL;
}

/* Unlock, then settle what finished: never a daemon call under st->mu. */
static void
leave(struct tls_state *st)
{
	struct shim_done *d = shim_xchg_take(&st->x);

	pthread_mutex_unlock(&st->mu);
	shim_done_settle(d);
}

/* A free slot near s's hash, claimed for s, its state locked; NULL when
 * none is free (s passes through). Inside tollgate. */
static struct tls_state *
claim(SSL *s, int *slot)
{
	uint64_t g = shim_instance_sync();
	struct tls_state *st;

	for (unsigned i = 0; i < SHIM_TLS_PROBE; i++) {
		unsigned k = probe(s, i);
		SSL *empty = NULL;

		if (!atomic_compare_exchange_strong(&tls_key[k], &empty, s))
			continue;
		if ((st = state_get((int)k, g)) != NULL &&
		    state_own(st, (int)k, g)) {
			pthread_mutex_lock(&st->mu);
			*slot = (int)k;
			return st;
		}
		atomic_store(&tls_key[k], NULL);
		return NULL;
	}
	return NULL;
}

/* The name s's client asked for (SNI), by s's own library: a real call,
 * made before any lock is taken. */
static void
server_name(SSL *s, const struct shim_ssl_fns *fns, char out[])
{
	const char *n = fns->get_servername != NULL ?
	    fns->get_servername(s, SHIM_TLSEXT_NAMETYPE_host_name) : NULL;

	snprintf(out, SHIM_TLS_SERVER_MAX, "%s", n != NULL ? n : "");
}

/* st becomes s's new connection, FRESH. Under st->mu. */
static void
begin(struct tls_state *st, int k, SSL *s, const struct shim_ssl_fns *fns,
    const char *server)
{
	shim_xchg_end(&st->x, 0);
	st->ssl = s;
	st->fns = fns;
	snprintf(st->server, sizeof(st->server), "%s", server);
	set_kind(k, SHIM_TLS_FRESH);
}

/* s's slot, made FRESH for it; -1 when none can be had. Inside tollgate. */
static int
make(SSL *s, const struct shim_ssl_fns *fns)
{
	char server[SHIM_TLS_SERVER_MAX];
	struct tls_state *st;
	int k;

	server_name(s, fns, server);
	if ((st = claim(s, &k)) == NULL)
		return -1;
	begin(st, k, s, fns, server);
	pthread_mutex_unlock(&st->mu);
	return k;
}

int
shim_tls_kind(const SSL *s)
{
	int k = find(s);

	return k < 0 ? -1 : get_kind(k);
}

int
shim_tls_server(const SSL *s, char *out, size_t n)
{
	struct tls_state *st;
	int k, rc = -1, saved = errno;

	if (shim_inside || (k = find(s)) < 0)
		return -1;
	shim_inside++;
	if ((st = lock_slot(k, s)) != NULL) {
		snprintf(out, n, "%s", st->server);
		pthread_mutex_unlock(&st->mu);
		rc = 0;
	}
	shim_inside--;
	errno = saved;
	return rc;
}

/* A repeated handshake call while FRESH learns the name again (a
 * non-blocking handshake calls many times), by the SSL's own library;
 * after SSL_shutdown it is a new connection on the same SSL (SSL_clear).
 * Inside tollgate. */
static void
refresh(int k, SSL *s, const struct shim_ssl_fns *fns)
{
	char server[SHIM_TLS_SERVER_MAX];
	struct tls_state *st;
	int kd;

	if ((st = lock_slot(k, s)) == NULL)
		return;
	if (st->fns != NULL)
		fns = st->fns;
	pthread_mutex_unlock(&st->mu);
	server_name(s, fns, server);
	if ((st = lock_slot(k, s)) == NULL)
		return;
	if ((kd = get_kind(k)) == SHIM_TLS_FRESH || kd == SHIM_TLS_ENDED)
		begin(st, k, s, fns, server);
	pthread_mutex_unlock(&st->mu);
}

void
shim_tls_handshake(SSL *s, const struct shim_ssl_fns *fns)
{
	int k, kd, saved = errno;

	if (s == NULL || shim_inside)
		return;
	/* decided: a renegotiation, nothing new */
	if ((k = find(s)) >= 0 && (kd = get_kind(k)) != SHIM_TLS_FRESH &&
	    kd != SHIM_TLS_ENDED)
		return;
	if (shim_ready()) {
		shim_inside++;
		if (k < 0)
			make(s, fns);
		else
			refresh(k, s, fns);
		shim_inside--;
	}
	errno = saved;
}

int
shim_tls_before_write(SSL *s, const void *b, size_t n)
{
	return 0;
}

/* The first bytes decide FRESH into METERED or NONE. Under st->mu. */
static void
decide(struct tls_state *st, int k, const struct iovec *v)
{
	if (shim_xchg_looks_llm(v, 1, v->iov_len) &&
	    shim_xchg_start(&st->x) == 0)
		set_kind(k, SHIM_TLS_METERED);
	else
		set_kind(k, SHIM_TLS_NONE);
}

void
shim_tls_out(SSL *s, const struct shim_ssl_fns *fns, const void *b,
    size_t n)
{
	struct iovec v = { (void *)b, n };
	struct tls_state *st;
	int k = find(s), kd, saved = errno;

	if (k >= 0 && (kd = get_kind(k)) != SHIM_TLS_FRESH &&
	    kd != SHIM_TLS_METERED)
		return;
	if (s == NULL || shim_inside || (k < 0 && !shim_ready()))
		goto out;
	shim_inside++;
	if (k < 0)
		k = make(s, fns);
	if (k >= 0 && (st = lock_slot(k, s)) != NULL) {
		if (get_kind(k) == SHIM_TLS_FRESH)
			decide(st, k, &v);
		shim_xchg_out(&st->x, &v, 1, n);
		leave(st);
	}
	shim_inside--;
out:
	errno = saved;
}

void
shim_tls_in(SSL *s, const void *b, size_t n)
{
	struct iovec v = { (void *)b, n };
	struct tls_state *st;
	int k = find(s), saved = errno;

	/* FRESH reading first (a server speaking first): not yet */
	if (k < 0 || get_kind(k) != SHIM_TLS_METERED || shim_inside)
		return;
	shim_inside++;
	if ((st = lock_slot(k, s)) != NULL) {
		shim_xchg_in(&st->x, &v, 1, n);
		leave(st);
	}
	shim_inside--;
	errno = saved;
}

struct shim_done *
shim_tls_end(SSL *s, int forget)
{
	struct shim_done *d = NULL;
	struct tls_state *st;
	int k = find(s), saved = errno;

	if (k < 0 || shim_inside)
		return NULL;
	shim_inside++;
	if ((st = lock_slot(k, s)) != NULL) {
		shim_xchg_end(&st->x, 1);
		d = shim_xchg_take(&st->x);
		set_kind(k, forget ? SHIM_TLS_NONE : SHIM_TLS_ENDED);
		if (forget) {
			st->ssl = NULL;
			st->fns = NULL;
		}
		pthread_mutex_unlock(&st->mu);
		if (forget)
			atomic_store(&tls_key[k], NULL);
	}
	shim_inside--;
	errno = saved;
	return d;
}
