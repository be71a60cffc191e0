/*
 * cmd_report.c — `tollctl report`: ask the daemon for a report document
 * (TG_MSG_REPORT) and print it as a table, CSV or the JSON as-is.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "jsonpp.h"
#include "money.h"
#include "proto.h"
#include "report_fmt.h"
#include "timearg.h"
#include "util.h"

static const char *const formats[] = { "table", "csv", "json", NULL };
enum { FMT_TABLE, FMT_CSV, FMT_JSON };

static void
report_usage(FILE *f)
{
	fputs("usage: tollctl report [--by model|provider|source|tag:NAME]\n"
	    "                      [--since T] [--until T] [--run TOKEN]\n"
	    "                      [--format table|csv|json] [--untagged]\n\n"
	    "Usage and cost from the ledger, one row per group (default: model).\n"
	    "T: 7d, 24h, 30m (that long ago), YYYY-MM-DD (midnight UTC) or\n"
	    "RFC 3339 (2025-01-02T03:04:05Z), up to " TIMEARG_LATEST ". --until\n"
	    "defaults to now, --since to 7 days before --until. --run restricts\n"
	    "to one `tollctl run`. NAME: letters, digits and _ . : / - @ +.\n"
	    "table: requests, input/output/cached tokens, cost $, cost per 1,000\n"
	    "tokens (input + output), GPU busy seconds, a total line and the\n"
	    "untagged share of cost. csv: one header line, then the rows with\n"
	    "the JSON key names. json: the daemon's document, pretty printed.\n"
	    "source: shim (processes under the shim) or ebpf (audit mode);\n"
	    "when there is ebpf use, the table adds a line with both sources.\n"
	    "--untagged: the table then lists the executables that used AI\n"
	    "without tags (from the raw records of the range).\n"
	    "A non-root user sees only their own rows.\n", f);
}

/* "model" | "provider" | "tag:NAME"; 0 or -1 after printing why. */
static int
check_by(const char *by)
{
	size_t n = strlen(by);

	if (strcmp(by, "model") == 0 || strcmp(by, "provider") == 0 ||
	    strcmp(by, "source") == 0)
		return 0;
	if (strncmp(by, "tag:", 4) == 0 && n > 4 && n < 64 &&
	    strspn(by + 4, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789_.:/-@+") == n - 4)
		return 0;
	fprintf(stderr, "tollctl report: --by: expected model, provider, "
	    "source or tag:NAME, got '%s'\n", by);
	return -1;
}

static int
parse_time(const char *opt, const char *arg, int64_t now, int64_t *out)
{
	int rc = timearg_parse(arg, now, out);

	if (rc == 0)
		return 0;
	if (rc == TIMEARG_RANGE)
		fprintf(stderr, "tollctl report: --%s: '%s' is after "
		    TIMEARG_LATEST ", the latest time the ledger can hold\n",
		    opt, arg);
	else
		fprintf(stderr, "tollctl report: --%s: expected " TIMEARG_EXPECTED
		    ", got '%s'\n", opt, arg);
	return -1;
}

#define WEEK_NS (7 * 86400 * 1000000000LL)

/* The range: --since defaults to 7d before --until (given) or now; --until
 * to now (0 on the wire). A given --until is never 0 (it must be later
 * than --since, which is >= 0), so 1970-01-01 cannot turn into "now". */
static int
check_range(struct tg_report_req *q, int64_t now, const char *since,
    const char *until)
{
	if (since == NULL)
		q->since_ns = until ? (q->until_ns > WEEK_NS ?
		    q->until_ns - WEEK_NS : 0) : now - WEEK_NS;
	if (until == NULL) {
		q->until_ns = 0;
		return 0;
	}
	if (q->until_ns > q->since_ns)
		return 0;
	if (since)
		fprintf(stderr, "tollctl report: --until '%s' must be later than "
		    "--since '%s'\n", until, since);
	else
		fprintf(stderr, "tollctl report: --until '%s': nothing can be "
		    "recorded before it (the ledger starts at 1970-01-01)\n",
		    until);
	return -1;
}

static int
parse_args(int argc, char **argv, struct tg_report_req *q, int *fmt,
    int *untagged)
{
	static const struct option opts[] = {
		{ "by", required_argument, NULL, 'b' },
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "format", required_argument, NULL, 'f' },
		{ "run", required_argument, NULL, 'r' },
		{ "untagged", no_argument, NULL, 'U' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int64_t now = cli_now_ns();
	const char *since = NULL, *until = NULL;
	int c;

	cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (check_by(optarg) < 0)
				return -1;
			tg_strlcpy(q->by, optarg, sizeof(q->by));
			break;
		case 's':
			if (parse_time("since", optarg, now, &q->since_ns) < 0)
				return -1;
			since = optarg;
			break;
		case 'u':
			if (parse_time("until", optarg, now, &q->until_ns) < 0)
				return -1;
			until = optarg;
			break;
		case 'f':
			if ((*fmt = cli_format("report", optarg, formats)) < 0)
				return -1;
			break;
		case 'r':
			if (strlen(optarg) >= sizeof(q->run)) {
				fprintf(stderr, "tollctl report: --run: token too long\n");
				return -1;
			}
			tg_strlcpy(q->run, optarg, sizeof(q->run));
			break;
		case 'U':
			*untagged = 1;
			break;
		case 'h':
			report_usage(stdout);
			exit(CLI_EXIT_OK);
		default:
			return cli_bad_option("report", argv);
		}
	}
	if (cli_no_args_left("report", argc, argv) < 0)
		return -1;
	return check_range(q, now, since, until);
}

/* --untagged: the document's untagged_processes (ledger_report.c). */
static void
write_untagged(FILE *f, json_t *doc)
{
	json_t *list = json_object_get(doc, "untagged_processes"), *o;
	char cost[64];
	size_t i;

	fprintf(f, "untagged processes:%s\n", json_array_size(list) ? "" :
	    " none");
	json_array_foreach(list, i, o) {
		const char *exe = json_string_value(json_object_get(o, "exe"));
		const char *src = json_string_value(json_object_get(o,
		    "source"));

		tg_usd_format(cost, sizeof(cost), report_cost_nano(o), 6);
		fprintf(f, "  %s (%s): %llu processes, last pid %llu, %llu "
		    "requests, $%s\n", exe && *exe ? exe : "(unknown)",
		    src ? src : "", (unsigned long long)report_u64(o,
		    "processes"), (unsigned long long)report_u64(o, "last_pid"),
		    (unsigned long long)report_u64(o, "requests"), cost);
	}
}

int
cmd_report(struct cli *cli, int argc, char **argv)
{
	struct tg_report_req q;
	json_t *doc;
	char *text;
	size_t len;
	int fmt = FMT_TABLE, rc, untagged = 0;

	memset(&q, 0, sizeof(q));
	tg_strlcpy(q.by, "model", sizeof(q.by));
	if (parse_args(argc, argv, &q, &fmt, &untagged) < 0)
		return CLI_EXIT_ERR;
	rc = cli_fetch(cli, TG_MSG_REPORT, &q, sizeof(q), &doc, &text, &len, NULL);
	if (rc != 0)
		return rc;
	if (fmt == FMT_JSON)
		rc = jsonpp_write(stdout, text, len);
	else if (fmt == FMT_CSV)
		rc = report_write_csv(stdout, doc, q.by);
	else {
		rc = report_write_table(stdout, doc, q.by);
		if (rc == 0 && untagged)
			write_untagged(stdout, doc);
	}
	json_decref(doc);
	free(text);
	if (fflush(stdout) != 0 || rc != 0) {
		perror("tollctl report: writing the report");
		return CLI_EXIT_ERR;
	}
	return CLI_EXIT_OK;
}
