/*
 * xchg.h — one metered LLM connection, whatever carries its bytes: a TCP
 * socket (sock.c) or an OpenSSL SSL* (tls.c). It owns the parser
 * (lib/llm.h), the clock of each request, and the records of finished
 * exchanges until the carrier settles them with the daemon.
 *
 * Not thread-safe: the carrier's own lock guards a struct shim_xchg, and
 * records are settled (a daemon call, bounded by TOLLGATE_TIMEOUT_MS) only
 * after that lock is released: take them under the lock, settle outside.
 * The caller is inside tollgate (shim_inside) for every call here.
 */
#ifndef SHIM_XCHG_H
#define SHIM_XCHG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "llm.h"
#include "proto.h"

/* Requests whose start time is kept while their responses are pending
 * (pipelining); past it a latency is measured from the response's end. */
#define SHIM_XCHG_RING 8

/* A finished exchange's record, waiting to be settled. */
struct shim_done {
	struct shim_done *next;
	struct tg_record rec;
};

struct shim_xchg {
	struct llm_conn *conn;       /* NULL: not metered (yet) */
	const struct llm_req *cur;   /* the request seen last */
	unsigned started, finished;  /* exchanges begun / ended */
	int64_t start_ns[SHIM_XCHG_RING];
	int silent;                  /* dropping: finished exchanges vanish */
	struct shim_done *done, **tail;
};

/* A zeroed or ended x becomes empty (no parser). */
void shim_xchg_init(struct shim_xchg *x);

/* Do the first bytes a client writes start an exchange we meter? An
 * HTTP/1.1 POST, or the HTTP/2 client preface; anything else (a GET,
 * another protocol) is never looked at again on that connection. */
int shim_xchg_looks_llm(const struct iovec *v, int nv, size_t n);

/* Start metering: 0, or -1 (out of memory: the connection passes
 * through). */
int shim_xchg_start(struct shim_xchg *x);

/* The connection ended (closed, a gap, overwritten): exchanges still
 * pending are reported cut, or dropped when report is 0 (a fork child's
 * inherited state, a connection found to be another file). */
void shim_xchg_end(struct shim_xchg *x, int report);

/* n bytes the client wrote (out) / read (in), spread over nv iovecs in
 * order; only bytes actually transferred. */
void shim_xchg_out(struct shim_xchg *x, const struct iovec *v, int nv,
    size_t n);
void shim_xchg_in(struct shim_xchg *x, const struct iovec *v, int nv,
    size_t n);

/* The records finished so far, taken out of x (NULL: none). */
struct shim_done *shim_xchg_take(struct shim_xchg *x);

/* Settle each record (meter.h) and free the list; errno is kept. */
void shim_done_settle(struct shim_done *d);
/* Free without settling. */
void shim_done_free(struct shim_done *d);

#endif
