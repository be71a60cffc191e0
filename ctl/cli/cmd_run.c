/*
 * cmd_run.c — `tollctl run`: options, then the run's sequence:
 *   daemon (the system one if reachable, else a private one) → RUN_BEGIN →
 *   CMD in its own cgroup with the shim preloaded → wait for CMD and its
 *   descendants → RUN_END → summary → exit status (the budget gate).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "cli.h"
#include "client.h"
#include "money.h"
#include "paths.h"
#include "proto.h"
#include "run.h"
#include "util.h"

/* How long a private daemon that broke our connection may take to be
 * gone (its eBPF probes are detached by the kernel as it exits). */
#define DAEMON_LOST_WAIT_MS 3000

struct run_ctx {
	struct run_opts o;
	char token[RUN_TOKEN_LEN + 1];
	struct client c;
	struct pdaemon pd;
	const char *socket;
	char state[PATH_MAX];
	char preload[PATH_MAX + 32];
	int have_preload;
	char so_dir[PATH_MAX];  /* holds a symlink to libtollgate.so, or "" */
	struct summary_out sum;
	int exceeded;           /* the budget gate fired */
	int die_sig;            /* CMD died of it (or it cancelled the run) */
	int system;             /* the system daemon, not a private one */
};

static void
run_usage(FILE *f)
{
	fprintf(f, "usage: tollctl run [--tags K=V,...] [--budget USD] [--policy FILE]\n"
	    "                   [--summary-json FILE] [--budget-exit-code N]\n"
	    "                   [--linger SECONDS] [--] CMD [ARGS...]\n\n"
	    "Run CMD under tollgate: its LLM and GPU usage is metered, tagged and,\n"
	    "with --budget, capped; a summary is printed on stderr at the end.\n\n"
	    "Daemon: the one on the socket (--socket, TOLLGATE_SOCKET or the\n"
	    "default) when it answers; otherwise a private tollgated (next to\n"
	    "tollctl, else in PATH) on a temporary socket, keeping its ledger in\n"
	    "the user's state directory ($TOLLGATE_STATE_DIR overrides it), stopped\n"
	    "at the end. A run's budget can only tighten the host's policy.\n"
	    "CMD gets TOLLGATE_RUN, TOLLGATE_SOCKET, TOLLGATE_TAGS (with --tags)\n"
	    "and libtollgate.so prepended to LD_PRELOAD; it runs in its own cgroup\n"
	    "where one can be created.\n\n"
	    "Signals: with a controlling terminal CMD is in tollctl's process group\n"
	    "(the same job: Ctrl-C, Ctrl-Z and terminal input reach it directly);\n"
	    "without one, CMD leads a process group of its own. INT TERM HUP QUIT\n"
	    "USR1 USR2 WINCH sent to tollctl are forwarded: to CMD when it shares\n"
	    "the group, except those the terminal sent (it sent them to CMD too);\n"
	    "to CMD's group when it has its own. So a signal sent to tollctl's pid\n"
	    "or, without a terminal, to tollctl's process group reaches CMD once.\n"
	    "With a terminal, kill -SIG -PGID of the job reaches CMD directly and\n"
	    "through tollctl: send it to tollctl's pid instead. Signals ignored when\n"
	    "tollctl starts (nohup) stay ignored, in CMD too. When CMD stops, tollctl\n"
	    "stops; continued, it continues CMD. When CMD dies of SIGINT or SIGQUIT\n"
	    "and the budget gate did not fire, tollctl dies of the same signal after\n"
	    "its summary, so that a calling shell loop stops too.\n\n"
	    "After CMD exits, tollctl waits for the processes it left behind (they\n"
	    "may still report usage) up to --linger seconds (default %d), then\n"
	    "terminates them (SIGTERM, 2 s later SIGKILL).\n\n"
	    "  --budget USD          e.g. 5 or 0.25; requests that would pass it\n"
	    "                        are refused\n"
	    "  --policy FILE         the run's own policy: evaluated beside the\n"
	    "                        system daemon's (it can only tighten), or\n"
	    "                        a private daemon's policy\n"
	    "  --summary-json FILE   the report document of the run plus a \"run\"\n"
	    "                        object: token, budget_nano_usd, spent_nano_usd,\n"
	    "                        refused_requests, budget_exceeded; opened\n"
	    "                        (created) before CMD starts\n\n"
	    "exit status: CMD's; 128+N when CMD was killed by signal N; %d (or\n"
	    "--budget-exit-code N) when any request was refused or the spend\n"
	    "reached the budget, whatever CMD's status; 1 when tollctl itself\n"
	    "failed; 2/3 when the daemon is unreachable/of another version.\n"
	    "When writing --summary-json fails at the end, or the private daemon\n"
	    "exits during the run (its log is kept and named), the run's result\n"
	    "is incomplete: the status is the gate's or CMD's when not 0, else 1.\n",
	    RUN_LINGER_S, CLI_EXIT_BUDGET);
}

static int
bad(const char *opt, const char *want, const char *got)
{
	fprintf(stderr, "tollctl run: %s: expected %s, got '%s'\n", opt, want, got);
	return -1;
}

static int
int_arg(const char *s, int lo, int hi, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

static int
opt_one(struct run_opts *o, int c, const char *arg)
{
	switch (c) {
	case 't':
		if (strlen(arg) >= sizeof(o->tags) || run_tags_valid(arg) < 0)
			return bad("--tags", "K=V[,K=V...] (letters, digits, _ . : / - @ +)", arg);
		tg_strlcpy(o->tags, arg, sizeof(o->tags));
		return 0;
	case 'b':
		if (tg_usd_parse(arg + (*arg == '$'), &o->budget_nano) < 0 ||
		    o->budget_nano < 0)
			return bad("--budget", "an amount in USD like 5 or 0.25", arg);
		return 0;
	case 'p':
		if (access(arg, R_OK) < 0) {
			fprintf(stderr, "tollctl run: --policy %s: %s\n", arg,
			    strerror(errno));
			return -1;
		}
		o->policy = arg;
		return 0;
	case 's': o->summary_json = arg; return 0;
	case 'x':
		return int_arg(arg, 0, 255, &o->budget_exit) ? bad("--budget-exit-code",
		    "0..255", arg) : 0;
	case 'l':
		return int_arg(arg, 0, 86400, &o->linger_s) ? bad("--linger",
		    "seconds, 0..86400", arg) : 0;
	}
	return -1;
}

static int
parse_args(int argc, char **argv, struct run_opts *o)
{
	static const struct option opts[] = {
		{ "tags", required_argument, NULL, 't' },
		{ "budget", required_argument, NULL, 'b' },
		{ "policy", required_argument, NULL, 'p' },
		{ "summary-json", required_argument, NULL, 's' },
		{ "budget-exit-code", required_argument, NULL, 'x' },
		{ "linger", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	cli_getopt_reset();
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (c == 'h') {
			run_usage(stdout);
			exit(CLI_EXIT_OK);
		}
		if (c == '?' || c == ':')
			return cli_bad_option("run", argv);
		if (opt_one(o, c, optarg) < 0)
			return -1;
	}
	if (optind >= argc) {
		fprintf(stderr, "tollctl run: no command given (tollctl run [OPTIONS] "
		    "-- CMD [ARGS...])\n");
		return -1;
	}
	o->cmd = argv + optind;
	return 0;
}

static int
make_token(char *out)
{
	unsigned char r[RUN_TOKEN_LEN / 2];

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		perror("tollctl run: getrandom");
		return -1;
	}
	for (size_t i = 0; i < sizeof(r); i++)
		sprintf(out + 2 * i, "%02x", r[i]);
	return 0;
}

#define LD_SEPS " :\t\n"  /* LD_PRELOAD splits its list at these */

/* A path with a space or a colon would be split by LD_PRELOAD (and the
 * shim silently not loaded): preload a symlink in a clean directory. */
static void
preload_link(struct run_ctx *x)
{
	const char *tmp = getenv("TMPDIR");
	char link[PATH_MAX + 32];

	if (tmp == NULL || *tmp == '\0' || strpbrk(tmp, LD_SEPS) != NULL ||
	    strlen(tmp) > 200)
		tmp = "/tmp";
	snprintf(x->so_dir, sizeof(x->so_dir), "%s/tollctl-so-XXXXXX", tmp);
	if (mkdtemp(x->so_dir) == NULL) {
		fprintf(stderr, "tollctl run: mkdtemp %s: %s\n", x->so_dir,
		    strerror(errno));
		x->so_dir[0] = '\0';
		x->have_preload = 0;
		return;
	}
	snprintf(link, sizeof(link), "%s/libtollgate.so", x->so_dir);
	if (symlink(x->preload, link) < 0) {
		fprintf(stderr, "tollctl run: symlink %s: %s\n", link,
		    strerror(errno));
		x->have_preload = 0;
		return;
	}
	tg_strlcpy(x->preload, link, sizeof(x->preload));
}

static void
preload_unlink(struct run_ctx *x)
{
	char link[PATH_MAX + 32];

	if (x->so_dir[0] == '\0')
		return;
	snprintf(link, sizeof(link), "%s/libtollgate.so", x->so_dir);
	unlink(link);
	rmdir(x->so_dir);
	x->so_dir[0] = '\0';
}

/* libtollgate.so next to tollctl (build tree), or in ../lib (installed). */
static void
find_preload(struct run_ctx *x)
{
	static const char *rel[] = { "/libtollgate.so", "/../lib/libtollgate.so" };
	char dir[PATH_MAX];

	if (run_exe_dir(dir, sizeof(dir)) < 0)
		return;
	for (size_t i = 0; i < 2 && !x->have_preload; i++) {
		snprintf(x->preload, sizeof(x->preload), "%s%s", dir, rel[i]);
		x->have_preload = access(x->preload, R_OK) == 0;
	}
	if (x->have_preload && strpbrk(x->preload, LD_SEPS) != NULL)
		preload_link(x);
}

static int
private_daemon(struct run_ctx *x)
{
	if (tg_path_state_dir(x->state, sizeof(x->state)) < 0) {
		fprintf(stderr, "tollctl run: state directory path too long\n");
		return CLI_EXIT_ERR;
	}
	if (tg_mkdirs(x->state, 0700) < 0) {
		fprintf(stderr, "tollctl run: state directory %s: %s\n", x->state,
		    strerror(errno));
		return CLI_EXIT_ERR;
	}
	if (pdaemon_start(&x->pd, x->state, x->o.policy) < 0)
		return CLI_EXIT_ERR;
	x->socket = x->pd.sock;
	return client_open(&x->c, x->socket);
}

/* The system daemon when it answers, else a private one. */
static int
connect_daemon(struct cli *cli, struct run_ctx *x)
{
	if (client_try(&x->c, cli->socket) == 0) {
		x->socket = cli->socket;
		x->system = 1;
		return CLI_EXIT_OK;
	}
	if (cli->socket_given)
		fprintf(stderr, "tollctl run: no daemon on %s; starting a private "
		    "one\n", cli->socket);
	return private_daemon(x);
}

/* The system daemon keeps its policy; the run's own goes beside it (it
 * can only tighten). A private daemon got it with --policy. */
static int
run_policy(struct run_ctx *x)
{
	struct tg_run_policy rp;
	int fd, rc;

	memset(&rp, 0, sizeof(rp));
	tg_strlcpy(rp.run, x->token, sizeof(rp.run));
	tg_strlcpy(rp.name, x->o.policy, sizeof(rp.name));
	if ((fd = open(x->o.policy, O_RDONLY | O_CLOEXEC)) == -1) {
		fprintf(stderr, "tollctl run: --policy %s: %s\n", x->o.policy,
		    strerror(errno));
		return CLI_EXIT_ERR;
	}
	rc = client_call_ok_fd(&x->c, TG_MSG_RUN_POLICY, &rp, sizeof(rp), fd);
	close(fd);
	return rc;
}

static int
begin(struct run_ctx *x)
{
	struct tg_run_begin b;
	int rc;

	memset(&b, 0, sizeof(b));
	b.budget_nano_usd = x->o.budget_nano;
	tg_strlcpy(b.run, x->token, sizeof(b.run));
	tg_strlcpy(b.tags, x->o.tags, sizeof(b.tags));
	if ((rc = client_call_ok(&x->c, TG_MSG_RUN_BEGIN, &b, sizeof(b))) != 0)
		return rc;
	return x->system && x->o.policy ? run_policy(x) : CLI_EXIT_OK;
}

static int
run_cmd(struct run_ctx *x)
{
	struct child_env env = {
		.token = x->token,
		.socket = x->socket,
		.tags = x->o.tags[0] ? x->o.tags : NULL,
		.preload = x->have_preload ? x->preload : NULL,
	};
	struct run_cgroup cg = { .procs_fd = -1 };
	int status;

	if ((x->die_sig = child_signal_pending()) != 0)
		return 128 + x->die_sig;
	if (cgroup_create(&cg, x->token) < 0)
		cg.procs_fd = -1;
	status = child_run(x->o.cmd, &env, &cg, x->o.linger_s, x->pd.pid,
	    &x->pd.reaped);
	x->die_sig = child_term_signal();
	cgroup_remove(&cg);
	return status;
}

/* The status of a run whose result is incomplete: a failure, but the
 * gate's or CMD's status is kept when it says one already. */
static int
incomplete(int status)
{
	return status != 0 ? status : CLI_EXIT_ERR;
}

/* RUN_END failed: was it because our private daemon died? Say so, and
 * keep its log for the user to read. (A daemon that closed our
 * connection as it died may not be reaped yet: give it a moment.) */
static int
daemon_lost(struct run_ctx *x, int status)
{
	if (x->pd.pid <= 0 || !pdaemon_wait_gone(&x->pd, DAEMON_LOST_WAIT_MS))
		return 0;
	x->pd.keep_log = 1;
	fprintf(stderr, "tollctl run: the private tollgated exited during the "
	    "run (see %s); the command's exit status was %d\n", x->pd.log,
	    status);
	return 1;
}

/* RUN_END, summary, --summary-json; the exit status. */
static int
finish(struct run_ctx *x, int status)
{
	struct tg_run_end e;
	struct run_result r;
	json_error_t jerr;
	json_t *doc;
	char *text;
	size_t len;
	int rc;

	memset(&e, 0, sizeof(e));
	tg_strlcpy(e.run, x->token, sizeof(e.run));
	if ((rc = client_call_json(&x->c, TG_MSG_RUN_END, &e, sizeof(e), &text,
	    &len)) != 0) {
		summary_abandon(&x->sum);
		return daemon_lost(x, status) ? incomplete(status) : rc;
	}
	doc = json_loadb(text, len, 0, &jerr);
	free(text);
	if (doc == NULL || run_result_get(doc, x->o.budget_nano, &r) < 0) {
		fprintf(stderr, "tollctl run: the daemon's run summary is malformed\n");
		json_decref(doc);
		return CLI_EXIT_ERR;
	}
	run_summary_print(stderr, doc, &r, status, x->o.budget_exit);
	x->exceeded = r.exceeded;
	rc = x->o.summary_json ? run_summary_write(&x->sum, doc, x->token, &r) :
	    0;
	json_decref(doc);
	status = run_exit_status(&r, status, x->o.budget_exit);
	return rc < 0 ? incomplete(status) : status;
}

int
cmd_run(struct cli *cli, int argc, char **argv)
{
	struct run_ctx x;
	int rc, status;

	memset(&x, 0, sizeof(x));
	x.c.fd = x.pd.pidfd = -1;
	x.o.budget_nano = -1;
	x.o.budget_exit = CLI_EXIT_BUDGET;
	x.o.linger_s = RUN_LINGER_S;
	x.sum.fd = -1;
	if (parse_args(argc, argv, &x.o) < 0 || make_token(x.token) < 0)
		return CLI_EXIT_ERR;
	child_signals_init();
	if (x.o.summary_json && summary_open(&x.sum, x.o.summary_json) < 0)
		return CLI_EXIT_ERR;
	if ((rc = connect_daemon(cli, &x)) == 0 && (rc = begin(&x)) == 0) {
		find_preload(&x);
		status = run_cmd(&x);
		rc = finish(&x, status);
	}
	summary_abandon(&x.sum);
	client_close(&x.c);
	pdaemon_stop(&x.pd);
	preload_unlink(&x);
	if (!x.exceeded && (x.die_sig == SIGINT || x.die_sig == SIGQUIT))
		child_die_like(x.die_sig);
	return rc;
}
