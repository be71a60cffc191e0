/*
 * gpu_holder — a stand-in GPU user for tests/e2e/bpf_gpudev.sh (issue 6):
 * holds a "device" path (any file; the daemon is given its prefix with
 * --gpu-dev-prefix) and does what stdin says, so a test can sequence it.
 *
 *   gpu_holder PATH [N]   open PATH, make N ioctls on it (ENOTTY on a
 *                         regular file: the syscall happens all the same),
 *                         print "ready PID FD"
 * then one command a line, each answered with one line:
 *   ioctl N      N ioctls on the newest fd               "ok"
 *   open         open PATH again                         "ok FD"
 *   openrel P    open P's file by its name relative to   "ok FD"
 *                its directory (openat(dirfd, name)): no
 *                absolute path for a probe to match
 *   close        close the newest fd                     "ok FD"
 *   fork         a child inherits the fds and sleeps     "ok CHILDPID"
 *                (it dies with this process, or when killed)
 *   exec         exec itself keeping the newest fd       "ok PID FD"
 *   exec cloexec exec itself, every fd O_CLOEXEC         "ok PID -1"
 *                (the new image answers: gpu_holder --adopt PATH FD)
 *   exit         "ok", then exit 0; end of input too
 * Anything else: "error: ..." and exit 2.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <fcntl.h>

#define MAX_FDS 64

static const char *path;
static int fds[MAX_FDS], nfds;

static void
do_ioctls(long n)
{
	long i;

	for (i = 0; i < n && nfds > 0; i++)
		(void)ioctl(fds[nfds - 1], _IO('T', 0x7a), 0);
}

static int
do_open(void)
{
	int fd;

	if (nfds == MAX_FDS || (fd = open(path, O_RDWR)) == -1) {
		printf("error: open %s\n", path);
		exit(2);
	}
	fds[nfds++] = fd;
	return fd;
}

static int
do_openrel(const char *p)
{
	const char *slash = strrchr(p, '/');
	char dir[4096];
	int dfd, fd;

	if (slash == NULL || nfds == MAX_FDS ||
	    snprintf(dir, sizeof(dir), "%.*s", (int)(slash - p), p) >=
	    (int)sizeof(dir) ||
	    (dfd = open(dir, O_PATH | O_DIRECTORY)) == -1 ||
	    (fd = openat(dfd, slash + 1, O_RDWR)) == -1) {
		printf("error: openrel %s\n", p);
		exit(2);
	}
	close(dfd);
	fds[nfds++] = fd;
	return fd;
}

/* The child keeps the fds; its stdin and stdout go so the test's pipes
 * close with the parent. */
static pid_t
do_fork(void)
{
	pid_t pid;
	int null;

	fflush(stdout);
	if ((pid = fork()) != 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if ((null = open("/dev/null", O_RDWR)) != -1) {
		dup2(null, 0);
		dup2(null, 1);
		close(null);
	}
	for (;;)
		pause();
}

/* The new image, after "exec": fd (or -1) is what it holds. */
static void
do_exec(const char *self, int cloexec)
{
	char fdarg[16];
	int i;

	for (i = 0; i < nfds && cloexec; i++)
		fcntl(fds[i], F_SETFD, FD_CLOEXEC);
	snprintf(fdarg, sizeof(fdarg), "%d", cloexec || !nfds ? -1 :
	    fds[nfds - 1]);
	fflush(stdout);
	execl(self, "gpu_holder", "--adopt", path, fdarg, (char *)NULL);
	printf("error: exec %s\n", self);
	exit(2);
}

int
main(int argc, char **argv)
{
	char line[128];
	long n;
	int fd;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 4 && strcmp(argv[1], "--adopt") == 0) {
		path = argv[2];
		if ((fd = (int)strtol(argv[3], NULL, 10)) >= 0)
			fds[nfds++] = fd;
		printf("ok %d %d\n", (int)getpid(), fd);
	} else if (argc == 2 || argc == 3) {
		path = argv[1];
		fd = do_open();
		do_ioctls(argc == 3 ? strtol(argv[2], NULL, 10) : 0);
		printf("ready %d %d\n", (int)getpid(), fd);
	} else {
		fprintf(stderr, "usage: gpu_holder PATH [N]\n");
		return 2;
	}
	while (fgets(line, sizeof(line), stdin) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "ioctl %ld", &n) == 1) {
			do_ioctls(n);
			printf("ok\n");
		} else if (strncmp(line, "openrel ", 8) == 0) {
			printf("ok %d\n", do_openrel(line + 8));
		} else if (strcmp(line, "open") == 0) {
			printf("ok %d\n", do_open());
		} else if (strcmp(line, "close") == 0 && nfds > 0) {
			fd = fds[--nfds];
			close(fd);
			printf("ok %d\n", fd);
		} else if (strcmp(line, "fork") == 0) {
			printf("ok %d\n", (int)do_fork());
		} else if (strcmp(line, "exec") == 0 ||
		    strcmp(line, "exec cloexec") == 0) {
			do_exec("/proc/self/exe", line[4] != '\0');
		} else if (strcmp(line, "exit") == 0) {
			printf("ok\n");
			return 0;
		} else {
			printf("error: %s\n", line);
			return 2;
		}
	}
	return 0;
}
