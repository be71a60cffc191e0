/*
 * run_cgroup.c — CMD's own cgroup v2, <our cgroup>/tollgate-run-<token>,
 * so the run's processes can be counted and, if they outlive the grace
 * period, killed together. Anything that fails here means "no cgroup":
 * the run goes on without one, silently (most users may not write there).
 */
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto.h"

/* Read a small proc/cgroup file whole; NULL on error. */
static char *
slurp(const char *path)
{
	char *buf;
	size_t cap = 65536, n = 0;
	ssize_t r;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return NULL;
	if ((buf = malloc(cap)) == NULL) {
		close(fd);
		return NULL;
	}
	while (n < cap - 1 && (r = read(fd, buf + n, cap - 1 - n)) > 0)
		n += (size_t)r;
	close(fd);
	buf[n] = '\0';
	return buf;
}

int
cgroup_mount_parse(const char *mounts, char *buf, size_t size)
{
	char dev[256], dir[PATH_MAX], type[64];
	const char *line = mounts;

	while (line && *line) {
		if (sscanf(line, "%255s %4095s %63s", dev, dir, type) == 3 &&
		    strcmp(type, "cgroup2") == 0 && strlen(dir) < size) {
			/* /proc/mounts escapes spaces as \040; such a mount
			 * point is not worth supporting */
			if (strchr(dir, '\\') == NULL) {
				tg_strlcpy(buf, dir, size);
				return 0;
			}
		}
		line = strchr(line, '\n');
		line = line ? line + 1 : NULL;
	}
	return -1;
}

int
cgroup_self_parse(const char *text, char *buf, size_t size)
{
	const char *p = text, *end;
	size_t n;

	while (p && *p) {
		if (strncmp(p, "0::", 3) == 0) {
			p += 3;
			end = strchr(p, '\n');
			n = end ? (size_t)(end - p) : strlen(p);
			if (n == 0 || n >= size || *p != '/')
				return -1;
			memcpy(buf, p, n);
			buf[n] = '\0';
			return 0;
		}
		p = strchr(p, '\n');
		p = p ? p + 1 : NULL;
	}
	return -1;
}

static int
our_cgroup_dir(char *buf, size_t size)
{
	char mnt[PATH_MAX], self[PATH_MAX], *text;
	int rc = -1, n;

	if ((text = slurp("/proc/mounts")) == NULL)
		return -1;
	if (cgroup_mount_parse(text, mnt, sizeof(mnt)) == 0) {
		free(text);
		if ((text = slurp("/proc/self/cgroup")) != NULL &&
		    cgroup_self_parse(text, self, sizeof(self)) == 0) {
			n = snprintf(buf, size, "%s%s", mnt,
			    strcmp(self, "/") == 0 ? "" : self);
			rc = (n < 0 || (size_t)n >= size) ? -1 : 0;
		}
	}
	free(text);
	return rc;
}

int
cgroup_create(struct run_cgroup *cg, const char *token)
{
	char dir[PATH_MAX], procs[PATH_MAX + 16];
	int n;

	cg->path[0] = '\0';
	cg->procs_fd = -1;
	if (our_cgroup_dir(dir, sizeof(dir)) < 0)
		return -1;
	n = snprintf(cg->path, sizeof(cg->path), "%s/tollgate-run-%s", dir, token);
	if (n < 0 || (size_t)n >= sizeof(cg->path) || mkdir(cg->path, 0755) < 0) {
		cg->path[0] = '\0';
		return -1;
	}
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", cg->path);
	if ((cg->procs_fd = open(procs, O_WRONLY | O_CLOEXEC)) < 0) {
		rmdir(cg->path);
		cg->path[0] = '\0';
		return -1;
	}
	return 0;
}

int
cgroup_kill(const struct run_cgroup *cg)
{
	char path[PATH_MAX + 16];
	int fd, rc;

	if (cg->path[0] == '\0')
		return -1;
	snprintf(path, sizeof(path), "%s/cgroup.kill", cg->path);
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return -1;
	rc = write(fd, "1", 1) == 1 ? 0 : -1;
	close(fd);
	return rc;
}

void
cgroup_remove(struct run_cgroup *cg)
{
	if (cg->procs_fd >= 0)
		close(cg->procs_fd);
	cg->procs_fd = -1;
	/* Fails (EBUSY) only if something escaped our reaping; leave it. */
	if (cg->path[0] != '\0')
		rmdir(cg->path);
	cg->path[0] = '\0';
}
