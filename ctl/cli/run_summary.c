/*
 * run_summary.c — what `tollctl run` says at the end: the RUN_END
 * document's "run" object, a short summary on stderr, --summary-json, and
 * the exit status of the budget gate.
 */
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "money.h"
#include "report_fmt.h"

static int64_t
i64_of(json_t *o, const char *key, int64_t dflt)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? json_integer_value(v) : dflt;
}

int
run_result_get(json_t *doc, int64_t budget_nano, struct run_result *r)
{
	json_t *run = json_object_get(doc, "run");
	json_t *totals = json_object_get(doc, "totals");

	if (!json_is_object(doc) || (!json_is_object(run) && !json_is_object(totals)))
		return -1;
	memset(r, 0, sizeof(*r));
	r->budget_nano = budget_nano;
	if (json_is_object(run)) {
		r->budget_nano = i64_of(run, "budget_nano_usd", budget_nano);
		r->spent_nano = i64_of(run, "spent_nano_usd", 0);
		r->refused = (uint64_t)i64_of(run, "refused_requests", 0);
		r->exceeded = json_is_true(json_object_get(run, "budget_exceeded"));
	} else {
		/* An older daemon: the run's totals are the same numbers. */
		r->spent_nano = report_cost_nano(totals);
		r->refused = report_u64(totals, "refused_requests");
	}
	/* The gate's rule, applied here too so it never depends on one side:
	 * any refusal, or (with a budget) a spend that reached it. */
	if (r->refused > 0 || (r->budget_nano >= 0 && r->spent_nano > 0 &&
	    r->spent_nano >= r->budget_nano))
		r->exceeded = 1;
	return 0;
}

int
run_exit_status(const struct run_result *r, int cmd_status, int budget_exit)
{
	return r->exceeded ? budget_exit : cmd_status;
}

void
run_summary_print(FILE *f, json_t *doc, const struct run_result *r,
    int cmd_status, int budget_exit)
{
	json_t *t = json_object_get(doc, "totals");
	char cost[40], budget[40];

	tg_usd_format(cost, sizeof(cost), r->spent_nano, 6);
	if (r->budget_nano >= 0) {
		budget[0] = '$';
		tg_usd_format(budget + 1, sizeof(budget) - 1, r->budget_nano, 6);
	} else
		snprintf(budget, sizeof(budget), "none");
	fprintf(f, "tollctl run: %llu requests, tokens in %llu / out %llu, "
	    "cost $%s, budget %s, refused %llu\n",
	    (unsigned long long)report_u64(t, "requests"),
	    (unsigned long long)report_u64(t, "input_tokens"),
	    (unsigned long long)report_u64(t, "output_tokens"), cost, budget,
	    (unsigned long long)r->refused);
	if (r->exceeded)
		fprintf(f, "tollctl run: budget exceeded: exit status %d (the "
		    "command's was %d)\n", budget_exit, cmd_status);
}

/* doc with its "run" object set to what we report. */
static int
set_run_object(json_t *doc, const char *token, const struct run_result *r)
{
	json_t *run = json_object_get(doc, "run");

	if (!json_is_object(run)) {
		run = json_object();
		if (run == NULL || json_object_set_new(doc, "run", run) < 0)
			return -1;
	}
	return json_object_set_new(run, "token", json_string(token)) |
	    json_object_set_new(run, "budget_nano_usd", r->budget_nano < 0 ?
	    json_null() : json_integer(r->budget_nano)) |
	    json_object_set_new(run, "spent_nano_usd", json_integer(r->spent_nano)) |
	    json_object_set_new(run, "refused_requests", json_integer(
	    (json_int_t)r->refused)) |
	    json_object_set_new(run, "budget_exceeded", json_boolean(r->exceeded));
}

int
summary_open(struct summary_out *o, const char *path)
{
	o->path = path;
	o->created = 1;
	/* Open (or create) it before CMD runs, so a path we cannot write
	 * fails the run at once instead of hiding its result at the end.
	 * Not truncated yet: an existing file keeps its content until then. */
	if ((o->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0666)) < 0 && errno == EEXIST) {
		o->created = 0;
		o->fd = open(path, O_WRONLY | O_CLOEXEC);
	}
	if (o->fd < 0) {
		fprintf(stderr, "tollctl run: --summary-json %s: %s\n", path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

void
summary_abandon(struct summary_out *o)
{
	if (o->fd < 0)
		return;
	close(o->fd);
	o->fd = -1;
	if (o->created)
		unlink(o->path);
}

int
run_summary_write(struct summary_out *o, json_t *doc, const char *token,
    const struct run_result *r)
{
	struct stat sb;
	FILE *f;
	int rc;

	if (set_run_object(doc, token, r) != 0) {
		fprintf(stderr, "tollctl run: out of memory\n");
		summary_abandon(o);
		return -1;
	}
	/* a regular file is rewritten; a pipe or device just written to */
	if (fstat(o->fd, &sb) == 0 && S_ISREG(sb.st_mode) &&
	    ftruncate(o->fd, 0) < 0) {
		fprintf(stderr, "tollctl run: --summary-json %s: %s\n", o->path,
		    strerror(errno));
		summary_abandon(o);
		return -1;
	}
	if ((f = fdopen(o->fd, "w")) == NULL) {
		fprintf(stderr, "tollctl run: --summary-json %s: %s\n", o->path,
		    strerror(errno));
		summary_abandon(o);
		return -1;
	}
	o->fd = -1;
	/* The daemon encodes with jansson too, so numbers come out as it
	 * wrote them. */
	rc = json_dumpf(doc, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	rc |= fputc('\n', f) == EOF;
	if (fclose(f) != 0 || rc != 0) {
		fprintf(stderr, "tollctl run: --summary-json %s: write failed\n",
		    o->path);
		return -1;
	}
	return 0;
}
