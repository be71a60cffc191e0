/*
 * client.h — the shim's one connection to tollgated (lib/proto.h).
 *
 * One SOCK_SEQPACKET connection per process, guarded by one mutex; callers
 * lock with a deadline (CLOCK_MONOTONIC ns) and every wait inside honours
 * it. Registration is lazy: nothing connects until shim_conn_ensure() is
 * called by the first metered call. Replies are matched by seq; a reply
 * that arrives after its caller gave up is discarded (fds it carries are
 * closed). A daemon that is not there is retried at most once per
 * SHIM_RETRY_NS; one of an incompatible protocol version likewise, with one
 * line on stderr. A fork child never uses what it inherited: the first lock
 * in a new process generation forgets the inherited socket (closing it only
 * if the fd still is that socket, by dev+ino) and the mapped pages. Every
 * lock also checks that the socket's fd still is our socket (fdid.h): a
 * host that closed it and reused the number keeps that fd untouched, and
 * we reconnect on a fresh one. Sends use MSG_NOSIGNAL (no SIGPIPE).
 *
 * What the policy asks of this process (the TG_REG_* bits of proto.h: fail
 * closed, mode off refused) comes with the registration, then from the
 * verdict page's flags, read (acquire) each time they are asked for while
 * the page is mapped. The last value seen is kept when the connection
 * breaks or the daemon dies (a dead daemon's page keeps its last flags),
 * until the next registration replaces it; a fork child keeps it too: the
 * child has the parent's tags, user and executable, so the same rules
 * match it, and a fork must not be a way around a closed fail mode. It
 * starts as 0 (fail open, off allowed): nothing known.
 */
#ifndef SHIM_CLIENT_H
#define SHIM_CLIENT_H

#include <stdint.h>

#include "page.h"
#include "proto.h"

#define SHIM_RETRY_NS 1000000000LL

struct shim_reply {
	struct tg_hdr hdr;
	union {
		struct tg_fail fail;
		struct tg_registered reg;
		struct tg_verdict verdict;
		struct tg_ack ack;
		char raw[512];
	} u;
};

/* Results of calls below 0. */
#define SHIM_TIMEOUT (-1) /* no reply by the deadline; connection kept */
#define SHIM_LOST (-2)    /* no connection, or it broke */

/* 0, or SHIM_TIMEOUT when the lock was not free by the deadline. gen is
 * shim_instance_sync()'s. */
int shim_conn_lock(uint64_t gen, int64_t deadline);
void shim_conn_unlock(void);

/* Connect and register if needed. 0: ready; 1: registered just now (the
 * caller replays the spool); SHIM_LOST: unavailable, apply the fail mode.
 * force: try now even inside the back-off (an explicit flush). */
int shim_conn_ensure(int64_t deadline, int force);

/* Send a request, wait for its reply. 0: reply of type want in *r; a
 * positive enum tg_err: the daemon answered FAIL; SHIM_TIMEOUT; SHIM_LOST. */
int shim_conn_call(uint16_t type, const void *p, uint32_t len, uint16_t want,
    struct shim_reply *r, int64_t deadline);

/* Pipelined use (spool replay): send without waiting, then receive the
 * next reply whatever its seq. Same results as shim_conn_call. */
int shim_conn_send(uint16_t type, const void *p, uint32_t len, uint32_t *seq,
    int64_t deadline);
int shim_conn_recv(struct shim_reply *r, int64_t deadline);

/* A reply that arrives while another caller waits for its own is not
 * that caller's: an ACK among them goes to this hook (the settler's
 * records in flight, settle.h), under the connection lock, before it is
 * dropped. NULL: dropped. */
extern void (*shim_conn_stray_ack)(const struct shim_reply *r);

/* The connection's fd now, read without the lock: only a hint to poll
 * on (it may change at once); -1 when none. */
int shim_conn_fd_hint(void);

/* 1 when the daemon would answer a resent message with the same FAIL
 * code err (a bad field, no permission): retrying cannot help. */
int shim_conn_permanent(int err);

/* Policy bits: the TG_REG_* ones, and LEARNED while this process
 * generation has registered (the others then come from a daemon, not
 * from a parent process or the default). */
#define SHIM_POLICY_BITS (TG_REG_FAIL_CLOSED | TG_REG_MODE_OFF_REFUSED | \
    TG_REG_LLM_NO_ADMIT)
#define SHIM_POLICY_LEARNED 0x80000000u

/* The policy bits now. learn: when this generation has not registered
 * yet, connect and register first (back-off and deadline as
 * shim_conn_ensure). Takes the lock (a deadline already past: only a free
 * one) but makes no syscall once registered; lock not to be had: the
 * cached bits. */
uint32_t shim_conn_policy(uint64_t gen, int64_t deadline, int learn);

/* The cached bits without the lock (a re-entrant call). */
uint32_t shim_conn_policy_cached(void);

/* The counters page, or NULL when not registered (for the hooks). */
struct tg_counters_page *shim_conn_counters(void);

void shim_conn_atfork_prepare(void);
void shim_conn_atfork_parent(void);
void shim_conn_atfork_child(void);

#endif
