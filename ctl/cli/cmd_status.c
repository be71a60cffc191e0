/*
 * cmd_status.c — `tollctl status`: the daemon's health document
 * (TG_MSG_STATUS) plus the protocol versions of both sides.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "jsonpp.h"
#include "jsonview.h"
#include "proto.h"
#include "util.h"

static const char *const formats[] = { "text", "json", NULL };
enum { FMT_TEXT, FMT_JSON };

static void
status_usage(FILE *f)
{
	fputs("usage: tollctl status [--format text|json]\n\n"
	    "The daemon's health: uptime, records written, spool replays,\n"
	    "rejected messages, registered processes and active runs, and the\n"
	    "protocol versions of tollctl and the daemon. json adds\n"
	    "\"tollctl_protocol_version\" to the daemon's document.\n"
	    "Exit status 2 when no daemon answers, 3 on a protocol mismatch.\n", f);
}

static int
parse_args(int argc, char **argv, int *fmt)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if ((*fmt = cli_format("status", optarg, formats)) < 0)
				return -1;
			break;
		case 'h':
			status_usage(stdout);
			exit(CLI_EXIT_OK);
		default:
			return cli_bad_option("status", argv);
		}
	}
	return cli_no_args_left("status", argc, argv);
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

int
cmd_status(struct cli *cli, int argc, char **argv)
{
	uint16_t dv = 0;
	json_t *doc;
	char *text;
	size_t len;
	int fmt = FMT_TEXT, rc;

	if (parse_args(argc, argv, &fmt) < 0)
		return CLI_EXIT_ERR;
	rc = cli_fetch(cli, TG_MSG_STATUS, NULL, 0, &doc, &text, &len, &dv);
	if (rc != 0)
		return rc;
	if (fmt == FMT_JSON)
		rc = write_json(doc, text, len);
	else {
		printf("socket: %s\nprotocol: tollctl %d, daemon %u\n", cli->socket,
		    TG_PROTO_VERSION, dv);
		rc = jsonview_write(stdout, doc);
	}
	json_decref(doc);
	free(text);
	if (fflush(stdout) != 0 || rc != 0) {
		fprintf(stderr, "tollctl status: cannot print the status\n");
		return CLI_EXIT_ERR;
	}
	return CLI_EXIT_OK;
}
