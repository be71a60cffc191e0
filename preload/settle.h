/*
 * settle.h — the hooks' records settled off the client's thread.
 *
 * Settling one record is a daemon round trip that waits for the ledger's
 * COMMIT (hundreds of µs): done in the thread that read the response, it
 * halved a loopback client's request rate. So the hooks only queue their
 * records (a mutex and a condition signal); one shim thread, started at
 * the first record, sends what is queued pipelined (up to
 * SHIM_SETTLE_BATCH in flight: the daemon commits them as a group) and
 * matches the ACKs. The one daemon connection is not kept for the wait
 * (a commit takes hundreds of µs): the thread polls with the lock free
 * and takes it only to read what has arrived, and an admission that
 * takes the lock meanwhile hands over the ACKs it reads (client.h,
 * shim_conn_stray_ack). A record without an ACK (timeout, lost connection, a
 * refusal) is settled again with the SAME id through the ordinary path,
 * which retries once and spools: the ledger ignores a repeated id, so
 * nothing counts twice and nothing acknowledged is lost.
 *
 * Bounds: a record sits in the queue only until the thread wakes (µs). At
 * exit a destructor drains the queue and waits for a batch in flight, at
 * most SHIM_SETTLE_EXIT_NS; what is left then is spooled. A process that
 * ends by _exit, exec or a signal loses what was still queued, not what
 * was sent (the daemon reads it from the socket). The thread blocks every
 * signal and runs inside tollgate (its I/O is never metered). A fork child
 * drops its parent's queue (the parent settles it) and starts its own
 * thread when it needs one.
 */
#ifndef SHIM_SETTLE_H
#define SHIM_SETTLE_H

#include "xchg.h"

#define SHIM_SETTLE_BATCH 32
#define SHIM_SETTLE_EXIT_NS (2 * 1000000000LL)

/* Queue the list d (taken). Without a thread (it could not be started),
 * settled here and now. */
void shim_settle_enqueue(struct shim_done *d);

/* For fork.c's child handler. */
void shim_settle_atfork_child(void);

#endif
