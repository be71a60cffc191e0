/* util.c — see util.h. */
#include "util.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"

int64_t
cli_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int
cli_fetch(struct cli *cli, uint16_t type, const void *p, size_t n,
    json_t **doc, char **text, size_t *len, uint16_t *daemon_version)
{
	struct client c;
	json_error_t jerr;
	int rc;

	*doc = NULL;
	if ((rc = client_open(&c, cli->socket)) != 0)
		return rc;
	rc = client_call_json(&c, type, p, n, text, len);
	if (daemon_version)
		*daemon_version = c.daemon_version;
	client_close(&c);
	if (rc != 0)
		return rc;
	if ((*doc = json_loadb(*text, *len, 0, &jerr)) == NULL) {
		fprintf(stderr, "tollctl: the daemon sent malformed JSON: %s "
		    "(line %d)\n", jerr.text, jerr.line);
		free(*text);
		*text = NULL;
		return CLI_EXIT_ERR;
	}
	return CLI_EXIT_OK;
}

int
cli_format(const char *cmd, const char *arg, const char *const *allowed)
{
	for (int i = 0; allowed[i]; i++)
		if (strcmp(arg, allowed[i]) == 0)
			return i;
	fprintf(stderr, "tollctl %s: --format: expected ", cmd);
	for (int i = 0; allowed[i]; i++)
		fprintf(stderr, "%s%s", allowed[i], allowed[i + 1] == NULL ? "" :
		    allowed[i + 2] == NULL ? " or " : ", ");
	fprintf(stderr, ", got '%s'\n", arg);
	return -1;
}

void
cli_getopt_reset(void)
{
	optind = 0;
	opterr = 0;
}

int
cli_bad_option(const char *cmd, char **argv)
{
	fprintf(stderr, "tollctl %s: bad option '%s' (see tollctl %s --help)\n",
	    cmd, argv[optind - 1], cmd);
	return -1;
}

int
cli_format_only(const char *cmd, int argc, char **argv,
    const char *const *formats, void (*usage)(FILE *), int *fmt)
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
			if ((*fmt = cli_format(cmd, optarg, formats)) < 0)
				return -1;
			break;
		case 'h':
			usage(stdout);
			exit(CLI_EXIT_OK);
		default:
			return cli_bad_option(cmd, argv);
		}
	}
	return cli_no_args_left(cmd, argc, argv);
}

int
cli_no_args_left(const char *cmd, int argc, char **argv)
{
	if (optind >= argc)
		return 0;
	fprintf(stderr, "tollctl %s: unexpected argument '%s'\n", cmd,
	    argv[optind]);
	return -1;
}
