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
#include <sys/resource.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "gpus_text.h"
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
			return cli_bad_option("top", argv);
		}
	}
	if (cli_no_args_left("top", argc, argv) < 0)
		return -1;
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
		gpus_text(doc);
		rc = jsonview_write(stdout, doc);
	}
	json_decref(doc);
	free(text);
	if (fflush(stdout) != 0 || rc != 0)
		return CLI_EXIT_ERR;
	return CLI_EXIT_OK;
}

/*
 * The terminal: raw (no echo, no line buffering) while the live view runs,
 * and always given back as it was: on q, on INT/TERM/QUIT/HUP (the view
 * ends, then QUIT and HUP kill us as they would have), at exit, and around
 * a stop (Ctrl-Z: given back, raw again on SIGCONT). A reader gone
 * (SIGPIPE, ignored) ends the view through its write error.
 */
static struct termios tty_saved, tty_raw;
static volatile sig_atomic_t tty_is_raw, top_sig;

static void
tty_restore(void)
{
	if (!tty_is_raw)
		return;
	tcsetattr(STDIN_FILENO, TCSANOW, &tty_saved);
	(void)!write(STDOUT_FILENO, "\033[?25h", 6);
	tty_is_raw = 0;
}

/* The flag is set first: a stop signal that lands between it and the
 * tcsetattr must still give the terminal back (it once found the flag
 * clear and left echo off while stopped). */
static void
tty_enter_raw(void)
{
	tty_is_raw = 1;
	tcsetattr(STDIN_FILENO, TCSANOW, &tty_raw);
	(void)!write(STDOUT_FILENO, "\033[?25l", 6);
}

static void
on_stop(int sig)
{
	top_stop = 1;
	top_sig = sig;
}

static void
on_tstp(int sig)
{
	int saved = errno, was_raw = tty_is_raw;
	sigset_t one;

	tty_restore();
	signal(SIGTSTP, SIG_DFL);
	sigemptyset(&one);
	sigaddset(&one, SIGTSTP);
	sigprocmask(SIG_UNBLOCK, &one, NULL);
	raise(SIGTSTP); /* stops here until SIGCONT */
	sigprocmask(SIG_BLOCK, &one, NULL);
	signal(SIGTSTP, on_tstp);
	if (was_raw)
		tty_enter_raw();
	errno = saved;
}

static void
on_cont(int sig)
{
	int saved = errno;

	/* stopped by SIGSTOP, which we cannot catch: the shell may have
	 * changed the mode meanwhile */
	if (tty_is_raw)
		tty_enter_raw();
	errno = saved;
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

static void
live_signals(int tty)
{
	static const int stops[] = { SIGINT, SIGTERM, SIGQUIT, SIGHUP };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop; /* no SA_RESTART: poll returns EINTR */
	for (size_t i = 0; i < sizeof(stops) / sizeof(stops[0]); i++)
		sigaction(stops[i], &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (tty) {
		sa.sa_handler = on_tstp;
		sigaction(SIGTSTP, &sa, NULL);
		sa.sa_handler = on_cont;
		sigaction(SIGCONT, &sa, NULL);
	}
}

static int
live(struct cli *cli)
{
	int tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &tty_saved) == 0;
	int rc = 0;

	live_signals(tty);
	if (tty) {
		tty_raw = tty_saved;
		tty_raw.c_lflag &= ~(ICANON | ECHO);
		tty_raw.c_cc[VMIN] = 0;
		tty_raw.c_cc[VTIME] = 0;
		atexit(tty_restore);
		tty_enter_raw();
	} else
		fputs("\033[?25l", stdout);
	while (!top_stop && (rc = snapshot(cli, FMT_TABLE, 1)) == 0)
		if (wait_key(tty))
			break;
	fflush(stdout);
	if (tty)
		tty_restore();
	else
		fputs("\033[?25h", stdout);
	fflush(stdout);
	if (top_sig == SIGQUIT || top_sig == SIGHUP) {
		struct rlimit no_core = { 0, 0 };

		setrlimit(RLIMIT_CORE, &no_core); /* a quit, not a crash */
		signal(top_sig, SIG_DFL);
		raise(top_sig);
	}
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
