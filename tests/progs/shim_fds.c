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

/* Bit i set when fd i is open (fds < 64; the listing's own fd excluded). */
static unsigned long long
open_fds(int *count)
{
	unsigned long long set = 0;
	struct dirent *de;
	DIR *d = opendir("/proc/self/fd");
	int self = dirfd(d), fd;

	*count = 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || (fd = atoi(de->d_name)) == self)
			continue;
		if (fd < 64)
			set |= 1ULL << fd;
		(*count)++;
	}
	closedir(d);
	return set;
}

static int
after_exec(int before)
{
	int n;

	open_fds(&n);
	printf("after exec extra %d\n", n - before);
	return n != before;
}

int
main(int argc, char **argv)
{
	unsigned long long before, after, extra;
	int nb, na, fd, cloexec;
	struct stat st;
	const char *kind;
	char nbuf[16];

	if (argc == 3 && strcmp(argv[1], "after-exec") == 0)
		return after_exec(atoi(argv[2]));
	if (argc != 2)
		return 2;
	before = open_fds(&nb);
	for (int i = 0; i < 3; i++)
		shim_report("fds", 0);
	after = open_fds(&na);
	extra = after & ~before;
	if (na - nb != 1 || extra == 0 || (extra & (extra - 1))) {
		printf("extra %d\n", na - nb);
		return 1;
	}
	fd = __builtin_ctzll(extra);
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
