/* test_shim_config.c — the shim's environment: TOLLGATE_TAGS and
 * TOLLGATE_RUN validation (table: input, expected), and the fallback of
 * every variable for a value the shim does not understand. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "proto.h"

static void
test_tags(void **state)
{
	static const struct { const char *in; int ok; } t[] = {
		{ "", 1 },
		{ "team=search", 1 },
		{ "team=search,purpose=batch", 1 },
		{ "k.v_1=a/b:c@d+e-f", 1 },
		{ "team", 0 },
		{ "=x", 0 },
		{ "team=", 0 },
		{ "a=b,", 0 },
		{ ",a=b", 0 },
		{ "a=b,,c=d", 0 },
		{ "a=b=c", 0 },
		{ "a b=c", 0 },
		{ "a=\"x\"", 0 },
		{ "a=b;c=d", 0 },
	};
	char big[300];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (shim_tags_valid(t[i].in) != t[i].ok)
			fail_msg("tags \"%s\": want %d", t[i].in, t[i].ok);
	/* 255 bytes is the limit. */
	memset(big, 'v', sizeof(big));
	memcpy(big, "k=", 2);
	big[255] = '\0';
	assert_int_equal(shim_tags_valid(big), 1);
	big[255] = 'v';
	big[256] = '\0';
	assert_int_equal(shim_tags_valid(big), 0);
}

static void
test_run(void **state)
{
	assert_int_equal(shim_run_valid("run-1a2b_3"), 1);
	assert_int_equal(shim_run_valid(""), 0);
	assert_int_equal(shim_run_valid("a b"), 0);
	assert_int_equal(shim_run_valid("../x"), 0);
	assert_int_equal(shim_run_valid(
	    "0123456789012345678901234567890123456789"), 0); /* 40 chars */
	assert_int_equal(shim_run_valid(
	    "012345678901234567890123456789012345678"), 1);  /* 39 */
}

static const char **env_now;

static const char *
env_get(const char *name)
{
	for (const char **e = env_now; *e; e += 2)
		if (strcmp(e[0], name) == 0)
			return e[1];
	return NULL;
}

static void
test_fallbacks(void **state)
{
	const char *bad[] = { "TOLLGATE_MODE", "audit", "TOLLGATE_TIMEOUT_MS",
		"50ms", "TOLLGATE_FAIL", "shut", "TOLLGATE_TAGS", "team",
		"TOLLGATE_RUN", "a/b", NULL };
	const char *good[] = { "TOLLGATE_MODE", "observe", "TOLLGATE_TIMEOUT_MS",
		"250", "TOLLGATE_FAIL", "closed", "TOLLGATE_TAGS", "team=x",
		"TOLLGATE_RUN", "r1", NULL };
	struct shim_config c;

	setenv("TOLLGATE_SOCKET", "/tmp/x.sock", 1);
	env_now = bad;
	shim_config_load(&c, env_get);
	assert_int_equal(c.mode, TG_MODE_ENFORCE);
	assert_int_equal(c.timeout_ms, 50);
	assert_int_equal(c.fail_closed, 0);
	assert_string_equal(c.tags, "");
	assert_string_equal(c.run, "");
	assert_string_equal(c.socket, "/tmp/x.sock");

	env_now = good;
	shim_config_load(&c, env_get);
	assert_int_equal(c.mode, TG_MODE_OBSERVE);
	assert_int_equal(c.timeout_ms, 250);
	assert_int_equal(c.fail_closed, 1);
	assert_string_equal(c.tags, "team=x");
	assert_string_equal(c.run, "r1");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tags),
		cmocka_unit_test(test_run),
		cmocka_unit_test(test_fallbacks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
