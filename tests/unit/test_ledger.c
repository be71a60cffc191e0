/* test_ledger.c — the SQLite ledger: pragmas, schema versions and
 * migrations, duplicate ids, rollups vs raw records, retention, a year of
 * data, report grouping and filters. Every number is exact. */
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

#define SEC 1000000000LL
#define MIN (60 * SEC)
#define HOUR (3600 * SEC)
#define T0 (1757030400LL * SEC) /* 2025-09-05T00:00:00Z */

static char dir[] = "/tmp/test_ledger.XXXXXX";
static char path[PATH_MAX];
static int dbno;

static int
setup(void **state)
{
	return mkdtemp(dir) ? 0 : -1;
}

static int
teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A fresh database file name per test. */
static const char *
new_path(void)
{
	snprintf(path, sizeof(path), "%s/ledger%d.db", dir, ++dbno);
	return path;
}

static struct ledger *
open_new(void)
{
	char err[512] = "";
	struct ledger *lg = ledger_open(new_path(), err, sizeof(err));

	if (lg == NULL)
		fail_msg("ledger_open: %s", err);
	return lg;
}

struct spec {
	uint64_t id;
	int64_t t;
	const char *model, *tags, *run;
	uint32_t uid;
	uint64_t in, out;
	int64_t cost;
};

static void
entry(struct ledger_entry *e, const struct spec *s)
{
	memset(e, 0, sizeof(*e));
	memcpy(e->rec.id, &s->id, sizeof(s->id));
	e->rec.id[15] = 0xab; /* exercise the high bytes too */
	e->rec.event_time_ns = s->t;
	e->rec.kind = TG_KIND_LLM;
	e->rec.source = TG_SOURCE_SHIM;
	e->rec.http_status = 200;
	e->rec.input_tokens = s->in;
	e->rec.output_tokens = s->out;
	tg_strlcpy(e->rec.provider, "openai", sizeof(e->rec.provider));
	tg_strlcpy(e->rec.model, s->model ? s->model : "gpt-4o",
	    sizeof(e->rec.model));
	tg_strlcpy(e->rec.tags, s->tags ? s->tags : "", sizeof(e->rec.tags));
	tg_strlcpy(e->rec.run, s->run ? s->run : "", sizeof(e->rec.run));
	tg_strlcpy(e->rec.decision, "allow", sizeof(e->rec.decision));
	e->uid = s->uid;
	e->pid = 4242;
	e->cost_nano_usd = s->cost;
}

static void
insert_specs(struct ledger *lg, const struct spec *s, size_t n, int *ins)
{
	struct ledger_entry *e = calloc(n, sizeof(*e));
	size_t i;

	assert_non_null(e);
	for (i = 0; i < n; i++)
		entry(&e[i], &s[i]);
	assert_int_equal(ledger_insert(lg, e, n, ins), 0);
	free(e);
}

static json_t *
report(struct ledger *lg, int64_t since, int64_t until, const char *by,
    const char *run, int has_uid, uint32_t uid)
{
	struct ledger_query q = { since, until, by, run, has_uid, uid };
	char err[512] = "";
	json_t *doc = ledger_report(lg, &q, err, sizeof(err));

	if (doc == NULL)
		fail_msg("ledger_report: %s", err);
	return doc;
}

static int64_t
jint(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	if (!json_is_integer(v))
		fail_msg("%s: not an integer", k);
	return json_integer_value(v);
}

static json_t *
totals(json_t *doc)
{
	return json_object_get(doc, "totals");
}

static json_t *
row(json_t *doc, size_t i)
{
	return json_array_get(json_object_get(doc, "rows"), i);
}

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

/* --- reports: rollups, raw edges, retention ---------------------------- */

#define NEDGE 60

static void
edge_specs(struct spec *s)
{
	for (int k = 0; k < NEDGE; k++) {
		s[k] = (struct spec){ 100 + k, T0 + k * 7 * MIN,
		    k % 2 ? "gpt-4o" : "gpt-4o-mini", NULL, NULL, 0,
		    1000 + k, 50 + k, 12345 + 1000 * k };
	}
}

/* Brute force over the specs: requests, input, output, cost. */
static void
expect(const struct spec *s, size_t n, int64_t since, int64_t until,
    int64_t out[4])
{
	memset(out, 0, 4 * sizeof(out[0]));
	for (size_t i = 0; i < n; i++) {
		if (s[i].t < since || s[i].t >= until)
			continue;
		out[0]++;
		out[1] += s[i].in;
		out[2] += s[i].out;
		out[3] += s[i].cost;
	}
}

static void
check_totals(json_t *doc, const int64_t want[4])
{
	json_t *t = totals(doc);

	assert_int_equal(jint(t, "requests"), want[0]);
	assert_int_equal(jint(t, "input_tokens"), want[1]);
	assert_int_equal(jint(t, "output_tokens"), want[2]);
	assert_int_equal(jint(t, "cost_nano_usd"), want[3]);
}

static void
test_report_edges_and_retain(void **state)
{
	struct spec s[NEDGE];
	struct ledger *lg = open_new();
	int64_t want[4], since = T0 + 25 * MIN, until = T0 + 5 * HOUR + 10 * MIN;
	int ins[NEDGE];
	json_t *doc;

	edge_specs(s);
	insert_specs(lg, s, NEDGE, ins);
	/* partial edges from raw, hours 1..4 from rollups */
	expect(s, NEDGE, since, until, want);
	assert_true(want[0] > 0 && want[0] < NEDGE);
	doc = report(lg, since, until, "", NULL, 0, 0);
	check_totals(doc, want);
	json_decref(doc);
	/* no whole hour inside: all raw */
	expect(s, NEDGE, T0 + 61 * MIN, T0 + 119 * MIN, want);
	doc = report(lg, T0 + 61 * MIN, T0 + 119 * MIN, "", NULL, 0, 0);
	check_totals(doc, want);
	json_decref(doc);
	/* an empty range */
	doc = report(lg, since, since, "", NULL, 0, 0);
	assert_int_equal(jint(totals(doc), "requests"), 0);
	assert_int_equal(json_array_size(json_object_get(doc, "rows")), 0);
	json_decref(doc);

	/* aligned range: same numbers before and after the raw rows go */
	expect(s, NEDGE, T0 + HOUR, T0 + 5 * HOUR, want);
	doc = report(lg, T0 + HOUR, T0 + 5 * HOUR, "model", NULL, 0, 0);
	check_totals(doc, want);
	json_decref(doc);
	assert_int_equal(ledger_retain(lg, T0 + 6 * HOUR), 0);
	assert_int_equal(ledger_count(lg), 8); /* k*7 min >= 360 min: k = 52..59 */
	doc = report(lg, T0 + HOUR, T0 + 5 * HOUR, "model", NULL, 0, 0);
	check_totals(doc, want);
	json_decref(doc);
	/* documented: retained partial edges count nothing */
	doc = report(lg, since, until, "", NULL, 0, 0);
	check_totals(doc, want);
	json_decref(doc);
	/* the whole history is still there through rollups */
	expect(s, NEDGE, T0, T0 + 7 * HOUR, want);
	doc = report(lg, T0, T0 + 7 * HOUR, "", NULL, 0, 0);
	check_totals(doc, want);
	assert_int_equal(want[0], NEDGE);
	json_decref(doc);
	ledger_close(lg);
}

/* Every tier boundary: days, hours and raw edges against brute force. */
static void
test_report_tiers_sweep(void **state)
{
	enum { N = 3 * 24 * 60 / 37 + 1 };
	static const int64_t cuts[] = { 0, 1, 5 * HOUR, 5 * HOUR + 59 * MIN,
		24 * HOUR - 1, 24 * HOUR, 24 * HOUR + 1, 27 * HOUR + 7 * MIN,
		48 * HOUR, 49 * HOUR, 71 * HOUR + 30 * MIN, 72 * HOUR };
	const size_t ncuts = sizeof(cuts) / sizeof(cuts[0]);
	struct spec s[N];
	struct ledger *lg = open_new();
	int64_t want[4];
	int ins[N];
	size_t i, j;
	json_t *doc;

	for (i = 0; i < N; i++)
		s[i] = (struct spec){ 1000 + i, T0 + (int64_t)i * 37 * MIN,
		    i % 3 ? "gpt-4o" : "o1", NULL, NULL, 0, 10 + i, 1 + i % 5,
		    777 + 13 * (int64_t)i };
	insert_specs(lg, s, N, ins);
	for (i = 0; i < ncuts; i++)
		for (j = i; j < ncuts; j++) {
			expect(s, N, T0 + cuts[i], T0 + cuts[j], want);
			doc = report(lg, T0 + cuts[i], T0 + cuts[j], "model",
			    NULL, 0, 0);
			check_totals(doc, want);
			json_decref(doc);
		}
	/* raw records gone: hour-aligned ranges still exact */
	assert_int_equal(ledger_retain(lg, T0 + 73 * HOUR), 0);
	assert_int_equal(ledger_count(lg), 0);
	for (i = 0; i < 24 * 3; i += 5)
		for (j = i; j <= 24 * 3; j += 7) {
			expect(s, N, T0 + i * HOUR, T0 + j * HOUR, want);
			doc = report(lg, T0 + i * HOUR, T0 + j * HOUR, "", NULL,
			    0, 0);
			check_totals(doc, want);
			json_decref(doc);
		}
	ledger_close(lg);
}

#define YEAR_HOURS 8760
#define NMODELS 3

static void
test_year(void **state)
{
	static const char *const models[NMODELS] = { "gpt-4o", "gpt-4o-mini",
		"claude-3-5-sonnet-20241022" };
	int64_t want[NMODELS][4], month[4], mstart = T0 + 100 * HOUR;
	struct ledger *lg = open_new();
	struct spec *s;
	size_t n = YEAR_HOURS * NMODELS, i, done;
	int *ins;
	json_t *doc, *r;

	s = calloc(n, sizeof(*s));
	ins = calloc(n, sizeof(*ins));
	memset(want, 0, sizeof(want));
	memset(month, 0, sizeof(month));
	for (i = 0; i < n; i++) {
		int h = i / NMODELS, m = i % NMODELS;

		s[i] = (struct spec){ i + 1, T0 + h * HOUR + 30 * MIN, models[m],
		    NULL, NULL, 0, 1000 + h % 7, 100 + m, 2500 * (h % 11) + m };
		want[m][0]++;
		want[m][1] += s[i].in;
		want[m][2] += s[i].out;
		want[m][3] += s[i].cost;
		if (s[i].t >= mstart && s[i].t < mstart + 720 * HOUR) {
			month[0]++;
			month[1] += s[i].in;
			month[2] += s[i].out;
			month[3] += s[i].cost;
		}
	}
	for (done = 0; done < n; done += 512)
		insert_specs(lg, s + done, n - done < 512 ? n - done : 512,
		    ins + done);
	assert_int_equal(ledger_count(lg), n);
	assert_int_equal(ledger_retain(lg, T0 + YEAR_HOURS * HOUR), 0);
	assert_int_equal(ledger_count(lg), 0);

	doc = report(lg, T0, T0 + YEAR_HOURS * HOUR, "model", NULL, 0, 0);
	assert_int_equal(jint(totals(doc), "requests"), n);
	assert_int_equal(json_array_size(json_object_get(doc, "rows")),
	    NMODELS);
	for (i = 0; i < NMODELS; i++) {
		const char *name;
		int m;

		r = row(doc, i);
		name = json_string_value(json_object_get(r, "model"));
		for (m = 0; m < NMODELS && strcmp(models[m], name); m++)
			;
		assert_true(m < NMODELS);
		assert_int_equal(jint(r, "requests"), want[m][0]);
		assert_int_equal(jint(r, "input_tokens"), want[m][1]);
		assert_int_equal(jint(r, "output_tokens"), want[m][2]);
		assert_int_equal(jint(r, "cost_nano_usd"), want[m][3]);
	}
	json_decref(doc);
	doc = report(lg, mstart, mstart + 720 * HOUR, "", NULL, 0, 0);
	check_totals(doc, month);
	json_decref(doc);
	free(s);
	free(ins);
	ledger_close(lg);
}

/* --- grouping and filters ---------------------------------------------- */

static void
test_tags_and_share(void **state)
{
	struct spec s[] = {
		{ 1, T0 + MIN, "gpt-4o", "team=search,purpose=batch", NULL, 0, 10, 1, 100 },
		{ 2, T0 + MIN, "gpt-4o", "purpose=x,team=ads", NULL, 0, 20, 2, 300 },
		{ 3, T0 + MIN, "gpt-4o-mini", "", NULL, 0, 30, 3, 50 },
		{ 4, T0 + MIN, "gpt-4o-mini", "purpose=x", NULL, 0, 40, 4, 50 },
		{ 5, T0 + MIN, "o1", "team=search", NULL, 0, 50, 5, 300 },
		{ 6, T0 + MIN, "o1", "team=", NULL, 0, 60, 6, 0 },
	};
	struct ledger *lg = open_new();
	int ins[6];
	json_t *doc, *r;

	insert_specs(lg, s, 6, ins);
	doc = report(lg, T0, T0 + HOUR, "tag:team", NULL, 0, 0);
	assert_int_equal(json_array_size(json_object_get(doc, "rows")), 3);
	/* cost desc: search 400, ads 300, (untagged) 100 */
	r = row(doc, 0);
	assert_string_equal(json_string_value(json_object_get(r, "team")),
	    "search");
	assert_int_equal(jint(r, "requests"), 2);
	assert_int_equal(jint(r, "cost_nano_usd"), 400);
	assert_int_equal(jint(r, "input_tokens"), 60);
	r = row(doc, 1);
	assert_string_equal(json_string_value(json_object_get(r, "team")),
	    "ads");
	assert_int_equal(jint(r, "cost_nano_usd"), 300);
	r = row(doc, 2);
	assert_string_equal(json_string_value(json_object_get(r, "team")),
	    "(untagged)");
	assert_int_equal(jint(r, "requests"), 3);
	assert_int_equal(jint(r, "cost_nano_usd"), 100);
	assert_int_equal(jint(totals(doc), "cost_nano_usd"), 800);
	/* only record 3 has no tags at all: 50 / 800 */
	assert_true(json_real_value(json_object_get(doc,
	    "untagged_cost_share")) == 50.0 / 800.0);
	json_decref(doc);

	/* same share from raw records (non-aligned bounds) */
	doc = report(lg, T0 + 1, T0 + HOUR, "tag:purpose", NULL, 0, 0);
	assert_true(json_real_value(json_object_get(doc,
	    "untagged_cost_share")) == 50.0 / 800.0);
	/* (untagged) 350 ties x 350 (key order breaks it), batch 100 */
	r = row(doc, 0);
	assert_string_equal(json_string_value(json_object_get(r, "purpose")),
	    "(untagged)");
	assert_int_equal(jint(r, "cost_nano_usd"), 350);
	assert_int_equal(jint(r, "requests"), 3);
	r = row(doc, 1);
	assert_string_equal(json_string_value(json_object_get(r, "purpose")),
	    "x");
	assert_int_equal(jint(r, "cost_nano_usd"), 350);
	r = row(doc, 2);
	assert_string_equal(json_string_value(json_object_get(r, "purpose")),
	    "batch");
	json_decref(doc);

	/* by model, cost desc: gpt-4o 400, o1 300, gpt-4o-mini 100 */
	doc = report(lg, T0, T0 + HOUR, "model", NULL, 0, 0);
	assert_string_equal(json_string_value(json_object_get(row(doc, 0),
	    "model")), "gpt-4o");
	assert_string_equal(json_string_value(json_object_get(row(doc, 1),
	    "model")), "o1");
	assert_string_equal(json_string_value(json_object_get(row(doc, 2),
	    "model")), "gpt-4o-mini");
	json_decref(doc);
	ledger_close(lg);
}

static void
test_sort_ties_and_one_row(void **state)
{
	struct spec s[] = {
		{ 1, T0, "b-model", NULL, NULL, 0, 1, 1, 100 },
		{ 2, T0, "a-model", NULL, NULL, 0, 1, 1, 100 },
		{ 3, T0, "c-model", NULL, NULL, 0, 1, 1, 200 },
	};
	struct ledger *lg = open_new();
	int ins[3];
	json_t *doc, *r;

	insert_specs(lg, s, 3, ins);
	doc = report(lg, T0, T0 + HOUR, "model", NULL, 0, 0);
	assert_string_equal(json_string_value(json_object_get(row(doc, 0),
	    "model")), "c-model");
	assert_string_equal(json_string_value(json_object_get(row(doc, 1),
	    "model")), "a-model");
	assert_string_equal(json_string_value(json_object_get(row(doc, 2),
	    "model")), "b-model");
	json_decref(doc);
	/* by "": one row, no key, equal to the totals */
	doc = report(lg, T0, T0 + HOUR, "", NULL, 0, 0);
	assert_int_equal(json_array_size(json_object_get(doc, "rows")), 1);
	r = row(doc, 0);
	assert_null(json_object_get(r, "model"));
	assert_true(json_equal(r, totals(doc)));
	json_decref(doc);
	/* by provider */
	doc = report(lg, T0, T0 + HOUR, "provider", NULL, 0, 0);
	assert_string_equal(json_string_value(json_object_get(row(doc, 0),
	    "provider")), "openai");
	assert_int_equal(jint(row(doc, 0), "requests"), 3);
	json_decref(doc);
	ledger_close(lg);
}

static void
test_uid_and_run_filters(void **state)
{
	struct spec s[] = {
		{ 1, T0 + MIN, NULL, NULL, "run-a", 1000, 1, 1, 10 },
		{ 2, T0 + MIN, NULL, NULL, "run-b", 1000, 2, 2, 20 },
		{ 3, T0 + MIN, NULL, NULL, "run-a", 1001, 4, 4, 40 },
		{ 4, T0 + 2 * HOUR + MIN, NULL, NULL, "", 1001, 8, 8, 80 },
	};
	struct ledger *lg = open_new();
	int ins[4];
	json_t *doc;

	insert_specs(lg, s, 4, ins);
	/* whole hours (rollups) and a partial edge (raw) */
	for (int64_t since = T0; since <= T0 + 30 * SEC; since += 30 * SEC) {
		doc = report(lg, since, T0 + 3 * HOUR, "", NULL, 1, 1000);
		assert_int_equal(jint(totals(doc), "cost_nano_usd"), 30);
		json_decref(doc);
		doc = report(lg, since, T0 + 3 * HOUR, "", NULL, 1, 1001);
		assert_int_equal(jint(totals(doc), "cost_nano_usd"), 120);
		json_decref(doc);
		doc = report(lg, since, T0 + 3 * HOUR, "", NULL, 1, 0);
		assert_int_equal(jint(totals(doc), "requests"), 0);
		json_decref(doc);
		doc = report(lg, since, T0 + 3 * HOUR, "", "run-a", 0, 0);
		assert_int_equal(jint(totals(doc), "cost_nano_usd"), 50);
		assert_int_equal(jint(totals(doc), "requests"), 2);
		json_decref(doc);
		doc = report(lg, since, T0 + 3 * HOUR, "", "run-a", 1, 1001);
		assert_int_equal(jint(totals(doc), "cost_nano_usd"), 40);
		json_decref(doc);
		doc = report(lg, since, T0 + 3 * HOUR, "", "", 0, 0);
		assert_int_equal(jint(totals(doc), "cost_nano_usd"), 150);
		json_decref(doc);
	}
	ledger_close(lg);
}

static void
test_gpu_and_flags(void **state)
{
	struct ledger_entry e[2];
	struct spec s = { 1, T0 + MIN, "", NULL, NULL, 0, 0, 0, 7200 };
	struct ledger *lg = open_new();
	int ins[2];
	json_t *doc, *r, *t;

	entry(&e[0], &s);
	e[0].rec.kind = TG_KIND_GPU;
	e[0].rec.source = TG_SOURCE_EBPF;
	e[0].rec.provider[0] = '\0';
	e[0].rec.gpu_launches = 1000;
	e[0].rec.gpu_busy_ns = 1500000000;
	e[0].rec.gpu_held_ns = 3000000000;
	e[0].rec.gpu_mem_peak_bytes = 1 << 30;
	s.id = 2;
	s.model = "mystery";
	s.in = 100;
	s.out = 50;
	s.cost = 0;
	entry(&e[1], &s);
	e[1].unpriced = 1;
	e[1].rec.flags = TG_REC_ESTIMATED | TG_REC_REFUSED | TG_REC_REPLAYED;
	assert_int_equal(ledger_insert(lg, e, 2, ins), 0);

	for (int64_t since = T0; since <= T0 + 1; since++) {
		doc = report(lg, since, T0 + HOUR, "model", NULL, 0, 0);
		r = row(doc, 0);
		assert_string_equal(json_string_value(json_object_get(r,
		    "model")), "(gpu)");
		assert_int_equal(jint(r, "gpu_launches"), 1000);
		assert_true(json_real_value(json_object_get(r,
		    "gpu_busy_seconds")) == 1.5);
		assert_true(json_real_value(json_object_get(r,
		    "gpu_held_seconds")) == 3.0);
		assert_int_equal(jint(r, "gpu_mem_peak_bytes"), 1 << 30);
		assert_true(json_is_null(json_object_get(r,
		    "cost_per_1k_tokens")));
		assert_true(json_real_value(json_object_get(r, "cost_usd")) ==
		    7200 / 1e9);
		r = row(doc, 1);
		assert_string_equal(json_string_value(json_object_get(r,
		    "model")), "mystery");
		assert_int_equal(jint(r, "unpriced_requests"), 1);
		assert_int_equal(jint(r, "estimated_requests"), 1);
		assert_int_equal(jint(r, "refused_requests"), 1);
		assert_true(json_real_value(json_object_get(r,
		    "cost_per_1k_tokens")) == 0.0);
		t = totals(doc);
		assert_int_equal(jint(t, "requests"), 2);
		assert_int_equal(jint(t, "gpu_mem_peak_bytes"), 1 << 30);
		assert_int_equal(jint(t, "unpriced_requests"), 1);
		json_decref(doc);
	}
	ledger_close(lg);
}

static void
test_document_shape(void **state)
{
	static const char *const keys[] = { "requests", "input_tokens",
		"output_tokens", "cached_tokens", "cache_write_tokens",
		"reasoning_tokens", "estimated_requests", "refused_requests",
		"gpu_launches", "gpu_busy_seconds", "gpu_held_seconds",
		"gpu_mem_peak_bytes", "cost_usd", "cost_per_1k_tokens",
		"cost_nano_usd", "unpriced_requests", NULL };
	struct spec s = { 1, T0 + MIN, "gpt-4o", NULL, NULL, 0, 1234, 567,
		8755000 };
	struct ledger *lg = open_new();
	int ins[1];
	json_t *doc, *r;

	insert_specs(lg, &s, 1, ins);
	doc = report(lg, T0, T0 + HOUR + 500, "model", NULL, 0, 0);
	assert_int_equal(jint(doc, "schema_version"), 1);
	assert_string_equal(json_string_value(json_object_get(doc, "since")),
	    "2025-09-05T00:00:00Z");
	assert_string_equal(json_string_value(json_object_get(doc, "until")),
	    "2025-09-05T01:00:00.000000500Z");
	r = row(doc, 0);
	for (int i = 0; keys[i]; i++) {
		if (json_object_get(r, keys[i]) == NULL)
			fail_msg("row lacks %s", keys[i]);
		if (json_object_get(totals(doc), keys[i]) == NULL)
			fail_msg("totals lack %s", keys[i]);
	}
	assert_int_equal(json_object_size(r), 17); /* + "model" */
	assert_int_equal(json_object_size(totals(doc)), 16);
	/* $0.008755 over 1801 tokens: $0.004861188... per 1k */
	assert_true(json_real_value(json_object_get(r, "cost_usd")) ==
	    0.008755);
	assert_true(json_real_value(json_object_get(r, "cost_per_1k_tokens")) ==
	    8755000 / 1e6 / 1801);
	assert_true(json_real_value(json_object_get(doc,
	    "untagged_cost_share")) == 1.0);
	json_decref(doc);
	ledger_close(lg);
}

static void
test_bad_queries(void **state)
{
	static const struct {
		const char *by, *want;
	} t[] = {
		{ "color", "unknown grouping 'color' (use model, provider or "
		  "tag:NAME)" },
		{ "tag:", "unknown grouping 'tag:' (use model, provider or "
		  "tag:NAME)" },
		{ "tag:a b", "unknown grouping 'tag:a b' (use model, provider or "
		  "tag:NAME)" },
		{ "tag:cost_usd", "tag name 'cost_usd' clashes with a report "
		  "column" },
	};
	struct ledger *lg = open_new();
	struct ledger_query q = { T0, T0 + HOUR, NULL, NULL, 0, 0 };
	char err[256];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		q.by = t[i].by;
		assert_null(ledger_report(lg, &q, err, sizeof(err)));
		assert_string_equal(err, t[i].want);
	}
	q.by = "model";
	q.until_ns = T0 - 1;
	assert_null(ledger_report(lg, &q, err, sizeof(err)));
	assert_string_equal(err, "report: until is before since");
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
		cmocka_unit_test(test_report_edges_and_retain),
		cmocka_unit_test(test_report_tiers_sweep),
		cmocka_unit_test(test_year),
		cmocka_unit_test(test_tags_and_share),
		cmocka_unit_test(test_sort_ties_and_one_row),
		cmocka_unit_test(test_uid_and_run_filters),
		cmocka_unit_test(test_gpu_and_flags),
		cmocka_unit_test(test_document_shape),
		cmocka_unit_test(test_bad_queries),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
