/* test_cli_grammar.c — tollctl's command table (unique prefixes), the
 * --tags grammar and the cgroup v2 file parsers of `tollctl run`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "cli.h"
#include "run.h"

static void
test_lookup(void **state)
{
	static const struct { const char *word, *want; int ambiguous; } cases[] = {
		{ "status", "status", 0 }, { "st", "status", 0 }, { "s", "status", 0 },
		{ "report", "report", 0 }, { "rep", "report", 0 }, { "ru", "run", 0 },
		{ "run", "run", 0 }, { "t", "top", 0 }, { "top", "top", 0 },
		{ "r", NULL, 1 }, { "x", NULL, 0 }, { "", NULL, 0 },
		{ "statusx", NULL, 0 }, { "Status", NULL, 0 },
	};
	const struct cli_cmd *c;
	int amb;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		c = cli_lookup(cases[i].word, &amb);
		if (cases[i].want == NULL)
			assert_null(c);
		else
			assert_string_equal(c->name, cases[i].want);
		assert_int_equal(amb, cases[i].ambiguous);
	}
}

static void
test_tags(void **state)
{
	static const char *good[] = { "team=search", "team=search,purpose=batch",
		"a=b", "k.x-y_z=v/1:2@3+4" };
	static const char *bad[] = { "", "team", "team=", "=x", "a=b,", ",a=b",
		"a=b,,c=d", "a=b c", "a=b=c", "t\xc3\xa9=x", "a=b;c" };

	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++)
		assert_int_equal(run_tags_valid(good[i]), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		if (run_tags_valid(bad[i]) != -1)
			fail_msg("accepted '%s'", bad[i]);
}

static void
test_cgroup_parse(void **state)
{
	const char *mounts =
	    "sysfs /sys sysfs rw,nosuid 0 0\n"
	    "tmpfs /sys/fs/cgroup tmpfs ro 0 0\n"
	    "cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\n"
	    "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nsdelegate 0 0\n";
	char buf[256];

	assert_int_equal(cgroup_mount_parse(mounts, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/sys/fs/cgroup/unified");
	assert_int_equal(cgroup_mount_parse("proc /proc proc rw 0 0\n", buf,
	    sizeof(buf)), -1);
	assert_int_equal(cgroup_mount_parse(mounts, buf, 10), -1);

	assert_int_equal(cgroup_self_parse("12:cpu:/x\n0::/user.slice/s-1.scope\n",
	    buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/user.slice/s-1.scope");
	assert_int_equal(cgroup_self_parse("0::/", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/");
	assert_int_equal(cgroup_self_parse("1:name=systemd:/\n", buf,
	    sizeof(buf)), -1);
	assert_int_equal(cgroup_self_parse("0::\n", buf, sizeof(buf)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_tags),
		cmocka_unit_test(test_cgroup_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
