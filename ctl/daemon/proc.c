/* proc.c — see proc.h. */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

static int
pidfd_of(int fd, pid_t pid)
{
	socklen_t len = sizeof(int);
	int pidfd = -1;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) == 0 &&
	    pidfd >= 0)
		return pidfd;
	/* Older kernels: pin it now; a pid reused between accept and here
	 * would need the peer to exit and 32k forks in microseconds. */
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd >= 0)
		fcntl(pidfd, F_SETFD, FD_CLOEXEC);
	return pidfd;
}

int
peer_init(struct peer *p, int fd)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);

	memset(p, 0, sizeof(*p));
	p->pidfd = -1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == -1)
		return -1;
	p->pid = uc.pid;
	p->uid = uc.uid;
	p->gid = uc.gid;
	p->pidfd = pidfd_of(fd, uc.pid);
	return 0;
}

static int
peer_alive(const struct peer *p)
{
	struct pollfd pf = { .fd = p->pidfd, .events = POLLIN };

	if (p->pidfd < 0)
		return 1;
	return poll(&pf, 1, 0) == 0;
}

static void
read_exe(struct peer *p)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)p->pid);
	n = readlink(path, p->exe, sizeof(p->exe) - 1);
	p->exe[n > 0 ? n : 0] = '\0';
}

/* cgroup v2: the "0::/path" line. */
static void
read_cgroup(struct peer *p)
{
	char path[64], buf[1024];
	ssize_t n;
	int fd;
	char *line;

	p->cgroup[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)p->pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		if (strncmp(line, "0::", 3) == 0) {
			tg_strlcpy(p->cgroup, line + 3, sizeof(p->cgroup));
			return;
		}
	}
}

void
peer_identify(struct peer *p)
{
	if (p->identified)
		return;
	p->identified = 1;
	read_exe(p);
	read_cgroup(p);
	/* Read after the process died: the pid may name another one now. */
	if (!peer_alive(p)) {
		p->exe[0] = '\0';
		p->cgroup[0] = '\0';
	}
}

void
peer_close(struct peer *p)
{
	if (p->pidfd >= 0)
		close(p->pidfd);
	p->pidfd = -1;
}

static int
memfd_page(const char *name, void **map)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd == -1)
		return -1;
	if (ftruncate(fd, TG_PAGE_SIZE) == -1)
		goto fail;
	*map = mmap(NULL, TG_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
	    fd, 0);
	if (*map == MAP_FAILED)
		goto fail;
	return fd;
fail:
	close(fd);
	return -1;
}

int
proc_pages_create(struct proc *p, int fds[2])
{
	void *v, *c;

	fds[0] = fds[1] = -1;
	if ((fds[0] = memfd_page("tollgate-verdict", &v)) == -1)
		goto fail;
	p->vpage = v;
	if ((fds[1] = memfd_page("tollgate-counters", &c)) == -1)
		goto fail;
	p->cpage = c;
	p->vpage->version = TG_PAGE_VERSION;
	p->vpage->verdict = TG_RUN;
	p->cpage->version = TG_PAGE_VERSION;
	/* Our mapping stays writable; any new writable mapping is refused.
	 * Both pages are sealed against resizing: a shrunk page would kill
	 * the daemon with SIGBUS on its next read. */
	if (fcntl(fds[0], F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
	    F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) == -1)
		goto fail;
	if (fcntl(fds[1], F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
	    F_SEAL_SEAL) == -1)
		goto fail;
	return 0;
fail:
	log_warn("%s: memfd pages", __func__);
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	fds[0] = fds[1] = -1;
	proc_pages_free(p);
	return -1;
}

void
proc_pages_free(struct proc *p)
{
	if (p->vpage)
		munmap(p->vpage, TG_PAGE_SIZE);
	if (p->cpage)
		munmap(p->cpage, TG_PAGE_SIZE);
	p->vpage = NULL;
	p->cpage = NULL;
}
