/*
 * llm_fixture.h — for the usage parser's tests: find and read a file of
 * tests/fixtures/llm/, and feed a stream to llm_usage_event one event at a
 * time, framed as the transport frames it (SSE: "event:" and "data:"
 * fields, data lines joined by '\n', events ended by a blank line, lines
 * ended by LF or CRLF; NDJSON: one line per event).
 */
#ifndef TG_LLM_FIXTURE_H
#define TG_LLM_FIXTURE_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "llm.h"

/* What a fixture must give (cmocka is included before this header). */
struct want {
	uint64_t input, output, cached, cache_write, reasoning;
	unsigned have;
	const char *model;
	int error, done;
};

static inline void
check(const struct llm_usage *u, const struct want *w)
{
	assert_int_equal(u->input, w->input);
	assert_int_equal(u->output, w->output);
	assert_int_equal(u->cached, w->cached);
	assert_int_equal(u->cache_write, w->cache_write);
	assert_int_equal(u->reasoning, w->reasoning);
	assert_int_equal(u->have, w->have);
	assert_string_equal(u->model, w->model);
	assert_int_equal(u->error, w->error);
	assert_int_equal(u->done, w->done);
}

/* $SRC/tests/fixtures/llm/<name>, else ../../ from build/tests/<exe>. */
static inline char *
fixture_read(const char *name, size_t *len)
{
	char exe[PATH_MAX], path[PATH_MAX + 64], *buf, *p;
	const char *src = getenv("SRC");
	ssize_t n;
	FILE *f;
	long sz;
	int i;

	if (src != NULL)
		snprintf(exe, sizeof(exe), "%s", src);
	else {
		if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) == -1)
			return NULL;
		exe[n] = '\0';
		for (i = 0; i < 3 && (p = strrchr(exe, '/')); i++)
			*p = '\0';
	}
	snprintf(path, sizeof(path), "%s/tests/fixtures/llm/%s", exe, name);
	if ((f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "fixture_read: %s: cannot open\n", path);
		return NULL;
	}
	fseek(f, 0, SEEK_END);
	sz = ftell(f);
	rewind(f);
	if ((buf = malloc(sz + 1)) == NULL || fread(buf, 1, sz, f) !=
	    (size_t)sz) {
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	buf[sz] = '\0';
	*len = sz;
	return buf;
}

/* The next line of [*p, end) without its LF/CRLF; NULL at the end. */
static inline const char *
fixture_line(const char **p, const char *end, size_t *n)
{
	const char *s = *p, *nl;

	if (s >= end)
		return NULL;
	nl = memchr(s, '\n', end - s);
	*p = nl ? nl + 1 : end;
	*n = (nl ? nl : end) - s;
	if (*n > 0 && s[*n - 1] == '\r')
		(*n)--;
	return s;
}

/* One event, in a buffer of exactly its size: a parser that reads past
 * the end shows under valgrind or ASan. */
static inline void
fixture_event(const struct llm_req *r, const char *name, const char *data,
    size_t n, struct llm_usage *u)
{
	char *copy = malloc(n ? n : 1);

	memcpy(copy, data, n);
	llm_usage_event(r, name, copy, n, u);
	free(copy);
}

/* Feed an SSE text event by event; returns how many events were fed. */
static inline int
fixture_feed_sse(const struct llm_req *r, const char *text, size_t len,
    struct llm_usage *u)
{
	static char name[64], data[64 * 1024];
	const char *p = text, *end = text + len, *l;
	size_t n, dn = 0;
	int have_data = 0, events = 0;

	name[0] = '\0';
	while ((l = fixture_line(&p, end, &n)) != NULL) {
		if (n == 0) {
			if (have_data) {
				fixture_event(r, name, data, dn, u);
				events++;
			}
			name[0] = '\0';
			dn = 0;
			have_data = 0;
		} else if (n > 6 && memcmp(l, "event:", 6) == 0) {
			l += 6, n -= 6;
			if (*l == ' ')
				l++, n--;
			snprintf(name, sizeof(name), "%.*s", (int)n, l);
		} else if (n >= 5 && memcmp(l, "data:", 5) == 0) {
			l += 5, n -= 5;
			if (n > 0 && *l == ' ')
				l++, n--;
			if (dn + n + 1 > sizeof(data))
				abort(); /* no fixture event is that big */
			if (have_data)
				data[dn++] = '\n';
			memcpy(data + dn, l, n);
			dn += n;
			have_data = 1;
		}
	}
	return events;
}

/* Feed NDJSON line by line; returns how many lines were fed. */
static inline int
fixture_feed_ndjson(const struct llm_req *r, const char *text, size_t len,
    struct llm_usage *u)
{
	const char *p = text, *end = text + len, *l;
	int events = 0;
	size_t n;

	while ((l = fixture_line(&p, end, &n)) != NULL)
		if (n > 0) {
			fixture_event(r, "", l, n, u);
			events++;
		}
	return events;
}

#endif
