/*
 * shim_fds — no fd leaks. Under the shim: list /proc/self/fd, make three
 * metered calls, list again: exactly one new fd, of the KIND given
 * ("socket": the daemon connection; "file": the spool, daemon down), with
 * FD_CLOEXEC. Then exec itself ("after-exec N"): the new image must have
 * exactly the N fds the first one started with.
 * Prints "extra 1 KIND cloexec 1" / "after exec extra 0"; exits 0 when
 * both hold.
 *   shim_fds socket|file
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shim_report.h"

#define MAXFD 4096

/* open[i] = 1 when fd i is open (the listing's own fd excluded); the
 * shim keeps its fds at 100 or above, so look that high. */
static int
open_fds(char open[MAXFD])
{
	struct dirent *de;
	DIR *d = opendir("/proc/self/fd");
	int self = dirfd(d), fd, count = 0;

	memset(open, 0, MAXFD);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || (fd = atoi(de->d_name)) == self)
			continue;
		if (fd < MAXFD)
			open[fd] = 1;
		count++;
	}
	closedir(d);
	return count;
}

static int
after_exec(int before)
{
	static char set[MAXFD];
	int n = open_fds(set);

	printf("after exec extra %d\n", n - before);
	return n != before;
}

int
main(int argc, char **argv)
{
	static char before[MAXFD], after[MAXFD];
	int nb, na, fd = -1, nextra = 0, cloexec;
	struct stat st;
	const char *kind;
	char nbuf[16];

	if (argc == 3 && strcmp(argv[1], "after-exec") == 0)
		return after_exec(atoi(argv[2]));
	if (argc != 2)
		return 2;
	nb = open_fds(before);
	for (int i = 0; i < 3; i++)
		shim_report("fds", 0);
	na = open_fds(after);
	for (int i = 0; i < MAXFD; i++)
		if (after[i] && !before[i]) {
			fd = i;
			nextra++;
		}
	if (na - nb != 1 || nextra != 1) {
		printf("extra %d\n", na - nb);
		return 1;
	}
	cloexec = (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0;
	kind = fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) ? "socket" : "file";
	printf("extra 1 %s cloexec %d\n", kind, cloexec);
	fflush(stdout);
	if (!cloexec || strcmp(kind, argv[1]) != 0)
		return 1;
	snprintf(nbuf, sizeof(nbuf), "%d", nb);
	execl("/proc/self/exe", argv[0], "after-exec", nbuf, (char *)NULL);
	return 1;
}
