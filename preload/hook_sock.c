/*
 * hook_sock.c — the libc socket calls libtollgate.so exports (listed in
 * exports.map): connect, write/writev/send/sendto/sendmsg,
 * read/readv/recv/recvfrom/recvmsg (and the _FORTIFY_SOURCE __read_chk,
 * __recv_chk, __recvfrom_chk), close, dup2, dup3, close_range,
 * closefrom, accept, accept4. Each makes the real call, then — only for
 * an fd sock.h watches — hands the bytes actually transferred to sock.c.
 * For a watched fd, writes first go by admission (shim_sock_write: held,
 * sent with held bytes, or dropped) and reads of a refused request's
 * connection get its answer (shim_sock_answer). Kept out of libtgshim.a
 * (Makefile): a unit test that calls write() must get libc's, not these.
 */
#include <errno.h>
#include <unistd.h>

/* glibc's: reports a fortification failure and aborts. */
extern void __chk_fail(void) __attribute__((noreturn));

#include "real.h"
#include "sock.h"

#define LIKELY_NOT(x) __builtin_expect(!!(x), 0)

static void
out1(int fd, const void *b, ssize_t n)
{
	struct iovec v = { (void *)b, (size_t)n };

	shim_sock_out(fd, &v, 1, (size_t)n);
}

/* A read's flags: MSG_PEEK bytes come again (not fed); MSG_TRUNC on a
 * stream discards bytes we never see (a gap). */
static void
in1(int fd, void *b, ssize_t n, int flags)
{
	struct iovec v = { b, (size_t)n };

	if (flags & MSG_PEEK)
		return;
	if (flags & MSG_TRUNC)
		shim_sock_gap(fd);
	else
		shim_sock_in(fd, &v, 1, (size_t)n);
}

int
connect(int fd, const struct sockaddr *a, socklen_t l)
{
	int rc = shim_real.connect(fd, a, l);

	if (rc == 0 || errno == EINPROGRESS || errno == EINTR)
		shim_sock_connected(fd, a, l);
	return rc;
}

/* Admission may take a write whole (sock.h): then r is its result. */
static int
held1(int fd, const void *b, size_t n, int flags, ssize_t *r)
{
	struct iovec v = { (void *)b, n };

	return shim_sock_write(fd, &v, 1, n, (flags & MSG_DONTWAIT) != 0, r);
}

static size_t
iov_total(const struct iovec *v, int nv)
{
	size_t n = 0;

	for (int i = 0; i < nv; i++)
		n += v[i].iov_len;
	return n;
}

/* A refused request's connection: reads get the answer (sock.h). */
static ssize_t
answer1(int fd, void *b, size_t n, int flags)
{
	struct iovec v = { b, n };

	return shim_sock_answer(fd, &v, 1, n, flags);
}

ssize_t
write(int fd, const void *b, size_t n)
{
	ssize_t r;

	if (LIKELY_NOT(shim_sock_watched(fd)) && held1(fd, b, n, 0, &r))
		return r;
	r = shim_real.write(fd, b, n);

	if (LIKELY_NOT(shim_sock_watched(fd)) && r > 0)
		out1(fd, b, r);
	return r;
}

ssize_t
send(int fd, const void *b, size_t n, int flags)
{
	ssize_t r;

	if (LIKELY_NOT(shim_sock_watched(fd)) && held1(fd, b, n, flags, &r))
		return r;
	r = shim_real.send(fd, b, n, flags);

	if (LIKELY_NOT(shim_sock_watched(fd)) && r > 0)
		out1(fd, b, r);
	return r;
}

ssize_t
sendto(int fd, const void *b, size_t n, int flags, const struct sockaddr *a,
    socklen_t l)
{
	ssize_t r;

	if (LIKELY_NOT(shim_sock_watched(fd)) && held1(fd, b, n, flags, &r))
		return r;
	r = shim_real.sendto(fd, b, n, flags, a, l);

	if (LIKELY_NOT(shim_sock_watched(fd)) && r > 0)
		out1(fd, b, r);
	return r;
}

ssize_t
writev(int fd, const struct iovec *v, int nv)
{
	ssize_t r;

	if (LIKELY_NOT(shim_sock_watched(fd)) && nv > 0 &&
	    shim_sock_write(fd, v, nv, iov_total(v, nv), 0, &r))
		return r;
	r = shim_real.writev(fd, v, nv);

	if (LIKELY_NOT(shim_sock_watched(fd)) && r > 0)
		shim_sock_out(fd, v, nv, (size_t)r);
	return r;
}

ssize_t
sendmsg(int fd, const struct msghdr *m, int flags)
{
	ssize_t r;

	if (LIKELY_NOT(shim_sock_watched(fd)) && m->msg_iovlen > 0 &&
	    m->msg_control == NULL &&
	    shim_sock_write(fd, m->msg_iov, (int)m->msg_iovlen,
	    iov_total(m->msg_iov, (int)m->msg_iovlen),
	    (flags & MSG_DONTWAIT) != 0, &r))
		return r;
	r = shim_real.sendmsg(fd, m, flags);

	if (LIKELY_NOT(shim_sock_watched(fd)) && r > 0)
		shim_sock_out(fd, m->msg_iov, (int)m->msg_iovlen, (size_t)r);
	return r;
}

ssize_t
read(int fd, void *b, size_t n)
{
	ssize_t r;

	if (LIKELY_NOT(shim_sock_answering(fd)))
		return answer1(fd, b, n, 0);
	r = shim_real.read(fd, b, n);

	if (LIKELY_NOT(shim_sock_watched(fd)) && r > 0)
		in1(fd, b, r, 0);
	return r;
}

ssize_t
recv(int fd, void *b, size_t n, int flags)
{
	ssize_t r;

	if (LIKELY_NOT(shim_sock_answering(fd)))
		return answer1(fd, b, n, flags);
	r = shim_real.recv(fd, b, n, flags);

	if (LIKELY_NOT(shim_sock_watched(fd)) && r > 0)
		in1(fd, b, r, flags);
	return r;
}

ssize_t
recvfrom(int fd, void *b, size_t n, int flags, struct sockaddr *a,
    socklen_t *l)
{
	ssize_t r;

	if (LIKELY_NOT(shim_sock_answering(fd)))
		return answer1(fd, b, n, flags);
	r = shim_real.recvfrom(fd, b, n, flags, a, l);

	if (LIKELY_NOT(shim_sock_watched(fd)) && r > 0)
		in1(fd, b, r, flags);
	return r;
}

ssize_t
readv(int fd, const struct iovec *v, int nv)
{
	ssize_t r;

	if (LIKELY_NOT(shim_sock_answering(fd)))
		return shim_sock_answer(fd, v, nv, iov_total(v, nv), 0);
	r = shim_real.readv(fd, v, nv);

	if (LIKELY_NOT(shim_sock_watched(fd)) && r > 0)
		shim_sock_in(fd, v, nv, (size_t)r);
	return r;
}

ssize_t
recvmsg(int fd, struct msghdr *m, int flags)
{
	ssize_t r;

	if (LIKELY_NOT(shim_sock_answering(fd)))
		return shim_sock_answer(fd, m->msg_iov, (int)m->msg_iovlen,
		    iov_total(m->msg_iov, (int)m->msg_iovlen), flags);
	r = shim_real.recvmsg(fd, m, flags);

	if (LIKELY_NOT(shim_sock_watched(fd)) && r > 0 && !(flags & MSG_PEEK)) {
		if (flags & MSG_TRUNC)
			shim_sock_gap(fd);
		else
			shim_sock_in(fd, m->msg_iov, (int)m->msg_iovlen,
			    (size_t)r);
	}
	return r;
}

/* Programs built with _FORTIFY_SOURCE read through these when the
 * compiler knows the buffer's size but not the length: the same check
 * glibc makes, then the hooked call. */
ssize_t
__read_chk(int fd, void *b, size_t n, size_t buflen)
{
	if (n > buflen)
		__chk_fail();
	return read(fd, b, n);
}

ssize_t
__recv_chk(int fd, void *b, size_t n, size_t buflen, int flags)
{
	if (n > buflen)
		__chk_fail();
	return recv(fd, b, n, flags);
}

ssize_t
__recvfrom_chk(int fd, void *b, size_t n, size_t buflen, int flags,
    struct sockaddr *a, socklen_t *l)
{
	if (n > buflen)
		__chk_fail();
	return recvfrom(fd, b, n, flags, a, l);
}

/* The state ends before the real close: once the number is free, another
 * thread may connect a new socket on it. */
int
close(int fd)
{
	struct shim_done *d = NULL;
	int rc;

	if (LIKELY_NOT(shim_sock_watched(fd)))
		d = shim_sock_detach(fd);
	rc = shim_real.close(fd);
	if (d != NULL)
		shim_done_settle(d);
	return rc;
}

/* newfd's old connection ends when dup2/dup3 replace it: detached before
 * the call, while newfd still is that socket (sock.c checks that before it
 * reports), settled after; the new number gets no state (pass-through).
 * A dup2 that fails leaves newfd unmetered from then on, nothing worse. */
static struct shim_done *
dup_begin(int o, int n)
{
	return o != n && LIKELY_NOT(shim_sock_watched(n)) ?
	    shim_sock_detach(n) : NULL;
}

static int
dup_end(int rc, struct shim_done *d)
{
	int saved = errno;

	shim_done_settle(d);
	errno = saved;
	return rc;
}

int
dup2(int o, int n)
{
	struct shim_done *d = dup_begin(o, n);

	return dup_end(shim_real.dup2(o, n), d);
}

int
dup3(int o, int n, int flags)
{
	struct shim_done *d = dup_begin(o, n);

	return dup_end(shim_real.dup3(o, n, flags), d);
}

/* close_range/closefrom end every watched fd of the range (regression: a
 * socket closed by them kept its state, and a file that got its number
 * was parsed as its response — a made-up record). The close-on-exec form
 * closes nothing. More watched fds than fit here are settled before the
 * real call: correct, only earlier. */
#define RANGE_BATCH 64

static int
range_done(unsigned first, unsigned last, int flags,
    struct shim_done **out, int *n)
{
	*n = 0;
	if ((flags & CLOSE_RANGE_CLOEXEC) || first > last)
		return 0;
	for (unsigned fd = first; fd <= last && fd < SHIM_SOCK_FDS; fd++) {
		struct shim_done *d;

		if (!shim_sock_watched((int)fd) ||
		    (d = shim_sock_detach((int)fd)) == NULL)
			continue;
		if (*n < RANGE_BATCH)
			out[(*n)++] = d;
		else
			shim_done_settle(d);
	}
	return 0;
}

int
close_range(unsigned first, unsigned last, int flags)
{
	struct shim_done *d[RANGE_BATCH];
	int n, rc, saved;

	range_done(first, last, flags, d, &n);
	rc = shim_real.close_range(first, last, flags);
	saved = errno;
	for (int i = 0; i < n; i++)
		shim_done_settle(d[i]);
	errno = saved;
	return rc;
}

/* glibc's closefrom calls the close_range system call directly, past the
 * hook above: it is hooked itself, and done as close_range. */
void
closefrom(int lowfd)
{
	if (lowfd < 0)
		lowfd = 0;
	if (close_range((unsigned)lowfd, ~0U, 0) == -1) {
		int saved = errno;

		/* a kernel without close_range: one by one, as glibc does */
		for (int fd = lowfd; fd < SHIM_SOCK_FDS; fd++)
			if (shim_sock_watched(fd))
				close(fd);
		errno = saved;
		for (long fd = lowfd, max = sysconf(_SC_OPEN_MAX); fd < max; fd++)
			shim_real.close((int)fd);
	}
}

/* A new socket's number may be an old one's that went without a hook
 * (fclose of an fdopen'd socket, a raw system call): no stale state. */
static int
fresh(int fd)
{
	if (fd >= 0 && shim_sock_watched(fd)) {
		int saved = errno;
		struct shim_done *d = shim_sock_detach(fd);

		if (d != NULL)
			shim_done_settle(d);
		errno = saved;
	}
	return fd;
}

int
accept(int fd, struct sockaddr *a, socklen_t *l)
{
	return fresh(shim_real.accept(fd, a, l));
}

int
accept4(int fd, struct sockaddr *a, socklen_t *l, int flags)
{
	return fresh(shim_real.accept4(fd, a, l, flags));
}
