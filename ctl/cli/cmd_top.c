/*
 * cmd_top.c — `tollctl top`: what is spending now (TG_MSG_TOP), redrawn in
 * place every second like top(1) until q or Ctrl-C; `--once` prints one
 * snapshot (table or the daemon's JSON as-is) for scripts and tests.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "jsonpp.h"
#include "jsonview.h"
#include "proto.h"
#include "util.h"

static const char *const formats[] = { "table", "json", NULL };
enum { FMT_TABLE, FMT_JSON };

static volatile sig_atomic_t top_stop;

static void
top_usage(FILE *f)
{
	fputs("usage: tollctl top [--once] [--format table|json]\n\n"
	    "Live view of registered processes, active runs and their spend,\n"
	    "redrawn every second; q or Ctrl-C quits. --once prints one\n"
	    "snapshot and exits (json: the daemon's document as-is).\n", f);
}

static int
parse_args(int argc, char **argv, int *once, int *fmt)
{
	static const struct option opts[] = {
		{ "once", no_argument, NULL, '1' },
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	cli_getopt_reset();
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case '1': *once = 1; break;
		case 'f':
			if ((*fmt = cli_format("top", optarg, formats)) < 0)
				return -1;
			break;
		case 'h':
			top_usage(stdout);
			exit(CLI_EXIT_OK);
		default:
			fprintf(stderr, "tollctl top: bad option '%s' (see tollctl top "
			    "--help)\n", argv[optind - 1]);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tollctl top: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (*fmt == FMT_JSON && !*once) {
		fprintf(stderr, "tollctl top: --format json needs --once\n");
		return -1;
	}
	return 0;
}

/* One snapshot to stdout; clear: redraw in place first. */
static int
snapshot(struct cli *cli, int fmt, int clear)
{
	char *text, stamp[32];
	json_t *doc;
	size_t len;
	time_t now = time(NULL);
	int rc;

	rc = cli_fetch(cli, TG_MSG_TOP, NULL, 0, &doc, &text, &len, NULL);
	if (rc != 0)
		return rc;
	if (fmt == FMT_JSON)
		rc = jsonpp_write(stdout, text, len);
	else {
		strftime(stamp, sizeof(stamp), "%H:%M:%S", localtime(&now));
		printf("%stollgate top  %s  %s%s\n", clear ? "\033[H\033[2J" : "",
		    stamp, cli->socket, clear ? "  (q quits)" : "");
		rc = jsonview_write(stdout, doc);
	}
	json_decref(doc);
	free(text);
	if (fflush(stdout) != 0 || rc != 0)
		return CLI_EXIT_ERR;
	return CLI_EXIT_OK;
}

static void
on_stop(int sig)
{
	top_stop = 1;
}

/* Wait up to 1 s for a key; 1 when it was q (or Q). */
static int
wait_key(int tty)
{
	struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
	char c;

	if (!tty) {
		poll(NULL, 0, 1000);
		return 0;
	}
	if (poll(&pfd, 1, 1000) == 1 && read(STDIN_FILENO, &c, 1) == 1)
		return c == 'q' || c == 'Q';
	return 0;
}

static int
live(struct cli *cli)
{
	struct termios saved, raw;
	struct sigaction sa;
	int tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
	int rc = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop; /* no SA_RESTART: poll returns EINTR */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (tty) {
		raw = saved;
		raw.c_lflag &= ~(ICANON | ECHO);
		raw.c_cc[VMIN] = 0;
		raw.c_cc[VTIME] = 0;
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	}
	fputs("\033[?25l", stdout);
	while (!top_stop && (rc = snapshot(cli, FMT_TABLE, 1)) == 0)
		if (wait_key(tty))
			break;
	fputs("\033[?25h", stdout);
	fflush(stdout);
	if (tty)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	return rc;
}

int
cmd_top(struct cli *cli, int argc, char **argv)
{
	int once = 0, fmt = FMT_TABLE;

	if (parse_args(argc, argv, &once, &fmt) < 0)
		return CLI_EXIT_ERR;
	if (once)
		return snapshot(cli, fmt, 0);
	return live(cli);
}
