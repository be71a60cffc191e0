/*
 * run_daemon.c — a private tollgated for `tollctl run` when no daemon is
 * reachable. It listens in a fresh mkdtemp directory, keeps the ledger in
 * the user's state directory (so `tollctl report` against a daemon on the
 * same state sees the run later), serves no HTTP, and logs to a file in
 * that directory, which is shown when it fails to start.
 *
 * It is our child, in its own session (a Ctrl-C in the terminal must not
 * stop it before the run's summary is read), with PR_SET_PDEATHSIG so that
 * it stops when tollctl dies, even by SIGKILL. run_child.c leaves it out
 * when it waits for CMD's processes. A pidfd addresses it where the kernel
 * has them (5.3+), so a signal never reaches a recycled pid.
 */
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
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

/* 1 while the daemon runs; reaps it once it has exited. */
static int
daemon_alive(struct pdaemon *d)
{
	int st;
	pid_t w;

	if (d->reaped || d->pid <= 0)
		return 0;
	while ((w = waitpid(d->pid, &st, WNOHANG)) < 0 && errno == EINTR)
		;
	if (w == 0)
		return 1;
	d->reaped = 1; /* exited now, or reaped elsewhere (ECHILD) */
	return 0;
}

int
pdaemon_running(struct pdaemon *d)
{
	return daemon_alive(d);
}

static void
daemon_signal(const struct pdaemon *d, int sig)
{
	if (d->reaped || d->pid <= 0)
		return;
	if (d->pidfd >= 0)
		syscall(SYS_pidfd_send_signal, d->pidfd, sig, NULL, 0);
	else
		kill(d->pid, sig);
}

int
pdaemon_wait_gone(struct pdaemon *d, int ms)
{
	for (int waited = 0; waited < ms; waited += 10) {
		if (!daemon_alive(d))
			return 1;
		poll(NULL, 0, 10);
	}
	return !daemon_alive(d);
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

/* The child: a new session, stdio to /dev/null and the log, and SIGTERM
 * when tollctl dies. */
static void
daemon_exec(struct pdaemon *d, pid_t parent, const char *state_dir,
    const char *policy)
{
	char exe[PATH_MAX];
	const char *argv[12];
	int n = 0, fd;

	/* tollctl's forwarding handlers must not swallow a stop before exec */
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGQUIT, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent) /* tollctl died before the line above */
		_exit(1);
	setsid();
	if ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
	}
	if ((fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) >= 0)
		dup2(fd, 2);
	/* tollctl's other descriptors (the caller's, our sockets) are none
	 * of the daemon's business */
	close_range(3, ~0U, 0);
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

/* Fork and exec the daemon; its pid or -1. */
static pid_t
daemon_fork(struct pdaemon *d, const char *state_dir, const char *policy)
{
	pid_t parent = getpid(), pid;

	if ((pid = fork()) == 0)
		daemon_exec(d, parent, state_dir, policy);
	return pid;
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
	struct client c;

	for (int waited = 0; waited < RUN_DAEMON_WAIT_MS; waited += 10) {
		if (client_try(&c, d->sock) == 0) {
			client_close(&c);
			return 0;
		}
		if (pdaemon_wait_gone(d, 10)) {
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
	if ((d->pid = daemon_fork(d, state_dir, policy)) < 0) {
		fprintf(stderr, "tollctl run: cannot start a private tollgated: %s\n",
		    strerror(errno));
		pdaemon_stop(d);
		return -1;
	}
	d->pidfd = pidfd_open_(d->pid); /* -1 (ENOSYS): the pid will do */
	if (wait_ready(d) < 0) {
		pdaemon_stop(d);
		return -1;
	}
	return 0;
}

void
pdaemon_stop(struct pdaemon *d)
{
	if (d->pid > 0) {
		daemon_signal(d, SIGTERM);
		if (!pdaemon_wait_gone(d, STOP_WAIT_MS)) {
			fprintf(stderr, "tollctl run: the private tollgated did not stop "
			    "in %d s; killing it\n", STOP_WAIT_MS / 1000);
			daemon_signal(d, SIGKILL);
			pdaemon_wait_gone(d, STOP_WAIT_MS);
		}
		d->pid = 0;
	}
	if (d->pidfd >= 0)
		close(d->pidfd);
	d->pidfd = -1;
	if (d->dir[0] && d->keep_log) {
		unlink(d->sock);
		d->dir[0] = '\0';
	}
	if (d->dir[0]) {
		unlink(d->sock);
		unlink(d->log);
		rmdir(d->dir);
		d->dir[0] = '\0';
	}
}
