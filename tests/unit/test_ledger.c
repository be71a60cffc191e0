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
		assert_int_equal(v, LEDGER_SCHEMA_VERSION);
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
	    "this tollgated knows (%d); run a newer tollgated or move the file "
	    "away", path, LEDGER_SCHEMA_VERSION);
	assert_string_equal(err, want);
	/* and the file was not touched */
	db = raw_open(path);
	assert_int_equal(raw_int(db, "PRAGMA user_version"), 99);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_master "
	    "WHERE name = 'records'"), 0);
	sqlite3_close(db);
}

/* The mechanism for the next schema: a ledger of this build with data
 * gains a next step; a broken step rolls back whole. */
#define CUR LEDGER_SCHEMA_VERSION
static void
test_migration_steps(void **state)
{
	struct ledger_step next[CUR + 1], broken[CUR + 2];
	struct spec s[2] = {
		{ 1, T0, NULL, NULL, NULL, 0, 1, 1, 5 },
		{ 2, T0, NULL, NULL, NULL, 0, 1, 1, 6 },
	};
	struct ledger *lg = open_new();
	char err[512] = "", want[PATH_MAX + 64];
	sqlite3 *db;
	int ins[2];

	assert_int_equal(ledger_nsteps, CUR);
	memcpy(next, ledger_steps, CUR * sizeof(*next));
	next[CUR].to = CUR + 1;
	next[CUR].sql = "ALTER TABLE records ADD COLUMN note TEXT NOT NULL "
	    "DEFAULT 'next'; CREATE TABLE extra (a INTEGER);";
	memcpy(broken, next, sizeof(next));
	broken[CUR + 1].to = CUR + 2;
	broken[CUR + 1].sql = "CREATE TABLE three (a); THIS IS NOT SQL";
	insert_specs(lg, s, 2, ins);
	ledger_close(lg);
	db = raw_open(path);
	assert_int_equal(ledger_migrate(db, path, next, CUR + 1, err,
	    sizeof(err)), 0);
	assert_int_equal(raw_int(db, "PRAGMA user_version"), CUR + 1);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM records "
	    "WHERE note = 'next'"), 2);
	assert_int_equal(raw_int(db, "SELECT sum(cost_nano_usd) FROM "
	    "rollups_hourly"), 11);
	/* again: nothing to do */
	assert_int_equal(ledger_migrate(db, path, next, CUR + 1, err,
	    sizeof(err)), 0);
	assert_int_equal(raw_int(db, "PRAGMA user_version"), CUR + 1);
	/* a failing step leaves the version and no trace of its step */
	assert_int_equal(ledger_migrate(db, path, broken, CUR + 2, err,
	    sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: migration to schema version %d "
	    "failed: ", path, CUR + 2);
	assert_memory_equal(err, want, strlen(want));
	assert_int_equal(raw_int(db, "PRAGMA user_version"), CUR + 1);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_master "
	    "WHERE name = 'three'"), 0);
	sqlite3_close(db);
	/* this build knows up to CUR only */
	assert_null(ledger_open(path, err, sizeof(err)));
}

/* Regression (issue 5): schema v1 counted every record in requests, so
 * each GPU record (one per device per --gpu-interval) was a "request".
 * A v1 ledger holding 2 LLM and 3 GPU records, opened by this build, is
 * upgraded: its rollups and its trigger count the LLM records only, and
 * the GPU records keep their launches and cost. */
static void
test_v1_gpu_requests_upgrade(void **state)
{
	char err[512] = "", ins[512];
	struct spec s = { 9, T0 + 2 * MIN, NULL, NULL, NULL, 0, 10, 5, 100 };
	struct ledger_entry e[2];
	struct ledger *lg;
	int ok[2];
	json_t *doc;
	sqlite3 *db = raw_open(new_path());

	assert_int_equal(ledger_migrate(db, path, ledger_steps, 1, err,
	    sizeof(err)), 0);
	for (int i = 1; i <= 5; i++) {
		/* records 1, 2: LLM, 1000 nano-USD; 3..5: GPU, 7 launches
		 * and 2,990,000,000 nano-USD (an H100 hour) each */
		snprintf(ins, sizeof(ins), "INSERT INTO records (id, "
		    "event_time_ns, uid, source, kind, provider, model, "
		    "gpu_launches, cost_nano_usd) VALUES ('%032d', %lld, 0, "
		    "'shim', '%s', '%s', '%s', %d, %lld)", i, T0 + i * SEC,
		    i <= 2 ? "llm" : "gpu", i <= 2 ? "openai" : "nvidia",
		    i <= 2 ? "gpt-4o" : "H100", i <= 2 ? 0 : 7,
		    i <= 2 ? 1000LL : 2990000000LL);
		assert_int_equal(sqlite3_exec(db, ins, NULL, NULL, NULL),
		    SQLITE_OK);
	}
	/* what v1 summed: 5 "requests" */
	assert_int_equal(raw_int(db, "SELECT sum(requests) FROM "
	    "rollups_hourly"), 5);
	sqlite3_close(db);

	lg = ledger_open(path, err, sizeof(err));
	assert_non_null(lg);
	/* one more of each kind through this build's trigger: an LLM record
	 * of 100 nano-USD, a GPU one of 7 launches and an H100 hour */
	entry(&e[0], &s);
	s.id = 10;
	entry(&e[1], &s);
	e[1].rec.kind = TG_KIND_GPU;
	e[1].rec.input_tokens = e[1].rec.output_tokens = 0;
	e[1].rec.gpu_launches = 7;
	e[1].cost_nano_usd = 2990000000LL;
	assert_int_equal(ledger_insert(lg, e, 2, ok), 0);
	assert_int_equal(ok[0] + ok[1], 2);
	/* from the rollups (whole hour) and from the raw records */
	for (int64_t since = T0; since <= T0 + 1; since++) {
		doc = report(lg, since, T0 + HOUR, "", NULL, 0, 0);
		assert_int_equal(jint(totals(doc), "requests"), 3);
		assert_int_equal(jint(totals(doc), "gpu_launches"), 28);
		assert_int_equal(jint(totals(doc), "cost_nano_usd"),
		    2 * 1000 + 100 + 4 * 2990000000LL);
		/* its tokens are the LLM records' only (15) */
		assert_int_equal(jint(totals(doc), "input_tokens"), 10);
		assert_int_equal(jint(totals(doc), "output_tokens"), 5);
		json_decref(doc);
	}
	ledger_close(lg);
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
		cmocka_unit_test(test_v1_gpu_requests_upgrade),
		cmocka_unit_test(test_duplicate_ids),
		cmocka_unit_test(test_failed_batch_rolls_back),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
