/* report_fmt.c — see report_fmt.h. */
#include "report_fmt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "money.h"

#define NCOL 8
#define CELL 64

static const char *table_head[NCOL] = { "", "requests", "input", "output",
	"cached", "cost $", "$/1k tok", "GPU s" };

static const char *csv_int_cols[] = { "requests", "input_tokens",
	"output_tokens", "cached_tokens", "cache_write_tokens",
	"reasoning_tokens", "estimated_requests", "refused_requests",
	"gpu_launches" };
static const char *csv_real_cols[] = { "gpu_busy_seconds",
	"gpu_held_seconds" };

const char *
report_key_name(const char *by)
{
	if (by == NULL || *by == '\0')
		return "key";
	/* the daemon names a tag's column after the tag (ledger_report.c) */
	return strncmp(by, "tag:", 4) == 0 ? by + 4 : by;
}

const char *
report_row_key(json_t *row, const char *by)
{
	json_t *v = NULL, *tags;

	if (by == NULL || *by == '\0')
		return "all";
	v = json_object_get(row, report_key_name(by));
	if (v == NULL && strncmp(by, "tag:", 4) == 0 &&
	    (tags = json_object_get(row, "tags")) != NULL)
		v = json_object_get(tags, by + 4);
	if (json_is_string(v) && *json_string_value(v))
		return json_string_value(v);
	return strncmp(by, "tag:", 4) == 0 ? "(untagged)" : "(none)";
}

uint64_t
report_u64(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (json_is_integer(v))
		return json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
	if (json_is_real(v) && json_real_value(v) > 0)
		return (uint64_t)llround(json_real_value(v));
	return 0;
}

int64_t
report_cost_nano(json_t *o)
{
	json_t *v = json_object_get(o, "cost_nano_usd");

	if (json_is_integer(v))
		return json_integer_value(v);
	v = json_object_get(o, "cost_usd");
	if (json_is_number(v))
		return llround(json_number_value(v) * TG_NANO_PER_USD);
	return 0;
}

static double
real_of(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : 0.0;
}

/* cost × 1000 / tokens in nano-USD, rounded half up; -1 without tokens. */
static int64_t
per_1k_nano(int64_t cost, uint64_t tokens)
{
	if (tokens == 0)
		return -1;
	return (int64_t)(((__int128)cost * 1000 * 2 + tokens) / (2 * tokens));
}

static void
row_cells(char cells[NCOL][CELL], json_t *o, const char *key)
{
	uint64_t in = report_u64(o, "input_tokens");
	uint64_t out = report_u64(o, "output_tokens");
	int64_t cost = report_cost_nano(o), k = per_1k_nano(cost, in + out);

	snprintf(cells[0], CELL, "%s", key);
	snprintf(cells[1], CELL, "%llu",
	    (unsigned long long)report_u64(o, "requests"));
	snprintf(cells[2], CELL, "%llu", (unsigned long long)in);
	snprintf(cells[3], CELL, "%llu", (unsigned long long)out);
	snprintf(cells[4], CELL, "%llu",
	    (unsigned long long)report_u64(o, "cached_tokens"));
	tg_usd_format(cells[5], CELL, cost, 6);
	if (k < 0)
		snprintf(cells[6], CELL, "-");
	else
		tg_usd_format(cells[6], CELL, k, 6);
	snprintf(cells[7], CELL, "%.1f", real_of(o, "gpu_busy_seconds"));
}

static void
widen(int w[NCOL], char cells[NCOL][CELL])
{
	for (int i = 0; i < NCOL; i++)
		if ((int)strlen(cells[i]) > w[i])
			w[i] = (int)strlen(cells[i]);
}

static void
put_line(FILE *f, const int w[NCOL], char cells[NCOL][CELL])
{
	fprintf(f, "%-*s", w[0], cells[0]);
	for (int i = 1; i < NCOL; i++)
		fprintf(f, "  %*s", w[i], cells[i]);
	fputc('\n', f);
}

/* Audit mode: the shim's and the probes' use side by side, one line,
 * only when the probes recorded any (a shim-only table is unchanged). */
static void
write_sources(FILE *f, json_t *sources)
{
	json_t *row;
	size_t i;
	int other = 0;
	char cost[CELL];

	json_array_foreach(sources, i, row)
		other |= strcmp(report_row_key(row, "source"), "shim") != 0;
	if (!other)
		return;
	fputs("sources:", f);
	json_array_foreach(sources, i, row) {
		tg_usd_format(cost, sizeof(cost), report_cost_nano(row), 6);
		fprintf(f, "%s %s %llu requests $%s", i ? "," : "",
		    report_row_key(row, "source"),
		    (unsigned long long)report_u64(row, "requests"), cost);
	}
	fputc('\n', f);
}

int
report_write_table(FILE *f, json_t *doc, const char *by)
{
	json_t *rows = json_object_get(doc, "rows"), *row;
	size_t n = json_array_size(rows), i;
	char (*cells)[NCOL][CELL];
	int w[NCOL] = { 0 };

	if ((cells = calloc(n + 2, sizeof(*cells))) == NULL)
		return -1;
	for (i = 0; i < NCOL; i++)
		snprintf(cells[0][i], CELL, "%s", table_head[i]);
	snprintf(cells[0][0], CELL, "%s", report_key_name(by));
	json_array_foreach(rows, i, row)
		row_cells(cells[i + 1], row, report_row_key(row, by));
	row_cells(cells[n + 1], json_object_get(doc, "totals"), "total");
	for (i = 0; i < n + 2; i++)
		widen(w, cells[i]);
	for (i = 0; i < n + 2; i++)
		put_line(f, w, cells[i]);
	fprintf(f, "untagged: %.1f%%\n",
	    real_of(doc, "untagged_cost_share") * 100.0);
	write_sources(f, json_object_get(doc, "sources"));
	free(cells);
	return ferror(f) ? -1 : 0;
}

/* RFC 4180: quote a field holding a comma, quote or line break. */
static void
csv_field(FILE *f, const char *s)
{
	if (strpbrk(s, ",\"\r\n") == NULL) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void
csv_header(FILE *f, const char *by)
{
	csv_field(f, report_key_name(by));
	for (size_t i = 0; i < sizeof(csv_int_cols) / sizeof(*csv_int_cols); i++)
		fprintf(f, ",%s", csv_int_cols[i]);
	for (size_t i = 0; i < sizeof(csv_real_cols) / sizeof(*csv_real_cols); i++)
		fprintf(f, ",%s", csv_real_cols[i]);
	fputs(",gpu_mem_peak_bytes,cost_usd,cost_per_1k_tokens,cost_nano_usd\n", f);
}

static void
csv_row(FILE *f, json_t *row, const char *by)
{
	char buf[CELL];
	int64_t cost = report_cost_nano(row), k;

	csv_field(f, report_row_key(row, by));
	for (size_t i = 0; i < sizeof(csv_int_cols) / sizeof(*csv_int_cols); i++)
		fprintf(f, ",%llu",
		    (unsigned long long)report_u64(row, csv_int_cols[i]));
	for (size_t i = 0; i < sizeof(csv_real_cols) / sizeof(*csv_real_cols); i++)
		fprintf(f, ",%.9g", real_of(row, csv_real_cols[i]));
	fprintf(f, ",%llu", (unsigned long long)report_u64(row,
	    "gpu_mem_peak_bytes"));
	tg_usd_format(buf, sizeof(buf), cost, 9);
	fprintf(f, ",%s,", buf);
	k = per_1k_nano(cost, report_u64(row, "input_tokens") +
	    report_u64(row, "output_tokens"));
	if (k >= 0) {
		tg_usd_format(buf, sizeof(buf), k, 9);
		fputs(buf, f);
	}
	fprintf(f, ",%lld\n", (long long)cost);
}

int
report_write_csv(FILE *f, json_t *doc, const char *by)
{
	json_t *row;
	size_t i;

	csv_header(f, by);
	json_array_foreach(json_object_get(doc, "rows"), i, row)
		csv_row(f, row, by);
	return ferror(f) ? -1 : 0;
}
