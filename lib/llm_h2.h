/*
 * llm_h2.h — between the LLM parser's transport files only (llm_http.c,
 * llm_h2.c, llm_resp.c) and their tests; the module's contract is llm.h.
 *
 * HTTP/2 (RFC 9113), metered passively: llm_http.c hands a connection
 * that began with the client preface to an llm_h2, which reads frames
 * and HPACK (libnghttp2's inflater, one per direction) and meters each
 * LLM stream as llm_http.c meters an HTTP/1.1 exchange, through the
 * response sink both share (llm_resp.c). It never produces a byte.
 */
#ifndef TG_LLM_H2_H
#define TG_LLM_H2_H

#include "llm_transport.h"

/* ---- llm_h2.c: one HTTP/2 connection ---- */

#define LLM_H2_PREFACE_LEN 24           /* "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" */
#define LLM_H2_STREAMS_MAX 128          /* metered streams alive at once */
#define LLM_H2_TABLE_MAX (64 * 1024)    /* an HPACK table's bound, at most */
#define LLM_H2_PEND_MAX 8               /* SETTINGS awaiting their ACK */

extern const char llm_h2_preface[LLM_H2_PREFACE_LEN + 1];

struct llm_h2;

/* After the preface: NULL on ENOMEM. done() gets one llm_exchange per
 * metered stream, when its response ends, is reset, or is cut. */
struct llm_h2 *llm_h2_new(llm_done_fn done, void *arg);
/* The bytes after the client preface, client→server / server→client.
 * Broken framing or HPACK makes the connection dead: its pending streams
 * end cut, and nothing more is read. */
void llm_h2_out(struct llm_h2 *, const char *, size_t);
void llm_h2_in(struct llm_h2 *, const char *, size_t);
/* The connection ended: streams still pending end cut; then freed. */
void llm_h2_free(struct llm_h2 *);
/* Metered streams opened so far (llm_conn_begun). */
uint64_t llm_h2_begun(const struct llm_h2 *);

/* ---- llm_http.c, for llm_h2.c ---- */

/* Host without port, lower case, into dst; 0 or -1. */
int llm_host_clean(const char *h, size_t n, char *dst, size_t size);

/* ---- llm_resp.c: a metered exchange's bodies, for both versions ---- */

/* A Content-Type value → how the response body is cut up. */
enum llm_frame_mode llm_resp_mode(const char *v, size_t n);

/* The response of one exchange on its way to the provider layer. */
struct llm_resp {
	struct llm_exchange *x;
	struct llm_frame *frame;
};

/* Frames x's response body in mode (x->streamed says which) with f. */
void llm_resp_start(struct llm_resp *, struct llm_exchange *x,
    struct llm_frame *f, enum llm_frame_mode mode);
/* An llm_sink_fn for the decoded response body; arg: a struct llm_resp. */
void llm_resp_sink(void *arg, const char *p, size_t n);
/* The response ended (cut: before its end); d decoded it and is
 * finished here. The usage is read, x->cut set; an undecodable body's
 * usage is forgotten. */
void llm_resp_end(struct llm_resp *, struct llm_decoder *d, int cut);

/* A metered request's body ended: f holds it (bad: it did not decode),
 * size is its decoded length. llm_request_body() reads it, or its
 * salvaged end when it was too long, plus an estimate from size. */
void llm_req_end(struct llm_req *r, struct llm_frame *f, int bad,
    uint64_t size);
/* An input estimate from a body too long to read: size / 4. */
void llm_req_estimate(struct llm_req *r, uint64_t size);

#endif
