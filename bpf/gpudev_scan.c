/*
 * gpudev_scan.c — which processes hold a GPU device, from /proc/PID/fd:
 * the ground truth behind bpf/gpudev.bpf.c, which does not see fds
 * inherited through fork or dup (issue 6).
 *
 * One readlink per fd of every process: procfs answers from memory, so
 * nothing here blocks on I/O; its cost grows with the fds on the host.
 */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpudev.h"

static int
prefix_is(const char *path, const char *prefix)
{
	return strncmp(path, prefix, strlen(prefix)) == 0;
}

int
gpudev_fd_matches(pid_t pid, int fd, const char *prefix)
{
	char link[64], path[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/%d/fd/%d", (int)pid, fd);
	if ((n = readlink(link, path, sizeof(path) - 1)) < 0)
		return 0;
	path[n] = '\0';
	return prefix_is(path, prefix);
}

/* A decimal name: a pid or an fd. -1 otherwise. */
static long
dec_name(const char *s)
{
	char *end;
	long v;

	if (!isdigit((unsigned char)s[0]))
		return -1;
	v = strtol(s, &end, 10);
	return *end == '\0' && v <= INT_MAX ? v : -1;
}

int
gpudev_scan_pid(pid_t pid, const char *prefix, int *fds, int max)
{
	char dir[64], link[PATH_MAX];
	struct dirent *de;
	int dfd, n = 0;
	ssize_t len;
	long fd;
	DIR *dp;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	if ((dp = fdopendir(dfd)) == NULL) {
		close(dfd);
		return -1;
	}
	while ((de = readdir(dp)) != NULL) {
		if ((fd = dec_name(de->d_name)) < 0)
			continue;
		len = readlinkat(dfd, de->d_name, link, sizeof(link) - 1);
		if (len < 0)
			continue;
		link[len] = '\0';
		if (!prefix_is(link, prefix))
			continue;
		if (n < max)
			fds[n] = (int)fd;
		n++;
	}
	closedir(dp);
	return n;
}

void
gpudev_scan_all(void (*fn)(pid_t pid, void *arg), void *arg)
{
	struct dirent *de;
	DIR *dp;
	long pid;

	if ((dp = opendir("/proc")) == NULL)
		return;
	while ((de = readdir(dp)) != NULL)
		if ((pid = dec_name(de->d_name)) > 0)
			fn((pid_t)pid, arg);
	closedir(dp);
}

static void
list_one(pid_t pid, void *arg)
{
	struct { pid_t *v; size_t n, cap; int oom; } *l = arg;
	pid_t *nv;

	if (l->oom)
		return;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 256;
		if ((nv = reallocarray(l->v, l->cap, sizeof(*nv))) == NULL) {
			l->oom = 1;
			return;
		}
		l->v = nv;
	}
	l->v[l->n++] = pid;
}

pid_t *
gpudev_list_pids(size_t *n)
{
	struct { pid_t *v; size_t n, cap; int oom; } l = { 0 };

	gpudev_scan_all(list_one, &l);
	if (l.oom || l.v == NULL) {
		free(l.v);
		return NULL;
	}
	*n = l.n;
	return l.v;
}
