/*
 * cli.c — tollctl's grammar: global options, then a command word looked up
 * in a table (unique prefixes accepted), then the command's own options.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "paths.h"
#include "proto.h"

const struct cli_cmd cli_cmds[] = {
	{ "idle", cmd_idle, "processes holding a GPU and how long each is idle" },
	{ "policy", cmd_policy, "check, evaluate, show or apply a policy" },
	{ "report", cmd_report, "usage and cost grouped by model, provider, source or tag" },
	{ "run", cmd_run, "run a command under tollgate, with an optional budget" },
	{ "status", cmd_status, "daemon health, processes, runs, what each rule has left" },
	{ "top", cmd_top, "live view of what is spending now" },
	{ NULL, NULL, NULL },
};

const struct cli_cmd *
cli_lookup(const char *word, int *ambiguous)
{
	const struct cli_cmd *found = NULL;
	size_t n = strlen(word);

	*ambiguous = 0;
	if (n == 0)
		return NULL;
	for (const struct cli_cmd *c = cli_cmds; c->name; c++) {
		if (strcmp(c->name, word) == 0)
			return c;
		if (strncmp(c->name, word, n) != 0)
			continue;
		if (found) {
			*ambiguous = 1;
			return NULL;
		}
		found = c;
	}
	return found;
}

void
cli_list_commands(FILE *f)
{
	fputs("valid commands:", f);
	for (const struct cli_cmd *c = cli_cmds; c->name; c++)
		fprintf(f, "%s %s", c == cli_cmds ? "" : ",", c->name);
	fputc('\n', f);
}

static void
usage(FILE *f)
{
	fputs("usage: tollctl [--socket PATH] COMMAND [ARGS...]\n\n"
	    "commands (a unique prefix is enough: `tollctl st` = status):\n", f);
	for (const struct cli_cmd *c = cli_cmds; c->name; c++)
		fprintf(f, "  %-8s %s\n", c->name, c->summary);
	fprintf(f, "\n"
	    "`tollctl COMMAND --help` describes each command.\n"
	    "The daemon's socket: --socket PATH, else $TOLLGATE_SOCKET, else\n"
	    "/run/tollgate/tollgate.sock (root) or the per-user runtime path.\n\n"
	    "exit status:\n"
	    "  0   ok\n"
	    "  1   usage or other error\n"
	    "  2   daemon unreachable\n"
	    "  3   the daemon speaks another protocol version (ours: %d)\n"
	    "  run only: CMD's exit status; 128+N if CMD was killed by signal N;\n"
	    "  %d (or --budget-exit-code N) when a request was refused or the\n"
	    "  spend reached the budget\n", TG_PROTO_VERSION, CLI_EXIT_BUDGET);
}

/* --socket PATH / --socket=PATH; returns how many argv slots it used,
 * 0 when argv[i] is not it, -1 on error. */
static int
global_socket(struct cli *cli, char **argv, int i, int argc)
{
	const char *v = NULL;
	int used = 0;

	if (strcmp(argv[i], "--socket") == 0) {
		if (i + 1 >= argc) {
			fprintf(stderr, "tollctl: --socket needs a PATH\n");
			return -1;
		}
		v = argv[i + 1];
		used = 2;
	} else if (strncmp(argv[i], "--socket=", 9) == 0) {
		v = argv[i] + 9;
		used = 1;
	} else
		return 0;
	if (*v == '\0' || strlen(v) >= sizeof(cli->socket)) {
		fprintf(stderr, "tollctl: --socket: path empty or longer than %zu bytes\n",
		    sizeof(cli->socket) - 1);
		return -1;
	}
	tg_strlcpy(cli->socket, v, sizeof(cli->socket));
	cli->socket_given = 1;
	return used;
}

static int
default_socket(struct cli *cli)
{
	const char *env = getenv("TOLLGATE_SOCKET");

	cli->socket_given = env && *env;
	if (tg_path_socket(cli->socket, sizeof(cli->socket)) < 0) {
		fprintf(stderr, "tollctl: socket path too long (set --socket)\n");
		return -1;
	}
	return 0;
}

int
tollctl_main(int argc, char **argv)
{
	struct cli cli;
	const struct cli_cmd *c;
	int i = 1, n, ambiguous;

	memset(&cli, 0, sizeof(cli));
	log_init("tollctl", getenv("TOLLGATE_DEBUG") != NULL);
	if (default_socket(&cli) < 0)
		return CLI_EXIT_ERR;
	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return CLI_EXIT_OK;
		}
		if ((n = global_socket(&cli, argv, i, argc)) < 0)
			return CLI_EXIT_ERR;
		if (n == 0) {
			fprintf(stderr, "tollctl: unknown option '%s'\n", argv[i]);
			usage(stderr);
			return CLI_EXIT_ERR;
		}
		i += n;
	}
	if (i >= argc) {
		usage(stderr);
		return CLI_EXIT_ERR;
	}
	if ((c = cli_lookup(argv[i], &ambiguous)) == NULL) {
		fprintf(stderr, "tollctl: %s command '%s'; ",
		    ambiguous ? "ambiguous" : "unknown", argv[i]);
		cli_list_commands(stderr);
		return CLI_EXIT_ERR;
	}
	return c->run(&cli, argc - i, argv + i);
}
