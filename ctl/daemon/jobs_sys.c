/*
 * jobs_sys.c — the kernel side of jobs.c: cgroup v2 files (cgroup.freeze,
 * cgroup.kill, cgroup.procs, cgroup.events), pidfds, /proc/PID/stat.
 *
 * Every signal goes through a pidfd that was verified after it was opened
 * (the process is alive and is the one whose start time or cgroup we read),
 * so a pid that was reused between reading it and opening it is never hit.
 * A cgroup path is accepted only in canonical form under the cgroup2 mount
 * and never when it is the daemon's own cgroup or holds it.
 */
#include "jobs_private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "proto.h"

#define CG_MAX_DEPTH 32  /* nested cgroups walked when signalling members */

int
jobs_pidfd_open(pid_t pid)
{
	/* pidfds are always close-on-exec */
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

int
jobs_pidfd_signal(int pidfd, int sig)
{
	return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

/* A pidfd polls readable once its process has exited (zombie or reaped). */
int
jobs_pidfd_exited(int pidfd)
{
	struct pollfd pf = { .fd = pidfd, .events = POLLIN };

	return poll(&pf, 1, 0) == 1;
}

static ssize_t
read_small(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

int
jobs_proc_start_time(pid_t pid, unsigned long long *st)
{
	char path[64], buf[2048], *p, *end;
	int field;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_small(path, buf, sizeof(buf)) <= 0) {
		errno = ESRCH;
		return -1;
	}
	/* comm (field 2) may hold spaces and ')': fields 3.. follow the last ')' */
	if ((p = strrchr(buf, ')')) == NULL)
		goto bad;
	for (p++, field = 2; field < 22; field++)
		if ((p = strchr(p, ' ')) == NULL)
			goto bad;
		else
			p++;
	errno = 0;
	*st = strtoull(p, &end, 10);
	if (end != p && errno == 0 && (*end == ' ' || *end == '\n'))
		return 0;
bad:
	errno = EINVAL;
	return -1;
}

/* The pid a pidfd refers to ("Pid:" in its fdinfo): -1 exited, -2 not a
 * pidfd. */
static int
pidfd_pid(int fd)
{
	char path[64], buf[1024], *p;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	if (read_small(path, buf, sizeof(buf)) <= 0 ||
	    (p = strstr(buf, "\nPid:\t")) == NULL)
		return -2;
	return atoi(p + 6);
}

int
jobs_proc_hold(pid_t pid, int caller_fd, int *pidfd, unsigned long long *st)
{
	int fd, owner;

	if (caller_fd >= 0) {
		if ((owner = pidfd_pid(caller_fd)) != pid) {
			errno = owner == -1 ? ESRCH : EINVAL;
			return -1;
		}
		fd = fcntl(caller_fd, F_DUPFD_CLOEXEC, 3);
	} else
		fd = jobs_pidfd_open(pid);
	if (fd < 0)
		return -1;
	/* The start time read here belongs to the pidfd's process only if
	 * that process is still alive after the read. */
	if (jobs_proc_start_time(pid, st) == -1 || jobs_pidfd_exited(fd)) {
		close(fd);
		errno = ESRCH;
		return -1;
	}
	*pidfd = fd;
	return 0;
}

int
jobs_cg_mount(char *buf, size_t size)
{
	char line[PATH_MAX + 512], dev[256], dir[PATH_MAX], type[64];
	FILE *f;
	int rc = -1;

	if ((f = fopen("/proc/mounts", "re")) == NULL)
		return -1;
	while (rc == -1 && fgets(line, sizeof(line), f) != NULL)
		/* a mount point with an escaped space (\040) is not supported */
		if (sscanf(line, "%255s %4095s %63s", dev, dir, type) == 3 &&
		    strcmp(type, "cgroup2") == 0 && strchr(dir, '\\') == NULL &&
		    strlen(dir) < size) {
			tg_strlcpy(buf, dir, size);
			rc = 0;
		}
	fclose(f);
	if (rc == -1)
		errno = EOPNOTSUPP;
	return rc;
}

/* The "/path" of the "0::/path" line of /proc/PID/cgroup (0 = self). */
static int
cg_of(pid_t pid, char *buf, size_t size)
{
	char path[64], text[4096], *p, *end;

	if (pid == 0)
		snprintf(path, sizeof(path), "/proc/self/cgroup");
	else
		snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	if (read_small(path, text, sizeof(text)) <= 0)
		return -1;
	for (p = text; p != NULL; p = (p = strchr(p, '\n')) ? p + 1 : NULL)
		if (strncmp(p, "0::/", 4) == 0) {
			p += 3;
			end = p + strcspn(p, "\n");
			if ((size_t)(end - p) >= size)
				return -1;
			memcpy(buf, p, (size_t)(end - p));
			buf[end - p] = '\0';
			return 0;
		}
	return -1;
}

int
jobs_cg_self(char *buf, size_t size)
{
	char mnt[PATH_MAX], self[PATH_MAX];
	int n;

	if (jobs_cg_mount(mnt, sizeof(mnt)) == -1 ||
	    cg_of(0, self, sizeof(self)) == -1)
		return -1;
	n = snprintf(buf, size, "%s%s", mnt, strcmp(self, "/") ? self : "");
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

int
jobs_cg_norm(const char *in, char *out, size_t size)
{
	size_t n = 0, len;
	const char *p = in;

	if (*in != '/')
		goto inval;
	while (*p != '\0') {
		while (*p == '/')
			p++;
		if ((len = strcspn(p, "/")) == 0)
			break;
		if ((len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.'))
			goto inval;
		if (n + 1 + len >= size)
			goto inval;
		out[n++] = '/';
		memcpy(out + n, p, len);
		n += len;
		p += len;
	}
	out[n] = '\0';
	if (n > 0)
		return 0;
inval:
	errno = EINVAL;
	return -1;
}

/* a == b, or a is an ancestor of b */
static int
holds(const char *a, const char *b)
{
	size_t n = strlen(a);

	return strncmp(a, b, n) == 0 && (b[n] == '\0' || b[n] == '/');
}

int
jobs_cg_name(const char *self, const char *in, char *out, size_t size)
{
	char mnt[PATH_MAX];

	if (jobs_cg_norm(in, out, size) == -1 ||
	    jobs_cg_mount(mnt, sizeof(mnt)) == -1)
		return -1;
	if (!holds(mnt, out)) {
		errno = EINVAL;
		return -1;
	}
	/* unknown own cgroup: nothing can be shown not to hold the daemon */
	if (self[0] == '\0' || holds(out, self)) {
		errno = EPERM;
		return -1;
	}
	return 0;
}

int
jobs_cg_exists(const char *dir)
{
	char path[PATH_MAX + 16];
	struct stat st;

	if (stat(dir, &st) == -1) {
		errno = errno == ENOENT ? ESRCH : errno;
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		errno = EINVAL;
		return -1;
	}
	/* the root cgroup has none; kernels before 5.2 neither */
	snprintf(path, sizeof(path), "%s/cgroup.freeze", dir);
	if (access(path, F_OK) == -1) {
		errno = EOPNOTSUPP;
		return -1;
	}
	return 0;
}

int
jobs_cg_write(const char *dir, const char *file, const char *val)
{
	char path[PATH_MAX + 32];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			errno = access(dir, F_OK) == 0 ? EOPNOTSUPP : ESRCH;
		return -1;
	}
	n = write(fd, val, strlen(val));
	close(fd);
	if (n == (ssize_t)strlen(val))
		return 0;
	if (n >= 0)
		errno = EIO;
	else if (errno == ENODEV || errno == ENOENT)
		errno = ESRCH;  /* removed while open */
	return -1;
}

int
jobs_cg_populated(const char *dir)
{
	char path[PATH_MAX + 16], buf[256], *p;

	snprintf(path, sizeof(path), "%s/cgroup.events", dir);
	if (read_small(path, buf, sizeof(buf)) <= 0) {
		errno = ESRCH;
		return -1;
	}
	if ((p = strstr(buf, "populated ")) == NULL) {
		errno = EINVAL;
		return -1;
	}
	return p[10] == '1';
}

/* Signal pid through a pidfd, if, once the pidfd pins it, it is still in
 * cgroup rel (relative to the mount) or below: the pid read from
 * cgroup.procs may have exited and been reused before pidfd_open. */
static int
member_signal(pid_t pid, const char *rel, int sig)
{
	char cg[PATH_MAX];
	int fd, rc = -1;

	if ((fd = jobs_pidfd_open(pid)) < 0)
		return -1;
	if (cg_of(pid, cg, sizeof(cg)) == 0 && holds(rel, cg) &&
	    !jobs_pidfd_exited(fd))
		rc = jobs_pidfd_signal(fd, sig);
	close(fd);
	return rc;
}

static int
cg_signal_at(const char *dir, const char *rel, int sig, int depth)
{
	char path[PATH_MAX + 16];
	struct dirent *de;
	DIR *d;
	FILE *f;
	int pid, k, n = 0;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	if ((f = fopen(path, "re")) == NULL) {
		errno = errno == ENOENT ? ESRCH : errno;
		return -1;
	}
	while (fscanf(f, "%d", &pid) == 1)
		if (pid != getpid() && member_signal(pid, rel, sig) == 0)
			n++;
	fclose(f);
	/* cgroup.procs lists direct members only; the job may nest */
	if (depth >= CG_MAX_DEPTH || (d = opendir(dir)) == NULL)
		return n;
	while ((de = readdir(d)) != NULL) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (strlen(path) < PATH_MAX &&
		    (k = cg_signal_at(path, rel, sig, depth + 1)) > 0)
			n += k;
	}
	closedir(d);
	return n;
}

int
jobs_cg_signal(const char *dir, int sig)
{
	char mnt[PATH_MAX];
	const char *rel;

	if (jobs_cg_mount(mnt, sizeof(mnt)) == -1)
		return -1;
	rel = dir + strlen(mnt);
	/* the root cgroup holds the daemon: jobs_cg_name never passes it */
	if (!holds(mnt, dir) || *rel == '\0') {
		errno = EINVAL;
		return -1;
	}
	return cg_signal_at(dir, rel, sig, 0);
}
