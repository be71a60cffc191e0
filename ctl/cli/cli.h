/*
 * cli.h — tollctl: the command table, exit codes and the pieces the
 * commands share. Each command lives in its own cmd_*.c file.
 *
 * Exit codes (also in `tollctl --help`):
 *   0  ok
 *   1  usage or other error
 *   2  daemon unreachable
 *   3  the daemon speaks another protocol version
 *   run: CMD's status, 128+N when CMD was killed by signal N, or the
 *   budget status (CLI_EXIT_BUDGET, --budget-exit-code N) when any request
 *   was refused or the spend reached the budget.
 */
#ifndef TG_CLI_H
#define TG_CLI_H

#include <stdio.h>

#define CLI_EXIT_OK 0
#define CLI_EXIT_ERR 1
#define CLI_EXIT_NODAEMON 2
#define CLI_EXIT_VERSION 3
#define CLI_EXIT_BUDGET 86 /* default budget status of `tollctl run` */

struct cli {
	char socket[108];   /* sun_path of the daemon */
	int socket_given;   /* 1: from --socket or TOLLGATE_SOCKET */
};

struct cli_cmd {
	const char *name;
	int (*run)(struct cli *, int, char **); /* argv[0] is the command */
	const char *summary;
};

/* The table; NULL-terminated. */
extern const struct cli_cmd cli_cmds[];

/* Find a command by exact name or unique prefix. NULL with *ambiguous
 * set to 1 when several match, 0 when none does. */
const struct cli_cmd *cli_lookup(const char *word, int *ambiguous);

/* Print "valid commands: a, b, c" to f. */
void cli_list_commands(FILE *f);

int tollctl_main(int argc, char **argv);

int cmd_run(struct cli *, int, char **);
int cmd_status(struct cli *, int, char **);
int cmd_report(struct cli *, int, char **);
int cmd_top(struct cli *, int, char **);
int cmd_policy(struct cli *, int, char **);
int cmd_idle(struct cli *, int, char **);

#endif
