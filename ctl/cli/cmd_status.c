/*
 * cmd_status.c — `tollctl status`: the daemon's health document
 * (TG_MSG_STATUS) plus the protocol versions of both sides, and the active
 * policy's rules as a table (RULE KIND USED LIMIT LEFT RESETS; a rate
 * rule gets one row per limit; a gpu_limit its memory cap and launch
 * rate as LIMIT).
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "jsonpp.h"
#include "gpus_text.h"
#include "jsonview.h"
#include "policy.h"
#include "proto.h"
#include "util.h"

static const char *const formats[] = { "text", "json", NULL };
enum { FMT_TEXT, FMT_JSON };

static void
status_usage(FILE *f)
{
	fputs("usage: tollctl status [--format text|json]\n\n"
	    "The daemon's health: uptime, records written, spool replays,\n"
	    "rejected messages, registered processes and active runs, the\n"
	    "protocol versions of tollctl and the daemon, and the active policy:\n"
	    "its file and, per rule, what is used, the limit, what is left and\n"
	    "when it resets (USD spent includes what admitted requests have\n"
	    "reserved; a pause rule shows active or idle). json adds\n"
	    "\"tollctl_protocol_version\" to the daemon's document.\n"
	    "Exit status 2 when no daemon answers, 3 on a protocol mismatch.\n", f);
}

/* The daemon's object with our version spliced in first, so the daemon's
 * own text stays byte for byte. */
static int
write_json(json_t *doc, const char *text, size_t len)
{
	char head[64];
	const char *brace = memchr(text, '{', len);
	size_t rest, hl;
	char *buf;
	int rc;

	if (brace == NULL)
		return -1;
	rest = len - (size_t)(brace + 1 - text);
	hl = (size_t)snprintf(head, sizeof(head), "{\"tollctl_protocol_version\":"
	    "%d%s", TG_PROTO_VERSION, json_object_size(doc) ? "," : "");
	if ((buf = malloc(hl + rest)) == NULL)
		return -1;
	memcpy(buf, head, hl);
	memcpy(buf + hl, brace + 1, rest);
	rc = jsonpp_write(stdout, buf, hl + rest);
	free(buf);
	return rc;
}

/* ---- the policy rules table ---- */

#define COLS 6
#define CELL 64

struct table {
	char (*cell)[COLS][CELL];
	size_t n, cap;
};

static const char *
str(json_t *o, const char *key, const char *dflt)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v ? v : dflt;
}

/* A row; NULL cells print as "-". */
static void
row(struct table *t, const char *const v[COLS])
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		void *n = realloc(t->cell, cap * sizeof(*t->cell));
		if (n == NULL)
			return;
		t->cell = n;
		t->cap = cap;
	}
	for (int c = 0; c < COLS; c++)
		snprintf(t->cell[t->n][c], CELL, "%s", v[c] ? v[c] : "-");
	t->n++;
}

static void
usd(char *buf, const char *v)
{
	if (v)
		snprintf(buf, CELL, "$%s", v);
	else
		snprintf(buf, CELL, "-");
}

/* "N UNIT", or "-" when the daemon did not say (key absent) */
static void
count(char *buf, json_t *r, const char *key, const char *unit)
{
	json_t *v = json_object_get(r, key);

	if (v == NULL)
		snprintf(buf, CELL, "-");
	else
		snprintf(buf, CELL, "%lld%s%s", (long long)json_integer_value(v),
		    *unit ? " " : "", unit);
}

/* "mem 8GiB, 100 launches/s": what a gpu_limit puts on the pages. */
static void
gpu_limit(char *buf, json_t *r)
{
	json_t *cap = json_object_get(r, "mem_cap_bytes");
	json_t *lps = json_object_get(r, "launches_per_sec");
	char b[32] = "";

	if (cap)
		policy_fmt_bytes((uint64_t)json_integer_value(cap), b, sizeof(b));
	if (cap && lps)
		snprintf(buf, CELL, "mem %s, %lld launches/s", b,
		    (long long)json_integer_value(lps));
	else if (cap)
		snprintf(buf, CELL, "mem %s", b);
	else if (lps)
		snprintf(buf, CELL, "%lld launches/s",
		    (long long)json_integer_value(lps));
}

/* One row per limit a rate rule sets. */
static void
rate_rows(struct table *t, json_t *r, const char *name)
{
	static const char *const keys[] = { "rpm", "tpm", "concurrent" };
	char used[CELL], lim[CELL], left[CELL], k[32];
	json_t *u;

	for (int i = 0; i < 3; i++) {
		snprintf(k, sizeof(k), "%s_limit", keys[i]);
		if (json_object_get(r, k) == NULL)
			continue;
		count(used, r, keys[i], keys[i]);
		count(lim, r, k, keys[i]);
		snprintf(left, CELL, "-");
		if ((u = json_object_get(r, keys[i])))
			snprintf(left, CELL, "%lld %s", (long long)(
			    json_integer_value(json_object_get(r, k)) -
			    json_integer_value(u)), keys[i]);
		row(t, (const char *[COLS]){ name, "rate", used, lim, left,
		    NULL });
	}
}

static void
rule_row(struct table *t, json_t *r)
{
	const char *name = str(r, "name", "?"), *kind = str(r, "kind", "?");
	const char *resets = str(r, "period_end", NULL);
	json_t *active = json_object_get(r, "active");
	char used[CELL] = "-", lim[CELL] = "-", left[CELL] = "-";

	if (strcmp(kind, "rate") == 0) {
		rate_rows(t, r, name);
		return;
	}
	if (strcmp(kind, "budget") == 0 || strcmp(kind, "sandbox") == 0) {
		usd(used, str(r, "spent_usd", NULL));
		if (json_object_get(r, "limit_usd"))
			usd(lim, str(r, "limit_usd", NULL));
		else
			snprintf(lim, CELL, "soft $%s", str(r, "soft_usd", "?"));
		usd(left, str(r, "usd_left", NULL));
		if (resets == NULL && json_object_get(r, "spent_usd"))
			resets = "never";
	} else if (strcmp(kind, "token_quota") == 0) {
		count(used, r, "tokens", "");
		count(lim, r, "max_tokens", "");
		count(left, r, "tokens_left", "");
	} else if (strcmp(kind, "gpu_limit") == 0)
		gpu_limit(lim, r);
	if (json_is_boolean(active) && strcmp(used, "-") == 0)
		snprintf(used, CELL, "%s", json_is_true(active) ? "active" :
		    "idle");
	if (json_is_false(active))
		resets = str(r, "next_start", NULL);
	row(t, (const char *[COLS]){ name, kind, used, lim, left, resets });
}

static void
write_rules(FILE *f, json_t *rules)
{
	struct table t = { 0 };
	int w[COLS] = { 0 };
	size_t i;
	json_t *r;

	if (json_array_size(rules) == 0) {
		fprintf(f, "\npolicy rules: (none)\n");
		return;
	}
	row(&t, (const char *[COLS]){ "RULE", "KIND", "USED", "LIMIT", "LEFT",
	    "RESETS" });
	json_array_foreach(rules, i, r)
		rule_row(&t, r);
	for (i = 0; i < t.n; i++)
		for (int c = 0; c < COLS; c++)
			if ((int)strlen(t.cell[i][c]) > w[c])
				w[c] = (int)strlen(t.cell[i][c]);
	fprintf(f, "\npolicy rules:\n");
	for (i = 0; i < t.n; i++) {
		for (int c = 0; c < COLS - 1; c++)
			fprintf(f, "  %-*s", w[c], t.cell[i][c]);
		fprintf(f, "  %s\n", t.cell[i][COLS - 1]);
	}
	free(t.cell);
}

/* Audit mode's TLS it cannot decrypt, one line when there is any:
 * "unmetered connections: NAME N, NAME N". */
static void
write_unmetered(FILE *f, json_t *um)
{
	const char *name;
	json_t *n;
	int first = 1;

	if (json_object_size(um) == 0)
		return;
	fprintf(f, "unmetered connections:");
	json_object_foreach(um, name, n) {
		fprintf(f, "%s %s %lld", first ? "" : ",", name,
		    (long long)json_integer_value(n));
		first = 0;
	}
	fprintf(f, "\n");
}

/* Scalars and the other tables as jsonview does; the rules as ours. */
static int
write_text(FILE *f, json_t *doc)
{
	json_t *pol = json_object_get(doc, "policy");
	json_t *rules = json_incref(json_object_get(pol, "rules"));
	json_t *um = json_incref(json_object_get(doc,
	    "unmetered_connections"));
	int rc;

	if (rules)
		json_object_del(pol, "rules");
	if (um)
		json_object_del(doc, "unmetered_connections");
	gpus_text(doc);
	rc = jsonview_write(f, doc);
	write_unmetered(f, um);
	json_decref(um);
	if (rules)
		write_rules(f, rules);
	json_decref(rules);
	return rc == 0 && !ferror(f) ? 0 : -1;
}

int
cmd_status(struct cli *cli, int argc, char **argv)
{
	uint16_t dv = 0;
	json_t *doc;
	char *text;
	size_t len;
	int fmt = FMT_TEXT, rc;

	if (cli_format_only("status", argc, argv, formats, status_usage,
	    &fmt) < 0)
		return CLI_EXIT_ERR;
	rc = cli_fetch(cli, TG_MSG_STATUS, NULL, 0, &doc, &text, &len, &dv);
	if (rc != 0)
		return rc;
	if (fmt == FMT_JSON)
		rc = write_json(doc, text, len);
	else {
		printf("socket: %s\nprotocol: tollctl %d, daemon %u\n", cli->socket,
		    TG_PROTO_VERSION, dv);
		rc = write_text(stdout, doc);
	}
	json_decref(doc);
	free(text);
	if (fflush(stdout) != 0 || rc != 0) {
		fprintf(stderr, "tollctl status: cannot print the status\n");
		return CLI_EXIT_ERR;
	}
	return CLI_EXIT_OK;
}
