/*
 * client_int.h — the connection state shared by client.c (lifecycle:
 * lock, connect, register, fork) and client_io.c (messages). Internal to
 * the client; everything here is used with the connection lock held.
 */
#ifndef SHIM_CLIENT_INT_H
#define SHIM_CLIENT_INT_H

#include <stdatomic.h>
#include <stdint.h>

#include "client.h"
#include "fdid.h"
#include "page.h"

struct conn {
	struct shim_fd sock;          /* fd -1: none */
	uint32_t seq;
	uint64_t gen;                 /* process generation that owns this */
	int64_t next_try;             /* mono ns; no connect before it */
	/* Last known TG_REG_* bits, plus SHIM_POLICY_LEARNED while this
	 * process generation has registered: written with the lock held,
	 * read without it where the lock is not to be had. The bits outlive
	 * the connection, the pages and a fork (see client.h). */
	_Atomic uint32_t policy;
	int said_version;
	struct tg_verdict_page *verdict;
	struct tg_counters_page *counters;
};

extern struct conn shim_conn;

/* Close the connection (if the fd is still ours), unmap the pages; no
 * connect before retry_after ns from now. */
void shim_conn_drop(int64_t retry_after);

/* The daemon speaks another protocol version: one line, then drop. */
void shim_conn_bad_version(void);

/* Wait for the reply to seq (stale replies are discarded); fds it carries
 * go to fds/nfds when given. Results as shim_conn_call. */
int shim_conn_await(uint32_t seq, uint16_t want, struct shim_reply *r,
    int fds[2], int *nfds, int64_t deadline);

void shim_conn_close_fds(int *fds, int n);

#endif
