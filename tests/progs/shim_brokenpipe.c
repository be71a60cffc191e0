/*
 * shim_brokenpipe — run CMD with fd 2 a pipe nobody reads: any write to
 * stderr gets EPIPE and raises SIGPIPE (default action: die).
 * Regression, "the shim's stderr line killed the host with SIGPIPE".
 *   shim_brokenpipe CMD [ARG...]
 * Exits 127 when CMD cannot be run.
 */
#include <signal.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	int p[2];

	if (argc < 2 || pipe(p) < 0 || dup2(p[1], 2) != 2)
		return 127;
	close(p[0]);
	close(p[1]);
	signal(SIGPIPE, SIG_DFL);
	execvp(argv[1], argv + 1);
	return 127;
}
