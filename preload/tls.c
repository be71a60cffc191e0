/* tls.c — per-SSL* LLM metering state behind the SSL_* hooks; see tls.h. */
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "carrier.h"
#include "gate.h"
#include "instance.h"
#include "shim.h"

struct tls_state {
	struct shim_carrier c;       /* c.x metered iff kind is METERED */
	SSL *ssl;                    /* whose state; NULL: none */
	const struct shim_ssl_fns *fns; /* the SSL's own library's */
	char server[SHIM_TLS_SERVER_MAX];
	/* an SSL on memory BIOs: its socket, found by its ClientHello */
	int awaiting;                /* client_random set, socket not found */
	unsigned char client_random[32];
	int sock_fd;                 /* -1: not known */
	dev_t sock_dev;
	ino_t sock_ino;
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

/* A fork child's first touch of a state its parent made (carrier.h):
 * the SSL stays keyed (its SSL_free still finds it) and passes through. */
static void
reset(struct shim_carrier *c, void *arg)
{
	set_kind(*(int *)arg, SHIM_TLS_NONE);
}

static int
state_own(struct tls_state *st, int k, uint64_t g)
{
	return shim_carrier_own(&st->c, g, reset, &k);
}

static struct tls_state *
state_get(int k, uint64_t g)
{
	return shim_carrier_get((void *_Atomic *)&tls_st[k],
	    sizeof(struct tls_state), g);
}

/* Slot k's state, locked, when it is s's and this process may meter it;
 * NULL: pass through. Inside tollgate. */
static struct tls_state *
lock_slot(int k, const SSL *s)
{
	struct tls_state *st = atomic_load(&tls_st[k]);

	if (st == NULL || !state_own(st, k, shim_instance_sync()))
		return NULL;
	pthread_mutex_lock(&st->c.mu);
	if (st->ssl == s)
		return st;
	pthread_mutex_unlock(&st->c.mu);
	return NULL;
}

/* Unlock, then settle what finished: never a daemon call under st->c.mu. */
static void
leave(struct tls_state *st)
{
	struct shim_done *d = shim_xchg_take(&st->c.x);

	pthread_mutex_unlock(&st->c.mu);
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
			pthread_mutex_lock(&st->c.mu);
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

/* st becomes s's new connection, FRESH. Under st->c.mu. */
static void
begin(struct tls_state *st, int k, SSL *s, const struct shim_ssl_fns *fns,
    const char *server)
{
	shim_xchg_end(&st->c.x, 0);
	/* a new connection; a repeated handshake call keeps its socket */
	if (st->ssl != s || get_kind(k) != SHIM_TLS_FRESH) {
		st->awaiting = 0;
		st->sock_fd = -1;
	}
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
	pthread_mutex_unlock(&st->c.mu);
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
		pthread_mutex_unlock(&st->c.mu);
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
	pthread_mutex_unlock(&st->c.mu);
	server_name(s, fns, server);
	if ((st = lock_slot(k, s)) == NULL)
		return;
	if ((kd = get_kind(k)) == SHIM_TLS_FRESH || kd == SHIM_TLS_ENDED)
		begin(st, k, s, fns, server);
	pthread_mutex_unlock(&st->c.mu);
}

/* ---- the socket under an SSL on memory BIOs ----
 * An event loop that runs TLS on memory BIOs (Python's asyncio) moves the
 * bytes between the SSL and the socket itself, so SSL_get_fd knows no
 * socket; a refusal must still wake that loop (tls.h). The socket is the
 * one whose first bytes are this SSL's ClientHello: its client random
 * (32 bytes at offset 11 of the record) is compared, exactly. */
#define AWAIT_MAX 16
static _Atomic int awaiting[AWAIT_MAX];         /* slot + 1; 0: free */

/* After a handshake call of s (slot k): note its client random once it
 * has one, when s has no socket of its own. Inside tollgate. */
static void
await_socket(int k, SSL *s, const struct shim_ssl_fns *fns)
{
	unsigned char r[32] = { 0 }, zero[32] = { 0 };
	struct tls_state *st;

	if (fns->get_fd == NULL || fns->get_client_random == NULL ||
	    fns->get_fd(s) >= 0 ||
	    fns->get_client_random(s, r, sizeof(r)) != sizeof(r) ||
	    memcmp(r, zero, sizeof(r)) == 0 || (st = lock_slot(k, s)) == NULL)
		return;
	if (!st->awaiting && st->sock_fd < 0) {
		memcpy(st->client_random, r, sizeof(r));
		st->awaiting = 1;
		for (int i = 0; i < AWAIT_MAX; i++) {
			int free_ = 0;

			if (atomic_compare_exchange_strong(&awaiting[i], &free_,
			    k + 1))
				break;
		}
	}
	pthread_mutex_unlock(&st->c.mu);
}

void
shim_tls_seen_hello(int fd, const void *p, size_t n)
{
	const unsigned char *b = p;
	struct tls_state *st;
	struct stat sb;

	/* record: handshake (22), TLS 1.x; message: client_hello (1) */
	if (n < 43 || b[0] != 22 || b[1] != 3 || b[5] != 1 ||
	    fstat(fd, &sb) != 0)
		return;
	for (int i = 0; i < AWAIT_MAX; i++) {
		int k = atomic_load(&awaiting[i]) - 1, hit = 0;

		if (k < 0 || (st = atomic_load(&tls_st[k])) == NULL)
			continue;
		pthread_mutex_lock(&st->c.mu);
		if (st->awaiting &&
		    memcmp(st->client_random, b + 11, 32) == 0) {
			st->awaiting = 0;
			st->sock_fd = fd;
			st->sock_dev = sb.st_dev;
			st->sock_ino = sb.st_ino;
			hit = 1;
		} else if (!st->awaiting)
			hit = 1;        /* stale entry: freed */
		pthread_mutex_unlock(&st->c.mu);
		if (hit)
			atomic_store(&awaiting[i], 0);
	}
}

/* The socket to shut down for a refusal on s: its own, or the one its
 * ClientHello went out on if that fd still is that socket. */
static int
refusal_fd(struct tls_state *st, SSL *s)
{
	const struct shim_ssl_fns *f = st->fns;
	struct stat sb;
	int fd = f && f->get_fd ? f->get_fd(s) : -1;

	if (fd >= 0 || st->sock_fd < 0)
		return fd;
	if (fstat(st->sock_fd, &sb) != 0 || sb.st_dev != st->sock_dev ||
	    sb.st_ino != st->sock_ino)
		return -1;
	return st->sock_fd;
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
			k = make(s, fns);
		else
			refresh(k, s, fns);
		if (k >= 0)
			await_socket(k, s, fns);
		shim_inside--;
	}
	errno = saved;
}

/* The first bytes decide FRESH into METERED or NONE. Under st->c.mu. */
static void
decide(struct tls_state *st, int k, const struct iovec *v)
{
	if (shim_xchg_looks_llm(v, 1, v->iov_len) &&
	    shim_xchg_start(&st->c.x) == 0)
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
		shim_xchg_out(&st->c.x, &v, 1, n);
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
		shim_xchg_in(&st->c.x, &v, 1, n);
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
		shim_xchg_end(&st->c.x, 1);
		d = shim_xchg_take(&st->c.x);
		set_kind(k, forget ? SHIM_TLS_NONE : SHIM_TLS_ENDED);
		if (forget) {
			st->ssl = NULL;
			st->fns = NULL;
		}
		pthread_mutex_unlock(&st->c.mu);
		if (forget)
			atomic_store(&tls_key[k], NULL);
	}
	shim_inside--;
	errno = saved;
	return d;
}

/* ---- admission (tls.h) ---- */

#define SHIM_SSL_ERROR_WANT_READ 2
#define SHIM_SSL_ERROR_WANT_WRITE 3
#define TLS_STALL_MS 1000
#define TLS_STALLS_MAX 60

/* Wait until s's socket may take (or give) bytes; a memory BIO (no fd):
 * a millisecond. 0, or -1 after TLS_STALLS_MAX waits with no progress. */
static int
stall(SSL *s, const struct shim_ssl_fns *f, int err, int *stalls)
{
	struct pollfd pf = { f->get_fd ? f->get_fd(s) : -1,
		err == SHIM_SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, 0 };
	struct timespec ms = { 0, 1000000 };

	if (pf.fd < 0)
		nanosleep(&ms, NULL);
	else if (poll(&pf, 1, TLS_STALL_MS) > 0)
		return 0;
	return ++*stalls >= TLS_STALLS_MAX ? -1 : 0;
}

/* Held bytes go out whole through s's own library (the client was told
 * they were written). 0, or -1: the error stays in s for SSL_get_error. */
static int
send_all(SSL *s, const struct shim_ssl_fns *f, const char *p, size_t n)
{
	const struct shim_ssl_fns *o = shim_ssl_enter(f);
	int stalls = 0, rc = 0;

	while (n > 0 && f->write != NULL) {
		int w = f->write(s, p, n > INT_MAX ? INT_MAX : (int)n);
		int err = w > 0 || f->get_error == NULL ? 0 : f->get_error(s, w);

		if (w > 0) {
			p += w;
			n -= (size_t)w;
		} else if ((err != SHIM_SSL_ERROR_WANT_READ &&
		    err != SHIM_SSL_ERROR_WANT_WRITE) ||
		    stall(s, f, err, &stalls) != 0) {
			rc = -1;
			break;
		}
	}
	shim_ssl_leave(o);
	return n > 0 ? -1 : rc;
}

/* Send what st held, outside the lock. *ret: took, or -1. */
static void
release(struct tls_state *st, SSL *s, size_t took, ssize_t *ret)
{
	const struct shim_ssl_fns *f = st->fns;
	size_t n;
	char *held = shim_xchg_take_held(&st->c.x, &n);
	int rc;

	leave(st);
	rc = n > 0 && f != NULL ? send_all(s, f, held, n) : 0;
	free(held);
	*ret = rc < 0 ? -1 : (ssize_t)took;
}

/* An SSL without a socket (a memory BIO: an event loop's) or on a
 * non-blocking one must not sleep. */
static int
nonblocking(SSL *s, const struct shim_ssl_fns *f)
{
	int fd = f && f->get_fd ? f->get_fd(s) : -1, fl;

	if (fd < 0)
		return 1;
	fl = fcntl(fd, F_GETFL);
	return fl != -1 && (fl & O_NONBLOCK);
}

/* The held request is complete: admission, outside every lock (and
 * outside tollgate: tollgate_admit is an entry point); then send it or
 * answer it here. */
static void
admit(struct tls_state *st, int k, SSL *s, size_t took, ssize_t *ret)
{
	struct llm_req req = *shim_xchg_request(&st->c.x);
	const struct shim_ssl_fns *f = st->fns;
	uint64_t epoch = st->c.x.epoch;
	struct shim_gate g;
	int fd;

	leave(st);
	shim_inside--;
	shim_gate_ask(&req, nonblocking(s, f), &g);
	shim_inside++;
	*ret = (ssize_t)took;
	if ((st = lock_slot(k, s)) == NULL || st->c.x.epoch != epoch) {
		if (st != NULL)
			leave(st);      /* shut down or freed meanwhile */
		free(g.resp);
		return;
	}
	if (g.outcome == SHIM_GATE_SEND) {
		shim_xchg_admitted(&st->c.x, g.admit_id, g.delay_ms, g.rule);
		release(st, s, took, ret);
		return;
	}
	shim_xchg_refused(&st->c.x, g.resp, g.nresp);
	set_kind(k, SHIM_TLS_ANSWER);
	fd = refusal_fd(st, s);
	leave(st);
	/* the server is never asked; a poller of the socket wakes up */
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
}

/* Which state a write may be held by; -1: none (pass through). */
static int
write_slot(SSL *s, const struct shim_ssl_fns *fns, struct iovec *v)
{
	int k = find(s), kd = k < 0 ? SHIM_TLS_FRESH : get_kind(k);

	if (kd != SHIM_TLS_FRESH && kd != SHIM_TLS_METERED &&
	    kd != SHIM_TLS_ANSWER)
		return -1;
	if (kd == SHIM_TLS_FRESH && !shim_xchg_looks_llm(v, 1, v->iov_len))
		return -1;
	return k < 0 ? -2 : k;  /* -2: to be made */
}

int
shim_tls_write(SSL *s, const struct shim_ssl_fns *fns, const void *b,
    size_t n, ssize_t *ret)
{
	struct iovec v = { (void *)b, n };
	struct tls_state *st;
	size_t took;
	int k, gate, handled = 1, saved = errno;

	if (s == NULL || n == 0 || shim_inside || !shim_ready() ||
	    (k = write_slot(s, fns, &v)) == -1)
		return 0;
	gate = (k >= 0 && get_kind(k) == SHIM_TLS_ANSWER) ||
	    shim_gate_needed();
	shim_inside++;
	if (k == -2)
		k = make(s, fns);
	if (k < 0 || (st = lock_slot(k, s)) == NULL) {
		shim_inside--;
		errno = saved;
		return 0;
	}
	if (get_kind(k) == SHIM_TLS_FRESH)
		decide(st, k, &v);
	switch (shim_xchg_write(&st->c.x, &v, 1, n, gate, &took)) {
	case SHIM_XW_REAL:
		leave(st);
		handled = 0;
		break;
	case SHIM_XW_RELEASE:
		release(st, s, took, ret);
		handled = took > 0 || *ret != 0;
		break;
	case SHIM_XW_ADMIT:
		admit(st, k, s, took, ret);
		break;
	default:                /* HELD, SWALLOW */
		leave(st);
		*ret = (ssize_t)took;
		break;
	}
	shim_inside--;
	if (!handled || *ret >= 0)
		errno = saved;
	return handled;
}

int
shim_tls_answering(const SSL *s)
{
	int k = find(s);

	return k >= 0 && get_kind(k) == SHIM_TLS_ANSWER;
}

size_t
shim_tls_answer(SSL *s, void *b, size_t n)
{
	struct iovec v = { b, n };
	struct tls_state *st;
	size_t got = 0;
	int k = find(s), saved = errno;

	if (k < 0 || shim_inside)
		return 0;
	shim_inside++;
	if ((st = lock_slot(k, s)) != NULL) {
		got = shim_xchg_answer(&st->c.x, &v, 1, n, 0);
		leave(st);
	}
	shim_inside--;
	errno = saved;
	return got;
}

/* ALPN: a connection to a provider's own host, from a process whose
 * requests are admitted, offers only http/1.1, so that its requests can
 * be held and refused (HTTP/2's are metered, not held). Before the first
 * handshake call: the ClientHello carries the offer. */
void
shim_tls_before_handshake(SSL *s, const struct shim_ssl_fns *fns)
{
	static const unsigned char h1[] = "\x08http/1.1";
	char server[SHIM_TLS_SERVER_MAX];
	int saved = errno;

	if (s == NULL || shim_inside || find(s) >= 0 ||
	    fns->set_alpn_protos == NULL || !shim_ready())
		return;
	shim_inside++;
	server_name(s, fns, server);
	shim_inside--;
	if (llm_host_provider(server) != LLM_UNKNOWN && shim_gate_needed()) {
		shim_inside++;
		fns->set_alpn_protos(s, h1, sizeof(h1) - 1);
		shim_inside--;
	}
	errno = saved;
}
