/*
 * ledger_scan.c — the raw records from a given event time on, one by one,
 * for the policy counters' warm-up (ledger.h, ledger_scan). Refused
 * requests cost nothing and count against no limit, so they are left out
 * here rather than in every caller. The scan is one SELECT: SQLite reads
 * it from one snapshot, so a writer committing meanwhile is not half seen.
 */
#include "ledger.h"
#include "ledger_private.h"
#include "log.h"

#include <string.h>

static const char scan_sql[] =
    "SELECT event_time_ns, uid, kind, exe, tags, provider, model,"
    " input_tokens, output_tokens, cost_nano_usd"
    " FROM records WHERE event_time_ns >= ?1 AND refused = 0"
    " ORDER BY event_time_ns";

static const char *
text(sqlite3_stmt *st, int col)
{
	const char *s = (const char *)sqlite3_column_text(st, col);

	return s ? s : "";
}

static void
row_of(sqlite3_stmt *st, struct ledger_scan_row *r)
{
	r->event_time_ns = sqlite3_column_int64(st, 0);
	r->uid = (uint32_t)sqlite3_column_int64(st, 1);
	r->kind = strcmp(text(st, 2), "gpu") == 0 ? TG_KIND_GPU : TG_KIND_LLM;
	r->exe = text(st, 3);
	r->tags = text(st, 4);
	r->provider = text(st, 5);
	r->model = text(st, 6);
	r->input_tokens = sqlite3_column_int64(st, 7);
	r->output_tokens = sqlite3_column_int64(st, 8);
	r->cost_nano_usd = sqlite3_column_int64(st, 9);
}

int
ledger_scan(struct ledger *lg, int64_t since_ns,
    int (*fn)(void *arg, const struct ledger_scan_row *), void *arg,
    char *err, size_t errlen)
{
	struct ledger_scan_row r;
	sqlite3_stmt *st;
	int rc, ret = 0;

	if (sqlite3_prepare_v2(lg->db, scan_sql, -1, &st, NULL) != SQLITE_OK) {
		tg_seterr(err, errlen, "%s: scan: %s", lg->path,
		    sqlite3_errmsg(lg->db));
		return -1;
	}
	sqlite3_bind_int64(st, 1, since_ns);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		row_of(st, &r);
		if ((ret = fn(arg, &r)) != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE) {
		tg_seterr(err, errlen, "%s: scan: %s", lg->path,
		    sqlite3_errmsg(lg->db));
		ret = -1;
	}
	sqlite3_finalize(st);
	return ret;
}
