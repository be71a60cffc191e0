/*
 * control.c — the control socket: set-up, accept, framed reads, replies.
 *
 * Set-up as OpenBSD's smtpd: connect first to detect a running daemon,
 * then unlink, umask around bind, chmod 0666 (any process may register).
 * Every packet is read with MSG_TRUNC so an oversized one is seen whole in
 * its length, validated by tg_msg_check, and a bad one gets TG_MSG_FAIL
 * while the connection stays usable. Replies go out with MSG_DONTWAIT; a
 * client that does not read them is queued for (bounded), then dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "paths.h"

#define CONTROL_BACKLOG 512
#define CONTROL_QUEUE_MAX (8u << 20) /* unread replies before we drop */
/* All connections' queued replies together: many slow readers must not
 * grow the daemon without bound either. */
#define CONTROL_QUEUE_TOTAL_MAX ((size_t)64 << 20)
/* Reading a connection out before its process's reservations expire:
 * bounded, as a forked child holding the socket may keep writing. */
#define CONTROL_DRAIN_ROUNDS 256
/* accept() out of descriptors: stop listening this long (or until a
 * connection closes), and say so at most once per ACCEPT_WARN_NS. */
#define ACCEPT_PAUSE_MS 100
#define ACCEPT_WARN_NS (10LL * 1000000000LL)

static int
sun_fill(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path)) {
		log_warnx("%s: socket path too long: %s", __func__, path);
		return -1;
	}
	strcpy(sa->sun_path, path);
	return 0;
}

static int
control_mkparent(const char *path)
{
	char dir[PATH_MAX];

	tg_strlcpy(dir, path, sizeof(dir));
	if (tg_mkdirs(dirname(dir), 0755) == -1) {
		log_warn("%s: cannot create the directory of %s", __func__,
		    path);
		return -1;
	}
	return 0;
}

/* 1 when a daemon answers on path. */
static int
control_in_use(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	int r;

	if (fd == -1)
		return 0;
	r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
	close(fd);
	return r;
}

int
control_listen(const char *path)
{
	struct sockaddr_un sa;
	struct stat st;
	mode_t old;
	int fd;

	if (sun_fill(&sa, path) == -1 || control_mkparent(path) == -1)
		return -1;
	if (control_in_use(&sa)) {
		log_warnx("another daemon is listening on %s", path);
		return -1;
	}
	if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
		log_warnx("%s exists and is not a socket; not removing it",
		    path);
		return -1;
	}
	unlink(path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		log_warn("%s: socket", __func__);
		return -1;
	}
	old = umask(S_IXUSR | S_IXGRP | S_IXOTH);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		log_warn("%s: bind %s", __func__, path);
		umask(old);
		close(fd);
		return -1;
	}
	umask(old);
	if (chmod(path, 0666) == -1 || listen(fd, CONTROL_BACKLOG) == -1) {
		log_warn("%s: %s", __func__, path);
		close(fd);
		return -1;
	}
	return fd;
}

static int
conns_reserve(struct tgd *d, int fd)
{
	size_t cap = d->conns_cap ? d->conns_cap : 64;
	struct conn **n;

	if ((size_t)fd < d->conns_cap)
		return 0;
	while (cap <= (size_t)fd)
		cap *= 2;
	if ((n = realloc(d->conns, cap * sizeof(*n))) == NULL)
		return -1;
	memset(n + d->conns_cap, 0, (cap - d->conns_cap) * sizeof(*n));
	d->conns = n;
	d->conns_cap = cap;
	return 0;
}

static void
control_add(struct tgd *d, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct conn *c;

	if (conns_reserve(d, fd) == -1 || (c = calloc(1, sizeof(*c))) == NULL) {
		log_warnx("%s: out of memory", __func__);
		close(fd);
		return;
	}
	c->fd = fd;
	c->rx_fd = -1;
	c->gen = ++d->next_gen;
	if (peer_init(&c->peer, fd) == -1) {
		log_warn("%s: SO_PEERCRED", __func__);
		close(fd);
		free(c);
		return;
	}
	c->ev_sock = (struct evsrc){ EV_CONN, c };
	c->ev_pid = (struct evsrc){ EV_PIDFD, c };
	ev.data.ptr = &c->ev_sock;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
		log_warn("%s: epoll_ctl", __func__);
		peer_close(&c->peer);
		close(fd);
		free(c);
		return;
	}
	d->conns[fd] = c;
	log_debug("%s: fd %d pid %d uid %u", __func__, fd, (int)c->peer.pid,
	    (unsigned)c->peer.uid);
}

static void
listen_arm(struct tgd *d, int on)
{
	struct epoll_event ev = { .events = on ? EPOLLIN : 0,
		.data.ptr = &d->ev_listen };

	if (epoll_ctl(d->epfd, EPOLL_CTL_MOD, d->lfd, &ev) == 0)
		d->accept_paused = !on;
}

/* Out of descriptors (or memory) the pending connection stays in the
 * backlog and the level-triggered listener would wake us at once, forever:
 * stop listening until a connection closes or ACCEPT_PAUSE_MS pass
 * (control_accept_resume), and warn once in a while, not per wake-up. */
static void
accept_pause(struct tgd *d)
{
	int64_t now = tgd_mono_ns();
	int e = errno;

	if (d->accept_warned_ns == 0 ||
	    now - d->accept_warned_ns >= ACCEPT_WARN_NS) {
		errno = e;
		log_warn("%s: accept; not accepting for a while", __func__);
		d->accept_warned_ns = now;
	}
	listen_arm(d, 0);
	d->accept_resume_ns = now + ACCEPT_PAUSE_MS * 1000000LL;
}

void
control_accept_resume(struct tgd *d)
{
	if (d->accept_paused && !d->stop)
		listen_arm(d, 1);
}

/* The epoll_wait timeout: -1, or until the paused listener resumes. */
int
control_accept_timeout(struct tgd *d)
{
	int64_t left;

	if (!d->accept_paused)
		return -1;
	left = d->accept_resume_ns - tgd_mono_ns();
	if (left <= 0) {
		control_accept_resume(d);
		return d->accept_paused ? ACCEPT_PAUSE_MS : -1;
	}
	return (int)(left / 1000000LL) + 1;
}

void
control_accept(struct tgd *d)
{
	int fd;

	for (;;) {
		fd = accept4(d->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				accept_pause(d);
			else if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("%s: accept", __func__);
			return;
		}
		control_add(d, fd);
	}
}

struct conn *
control_conn(struct tgd *d, int fd, uint32_t gen)
{
	struct conn *c;

	if (fd < 0 || (size_t)fd >= d->conns_cap)
		return NULL;
	c = d->conns[fd];
	return (c && !c->closed && c->gen == gen) ? c : NULL;
}

static int control_read_one(struct tgd *d, struct conn *c, char *buf);

/* The settlements still queued on a connection that is being closed (a
 * failed send, a reset, too many unread replies): each RECORD must count,
 * and before the process's reservations expire or it would count twice.
 * c is closed already, so nothing is answered (dispatch takes only RECORD
 * and RELEASE from a closed connection). */
static void __attribute__((noinline))
control_drain_closed(struct tgd *d, struct conn *c)
{
	char buf[TG_MSG_MAX] __attribute__((aligned(16)));
	int i;

	for (i = 0; i < CONTROL_DRAIN_ROUNDS * CONTROL_READ_BURST; i++)
		if (control_read_one(d, c, buf) == -1)
			break;
}

void
control_close(struct tgd *d, struct conn *c)
{
	struct outpkt *o, *next;

	if (c->closed)
		return;
	c->closed = 1;
	if (!d->stop && c->proc)
		control_drain_closed(d, c);
	dispatch_conn_gone(d, c);
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	if (c->pid_watched)
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, c->peer.pidfd, NULL);
	peer_close(&c->peer);
	d->conns[c->fd] = NULL;
	close(c->fd);
	for (o = c->qhead; o; o = next) {
		next = o->next;
		free(o);
	}
	c->qhead = c->qtail = NULL;
	d->qbytes_total -= c->qbytes;
	c->qbytes = 0;
	/* A descriptor is free again. */
	control_accept_resume(d);
	/* An event for c may still wait in this epoll batch: free later. */
	c->grave_next = d->grave;
	d->grave = c;
}

void
control_reap(struct tgd *d)
{
	struct conn *c;

	while ((c = d->grave)) {
		d->grave = c->grave_next;
		free(c);
	}
}

void
control_close_all(struct tgd *d)
{
	for (size_t i = 0; i < d->conns_cap; i++)
		if (d->conns[i])
			control_close(d, d->conns[i]);
	control_reap(d);
}

static void
control_want_out(struct tgd *d, struct conn *c, int on)
{
	struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0),
		.data.ptr = &c->ev_sock };

	if (c->want_out == on)
		return;
	c->want_out = on;
	epoll_ctl(d->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static int
control_enqueue(struct tgd *d, struct conn *c, const void *pkt, size_t len)
{
	struct outpkt *o;

	if (c->qbytes + len > CONTROL_QUEUE_MAX ||
	    d->qbytes_total + len > CONTROL_QUEUE_TOTAL_MAX ||
	    (o = malloc(sizeof(*o) + len)) == NULL) {
		log_warnx("%s: pid %d does not read its replies (%zu bytes "
		    "queued, %zu in all); dropping it", __func__,
		    (int)c->peer.pid, c->qbytes, d->qbytes_total);
		control_close(d, c);
		return -1;
	}
	o->next = NULL;
	o->len = len;
	memcpy(o->data, pkt, len);
	if (c->qtail)
		c->qtail->next = o;
	else
		c->qhead = o;
	c->qtail = o;
	c->qbytes += len;
	d->qbytes_total += len;
	control_want_out(d, c, 1);
	return 0;
}

static void
control_flush(struct tgd *d, struct conn *c)
{
	struct outpkt *o;

	while ((o = c->qhead)) {
		if (send(c->fd, o->data, o->len, MSG_DONTWAIT | MSG_NOSIGNAL) ==
		    -1) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			control_close(d, c);
			return;
		}
		c->qhead = o->next;
		if (c->qhead == NULL)
			c->qtail = NULL;
		c->qbytes -= o->len;
		d->qbytes_total -= o->len;
		free(o);
	}
	control_want_out(d, c, 0);
}

static int
control_sendpkt(struct tgd *d, struct conn *c, const void *pkt, size_t len)
{
	if (c->closed)
		return -1;
	if (c->qhead)
		return control_enqueue(d, c, pkt, len);
	if (send(c->fd, pkt, len, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)len)
		return 0;
	if (errno == EAGAIN || errno == ENOBUFS)
		return control_enqueue(d, c, pkt, len);
	log_debug("%s: fd %d: %s", __func__, c->fd, strerror(errno));
	control_close(d, c);
	return -1;
}

int
control_send(struct tgd *d, struct conn *c, uint16_t type, uint16_t version,
    uint32_t seq, const void *payload, size_t len)
{
	char pkt[TG_MSG_MAX];
	struct tg_hdr *h = (struct tg_hdr *)pkt;

	if (len > TG_MSG_MAX - sizeof(*h))
		return -1;
	tg_hdr_init(h, type, (uint32_t)len, seq);
	h->version = version;
	if (len)
		memcpy(pkt + sizeof(*h), payload, len);
	return control_sendpkt(d, c, pkt, sizeof(*h) + len);
}

/* Only for replies the client waits for with nothing queued before them
 * (REGISTERED): fds cannot ride the queue. */
int
control_send_fds(struct tgd *d, struct conn *c, uint16_t type,
    uint16_t version, uint32_t seq, const void *payload, size_t len,
    const int *fds, int nfds)
{
	char pkt[sizeof(struct tg_hdr) + 256];
	char cbuf[CMSG_SPACE(4 * sizeof(int))];
	struct tg_hdr *h = (struct tg_hdr *)pkt;
	struct iovec iov = { pkt, sizeof(*h) + len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = CMSG_SPACE(nfds * sizeof(int)) };
	struct cmsghdr *cm;

	if (c->closed || c->qhead || len > 256 || nfds > 4)
		return -1;
	tg_hdr_init(h, type, (uint32_t)len, seq);
	h->version = version;
	memcpy(pkt + sizeof(*h), payload, len);
	memset(cbuf, 0, sizeof(cbuf));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
	if (sendmsg(c->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) ==
	    (ssize_t)iov.iov_len)
		return 0;
	log_warn("%s: fd %d", __func__, c->fd);
	return -1;
}

int
control_send_json(struct tgd *d, struct conn *c, uint16_t version,
    uint32_t seq, json_t *doc)
{
	const size_t room = TG_MSG_MAX - sizeof(struct tg_hdr) -
	    sizeof(struct tg_json_head);
	char *text = json_dumps(doc, JSON_COMPACT);
	char chunk[TG_MSG_MAX];
	size_t len, off = 0;
	int rc = 0;

	if (text == NULL)
		return -1;
	len = strlen(text);
	do {
		size_t n = len - off > room ? room : len - off;
		struct tg_json_head jh = { .flags = off + n < len ?
		    TG_JSON_MORE : 0 };

		memcpy(chunk, &jh, sizeof(jh));
		memcpy(chunk + sizeof(jh), text + off, n);
		rc = control_send(d, c, TG_MSG_JSON, version, seq, chunk,
		    sizeof(jh) + n);
		off += n;
	} while (rc == 0 && off < len);
	free(text);
	return rc;
}

void
control_fail(struct tgd *d, struct conn *c, uint16_t version, uint32_t seq,
    int code, const char *fmt, ...)
{
	struct tg_fail f;
	va_list ap;

	memset(&f, 0, sizeof(f));
	f.code = (uint32_t)code;
	va_start(ap, fmt);
	vsnprintf(f.text, sizeof(f.text), fmt, ap);
	va_end(ap);
	control_send(d, c, TG_MSG_FAIL, version, seq, &f, sizeof(f));
}

/* The fds a client passed with a message: the first is kept for its
 * handler (c->rx_fd; POLICY_APPLY takes it), the rest are closed.
 * Returns the kept one, or -1. */
static int
take_fds(struct msghdr *mh)
{
	struct cmsghdr *cm;
	int keep = -1, fd;

	for (cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		for (size_t i = 0; i < k; i++) {
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(fd));
			if (keep == -1)
				keep = fd;
			else
				close(fd);
		}
	}
	return keep;
}

static void
control_bad(struct tgd *d, struct conn *c, const char *pkt, size_t n,
    int code, const char *why)
{
	struct tg_hdr h = { 0 };
	uint16_t v = TG_PROTO_VERSION;

	if (n >= sizeof(h))
		memcpy(&h, pkt, sizeof(h));
	tgd_count(d->health.rejected_messages, 1);
	log_debug("%s: pid %d: %s", __func__, (int)c->peer.pid, why);
	if (code == TG_ERR_BAD_VERSION) {
		control_fail(d, c, v, h.seq, code, "unsupported protocol version "
		    "%u (this daemon speaks %d to %d)", h.version,
		    TG_PROTO_OLDEST, TG_PROTO_VERSION);
		return;
	}
	if (n > TG_MSG_MAX) {
		control_fail(d, c, v, h.seq, code, "message of %zu bytes is "
		    "over the %d-byte limit", n, TG_MSG_MAX);
		return;
	}
	if (code != TG_ERR_BAD_MAGIC && n >= sizeof(h))
		v = h.version;
	control_fail(d, c, v, h.seq, code, "%s", why);
}

/* One packet; returns 0 to go on, -1 when nothing more is to be read. */
static int
control_read_one(struct tgd *d, struct conn *c, char *buf)
{
	char cbuf[CMSG_SPACE(8 * sizeof(int))];
	struct iovec iov = { buf, TG_MSG_MAX };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	const char *why = NULL;
	ssize_t n;
	int code, outer;

	n = recvmsg(c->fd, &mh, MSG_TRUNC | MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n == -1) {
		/* A peer that closed with our replies unread: the reset is
		 * reported once, then what it sent before is still queued
		 * for us, then end of file. Read on. */
		if (errno == ECONNRESET) {
			c->reset = 1;
			return 0;
		}
		if ((errno == EAGAIN || errno == EINTR) && !c->reset)
			return -1;
		control_close(d, c);
		return -1;
	}
	/* This message's fd lives in c->rx_fd for its dispatch only; what
	 * the handler did not take is closed after. A nested read of c (a
	 * close draining it) must not lose the outer message's fd. */
	outer = c->rx_fd;
	c->rx_fd = mh.msg_controllen ? take_fds(&mh) : -1;
	if (n == 0) { /* end of file: a seqpacket peer that closed */
		if (c->rx_fd >= 0)
			close(c->rx_fd);
		c->rx_fd = outer;
		control_close(d, c);
		return -1;
	}
	if ((code = tg_msg_check(buf, (size_t)n, &why)) != 0)
		control_bad(d, c, buf, (size_t)n, code, why);
	else
		dispatch(d, c, (const struct tg_hdr *)buf,
		    buf + sizeof(struct tg_hdr));
	if (c->rx_fd >= 0)
		close(c->rx_fd);
	c->rx_fd = outer;
	return 0;
}

/* Reads up to a burst; returns how many packets it took. The buffer is
 * on the stack: RUN_END drains other connections from inside a dispatch. */
int
control_read(struct tgd *d, struct conn *c)
{
	char buf[TG_MSG_MAX] __attribute__((aligned(16)));
	int i;

	if (c->reading || c->closed)
		return 0;
	c->reading = 1;
	for (i = 0; i < CONTROL_READ_BURST && !c->closed; i++)
		if (control_read_one(d, c, buf) == -1)
			break;
	c->reading = 0;
	return i;
}

/* Read the connection out (the process died: its last RECORDs must settle
 * before its reservations expire). Bounded; c may be closed on return. */
void
control_drain(struct tgd *d, struct conn *c)
{
	for (int k = 0; k < CONTROL_DRAIN_ROUNDS && !c->closed; k++)
		if (control_read(d, c) < CONTROL_READ_BURST)
			break;
}

/* One packet per readiness event: epoll is level-triggered, so what is
 * left is reported again, and a synchronous client (the common case) costs
 * no extra recvmsg returning EAGAIN. */
void
control_event(struct tgd *d, struct conn *c, uint32_t events)
{
	char buf[TG_MSG_MAX] __attribute__((aligned(16)));

	if (c->closed)
		return;
	if (events & EPOLLOUT)
		control_flush(d, c);
	if (c->closed || !(events & (EPOLLIN | EPOLLHUP | EPOLLERR)) ||
	    c->reading)
		return;
	c->reading = 1;
	control_read_one(d, c, buf);
	c->reading = 0;
}
