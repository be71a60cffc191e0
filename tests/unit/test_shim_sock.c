/* test_shim_sock.c — the shim's plain-HTTP metering state (preload/sock.h)
 * and the record it makes (preload/meter.h), without the libc hooks:
 * bytes are handed to shim_sock_* as the hooks would, on real loopback
 * sockets, and records are caught instead of sent to a daemon. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"
#include "llm_record.h"
#include "meter.h"
#include "sock.h"

#include "shim_records.h"

static int lsn = -1;
static struct sockaddr_in lsa;

static int
setup(void **state)
{
	socklen_t l = sizeof(lsa);

	shim_meter_settle = catch_record;
	lsn = socket(AF_INET, SOCK_STREAM, 0);
	lsa.sin_family = AF_INET;
	lsa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (lsn < 0 || bind(lsn, (struct sockaddr *)&lsa, sizeof(lsa)) < 0 ||
	    listen(lsn, 8) < 0 ||
	    getsockname(lsn, (struct sockaddr *)&lsa, &l) < 0)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	close(lsn);
	return 0;
}

/* A connected TCP socket that sock.c watches, as after the connect hook. */
static int
tcp_client(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), peer;

	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&lsa, sizeof(lsa)), 0);
	assert_true((peer = accept(lsn, NULL, NULL)) >= 0);
	close(peer);
	shim_sock_connected(fd, (struct sockaddr *)&lsa, sizeof(lsa));
	return fd;
}

static void
out(int fd, const char *s)
{
	struct iovec v = { (void *)s, strlen(s) };

	shim_sock_out(fd, &v, 1, strlen(s));
}

static void
in(int fd, const char *s)
{
	struct iovec v = { (void *)s, strlen(s) };

	shim_sock_in(fd, &v, 1, strlen(s));
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
respond(int fd, const char *b)
{
	char head[128];

	snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Type: "
	    "application/json\r\nContent-Length: %zu\r\n\r\n", strlen(b));
	in(fd, head);
	in(fd, b);
}

static void
test_post_is_metered(void **state)
{
	int fd = tcp_client();

	ngot = 0;
	assert_int_equal(shim_sock_kind[fd], SHIM_SOCK_CANDIDATE);
	/* request split across writes, iovecs in order */
	struct iovec v[3] = { { (void *)req, 3 }, { (void *)(req + 3), 0 },
		{ (void *)(req + 3), sizeof(req) - 1 - 3 } };
	errno = 4242;
	shim_sock_out(fd, v, 3, sizeof(req) - 1);
	assert_int_equal(errno, 4242);
	assert_int_equal(shim_sock_kind[fd], SHIM_SOCK_METERED);
	respond(fd, body);
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
	assert_int_equal(got[0].kind, TG_KIND_LLM);
	assert_int_equal(got[0].source, TG_SOURCE_SHIM);
	/* keep-alive: a second request on the same connection */
	out(fd, req);
	respond(fd, body);
	assert_int_equal(ngot, 2);
	shim_done_settle(shim_sock_detach(fd));
	assert_int_equal(shim_sock_kind[fd], SHIM_SOCK_NONE);
	assert_int_equal(ngot, 2);
	close(fd);
}

static void
test_get_passes_through(void **state)
{
	int fd = tcp_client();

	ngot = 0;
	out(fd, "GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_int_equal(shim_sock_kind[fd], SHIM_SOCK_NONE);
	/* and stays so: a later POST on it is not looked at */
	out(fd, req);
	respond(fd, body);
	assert_int_equal(ngot, 0);
	close(fd);
}

/* Closed with the response half read: one record, cut, estimated from
 * the request (est_input_tokens) and the response bytes / 4. */
static void
test_close_cuts_and_estimates(void **state)
{
	int fd = tcp_client();

	ngot = 0;
	out(fd, req);
	in(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"
	    "1d\r\ndata: {\"choices\":[{\"x\":1}]}\n\n\r\n");
	assert_int_equal(ngot, 0);
	shim_done_settle(shim_sock_detach(fd));
	assert_int_equal(ngot, 1);
	assert_int_equal(got[0].flags, TG_REC_ESTIMATED);
	assert_int_equal(got[0].input_tokens, 2); /* "user" + "hi": ceil(6 / 4) */
	assert_int_equal(got[0].output_tokens, 8); /* ceil(29 / 4) */
	assert_string_equal(got[0].model, "gpt-4o");
	close(fd);
}

/* A fork child that reads the response of its parent's request drops
 * the inherited state without a record; the parent still meters it. */
static void
test_fork_child_drops(void **state)
{
	int fd = tcp_client(), st;
	pid_t pid;

	ngot = 0;
	out(fd, req);
	if ((pid = fork()) == 0) {
		respond(fd, body);
		shim_done_settle(shim_sock_detach(fd));
		_exit(ngot == 0 && shim_sock_kind[fd] == SHIM_SOCK_NONE ? 0 : 1);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(shim_sock_kind[fd], SHIM_SOCK_METERED);
	respond(fd, body);
	assert_int_equal(ngot, 1);
	assert_int_equal(got[0].input_tokens, 120);
	shim_done_settle(shim_sock_detach(fd));
	close(fd);
}

/* Only TCP over IPv4/IPv6 is watched: a UDP connect, a pipe, nothing. */
static void
test_not_tcp_not_watched(void **state)
{
	int u = socket(AF_INET, SOCK_DGRAM, 0), p[2];

	assert_int_equal(connect(u, (struct sockaddr *)&lsa, sizeof(lsa)), 0);
	shim_sock_connected(u, (struct sockaddr *)&lsa, sizeof(lsa));
	assert_int_equal(shim_sock_watched(u), 0);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(shim_sock_watched(p[0]), 0);
	assert_int_equal(shim_sock_watched(-1), 0);
	assert_int_equal(shim_sock_watched(SHIM_SOCK_FDS), 0);
	close(u);
	close(p[0]);
	close(p[1]);
}

/* An error status without usage bills nothing: zero tokens, not
 * estimated; the provider names of meter.h. */
static void
test_meter_fill(void **state)
{
	struct llm_exchange x;
	struct tg_record r;

	memset(&x, 0, sizeof(x));
	x.req.provider = LLM_ANTHROPIC;
	strcpy(x.req.model, "claude-sonnet-4-20250514");
	strcpy(x.req.endpoint, "/v1/messages");
	x.req.est_input_tokens = 50;
	x.status = 429;
	x.resp_body_bytes = 100;
	shim_meter_fill(&r, &x, 7);
	assert_int_equal(r.input_tokens, 0);
	assert_int_equal(r.output_tokens, 0);
	assert_int_equal(r.flags, 0);
	assert_int_equal(r.latency_ms, 7);
	assert_int_equal(r.http_status, 429);
	assert_string_equal(r.model, "claude-sonnet-4-20250514");
	assert_string_equal(r.provider, "anthropic");
	x.status = 200;
	x.usage.have = LLM_HAVE_INPUT | LLM_HAVE_CACHED;
	x.usage.input = 40;
	x.usage.cached = 30;
	shim_meter_fill(&r, &x, 0);
	assert_int_equal(r.input_tokens, 40);
	assert_int_equal(r.cached_tokens, 30);
	assert_int_equal(r.output_tokens, 25);
	assert_int_equal(r.flags, TG_REC_ESTIMATED);
	assert_string_equal(llm_provider_name(LLM_COMPAT),
	    "openai-compatible");
	assert_string_equal(llm_provider_name(LLM_GEMINI), "gemini");
	assert_string_equal(llm_provider_name(LLM_OLLAMA), "ollama");
	assert_string_equal(llm_provider_name(LLM_AZURE), "azure");
	assert_string_equal(llm_provider_name(LLM_OPENAI), "openai");
	assert_string_equal(llm_provider_name(LLM_UNKNOWN), "");
}

/* X-Tollgate-Tags: its pairs, then the process's for other keys; bad
 * syntax or no header: "" (the registration's tags). */
static void
test_meter_tags(void **state)
{
	char t[256];

	strcpy(shim_cfg.tags, "team=search,purpose=batch");
	shim_meter_tags(t, sizeof(t), "purpose=eval,ticket=42");
	assert_string_equal(t, "purpose=eval,ticket=42,team=search");
	shim_meter_tags(t, sizeof(t), "");
	assert_string_equal(t, "");
	shim_meter_tags(t, sizeof(t), "no pairs here");
	assert_string_equal(t, "");
	shim_meter_tags(t, 30, "purpose=eval,ticket=42");   /* team won't fit */
	assert_string_equal(t, "purpose=eval,ticket=42");
	shim_cfg.tags[0] = '\0';
	shim_meter_tags(t, sizeof(t), "team=a");
	assert_string_equal(t, "team=a");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_post_is_metered),
		cmocka_unit_test(test_get_passes_through),
		cmocka_unit_test(test_close_cuts_and_estimates),
		cmocka_unit_test(test_fork_child_drops),
		cmocka_unit_test(test_not_tcp_not_watched),
		cmocka_unit_test(test_meter_fill),
		cmocka_unit_test(test_meter_tags),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
