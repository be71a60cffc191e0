/*
 * sock.h — plain-HTTP LLM metering on TCP sockets, observe only (issue 4,
 * first slice): per-fd state behind the libc hooks of hook_sock.c.
 *
 * Cost: every hooked call on an fd looks at one byte, shim_sock_kind[fd]
 * (a fixed table of SHIM_SOCK_FDS entries; larger fds are never metered);
 * 0 — a file, a pipe, a non-TCP or non-HTTP socket — means the real call
 * and nothing else. Only an AF_INET/AF_INET6 SOCK_STREAM socket whose
 * connect() succeeded or is in progress becomes a candidate; the first
 * bytes written decide: "POST " or the HTTP/2 preface starts a metered
 * exchange (xchg.h, the part shared with TLS), anything else (TLS, a
 * GET, a database protocol) makes the fd 0 again for the rest of the
 * connection. The state is reset at connect(), at close(), and when
 * dup2/dup3 overwrite the fd (the new number gets no state: pass-through).
 *
 * Bytes are fed only when actually transferred (return value > 0), iovecs
 * in order; MSG_PEEK reads are not fed; a MSG_TRUNC read on a stream
 * discards bytes we cannot see: the connection's pending exchanges end
 * cut and it passes through from there. Inside tollgate (shim_inside: our
 * own I/O, a signal handler that interrupted us) every hook passes through
 * without metering. errno is left as the real call set it.
 *
 * Threads: one fd's state may be used by two threads at once (one writes,
 * one reads); a mutex per state guards its llm_conn, never held across a
 * real call or a daemon call. States are allocated once per fd number and
 * never freed, so a thread racing another's close() never touches freed
 * memory. A finished exchange becomes a record (meter.h) in the parser's
 * callback; it is settled with the daemon (bounded by TOLLGATE_TIMEOUT_MS)
 * after the mutex is released, in the read or close hook that finished it.
 *
 * fork: a state carries the process generation (instance.h) that made it.
 * A fork child that touches an inherited state (any hook on that fd) drops
 * it without reporting — the parent reports its own exchanges — and the
 * fd passes through in the child; a mutex a parent thread held at fork is
 * replaced and its llm_conn leaked rather than freed half-updated. A vfork
 * child shares our memory: its close/dup2/dup3 on a metered fd
 * (Python's subprocess does close and dup2 there) touch no state.
 *
 * Known limit: a hook on a METERED fd may allocate and free (the parser,
 * the decoders, the record), so closing or first writing a metered LLM
 * socket from a signal handler that interrupted malloc can deadlock. No
 * other fd is affected: the hooks do nothing else for them.
 */
#ifndef SHIM_SOCK_H
#define SHIM_SOCK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define SHIM_SOCK_FDS 65536

/* ANSWER: a refused request's connection; reads get the refusal. */
enum { SHIM_SOCK_NONE, SHIM_SOCK_CANDIDATE, SHIM_SOCK_METERED,
	SHIM_SOCK_ANSWER };

extern uint8_t shim_sock_kind[SHIM_SOCK_FDS];

/* The one load of the hot path. */
static inline int
shim_sock_watched(int fd)
{
	return (unsigned)fd < SHIM_SOCK_FDS &&
	    __atomic_load_n(&shim_sock_kind[fd], __ATOMIC_RELAXED) != 0;
}

#include "xchg.h"

static inline int
shim_sock_answering(int fd)
{
	return (unsigned)fd < SHIM_SOCK_FDS && __atomic_load_n(
	    &shim_sock_kind[fd], __ATOMIC_RELAXED) == SHIM_SOCK_ANSWER;
}

/* After connect(fd, a) returned 0 or failed with EINPROGRESS/EINTR. */
void shim_sock_connected(int fd, const struct sockaddr *a, socklen_t alen);

/* n > 0 bytes of v (nv iovecs) written / read on a watched fd. */
void shim_sock_out(int fd, const struct iovec *v, int nv, size_t n);
void shim_sock_in(int fd, const struct iovec *v, int nv, size_t n);

/* Admission (xchg.h, gate.h), before the real write of n bytes on a
 * watched fd. 0: make the real write (then shim_sock_out); 1: done here,
 * *ret is what the write returns (errno set when -1): the bytes were held,
 * or sent with what was held before them, or dropped after a refusal.
 * dontwait: MSG_DONTWAIT (an O_NONBLOCK socket is found here). */
int shim_sock_write(int fd, const struct iovec *v, int nv, size_t n,
    int dontwait, ssize_t *ret);

/* A read on an ANSWER fd: the refusal's next bytes into v (n at most;
 * MSG_PEEK in flags keeps them), 0 at its end. */
ssize_t shim_sock_answer(int fd, const struct iovec *v, int nv, size_t n,
    int flags);

/* A read that discarded bytes (MSG_TRUNC): metering stops on this
 * connection. */
void shim_sock_gap(int fd);

/* The fd is about to be closed or was overwritten: its state ends
 * (pending exchanges cut). Returns what to settle (shim_done_settle,
 * xchg.h) once the real call is done (NULL: nothing). */
struct shim_done *shim_sock_detach(int fd);

#endif
