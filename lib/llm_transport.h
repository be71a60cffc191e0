/*
 * llm_transport.h — between the LLM parser's transport files only
 * (llm_http.c, llm_decode.c, llm_frame.c) and their tests; the module's
 * contract is llm.h.
 *
 * A message body flows: framing (Content-Length, chunked, to close) →
 * content decoding (identity, gzip, deflate, br, zstd) → a sink, which
 * for a metered exchange is a framer (SSE events, NDJSON lines, or one
 * bounded JSON body). Each stage takes pieces of any size, keeps what
 * straddles a piece in bounded per-connection state, and never copies
 * bytes it does not have to: identity bodies reach the framer as
 * pointers into the caller's buffer.
 */
#ifndef TG_LLM_TRANSPORT_H
#define TG_LLM_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "llm.h"

#define LLM_LINE_MAX    4096            /* a start line or header kept */
#define LLM_TARGET_MAX  2048            /* a longer request target: unmetered */
#define LLM_HDRS_MAX    (64 * 1024)     /* a header section, else bad HTTP */
#define LLM_PIPE_MAX    8               /* requests awaiting their response */
#define LLM_NAME_MAX    96              /* an SSE event name */
#define LLM_DECODE_OUT  16384           /* decoder output per round */
#define LLM_DECODE_MEM_MAX (8 * 1024 * 1024) /* br/zstd window (RFC 9659) */
#define LLM_TAIL_KEEP   (64 * 1024)     /* kept of an over-long body's end */

/* Decoded bytes go to a sink; NULL drops them (unmetered bodies). */
typedef void (*llm_sink_fn)(void *arg, const char *p, size_t n);

/* ---- llm_decode.c: content codings ---- */

enum llm_coding {
	LLM_CODING_IDENTITY,
	LLM_CODING_GZIP,        /* also x-gzip; concatenated members */
	LLM_CODING_DEFLATE,     /* zlib-wrapped or raw, told by 2 bytes */
	LLM_CODING_BR,
	LLM_CODING_ZSTD,        /* concatenated frames */
	LLM_CODING_UNSUPPORTED, /* another coding, or more than one */
};

/* A Content-Encoding value (a list, case-insensitive) → its coding. */
enum llm_coding llm_coding_parse(const char *v, size_t n);

struct llm_decoder {
	enum llm_coding coding;
	int err;                /* corrupt or unsupported: output stops */
	int end;                /* the compressed stream ended */
	void *z;                /* z_stream, made once, reset per body */
	void *br;               /* BrotliDecoderState, one per body */
	void *zs;               /* ZSTD_DStream, one per body */
	char *out;              /* LLM_DECODE_OUT bytes, made once */
	unsigned char hdr[2];   /* deflate: first bytes, until zlib/raw known */
	unsigned nhdr;
	size_t br_mem;          /* bytes brotli holds, against the cap */
};

void llm_decoder_start(struct llm_decoder *, enum llm_coding);
void llm_decoder_feed(struct llm_decoder *, const char *, size_t,
    llm_sink_fn, void *);
/* The body ended: 0 when the coded stream was complete and sound. */
int llm_decoder_finish(struct llm_decoder *);
void llm_decoder_free(struct llm_decoder *);

/* ---- llm_decode.c: chunked transfer coding ---- */

struct llm_dechunk {
	int st;
	uint64_t left;          /* bytes of the current chunk still to come */
	unsigned digits;
	int done;               /* the last chunk and trailers were read */
	int err;                /* not chunked: framing lost */
};

void llm_dechunk_start(struct llm_dechunk *);
/* Bytes consumed (less than n once done); chunk data goes to sink. */
size_t llm_dechunk_feed(struct llm_dechunk *, const char *, size_t,
    llm_sink_fn, void *);

/* ---- llm_decode.c: one message body, framed and decoded ---- */

enum llm_framing {
	LLM_BODY_NONE,
	LLM_BODY_LENGTH,
	LLM_BODY_CHUNKED,
	LLM_BODY_CLOSE,         /* the body ends when the connection does */
};

struct llm_body {
	enum llm_framing framing;
	uint64_t left;          /* LLM_BODY_LENGTH */
	struct llm_dechunk chunk;
	struct llm_decoder dec;
	llm_sink_fn sink;       /* NULL: framing only, nothing decoded */
	void *arg;
	int done;               /* the end was seen */
	int err;                /* framing broken: the connection is lost */
};

void llm_body_start(struct llm_body *, enum llm_framing, uint64_t len,
    enum llm_coding, llm_sink_fn, void *);
/* Bytes consumed: less than n only when the body ended (b->done) or its
 * framing broke (b->err). */
size_t llm_body_feed(struct llm_body *, const char *, size_t);
void llm_body_free(struct llm_body *);

/* ---- llm_frame.c: events, lines, bodies ---- */

enum llm_frame_mode {
	LLM_FRAME_BODY,         /* collect one body, bounded */
	LLM_FRAME_SSE,          /* text/event-stream events */
	LLM_FRAME_NDJSON,       /* one JSON value per line */
};

/* An event: its name ("" if none; NDJSON: ""), its data, NUL-terminated
 * both (data[len] == '\0'). */
typedef void (*llm_event_fn)(void *arg, const char *event, const char *data,
    size_t len);

struct llm_frame {
	enum llm_frame_mode mode;
	llm_event_fn fn;
	void *arg;
	char *buf;              /* event data, a line, or the body */
	size_t len, cap;        /* cap <= LLM_CONN_MAX_BUF */
	char name[LLM_NAME_MAX];
	size_t nlen;
	int ls;                 /* SSE: where in a line */
	int field;              /* SSE: the line's field */
	char fname[8];          /* SSE: its name so far */
	unsigned fnlen;
	unsigned ndata;         /* SSE: data lines in the event */
	int cr;                 /* a CR ended the last line: skip one LF */
	int over;               /* this event / line / body passed the bound */
	int usage_seen;         /* ... and its lost bytes may carry usage */
	char tail[16];          /* last bytes, for a needle across pieces */
	unsigned ntail;
	int cut;                /* an event that may carry usage was lost */
	uint64_t events;        /* events dispatched */
};

void llm_frame_init(struct llm_frame *);
void llm_frame_start(struct llm_frame *, enum llm_frame_mode, llm_event_fn,
    void *);
void llm_frame_feed(struct llm_frame *, const char *, size_t);
/* The stream ended (cut: before its end): an event or line still
 * pending is dispatched, unless cut short in the middle of a line. */
void llm_frame_end(struct llm_frame *, int cut);
/* Between exchanges: gives back a buffer grown past LLM_TAIL_KEEP. */
void llm_frame_release(struct llm_frame *);
void llm_frame_free(struct llm_frame *);

/* An over-long JSON object of which only the end is kept (buf, len; the
 * last LLM_TAIL_KEEP bytes are read): tries `{` + the text from the last
 * occurrence of each key in keys (NULL-terminated), earliest first, with
 * try(arg, json, len); 0 at the first that try accepts (returns 0), else
 * -1. buf is restored before return. */
int llm_frame_salvage(char *buf, size_t len, const char *const *keys,
    int (*try)(void *, const char *, size_t), void *arg);

#endif
