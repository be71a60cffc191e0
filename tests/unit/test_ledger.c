/* test_ledger.c — the SQLite ledger's storage: pragmas, schema versions
 * and migrations, duplicate ids, failed batches. Reports are in
 * test_ledger_report.c. Every number is exact. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "ledger.h"
#include "ledger_private.h"
#include "ledger_fixture.h"
#include "ledger_spec.h"

static sqlite3 *
raw_open(const char *p)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
	return db;
}

static int64_t
raw_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* --- pragmas and schema ------------------------------------------------ */

static void
test_pragmas(void **state)
{
	struct ledger *lg = open_new();
	sqlite3_stmt *st;
	sqlite3 *db;
	int64_t v;

	assert_int_equal(ledger_pragma_int(lg, "synchronous", &v), 0);
	assert_int_equal(v, 2); /* FULL */
	assert_int_equal(ledger_pragma_int(lg, "busy_timeout", &v), 0);
	assert_int_equal(v, 5000);
	assert_int_equal(ledger_pragma_int(lg, "user_version", &v), 0);
	assert_int_equal(v, LEDGER_SCHEMA_VERSION);
	/* journal_mode is text; WAL is a property of the file */
	assert_int_equal(ledger_pragma_int(lg, "journal_mode", &v), -1);
	assert_int_equal(ledger_pragma_int(lg, "user_version; DROP", &v), -1);
	db = raw_open(path);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st,
	    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	sqlite3_close(db);
	assert_int_equal(ledger_count(lg), 0);
	ledger_close(lg);
}

static void
test_reopen_idempotent(void **state)
{
	struct spec s[2] = {
		{ 1, T0 + MIN, NULL, NULL, NULL, 1000, 10, 20, 300 },
		{ 2, T0 + 2 * MIN, NULL, NULL, NULL, 1000, 30, 40, 700 },
	};
	struct ledger *lg = open_new();
	char err[512] = "", p[PATH_MAX];
	int ins[2];
	int64_t v;
	json_t *doc;

	insert_specs(lg, s, 2, ins);
	ledger_close(lg);
	snprintf(p, sizeof(p), "%s", path);
	for (int i = 0; i < 2; i++) {
		lg = ledger_open(p, err, sizeof(err));
		assert_non_null(lg);
		assert_int_equal(ledger_count(lg), 2);
		assert_int_equal(ledger_pragma_int(lg, "user_version", &v), 0);
		assert_int_equal(v, 1);
		doc = report(lg, T0, T0 + HOUR, "", NULL, 0, 0);
		assert_int_equal(jint(totals(doc), "cost_nano_usd"), 1000);
		json_decref(doc);
		ledger_close(lg);
	}
}

static void
test_newer_version_refused(void **state)
{
	char err[512] = "", want[PATH_MAX + 128];
	sqlite3 *db = raw_open(new_path());

	assert_int_equal(sqlite3_exec(db, "CREATE TABLE x(a);"
	    "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_null(ledger_open(path, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: schema version 99 is newer than "
	    "this tollgated knows (1); run a newer tollgated or move the file "
	    "away", path);
	assert_string_equal(err, want);
	/* and the file was not touched */
	db = raw_open(path);
	assert_int_equal(raw_int(db, "PRAGMA user_version"), 99);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_master "
	    "WHERE name = 'records'"), 0);
	sqlite3_close(db);
}

/* The mechanism for the next schema: a v1 ledger with data gains a v2
 * step; a broken step rolls back whole. */
static void
test_migration_steps(void **state)
{
	const struct ledger_step v2[] = { ledger_steps[0],
		{ 2, "ALTER TABLE records ADD COLUMN note TEXT NOT NULL "
		    "DEFAULT 'v2'; CREATE TABLE extra (a INTEGER);" } };
	const struct ledger_step v3[] = { v2[0], v2[1],
		{ 3, "CREATE TABLE three (a); THIS IS NOT SQL" } };
	struct spec s[2] = {
		{ 1, T0, NULL, NULL, NULL, 0, 1, 1, 5 },
		{ 2, T0, NULL, NULL, NULL, 0, 1, 1, 6 },
	};
	struct ledger *lg = open_new();
	char err[512] = "", want[PATH_MAX + 64];
	sqlite3 *db;
	int ins[2];

	insert_specs(lg, s, 2, ins);
	ledger_close(lg);
	db = raw_open(path);
	assert_int_equal(ledger_migrate(db, path, v2, 2, err, sizeof(err)), 0);
	assert_int_equal(raw_int(db, "PRAGMA user_version"), 2);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM records "
	    "WHERE note = 'v2'"), 2);
	assert_int_equal(raw_int(db, "SELECT sum(cost_nano_usd) FROM "
	    "rollups_hourly"), 11);
	/* again: nothing to do */
	assert_int_equal(ledger_migrate(db, path, v2, 2, err, sizeof(err)), 0);
	assert_int_equal(raw_int(db, "PRAGMA user_version"), 2);
	/* a failing step leaves version 2 and no trace of step 3 */
	assert_int_equal(ledger_migrate(db, path, v3, 3, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: migration to schema version 3 "
	    "failed: ", path);
	assert_memory_equal(err, want, strlen(want));
	assert_int_equal(raw_int(db, "PRAGMA user_version"), 2);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_master "
	    "WHERE name = 'three'"), 0);
	sqlite3_close(db);
	/* this build knows version 1 only */
	assert_null(ledger_open(path, err, sizeof(err)));
}

/* --- inserts ----------------------------------------------------------- */

static void
test_duplicate_ids(void **state)
{
	struct spec s[3] = {
		{ 1, T0 + MIN, NULL, NULL, NULL, 0, 100, 10, 1000 },
		{ 2, T0 + 2 * MIN, NULL, NULL, NULL, 0, 200, 20, 2000 },
		{ 1, T0 + 3 * MIN, NULL, NULL, NULL, 0, 999, 99, 9999 },
	};
	struct ledger *lg = open_new();
	sqlite3_stmt *st;
	json_t *doc;
	sqlite3 *db;
	int ins[3];

	insert_specs(lg, s, 3, ins);
	assert_int_equal(ins[0], 1);
	assert_int_equal(ins[1], 1);
	assert_int_equal(ins[2], 0); /* same id in the same batch */
	insert_specs(lg, s, 2, ins);
	assert_int_equal(ins[0], 0); /* a replay of committed ids */
	assert_int_equal(ins[1], 0);
	assert_int_equal(ledger_count(lg), 2);

	doc = report(lg, T0, T0 + HOUR, "", NULL, 0, 0); /* from rollups */
	assert_int_equal(jint(totals(doc), "requests"), 2);
	assert_int_equal(jint(totals(doc), "input_tokens"), 300);
	assert_int_equal(jint(totals(doc), "cost_nano_usd"), 3000);
	json_decref(doc);
	doc = report(lg, T0 + 1, T0 + HOUR, "", NULL, 0, 0); /* from raw */
	assert_int_equal(jint(totals(doc), "requests"), 2);
	assert_int_equal(jint(totals(doc), "cost_nano_usd"), 3000);
	json_decref(doc);

	db = raw_open(path);
	assert_int_equal(raw_int(db, "SELECT count(DISTINCT id) FROM records"),
	    2);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT id FROM records "
	    "ORDER BY id", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	/* id 1 little-endian in bytes 0..7, 0xab in byte 15 */
	assert_string_equal((const char *)sqlite3_column_text(st, 0),
	    "010000000000000000000000000000ab");
	sqlite3_finalize(st);
	sqlite3_close(db);
	ledger_close(lg);
}

static void
test_failed_batch_rolls_back(void **state)
{
	struct spec s[3] = {
		{ 1, T0, "gpt-4o", NULL, NULL, 0, 1, 1, 10 },
		{ 2, T0, "boom", NULL, NULL, 0, 1, 1, 20 },
		{ 3, T0, "gpt-4o", NULL, NULL, 0, 1, 1, 30 },
	};
	struct ledger_entry e[3];
	struct ledger *lg = open_new();
	int ins[3] = { 7, 7, 7 };
	sqlite3 *db;
	json_t *doc;

	db = raw_open(path);
	assert_int_equal(sqlite3_exec(db, "CREATE TRIGGER boom BEFORE INSERT "
	    "ON records WHEN new.model = 'boom' BEGIN "
	    "SELECT RAISE(ABORT, 'boom'); END", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	for (int i = 0; i < 3; i++)
		entry(&e[i], &s[i]);
	assert_int_equal(ledger_insert(lg, e, 3, ins), -1);
	assert_int_equal(ins[0], 0);
	assert_int_equal(ins[2], 0);
	assert_int_equal(ledger_count(lg), 0);
	doc = report(lg, T0, T0 + HOUR, "", NULL, 0, 0);
	assert_int_equal(jint(totals(doc), "requests"), 0);
	json_decref(doc);
	/* the ledger is usable afterwards */
	assert_int_equal(ledger_insert(lg, &e[0], 1, ins), 0);
	assert_int_equal(ins[0], 1);
	ledger_close(lg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pragmas),
		cmocka_unit_test(test_reopen_idempotent),
		cmocka_unit_test(test_newer_version_refused),
		cmocka_unit_test(test_migration_steps),
		cmocka_unit_test(test_duplicate_ids),
		cmocka_unit_test(test_failed_batch_rolls_back),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
