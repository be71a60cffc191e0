/*
 * fdid.h — the fds the shim keeps open (the daemon socket, the spool file)
 * live among the host's fds. A host may close them (close_range, a "close
 * every fd" loop) and get the number back for a file or socket of its own;
 * using or closing that number would corrupt the host. So each kept fd
 * carries its identity (st_dev + st_ino: the file, or the socket's inode)
 * and is checked before every use; a number that is no longer ours is
 * forgotten without being closed. Kept fds are moved to SHIM_FD_MIN or
 * above where the fd limit allows, away from where hosts reuse numbers.
 */
#ifndef SHIM_FDID_H
#define SHIM_FDID_H

#include <sys/types.h>

#define SHIM_FD_MIN 100

struct shim_fd {
	int fd;   /* -1: none */
	dev_t dev;
	ino_t ino;
};

#define SHIM_FD_NONE { .fd = -1 }

/* Take ownership of fd: move it high (CLOEXEC), record its identity.
 * 0, or -1 with fd closed and f->fd = -1. */
int shim_fd_adopt(struct shim_fd *f, int fd);

/* A CLOEXEC duplicate of fd, high where possible; -1 on failure. */
int shim_fd_dup(int fd);

/* 1 when f->fd is still the file or socket we adopted. */
int shim_fd_ours(const struct shim_fd *f);

/* Close f->fd only if it is still ours; f->fd = -1 either way. */
void shim_fd_close(struct shim_fd *f);

/* f->fd = -1 without closing (the number belongs to someone else, or to
 * the parent of a fork child in a state we cannot trust). */
void shim_fd_forget(struct shim_fd *f);

#endif
