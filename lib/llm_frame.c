/*
 * llm_frame.c — a decoded response body cut into what the provider layer
 * reads (see llm_transport.h):
 *   SSE (text/event-stream): lines end in LF, CRLF or CR; a blank line
 *     ends an event; `:` lines are comments; `data:` lines join with LF;
 *     `event:` names the event; one space after the colon is dropped;
 *     other fields (id, retry) are ignored; an event without data is none.
 *   NDJSON (Ollama): one JSON value per line; blank lines skipped.
 *   BODY: one JSON body, collected.
 * Lines and events straddle pieces: each byte goes once, straight to the
 * buffer it belongs in (no line buffer); the hot path is memchr.
 *
 * Bounds: one buffer per direction, grown by doubling up to
 * LLM_CONN_MAX_BUF. An event or line longer than that is skipped (content
 * deltas do not matter), but if its bytes may carry usage ("usage,
 * eval_count) the stream is marked cut. A body longer than that keeps
 * its last LLM_TAIL_KEEP bytes, where the usage of every provider's
 * response sits (see llm_frame_salvage).
 */
#include "llm_transport.h"

#include <stdlib.h>
#include <string.h>

#define BUF_MIN 4096

enum { LS_START, LS_NAME, LS_SPACE, LS_VALUE };   /* f->ls */
enum { FLD_OTHER, FLD_DATA, FLD_EVENT };          /* f->field */

/* What a lost event must not have held. */
static const char *const usage_needles[] = { "\"usage", "eval_count" };
#define NEEDLE_MAX 10

void
llm_frame_init(struct llm_frame *f)
{
	memset(f, 0, sizeof(*f));
}

static void
event_reset(struct llm_frame *f)
{
	f->len = 0;
	f->nlen = 0;
	f->name[0] = '\0';
	f->ndata = 0;
	f->over = 0;
	f->usage_seen = 0;
	f->ntail = 0;
}

void
llm_frame_start(struct llm_frame *f, enum llm_frame_mode mode,
    llm_event_fn fn, void *arg)
{
	f->mode = mode;
	f->fn = fn;
	f->arg = arg;
	f->ls = LS_START;
	f->cr = 0;
	f->cut = 0;
	f->events = 0;
	event_reset(f);
}

/* ---- the "may carry usage" watch over lost bytes ---- */

static int
has_needle(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < sizeof(usage_needles) / sizeof(usage_needles[0]); i++)
		if (memmem(p, n, usage_needles[i], strlen(usage_needles[i])))
			return 1;
	return 0;
}

/* Watches bytes being lost, with the few before them so that a needle
 * split across pieces is seen too. */
static void
watch(struct llm_frame *f, const char *p, size_t n)
{
	char join[2 * NEEDLE_MAX];
	size_t head, keep;

	if (f->usage_seen || n == 0)
		return;
	head = n < NEEDLE_MAX - 1 ? n : NEEDLE_MAX - 1;
	memcpy(join, f->tail, f->ntail);
	memcpy(join + f->ntail, p, head);
	if (has_needle(join, f->ntail + head) || has_needle(p, n)) {
		f->usage_seen = 1;
		return;
	}
	/* keep the last NEEDLE_MAX - 1 bytes of tail + p */
	keep = f->ntail + head;
	if (n > head) {
		keep = n < NEEDLE_MAX - 1 ? n : NEEDLE_MAX - 1;
		memcpy(f->tail, p + n - keep, keep);
	} else if (keep > NEEDLE_MAX - 1) {
		memmove(f->tail, join + keep - (NEEDLE_MAX - 1), NEEDLE_MAX - 1);
		keep = NEEDLE_MAX - 1;
	} else
		memcpy(f->tail, join, keep);
	f->ntail = keep;
}

/* ---- the buffer ---- */

/* Room for need bytes (plus the NUL handed out after them); 0 or -1. */
static int
reserve(struct llm_frame *f, size_t need)
{
	size_t cap;
	char *b;

	if (need + 1 <= f->cap)
		return 0;
	if (need + 1 > LLM_CONN_MAX_BUF)
		return -1;
	cap = f->cap < BUF_MIN ? BUF_MIN : f->cap;
	while (cap < need + 1)
		cap *= 2;
	if (cap > LLM_CONN_MAX_BUF)
		cap = LLM_CONN_MAX_BUF;
	if ((b = realloc(f->buf, cap)) == NULL)
		return -1;
	f->buf = b;
	f->cap = cap;
	return 0;
}

/* Appends to the current event or line; past the bound it is lost and
 * only watched. */
static void
add(struct llm_frame *f, const char *p, size_t n)
{
	if (!f->over && reserve(f, f->len + n) != 0) {
		f->over = 1;
		watch(f, f->buf, f->len);
		f->len = 0;
	}
	if (f->over) {
		watch(f, p, n);
		return;
	}
	memcpy(f->buf + f->len, p, n);
	f->len += n;
}

/* Appends to a body; past the bound only the last LLM_TAIL_KEEP stay. */
static void
body_add(struct llm_frame *f, const char *p, size_t n)
{
	size_t keep;

	if (reserve(f, f->len + n) == 0) {
		memcpy(f->buf + f->len, p, n);
		f->len += n;
		return;
	}
	f->over = 1;
	if (reserve(f, LLM_CONN_MAX_BUF - 1) != 0) {
		f->len = 0; /* no memory: the body is lost */
		return;
	}
	if (n >= LLM_TAIL_KEEP) {
		memcpy(f->buf, p + n - LLM_TAIL_KEEP, LLM_TAIL_KEEP);
		f->len = LLM_TAIL_KEEP;
		return;
	}
	keep = LLM_TAIL_KEEP - n;
	if (keep > f->len)
		keep = f->len;
	memmove(f->buf, f->buf + f->len - keep, keep);
	memcpy(f->buf + keep, p, n);
	f->len = keep + n;
}

/* ---- SSE ---- */

static void
sse_dispatch(struct llm_frame *f)
{
	if (f->ndata == 0) {
		/* no data: no event (the name is forgotten too) */
	} else if (f->over) {
		if (f->usage_seen)
			f->cut = 1;
	} else if (reserve(f, f->len) == 0) { /* "data:" alone: no buffer yet */
		f->buf[f->len] = '\0';
		f->name[f->nlen] = '\0';
		f->events++;
		f->fn(f->arg, f->name, f->buf, f->len);
	}
	event_reset(f);
}

static void
name_add(struct llm_frame *f, const char *p, size_t n)
{
	/* a field name longer than fname is none we know: fnlen says so */
	if (f->fnlen > sizeof(f->fname))
		return;
	if (n > sizeof(f->fname) - f->fnlen) {
		f->fnlen = sizeof(f->fname) + 1;
		return;
	}
	memcpy(f->fname + f->fnlen, p, n);
	f->fnlen += n;
}

/* The field name is complete: what do its value's bytes feed? */
static void
field_set(struct llm_frame *f)
{
	if (f->fnlen == 4 && memcmp(f->fname, "data", 4) == 0) {
		f->field = FLD_DATA;
		if (f->ndata++ > 0)
			add(f, "\n", 1);
	} else if (f->fnlen == 5 && memcmp(f->fname, "event", 5) == 0) {
		f->field = FLD_EVENT;
		f->nlen = 0;
	} else
		f->field = FLD_OTHER;
}

/* "data:" or "event:" whole at a line's start (nearly every line): its
 * field set at once; 0 for anything else, read the long way. */
static int
known_field(struct llm_frame *f, const char *p, const char *t)
{
	if (t - p >= 5 && memcmp(p, "data:", 5) == 0)
		f->fnlen = 4;
	else if (t - p >= 6 && memcmp(p, "event:", 6) == 0)
		f->fnlen = 5;
	else
		return 0;
	memcpy(f->fname, p, f->fnlen);
	field_set(f);
	return 1;
}

static void
value_add(struct llm_frame *f, const char *p, size_t n)
{
	size_t room;

	if (f->field == FLD_DATA)
		add(f, p, n);
	else if (f->field == FLD_EVENT) {
		/* an over-long name is kept cut short: it matches nothing */
		room = sizeof(f->name) - 1 - f->nlen;
		n = n < room ? n : room;
		memcpy(f->name + f->nlen, p, n);
		f->nlen += n;
	}
}

/* The next CR or LF at or after p, or end: each of the two is searched
 * again only once p has passed it, so a piece is scanned once. */
static const char *
line_end(const char *p, const char *end, const char **cr, const char **lf)
{
	if (*lf == NULL || *lf < p) {
		*lf = memchr(p, '\n', end - p);
		if (*lf == NULL)
			*lf = end;
	}
	if (*cr == NULL || *cr < p) {
		*cr = memchr(p, '\r', end - p);
		if (*cr == NULL)
			*cr = end;
	}
	return *lf < *cr ? *lf : *cr;
}

/* A line's first byte: a blank line ends the event, ':' a comment. */
static int
sse_line_start(struct llm_frame *f, const char *p)
{
	if (*p == '\n' || *p == '\r') {
		f->cr = (*p == '\r');
		sse_dispatch(f);
		return 1;
	}
	f->fnlen = 0;
	if (*p == ':') {
		f->field = FLD_OTHER;
		f->ls = LS_VALUE;
		return 1;
	}
	f->ls = LS_NAME;
	return 0;
}

static void
sse_feed(struct llm_frame *f, const char *p, size_t n)
{
	const char *end = p + n, *cr = NULL, *lf = NULL, *t, *c;

	while (p < end) {
		if (f->cr) {
			f->cr = 0;
			if (*p == '\n' && ++p == end)
				break;
		}
		if (f->ls == LS_START) {
			p += sse_line_start(f, p);
			if (f->ls == LS_START)
				continue;
		}
		t = line_end(p, end, &cr, &lf);
		if (f->ls == LS_NAME && f->fnlen == 0 && known_field(f, p, t)) {
			p += f->fnlen + 1;
			f->ls = LS_SPACE;
		} else if (f->ls == LS_NAME) {
			c = memchr(p, ':', t - p);
			name_add(f, p, (c != NULL ? c : t) - p);
			p = c != NULL ? c + 1 : t;
			if (c != NULL || t < end) {
				field_set(f); /* a line without ':' is a name */
				f->ls = LS_SPACE;
			}
		}
		if (f->ls == LS_SPACE && p < t) {
			p += (*p == ' ');
			f->ls = LS_VALUE;
		}
		if (f->ls == LS_VALUE) {
			value_add(f, p, t - p);
			p = t;
		}
		if (t < end) {
			f->cr = (*t == '\r');
			f->ls = LS_START;
			p = t + 1;
		}
	}
}

/* ---- NDJSON ---- */

static void
nd_dispatch(struct llm_frame *f)
{
	size_t n = f->len;

	if (f->over) {
		if (f->usage_seen)
			f->cut = 1;
	} else {
		while (n > 0 && (f->buf[n - 1] == '\r' ||
		    f->buf[n - 1] == ' ' || f->buf[n - 1] == '\t'))
			n--;
		if (n > 0) {
			f->buf[n] = '\0';
			f->events++;
			f->fn(f->arg, "", f->buf, n);
		}
	}
	event_reset(f);
}

static void
nd_feed(struct llm_frame *f, const char *p, size_t n)
{
	const char *end = p + n, *lf;

	while (p < end) {
		if ((lf = memchr(p, '\n', end - p)) == NULL) {
			add(f, p, end - p);
			return;
		}
		add(f, p, lf - p);
		nd_dispatch(f);
		p = lf + 1;
	}
}

void
llm_frame_feed(struct llm_frame *f, const char *p, size_t n)
{
	if (n == 0)
		return;
	switch (f->mode) {
	case LLM_FRAME_SSE:
		sse_feed(f, p, n);
		break;
	case LLM_FRAME_NDJSON:
		nd_feed(f, p, n);
		break;
	default:
		body_add(f, p, n);
		break;
	}
}

void
llm_frame_end(struct llm_frame *f, int cut)
{
	int partial;

	/* A stream that ends without its last blank line or newline still
	 * delivers what it had, unless the connection cut a line short: a
	 * number in it may be cut short too. */
	partial = cut && (f->mode == LLM_FRAME_NDJSON ? f->len > 0 || f->over :
	    f->ls != LS_START);
	if (partial)
		event_reset(f);
	else if (f->mode == LLM_FRAME_SSE && (f->ndata > 0 || f->over))
		sse_dispatch(f);
	else if (f->mode == LLM_FRAME_NDJSON && (f->len > 0 || f->over))
		nd_dispatch(f);
	f->ls = LS_START;
	f->cr = 0;
}

void
llm_frame_release(struct llm_frame *f)
{
	if (f->cap > LLM_TAIL_KEEP) {
		free(f->buf);
		f->buf = NULL;
		f->cap = 0;
	}
	event_reset(f);
}

void
llm_frame_free(struct llm_frame *f)
{
	free(f->buf);
	llm_frame_init(f);
}

/* ---- salvage ---- */

/* The last occurrence of key (as `"key"`) in buf, or NULL. */
static char *
last_key(char *buf, size_t len, const char *key)
{
	char pat[64], *p = buf, *q, *last = NULL;
	size_t kl = strlen(key);

	if (kl + 2 > sizeof(pat))
		return NULL;
	pat[0] = '"';
	memcpy(pat + 1, key, kl);
	pat[kl + 1] = '"';
	while ((q = memmem(p, len - (p - buf), pat, kl + 2)) != NULL) {
		last = q;
		p = q + 1;
	}
	return last;
}

/* Where a key may begin a member: after ',' or '{' (and blanks). */
static char *
member_start(char *buf, char *key)
{
	char *s = key;

	while (s > buf && (s[-1] == ' ' || s[-1] == '\t' || s[-1] == '\n' ||
	    s[-1] == '\r'))
		s--;
	if (s == buf || (s[-1] != ',' && s[-1] != '{'))
		return NULL;
	return s - 1;
}

int
llm_frame_salvage(char *buf, size_t len, const char *const *keys,
    int (*try)(void *, const char *, size_t), void *arg)
{
	char *at[16], *k, *t, save;
	size_t n = 0, i, j;
	int ok = -1;

	/* how much more than the last LLM_TAIL_KEEP bytes is kept depends on
	 * how the body came in pieces: only those count */
	if (len > LLM_TAIL_KEEP) {
		buf += len - LLM_TAIL_KEEP;
		len = LLM_TAIL_KEEP;
	}
	for (i = 0; keys[i] != NULL && n < 16; i++)
		if ((k = last_key(buf, len, keys[i])) != NULL &&
		    (k = member_start(buf, k)) != NULL)
			at[n++] = k;
	/* earliest first: the longest candidate holds the most */
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && at[j] < at[j - 1]; j--) {
			t = at[j];
			at[j] = at[j - 1];
			at[j - 1] = t;
		}
	for (i = 0; i < n && ok != 0; i++) {
		if (i > 0 && at[i] == at[i - 1])
			continue;
		save = *at[i];
		*at[i] = '{';
		ok = try(arg, at[i], len - (at[i] - buf));
		*at[i] = save;
	}
	return ok;
}
