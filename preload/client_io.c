/* client_io.c — messages on the daemon connection; see client.h. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "client_int.h"
#include "real.h"
#include "say.h"
#include "shim.h"

/* Wait for events on the socket until the deadline. 0 ready, SHIM_TIMEOUT. */
static int
wait_fd(short events, int64_t deadline)
{
	struct pollfd p = { .fd = shim_conn.sock.fd, .events = events };
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

	if (shim_conn.sock.fd < 0)
		return SHIM_LOST;
	if (++shim_conn.seq == 0)
		shim_conn.seq = 1;
	tg_hdr_init(&h, type, len, shim_conn.seq);
	for (;;) {
		/* MSG_NOSIGNAL: a dead daemon must not SIGPIPE the host. */
		n = shim_real.sendmsg(shim_conn.sock.fd, &m,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == (ssize_t)(sizeof(h) + len))
			break;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN && wait_fd(POLLOUT, deadline) == 0)
			continue;
		if (n < 0 && errno == EAGAIN)
			return SHIM_TIMEOUT;
		shim_conn_drop(0);
		return SHIM_LOST;
	}
	*seq = shim_conn.seq;
	return 0;
}

void
shim_conn_close_fds(int *fds, int n)
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

/* A message that is no valid reply. SHIM_LOST. */
static int
bad_message(int err, const char *why)
{
	if (err == TG_ERR_BAD_VERSION)
		shim_conn_bad_version();
	else {
		shim_say("bad message from the daemon: %s", why);
		shim_conn_drop(SHIM_RETRY_NS);
	}
	return SHIM_LOST;
}

/* One recvmsg: >0 bytes, 0 try again (EINTR, or waited for input),
 * or a SHIM_ result. */
static ssize_t
recv_raw(struct msghdr *m, int64_t deadline)
{
	ssize_t n = shim_real.recvmsg(shim_conn.sock.fd, m,
	    MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

	if (n < 0 && errno == EINTR)
		return 0;
	if (n < 0 && errno == EAGAIN)
		return wait_fd(POLLIN, deadline) == 0 ? 0 : SHIM_TIMEOUT;
	if (n <= 0) {
		shim_conn_drop(0); /* EOF: the daemon went away; may be back */
		return SHIM_LOST;
	}
	return n;
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
		if ((n = recv_raw(&m, deadline)) < 0)
			return (int)n;
		if (n == 0)
			continue;
		ng = take_fds(&m, got);
		/* Bigger than any reply we ask for: not ours; skip it. */
		if (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
			shim_conn_close_fds(got, ng);
			continue;
		}
		if ((err = tg_msg_check(r, n, &why)) != 0) {
			shim_conn_close_fds(got, ng);
			return bad_message(err, why);
		}
		if (fds && nfds) {
			memcpy(fds, got, sizeof(got));
			*nfds = ng;
		} else
			shim_conn_close_fds(got, ng);
		return 0;
	}
}

int
shim_conn_recv(struct shim_reply *r, int64_t deadline)
{
	if (shim_conn.sock.fd < 0)
		return SHIM_LOST;
	return recv_one(r, NULL, NULL, deadline);
}

void (*shim_conn_stray_ack)(const struct shim_reply *r);

int
shim_conn_fd_hint(void)
{
	return __atomic_load_n(&shim_conn.sock.fd, __ATOMIC_RELAXED);
}

int
shim_conn_await(uint32_t seq, uint16_t want, struct shim_reply *r,
    int fds[2], int *nfds, int64_t deadline)
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
		if (r->hdr.type == TG_MSG_ACK && shim_conn_stray_ack != NULL)
			shim_conn_stray_ack(r);
		if (nfds)
			shim_conn_close_fds(fds, *nfds); /* stale: its fds too */
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
	return shim_conn_await(seq, want, r, NULL, NULL, deadline);
}

/* A FAIL the daemon would give again for the same message: retrying or
 * spooling cannot help. */
int
shim_conn_permanent(int err)
{
	return err == TG_ERR_BAD_LENGTH || err == TG_ERR_BAD_FIELD ||
	    err == TG_ERR_BAD_TYPE || err == TG_ERR_PERMISSION;
}
