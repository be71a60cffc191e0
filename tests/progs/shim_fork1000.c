/*
 * shim_fork1000 — 1,000 children, each making one metered call: 800 by
 * fork() (no exec: they inherit the parent's daemon connection and must
 * not use it), 100 by vfork()+exec, 100 by posix_spawn(); the parent makes
 * one call before and one after. With the shim and a daemon the ledger
 * gets exactly 1,002 records. Prints the same line with or without the
 * shim; exits 0 when every child exited 0.
 *   shim_fork1000 [child]
 */
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shim_report.h"

#define CHILDREN 1000

extern char **environ;

static pid_t
start(int i, const char *self)
{
	char *argv[] = { (char *)self, "child", NULL };
	pid_t pid;

	if (i % 10 == 8) {
		if ((pid = vfork()) == 0) {
			execv(self, argv);
			_exit(127);
		}
		return pid;
	}
	if (i % 10 == 9)
		return posix_spawn(&pid, self, NULL, NULL, argv, environ) == 0 ?
		    pid : -1;
	if ((pid = fork()) == 0) {
		shim_report("fork1000/fork", 0);
		_exit(0);
	}
	return pid;
}

int
main(int argc, char **argv)
{
	int failures = 0, status;

	if (argc > 1 && strcmp(argv[1], "child") == 0) {
		shim_report("fork1000/exec", 0);
		return 0;
	}
	shim_report("fork1000/parent", 0);
	for (int i = 0; i < CHILDREN; i++) {
		pid_t pid = start(i, "/proc/self/exe");

		if (pid < 0 || waitpid(pid, &status, 0) != pid ||
		    !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failures++;
	}
	shim_report("fork1000/parent", 0);
	printf("children %d failures %d\n", CHILDREN, failures);
	return failures != 0;
}
