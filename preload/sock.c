/* sock.c — per-fd plain-HTTP metering state behind the hooks; see sock.h. */
#include "sock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "instance.h"
#include "gate.h"
#include "tls.h"
#include "real.h"
#include "carrier.h"
#include "xchg.h"
#include "shim.h"

__attribute__((visibility("hidden"))) uint8_t shim_sock_kind[SHIM_SOCK_FDS];

struct sock_state {
	struct shim_carrier c;       /* c.x metered iff kind is METERED */
	pid_t pid;                   /* the process that connected it */
	dev_t dev;                   /* the socket connect() saw: an fd */
	ino_t ino;                   /* closed past our hooks is not it */
};

/* Allocated once per fd number, never freed (sock.h). */
static struct sock_state *_Atomic sock_tab[SHIM_SOCK_FDS];

static void
set_kind(int fd, uint8_t k)
{
	__atomic_store_n(&shim_sock_kind[fd], k, __ATOMIC_RELAXED);
}

static uint8_t
get_kind(int fd)
{
	return __atomic_load_n(&shim_sock_kind[fd], __ATOMIC_RELAXED);
}

/* The connection's state ends; its pending exchanges are reported cut
 * unless report is 0. Under st->c.mu. */
static void
end_conn(struct sock_state *st, int fd, int report)
{
	shim_xchg_end(&st->c.x, report);
	set_kind(fd, SHIM_SOCK_NONE);
}

/* Is fd still the socket connect() saw? A socket closed past our hooks
 * (fclose of an fdopen'd socket, a raw system call, io_uring) leaves its
 * state behind, and a file or pipe given the number next must not be
 * parsed as its response: checked (one fstat) whenever exchanges are
 * about to be reported. */
static int
same_socket(const struct sock_state *st, int fd)
{
	struct stat sb;

	return fstat(fd, &sb) == 0 && S_ISSOCK(sb.st_mode) &&
	    sb.st_dev == st->dev && sb.st_ino == st->ino;
}

/* Records about to be reported from fd: dropped, and the state ended,
 * when fd is no longer the connection's socket. Under st->c.mu. */
static void
check_done(struct sock_state *st, int fd)
{
	if (st->c.x.done == NULL || same_socket(st, fd))
		return;
	shim_done_free(shim_xchg_take(&st->c.x));
	end_conn(st, fd, 0);
}

/* A fork child's first touch of a state its parent made (carrier.h):
 * the fd passes through in the child. */
static void
reset(struct shim_carrier *c, void *arg)
{
	set_kind(*(int *)arg, SHIM_SOCK_NONE);
	((struct sock_state *)c)->pid = 0;
}

static int
state_own(struct sock_state *st, int fd, uint64_t g)
{
	return shim_carrier_own(&st->c, g, reset, &fd);
}

static struct sock_state *
state_get(int fd, uint64_t g, int make)
{
	struct sock_state *st = atomic_load(&sock_tab[fd]);

	if (st != NULL || !make)
		return st;
	return shim_carrier_get((void *_Atomic *)&sock_tab[fd], sizeof(*st), g);
}

/* The fd's state, locked and inside tollgate, when this process may meter
 * it; NULL: pass through. owner: only the process that connected it (not
 * a vfork child sharing our memory). */
static struct sock_state *
enter(int fd, int owner)
{
	struct sock_state *st;

	if (shim_inside || (st = atomic_load(&sock_tab[fd])) == NULL)
		return NULL;
	shim_inside++;
	if (!state_own(st, fd, shim_instance_sync()) ||
	    (owner && st->pid != getpid())) {
		shim_inside--;
		return NULL;
	}
	pthread_mutex_lock(&st->c.mu);
	return st;
}

/* Unlock, then settle what finished: never a daemon call under st->c.mu. */
static void
leave(struct sock_state *st)
{
	struct shim_done *d = shim_xchg_take(&st->c.x);

	pthread_mutex_unlock(&st->c.mu);
	shim_done_settle(d);
	shim_inside--;
}

static int
is_tcp(int fd, const struct sockaddr *a, socklen_t alen)
{
	int type = 0;
	socklen_t tl = sizeof(type);

	if (a == NULL || alen < sizeof(sa_family_t) ||
	    (a->sa_family != AF_INET && a->sa_family != AF_INET6))
		return 0;
	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 &&
	    type == SOCK_STREAM;
}

void
shim_sock_connected(int fd, const struct sockaddr *a, socklen_t alen)
{
	struct shim_done *d;
	struct sock_state *st;
	uint64_t g;
	int saved = errno, cand;

	if ((unsigned)fd >= SHIM_SOCK_FDS || shim_inside || !shim_ready())
		goto out;
	shim_inside++;
	cand = is_tcp(fd, a, alen);
	/* A UDP connect (a resolver) on an fd never watched: nothing. */
	if ((cand || atomic_load(&sock_tab[fd]) != NULL) &&
	    (st = state_get(fd, g = shim_instance_sync(), cand)) != NULL &&
	    state_own(st, fd, g)) {
		pthread_mutex_lock(&st->c.mu);
		end_conn(st, fd, 1);
		st->pid = getpid();
		set_kind(fd, cand ? SHIM_SOCK_CANDIDATE : SHIM_SOCK_NONE);
		if (cand) {
			struct stat sb;
			int ok = fstat(fd, &sb) == 0;

			st->dev = ok ? sb.st_dev : 0;
			st->ino = ok ? sb.st_ino : 0;
		}
		d = shim_xchg_take(&st->c.x);
		pthread_mutex_unlock(&st->c.mu);
		shim_done_settle(d);
	}
	shim_inside--;
out:
	errno = saved;
}

/* A candidate's first bytes decide (sock.h). Under st->c.mu. */
static void
classify(struct sock_state *st, int fd, const struct iovec *v, int nv,
    size_t n)
{
	if (get_kind(fd) != SHIM_SOCK_CANDIDATE)
		return;
	if (shim_xchg_looks_llm(v, nv, n) && shim_xchg_start(&st->c.x) == 0) {
		set_kind(fd, SHIM_SOCK_METERED);
		return;
	}
	set_kind(fd, SHIM_SOCK_NONE);
	if (nv > 0 && v[0].iov_len >= n)        /* TLS on memory BIOs */
		shim_tls_seen_hello(fd, v[0].iov_base, n);
}

void
shim_sock_out(int fd, const struct iovec *v, int nv, size_t n)
{
	struct sock_state *st;
	int saved = errno;

	if ((st = enter(fd, 0)) == NULL)
		goto out;
	classify(st, fd, v, nv, n);
	shim_xchg_out(&st->c.x, v, nv, n);
	leave(st);
out:
	errno = saved;
}

void
shim_sock_in(int fd, const struct iovec *v, int nv, size_t n)
{
	struct sock_state *st;
	int saved = errno;

	/* A candidate reading first (the server speaks first): not yet. */
	if (get_kind(fd) != SHIM_SOCK_METERED || (st = enter(fd, 0)) == NULL)
		goto out;
	shim_xchg_in(&st->c.x, v, nv, n);
	check_done(st, fd);
	leave(st);
out:
	errno = saved;
}

void
shim_sock_gap(int fd)
{
	struct sock_state *st;
	int saved = errno;

	if ((st = enter(fd, 0)) != NULL) {
		end_conn(st, fd, 1);
		leave(st);
	}
	errno = saved;
}

struct shim_done *
shim_sock_detach(int fd)
{
	struct shim_done *d = NULL;
	struct sock_state *st;
	int saved = errno;

	if ((st = enter(fd, 1)) != NULL) {
		end_conn(st, fd, 1);
		check_done(st, fd);
		d = shim_xchg_take(&st->c.x);
		pthread_mutex_unlock(&st->c.mu);
		shim_inside--;
	}
	errno = saved;
	return d;
}

/* ---- admission (sock.h) ---- */

#define SEND_STALL_MS 1000      /* a full send buffer: wait for room */
#define SEND_STALLS_MAX 60      /* … at most this many times in a row */

/* Held bytes go out whole; a full buffer of a non-blocking socket is
 * waited for (briefly: the client was told they were written). 0, or -1
 * with errno. No SIGPIPE: the error comes back as EPIPE. */
static int
send_all(int fd, const char *p, size_t n)
{
	int stalls = 0;

	while (n > 0) {
		ssize_t w = shim_real.send(fd, p, n, MSG_NOSIGNAL);
		struct pollfd pf = { fd, POLLOUT, 0 };

		if (w > 0) {
			p += w;
			n -= (size_t)w;
			stalls = 0;
		} else if (w < 0 && errno == EINTR) {
			continue;
		} else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (shim_real.poll(&pf, 1, SEND_STALL_MS) == 0 &&
			    ++stalls >= SEND_STALLS_MAX) {
				errno = ETIMEDOUT;
				return -1;
			}
		} else {
			return -1;
		}
	}
	return 0;
}

/* Send what x held, outside the lock. *ret: took, or -1 and errno. */
static void
release(struct sock_state *st, int fd, size_t took, ssize_t *ret)
{
	size_t n;
	char *held = shim_xchg_take_held(&st->c.x, &n);
	int rc;

	leave(st);
	rc = n > 0 ? send_all(fd, held, n) : 0;
	free(held);
	*ret = rc < 0 ? -1 : (ssize_t)took;
}

static int
nonblocking(int fd, int dontwait)
{
	int fl = fcntl(fd, F_GETFL);

	return dontwait || (fl != -1 && (fl & O_NONBLOCK));
}

/* The held request is complete: admission, outside every lock; then
 * send it, or answer it here. */
static void
admit(struct sock_state *st, int fd, size_t took, int dontwait, ssize_t *ret)
{
	struct llm_req req = *shim_xchg_request(&st->c.x);
	uint64_t epoch = st->c.x.epoch;
	struct shim_gate g;

	leave(st);
	shim_gate_ask(&req, nonblocking(fd, dontwait), &g);
	*ret = (ssize_t)took;
	if ((st = enter(fd, 0)) == NULL || st->c.x.epoch != epoch) {
		if (st != NULL)
			leave(st);      /* closed or reconnected meanwhile */
		free(g.resp);
		return;
	}
	if (g.outcome == SHIM_GATE_SEND) {
		shim_xchg_admitted(&st->c.x, g.admit_id, g.delay_ms, g.rule);
		release(st, fd, took, ret);
		return;
	}
	shim_xchg_refused(&st->c.x, g.resp, g.nresp);
	set_kind(fd, SHIM_SOCK_ANSWER);
	leave(st);
	/* the server is never asked; event loops see the socket readable */
	shutdown(fd, SHUT_RDWR);
}

int
shim_sock_write(int fd, const struct iovec *v, int nv, size_t n,
    int dontwait, ssize_t *ret)
{
	struct sock_state *st;
	uint8_t k = get_kind(fd);
	size_t took;
	int gate, saved = errno;

	if (n == 0 || shim_inside || k == SHIM_SOCK_NONE || !shim_ready() ||
	    (k == SHIM_SOCK_CANDIDATE && !shim_xchg_looks_llm(v, nv, n)))
		return 0;
	gate = k == SHIM_SOCK_ANSWER || shim_gate_needed();
	if ((st = enter(fd, 0)) == NULL)
		return 0;
	classify(st, fd, v, nv, n);
	switch (shim_xchg_write(&st->c.x, v, nv, n, gate, &took)) {
	case SHIM_XW_REAL:
		leave(st);
		errno = saved;
		return 0;
	case SHIM_XW_RELEASE:
		release(st, fd, took, ret);
		if (took == 0 && *ret == 0) {
			errno = saved;
			return 0;       /* this write goes as it is */
		}
		break;
	case SHIM_XW_ADMIT:
		admit(st, fd, took, dontwait, ret);
		break;
	default:                /* HELD, SWALLOW */
		leave(st);
		*ret = (ssize_t)took;
		break;
	}
	if (*ret >= 0)
		errno = saved;
	return 1;
}

ssize_t
shim_sock_answer(int fd, const struct iovec *v, int nv, size_t n, int flags)
{
	struct sock_state *st;
	size_t k = 0;
	int saved = errno;

	if ((st = enter(fd, 0)) != NULL) {
		k = shim_xchg_answer(&st->c.x, v, nv, n, flags & MSG_PEEK);
		leave(st);
	}
	errno = saved;
	return (ssize_t)k;
}
