/*
 * ledger_schema.c — the ledger's schema as a list of migration steps.
 *
 * PRAGMA user_version holds the schema version. Step N takes a database at
 * version N-1 to N; opening runs every step above the file's version in one
 * transaction, so a crash mid-migration leaves the old version intact. To
 * change the schema, append a step (never edit a shipped one) and bump
 * LEDGER_SCHEMA_VERSION in ledger.h.
 */
#include "ledger.h"
#include "ledger_private.h"
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

/* A rollup table: one row per (period, uid, kind, source, provider, model,
 * tags, run) with the sums of its records (gpu_mem_peak_bytes: the max). */
#define ROLLUP_TABLE(name, period) \
    "CREATE TABLE " name " (" \
    " " period " INTEGER NOT NULL," \
    " uid INTEGER NOT NULL," \
    " kind TEXT NOT NULL," \
    " source TEXT NOT NULL," \
    " provider TEXT NOT NULL," \
    " model TEXT NOT NULL," \
    " tags TEXT NOT NULL," \
    " run TEXT NOT NULL," \
    " requests INTEGER NOT NULL DEFAULT 0," \
    " input_tokens INTEGER NOT NULL DEFAULT 0," \
    " output_tokens INTEGER NOT NULL DEFAULT 0," \
    " cached_tokens INTEGER NOT NULL DEFAULT 0," \
    " cache_write_tokens INTEGER NOT NULL DEFAULT 0," \
    " reasoning_tokens INTEGER NOT NULL DEFAULT 0," \
    " estimated_requests INTEGER NOT NULL DEFAULT 0," \
    " refused_requests INTEGER NOT NULL DEFAULT 0," \
    " gpu_launches INTEGER NOT NULL DEFAULT 0," \
    " gpu_busy_ns INTEGER NOT NULL DEFAULT 0," \
    " gpu_held_ns INTEGER NOT NULL DEFAULT 0," \
    " gpu_mem_peak_bytes INTEGER NOT NULL DEFAULT 0," \
    " cost_nano_usd INTEGER NOT NULL DEFAULT 0," \
    " unpriced_requests INTEGER NOT NULL DEFAULT 0," \
    " PRIMARY KEY (" period ", uid, kind, source, provider, model, tags," \
    "  run)" \
    ") WITHOUT ROWID;"

/* Inside the trigger: add new.* to its period's row (floor division, so
 * the period start is right for any sign). req: what the record adds to
 * requests, as a new row and as the conflict update (v1 counted every
 * record, "1" and "1"; v2 only LLM ones). */
#define ROLLUP_UPSERT(name, period, width, req, req_add) \
    " INSERT INTO " name " VALUES (" \
    "  new.event_time_ns - (((new.event_time_ns % " width ")" \
    "   + " width ") % " width ")," \
    "  new.uid, new.kind, new.source, new.provider, new.model, new.tags," \
    "  new.run, " req ", new.input_tokens, new.output_tokens, new.cached_tokens," \
    "  new.cache_write_tokens, new.reasoning_tokens, new.estimated != 0," \
    "  new.refused != 0, new.gpu_launches, new.gpu_busy_ns, new.gpu_held_ns," \
    "  new.gpu_mem_peak_bytes, new.cost_nano_usd, new.unpriced != 0)" \
    " ON CONFLICT (" period ", uid, kind, source, provider, model, tags," \
    "  run) DO UPDATE SET" \
    "  requests = requests + " req_add "," \
    "  input_tokens = input_tokens + excluded.input_tokens," \
    "  output_tokens = output_tokens + excluded.output_tokens," \
    "  cached_tokens = cached_tokens + excluded.cached_tokens," \
    "  cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens," \
    "  reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens," \
    "  estimated_requests = estimated_requests + excluded.estimated_requests," \
    "  refused_requests = refused_requests + excluded.refused_requests," \
    "  gpu_launches = gpu_launches + excluded.gpu_launches," \
    "  gpu_busy_ns = gpu_busy_ns + excluded.gpu_busy_ns," \
    "  gpu_held_ns = gpu_held_ns + excluded.gpu_held_ns," \
    "  gpu_mem_peak_bytes = max(gpu_mem_peak_bytes," \
    "   excluded.gpu_mem_peak_bytes)," \
    "  cost_nano_usd = cost_nano_usd + excluded.cost_nano_usd," \
    "  unpriced_requests = unpriced_requests + excluded.unpriced_requests;"

static const char schema_v1[] =
    /* One row per usage record, unique by its 128-bit id (32 hex). */
    "CREATE TABLE records ("
    " seq INTEGER PRIMARY KEY,"
    " id TEXT NOT NULL UNIQUE,"
    " event_time_ns INTEGER NOT NULL,"
    " admit_id INTEGER NOT NULL DEFAULT 0,"
    " pid INTEGER NOT NULL DEFAULT 0,"
    " exe TEXT NOT NULL DEFAULT '',"
    " uid INTEGER NOT NULL,"
    " cgroup TEXT NOT NULL DEFAULT '',"
    " tags TEXT NOT NULL DEFAULT '',"
    " run TEXT NOT NULL DEFAULT '',"
    " source TEXT NOT NULL,"          /* shim | ebpf */
    " kind TEXT NOT NULL,"            /* llm | gpu */
    " provider TEXT NOT NULL DEFAULT '',"
    " model TEXT NOT NULL DEFAULT '',"
    " endpoint TEXT NOT NULL DEFAULT '',"
    " http_status INTEGER NOT NULL DEFAULT 0,"
    " latency_ms INTEGER NOT NULL DEFAULT 0,"
    " delay_ms INTEGER NOT NULL DEFAULT 0,"
    " decision TEXT NOT NULL DEFAULT '',"
    " rule TEXT NOT NULL DEFAULT '',"
    " input_tokens INTEGER NOT NULL DEFAULT 0,"
    " output_tokens INTEGER NOT NULL DEFAULT 0,"
    " cached_tokens INTEGER NOT NULL DEFAULT 0,"
    " cache_write_tokens INTEGER NOT NULL DEFAULT 0,"
    " reasoning_tokens INTEGER NOT NULL DEFAULT 0,"
    " gpu_launches INTEGER NOT NULL DEFAULT 0,"
    " gpu_busy_ns INTEGER NOT NULL DEFAULT 0,"
    " gpu_held_ns INTEGER NOT NULL DEFAULT 0,"
    " gpu_mem_peak_bytes INTEGER NOT NULL DEFAULT 0,"
    " cost_nano_usd INTEGER NOT NULL DEFAULT 0,"
    " unpriced INTEGER NOT NULL DEFAULT 0,"
    " estimated INTEGER NOT NULL DEFAULT 0,"
    " refused INTEGER NOT NULL DEFAULT 0,"
    " replayed INTEGER NOT NULL DEFAULT 0,"
    " recorded_ns INTEGER NOT NULL DEFAULT 0"  /* when the daemon wrote it */
    ");"
    "CREATE INDEX records_time ON records(event_time_ns);"
    "CREATE INDEX records_run ON records(run) WHERE run != '';"
    /* Hourly and daily (UTC) sums, written in the same transaction as
     * each new record; they outlive the raw rows (ledger_retain). Reports
     * read whole days from the daily table, so a year is ~365 × groups
     * rows. */
    ROLLUP_TABLE("rollups_hourly", "hour_start_ns")
    ROLLUP_TABLE("rollups_daily", "day_start_ns")
    /* The rollups follow every record actually inserted (a duplicate id
     * is DO NOTHING and fires no trigger), inside the same transaction. */
    "CREATE TRIGGER records_rollup AFTER INSERT ON records BEGIN"
    ROLLUP_UPSERT("rollups_hourly", "hour_start_ns", "3600000000000",
	"1", "1")
    ROLLUP_UPSERT("rollups_daily", "day_start_ns", "86400000000000",
	"1", "1")
    " END;";

/* v2: requests counts LLM requests only. A GPU record (one per device per
 * --gpu-interval) is metered time, not a request; v1 counted it, so a
 * report of an hour of training showed hundreds of "requests". The
 * trigger is replaced and the GPU rows already summed are corrected
 * (their requests were nothing but GPU records: rows are keyed by kind). */
#define V2_REQ "(new.kind = 'llm')"
static const char schema_v2[] =
    "DROP TRIGGER IF EXISTS records_rollup;"
    "CREATE TRIGGER records_rollup AFTER INSERT ON records BEGIN"
    ROLLUP_UPSERT("rollups_hourly", "hour_start_ns", "3600000000000",
	V2_REQ, "excluded.requests")
    ROLLUP_UPSERT("rollups_daily", "day_start_ns", "86400000000000",
	V2_REQ, "excluded.requests")
    " END;"
    "UPDATE rollups_hourly SET requests = 0 WHERE kind != 'llm';"
    "UPDATE rollups_daily SET requests = 0 WHERE kind != 'llm';";

const struct ledger_step ledger_steps[] = {
	{ 1, schema_v1 },
	{ 2, schema_v2 },
};
const size_t ledger_nsteps = sizeof(ledger_steps) / sizeof(ledger_steps[0]);

static int
user_version(sqlite3 *db, int *v)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) !=
	    SQLITE_OK)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* Run the steps above `from`; the caller holds the transaction. */
static int
run_steps(sqlite3 *db, const char *name, int from,
    const struct ledger_step *steps, size_t nsteps, char *err, size_t errlen)
{
	char sql[64];
	size_t i;

	for (i = 0; i < nsteps; i++) {
		if (steps[i].to <= from)
			continue;
		if (sqlite3_exec(db, steps[i].sql, NULL, NULL, NULL) != SQLITE_OK) {
			tg_seterr(err, errlen, "%s: migration to schema version %d "
			    "failed: %s", name, steps[i].to, sqlite3_errmsg(db));
			return -1;
		}
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
		    steps[i].to);
		if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
			tg_seterr(err, errlen, "%s: %s", name, sqlite3_errmsg(db));
			return -1;
		}
	}
	return 0;
}

int
ledger_migrate(sqlite3 *db, const char *name, const struct ledger_step *steps,
    size_t nsteps, char *err, size_t errlen)
{
	int known = nsteps ? steps[nsteps - 1].to : 0, v = 0;

	/* IMMEDIATE: two daemons opening one file migrate one at a time, and
	 * the version is read again under the lock. */
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		tg_seterr(err, errlen, "%s: %s", name, sqlite3_errmsg(db));
		return -1;
	}
	if (user_version(db, &v) == -1) {
		tg_seterr(err, errlen, "%s: %s", name, sqlite3_errmsg(db));
		goto fail;
	}
	if (v > known) {
		tg_seterr(err, errlen, "%s: schema version %d is newer than this "
		    "tollgated knows (%d); run a newer tollgated or move the file "
		    "away", name, v, known);
		goto fail;
	}
	if (v < 0) {
		tg_seterr(err, errlen, "%s: bad schema version %d", name, v);
		goto fail;
	}
	if (run_steps(db, name, v, steps, nsteps, err, errlen) == -1)
		goto fail;
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		tg_seterr(err, errlen, "%s: %s", name, sqlite3_errmsg(db));
		goto fail;
	}
	return 0;
fail:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}
