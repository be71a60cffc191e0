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
 * (pipelining, HTTP/2 streams), by their ordinal (llm_exchange.seq); one
 * overwritten by a later one has no start: its latency is 0. */
#define SHIM_XCHG_RING 32

/* A finished exchange's record, waiting to be settled. */
struct shim_done {
	struct shim_done *next;
	struct tg_record rec;
};

/* What admission left for a request's record. */
struct shim_xchg_meta {
	uint64_t seq;                /* whose (llm_exchange.seq); 0: none */
	int64_t start_ns;
	uint64_t admit_id;
	uint32_t delay_ms;
	char rule[64];
};

struct shim_xchg {
	struct llm_conn *conn;       /* NULL: not metered (yet) */
	uint64_t noted;              /* requests begun whose start is noted */
	struct shim_xchg_meta meta[SHIM_XCHG_RING];
	int admits;                  /* the process admits its requests */
	int silent;                  /* dropping: finished exchanges vanish */
	struct shim_done *done, **tail;
	/* admission (below) */
	int holding;                 /* this request's bytes are held */
	int continued;               /* its headers went ahead (100-continue) */
	char *held;                  /* what the client wrote, not yet sent */
	size_t nheld, held_cap;
	int refused;                 /* answered here; nothing more is sent */
	char *resp;                  /* the answer, served to the reads */
	size_t nresp, resp_off;
	uint64_t epoch;              /* bumped whenever the connection ends */
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

/*
 * Admission (gate.h). When the process must admit its LLM requests, a
 * write at a request's start is not sent: its bytes are held (copied, at
 * most SHIM_XCHG_HOLD_MAX) and fed to the parser, and the client is told
 * they were written. So is every later write of that request, until the
 * parser knows the model and max tokens (the whole body, or its first
 * LLM_CONN_MAX_BUF bytes): then the carrier asks admission, outside its
 * lock, and sends what was held (shim_xchg_admitted) or answers the
 * client itself (shim_xchg_refused). A request that is not an LLM call
 * is released as soon as its headers say so. With "Expect:
 * 100-continue" the headers go ahead (the server's 100 lets the client
 * send the body) and the body is held: a refused request's server then
 * sees its headers and never its body.
 */
#define SHIM_XCHG_HOLD_MAX (LLM_CONN_MAX_BUF + 128 * 1024)

enum shim_xw {
	SHIM_XW_REAL,           /* not held: write it, then shim_xchg_out */
	SHIM_XW_HELD,           /* taken (*took bytes): claim them written */
	SHIM_XW_RELEASE,        /* taken; send the held bytes now */
	SHIM_XW_ADMIT,          /* taken; the request is complete: admit it */
	SHIM_XW_SWALLOW,        /* refused earlier: claim written, drop */
};

/* Before a client write of n bytes. gate: this process admits requests
 * (gate.h). *took: the bytes taken (HELD, RELEASE, ADMIT; may be fewer
 * than n at the hold bound: a short write). */
enum shim_xw shim_xchg_write(struct shim_xchg *x, const struct iovec *v,
    int nv, size_t n, int gate, size_t *took);

/* The held bytes, taken out of x (*n of them; free() them). */
char *shim_xchg_take_held(struct shim_xchg *x, size_t *n);

/* The request being held (for admission), or NULL. */
const struct llm_req *shim_xchg_request(const struct shim_xchg *x);

/* Admission let it go after delay_ms: its record carries admit_id. */
void shim_xchg_admitted(struct shim_xchg *x, uint64_t admit_id,
    uint32_t delay_ms, const char *rule);

/* Refused: resp (malloc'd, taken) is what the client reads from now on,
 * then end of file; the request and anything written later are dropped,
 * and the parser's exchanges end without records. */
void shim_xchg_refused(struct shim_xchg *x, char *resp, size_t nresp);

/* A refused connection's answer into v (nv iovecs, n bytes at most):
 * bytes copied, 0 at its end. peek: leave them for the next read. */
size_t shim_xchg_answer(struct shim_xchg *x, const struct iovec *v, int nv,
    size_t n, int peek);

/* The records finished so far, taken out of x (NULL: none). */
struct shim_done *shim_xchg_take(struct shim_xchg *x);

/* Hand each record over for settlement (meter.h: the settler thread of
 * settle.h, or a test's function at once) and free the list; errno is
 * kept. */
void shim_done_settle(struct shim_done *d);
/* Free without settling. */
void shim_done_free(struct shim_done *d);

#endif
