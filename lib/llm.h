/*
 * llm.h — the LLM HTTP usage parser: ONE module for the shim (bytes seen
 * in-process) and the daemon's audit (bytes captured by uprobes); see
 * ../shared/DESIGN.md and issue 4. No I/O, no clock, bounded memory per
 * connection, fed in any splits (a byte at a time works the same).
 *
 * Two layers:
 *   provider semantics (llm_classify.c, llm_request.c, llm_usage.c) —
 *     which API a request is, what admission needs from it (model, stream,
 *     max tokens, an input estimate), and the usage in a response body or
 *     in a stream's events, per provider, with the token fields of
 *     DESIGN.md ("Token fields mean the same for every provider");
 *   transport (llm_http.c, llm_h2.c, llm_resp.c, llm_decode.c,
 *     llm_frame.c) — HTTP/1.1 requests and responses on one connection
 *     (keep-alive, pipelining), chunked transfer, or HTTP/2 streams when
 *     the connection began with the client preface (frames and HPACK,
 *     read passively with libnghttp2's inflater); Content-Encoding
 *     gzip/deflate (zlib), br (libbrotli), zstd (libzstd), then SSE events
 *     (`\n\n` and `\r\n\r\n`) or NDJSON lines or one JSON body handed to
 *     the semantic layer, the same for both versions; one llm_exchange per
 *     request/response pair (HTTP/2: per stream) comes out through a
 *     callback.
 */
#ifndef TG_LLM_H
#define TG_LLM_H

#include <stddef.h>
#include <stdint.h>

/* ---- provider semantics ---- */

enum llm_provider {
	LLM_UNKNOWN = 0,
	LLM_OPENAI,     /* api.openai.com, and any /v1/chat/completions … */
	LLM_AZURE,      /* *.openai.azure.com, /openai/deployments/NAME/… */
	LLM_ANTHROPIC,  /* /v1/messages */
	LLM_GEMINI,     /* …/models/{model}:generateContent | :streamGenerateContent */
	LLM_OLLAMA,     /* /api/chat, /api/generate */
	LLM_COMPAT,     /* OpenAI-compatible servers (vLLM, llama.cpp) */
};

enum llm_api {
	LLM_API_NONE = 0,
	LLM_API_CHAT,           /* /v1/chat/completions */
	LLM_API_COMPLETIONS,    /* /v1/completions */
	LLM_API_RESPONSES,      /* /v1/responses */
	LLM_API_EMBEDDINGS,     /* /v1/embeddings */
	LLM_API_MESSAGES,       /* Anthropic /v1/messages */
	LLM_API_GEMINI,         /* generateContent / streamGenerateContent */
	LLM_API_OLLAMA_CHAT,
	LLM_API_OLLAMA_GENERATE,
};

#define LLM_MODEL_MAX 128

/* What admission needs, from the request line, headers and JSON body. */
struct llm_req {
	enum llm_provider provider;
	enum llm_api api;
	char model[LLM_MODEL_MAX];   /* "" until known (Gemini: from the path) */
	char host[256];              /* Host / :authority, without the port */
	char endpoint[128];          /* the path without the query */
	int stream;                  /* 1: a streamed response is asked for */
	int include_usage;           /* OpenAI stream_options.include_usage */
	int64_t max_tokens;          /* -1: the request set none */
	uint64_t est_input_tokens;   /* estimate from the body's text */
	char tags[256];              /* X-Tollgate-Tags, "" when absent */
};

/* Classify a request by method, path (with query) and host. 1 and r's
 * provider/api/endpoint/host (and a Gemini model) filled when it is an LLM
 * API call we meter; 0 otherwise. Provider-specific host names win over
 * paths; an unknown host with an OpenAI-style path is LLM_COMPAT. */
int llm_classify(const char *method, const char *path, const char *host,
    struct llm_req *r);

/* The provider whose own API host this is (any case, a trailing dot
 * allowed), else LLM_UNKNOWN: known hosts only, no path to go by. */
enum llm_provider llm_host_provider(const char *host);

/* Read the request's JSON body: model (unless in the path), stream,
 * stream_options.include_usage, max_tokens / max_completion_tokens /
 * max_output_tokens / generationConfig.maxOutputTokens /
 * options.num_predict, and est_input_tokens (text bytes / 4, rounded up).
 * 0, or -1 when the body is not JSON (r keeps what it had). */
int llm_request_body(struct llm_req *r, const char *json, size_t len);

/* Which usage fields a response gave; a missing one is unknown, not 0. */
#define LLM_HAVE_INPUT      0x01
#define LLM_HAVE_OUTPUT     0x02
#define LLM_HAVE_CACHED     0x04
#define LLM_HAVE_CACHE_WRITE 0x08
#define LLM_HAVE_REASONING  0x10

/* Token fields as DESIGN.md defines them for every provider:
 * input = every input token billed (Anthropic: input + cache creation +
 * cache reads), cached = cache reads (part of input), cache_write = cache
 * creation (part of input), output = every output token billed (Gemini:
 * candidates + thoughts), reasoning = part of output. */
struct llm_usage {
	uint64_t input, output, cached, cache_write, reasoning;
	unsigned have;               /* LLM_HAVE_* */
	char model[LLM_MODEL_MAX];   /* the response's model, "" if none */
	int error;                   /* an error object came (even on a 200) */
	int done;                    /* the body or stream ended properly */
};

/* A whole non-streamed JSON response body. 0, or -1 (not JSON). */
int llm_usage_body(const struct llm_req *r, const char *json, size_t len,
    struct llm_usage *u);

/* One event of a stream: an SSE event (name from "event:", "" if none;
 * data = its joined "data:" lines) or one NDJSON line (name ""). Updates
 * u: Anthropic's message_delta output is cumulative (the last one wins),
 * Gemini keeps the last usageMetadata, OpenAI chat usage comes in a chunk
 * whose usage is not null, `data: [DONE]` / response.completed /
 * message_stop / done:true set u->done. Cheap for events without usage:
 * a content delta must not be parsed as JSON (scan first). */
void llm_usage_event(const struct llm_req *r, const char *event,
    const char *data, size_t len, struct llm_usage *u);

/* ---- transport: one HTTP/1.1 or HTTP/2 connection ---- */

/* One request/response pair, finished (or cut: the connection closed). */
struct llm_exchange {
	struct llm_req req;
	struct llm_usage usage;
	int status;                  /* HTTP status, 0 when no response */
	int streamed;                /* the response was SSE or NDJSON */
	int cut;                     /* ended before its end (close, gap) */
	uint64_t resp_body_bytes;    /* decoded */
	uint64_t seq;                /* the request's ordinal among the
				      * connection's metered ones (1, 2, …),
				      * in the order they were begun: a key
				      * for what a caller noted then */
	int h2;                      /* an HTTP/2 stream */
};

/* Called once per metered exchange, in order (HTTP/2: as each stream's
 * response ends, is reset, or is cut). */
typedef void (*llm_done_fn)(void *arg, const struct llm_exchange *x);

/* Request-side states, for the shim's admission: it may hold the bytes
 * of a request until LLM_REQ_READY (model and max tokens known). */
enum llm_req_state {
	LLM_REQ_IDLE,        /* between requests */
	LLM_REQ_HEADERS,     /* inside the request line / headers */
	LLM_REQ_BODY,        /* a metered request's body, model not known yet */
	LLM_REQ_READY,       /* llm_conn_request() is complete for admission */
	LLM_REQ_PASS,        /* not an LLM request: bytes are not looked at;
	                      * also all of an HTTP/2 connection, which is
	                      * metered but never held (no admission on h2) */
};

struct llm_conn;

/* Per connection. NULL on ENOMEM. Memory is bounded (LLM_CONN_MAX_BUF per
 * direction); past it the exchange is marked cut/estimated, never grown. */
#define LLM_CONN_MAX_BUF (1024 * 1024)
struct llm_conn *llm_conn_new(llm_done_fn done, void *arg);
void llm_conn_free(struct llm_conn *c); /* flushes a pending exchange as cut */

/* Bytes the client wrote (request direction) / read (response
 * direction). Never fail: bad HTTP makes the connection pass-through
 * (not LLM) from there on. HTTP/2 only when the first bytes written are
 * its client preface: a connection joined midway is never taken for it. */
void llm_conn_out(struct llm_conn *c, const void *buf, size_t n);
void llm_conn_in(struct llm_conn *c, const void *buf, size_t n);
/* The connection closed (or a gap in captured bytes): pending exchanges
 * end as cut. */
void llm_conn_close(struct llm_conn *c);

enum llm_req_state llm_conn_state(const struct llm_conn *c);
/* The request being written (valid from LLM_REQ_BODY on; NULL on
 * HTTP/2). */
const struct llm_req *llm_conn_request(const struct llm_conn *c);
/* 1 when the next byte written would start a new HTTP/1.1 request: the
 * connection is HTTP/1.x, alive, and no request is partly written. The
 * shim's admission holds a request's bytes from this point on. */
int llm_conn_at_request_start(const struct llm_conn *c);
/* Metered requests begun on the connection so far (each exchange's seq
 * is one of them): HTTP/1.1 once a request's headers classify it, HTTP/2
 * at its stream's request headers. */
uint64_t llm_conn_begun(const struct llm_conn *c);
/* The request announced "Expect: 100-continue". */
int llm_conn_expects_continue(const struct llm_conn *c);

#endif
