/*
 * shim_closefds — hostile children.
 *  A: fork(), close every fd above 2 (close_range), then a metered call.
 *  B: a raw fork (syscall: no pthread_atfork handler runs, only the
 *     wipe-on-fork word tells the shim it is a child), close every fd
 *     above 2, reopen /dev/null onto 3..31 (so the number of the parent's
 *     daemon socket now is /dev/null), a metered call, then check that all
 *     of 3..31 still are /dev/null: the shim must not close an fd it does
 *     not own.
 * The parent makes one call before and one after: 4 records with a daemon.
 * Prints the same line with or without the shim; exits 0 when all is well.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shim_report.h"

#define LOW 3
#define HIGH 31

static int
child_a(void)
{
	close_range(3, ~0U, 0);
	shim_report("closefds/a", 0);
	return 0;
}

static int
child_b(void)
{
	struct stat null, st;

	close_range(3, ~0U, 0);
	for (int fd = LOW; fd <= HIGH; fd++)
		if (open("/dev/null", O_RDONLY) != fd)
			return 3;
	shim_report("closefds/b", 0);
	if (stat("/dev/null", &null) < 0)
		return 4;
	for (int fd = LOW; fd <= HIGH; fd++)
		if (fstat(fd, &st) < 0 || st.st_rdev != null.st_rdev)
			return 5;
	return 0;
}

static int
reap(pid_t pid)
{
	int status;

	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

int
main(void)
{
	pid_t pid;
	int a, b;

	shim_report("closefds/parent", 0);
	if ((pid = fork()) == 0)
		_exit(child_a());
	a = reap(pid);
	pid = syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0);
	if (pid == 0)
		syscall(SYS_exit_group, child_b());
	b = reap(pid);
	shim_report("closefds/parent", 0);
	printf("child a %d child b %d\n", a, b);
	return a != 0 || b != 0;
}
