/* test_shim_sigguard.c — preload/sigguard.h.
 * Regressions: "the shim's stderr line killed the host with SIGPIPE"
 * (say.c wrote to a pipe nobody reads) and "a spool append killed the
 * host with SIGXFSZ" (a file at RLIMIT_FSIZE). Guarded, such a write
 * fails (EPIPE, EFBIG), the process lives, no signal is left pending, and
 * the thread's mask is what it was; a SIGPIPE that was already pending
 * (the host's own) stays pending. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>
#include <cmocka.h>

#include "sigguard.h"

static int
pending(int sig)
{
	sigset_t s;

	assert_int_equal(sigpending(&s), 0);
	return sigismember(&s, sig);
}

static int
blocked(int sig)
{
	sigset_t s;

	assert_int_equal(pthread_sigmask(SIG_BLOCK, NULL, &s), 0);
	return sigismember(&s, sig);
}

/* A pipe whose read end is closed. */
static int
broken_pipe(void)
{
	int p[2];

	assert_int_equal(pipe(p), 0);
	close(p[0]);
	return p[1];
}

static void
test_epipe_consumed(void **state)
{
	struct shim_sigguard g;
	int fd = broken_pipe();
	ssize_t n;

	shim_sig_hold(&g);
	n = write(fd, "x", 1);
	assert_int_equal(n, -1);
	assert_int_equal(errno, EPIPE);
	shim_sig_release(&g, errno);
	assert_int_equal(errno, EPIPE); /* release keeps errno */
	assert_int_equal(pending(SIGPIPE), 0);
	assert_int_equal(blocked(SIGPIPE), 0);
	close(fd);
}

static void
test_host_pending_sigpipe_kept(void **state)
{
	struct shim_sigguard g;
	sigset_t s, old;
	int fd = broken_pipe();

	sigemptyset(&s);
	sigaddset(&s, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &s, &old);
	raise(SIGPIPE); /* the host's: blocked, pending */
	shim_sig_hold(&g);
	assert_int_equal(write(fd, "x", 1), -1);
	shim_sig_release(&g, errno);
	assert_int_equal(pending(SIGPIPE), 1);
	assert_int_equal(blocked(SIGPIPE), 1);
	assert_int_equal(sigwaitinfo(&s, NULL), SIGPIPE);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	close(fd);
}

static void
test_efbig_consumed(void **state)
{
	char path[] = "/tmp/test_shim_sigguard.XXXXXX";
	struct rlimit old, zero = { 0, 0 };
	struct shim_sigguard g;
	int fd = mkstemp(path);
	ssize_t n;

	assert_true(fd >= 0);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	zero.rlim_max = old.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &zero), 0);
	shim_sig_hold(&g);
	n = write(fd, "x", 1);
	assert_int_equal(n, -1);
	assert_int_equal(errno, EFBIG);
	shim_sig_release(&g, errno);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(pending(SIGXFSZ), 0);
	assert_int_equal(blocked(SIGXFSZ), 0);
	close(fd);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_epipe_consumed),
		cmocka_unit_test(test_host_pending_sigpipe_kept),
		cmocka_unit_test(test_efbig_consumed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
