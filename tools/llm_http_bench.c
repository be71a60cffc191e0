/*
 * llm_http_bench.c — throughput of llm_conn_in (lib/llm.h): whole
 * HTTP/1.1 exchanges through the transport (llm_http.c, llm_decode.c,
 * llm_frame.c) and the provider layer, the response read in pieces the
 * size of a TLS record (16 KiB unless --read), as the shim sees it:
 *   openai        chat stream, include_usage, one SSE event per chunk (as
 *                 api.openai.com frames it), usage chunk, [DONE]
 *   openai-length the same events with a Content-Length, no chunks
 *   anthropic     named events (content_block_delta …), chunked
 *   ollama        /api/chat NDJSON lines, chunked
 *   openai-gzip   the openai stream gzip-compressed (zlib-bound)
 *   unmetered     a GET whose chunked body is only framed
 * Next to each, interleaved in the same run, a baseline: one memchr
 * pass for '\n' over the same bytes (touching every byte once). MB/s is
 * over the wire bytes (10^6 bytes per MB; a compressed body also shows
 * its decoded bytes per second) per second of the thread's CPU time; the
 * median of the rounds is shown. Every metered run checks the output tokens the exchange
 * reported; a wrong count exits 1.
 * usage: llm_http_bench [--mb N] [--rounds N] [--read N] [--only NAME]
 * (target: openai ≥ 1000 MB/s on one core)
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zlib.h>

#include "llm.h"

struct buf {
	char *s;
	size_t len, cap;
};

static void
add(struct buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		if ((b->s = realloc(b->s, b->cap)) == NULL) {
			perror("realloc");
			exit(2);
		}
	}
	memcpy(b->s + b->len, p, n);
	b->len += n;
}

static void
addf(struct buf *b, const char *fmt, ...)
{
	char tmp[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	add(b, tmp, n);
}

static void
chunk(struct buf *b, const char *p, size_t n)
{
	addf(b, "%zx\r\n", n);
	add(b, p, n);
	add(b, "\r\n", 2);
}

struct scenario {
	const char *name;
	struct buf req, resp;
	uint64_t want_out;      /* 0: unmetered, nothing reported */
};

/* ---- the streams ---- */

static const char oai_delta[] =
    "data: {\"id\":\"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG\",\"object\":"
    "\"chat.completion.chunk\",\"created\":1741570283,\"model\":"
    "\"gpt-4o-2024-08-06\",\"service_tier\":\"default\",\"system_fingerprint\""
    ":\"fp_eb9dce56a8\",\"choices\":[{\"index\":0,\"delta\":{\"content\":"
    "\" token\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n";
static const char oai_usage[] =
    "data: {\"id\":\"chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG\",\"object\":"
    "\"chat.completion.chunk\",\"created\":1741570283,\"model\":"
    "\"gpt-4o-2024-08-06\",\"choices\":[],\"usage\":{\"prompt_tokens\":19,"
    "\"completion_tokens\":%zu,\"total_tokens\":%zu,\"prompt_tokens_details\":"
    "{\"cached_tokens\":0},\"completion_tokens_details\":"
    "{\"reasoning_tokens\":0}}}\n\ndata: [DONE]\n\n";

static void
openai_events(struct buf *ev, size_t mb, int chunked, size_t *n)
{
	char tail[1024];
	int k;

	for (*n = 0; ev->len < mb * 1000000; (*n)++)
		if (chunked)
			chunk(ev, oai_delta, sizeof(oai_delta) - 1);
		else
			add(ev, oai_delta, sizeof(oai_delta) - 1);
	k = snprintf(tail, sizeof(tail), oai_usage, *n, *n + 19);
	if (chunked) {
		chunk(ev, tail, k);
		add(ev, "0\r\n\r\n", 5);
	} else
		add(ev, tail, k);
}

static void
openai(struct scenario *s, size_t mb, int chunked)
{
	struct buf ev = { 0 };
	size_t n;

	addf(&s->req, "POST /v1/chat/completions HTTP/1.1\r\nHost: "
	    "api.openai.com\r\nContent-Type: application/json\r\n"
	    "Content-Length: 137\r\n\r\n%-137s", "{\"model\":\"gpt-4o\","
	    "\"stream\":true,\"stream_options\":{\"include_usage\":true},"
	    "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
	openai_events(&ev, mb, chunked, &n);
	if (chunked)
		addf(&s->resp, "HTTP/1.1 200 OK\r\nContent-Type: "
		    "text/event-stream; charset=utf-8\r\nTransfer-Encoding: "
		    "chunked\r\n\r\n");
	else
		addf(&s->resp, "HTTP/1.1 200 OK\r\nContent-Type: "
		    "text/event-stream\r\nContent-Length: %zu\r\n\r\n", ev.len);
	add(&s->resp, ev.s, ev.len);
	s->want_out = n;
	free(ev.s);
}

static void
openai_gzip(struct scenario *s, size_t mb)
{
	struct buf ev = { 0 }, z = { 0 };
	z_stream zs = { 0 };
	size_t n, i, k;
	char out[16384];
	int r;

	openai(s, 0, 0); /* its request */
	s->resp.len = 0;
	openai_events(&ev, mb, 0, &n);
	deflateInit2(&zs, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
	zs.next_in = (unsigned char *)ev.s;
	zs.avail_in = ev.len;
	do {
		zs.next_out = (unsigned char *)out;
		zs.avail_out = sizeof(out);
		r = deflate(&zs, Z_FINISH);
		add(&z, out, sizeof(out) - zs.avail_out);
	} while (r == Z_OK);
	deflateEnd(&zs);
	addf(&s->resp, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
	    "Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (i = 0; i < z.len; i += k) { /* as a server flushes: 4 KiB */
		k = z.len - i < 4096 ? z.len - i : 4096;
		chunk(&s->resp, z.s + i, k);
	}
	add(&s->resp, "0\r\n\r\n", 5);
	s->want_out = n;
	free(ev.s);
	free(z.s);
}

static void
anthropic(struct scenario *s, size_t mb)
{
	static const char start[] = "event: message_start\ndata: {\"type\":"
	    "\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\","
	    "\"role\":\"assistant\",\"model\":\"claude-sonnet-4-20250514\","
	    "\"content\":[],\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}"
	    "\n\n";
	static const char delta[] = "event: content_block_delta\ndata: "
	    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
	    "\"text_delta\",\"text\":\" token\"}}\n\n";
	char end[512];
	size_t n;
	int k;

	addf(&s->req, "POST /v1/messages HTTP/1.1\r\nHost: api.anthropic.com\r\n"
	    "Content-Length: 96\r\n\r\n%-96s", "{\"model\":\"claude-sonnet-4-0\","
	    "\"max_tokens\":1024,\"stream\":true,\"messages\":[]}");
	addf(&s->resp, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n");
	chunk(&s->resp, start, sizeof(start) - 1);
	for (n = 0; s->resp.len < mb * 1000000; n++)
		chunk(&s->resp, delta, sizeof(delta) - 1);
	k = snprintf(end, sizeof(end), "event: message_delta\ndata: {\"type\":"
	    "\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},"
	    "\"usage\":{\"output_tokens\":%zu}}\n\nevent: message_stop\n"
	    "data: {\"type\":\"message_stop\"}\n\n", n);
	chunk(&s->resp, end, k);
	add(&s->resp, "0\r\n\r\n", 5);
	s->want_out = n;
}

static void
ollama(struct scenario *s, size_t mb)
{
	static const char line[] = "{\"model\":\"llama3.2\",\"created_at\":"
	    "\"2025-01-01T00:00:00.000000Z\",\"message\":{\"role\":\"assistant\","
	    "\"content\":\" token\"},\"done\":false}\n";
	char end[512];
	size_t n;
	int k;

	addf(&s->req, "POST /api/chat HTTP/1.1\r\nHost: localhost:11434\r\n"
	    "Content-Length: 40\r\n\r\n%-40s", "{\"model\":\"llama3.2\","
	    "\"messages\":[]}");
	addf(&s->resp, "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson"
	    "\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (n = 0; s->resp.len < mb * 1000000; n++)
		chunk(&s->resp, line, sizeof(line) - 1);
	k = snprintf(end, sizeof(end), "{\"model\":\"llama3.2\",\"done\":true,"
	    "\"done_reason\":\"stop\",\"prompt_eval_count\":26,\"eval_count\":"
	    "%zu}\n", n);
	chunk(&s->resp, end, k);
	add(&s->resp, "0\r\n\r\n", 5);
	s->want_out = n;
}

static void
unmetered(struct scenario *s, size_t mb)
{
	size_t n;

	addf(&s->req, "GET /v1/files/file-abc/content HTTP/1.1\r\nHost: "
	    "api.openai.com\r\n\r\n");
	addf(&s->resp, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n");
	for (n = 0; s->resp.len < mb * 1000000; n++)
		chunk(&s->resp, oai_delta, sizeof(oai_delta) - 1);
	add(&s->resp, "0\r\n\r\n", 5);
	s->want_out = 0;
}

/* ---- running ---- */

static uint64_t got_out, got_bytes;
static int got_n, got_cut;

static void
on_done(void *arg, const struct llm_exchange *x)
{
	got_out = x->usage.output;
	got_bytes = x->resp_body_bytes;
	got_cut = x->cut;
	got_n++;
}

/* The thread's CPU time: "on one core", and steady on a shared host
 * where wall time also counts other programs' turns. */
static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Seconds for one exchange through a fresh connection. */
static double
run_conn(const struct scenario *s, size_t rd)
{
	struct llm_conn *c = llm_conn_new(on_done, NULL);
	size_t off, k;
	double t0, t;

	got_n = 0;
	got_out = 0;
	t0 = now();
	llm_conn_out(c, s->req.s, s->req.len);
	for (off = 0; off < s->resp.len; off += k) {
		k = s->resp.len - off < rd ? s->resp.len - off : rd;
		llm_conn_in(c, s->resp.s + off, k);
	}
	t = now() - t0;
	llm_conn_free(c);
	if (s->want_out != 0 && (got_n != 1 || got_cut ||
	    got_out != s->want_out)) {
		fprintf(stderr, "llm_http_bench: %s: %d exchanges, cut %d, "
		    "output %llu, want 1, 0, %llu\n", s->name, got_n, got_cut,
		    (unsigned long long)got_out,
		    (unsigned long long)s->want_out);
		exit(1);
	}
	if (s->want_out == 0 && got_n != 0) {
		fprintf(stderr, "llm_http_bench: %s: reported\n", s->name);
		exit(1);
	}
	return t;
}

/* The baseline: one memchr pass for '\n' over the same bytes. */
static volatile size_t sink;

static double
run_scan(const struct scenario *s, size_t rd)
{
	const char *p, *e, *q;
	size_t off, k, lines = 0;
	double t0 = now();

	for (off = 0; off < s->resp.len; off += k) {
		k = s->resp.len - off < rd ? s->resp.len - off : rd;
		for (p = s->resp.s + off, e = p + k;
		    (q = memchr(p, '\n', e - p)) != NULL; p = q + 1)
			lines++;
	}
	sink = lines;
	return now() - t0;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
bench(struct scenario *s, int rounds, size_t rd)
{
	double a[64], b[64], mb = s->resp.len / 1e6;
	int i;

	got_bytes = 0;
	run_conn(s, rd); /* warm: caches, allocations */
	for (i = 0; i < rounds; i++) {
		b[i] = run_scan(s, rd);
		a[i] = run_conn(s, rd);
	}
	qsort(a, rounds, sizeof(a[0]), cmp_double);
	qsort(b, rounds, sizeof(b[0]), cmp_double);
	printf("%-14s %6.1f MB %6.0f MB/s (best %5.0f)   baseline memchr "
	    "%6.0f MB/s", s->name, mb, mb / a[rounds / 2], mb / a[0],
	    mb / b[rounds / 2]);
	/* a compressed body: what came out of the decoder, per second */
	if (got_bytes > s->resp.len)
		printf("   decoded %.1f MB: %.0f MB/s", got_bytes / 1e6,
		    got_bytes / 1e6 / a[rounds / 2]);
	printf("\n");
}

static void
usage(void)
{
	fprintf(stderr, "usage: llm_http_bench [--mb N] [--rounds N] "
	    "[--read N] [--only NAME]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct scenario sc[6] = {
		{ .name = "openai" }, { .name = "openai-length" },
		{ .name = "anthropic" }, { .name = "ollama" },
		{ .name = "openai-gzip" }, { .name = "unmetered" },
	};
	const char *only = NULL;
	size_t mb = 64, rd = 16384;
	int rounds = 7, i;

	for (i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		if (strcmp(argv[i], "--mb") == 0)
			mb = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--rounds") == 0)
			rounds = atoi(argv[++i]);
		else if (strcmp(argv[i], "--read") == 0)
			rd = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--only") == 0)
			only = argv[++i];
		else
			usage();
	}
	if (mb < 1 || rounds < 1 || rounds > 64 || rd < 1)
		usage();
	printf("llm_conn_in, %zu-byte reads, median of %d rounds, MB per "
	    "CPU second\n", rd, rounds);
	for (i = 0; i < 6; i++) {
		if (only != NULL && strcmp(only, sc[i].name) != 0)
			continue;
		switch (i) {
		case 0: openai(&sc[i], mb, 1); break;
		case 1: openai(&sc[i], mb, 0); break;
		case 2: anthropic(&sc[i], mb); break;
		case 3: ollama(&sc[i], mb); break;
		case 4: openai_gzip(&sc[i], mb / 4 + 1); break;
		case 5: unmetered(&sc[i], mb); break;
		}
		bench(&sc[i], rounds, rd);
		free(sc[i].req.s);
		free(sc[i].resp.s);
	}
	return 0;
}
