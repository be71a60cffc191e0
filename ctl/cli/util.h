/*
 * util.h — small helpers the tollctl commands share.
 */
#ifndef TG_CLI_UTIL_H
#define TG_CLI_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "cli.h"

/* CLOCK_REALTIME in ns. */
int64_t cli_now_ns(void);

/* Connect to cli->socket, send one request, parse the JSON reply.
 * doc is the parsed document, text and len the raw text (for printing it
 * as-is); free both. Returns a CLI exit code (messages printed). */
int cli_fetch(struct cli *cli, uint16_t type, const void *p, size_t n,
    json_t **doc, char **text, size_t *len, uint16_t *daemon_version);

/* "table" | "csv" | "json" | "text" → index into allowed (NULL-terminated
 * list); -1 after printing "tollctl CMD: --format: expected …". */
int cli_format(const char *cmd, const char *arg, const char *const *allowed);

/* Reset getopt for a command's argv (GNU: optind = 0 re-initialises),
 * quietly: the commands print their own messages for bad options. */
void cli_getopt_reset(void);

/* "tollctl CMD: bad option 'ARG' (see tollctl CMD --help)" for the option
 * getopt_long just refused; returns -1. */
int cli_bad_option(const char *cmd, char **argv);

/* -1 after "tollctl CMD: unexpected argument 'ARG'" when argv has words
 * left after the options; else 0. */
int cli_no_args_left(const char *cmd, int argc, char **argv);

/* The arguments of a command whose only option is --format F (and
 * --help: usage to stdout, exit 0): *fmt set to F's index in formats
 * (unchanged without --format); 0, or -1 after one message. */
int cli_format_only(const char *cmd, int argc, char **argv,
    const char *const *formats, void (*usage)(FILE *), int *fmt);

#endif
