/*
 * hook_ssl.c — the OpenSSL calls libtollgate.so exports (listed in
 * exports.map): SSL_new, SSL_free, SSL_connect, SSL_do_handshake,
 * SSL_shutdown, SSL_write, SSL_write_ex, SSL_read, SSL_read_ex. Each finds
 * the real function its caller binds to (real_ssl.h: the return address
 * is taken here, in the exported function itself), makes the call with
 * shim_ssl_outer set (a hook it tail-calls uses the same functions), and
 * hands what happened to tls.c. Writes go by admission first
 * (shim_tls_write), reads of a refused request get its answer, and a
 * first handshake may narrow the ALPN offer (tls.h). The shim links no libssl: a process
 * without OpenSSL never calls these. Kept out of libtgshim.a (Makefile).
 */
#include "real_ssl.h"
#include "tls.h"

#define CALLER __builtin_return_address(0)

SSL *
SSL_new(SSL_CTX *ctx)
{
	const struct shim_ssl_fns *f = shim_ssl_real(CALLER), *o;
	SSL *s;

	if (f->ssl_new == NULL) {
		shim_ssl_missing("SSL_new", 0);
		return NULL;
	}
	o = shim_ssl_enter(f);
	s = f->ssl_new(ctx);
	shim_ssl_leave(o);
	/* a state left at this address by an SSL freed past our hooks */
	if (s != NULL)
		shim_done_settle(shim_tls_end(s, 1));
	return s;
}

/* The state goes before the real free: the address may be reused by
 * another thread's SSL_new at once. */
void
SSL_free(SSL *s)
{
	const struct shim_ssl_fns *f = shim_ssl_real(CALLER), *o;
	struct shim_done *d = shim_tls_end(s, 1);

	if (f->ssl_free != NULL) {
		o = shim_ssl_enter(f);
		f->ssl_free(s);
		shim_ssl_leave(o);
	} else
		shim_ssl_missing("SSL_free", 0);
	shim_done_settle(d);
}

int
SSL_connect(SSL *s)
{
	const struct shim_ssl_fns *f = shim_ssl_real(CALLER), *o;
	int rc;

	if (f->connect == NULL)
		return shim_ssl_missing("SSL_connect", -1);
	shim_tls_before_handshake(s, f);
	o = shim_ssl_enter(f);
	rc = f->connect(s);
	shim_ssl_leave(o);
	shim_tls_handshake(s, f);
	return rc;
}

int
SSL_do_handshake(SSL *s)
{
	const struct shim_ssl_fns *f = shim_ssl_real(CALLER), *o;
	int rc;

	if (f->do_handshake == NULL)
		return shim_ssl_missing("SSL_do_handshake", -1);
	shim_tls_before_handshake(s, f);
	o = shim_ssl_enter(f);
	rc = f->do_handshake(s);
	shim_ssl_leave(o);
	shim_tls_handshake(s, f);
	return rc;
}

int
SSL_shutdown(SSL *s)
{
	const struct shim_ssl_fns *f = shim_ssl_real(CALLER), *o;
	struct shim_done *d;
	int rc;

	if (f->shutdown == NULL)
		return shim_ssl_missing("SSL_shutdown", -1);
	d = shim_tls_end(s, 0);
	o = shim_ssl_enter(f);
	rc = f->shutdown(s);
	shim_ssl_leave(o);
	shim_done_settle(d);
	return rc;
}

int
SSL_write(SSL *s, const void *b, int n)
{
	const struct shim_ssl_fns *f = shim_ssl_real(CALLER), *o;
	ssize_t held;
	int r;

	if (f->write == NULL)
		return shim_ssl_missing("SSL_write", -1);
	if (n > 0 && shim_tls_write(s, f, b, (size_t)n, &held))
		return held < 0 ? -1 : (int)held;
	o = shim_ssl_enter(f);
	r = f->write(s, b, n);
	shim_ssl_leave(o);
	if (r > 0)
		shim_tls_out(s, f, b, (size_t)r);
	return r;
}

int
SSL_write_ex(SSL *s, const void *b, size_t n, size_t *written)
{
	const struct shim_ssl_fns *f = shim_ssl_real(CALLER), *o;
	ssize_t held;
	int rc;

	if (f->write_ex == NULL)
		return shim_ssl_missing("SSL_write_ex", 0);
	if (shim_tls_write(s, f, b, n, &held)) {
		if (held < 0)
			return 0;
		if (written != NULL)
			*written = (size_t)held;
		return 1;
	}
	o = shim_ssl_enter(f);
	rc = f->write_ex(s, b, n, written);
	shim_ssl_leave(o);
	if (rc == 1 && written != NULL && *written > 0)
		shim_tls_out(s, f, b, *written);
	return rc;
}

int
SSL_read(SSL *s, void *b, int n)
{
	const struct shim_ssl_fns *f = shim_ssl_real(CALLER), *o;
	int r;

	if (f->read == NULL)
		return shim_ssl_missing("SSL_read", -1);
	if (n > 0 && shim_tls_answering(s) &&
	    (r = (int)shim_tls_answer(s, b, (size_t)n)) > 0)
		return r;
	o = shim_ssl_enter(f);
	r = f->read(s, b, n);
	shim_ssl_leave(o);
	if (r > 0)
		shim_tls_in(s, b, (size_t)r);
	return r;
}

int
SSL_read_ex(SSL *s, void *b, size_t n, size_t *got)
{
	const struct shim_ssl_fns *f = shim_ssl_real(CALLER), *o;
	int rc;

	if (f->read_ex == NULL)
		return shim_ssl_missing("SSL_read_ex", 0);
	if (shim_tls_answering(s) && got != NULL &&
	    (*got = shim_tls_answer(s, b, n)) > 0)
		return 1;
	o = shim_ssl_enter(f);
	rc = f->read_ex(s, b, n, got);
	shim_ssl_leave(o);
	if (rc == 1 && got != NULL && *got > 0)
		shim_tls_in(s, b, *got);
	return rc;
}
