/* test_shim_tls.c — the shim's OpenSSL metering without the hooks: the
 * per-caller resolution of real_ssl.h against the system libssl loaded
 * into a private scope (as Debian's python3 does), and the per-SSL* state
 * of tls.h fed as the hooks would, with stand-in SSL pointers and a
 * stand-in SSL_get_servername; records are caught, not sent. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "meter.h"
#include "real_ssl.h"
#include "tls.h"

#include "shim_records.h"

static const char *
fake_servername(const SSL *s, int type)
{
	return type == SHIM_TLSEXT_NAMETYPE_host_name ? "api.openai.com" : NULL;
}

static const struct shim_ssl_fns fake = { .get_servername = fake_servername };

/* Stand-in SSL pointers: never dereferenced by tls.c. */
static char ssl_mem[64][16] __attribute__((aligned(16)));
#define S(i) ((SSL *)ssl_mem[i])

static int
setup(void **state)
{
	shim_meter_settle = catch_record;
	return 0;
}

static const char req[] =
    "POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\n"
    "Content-Type: application/json\r\nContent-Length: 62\r\n\r\n"
    "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
static const char body[] =
    "{\"model\":\"gpt-4o-2024-08-06\",\"usage\":{\"prompt_tokens\":120,"
    "\"completion_tokens\":30,\"prompt_tokens_details\":{\"cached_tokens\":64},"
    "\"completion_tokens_details\":{\"reasoning_tokens\":8}}}";

static void
out(SSL *s, const char *b)
{
	shim_tls_out(s, &fake, b, strlen(b));
}

static void
in(SSL *s, const char *b)
{
	shim_tls_in(s, b, strlen(b));
}

static void
respond(SSL *s, const char *b)
{
	char head[128];

	snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Type: "
	    "application/json\r\nContent-Length: %zu\r\n\r\n", strlen(b));
	in(s, head);
	in(s, b);
}

/* --- real_ssl.h ---------------------------------------------------------- */

/* libssl in a private scope: dlsym(RTLD_NEXT) finds nothing, the caller's
 * own scope (here: libssl itself, as for its BIO_f_ssl) does. */
static void
test_real_private_scope(void **state)
{
	void *h = dlopen("libssl.so.3", RTLD_NOW | RTLD_LOCAL);
	const struct shim_ssl_fns *f, *again;
	const char *ra;

	if (h == NULL)
		skip();
	assert_null(dlsym(RTLD_DEFAULT, "SSL_write"));
	ra = (const char *)dlsym(h, "SSL_CTX_new") + 4;
	f = shim_ssl_real(ra);
	assert_ptr_equal(f->write, dlsym(h, "SSL_write"));
	assert_ptr_equal(f->write_ex, dlsym(h, "SSL_write_ex"));
	assert_ptr_equal(f->read, dlsym(h, "SSL_read"));
	assert_ptr_equal(f->read_ex, dlsym(h, "SSL_read_ex"));
	assert_ptr_equal(f->connect, dlsym(h, "SSL_connect"));
	assert_ptr_equal(f->do_handshake, dlsym(h, "SSL_do_handshake"));
	assert_ptr_equal(f->shutdown, dlsym(h, "SSL_shutdown"));
	assert_ptr_equal(f->ssl_new, dlsym(h, "SSL_new"));
	assert_ptr_equal(f->ssl_free, dlsym(h, "SSL_free"));
	assert_ptr_equal(f->get_servername, dlsym(h, "SSL_get_servername"));
	/* cached by the caller's span: another address in it, same answer */
	again = shim_ssl_real((const char *)dlsym(h, "SSL_read") + 8);
	assert_ptr_equal(again, f);
	dlclose(h);
}

/* A return address in our own object: a real call tail-called this hook
 * (OpenSSL's SSL_connect ends in a jump to SSL_do_handshake), which then
 * uses the outer hook's functions, or the global scope's when there is
 * none (here: no libssl, every function missing, the call fails). In this
 * test binary real_ssl.o is linked in: its code is "ours". */
static void
test_real_tail_call(void **state)
{
	const struct shim_ssl_fns *o;

	assert_null(shim_ssl_real((void *)test_real_tail_call)->write);
	o = shim_ssl_enter(&fake);
	assert_ptr_equal(shim_ssl_real((char *)test_real_tail_call + 1), &fake);
	shim_ssl_leave(o);
	assert_null(shim_ssl_outer);
	assert_null(shim_ssl_real((void *)test_real_tail_call)->read_ex);
	assert_int_equal(shim_ssl_missing("SSL_write", -1), -1);
}

/* No library at the address (JIT code, the heap): the global scope. */
static void
test_real_no_library(void **state)
{
	char *heap = calloc(1, 64);
	const struct shim_ssl_fns *f = shim_ssl_real(heap);

	assert_null(f->write);
	assert_null(f->get_servername);
	free(heap);
}

/* --- tls.h --------------------------------------------------------------- */

static void
test_post_is_metered(void **state)
{
	char name[SHIM_TLS_SERVER_MAX];
	ssize_t held = -7;

	ngot = 0;
	assert_int_equal(shim_tls_kind(S(0)), -1);
	shim_tls_handshake(S(0), &fake);
	assert_int_equal(shim_tls_kind(S(0)), SHIM_TLS_FRESH);
	assert_int_equal(shim_tls_server(S(0), name, sizeof(name)), 0);
	assert_string_equal(name, "api.openai.com");
	/* no daemon, fail open: nothing to admit, the real write goes */
	assert_int_equal(shim_tls_write(S(0), &fake, req, sizeof(req) - 1,
	    &held), 0);
	assert_int_equal(held, -7);
	errno = 4242;
	shim_tls_out(S(0), &fake, req, 5);          /* "POST " alone decides */
	assert_int_equal(errno, 4242);
	assert_int_equal(shim_tls_kind(S(0)), SHIM_TLS_METERED);
	out(S(0), req + 5);
	respond(S(0), body);
	assert_int_equal(ngot, 1);
	assert_string_equal(got[0].provider, "openai");
	assert_string_equal(got[0].model, "gpt-4o-2024-08-06");
	assert_string_equal(got[0].endpoint, "/v1/chat/completions");
	assert_int_equal(got[0].http_status, 200);
	assert_int_equal(got[0].input_tokens, 120);
	assert_int_equal(got[0].output_tokens, 30);
	assert_int_equal(got[0].cached_tokens, 64);
	assert_int_equal(got[0].reasoning_tokens, 8);
	assert_int_equal(got[0].flags, 0);
	/* keep-alive: a second request on the same SSL */
	out(S(0), req);
	respond(S(0), body);
	assert_int_equal(ngot, 2);
	/* SSL_free: the state goes, nothing pending, no record */
	shim_done_settle(shim_tls_end(S(0), 1));
	assert_int_equal(shim_tls_kind(S(0)), -1);
	assert_int_equal(shim_tls_server(S(0), name, sizeof(name)), -1);
	assert_int_equal(ngot, 2);
}

/* A GET decides for good: a later POST on the SSL is not looked at, nor
 * a response read. */
static void
test_get_passes_for_good(void **state)
{
	ngot = 0;
	shim_tls_handshake(S(1), &fake);
	out(S(1), "GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_int_equal(shim_tls_kind(S(1)), SHIM_TLS_NONE);
	out(S(1), req);
	respond(S(1), body);
	assert_int_equal(shim_tls_kind(S(1)), SHIM_TLS_NONE);
	assert_int_equal(ngot, 0);
	/* reading first (a server speaking first) decides nothing */
	shim_tls_handshake(S(2), &fake);
	respond(S(2), body);
	assert_int_equal(shim_tls_kind(S(2)), SHIM_TLS_FRESH);
	assert_int_equal(ngot, 0);
	shim_done_settle(shim_tls_end(S(1), 1));
	shim_done_settle(shim_tls_end(S(2), 1));
}

/* SSL_shutdown with the response half read: one record, cut, estimated
 * from the request and the response bytes / 4; the SSL passes until a
 * new handshake (SSL_clear, then a new connection) makes it FRESH. */
static void
test_shutdown_cuts_then_new_handshake(void **state)
{
	ngot = 0;
	shim_tls_handshake(S(3), &fake);
	out(S(3), req);
	in(S(3), "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"
	    "1d\r\ndata: {\"choices\":[{\"x\":1}]}\n\n\r\n");
	assert_int_equal(ngot, 0);
	shim_done_settle(shim_tls_end(S(3), 0));
	assert_int_equal(ngot, 1);
	assert_int_equal(got[0].flags, TG_REC_ESTIMATED);
	assert_int_equal(got[0].input_tokens, 2);  /* "user" + "hi": ceil(6 / 4) */
	assert_int_equal(got[0].output_tokens, 8); /* ceil(29 / 4) */
	assert_int_equal(shim_tls_kind(S(3)), SHIM_TLS_ENDED);
	out(S(3), req);
	assert_int_equal(shim_tls_kind(S(3)), SHIM_TLS_ENDED);
	shim_tls_handshake(S(3), &fake);
	assert_int_equal(shim_tls_kind(S(3)), SHIM_TLS_FRESH);
	out(S(3), req);
	respond(S(3), body);
	assert_int_equal(ngot, 2);
	assert_int_equal(got[1].input_tokens, 120);
	shim_done_settle(shim_tls_end(S(3), 1));
	assert_int_equal(ngot, 2);
}

/* An SSL never seen shaking hands (SSL_write did the handshake): its
 * state is made at the first write, the server name learned there. */
static void
test_implicit_handshake(void **state)
{
	char name[SHIM_TLS_SERVER_MAX];

	ngot = 0;
	out(S(4), req);
	assert_int_equal(shim_tls_kind(S(4)), SHIM_TLS_METERED);
	assert_int_equal(shim_tls_server(S(4), name, sizeof(name)), 0);
	assert_string_equal(name, "api.openai.com");
	respond(S(4), body);
	assert_int_equal(ngot, 1);
	shim_done_settle(shim_tls_end(S(4), 1));
	/* nothing for NULL, nor for an SSL without state */
	shim_tls_in(NULL, body, 4);
	shim_tls_handshake(NULL, &fake);
	assert_int_equal(shim_tls_kind(NULL), -1);
	assert_null(shim_tls_end(S(5), 1));
}

static const char *
other_servername(const SSL *s, int type)
{
	return "other.example";
}

/* The name is asked of the SSL's own library, remembered when its state
 * was made, whoever shakes hands next; a new SSL at a freed one's
 * address starts over. */
static void
test_name_from_own_library(void **state)
{
	const struct shim_ssl_fns other = { .get_servername = other_servername };
	char name[SHIM_TLS_SERVER_MAX];

	shim_tls_handshake(S(7), &fake);
	shim_tls_handshake(S(7), &other);
	assert_int_equal(shim_tls_server(S(7), name, sizeof(name)), 0);
	assert_string_equal(name, "api.openai.com");
	shim_done_settle(shim_tls_end(S(7), 1));
	shim_tls_handshake(S(7), &other);
	assert_int_equal(shim_tls_server(S(7), name, sizeof(name)), 0);
	assert_string_equal(name, "other.example");
	shim_done_settle(shim_tls_end(S(7), 1));
}

/* A fork child that reads its parent's response drops the inherited
 * state without a record; the parent still meters it. */
static void
test_fork_child_drops(void **state)
{
	pid_t pid;
	int st;

	ngot = 0;
	shim_tls_handshake(S(6), &fake);
	out(S(6), req);
	if ((pid = fork()) == 0) {
		respond(S(6), body);
		out(S(6), req);
		shim_done_settle(shim_tls_end(S(6), 0));
		_exit(ngot == 0 && shim_tls_kind(S(6)) == SHIM_TLS_ENDED ? 0 : 1);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(shim_tls_kind(S(6)), SHIM_TLS_METERED);
	respond(S(6), body);
	assert_int_equal(ngot, 1);
	assert_int_equal(got[0].input_tokens, 120);
	shim_done_settle(shim_tls_end(S(6), 1));
}

/* Threads, each with its own SSLs (many: their slots' probe windows
 * overlap), making and ending states over and over: every exchange is
 * recorded once, and nothing is left in the table. */
#define THREADS 8
#define ROUNDS 1500
#define PER_THREAD 48

static _Atomic int nthreaded;
static char thread_mem[THREADS * PER_THREAD][16] __attribute__((aligned(16)));

static int
count_record(struct tg_record *r)
{
	nthreaded += r->input_tokens == 120 && r->output_tokens == 30;
	return 0;
}

static void *
churn(void *arg)
{
	char (*mine)[16] = thread_mem + (intptr_t)arg * PER_THREAD;

	for (int i = 0; i < ROUNDS; i++) {
		SSL *s = (SSL *)mine[i % PER_THREAD];

		shim_tls_handshake(s, &fake);
		out(s, req);
		respond(s, body);
		shim_done_settle(shim_tls_end(s, i & 1));
	}
	for (int i = 0; i < PER_THREAD; i++)
		shim_done_settle(shim_tls_end((SSL *)mine[i], 1));
	return NULL;
}

static void
test_threads(void **state)
{
	pthread_t t[THREADS];

	shim_meter_settle = count_record;
	for (intptr_t i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, churn, (void *)i), 0);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	shim_meter_settle = catch_record;
	assert_int_equal(nthreaded, THREADS * ROUNDS);
	for (int i = 0; i < THREADS * PER_THREAD; i++)
		assert_int_equal(shim_tls_kind((SSL *)thread_mem[i]), -1);
}

/* The table is bounded: past SHIM_TLS_SLOTS states (or a full probe
 * window) an SSL gets none and passes through; freeing makes room. */
#define MANY 40000

static void
test_table_is_bounded(void **state)
{
	char (*mem)[16] = aligned_alloc(16, MANY * 16);
	int made = 0, none = -1;

	assert_non_null(mem);
	ngot = 0;
	for (int i = 0; i < MANY; i++) {
		shim_tls_handshake((SSL *)mem[i], &fake);
		if (shim_tls_kind((SSL *)mem[i]) == SHIM_TLS_FRESH)
			made++;
		else if (none < 0)
			none = i;
	}
	assert_int_equal(made, SHIM_TLS_SLOTS);
	assert_true(none >= 0);
	/* stateless: a POST passes, nothing is made, nothing recorded */
	out((SSL *)mem[none], req);
	respond((SSL *)mem[none], body);
	assert_int_equal(shim_tls_kind((SSL *)mem[none]), -1);
	assert_int_equal(ngot, 0);
	for (int i = 0; i < MANY; i++)
		shim_done_settle(shim_tls_end((SSL *)mem[i], 1));
	for (int i = 0; i < MANY; i++)
		assert_int_equal(shim_tls_kind((SSL *)mem[i]), -1);
	out((SSL *)mem[none], req);
	assert_int_equal(shim_tls_kind((SSL *)mem[none]), SHIM_TLS_METERED);
	shim_done_settle(shim_tls_end((SSL *)mem[none], 1));
	assert_int_equal(ngot, 1); /* that request, cut */
	free(mem);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_private_scope),
		cmocka_unit_test(test_real_tail_call),
		cmocka_unit_test(test_real_no_library),
		cmocka_unit_test(test_post_is_metered),
		cmocka_unit_test(test_get_passes_for_good),
		cmocka_unit_test(test_shutdown_cuts_then_new_handshake),
		cmocka_unit_test(test_implicit_handshake),
		cmocka_unit_test(test_name_from_own_library),
		cmocka_unit_test(test_fork_child_drops),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_table_is_bounded),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
