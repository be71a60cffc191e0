/*
 * llm_resp.c — what a metered exchange's bodies become, the same for
 * HTTP/1.1 (llm_http.c) and HTTP/2 (llm_h2.c); see llm_h2.h. The request
 * body is read by llm_request_body(); the decoded response body goes to
 * a framer chosen by Content-Type (SSE events and NDJSON lines to
 * llm_usage_event(), anything else as one body to llm_usage_body()), so
 * usage means the same whichever version carried it.
 */
#include "llm_h2.h"

#include <string.h>
#include <strings.h>

/* Where the usage sits when only a body's end was kept. */
static const char *const req_keys[] = {
	"model", "max_tokens", "max_completion_tokens", "max_output_tokens",
	"stream", "stream_options", "generationConfig", "options", NULL
};
static const char *const resp_keys[] = {
	"model", "usage", "usageMetadata", "done_reason", "done",
	"prompt_eval_count", NULL
};

/* ---- requests ---- */

static int
req_try(void *arg, const char *json, size_t len)
{
	return llm_request_body(arg, json, len);
}

void
llm_req_estimate(struct llm_req *r, uint64_t size)
{
	if ((size + 3) / 4 > r->est_input_tokens)
		r->est_input_tokens = (size + 3) / 4;
}

void
llm_req_end(struct llm_req *r, struct llm_frame *f, int bad, uint64_t size)
{
	if (f->len > 0 && !bad) {
		f->buf[f->len] = '\0';
		if (!f->over)
			llm_request_body(r, f->buf, f->len);
		else
			llm_frame_salvage(f->buf, f->len, req_keys, req_try, r);
	}
	if (f->over)
		llm_req_estimate(r, size);
}

/* ---- responses ---- */

enum llm_frame_mode
llm_resp_mode(const char *v, size_t n)
{
	size_t k = 0;

	while (k < n && v[k] != ';' && v[k] != ' ' && v[k] != '\t')
		k++;
	if (k == 17 && strncasecmp(v, "text/event-stream", k) == 0)
		return LLM_FRAME_SSE;
	if ((k == 20 && strncasecmp(v, "application/x-ndjson", k) == 0) ||
	    (k == 18 && strncasecmp(v, "application/ndjson", k) == 0))
		return LLM_FRAME_NDJSON;
	return LLM_FRAME_BODY;
}

static void
resp_event(void *arg, const char *event, const char *data, size_t len)
{
	struct llm_resp *rs = arg;

	llm_usage_event(&rs->x->req, event, data, len, &rs->x->usage);
}

void
llm_resp_start(struct llm_resp *rs, struct llm_exchange *x,
    struct llm_frame *f, enum llm_frame_mode mode)
{
	rs->x = x;
	rs->frame = f;
	x->streamed = (mode != LLM_FRAME_BODY);
	llm_frame_start(f, mode, resp_event, rs);
}

void
llm_resp_sink(void *arg, const char *p, size_t n)
{
	struct llm_resp *rs = arg;

	rs->x->resp_body_bytes += n;
	llm_frame_feed(rs->frame, p, n);
}

struct usage_try {
	const struct llm_req *req;
	struct llm_usage *u;
};

static int
usage_try(void *arg, const char *json, size_t len)
{
	struct usage_try *t = arg;

	return llm_usage_body(t->req, json, len, t->u);
}

/* The body's usage, or the stream's last pending event; 1 when usage
 * may have been lost. */
static int
resp_usage(struct llm_resp *rs, int cut)
{
	struct llm_frame *f = rs->frame;
	struct llm_exchange *x = rs->x;
	struct usage_try t = { &x->req, &x->usage };

	if (f->mode != LLM_FRAME_BODY) {
		llm_frame_end(f, cut);
		return f->cut;
	}
	if (f->len == 0)
		return 0;
	f->buf[f->len] = '\0';
	if (!f->over) {
		llm_usage_body(&x->req, f->buf, f->len, &x->usage);
		return 0;
	}
	/* only its end was kept: where every provider puts the usage */
	return llm_frame_salvage(f->buf, f->len, resp_keys, usage_try,
	    &t) != 0;
}

void
llm_resp_end(struct llm_resp *rs, struct llm_decoder *d, int cut)
{
	int bad = d->err;

	if (llm_decoder_finish(d) != 0)
		cut = 1;
	cut |= resp_usage(rs, cut);
	rs->x->cut |= cut;
	if (bad) {
		/* Corrupt or undecodable: nothing read from it is trusted.
		 * (How much a decoder gave before failing also depends on
		 * how the bytes came in pieces.) */
		memset(&rs->x->usage, 0, sizeof(rs->x->usage));
		rs->x->resp_body_bytes = 0;
	}
}
