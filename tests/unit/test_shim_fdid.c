/* test_shim_fdid.c — the shim's kept fds (preload/fdid.h).
 * Regression, "the shim used and closed fd numbers the host had closed and
 * reused" (client.c's socket, spool.c's file: the dev+ino check only ran
 * after fork): a kept fd moves to 100 or above; once the host closed it
 * and got the number back for a file of its own, the fd is no longer
 * "ours", and closing it through fdid leaves the host's file open. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "fdid.h"

static void
test_adopt_moves_high(void **state)
{
	struct shim_fd f = SHIM_FD_NONE;
	int fd = open("/dev/null", O_RDONLY);

	assert_true(fd >= 0 && fd < SHIM_FD_MIN);
	assert_int_equal(shim_fd_adopt(&f, fd), 0);
	assert_true(f.fd >= SHIM_FD_MIN);
	assert_int_equal(fcntl(fd, F_GETFD), -1); /* the low one is closed */
	assert_true(fcntl(f.fd, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(shim_fd_ours(&f), 1);
	shim_fd_close(&f);
	assert_int_equal(f.fd, -1);
}

/* The host closes our socket and gets its number back for a socketpair
 * of its own: not ours any more; our close must leave it open. */
static void
test_reused_number_is_not_ours(void **state)
{
	struct shim_fd f = SHIM_FD_NONE;
	int sp[2], num;

	assert_int_equal(shim_fd_adopt(&f, socket(AF_UNIX, SOCK_SEQPACKET,
	    0)), 0);
	num = f.fd;
	close(num); /* the host, e.g. close_range(3, ~0U) */
	assert_int_equal(shim_fd_ours(&f), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	assert_int_equal(dup2(sp[0], num), num);
	assert_int_equal(shim_fd_ours(&f), 0);
	shim_fd_close(&f);
	assert_int_equal(f.fd, -1);
	assert_true(fcntl(num, F_GETFD) >= 0); /* the host's fd: still open */
	assert_int_equal(write(sp[1], "x", 1), 1);
	close(num);
	close(sp[0]);
	close(sp[1]);
}

static void
test_forget_keeps_fd(void **state)
{
	struct shim_fd f = SHIM_FD_NONE;
	int num;

	assert_int_equal(shim_fd_adopt(&f, open("/dev/null", O_RDONLY)), 0);
	num = f.fd;
	shim_fd_forget(&f);
	assert_int_equal(f.fd, -1);
	assert_true(fcntl(num, F_GETFD) >= 0);
	close(num);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_adopt_moves_high),
		cmocka_unit_test(test_reused_number_is_not_ours),
		cmocka_unit_test(test_forget_keeps_fd),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
