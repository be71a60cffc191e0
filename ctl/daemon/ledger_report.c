/*
 * ledger_report.c — the report document of DESIGN.md "JSON outputs":
 *   {"schema_version":1, "since":RFC3339, "until":RFC3339, "by":"model",
 *    "totals":{…}, "rows":[{…}], "untagged_cost_share":x}
 *
 * Where the numbers come from: the UTC days lying wholly inside
 * [since, until) are read from rollups_daily (a year is ~365 × groups
 * rows), the other whole hours from rollups_hourly, and the partial hours
 * at either edge from raw records. Consequence, by design: once
 * ledger_retain() has deleted the raw records of an edge hour, that
 * partial hour counts nothing — an hour counts from its rollup only if the
 * whole hour lies inside the range. Reports over retained history should
 * use hour-aligned bounds.
 *
 * Rows: one per grouping key, sorted by cost descending, then key. The key
 * is named after the grouping ("model", "provider", or NAME for tag:NAME);
 * a record without that value gets "(untagged)" for a tag, "(gpu)" for a GPU
 * record's model/provider, else "(none)". by "" gives one row without a
 * key. Each row and the totals carry the DESIGN.md fields plus exact
 * "cost_nano_usd" and "unpriced_requests"; cost_per_1k_tokens is null when
 * there were no tokens (GPU only). requests counts LLM records only: a GPU
 * record is metered time (gpu_* fields, its cost in cost_usd), not a
 * request (schema v2; ledger_schema.c). untagged_cost_share is the cost of
 * records with empty tags over the total cost (0 when the total is 0).
 *
 * Audit mode (issue 6) adds, whatever the grouping: "sources", the rows
 * grouped by source ("shim", "ebpf": the shim's and the probes' use side
 * by side; by "source" groups the rows so too), and "untagged_processes":
 * [{"exe","source","processes","last_pid","requests","input_tokens",
 * "output_tokens","cost_nano_usd"}], the executables that used AI without
 * tags, by cost, at most UNTAGGED_MAX. Rollups keep no executable, so
 * untagged_processes counts the raw records of the range only: those
 * ledger_retain() has not deleted yet.
 */
#include "ledger.h"
#include "ledger_private.h"
#include "log.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

struct agg {
	int64_t requests, input, output, cached, cache_write, reasoning;
	int64_t estimated, refused, launches, busy_ns, held_ns, mem_peak;
	int64_t cost, unpriced, untagged_cost;
};

#define AGG_COLS 15 /* columns after the key, in struct agg order */

static const char *const metric_keys[] = { "requests", "input_tokens",
	"output_tokens", "cached_tokens", "cache_write_tokens",
	"reasoning_tokens", "estimated_requests", "refused_requests",
	"gpu_launches", "gpu_busy_seconds", "gpu_held_seconds",
	"gpu_mem_peak_bytes", "cost_usd", "cost_per_1k_tokens", "cost_nano_usd",
	"unpriced_requests", NULL };

#define KEY_NONE_EXPR(col) \
	"CASE WHEN " col " != '' THEN " col " WHEN kind = 'gpu' THEN '(gpu)' " \
	"ELSE '(none)' END"

/* SQL expression of the grouping key and the row's JSON key name. */
static int
grouping(const char *by, const char **expr, const char **name, char *err,
    size_t errlen)
{
	const char *t, *p;
	int i;

	*name = NULL;
	if (by == NULL || *by == '\0') {
		*expr = "''";
		return 0;
	}
	if (strcmp(by, "source") == 0) {
		*expr = "source";
		*name = by;
		return 0;
	}
	if (strcmp(by, "model") == 0 || strcmp(by, "provider") == 0) {
		*expr = by[0] == 'm' ? KEY_NONE_EXPR("model") :
		    KEY_NONE_EXPR("provider");
		*name = by;
		return 0;
	}
	if (strncmp(by, "tag:", 4) != 0)
		goto bad;
	t = by + 4;
	for (p = t; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' ||
		    *p == '.' || *p == ':' || *p == '/' || *p == '@' ||
		    *p == '+')) /* the tag key charset of run --tags, the shim */
			goto bad;
	if (p == t || p - t > 63)
		goto bad;
	for (i = 0; metric_keys[i]; i++)
		if (strcmp(t, metric_keys[i]) == 0) {
			tg_seterr(err, errlen, "tag name '%s' clashes with a report "
			    "column", t);
			return -1;
		}
	*expr = "coalesce(tag_value(tags, ?9), '(untagged)')";
	*name = t;
	return 0;
bad:
	tg_seterr(err, errlen, "unknown grouping '%s' (use model, provider, "
	    "source or tag:NAME)", by);
	return -1;
}

#define FILTERS " AND (?7 IS NULL OR uid = ?7) AND (?8 IS NULL OR run = ?8)"
#define SUMS \
	" tags, requests, input_tokens, output_tokens, cached_tokens," \
	" cache_write_tokens, reasoning_tokens, estimated_requests," \
	" refused_requests, gpu_launches, gpu_busy_ns, gpu_held_ns," \
	" gpu_mem_peak_bytes, cost_nano_usd, unpriced_requests"

static char *
build_sql(const char *key)
{
	return sqlite3_mprintf(
	    "SELECT k, tg_sum(requests), tg_sum(input_tokens),"
	    " tg_sum(output_tokens), tg_sum(cached_tokens),"
	    " tg_sum(cache_write_tokens), tg_sum(reasoning_tokens),"
	    " tg_sum(estimated_requests), tg_sum(refused_requests),"
	    " tg_sum(gpu_launches), tg_sum(gpu_busy_ns), tg_sum(gpu_held_ns),"
	    " max(gpu_mem_peak_bytes), tg_sum(cost_nano_usd) AS c_sum,"
	    " tg_sum(unpriced_requests),"
	    " tg_sum(CASE WHEN tags = '' THEN cost_nano_usd ELSE 0 END) AS c_untag"
	    " FROM ("
	    "  SELECT %s AS k," SUMS " FROM rollups_daily"
	    "  WHERE day_start_ns >= ?1 AND day_start_ns < ?2" FILTERS
	    " UNION ALL"
	    "  SELECT %s AS k," SUMS " FROM rollups_hourly"
	    "  WHERE ((hour_start_ns >= ?3 AND hour_start_ns < ?4) OR"
	    "   (hour_start_ns >= ?5 AND hour_start_ns < ?6))" FILTERS
	    " UNION ALL"
	    "  SELECT %s AS k, tags, kind = 'llm', input_tokens,"
	    "  output_tokens, cached_tokens, cache_write_tokens, reasoning_tokens,"
	    "  estimated != 0, refused != 0, gpu_launches, gpu_busy_ns,"
	    "  gpu_held_ns, gpu_mem_peak_bytes, cost_nano_usd, unpriced != 0"
	    "  FROM records"
	    "  WHERE ((event_time_ns >= ?10 AND event_time_ns < ?11) OR"
	    "   (event_time_ns >= ?12 AND event_time_ns < ?13))" FILTERS
	    " ) GROUP BY k ORDER BY c_sum DESC, k ASC",
	    key, key, key);
}

/*
 * tg_sum(x): sum() that cannot fail. SQLite's sum() stops the whole query
 * with "integer overflow", so stored data past 64 bits (or a rollup that
 * SQLite turned into a REAL when its + overflowed) would break every
 * report over that range for good. This one adds in 128 bits and clamps
 * the result to 64; REAL inputs are clamped too; NULLs are skipped.
 */
struct tg_sum_acc {
	__int128 v;
};

static int64_t
clamp64(__int128 v)
{
	return v > INT64_MAX ? INT64_MAX : v < INT64_MIN ? INT64_MIN :
	    (int64_t)v;
}

static void
tg_sum_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct tg_sum_acc *a = sqlite3_aggregate_context(ctx, sizeof(*a));
	double r;

	(void)argc;
	if (a == NULL)
		return;
	switch (sqlite3_value_numeric_type(argv[0])) {
	case SQLITE_INTEGER:
		a->v += sqlite3_value_int64(argv[0]);
		break;
	case SQLITE_FLOAT:
		r = sqlite3_value_double(argv[0]);
		a->v += r >= 9.2e18 ? INT64_MAX : r <= -9.2e18 ? INT64_MIN :
		    (int64_t)r;
		break;
	default:
		break;
	}
	/* 2^64 steps of 2^63 stay inside 127 bits; clamp anyway. */
	if (a->v > ((__int128)1 << 100))
		a->v = (__int128)1 << 100;
	else if (a->v < -((__int128)1 << 100))
		a->v = -((__int128)1 << 100);
}

static void
tg_sum_final(sqlite3_context *ctx)
{
	struct tg_sum_acc *a = sqlite3_aggregate_context(ctx, 0);

	sqlite3_result_int64(ctx, a ? clamp64(a->v) : 0);
}

int
ledger_report_functions(sqlite3 *db)
{
	return sqlite3_create_function(db, "tg_sum", 1,
	    SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, NULL, tg_sum_step,
	    tg_sum_final) == SQLITE_OK ? 0 : -1;
}

/* Hour and day boundaries of any int64 time: past the ends of the range
 * they clamp (computed in 128 bits) instead of wrapping. */
static int64_t
floor_to(int64_t t, int64_t unit)
{
	return clamp64((__int128)t - (((t % unit) + unit) % unit));
}

static int64_t
ceil_to(int64_t t, int64_t unit)
{
	__int128 f = floor_to(t, unit);

	return clamp64(f < t ? f + unit : f);
}

/* Split [since, until) into whole days (daily rollups), the whole hours
 * around them (hourly rollups) and the partial hours at the edges (raw
 * records). Each tier gets one or two [from, to) ranges; unused ranges
 * are empty ([0, 0)). */
static void
bind_ranges(sqlite3_stmt *st, int64_t since, int64_t until)
{
	int64_t v[14] = { 0 }, h0, h1, d0, d1;
	int i;

	h0 = ceil_to(since, LEDGER_NS_PER_HOUR);
	h1 = floor_to(until, LEDGER_NS_PER_HOUR);
	if (h0 >= h1) {
		v[10] = since, v[11] = until; /* no whole hour: all raw */
	} else {
		v[10] = since, v[11] = h0, v[12] = h1, v[13] = until;
		d0 = ceil_to(h0, LEDGER_NS_PER_DAY);
		d1 = floor_to(h1, LEDGER_NS_PER_DAY);
		if (d0 >= d1) {
			v[3] = h0, v[4] = h1; /* no whole day */
		} else {
			v[1] = d0, v[2] = d1;
			v[3] = h0, v[4] = d0, v[5] = d1, v[6] = h1;
		}
	}
	for (i = 1; i <= 6; i++)
		sqlite3_bind_int64(st, i, v[i]);
	for (i = 10; i <= 13; i++)
		sqlite3_bind_int64(st, i, v[i]);
}

static void
bind_query(sqlite3_stmt *st, const struct ledger_query *q, const char *tag)
{
	bind_ranges(st, q->since_ns, q->until_ns);
	if (q->has_uid)
		sqlite3_bind_int64(st, 7, q->uid);
	if (q->run && *q->run)
		sqlite3_bind_text(st, 8, q->run, -1, SQLITE_STATIC);
	if (tag)
		sqlite3_bind_text(st, 9, tag, -1, SQLITE_STATIC);
}

static void
agg_read(sqlite3_stmt *st, struct agg *a)
{
	int64_t *f = &a->requests;
	int i;

	for (i = 0; i < AGG_COLS; i++)
		f[i] = sqlite3_column_int64(st, i + 1);
}

/* totals += row, clamped like tg_sum: a report never fails for its
 * numbers. */
static int
agg_add(struct agg *t, const struct agg *a)
{
	int64_t *tf = &t->requests;
	const int64_t *af = &a->requests;
	int i;

	for (i = 0; i < AGG_COLS; i++) {
		if (&tf[i] == &t->mem_peak) {
			if (af[i] > tf[i])
				tf[i] = af[i];
		} else
			tf[i] = clamp64((__int128)tf[i] + af[i]);
	}
	return 0;
}

static int
set_int(json_t *o, const char *k, int64_t v)
{
	return json_object_set_new(o, k, json_integer(v));
}

static int
set_real(json_t *o, const char *k, double v)
{
	return json_object_set_new(o, k, json_real(v));
}

/* Fill o (which may already hold the grouping key, so it comes first). */
static json_t *
agg_json(json_t *o, const struct agg *a)
{
	double tokens = (double)a->input + (double)a->output;
	int rc = 0;

	if (o == NULL)
		return NULL;
	rc |= set_int(o, "requests", a->requests);
	rc |= set_int(o, "input_tokens", a->input);
	rc |= set_int(o, "output_tokens", a->output);
	rc |= set_int(o, "cached_tokens", a->cached);
	rc |= set_int(o, "cache_write_tokens", a->cache_write);
	rc |= set_int(o, "reasoning_tokens", a->reasoning);
	rc |= set_int(o, "estimated_requests", a->estimated);
	rc |= set_int(o, "refused_requests", a->refused);
	rc |= set_int(o, "gpu_launches", a->launches);
	rc |= set_real(o, "gpu_busy_seconds", (double)a->busy_ns / 1e9);
	rc |= set_real(o, "gpu_held_seconds", (double)a->held_ns / 1e9);
	rc |= set_int(o, "gpu_mem_peak_bytes", a->mem_peak);
	rc |= set_real(o, "cost_usd", (double)a->cost / 1e9);
	rc |= json_object_set_new(o, "cost_per_1k_tokens", tokens > 0 ?
	    json_real((double)a->cost / 1e6 / tokens) : json_null());
	rc |= set_int(o, "cost_nano_usd", a->cost);
	rc |= set_int(o, "unpriced_requests", a->unpriced);
	if (rc != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* RFC 3339 UTC; nanoseconds only when there are any. */
static json_t *
rfc3339(int64_t ns)
{
	int64_t sec = ns / 1000000000LL, frac = ns % 1000000000LL;
	char buf[64];
	struct tm tm;
	time_t t;
	size_t n;

	if (frac < 0) {
		frac += 1000000000LL;
		sec--;
	}
	t = (time_t)sec;
	if (gmtime_r(&t, &tm) == NULL)
		return json_null();
	n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	if (frac)
		snprintf(buf + n, sizeof(buf) - n, ".%09lldZ", (long long)frac);
	else
		snprintf(buf + n, sizeof(buf) - n, "Z");
	return json_string(buf);
}

/* Read the grouped rows into doc's "rows" and the totals into *tot. */
static int
read_rows(sqlite3_stmt *st, const char *keyname, json_t *rows,
    struct agg *tot, char *err, size_t errlen)
{
	struct agg a;
	json_t *row;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		agg_read(st, &a);
		if (agg_add(tot, &a) == -1) {
			tg_seterr(err, errlen, "report totals overflow");
			return -1;
		}
		if ((row = json_object()) == NULL)
			goto oom;
		if (keyname && json_object_set_new(row, keyname, json_string(
		    (const char *)sqlite3_column_text(st, 0))) == -1) {
			json_decref(row);
			goto oom;
		}
		if (agg_json(row, &a) == NULL ||
		    json_array_append_new(rows, row) == -1)
			goto oom;
	}
	if (rc == SQLITE_DONE)
		return 0;
	tg_seterr(err, errlen, "report: %s",
	    sqlite3_errmsg(sqlite3_db_handle(st)));
	return -1;
oom:
	tg_seterr(err, errlen, "report: out of memory");
	return -1;
}

static json_t *
document(const struct ledger_query *q, json_t *rows, const struct agg *tot,
    json_t *sources, json_t *untagged)
{
	json_t *doc = json_object(), *totals = agg_json(json_object(), tot);
	double share;

	if (doc == NULL || totals == NULL) {
		json_decref(doc);
		json_decref(totals);
		json_decref(rows);
		json_decref(sources);
		json_decref(untagged);
		return NULL;
	}
	share = tot->cost > 0 ? (double)tot->untagged_cost / (double)tot->cost :
	    0.0;
	json_object_set_new(doc, "schema_version",
	    json_integer(LEDGER_JSON_SCHEMA_VERSION));
	json_object_set_new(doc, "since", rfc3339(q->since_ns));
	json_object_set_new(doc, "until", rfc3339(q->until_ns));
	json_object_set_new(doc, "by", json_string(q->by ? q->by : ""));
	json_object_set_new(doc, "totals", totals);
	json_object_set_new(doc, "rows", rows);
	json_object_set_new(doc, "untagged_cost_share", json_real(share));
	json_object_set_new(doc, "sources", sources);
	json_object_set_new(doc, "untagged_processes", untagged);
	return doc;
}

/* The rows of q grouped by expr (keyname: the rows' key), their sum in
 * *tot; NULL on error with err filled. */
static json_t *
grouped_rows(struct ledger *lg, const struct ledger_query *q,
    const char *expr, const char *keyname, struct agg *tot, char *err,
    size_t errlen)
{
	sqlite3_stmt *st = NULL;
	json_t *rows;
	char *sql;

	if ((sql = build_sql(expr)) == NULL) {
		tg_seterr(err, errlen, "report: out of memory");
		return NULL;
	}
	if (sqlite3_prepare_v2(lg->db, sql, -1, &st, NULL) != SQLITE_OK) {
		tg_seterr(err, errlen, "report: %s", sqlite3_errmsg(lg->db));
		sqlite3_free(sql);
		return NULL;
	}
	sqlite3_free(sql);
	bind_query(st, q, q->by && strncmp(q->by, "tag:", 4) == 0 &&
	    strcmp(expr, "source") != 0 ? keyname : NULL);
	memset(tot, 0, sizeof(*tot));
	if ((rows = json_array()) == NULL ||
	    read_rows(st, keyname, rows, tot, err, errlen) == -1) {
		if (rows == NULL)
			tg_seterr(err, errlen, "report: out of memory");
		json_decref(rows);
		rows = NULL;
	}
	sqlite3_finalize(st);
	return rows;
}

#define UNTAGGED_MAX 100

/* Which executables used AI without tags (raw records of the range). */
static json_t *
untagged_processes(struct ledger *lg, const struct ledger_query *q,
    char *err, size_t errlen)
{
	static const char sql[] =
	    /* pid: a bare column, SQLite's value from the max(seq) row */
	    "SELECT exe, source, count(DISTINCT pid), pid,"
	    " tg_sum(kind = 'llm'), tg_sum(input_tokens), tg_sum(output_tokens),"
	    " tg_sum(cost_nano_usd) AS c, max(seq)"
	    " FROM records WHERE tags = '' AND refused = 0"
	    " AND event_time_ns >= ?10 AND event_time_ns < ?11" FILTERS
	    " GROUP BY exe, source ORDER BY c DESC, exe, source LIMIT ?9";
	static const char *const keys[] = { "processes", "last_pid",
		"requests", "input_tokens", "output_tokens", "cost_nano_usd" };
	sqlite3_stmt *st = NULL;
	json_t *out = json_array(), *o;
	int rc;

	if (out == NULL ||
	    sqlite3_prepare_v2(lg->db, sql, -1, &st, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_int64(st, 10, q->since_ns);
	sqlite3_bind_int64(st, 11, q->until_ns);
	if (q->has_uid)
		sqlite3_bind_int64(st, 7, q->uid);
	if (q->run && *q->run)
		sqlite3_bind_text(st, 8, q->run, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 9, UNTAGGED_MAX);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((o = json_object()) == NULL ||
		    json_array_append_new(out, o) == -1)
			goto fail;
		json_object_set_new(o, "exe", json_string(
		    (const char *)sqlite3_column_text(st, 0)));
		json_object_set_new(o, "source", json_string(
		    (const char *)sqlite3_column_text(st, 1)));
		for (int i = 0; i < 6; i++)
			set_int(o, keys[i], sqlite3_column_int64(st, i + 2));
	}
	if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	return out;
fail:
	tg_seterr(err, errlen, "report: untagged processes: %s",
	    sqlite3_errmsg(lg->db));
	sqlite3_finalize(st);
	json_decref(out);
	return NULL;
}

json_t *
ledger_report(struct ledger *lg, const struct ledger_query *q, char *err,
    size_t errlen)
{
	const char *expr, *keyname;
	struct agg tot, src_tot;
	json_t *rows, *sources, *untagged;

	if (q->until_ns < q->since_ns) {
		tg_seterr(err, errlen, "report: until is before since");
		return NULL;
	}
	if (grouping(q->by, &expr, &keyname, err, errlen) == -1)
		return NULL;
	if ((rows = grouped_rows(lg, q, expr, keyname, &tot, err,
	    errlen)) == NULL)
		return NULL;
	if ((sources = grouped_rows(lg, q, "source", "source", &src_tot, err,
	    errlen)) == NULL) {
		json_decref(rows);
		return NULL;
	}
	if ((untagged = untagged_processes(lg, q, err, errlen)) == NULL) {
		json_decref(rows);
		json_decref(sources);
		return NULL;
	}
	return document(q, rows, &tot, sources, untagged);
}
