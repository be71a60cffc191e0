/* client.c — the daemon connection's life: lock, connect, register, fork;
 * see client.h (messages: client_io.c). */
#include "client.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "client_int.h"
#include "config.h"
#include "fork.h"
#include "pages.h"
#include "real.h"
#include "say.h"
#include "shim.h"

static pthread_mutex_t conn_mtx = PTHREAD_MUTEX_INITIALIZER;
struct conn shim_conn = { .sock = SHIM_FD_NONE };
/* prepare got the lock (the state is whole); per thread: the handlers of
 * one fork run in the thread that forks. */
static __thread int fork_held __attribute__((tls_model("initial-exec")));

/* The policy bits now: the verdict page's flags while it is mapped (the
 * daemon keeps them current), else what was seen last. Lock held. */
static uint32_t
policy_now(void)
{
	uint32_t old = atomic_load_explicit(&shim_conn.policy,
	    memory_order_relaxed), p = old;

	if (shim_conn.verdict) {
		p = (old & SHIM_POLICY_LEARNED) | (SHIM_POLICY_BITS &
		    __atomic_load_n(&shim_conn.verdict->flags, __ATOMIC_ACQUIRE));
		if (p != old)
			atomic_store_explicit(&shim_conn.policy, p,
			    memory_order_release);
	}
	return p;
}

/* The page's last flags are kept before it goes: a daemon that died wrote
 * nothing after them, so they are the policy it last had for us. The
 * pages' addresses stay valid (zeros, pages.h). */
static void
unmap_pages(void)
{
	policy_now();
	if (shim_conn.verdict)
		shim_pages_detach();
	shim_conn.verdict = NULL;
	shim_conn.counters = NULL;
}

/* Start over without the connection: closed only if the fd is still our
 * socket (a fork child, a host that closed it and reused the number). */
static void
forget(void)
{
	shim_fd_close(&shim_conn.sock);
	shim_conn.seq = 0;
	shim_conn.next_try = 0;
	unmap_pages();
	atomic_fetch_and_explicit(&shim_conn.policy, ~SHIM_POLICY_LEARNED,
	    memory_order_relaxed);
}

void
shim_conn_drop(int64_t retry_after)
{
	shim_fd_close(&shim_conn.sock);
	unmap_pages();
	shim_conn.next_try = shim_now_mono() + retry_after;
}

/* Checked at every lock: the host may have closed our socket and got its
 * number back. Then the number is not ours to use or close; we reconnect
 * (and register anew) on a fresh fd. */
static void
check_fd(void)
{
	if (shim_conn.sock.fd >= 0 && !shim_fd_ours(&shim_conn.sock)) {
		shim_fd_forget(&shim_conn.sock);
		forget();
	}
}

/* The lock, and nothing inherited from another process generation. A
 * deadline already past still takes a free lock. */
static int
lock_gen(uint64_t gen, int64_t deadline)
{
	struct timespec ts = { deadline / 1000000000, deadline % 1000000000 };

	if (pthread_mutex_clocklock(&conn_mtx, CLOCK_MONOTONIC, &ts) != 0)
		return SHIM_TIMEOUT;
	if (shim_conn.gen != gen) {
		forget();
		shim_conn.gen = gen;
	}
	return 0;
}

int
shim_conn_lock(uint64_t gen, int64_t deadline)
{
	if (lock_gen(gen, deadline) != 0)
		return SHIM_TIMEOUT;
	check_fd();
	return 0;
}

void
shim_conn_unlock(void)
{
	pthread_mutex_unlock(&conn_mtx);
}

void
shim_conn_bad_version(void)
{
	if (!shim_conn.said_version)
		shim_say("the daemon speaks another protocol version than this "
		    "shim (v%d); metering locally and spooling", TG_PROTO_VERSION);
	shim_conn.said_version = 1;
	shim_conn_drop(SHIM_RETRY_NS);
}

static int
open_socket(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (shim_cfg.socket[0] == '\0')
		return -1;
	tg_strlcpy(sa.sun_path, shim_cfg.socket, sizeof(sa.sun_path));
	fd = shim_real.socket(AF_UNIX,
	    SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	/* A unix connect does not go "in progress": EAGAIN means the
	 * daemon's backlog is full, i.e. unavailable right now. */
	if (shim_real.connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		shim_real.close(fd);
		return -1;
	}
	if (shim_fd_adopt(&shim_conn.sock, fd) < 0)
		return -1;
	shim_conn.seq = 0;
	return 0;
}

/* Map the verdict page read-only, the counters read-write, at the fixed
 * addresses of pages.h; then the fds are not needed any more (the
 * mappings keep the memfds alive). Pages of another layout are not kept:
 * none of their fields is read, the policy flags neither (the
 * registration's stand). */
static void
map_pages(int fds[2], int n)
{
	const char *why = "registration came without its pages";

	if (n == 2 && shim_pages_attach(fds[0], fds[1], &why) == 0) {
		shim_conn.verdict = (struct tg_verdict_page *)shim_pages_verdict();
		shim_conn.counters = shim_pages_counters();
	} else
		shim_say("%s; GPU counters off", why);
	shim_conn_close_fds(fds, n);
}

static int
do_register(int64_t deadline)
{
	struct tg_register rg = { .mode = shim_cfg.mode,
	    .covers = TG_COVERS_PLAIN_HTTP |
	    TG_COVERS_LIBSSL | TG_COVERS_LIBCUDA };
	struct shim_reply r;
	int fds[2], nfds = 0, rc;
	uint32_t seq;

	tg_strlcpy(rg.tags, shim_cfg.tags, sizeof(rg.tags));
	tg_strlcpy(rg.run, shim_cfg.run, sizeof(rg.run));
	if ((rc = shim_conn_send(TG_MSG_REGISTER, &rg, sizeof(rg), &seq,
	    deadline)) == 0)
		rc = shim_conn_await(seq, TG_MSG_REGISTERED, &r, fds, &nfds,
		    deadline);
	if (rc == TG_ERR_BAD_VERSION) {
		shim_conn_bad_version();
		return SHIM_LOST;
	}
	if (rc != 0) {
		/* Unknown whether the daemon registered us: start over later. */
		shim_conn_drop(SHIM_RETRY_NS);
		return SHIM_LOST;
	}
	/* Bits this shim does not know (a newer daemon's) are left out. */
	atomic_store_explicit(&shim_conn.policy, SHIM_POLICY_LEARNED |
	    (r.u.reg.flags & SHIM_POLICY_BITS), memory_order_release);
	map_pages(fds, nfds);
	return 1;
}

int
shim_conn_ensure(int64_t deadline, int force)
{
	if (shim_conn.sock.fd >= 0)
		return 0;
	if (!force && shim_now_mono() < shim_conn.next_try)
		return SHIM_LOST;
	if (open_socket() < 0) {
		shim_conn.next_try = shim_now_mono() + SHIM_RETRY_NS;
		return SHIM_LOST;
	}
	return do_register(deadline);
}

/* No fd check unless we register: the socket is not used, and once
 * learned the answer costs no syscall (mode off asks at every call). */
uint32_t
shim_conn_policy(uint64_t gen, int64_t deadline, int learn)
{
	uint32_t p;

	if (lock_gen(gen, deadline) != 0)
		return shim_conn_policy_cached();
	if (learn && !(atomic_load_explicit(&shim_conn.policy,
	    memory_order_relaxed) & SHIM_POLICY_LEARNED)) {
		check_fd();
		(void)shim_conn_ensure(deadline, 0);
	}
	p = policy_now();
	shim_conn_unlock();
	return p;
}

uint32_t
shim_conn_policy_cached(void)
{
	return atomic_load_explicit(&shim_conn.policy, memory_order_acquire);
}

struct tg_counters_page *
shim_conn_counters(void)
{
	return shim_conn.counters;
}

/* Another thread may hold the lock for a whole call (or a flush step):
 * fork waits at most one call deadline for it, then goes on without it. */
void
shim_conn_atfork_prepare(void)
{
	fork_held = shim_fork_lock(&conn_mtx);
}

void
shim_conn_atfork_parent(void)
{
	if (fork_held)
		pthread_mutex_unlock(&conn_mtx);
	fork_held = 0;
}

/* In the child right after fork(): forget the parent's connection now, so
 * the child neither keeps it alive nor reads the parent's replies. The
 * lock is new (its holder, if any, is a thread of the parent). Without
 * the lock the state may be half-updated: the socket is closed only if
 * its identity still matches, and the pages become zeros at their fixed
 * addresses (pages.h), which never depend on that state. */
void
shim_conn_atfork_child(void)
{
	shim_fork_fresh_lock(&conn_mtx);
	/* The parent's pages are shared memory: never the child's to read
	 * or write. */
	shim_pages_detach();
	shim_conn.verdict = NULL;
	shim_conn.counters = NULL;
	forget();
	fork_held = 0;
}
