/*
 * ledger.c — open the SQLite ledger, insert batches, retain, inspect.
 *
 * Durability: WAL + synchronous=FULL, so a COMMIT that returned is on disk
 * (the writer thread ACKs only after it). Each batch is one BEGIN IMMEDIATE
 * … COMMIT; a record id already present is skipped (ON CONFLICT DO
 * NOTHING), and the rollup trigger of ledger_schema.c fires only for rows
 * really inserted, so nothing is counted twice.
 */
#include "ledger.h"
#include "log.h"
#include "ledger_private.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BUSY_TIMEOUT_MS 5000

static const char insert_sql[] =
    "INSERT INTO records (id, event_time_ns, admit_id, pid, exe, uid,"
    " cgroup, tags, run, source, kind, provider, model, endpoint,"
    " http_status, latency_ms, delay_ms, decision, rule, input_tokens,"
    " output_tokens, cached_tokens, cache_write_tokens, reasoning_tokens,"
    " gpu_launches, gpu_busy_ns, gpu_held_ns, gpu_mem_peak_bytes,"
    " cost_nano_usd, unpriced, estimated, refused, replayed, recorded_ns)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"
    " ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28,"
    " ?29, ?30, ?31, ?32, ?33, ?34)"
    " ON CONFLICT (id) DO NOTHING";

/* journal_mode=WAL answers with the mode it got; anything else fails. */
static int
set_pragmas(sqlite3 *db)
{
	sqlite3_stmt *st;
	int ok = 0;

	if (sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS) != SQLITE_OK)
		return -1;
	if (sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &st, NULL) !=
	    SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_text(st, 0) != NULL &&
	    strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0)
		ok = 1;
	sqlite3_finalize(st);
	if (!ok)
		return -1;
	return sqlite3_exec(db, "PRAGMA synchronous=FULL", NULL, NULL, NULL) ==
	    SQLITE_OK ? 0 : -1;
}

struct ledger *
ledger_open(const char *path, char *err, size_t errlen)
{
	struct ledger *lg;

	if ((lg = calloc(1, sizeof(*lg))) == NULL ||
	    (lg->path = strdup(path)) == NULL) {
		free(lg);
		tg_seterr(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	if (sqlite3_open_v2(path, &lg->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		tg_seterr(err, errlen, "%s: %s", path, lg->db ?
		    sqlite3_errmsg(lg->db) : "cannot open");
		goto fail;
	}
	if (set_pragmas(lg->db) == -1) {
		tg_seterr(err, errlen, "%s: cannot set WAL/synchronous=FULL: %s",
		    path, sqlite3_errmsg(lg->db));
		goto fail;
	}
	if (ledger_migrate(lg->db, path, ledger_steps, ledger_nsteps, err,
	    errlen) == -1)
		goto fail;
	if (ledger_register_functions(lg->db) == -1 ||
	    sqlite3_prepare_v3(lg->db, insert_sql, -1, SQLITE_PREPARE_PERSISTENT,
	    &lg->ins_record, NULL) != SQLITE_OK) {
		tg_seterr(err, errlen, "%s: %s", path, sqlite3_errmsg(lg->db));
		goto fail;
	}
	return lg;
fail:
	ledger_close(lg);
	return NULL;
}

void
ledger_close(struct ledger *lg)
{
	if (lg == NULL)
		return;
	sqlite3_finalize(lg->ins_record);
	sqlite3_close(lg->db);
	free(lg->path);
	free(lg);
}

static const char *
kind_name(uint32_t k)
{
	return k == TG_KIND_GPU ? "gpu" : k == TG_KIND_LLM ? "llm" : "?";
}

static const char *
source_name(uint32_t s)
{
	return s == TG_SOURCE_EBPF ? "ebpf" : s == TG_SOURCE_SHIM ? "shim" : "?";
}

/* Counters are unsigned on the wire; SQLite integers are signed. A value
 * past INT64_MAX is nonsense from a client and is clamped, not wrapped. */
static int
bind_u64(sqlite3_stmt *st, int i, uint64_t v)
{
	return sqlite3_bind_int64(st, i, v > INT64_MAX ? INT64_MAX : (int64_t)v);
}

/* A fixed wire array that may lack its NUL (validated upstream, but the
 * ledger never reads past the array). */
static int
bind_str(sqlite3_stmt *st, int i, const char *s, size_t size)
{
	return sqlite3_bind_text(st, i, s, (int)strnlen(s, size),
	    SQLITE_STATIC);
}

#define BIND_STR(st, i, s) bind_str(st, i, s, sizeof(s))

static void
hex_id(const uint8_t id[16], char out[33])
{
	static const char hx[] = "0123456789abcdef";
	int i;

	for (i = 0; i < 16; i++) {
		out[2 * i] = hx[id[i] >> 4];
		out[2 * i + 1] = hx[id[i] & 15];
	}
	out[32] = '\0';
}

static int
bind_entry(sqlite3_stmt *st, const struct ledger_entry *e, const char *id,
    int64_t now)
{
	const struct tg_record *r = &e->rec;
	int rc = 0;

	rc |= sqlite3_bind_text(st, 1, id, 32, SQLITE_STATIC);
	rc |= sqlite3_bind_int64(st, 2, r->event_time_ns);
	rc |= bind_u64(st, 3, r->admit_id);
	rc |= sqlite3_bind_int64(st, 4, e->pid);
	rc |= BIND_STR(st, 5, r->exe);
	rc |= sqlite3_bind_int64(st, 6, e->uid);
	rc |= BIND_STR(st, 7, e->cgroup);
	rc |= BIND_STR(st, 8, r->tags);
	rc |= BIND_STR(st, 9, r->run);
	rc |= sqlite3_bind_text(st, 10, source_name(r->source), -1,
	    SQLITE_STATIC);
	rc |= sqlite3_bind_text(st, 11, kind_name(r->kind), -1, SQLITE_STATIC);
	rc |= BIND_STR(st, 12, r->provider);
	rc |= BIND_STR(st, 13, r->model);
	rc |= BIND_STR(st, 14, r->endpoint);
	rc |= sqlite3_bind_int64(st, 15, r->http_status);
	rc |= sqlite3_bind_int64(st, 16, r->latency_ms);
	rc |= sqlite3_bind_int64(st, 17, r->delay_ms);
	rc |= BIND_STR(st, 18, r->decision);
	rc |= BIND_STR(st, 19, r->rule);
	rc |= bind_u64(st, 20, r->input_tokens);
	rc |= bind_u64(st, 21, r->output_tokens);
	rc |= bind_u64(st, 22, r->cached_tokens);
	rc |= bind_u64(st, 23, r->cache_write_tokens);
	rc |= bind_u64(st, 24, r->reasoning_tokens);
	rc |= bind_u64(st, 25, r->gpu_launches);
	rc |= bind_u64(st, 26, r->gpu_busy_ns);
	rc |= bind_u64(st, 27, r->gpu_held_ns);
	rc |= bind_u64(st, 28, r->gpu_mem_peak_bytes);
	rc |= sqlite3_bind_int64(st, 29, e->cost_nano_usd);
	rc |= sqlite3_bind_int(st, 30, e->unpriced != 0);
	rc |= sqlite3_bind_int(st, 31, (r->flags & TG_REC_ESTIMATED) != 0);
	rc |= sqlite3_bind_int(st, 32, (r->flags & TG_REC_REFUSED) != 0);
	rc |= sqlite3_bind_int(st, 33, (r->flags & TG_REC_REPLAYED) != 0);
	rc |= sqlite3_bind_int64(st, 34, now);
	return rc == SQLITE_OK ? 0 : -1;
}

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Insert one entry inside the open transaction; *inserted = 0 on a
 * duplicate id. */
static int
insert_one(struct ledger *lg, const struct ledger_entry *e, int64_t now,
    int *inserted)
{
	sqlite3_stmt *st = lg->ins_record;
	char id[33];
	int rc;

	hex_id(e->rec.id, id);
	sqlite3_reset(st);
	if (bind_entry(st, e, id, now) == -1)
		return -1;
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return -1;
	*inserted = sqlite3_changes(lg->db) > 0;
	return 0;
}

int
ledger_insert(struct ledger *lg, const struct ledger_entry *e, size_t n,
    int *inserted)
{
	int64_t now = now_ns();
	size_t i;

	for (i = 0; i < n; i++)
		inserted[i] = 0;
	if (sqlite3_exec(lg->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK)
		return -1;
	for (i = 0; i < n; i++)
		if (insert_one(lg, &e[i], now, &inserted[i]) == -1)
			goto fail;
	if (sqlite3_exec(lg->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
		return 0;
fail:
	sqlite3_exec(lg->db, "ROLLBACK", NULL, NULL, NULL);
	for (i = 0; i < n; i++)
		inserted[i] = 0;
	return -1;
}

int
ledger_retain(struct ledger *lg, int64_t before_ns)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(lg->db,
	    "DELETE FROM records WHERE event_time_ns < ?1", -1, &st, NULL) !=
	    SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, before_ns);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
ledger_pragma_int(struct ledger *lg, const char *pragma, int64_t *out)
{
	sqlite3_stmt *st;
	char sql[80];
	const char *p;
	int rc;

	/* A pragma name is an identifier; anything else is refused rather
	 * than pasted into SQL. */
	for (p = pragma; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || *p == '_'))
			return -1;
	if (p == pragma || snprintf(sql, sizeof(sql), "PRAGMA %s", pragma) >=
	    (int)sizeof(sql))
		return -1;
	if (sqlite3_prepare_v2(lg->db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER)
		*out = sqlite3_column_int64(st, 0);
	else
		rc = SQLITE_ERROR;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

int64_t
ledger_count(struct ledger *lg)
{
	sqlite3_stmt *st;
	int64_t n = -1;

	if (sqlite3_prepare_v2(lg->db, "SELECT count(*) FROM records", -1, &st,
	    NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}
