/* test_shim_real.c — real.c resolves the next definition of a symbol and
 * refuses one that lives in our own object (a circular reference). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <dlfcn.h>
#include <unistd.h>
#include <cmocka.h>

#include "real.h"

static void
test_next_is_libc(void **state)
{
	void *p = shim_real_lookup("getpid");

	assert_non_null(p);
	assert_int_equal(shim_real_is_ours(p), 0);
	assert_int_equal(((pid_t (*)(void))p)(), getpid());
}

static void
test_own_symbol_is_ours(void **state)
{
	/* This binary links real.o statically: its functions are "ours". */
	assert_int_equal(shim_real_is_ours((void *)shim_real_lookup), 1);
	assert_int_equal(shim_real_is_ours((void *)test_own_symbol_is_ours), 1);
	assert_int_equal(shim_real_is_ours(dlsym(RTLD_DEFAULT, "dlsym")), 0);
}

static void
test_missing_is_null(void **state)
{
	assert_null(shim_real_lookup("tollgate_no_such_symbol_anywhere"));
}

static void
test_init_fills_table(void **state)
{
	shim_real_init();
	assert_ptr_equal((void *)shim_real.write, dlsym(RTLD_NEXT, "write"));
	assert_int_equal(shim_real.write(1, "", 0), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_next_is_libc),
		cmocka_unit_test(test_own_symbol_is_ours),
		cmocka_unit_test(test_missing_is_null),
		cmocka_unit_test(test_init_fills_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
