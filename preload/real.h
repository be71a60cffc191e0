/*
 * real.h — the ONE place that resolves the real functions behind every
 * symbol the shim hooks or uses for its own I/O.
 *
 * shim_real starts out pointing at raw-syscall versions, so the shim can do
 * I/O even before (or during) init; shim_real_init() replaces each with the
 * next definition after us (dlsym RTLD_NEXT) — unless that lookup returned a
 * function of our own object (a circular reference: calling it would recurse
 * into our hook), which is refused with one line and the syscall version
 * kept. A hook added by a later issue gets a field here, an entry in
 * real.c's table, and a line in exports.map's global: list.
 */
#ifndef SHIM_REAL_H
#define SHIM_REAL_H

#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

struct shim_real_fns {
	int (*socket)(int, int, int);
	int (*connect)(int, const struct sockaddr *, socklen_t);
	ssize_t (*sendmsg)(int, const struct msghdr *, int);
	ssize_t (*recvmsg)(int, struct msghdr *, int);
	int (*poll)(struct pollfd *, nfds_t, int);
	int (*close)(int);
	ssize_t (*write)(int, const void *, size_t);
	ssize_t (*pread)(int, void *, size_t, off_t);
	/* the plain-HTTP hooks (sock.h) */
	ssize_t (*read)(int, void *, size_t);
	ssize_t (*readv)(int, const struct iovec *, int);
	ssize_t (*writev)(int, const struct iovec *, int);
	ssize_t (*send)(int, const void *, size_t, int);
	ssize_t (*sendto)(int, const void *, size_t, int,
	    const struct sockaddr *, socklen_t);
	ssize_t (*recv)(int, void *, size_t, int);
	ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *,
	    socklen_t *);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int (*close_range)(unsigned, unsigned, int);
	int (*accept)(int, struct sockaddr *, socklen_t *);
	int (*accept4)(int, struct sockaddr *, socklen_t *, int);
};

extern struct shim_real_fns shim_real;

void shim_real_init(void);

/* dlsym(RTLD_NEXT, name), or NULL when missing or circular. */
void *shim_real_lookup(const char *name);

/* 1 when p is code or data of the object this file is linked into. */
int shim_real_is_ours(const void *p);

#endif
