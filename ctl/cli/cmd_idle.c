/*
 * cmd_idle.c — `tollctl idle`: the processes that hold a GPU, how long
 * each has been idle (no launch, no GPU ioctl) and what that costs an
 * hour (TG_MSG_IDLE; the document is described in ctl/daemon/idle.h).
 * Text: one aligned table; json: the daemon's document as-is.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "jsonpp.h"
#include "proto.h"
#include "util.h"

/* Widest EXE and TAGS columns; longer values are elided with "..." */
#define EXE_COLUMNS 48
#define TAG_COLUMNS 24

static const char *const formats[] = { "text", "json", NULL };
enum { FMT_TEXT, FMT_JSON };

static void
idle_usage(FILE *f)
{
	fputs("usage: tollctl idle [--format text|json]\n\n"
	    "Processes holding a GPU (seen by the daemon's eBPF probes, root\n"
	    "only), how long each has held it and has been idle (no kernel\n"
	    "launch and no GPU ioctl), and the GPU price an hour its idleness\n"
	    "wastes. The policy's \"idle\" section sets when a process counts as\n"
	    "idle and what the daemon does then (notify or terminate).\n", f);
}

/* 45s, 4m05s, 2h03m, 3d04h */
static void
fmt_dur(json_int_t s, char *buf, size_t len)
{
	if (s < 60)
		snprintf(buf, len, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(buf, len, "%lldm%02llds", (long long)s / 60,
		    (long long)s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%lldh%02lldm", (long long)s / 3600,
		    (long long)s % 3600 / 60);
	else
		snprintf(buf, len, "%lldd%02lldh", (long long)s / 86400,
		    (long long)s % 86400 / 3600);
}

static const char *
str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s && *s ? s : "-";
}

static json_int_t
num(json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

/*
 * Fits s into w columns. A long path keeps its end, where the program's
 * name is ("...progs/cuda/cuda_gate"); other text keeps its start.
 */
static const char *
fit(const char *s, int w, int keep_end, char *buf, size_t len)
{
	size_t n = strlen(s);

	if ((int)n <= w || w < 4)
		return s;
	if (keep_end)
		snprintf(buf, len, "...%s", s + n - (size_t)(w - 3));
	else
		snprintf(buf, len, "%.*s...", w - 3, s);
	return buf;
}

static void
print_table(json_t *doc)
{
	json_t *procs = json_object_get(doc, "processes"), *p;
	const char *gpu = json_string_value(json_object_get(doc, "gpu"));
	char held[48], idle[48], exe[EXE_COLUMNS + 1], tags[TAG_COLUMNS + 1];
	size_t i;
	int w = 3;

	printf("idle after %llds; action %s", (long long)num(doc,
	    "idle_after_s"), str(doc, "action"));
	if (strcmp(str(doc, "action"), "terminate") == 0)
		printf(" (grace %llds)", (long long)num(doc, "grace_s"));
	printf("; GPU price %s%s\n", gpu ? gpu : "unknown",
	    gpu ? "" : " (wasted shows 0)");
	json_array_foreach(procs, i, p)
		if ((int)strlen(str(p, "exe")) > w)
			w = (int)strlen(str(p, "exe"));
	if (w > EXE_COLUMNS)
		w = EXE_COLUMNS;
	printf("%7s  %-*s  %-*s  %8s  %8s  %-8s  %s\n", "PID", w, "EXE",
	    TAG_COLUMNS, "TAGS", "HELD", "IDLE", "STATE", "WASTED/H");
	json_array_foreach(procs, i, p) {
		fmt_dur(num(p, "held_s"), held, sizeof(held));
		fmt_dur(num(p, "idle_s"), idle, sizeof(idle));
		printf("%7lld  %-*s  %-*s  %8s  %8s  %-8s  $%s\n",
		    (long long)num(p, "pid"), w,
		    fit(str(p, "exe"), w, 1, exe, sizeof(exe)), TAG_COLUMNS,
		    fit(str(p, "tags"), TAG_COLUMNS, 0, tags, sizeof(tags)),
		    held, idle, str(p, "state"),
		    str(p, "wasted_usd_per_hour"));
	}
	if (json_array_size(procs) == 0)
		printf("(no process holds a GPU)\n");
}

int
cmd_idle(struct cli *cli, int argc, char **argv)
{
	int fmt = FMT_TEXT, rc;
	json_t *doc;
	char *text;
	size_t len;

	if (cli_format_only("idle", argc, argv, formats, idle_usage, &fmt) < 0)
		return CLI_EXIT_ERR;
	rc = cli_fetch(cli, TG_MSG_IDLE, NULL, 0, &doc, &text, &len, NULL);
	if (rc != 0)
		return rc;
	if (fmt == FMT_JSON)
		rc = jsonpp_write(stdout, text, len);
	else
		print_table(doc);
	json_decref(doc);
	free(text);
	if (fflush(stdout) != 0 || rc != 0)
		return CLI_EXIT_ERR;
	return CLI_EXIT_OK;
}
