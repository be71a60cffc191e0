/*
 * shim_fdreuse — a host that closes the shim's fd and reuses the number.
 * Regression, "the shim used and closed fd numbers the host had closed and
 * reused" (its daemon socket, its spool file).
 *
 *   shim_fdreuse file|socket FILE
 * One usage record (the shim opens its fd: the spool file with no daemon,
 * the socket with one); then, like a daemonizing host, close every fd
 * above 2 and put a host object on the number the shim's fd had: FILE
 * (holding "HOST DATA\n") or one end of a socketpair (holding "HOSTREPLY"
 * for the host to read). A second usage record must leave that fd alone:
 * still open, FILE still 10 bytes, the host's socket still holding its 9
 * bytes and nothing written to its peer.
 * Prints "usage R1 R2 host fd intact 1"; exits 0 when intact, 1 if not,
 * 2 without the shim.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shim_report.h"

#define MAXFD 4096

static void
open_fds(char set[MAXFD])
{
	struct dirent *de;
	DIR *d = opendir("/proc/self/fd");
	int fd;

	memset(set, 0, MAXFD);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' && (fd = atoi(de->d_name)) < MAXFD &&
		    fd != dirfd(d))
			set[fd] = 1;
	closedir(d);
}

/* The one fd the first call opened, or -1. */
static int
shim_fd(const char *before, const char *after)
{
	int fd = -1, n = 0;

	for (int i = 0; i < MAXFD; i++)
		if (after[i] && !before[i]) {
			fd = i;
			n++;
		}
	return n == 1 ? fd : -1;
}

static int
host_file(int num, const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || write(fd, "HOST DATA\n", 10) != 10 || dup2(fd, num) != num)
		return -1;
	close(fd);
	return num;
}

static int
file_intact(int num)
{
	struct stat st;

	return fstat(num, &st) == 0 && st.st_size == 10;
}

static int peer = -1;

static int
host_socket(int num)
{
	int sp[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp) < 0 ||
	    dup2(sp[0], num) != num || write(sp[1], "HOSTREPLY", 9) != 9)
		return -1;
	close(sp[0]);
	peer = sp[1];
	return num;
}

static int
socket_intact(int num)
{
	char buf[64];

	return read(num, buf, sizeof(buf)) == 9 && memcmp(buf, "HOSTREPLY",
	    9) == 0 && read(peer, buf, sizeof(buf)) < 0 && errno == EAGAIN;
}

int
main(int argc, char **argv)
{
	static char before[MAXFD], after[MAXFD];
	int sock, num, r1, r2, ok;

	if (argc != 3)
		return 1;
	if (dlsym(RTLD_DEFAULT, "tollgate_usage") == NULL)
		return 2;
	sock = strcmp(argv[1], "socket") == 0;
	open_fds(before);
	r1 = shim_report("fdreuse", 0);
	open_fds(after);
	if ((num = shim_fd(before, after)) < 0)
		return 1;
	close_range(3, ~0U, 0);
	if ((sock ? host_socket(num) : host_file(num, argv[2])) < 0)
		return 1;
	r2 = shim_report("fdreuse", 0);
	ok = fcntl(num, F_GETFD) >= 0 &&
	    (sock ? socket_intact(num) : file_intact(num));
	printf("usage %d %d host fd intact %d\n", r1, r2, ok);
	return !ok;
}
