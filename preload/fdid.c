/* fdid.c — kept fds with their identity; see fdid.h. */
#include "fdid.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "real.h"

/* A duplicate at SHIM_FD_MIN or above, or the fd itself when the limit
 * is lower (F_DUPFD fails with EINVAL) or no fd is free up there. */
static int
move_high(int fd)
{
	int hi;

	if (fd >= SHIM_FD_MIN)
		return fd;
	if ((hi = fcntl(fd, F_DUPFD_CLOEXEC, SHIM_FD_MIN)) < 0)
		return fd;
	shim_real.close(fd);
	return hi;
}

int
shim_fd_dup(int fd)
{
	int d = fcntl(fd, F_DUPFD_CLOEXEC, SHIM_FD_MIN);

	return d >= 0 ? d : fcntl(fd, F_DUPFD_CLOEXEC, 0);
}

int
shim_fd_adopt(struct shim_fd *f, int fd)
{
	struct stat st;
	int saved;

	fd = move_high(fd);
	if (fstat(fd, &st) < 0) {
		saved = errno;
		shim_real.close(fd);
		f->fd = -1;
		errno = saved;
		return -1;
	}
	f->fd = fd;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	return 0;
}

int
shim_fd_ours(const struct shim_fd *f)
{
	struct stat st;

	return f->fd >= 0 && fstat(f->fd, &st) == 0 && st.st_dev == f->dev &&
	    st.st_ino == f->ino;
}

void
shim_fd_close(struct shim_fd *f)
{
	if (shim_fd_ours(f))
		shim_real.close(f->fd);
	f->fd = -1;
}

void
shim_fd_forget(struct shim_fd *f)
{
	f->fd = -1;
}
