/* client.c — the connection to tollgated; see client.h. */
#include "client.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "config.h"
#include "real.h"
#include "say.h"
#include "shim.h"

struct conn {
	int fd;                       /* -1: none */
	dev_t dev;                    /* identity of fd, for fork children */
	ino_t ino;
	uint32_t seq;
	uint64_t gen;                 /* process generation that owns this */
	int64_t next_try;             /* mono ns; no connect before it */
	int fail_closed;
	int said_version;
	struct tg_verdict_page *verdict;
	struct tg_counters_page *counters;
};

static pthread_mutex_t conn_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct conn conn = { .fd = -1 };

static void
unmap_pages(void)
{
	if (conn.verdict)
		munmap(conn.verdict, TG_PAGE_SIZE);
	if (conn.counters)
		munmap(conn.counters, TG_PAGE_SIZE);
	conn.verdict = NULL;
	conn.counters = NULL;
}

/* Forget what a fork child inherited. The fd number may have been closed
 * and reused by the child: close it only if it is still our socket. */
static void
forget_inherited(void)
{
	struct stat st;

	if (conn.fd >= 0 && fstat(conn.fd, &st) == 0 && st.st_dev == conn.dev &&
	    st.st_ino == conn.ino)
		shim_real.close(conn.fd);
	conn.fd = -1;
	conn.seq = 0;
	conn.next_try = 0;
	unmap_pages();
}

static void
drop(int64_t retry_after)
{
	if (conn.fd >= 0)
		shim_real.close(conn.fd);
	conn.fd = -1;
	unmap_pages();
	conn.next_try = shim_now_mono() + retry_after;
}

int
shim_conn_lock(uint64_t gen, int64_t deadline)
{
	struct timespec ts = { deadline / 1000000000, deadline % 1000000000 };

	if (pthread_mutex_clocklock(&conn_mtx, CLOCK_MONOTONIC, &ts) != 0)
		return SHIM_TIMEOUT;
	if (conn.gen != gen) {
		forget_inherited();
		conn.gen = gen;
	}
	return 0;
}

void
shim_conn_unlock(void)
{
	pthread_mutex_unlock(&conn_mtx);
}

/* Wait for events on the socket until the deadline. 0 ready, SHIM_TIMEOUT. */
static int
wait_fd(short events, int64_t deadline)
{
	struct pollfd p = { .fd = conn.fd, .events = events };
	int64_t left;
	int n;

	for (;;) {
		left = deadline - shim_now_mono();
		if (left <= 0)
			return SHIM_TIMEOUT;
		n = shim_real.poll(&p, 1, (int)((left + 999999) / 1000000));
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return SHIM_TIMEOUT;
	}
}

int
shim_conn_send(uint16_t type, const void *p, uint32_t len, uint32_t *seq,
    int64_t deadline)
{
	struct tg_hdr h;
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)p, len } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };
	ssize_t n;

	if (conn.fd < 0)
		return SHIM_LOST;
	if (++conn.seq == 0)
		conn.seq = 1;
	tg_hdr_init(&h, type, len, conn.seq);
	for (;;) {
		/* MSG_NOSIGNAL: a dead daemon must not SIGPIPE the host. */
		n = shim_real.sendmsg(conn.fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == (ssize_t)(sizeof(h) + len))
			break;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN && wait_fd(POLLOUT, deadline) == 0)
			continue;
		if (n < 0 && errno == EAGAIN)
			return SHIM_TIMEOUT;
		drop(0);
		return SHIM_LOST;
	}
	*seq = conn.seq;
	return 0;
}

static void
close_fds(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		shim_real.close(fds[i]);
}

/* Collect the fds of SCM_RIGHTS messages; keep at most 2, close the rest. */
static int
take_fds(struct msghdr *m, int fds[2])
{
	int n = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
		int k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (int i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (n < 2)
				fds[n++] = fd;
			else
				shim_real.close(fd);
		}
	}
	return n;
}

static void
bad_version(void)
{
	if (!conn.said_version)
		shim_say("the daemon speaks another protocol version than this "
		    "shim (v%d); metering locally and spooling", TG_PROTO_VERSION);
	conn.said_version = 1;
	drop(SHIM_RETRY_NS);
}

/* Read one valid message; fds (if any) go to fds/nfds when given. */
static int
recv_one(struct shim_reply *r, int fds[2], int *nfds, int64_t deadline)
{
	union { struct cmsghdr c; char b[CMSG_SPACE(4 * sizeof(int))]; } cb;
	struct iovec iov = { r, sizeof(*r) };
	struct msghdr m;
	const char *why;
	int got[2], ng, err;
	ssize_t n;

	for (;;) {
		memset(&m, 0, sizeof(m));
		m.msg_iov = &iov;
		m.msg_iovlen = 1;
		m.msg_control = cb.b;
		m.msg_controllen = sizeof(cb.b);
		n = shim_real.recvmsg(conn.fd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (wait_fd(POLLIN, deadline) != 0)
				return SHIM_TIMEOUT;
			continue;
		}
		if (n <= 0) {
			drop(0); /* EOF: the daemon went away; may be back already */
			return SHIM_LOST;
		}
		ng = take_fds(&m, got);
		/* Bigger than any reply we ask for: not ours; skip it. */
		if (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
			close_fds(got, ng);
			continue;
		}
		if ((err = tg_msg_check(r, n, &why)) != 0) {
			close_fds(got, ng);
			if (err == TG_ERR_BAD_VERSION)
				bad_version();
			else {
				shim_say("bad message from the daemon: %s", why);
				drop(SHIM_RETRY_NS);
			}
			return SHIM_LOST;
		}
		if (fds && nfds) {
			memcpy(fds, got, sizeof(got));
			*nfds = ng;
		} else
			close_fds(got, ng);
		return 0;
	}
}

int
shim_conn_recv(struct shim_reply *r, int64_t deadline)
{
	if (conn.fd < 0)
		return SHIM_LOST;
	return recv_one(r, NULL, NULL, deadline);
}

/* Wait for the reply to seq; discard stale ones. */
static int
await(uint32_t seq, uint16_t want, struct shim_reply *r, int fds[2],
    int *nfds, int64_t deadline)
{
	int rc;

	for (;;) {
		if (nfds)
			*nfds = 0;
		if ((rc = recv_one(r, fds, nfds, deadline)) != 0)
			return rc;
		if (r->hdr.seq == seq && r->hdr.type == want)
			return 0;
		if (r->hdr.seq == seq && r->hdr.type == TG_MSG_FAIL)
			return r->u.fail.code ? (int)r->u.fail.code : TG_ERR_INTERNAL;
		if (nfds)
			close_fds(fds, *nfds); /* stale: drop its fds too */
	}
}

int
shim_conn_call(uint16_t type, const void *p, uint32_t len, uint16_t want,
    struct shim_reply *r, int64_t deadline)
{
	uint32_t seq;
	int rc;

	if ((rc = shim_conn_send(type, p, len, &seq, deadline)) != 0)
		return rc;
	return await(seq, want, r, NULL, NULL, deadline);
}

static int
open_socket(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
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
	if (shim_real.connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    fstat(fd, &st) < 0) {
		shim_real.close(fd);
		return -1;
	}
	conn.fd = fd;
	conn.dev = st.st_dev;
	conn.ino = st.st_ino;
	conn.seq = 0;
	return 0;
}

static void *
map_fd(int fd, int prot)
{
	void *p = mmap(NULL, TG_PAGE_SIZE, prot, MAP_SHARED, fd, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* Map the verdict page read-only, the counters read-write; then the fds
 * are not needed any more (the mappings keep the memfds alive). */
static void
map_pages(int fds[2], int n)
{
	if (n == 2) {
		conn.verdict = map_fd(fds[0], PROT_READ);
		conn.counters = map_fd(fds[1], PROT_READ | PROT_WRITE);
	}
	if (n != 2 || !conn.verdict || !conn.counters)
		shim_say("registration came without its pages; GPU counters off");
	else if (conn.verdict->version != TG_PAGE_VERSION)
		shim_say("page layout v%u, shim knows v%d; GPU counters off",
		    conn.verdict->version, TG_PAGE_VERSION);
	if (n == 2 && conn.verdict && conn.verdict->version != TG_PAGE_VERSION)
		unmap_pages();
	close_fds(fds, n);
}

static int
do_register(int64_t deadline)
{
	struct tg_register rg = { .mode = shim_cfg.mode, .covers = 0 };
	struct shim_reply r;
	int fds[2], nfds = 0, rc;
	uint32_t seq;

	tg_strlcpy(rg.tags, shim_cfg.tags, sizeof(rg.tags));
	tg_strlcpy(rg.run, shim_cfg.run, sizeof(rg.run));
	if ((rc = shim_conn_send(TG_MSG_REGISTER, &rg, sizeof(rg), &seq,
	    deadline)) == 0)
		rc = await(seq, TG_MSG_REGISTERED, &r, fds, &nfds, deadline);
	if (rc == TG_ERR_BAD_VERSION) {
		bad_version();
		return SHIM_LOST;
	}
	if (rc != 0) {
		/* Unknown whether the daemon registered us: start over later. */
		drop(SHIM_RETRY_NS);
		return SHIM_LOST;
	}
	conn.fail_closed = r.u.reg.fail_closed != 0;
	map_pages(fds, nfds);
	return 1;
}

int
shim_conn_ensure(int64_t deadline, int force)
{
	if (conn.fd >= 0)
		return 0;
	if (!force && shim_now_mono() < conn.next_try)
		return SHIM_LOST;
	if (open_socket() < 0) {
		conn.next_try = shim_now_mono() + SHIM_RETRY_NS;
		return SHIM_LOST;
	}
	return do_register(deadline);
}

int
shim_conn_fail_closed(void)
{
	return conn.fail_closed;
}

struct tg_counters_page *
shim_conn_counters(void)
{
	return conn.counters;
}

void
shim_conn_atfork_prepare(void)
{
	pthread_mutex_lock(&conn_mtx);
}

void
shim_conn_atfork_parent(void)
{
	pthread_mutex_unlock(&conn_mtx);
}

/* In the child right after fork(): nothing else ran yet, so our fd is
 * still ours; forget it now so the child neither keeps the parent's daemon
 * connection alive nor ever reads the parent's replies. */
void
shim_conn_atfork_child(void)
{
	pthread_mutex_init(&conn_mtx, NULL);
	forget_inherited();
}
