/*
 * llm_bench.c — throughput of llm_usage_event (lib/llm.h) on large
 * generated streams where every event but one or two is a content delta:
 *   openai     chat completion chunks with "usage": null (what a stream
 *              with stream_options.include_usage sends), then the
 *              finish chunk, the "choices": [] usage chunk and [DONE];
 *   anthropic  content_block_delta events between message_start and
 *              message_delta/message_stop;
 *   ollama     /api/chat NDJSON lines, the last one "done": true;
 *   gemini     alt=sse chunks, each with running usageMetadata (Gemini
 *              puts usage in every chunk, so each one is parsed).
 * Next to each, interleaved in the same run, a baseline: one memchr pass
 * over the same events (the cost of touching every byte once). MB/s is
 * over the events' data bytes (10^6 bytes per MB). Every run checks the
 * token counts it parsed; a wrong count exits 1.
 * usage: llm_bench [--mb N] [--rounds N] [--only NAME]
 * (target: openai and anthropic ≥ 1000 MB/s)
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "llm.h"

struct ev {
	const char *name;
	size_t off, len;
};

struct stream {
	const char *label;
	struct llm_req req;
	char *buf;
	size_t len, cap;
	struct ev *ev;
	size_t nev, evcap;
	uint64_t want_in, want_out;
};

static const char *const words[] = {
	"The", " quick", " brown", " fox", " jumps", " over", " the", " lazy",
	" dog", ".", "\\n\\n", " A", " \\\"quoted\\\"", " token", ",", " and",
	" then", " some", " more", " text", " follows", " here", ":", " 42",
};
#define NWORDS (sizeof(words) / sizeof(words[0]))

static void
add(struct stream *s, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
add(struct stream *s, const char *name, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (s->cap - s->len < 4096) {
		s->cap = s->cap ? s->cap * 2 : 1 << 20;
		if ((s->buf = realloc(s->buf, s->cap)) == NULL)
			abort();
	}
	if (s->nev == s->evcap) {
		s->evcap = s->evcap ? s->evcap * 2 : 4096;
		if ((s->ev = realloc(s->ev, s->evcap * sizeof(*s->ev))) == NULL)
			abort();
	}
	va_start(ap, fmt);
	n = vsnprintf(s->buf + s->len, s->cap - s->len, fmt, ap);
	va_end(ap);
	s->ev[s->nev++] = (struct ev){ name, s->len, (size_t)n };
	s->len += n;
}

static void
gen_openai(struct stream *s, size_t bytes)
{
	size_t i;

	llm_classify("POST", "/v1/chat/completions", "api.openai.com", &s->req);
	for (i = 0; s->len < bytes; i++)
		add(s, "", "{\"id\":\"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT\","
		    "\"object\":\"chat.completion.chunk\",\"created\":1741569952,"
		    "\"model\":\"gpt-4o-2024-08-06\",\"service_tier\":\"default\","
		    "\"system_fingerprint\":\"fp_fc9f1d7035\",\"choices\":[{"
		    "\"index\":0,\"delta\":{\"content\":\"%s\"},\"logprobs\":null,"
		    "\"finish_reason\":null}],\"usage\":null}", words[i % NWORDS]);
	add(s, "", "{\"id\":\"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT\","
	    "\"object\":\"chat.completion.chunk\",\"created\":1741569952,"
	    "\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,"
	    "\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
	    "\"usage\":null}");
	add(s, "", "{\"id\":\"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT\","
	    "\"object\":\"chat.completion.chunk\",\"created\":1741569952,"
	    "\"model\":\"gpt-4o-2024-08-06\",\"choices\":[],\"usage\":{"
	    "\"prompt_tokens\":1117,\"completion_tokens\":%zu,\"total_tokens\":"
	    "%zu,\"prompt_tokens_details\":{\"cached_tokens\":1024},"
	    "\"completion_tokens_details\":{\"reasoning_tokens\":0}}}", i,
	    i + 1117);
	add(s, "", "[DONE]");
	s->want_in = 1117;
	s->want_out = i;
}

static void
gen_anthropic(struct stream *s, size_t bytes)
{
	size_t i;

	llm_classify("POST", "/v1/messages", "api.anthropic.com", &s->req);
	add(s, "message_start", "{\"type\":\"message_start\",\"message\":{"
	    "\"id\":\"msg_01XFDUDYJgAACzvnptvVoYEL\",\"type\":\"message\","
	    "\"role\":\"assistant\",\"content\":[],\"model\":"
	    "\"claude-sonnet-4-20250514\",\"stop_reason\":null,"
	    "\"stop_sequence\":null,\"usage\":{\"input_tokens\":472,"
	    "\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":2048,"
	    "\"output_tokens\":1}}}");
	add(s, "content_block_start", "{\"type\":\"content_block_start\","
	    "\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}");
	for (i = 0; s->len < bytes; i++)
		add(s, "content_block_delta", "{\"type\":\"content_block_delta\","
		    "\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":"
		    "\"%s\"}}", words[i % NWORDS]);
	add(s, "content_block_stop", "{\"type\":\"content_block_stop\","
	    "\"index\":0}");
	add(s, "message_delta", "{\"type\":\"message_delta\",\"delta\":{"
	    "\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{"
	    "\"output_tokens\":%zu}}", i);
	add(s, "message_stop", "{\"type\":\"message_stop\"}");
	s->want_in = 472 + 2048;
	s->want_out = i;
}

static void
gen_ollama(struct stream *s, size_t bytes)
{
	size_t i;

	llm_classify("POST", "/api/chat", "localhost:11434", &s->req);
	for (i = 0; s->len < bytes; i++)
		add(s, "", "{\"model\":\"llama3.2\",\"created_at\":"
		    "\"2025-09-01T10:00:00.123456789Z\",\"message\":{\"role\":"
		    "\"assistant\",\"content\":\"%s\"},\"done\":false}",
		    words[i % NWORDS]);
	add(s, "", "{\"model\":\"llama3.2\",\"created_at\":"
	    "\"2025-09-01T10:00:09.9Z\",\"message\":{\"role\":\"assistant\","
	    "\"content\":\"\"},\"done_reason\":\"stop\",\"done\":true,"
	    "\"total_duration\":9876543210,\"load_duration\":1234567,"
	    "\"prompt_eval_count\":389,\"prompt_eval_duration\":22334455,"
	    "\"eval_count\":%zu,\"eval_duration\":9812345678}", i);
	s->want_in = 389;
	s->want_out = i;
}

static void
gen_gemini(struct stream *s, size_t bytes)
{
	size_t i;

	llm_classify("POST", "/v1beta/models/gemini-2.5-flash:"
	    "streamGenerateContent?alt=sse",
	    "generativelanguage.googleapis.com", &s->req);
	for (i = 0; s->len < bytes; i++)
		add(s, "", "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":"
		    "\"%s%s%s%s\"}],\"role\":\"model\"},\"index\":0}],"
		    "\"usageMetadata\":{\"promptTokenCount\":733,"
		    "\"candidatesTokenCount\":%zu,\"totalTokenCount\":%zu,"
		    "\"promptTokensDetails\":[{\"modality\":\"TEXT\","
		    "\"tokenCount\":733}]},\"modelVersion\":\"gemini-2.5-flash\","
		    "\"responseId\":\"mMe1aLfgJNqJ1dkPzv7f2Aw\"}",
		    words[i % NWORDS], words[(i + 1) % NWORDS],
		    words[(i + 2) % NWORDS], words[(i + 3) % NWORDS],
		    4 * i + 4, 737 + 4 * i);
	s->want_in = 733;
	s->want_out = 4 * i;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double
run_parser(const struct stream *s)
{
	struct llm_usage u;
	double t0;
	size_t i;

	memset(&u, 0, sizeof(u));
	t0 = now();
	for (i = 0; i < s->nev; i++)
		llm_usage_event(&s->req, s->ev[i].name, s->buf + s->ev[i].off,
		    s->ev[i].len, &u);
	t0 = now() - t0;
	if (u.input != s->want_in || u.output != s->want_out ||
	    !(u.have & LLM_HAVE_INPUT) || !(u.have & LLM_HAVE_OUTPUT)) {
		fprintf(stderr, "llm_bench: %s: parsed input %llu output %llu, "
		    "want %llu %llu\n", s->label, (unsigned long long)u.input,
		    (unsigned long long)u.output,
		    (unsigned long long)s->want_in,
		    (unsigned long long)s->want_out);
		exit(1);
	}
	return t0;
}

static double
run_baseline(const struct stream *s)
{
	volatile size_t sink = 0;
	double t0 = now();
	size_t i;

	for (i = 0; i < s->nev; i++)
		sink += memchr(s->buf + s->ev[i].off, '\001', s->ev[i].len) ==
		    NULL;
	(void)sink;
	return now() - t0;
}

int
main(int argc, char **argv)
{
	struct stream st[4] = {
		{ .label = "openai" }, { .label = "anthropic" },
		{ .label = "ollama" }, { .label = "gemini" },
	};
	void (*gen[4])(struct stream *, size_t) = {
		gen_openai, gen_anthropic, gen_ollama, gen_gemini,
	};
	const char *only = NULL;
	size_t mb = 100, k;
	int rounds = 3, r, i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--mb") == 0 && i + 1 < argc)
			mb = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
			only = argv[++i];
		else {
			fprintf(stderr, "usage: llm_bench [--mb N] "
			    "[--rounds N] [--only NAME]\n");
			return 2;
		}
	}
	if (mb == 0 || rounds <= 0) {
		fprintf(stderr, "llm_bench: --mb and --rounds must be > 0\n");
		return 2;
	}
	for (k = 0; k < 4; k++) {
		double best_p = 1e9, best_b = 1e9, t;

		if (only != NULL && strcmp(only, st[k].label) != 0)
			continue;
		gen[k](&st[k], mb * 1000000);
		for (r = 0; r < rounds; r++) {
			if ((t = run_baseline(&st[k])) < best_b)
				best_b = t;
			if ((t = run_parser(&st[k])) < best_p)
				best_p = t;
		}
		printf("llm_usage_event %-10s %8.0f MB/s  (%zu events, "
		    "%.1f MB; baseline memchr %6.0f MB/s)\n", st[k].label,
		    st[k].len / best_p / 1e6, st[k].nev, st[k].len / 1e6,
		    st[k].len / best_b / 1e6);
		free(st[k].buf);
		free(st[k].ev);
	}
	return 0;
}
