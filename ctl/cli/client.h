/*
 * client.h — tollctl's side of the control socket: connect, send one
 * request, read one reply (a JSON reply may span several packets, see
 * TG_JSON_MORE in proto.h). Errors are printed here, once, as one line,
 * and come back as the CLI exit code to use (cli.h).
 */
#ifndef TG_CLI_CLIENT_H
#define TG_CLI_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#define CLIENT_JSON_MAX (64u << 20) /* a larger reply is refused */
#define CLIENT_TIMEOUT_MS 30000

struct client {
	int fd;
	uint32_t seq;
	uint16_t daemon_version; /* from the last reply's header */
	char path[108];
};

/* Connect. 0, or -1 with errno (no message printed). */
int client_try(struct client *c, const char *path);

/* Connect, or print "tollctl: no daemon on PATH (...)" and return
 * CLI_EXIT_NODAEMON. */
int client_open(struct client *c, const char *path);

void client_close(struct client *c);

/* Send type+payload and expect TG_MSG_OK. Returns a CLI exit code. */
int client_call_ok(struct client *c, uint16_t type, const void *p, size_t n);
/* The same, with fd passed along (RUN_POLICY's file); -1: none. */
int client_call_ok_fd(struct client *c, uint16_t type, const void *p,
    size_t n, int fd);

/* Send type+payload and expect TG_MSG_JSON; *text is malloc'd and
 * NUL-terminated. Returns a CLI exit code. */
int client_call_json(struct client *c, uint16_t type, const void *p, size_t n,
    char **text, size_t *len);

/* The same, with fd passed along (SCM_RIGHTS; POLICY_APPLY's file). */
int client_call_json_fd(struct client *c, uint16_t type, const void *p,
    size_t n, int fd, char **text, size_t *len);

/* Exposed for tests: check one reply packet against the request seq.
 * Returns 0 (ok; *type set), or a CLI exit code after printing why. */
int client_check_reply(struct client *c, const void *pkt, size_t n,
    uint16_t *type);

#endif
