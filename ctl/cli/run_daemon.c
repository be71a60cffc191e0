/*
 * run_daemon.c — a private tollgated for `tollctl run` when no daemon is
 * reachable. It listens in a fresh mkdtemp directory, keeps the ledger in
 * the user's state directory (so `tollctl report` against a daemon on the
 * same state sees the run later), serves no HTTP, and logs to a file in
 * that directory, which is shown when it fails to start.
 *
 * It is started in its own session (a Ctrl-C in the terminal must not stop
 * it before the run's summary is read) and double-forked, so it is not our
 * child: `tollctl run` waits for all its children to end (run_child.c).
 * A pidfd tracks it.
 */
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "proto.h"

#define STOP_WAIT_MS 5000

static int
pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static int
pidfd_signal_(int fd, int sig)
{
	return (int)syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0);
}

int
run_exe_dir(char *buf, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", buf, size - 1);
	char *slash;

	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if ((slash = strrchr(buf, '/')) == NULL)
		return -1;
	*slash = '\0';
	return 0;
}

/* tollgated next to us, else the name for execvp to find in PATH. */
static void
daemon_exe(char *buf, size_t size)
{
	char dir[PATH_MAX];

	if (run_exe_dir(dir, sizeof(dir)) == 0 &&
	    (size_t)snprintf(buf, size, "%s/tollgated", dir) < size &&
	    access(buf, X_OK) == 0)
		return;
	snprintf(buf, size, "tollgated");
}

/* The grandchild: a new session, stdio to /dev/null and the log. */
static void
daemon_exec(struct pdaemon *d, const char *state_dir, const char *policy)
{
	char exe[PATH_MAX];
	const char *argv[12];
	int n = 0, fd;

	setsid();
	if ((fd = open("/dev/null", O_RDWR)) >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
	}
	if ((fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) >= 0)
		dup2(fd, 2);
	daemon_exe(exe, sizeof(exe));
	argv[n++] = exe;
	argv[n++] = "--socket";
	argv[n++] = d->sock;
	argv[n++] = "--state-dir";
	argv[n++] = state_dir;
	argv[n++] = "--http";
	argv[n++] = "off";
	if (policy) {
		argv[n++] = "--policy";
		argv[n++] = policy;
	}
	argv[n] = NULL;
	execvp(exe, (char **)argv);
	fprintf(stderr, "tollctl run: cannot start %s: %s\n", exe, strerror(errno));
	_exit(127);
}

/* Double fork; returns the daemon's pid (through a pipe) or -1. */
static pid_t
daemon_fork(struct pdaemon *d, const char *state_dir, const char *policy)
{
	pid_t mid, pid = -1;
	int p[2], st;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	if ((mid = fork()) == 0) {
		pid = fork();
		if (pid == 0) {
			close(p[0]);
			close(p[1]);
			daemon_exec(d, state_dir, policy);
		}
		_exit(write(p[1], &pid, sizeof(pid)) == sizeof(pid) ? 0 : 1);
	}
	close(p[1]);
	if (mid > 0 && read(p[0], &pid, sizeof(pid)) != sizeof(pid))
		pid = -1;
	close(p[0]);
	if (mid > 0)
		while (waitpid(mid, &st, 0) < 0 && errno == EINTR)
			;
	return mid > 0 ? pid : -1;
}

static void
show_log(const struct pdaemon *d)
{
	char buf[4096];
	size_t n;
	FILE *f;

	if ((f = fopen(d->log, "re")) == NULL)
		return;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stderr);
	fclose(f);
}

/* Poll until the socket accepts, the daemon exits, or the wait runs out. */
static int
wait_ready(struct pdaemon *d)
{
	struct pollfd pfd = { .fd = d->pidfd, .events = POLLIN };
	struct client c;

	for (int waited = 0; waited < RUN_DAEMON_WAIT_MS; waited += 10) {
		if (client_try(&c, d->sock) == 0) {
			client_close(&c);
			return 0;
		}
		if (poll(&pfd, 1, 10) == 1) {
			fprintf(stderr, "tollctl run: the private tollgated exited at "
			    "start; its log:\n");
			show_log(d);
			return -1;
		}
	}
	fprintf(stderr, "tollctl run: the private tollgated did not accept on %s "
	    "within %d s; its log:\n", d->sock, RUN_DAEMON_WAIT_MS / 1000);
	show_log(d);
	return -1;
}

static int
make_dir(struct pdaemon *d)
{
	const char *tmp = getenv("TMPDIR");
	int n;

	if (tmp == NULL || *tmp == '\0' || strlen(tmp) > 60)
		tmp = "/tmp";
	snprintf(d->dir, sizeof(d->dir), "%s/tollctl-XXXXXX", tmp);
	if (mkdtemp(d->dir) == NULL) {
		fprintf(stderr, "tollctl run: mkdtemp %s: %s\n", d->dir,
		    strerror(errno));
		return -1;
	}
	n = snprintf(d->sock, sizeof(d->sock), "%s/tollgate.sock", d->dir);
	/* dir is at most 60 + 15 bytes: the log path fits */
	tg_strlcpy(d->log, d->dir, sizeof(d->log) - 16);
	strcat(d->log, "/tollgated.log");
	return n < (int)sizeof(d->sock) ? 0 : -1;
}

int
pdaemon_start(struct pdaemon *d, const char *state_dir, const char *policy)
{
	memset(d, 0, sizeof(*d));
	d->pidfd = -1;
	if (make_dir(d) < 0)
		return -1;
	if ((d->pid = daemon_fork(d, state_dir, policy)) < 0 ||
	    (d->pidfd = pidfd_open_(d->pid)) < 0) {
		fprintf(stderr, "tollctl run: cannot start a private tollgated: %s\n",
		    strerror(errno));
		pdaemon_stop(d);
		return -1;
	}
	if (wait_ready(d) < 0) {
		pdaemon_stop(d);
		return -1;
	}
	return 0;
}

void
pdaemon_stop(struct pdaemon *d)
{
	struct pollfd pfd = { .fd = d->pidfd, .events = POLLIN };

	if (d->pidfd >= 0) {
		pidfd_signal_(d->pidfd, SIGTERM);
		if (poll(&pfd, 1, STOP_WAIT_MS) != 1) {
			fprintf(stderr, "tollctl run: the private tollgated did not stop "
			    "in %d s; killing it\n", STOP_WAIT_MS / 1000);
			pidfd_signal_(d->pidfd, SIGKILL);
			poll(&pfd, 1, STOP_WAIT_MS);
		}
		close(d->pidfd);
		d->pidfd = -1;
	}
	if (d->dir[0]) {
		unlink(d->sock);
		unlink(d->log);
		rmdir(d->dir);
		d->dir[0] = '\0';
	}
}
