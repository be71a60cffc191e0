/*
 * tls.h — LLM metering and admission on OpenSSL connections: per-SSL*
 * state behind the SSL_* hooks of hook_ssl.c, the TLS twin of sock.h. The
 * metering itself (parser, request clocks, records) is xchg.h's, shared
 * with plain HTTP.
 *
 * State is keyed by the SSL*, in a fixed table of SHIM_TLS_SLOTS: an SSL
 * lives within SHIM_TLS_PROBE slots of its hash; when those are taken it
 * gets no state and passes through unmetered. A lookup reads at most
 * SHIM_TLS_PROBE keys and one kind byte, without a lock. Kinds: FRESH
 * (no application bytes yet), METERED, NONE (passes for good), ENDED
 * (shut down: passes until a new handshake makes it FRESH again). The
 * first bytes written decide, as on a socket (shim_xchg_looks_llm): an
 * HTTP/1.1 POST or the HTTP/2 preface starts metering, anything else is
 * NONE for the rest of the connection. A state is made at the handshake
 * (SSL_connect, SSL_do_handshake: the server name is learned there with
 * SSL_get_servername from the SSL's own library, whose functions the
 * state remembers) or at the first write of an SSL never seen shaking
 * hands (an implicit handshake). Only bytes actually transferred are fed;
 * SSL_peek is not. Not seen at all: BIO_f_ssl's BIO_read/BIO_write
 * (libssl calls its internals directly, past any hook) and SSL_sendfile. SSL_shutdown ends the connection (pending exchanges
 * reported cut); SSL_free forgets the SSL before the real free, as the
 * pointer may be reused at once; SSL_new forgets a state a freed SSL left
 * at that address past our hooks.
 *
 * Threads: a mutex per state guards its xchg, never held across a real
 * call or a daemon call; finished records are settled after the unlock.
 * States are allocated once per slot and never freed, so a racing lookup
 * never touches freed memory; under the mutex the state's SSL is checked
 * again. Slots are claimed and released with atomics alone.
 *
 * fork: a state carries the generation (instance.h) that made it; a fork
 * child that touches an inherited one drops it without reporting (the
 * parent reports its exchanges) and that SSL passes through in the child.
 *
 * Inside tollgate (shim_inside) everything passes through unmetered, and
 * errno is left as the real call set it.
 */
#ifndef SHIM_TLS_H
#define SHIM_TLS_H

#include <stddef.h>
#include <sys/types.h>

#include "real_ssl.h"
#include "xchg.h"

#define SHIM_TLS_SLOTS 4096 /* a power of two */
#define SHIM_TLS_PROBE 8
#define SHIM_TLS_SERVER_MAX 256

/* ANSWER: a refused request's connection; reads get the refusal. */
enum { SHIM_TLS_NONE, SHIM_TLS_FRESH, SHIM_TLS_METERED, SHIM_TLS_ENDED,
	SHIM_TLS_ANSWER };

/* s's kind, or -1 when it has no state. */
int shim_tls_kind(const SSL *s);

/* The server name s was opened to ("" when none was given): 0, or -1
 * when s has no state. */
int shim_tls_server(const SSL *s, char *out, size_t n);

/* After the real SSL_connect / SSL_do_handshake, whatever it returned;
 * fns: the caller's functions (real_ssl.h). */
void shim_tls_handshake(SSL *s, const struct shim_ssl_fns *fns);

/* Admission (xchg.h, gate.h), as sock.h's shim_sock_write: before the
 * real write of n bytes of b. 0: make the real write (then
 * shim_tls_out); 1: done here, *ret is the bytes the write reports
 * written, or -1 (the error is left in s, for SSL_get_error). Held bytes
 * are sent through s's own library; a blocking SSL is waited for, one on
 * a non-blocking socket or a memory BIO never sleeps (a delay becomes a
 * 429). A refused request's socket is shut down so a poller wakes up:
 * SSL_get_fd's, or for an SSL on memory BIOs (Python's asyncio moves the
 * bytes itself) the socket its ClientHello went out on
 * (shim_tls_seen_hello); the loop then reads end of file and asks the
 * SSL, which answers. */
int shim_tls_write(SSL *s, const struct shim_ssl_fns *fns, const void *b,
    size_t n, ssize_t *ret);

/* The first bytes written on a TCP socket fd (sock.c): when they are a
 * TLS ClientHello whose client random is an SSL's on memory BIOs, fd is
 * that SSL's socket. */
void shim_tls_seen_hello(int fd, const void *p, size_t n);

/* A refused request's connection: its reads get the answer
 * (shim_tls_answer: bytes copied, 0 once it is all read; then the real
 * read, which sees the socket shut down). */
int shim_tls_answering(const SSL *s);
size_t shim_tls_answer(SSL *s, void *b, size_t n);

/* Before the first handshake call of s: in a process whose requests are
 * admitted, a connection to a provider's own host (llm_host_provider)
 * offers ALPN http/1.1 only, so its requests can be held. */
void shim_tls_before_handshake(SSL *s, const struct shim_ssl_fns *fns);

/* n > 0 bytes of b written / read on s. */
void shim_tls_out(SSL *s, const struct shim_ssl_fns *fns, const void *b,
    size_t n);
void shim_tls_in(SSL *s, const void *b, size_t n);

/* s's connection ends (SSL_shutdown: forget 0) or s is about to be freed
 * (forget 1): pending exchanges are cut. Returns what to settle
 * (shim_done_settle) once the real call is done; NULL: nothing. */
struct shim_done *shim_tls_end(SSL *s, int forget);

#endif
