/*
 * fuzz_llm_http.c — libFuzzer target for the LLM HTTP parser (lib/llm.h,
 * transport and provider layers together); `make fuzz` builds it with
 * ASan and UBSan and runs it for FUZZ_SECONDS.
 *
 * An input is what the client wrote, then the line "--IN--", then what
 * it read:   <request bytes>\n--IN--\n<response bytes>
 * (no such line: all of it was written). A hash of the input seeds the
 * piece sizes, so seeds stay readable text (tests/fuzz/seeds).
 *
 * Each input runs three ways:
 *   A  written whole, then read whole, then closed;
 *   B  the same in random pieces (1 byte up to 4 KiB): the exchanges
 *      must equal A's, field by field — any split gives the same result;
 *   C  written and read interleaved at random, the state queried after
 *      every piece, closed somewhere in the middle and reused, then freed
 *      without a close: no oracle but the sanitizers.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm.h"

#define SEP "\n--IN--\n"
#define XMAX 64

struct rec {
	struct llm_exchange x[XMAX];
	int n;
};

static void
on_done(void *arg, const struct llm_exchange *x)
{
	struct rec *r = arg;

	if (r == NULL)
		return;
	if (r->n < XMAX)
		r->x[r->n] = *x;
	r->n++;
}

static uint64_t rng;

static uint32_t
next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

static size_t
piece(size_t left)
{
	size_t k = next() % 8 == 0 ? 1 + next() % 4096 : 1 + next() % 24;

	return k < left ? k : left;
}

static void
feed(struct llm_conn *c, void (*fn)(struct llm_conn *, const void *, size_t),
    const uint8_t *p, size_t n, int whole)
{
	size_t k;

	while (n > 0) {
		k = whole ? n : piece(n);
		fn(c, p, k);
		p += k;
		n -= k;
	}
}

static void
run(struct rec *r, const uint8_t *out, size_t on, const uint8_t *in,
    size_t inn, int whole)
{
	struct llm_conn *c = llm_conn_new(on_done, r);

	if (c == NULL)
		abort();
	r->n = 0;
	feed(c, llm_conn_out, out, on, whole);
	feed(c, llm_conn_in, in, inn, whole);
	llm_conn_close(c);
	llm_conn_free(c);
}

#define SAME_STR(f) (strncmp(a->f, b->f, sizeof(a->f)) == 0)

static int
same_req(const struct llm_req *a, const struct llm_req *b)
{
	return a->provider == b->provider && a->api == b->api &&
	    SAME_STR(model) && SAME_STR(host) && SAME_STR(endpoint) &&
	    SAME_STR(tags) && a->stream == b->stream &&
	    a->include_usage == b->include_usage &&
	    a->max_tokens == b->max_tokens &&
	    a->est_input_tokens == b->est_input_tokens;
}

static int
same_usage(const struct llm_usage *a, const struct llm_usage *b)
{
	return a->input == b->input && a->output == b->output &&
	    a->cached == b->cached && a->cache_write == b->cache_write &&
	    a->reasoning == b->reasoning && a->have == b->have &&
	    SAME_STR(model) && a->error == b->error && a->done == b->done;
}

static int
same(const struct llm_exchange *a, const struct llm_exchange *b)
{
	return same_req(&a->req, &b->req) &&
	    same_usage(&a->usage, &b->usage) && a->status == b->status &&
	    a->streamed == b->streamed && a->cut == b->cut &&
	    a->resp_body_bytes == b->resp_body_bytes;
}

static void
query(struct llm_conn *c)
{
	const struct llm_req *r;
	volatile size_t sink;

	sink = llm_conn_state(c) + llm_conn_expects_continue(c);
	if ((r = llm_conn_request(c)) != NULL)
		sink += strlen(r->model) + strlen(r->endpoint) +
		    strlen(r->host) + strlen(r->tags);
	(void)sink;
}

/* Interleaved, queried, closed half-way and reused, freed unclosed. */
static void
run_mixed(const uint8_t *out, size_t on, const uint8_t *in, size_t inn)
{
	struct llm_conn *c = llm_conn_new(on_done, NULL);
	size_t k;
	int closed = 0;

	if (c == NULL)
		abort();
	while (on > 0 || inn > 0) {
		if (on > 0 && (inn == 0 || next() % 3 != 0)) {
			k = piece(on);
			llm_conn_out(c, out, k);
			out += k;
			on -= k;
		} else {
			k = piece(inn);
			llm_conn_in(c, in, k);
			in += k;
			inn -= k;
		}
		query(c);
		if (!closed && next() % 64 == 0) {
			llm_conn_close(c);
			closed = 1;
		}
	}
	llm_conn_free(c);
}

static uint64_t
hash(const uint8_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	while (n-- > 0)
		h = (h ^ *p++) * 1099511628211ULL;
	return h | 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rec a, b;
	const uint8_t *sep, *in = data + size;
	size_t on = size, inn = 0;
	int i;

	sep = memmem(data, size, SEP, sizeof(SEP) - 1);
	if (sep != NULL) {
		on = sep - data;
		in = sep + sizeof(SEP) - 1;
		inn = data + size - in;
	}
	run(&a, data, on, in, inn, 1);
	rng = hash(data, size);
	run(&b, data, on, in, inn, 0);
	if (a.n != b.n) {
		fprintf(stderr, "split changed the number of exchanges: "
		    "%d whole, %d in pieces\n", a.n, b.n);
		abort();
	}
	for (i = 0; i < a.n && i < XMAX; i++)
		if (!same(&a.x[i], &b.x[i])) {
			fprintf(stderr, "split changed exchange %d: status %d/%d "
			    "cut %d/%d out %llu/%llu bytes %llu/%llu\n", i,
			    a.x[i].status, b.x[i].status, a.x[i].cut,
			    b.x[i].cut,
			    (unsigned long long)a.x[i].usage.output,
			    (unsigned long long)b.x[i].usage.output,
			    (unsigned long long)a.x[i].resp_body_bytes,
			    (unsigned long long)b.x[i].resp_body_bytes);
			abort();
		}
	run_mixed(data, on, in, inn);
	return 0;
}
