/* test_shim_spool.c — the spool record format: CRC-32 reference value,
 * encode/read round trip, and each damaged-file case with the result the
 * replayer acts on (torn tail: skip it; bad record before the end or an
 * unknown version: set the file aside). Also the directory checks, and
 * the file names that carry replay progress and mark files set aside
 * (regression, "one bad or refused record made every call of every
 * shimmed process slow forever": a file is never re-sent from offset 0
 * once a replayer got part way, and a .bad file is never replayed). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "crc32.h"
#include "spool.h"

static char path[] = "/tmp/test_shim_spool.XXXXXX";
static int fd = -1;

static int
setup(void **state)
{
	fd = mkstemp(path);
	return fd < 0;
}

static int
teardown(void **state)
{
	close(fd);
	unlink(path);
	return 0;
}

static void
rec_n(struct tg_record *r, int n)
{
	memset(r, 0, sizeof(*r));
	r->id[15] = (uint8_t)n;
	r->input_tokens = 1000 + n;
	snprintf(r->endpoint, sizeof(r->endpoint), "ep/%d", n);
}

static void
append(int n)
{
	char buf[SPOOL_REC_SIZE];
	struct tg_record r;

	rec_n(&r, n);
	shim_spool_encode(&r, buf);
	/* Like the shim's O_APPEND file: always at the end, after truncation. */
	assert_true(lseek(fd, 0, SEEK_END) >= 0);
	assert_int_equal(write(fd, buf, sizeof(buf)), sizeof(buf));
}

static void
test_crc32_reference(void **state)
{
	assert_int_equal(shim_crc32("123456789", 9), 0xcbf43926u);
	assert_int_equal(shim_crc32("", 0), 0);
}

static void
test_round_trip(void **state)
{
	struct tg_record r;
	const char *why;
	off_t off = 0;

	for (int i = 0; i < 3; i++)
		append(i);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(shim_spool_read(fd, &off, &r, &why), 0);
		assert_int_equal(r.input_tokens, 1000 + i);
		assert_string_equal(r.endpoint, i == 0 ? "ep/0" : i == 1 ?
		    "ep/1" : "ep/2");
	}
	assert_int_equal(off, 3 * SPOOL_REC_SIZE);
	assert_int_equal(shim_spool_read(fd, &off, &r, &why), 1);
}

/* Bytes cut at each point of the last record: always TORN, never BAD. */
static void
test_torn_tail(void **state)
{
	size_t cuts[] = { 1, sizeof(struct spool_hdr) - 1,
		sizeof(struct spool_hdr), sizeof(struct spool_hdr) + 10,
		SPOOL_REC_SIZE - 1 };
	struct tg_record r;
	const char *why;

	for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
		off_t off = 0;

		assert_int_equal(ftruncate(fd, 0), 0);
		append(0);
		append(1);
		assert_int_equal(ftruncate(fd, SPOOL_REC_SIZE + cuts[c]), 0);
		assert_int_equal(shim_spool_read(fd, &off, &r, &why), 0);
		assert_int_equal(shim_spool_read(fd, &off, &r, &why), SPOOL_TORN);
		assert_int_equal(off, SPOOL_REC_SIZE);
	}
}

static void
flip(off_t at)
{
	char b;

	assert_int_equal(pread(fd, &b, 1, at), 1);
	b ^= 0x40;
	assert_int_equal(pwrite(fd, &b, 1, at), 1);
}

static void
test_bad_crc_last_is_torn(void **state)
{
	struct tg_record r;
	const char *why;
	off_t off = SPOOL_REC_SIZE;

	assert_int_equal(ftruncate(fd, 0), 0);
	append(0);
	append(1);
	flip(SPOOL_REC_SIZE + sizeof(struct spool_hdr) + 5);
	assert_int_equal(shim_spool_read(fd, &off, &r, &why), SPOOL_TORN);
	assert_string_equal(why, "record checksum mismatch");
}

static void
test_bad_crc_middle_is_bad(void **state)
{
	struct tg_record r;
	const char *why;
	off_t off = 0;

	assert_int_equal(ftruncate(fd, 0), 0);
	append(0);
	append(1);
	flip(sizeof(struct spool_hdr) + 5);
	assert_int_equal(shim_spool_read(fd, &off, &r, &why), SPOOL_BAD);
	assert_int_equal(off, 0);
}

static void
test_unknown_version_is_bad(void **state)
{
	struct spool_hdr h;
	struct tg_record r;
	const char *why;
	off_t off = 0;

	assert_int_equal(ftruncate(fd, 0), 0);
	append(0);
	assert_int_equal(pread(fd, &h, sizeof(h), 0), sizeof(h));
	h.version = SPOOL_VERSION + 1;
	assert_int_equal(pwrite(fd, &h, sizeof(h), 0), sizeof(h));
	assert_int_equal(shim_spool_read(fd, &off, &r, &why), SPOOL_BAD);
	assert_string_equal(why, "record of an unknown spool version");
}

static void
test_dir_checks(void **state)
{
	char dir[] = "/tmp/test_shim_spooldir.XXXXXX", got[4096], sub[4200];

	assert_non_null(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/a/b", dir);
	setenv("TOLLGATE_SPOOL_DIR", sub, 1);
	assert_int_equal(shim_spool_dir(got, sizeof(got)), 0);
	assert_string_equal(got, sub);
	assert_int_equal(chmod(sub, 0777), 0);
	assert_int_equal(shim_spool_dir(got, sizeof(got)), -1);
	rmdir(sub);
	snprintf(sub, sizeof(sub), "%s/a", dir);
	rmdir(sub);
	rmdir(dir);
	unsetenv("TOLLGATE_SPOOL_DIR");
}

static void
test_spool_names(void **state)
{
	assert_int_equal(shim_spool_is_spool_name("123-0011223344556677.spool"), 1);
	assert_int_equal(shim_spool_is_spool_name("123-0011.2+1072.spool"), 1);
	assert_int_equal(shim_spool_is_spool_name(".123-00.spool.tmp"), 0);
	assert_int_equal(shim_spool_is_spool_name(".x.spool"), 0);
	assert_int_equal(shim_spool_is_spool_name("123-00.spool.bad"), 0);
	assert_int_equal(shim_spool_is_spool_name(".spool"), 0);
	assert_int_equal(shim_spool_is_spool_name("filler"), 0);
}

static void
test_progress_offset(void **state)
{
	assert_int_equal(shim_spool_name_offset("123-00.spool"), 0);
	assert_int_equal(shim_spool_name_offset("123-00+2144.spool"), 2144);
	assert_int_equal(shim_spool_name_offset("123-00.3+1072.spool"), 1072);
	/* Not a whole number of records, or no digits: no progress. */
	assert_int_equal(shim_spool_name_offset("123-00+100.spool"), 0);
	assert_int_equal(shim_spool_name_offset("123-00+.spool"), 0);
	assert_int_equal(shim_spool_name_offset("+1072.spool"), 0);
	assert_int_equal(shim_spool_name_offset("123-00+1072.spool.bad"), 0);
}

static void
test_progress_name(void **state)
{
	char out[SPOOL_NAME_MAX];

	assert_int_equal(shim_spool_progress_name("123-00.spool", 2144, out,
	    sizeof(out)), 0);
	assert_string_equal(out, "123-00+2144.spool");
	assert_int_equal(shim_spool_progress_name("123-00+1072.spool", 3216,
	    out, sizeof(out)), 0);
	assert_string_equal(out, "123-00+3216.spool");
	assert_int_equal(shim_spool_progress_name("123-00.1.spool", 1072, out,
	    sizeof(out)), 0);
	assert_string_equal(out, "123-00.1+1072.spool");
	assert_int_equal(shim_spool_name_offset(out), 1072);
	assert_int_equal(shim_spool_progress_name("123-00.spool", 1072, out,
	    8), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32_reference),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_torn_tail),
		cmocka_unit_test(test_bad_crc_last_is_torn),
		cmocka_unit_test(test_bad_crc_middle_is_bad),
		cmocka_unit_test(test_unknown_version_is_bad),
		cmocka_unit_test(test_dir_checks),
		cmocka_unit_test(test_spool_names),
		cmocka_unit_test(test_progress_offset),
		cmocka_unit_test(test_progress_name),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
