/* real.c — resolve real symbols once, refuse our own; see real.h. */
#include "real.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "say.h"

/* Fallbacks: raw syscalls cannot be hooked by anyone, ourselves included. */
static int
sys_socket(int d, int t, int p)
{
	return syscall(SYS_socket, d, t, p);
}

static int
sys_connect(int fd, const struct sockaddr *a, socklen_t l)
{
	return syscall(SYS_connect, fd, a, l);
}

static ssize_t
sys_sendmsg(int fd, const struct msghdr *m, int f)
{
	return syscall(SYS_sendmsg, fd, m, f);
}

static ssize_t
sys_recvmsg(int fd, struct msghdr *m, int f)
{
	return syscall(SYS_recvmsg, fd, m, f);
}

static int
sys_poll(struct pollfd *p, nfds_t n, int ms)
{
	return syscall(SYS_poll, p, n, ms);
}

static int
sys_close(int fd)
{
	return syscall(SYS_close, fd);
}

static ssize_t
sys_write(int fd, const void *b, size_t n)
{
	return syscall(SYS_write, fd, b, n);
}

static ssize_t
sys_pread(int fd, void *b, size_t n, off_t o)
{
	return syscall(SYS_pread64, fd, b, n, o);
}

static ssize_t
sys_read(int fd, void *b, size_t n)
{
	return syscall(SYS_read, fd, b, n);
}

static ssize_t
sys_readv(int fd, const struct iovec *v, int n)
{
	return syscall(SYS_readv, fd, v, n);
}

static ssize_t
sys_writev(int fd, const struct iovec *v, int n)
{
	return syscall(SYS_writev, fd, v, n);
}

static ssize_t
sys_sendto(int fd, const void *b, size_t n, int f, const struct sockaddr *a,
    socklen_t l)
{
	return syscall(SYS_sendto, fd, b, n, f, a, l);
}

static ssize_t
sys_send(int fd, const void *b, size_t n, int f)
{
	return sys_sendto(fd, b, n, f, NULL, 0);
}

static ssize_t
sys_recvfrom(int fd, void *b, size_t n, int f, struct sockaddr *a,
    socklen_t *l)
{
	return syscall(SYS_recvfrom, fd, b, n, f, a, l);
}

static ssize_t
sys_recv(int fd, void *b, size_t n, int f)
{
	return sys_recvfrom(fd, b, n, f, NULL, NULL);
}

static int
sys_dup3(int o, int n, int f)
{
	return syscall(SYS_dup3, o, n, f);
}

/* dup3 refuses o == n, where dup2 checks o and returns it. */
static int
sys_dup2(int o, int n)
{
	if (o == n)
		return syscall(SYS_fcntl, o, F_GETFD) < 0 ? -1 : n;
	return sys_dup3(o, n, 0);
}

static int
sys_close_range(unsigned first, unsigned last, int flags)
{
	return syscall(SYS_close_range, first, last, flags);
}

static int
sys_accept4(int fd, struct sockaddr *a, socklen_t *l, int flags)
{
	return syscall(SYS_accept4, fd, a, l, flags);
}

static int
sys_accept(int fd, struct sockaddr *a, socklen_t *l)
{
	return sys_accept4(fd, a, l, 0);
}

struct shim_real_fns shim_real = {
	sys_socket, sys_connect, sys_sendmsg, sys_recvmsg, sys_poll,
	sys_close, sys_write, sys_pread,
	sys_read, sys_readv, sys_writev, sys_send, sys_sendto, sys_recv,
	sys_recvfrom, sys_dup2, sys_dup3, sys_close_range, sys_accept,
	sys_accept4,
};

#define SLOT(f) { #f, offsetof(struct shim_real_fns, f) }
static const struct { const char *name; size_t off; } real_table[] = {
	SLOT(socket), SLOT(connect), SLOT(sendmsg), SLOT(recvmsg),
	SLOT(poll), SLOT(close), SLOT(write), SLOT(pread),
	SLOT(read), SLOT(readv), SLOT(writev), SLOT(send), SLOT(sendto),
	SLOT(recv), SLOT(recvfrom), SLOT(dup2), SLOT(dup3),
	SLOT(close_range), SLOT(accept), SLOT(accept4),
};

int
shim_real_is_ours(const void *p)
{
	Dl_info self, it;

	if (dladdr((const void *)shim_real_is_ours, &self) == 0 ||
	    dladdr(p, &it) == 0)
		return 0;
	return it.dli_fbase == self.dli_fbase;
}

void *
shim_real_lookup(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (p && shim_real_is_ours(p)) {
		shim_say("real %s resolves to tollgate itself (circular); "
		    "using the system call", name);
		return NULL;
	}
	return p;
}

void
shim_real_init(void)
{
	for (size_t i = 0; i < sizeof(real_table) / sizeof(real_table[0]); i++) {
		void *p = shim_real_lookup(real_table[i].name);

		if (p)
			*(void **)((char *)&shim_real + real_table[i].off) = p;
	}
}
