/*
 * idle_proc.c — what idle.c knows of a GPU holder from /proc: its exe,
 * its owner, TOLLGATE_TAGS from its environment (for processes without
 * the shim), and a pidfd, so a signal can never reach a process that
 * reused its pid.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "daemon.h"
#include "idle.h"
#include "log.h"
#include "procinfo.h"


static const char *const shipped_exclude[] = {
	"nvidia-persistenced", "nv-hostengine", "nvidia-smi", "dcgm-exporter",
	"dcgmi", "nvidia-dcgm", "nvidia-cuda-mps-control",
	"nvidia-cuda-mps-server", "nvidia-powerd", "Xorg", "Xwayland", NULL,
};

int
idle_excluded(const char *exe, const struct policy_idle *pi)
{
	const char *base = strrchr(exe, '/');

	base = base ? base + 1 : exe;
	if (*base == '\0')
		return 0;
	for (int i = 0; shipped_exclude[i]; i++)
		if (strcmp(base, shipped_exclude[i]) == 0)
			return 1;
	for (int i = 0; pi && i < pi->nexclude; i++)
		if (strcmp(base, pi->exclude[i]) == 0)
			return 1;
	return 0;
}

static void
read_exe(pid_t pid, char *buf, size_t len)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	if ((n = readlink(path, buf, len - 1)) < 0)
		n = 0;
	buf[n] = '\0';
	/* replaced on disk (a driver upgrade): still the same program */
	if (n > 10 && strcmp(buf + n - 10, " (deleted)") == 0)
		buf[n - 10] = '\0';
}

/* Printable ASCII only: the tags reach JSON, log lines and labels. */
static void
clean(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = '?';
}

void
idle_proc_identify(struct idle_holder *h, const struct policy_idle *pi)
{
	char path[64];
	struct stat st;

	read_exe(h->pid, h->exe, sizeof(h->exe));
	clean(h->exe);
	snprintf(path, sizeof(path), "/proc/%d", (int)h->pid);
	h->uid = stat(path, &st) == 0 ? st.st_uid : (uid_t)-1;
	if (!h->registered)
		procinfo_env_tags(h->pid, h->tags, sizeof(h->tags));
	h->excluded = idle_excluded(h->exe, pi);
	if (h->pidfd < 0)
		h->pidfd = (int)syscall(SYS_pidfd_open, h->pid, 0);
	if (h->pidfd >= 0)
		fcntl(h->pidfd, F_SETFD, FD_CLOEXEC);
}

int
idle_proc_exe_changed(const struct idle_holder *h)
{
	char exe[sizeof(h->exe)];

	read_exe(h->pid, exe, sizeof(exe));
	clean(exe);
	return exe[0] != '\0' && strcmp(exe, h->exe) != 0;
}

int
idle_proc_alive(int pidfd)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	return pidfd < 0 || poll(&p, 1, 0) == 0;
}

int
idle_proc_signal(struct idle_holder *h, int sig)
{
	if (h->pidfd < 0 || h->pid == getpid()) {
		errno = EPERM;
		return -1;
	}
	return (int)syscall(SYS_pidfd_send_signal, h->pidfd, sig, NULL, 0);
}
