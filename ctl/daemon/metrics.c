/* metrics.c — see metrics.h. */
#include "metrics.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "htab.h"
#include "log.h"

#define LABELS_MAX 16
#define VALUE_MAX 256

enum { TK_INPUT, TK_OUTPUT, TK_CACHED, TK_CACHE_WRITE, TK_REASONING, TK_N };
static const char *const tk_names[TK_N] = { "input", "output", "cached",
	"cache_write", "reasoning" };

struct series {
	struct hnode hn;
	struct series *next; /* in creation order */
	char *key;           /* values joined by \x1f */
	char *vals[LABELS_MAX];
	uint64_t requests;
	uint64_t refused;
	uint64_t tokens[TK_N];
	uint64_t gpu_launches;
	uint64_t gpu_busy_ns;
	tg_nano_usd cost;
};

struct metrics {
	pthread_mutex_t mu;
	char *labels[LABELS_MAX];
	size_t nlabels;
	size_t cap;
	struct htab tab;
	struct series *head, *tail;
	size_t nseries;
	uint64_t dropped;
	struct tgd_health *health;
	/* idle.c's GPU holders, replaced whole once a second */
	struct metrics_idle_row *idle;
	size_t nidle;
	uint64_t idle_now, idle_terminations;
	/* unmetered.c's server names, replaced whole on each change */
	struct metrics_unmetered_row *unmetered;
	size_t nunmetered;
	struct MHD_Daemon *httpd;
	char addr[80];
};

static int
label_name_ok(const char *s)
{
	if (!(isalpha((unsigned char)*s) || *s == '_'))
		return 0;
	for (s++; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '_'))
			return 0;
	return 1;
}

static int
metrics_parse_labels(struct metrics *m, const char *labels, char *err,
    size_t errlen)
{
	char *copy = strdup(labels), *tok, *save = NULL;

	if (copy == NULL)
		return -1;
	for (tok = strtok_r(copy, ",", &save); tok;
	    tok = strtok_r(NULL, ",", &save)) {
		if (!label_name_ok(tok) || strcmp(tok, "type") == 0 ||
		    strncmp(tok, "__", 2) == 0) {
			snprintf(err, errlen, "metric label \"%s\": expected a "
			    "name like team or purpose (letters, digits, _; not "
			    "\"type\")", tok);
			goto fail;
		}
		if (m->nlabels == LABELS_MAX) {
			snprintf(err, errlen, "at most %d metric labels",
			    LABELS_MAX);
			goto fail;
		}
		m->labels[m->nlabels++] = strdup(tok);
	}
	free(copy);
	return 0;
fail:
	free(copy);
	return -1;
}

struct metrics *
metrics_new(const char *labels, size_t cap, struct tgd_health *health,
    char *err, size_t errlen)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (m == NULL || htab_init(&m->tab, 256) == -1) {
		snprintf(err, errlen, "out of memory");
		free(m);
		return NULL;
	}
	pthread_mutex_init(&m->mu, NULL);
	m->cap = cap;
	m->health = health;
	if (metrics_parse_labels(m, labels, err, errlen) == -1) {
		metrics_free(m);
		return NULL;
	}
	return m;
}

void
metrics_free(struct metrics *m)
{
	struct series *s, *next;

	if (m == NULL)
		return;
	if (m->httpd)
		MHD_stop_daemon(m->httpd);
	for (s = m->head; s; s = next) {
		next = s->next;
		for (size_t i = 0; i < m->nlabels; i++)
			free(s->vals[i]);
		free(s->key);
		free(s);
	}
	for (size_t i = 0; i < m->nlabels; i++)
		free(m->labels[i]);
	htab_free(&m->tab);
	free(m->idle);
	free(m->unmetered);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

/* Value of tag `name` in "k=v,k2=v2" into out ("" when absent). */
static void
tag_value(const char *tags, const char *name, char *out, size_t size)
{
	size_t nl = strlen(name);
	const char *p = tags;

	out[0] = '\0';
	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
			size_t vl = len - nl - 1;

			if (vl >= size)
				vl = size - 1;
			memcpy(out, p + nl + 1, vl);
			out[vl] = '\0';
			return;
		}
		p += len + (end != NULL);
	}
}

static void
label_value(const struct ledger_entry *e, const char *label, char *out,
    size_t size)
{
	if (strcmp(label, "model") == 0)
		tg_strlcpy(out, e->rec.model, size);
	else if (strcmp(label, "provider") == 0)
		tg_strlcpy(out, e->rec.provider, size);
	else
		tag_value(e->rec.tags, label, out, size);
}

static struct series *
series_new(struct metrics *m, char vals[][VALUE_MAX], const char *key,
    uint64_t h)
{
	struct series *s = calloc(1, sizeof(*s));

	if (s == NULL || (s->key = strdup(key)) == NULL) {
		free(s);
		return NULL;
	}
	for (size_t i = 0; i < m->nlabels; i++)
		s->vals[i] = strdup(vals[i]);
	htab_insert(&m->tab, &s->hn, h);
	if (m->tail)
		m->tail->next = s;
	else
		m->head = s;
	m->tail = s;
	m->nseries++;
	return s;
}

/* Called with mu held. */
static struct series *
series_get(struct metrics *m, const struct ledger_entry *e)
{
	char vals[LABELS_MAX][VALUE_MAX];
	char key[LABELS_MAX * VALUE_MAX];
	size_t off = 0;
	uint64_t h;

	for (size_t i = 0; i < m->nlabels; i++) {
		label_value(e, m->labels[i], vals[i], VALUE_MAX);
		off += (size_t)snprintf(key + off, sizeof(key) - off, "%s\x1f",
		    vals[i]);
	}
	key[off] = '\0';
	h = htab_hash_str(key);
	for (struct hnode *n = htab_chain(&m->tab, h); n; n = n->next) {
		struct series *s = HTAB_ENTRY(n, struct series, hn);

		if (n->hash == h && strcmp(s->key, key) == 0)
			return s;
	}
	if (m->nseries >= m->cap)
		return NULL;
	return series_new(m, vals, key, h);
}

void
metrics_add(struct metrics *m, const struct ledger_entry *e)
{
	const struct tg_record *r = &e->rec;
	struct series *s;

	pthread_mutex_lock(&m->mu);
	if ((s = series_get(m, e)) == NULL) {
		m->dropped++;
		pthread_mutex_unlock(&m->mu);
		return;
	}
	if (r->flags & TG_REC_REFUSED)
		s->refused++;
	else if (r->kind == TG_KIND_LLM)
		s->requests++;
	s->tokens[TK_INPUT] += r->input_tokens;
	s->tokens[TK_OUTPUT] += r->output_tokens;
	s->tokens[TK_CACHED] += r->cached_tokens;
	s->tokens[TK_CACHE_WRITE] += r->cache_write_tokens;
	s->tokens[TK_REASONING] += r->reasoning_tokens;
	s->gpu_launches += r->gpu_launches;
	s->gpu_busy_ns += r->gpu_busy_ns;
	if (__builtin_add_overflow(s->cost, e->cost_nano_usd, &s->cost))
		s->cost = INT64_MAX; /* a counter stuck at its bound, not wrapped */
	pthread_mutex_unlock(&m->mu);
}

/* A copy of the first min(*n, m->cap) rows (*n set to that), for a
 * series replaced whole; 0, or -1 when out of memory (the last values
 * stay). */
static int
copy_rows(const struct metrics *m, const void *rows, size_t *n, size_t size,
    void **copy)
{
	*copy = NULL;
	if (*n > m->cap)
		*n = m->cap;
	if (*n == 0)
		return 0;
	if ((*copy = calloc(*n, size)) == NULL)
		return -1;
	memcpy(*copy, rows, *n * size);
	return 0;
}

void
metrics_set_idle(struct metrics *m, const struct metrics_idle_row *rows,
    size_t n, uint64_t idle_now, uint64_t terminations)
{
	void *copy;

	if (copy_rows(m, rows, &n, sizeof(*rows), &copy) == -1)
		return;
	pthread_mutex_lock(&m->mu);
	free(m->idle);
	m->idle = copy;
	m->nidle = n;
	m->idle_now = idle_now;
	m->idle_terminations = terminations;
	pthread_mutex_unlock(&m->mu);
}

void
metrics_set_unmetered(struct metrics *m,
    const struct metrics_unmetered_row *rows, size_t n)
{
	void *copy;

	if (copy_rows(m, rows, &n, sizeof(*rows), &copy) == -1)
		return;
	pthread_mutex_lock(&m->mu);
	free(m->unmetered);
	m->unmetered = copy;
	m->nunmetered = n;
	pthread_mutex_unlock(&m->mu);
}

/* A growing text buffer. */
struct buf {
	char *p;
	size_t len, cap;
	int oom;
};

static void
bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL,
		    b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0 || b->oom)
			return;
		if (b->p && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = (b->cap ? b->cap : 4096);
		while (cap <= b->len + (size_t)n)
			cap *= 2;
		char *np = realloc(b->p, cap);
		if (np == NULL) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
}

/* Label value escaping of the text format: \ " and newline. */
static void
bescape(struct buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			bprintf(b, "\\\\");
		else if (*s == '"')
			bprintf(b, "\\\"");
		else if (*s == '\n')
			bprintf(b, "\\n");
		else
			bprintf(b, "%c", *s);
	}
}

static void
blabels(struct buf *b, const struct metrics *m, const struct series *s,
    const char *type)
{
	bprintf(b, "{");
	for (size_t i = 0; i < m->nlabels; i++) {
		bprintf(b, "%s%s=\"", i ? "," : "", m->labels[i]);
		bescape(b, s->vals[i]);
		bprintf(b, "\"");
	}
	if (type)
		bprintf(b, "%stype=\"%s\"", m->nlabels ? "," : "", type);
	bprintf(b, "}");
}

static void
bhead(struct buf *b, const char *name, const char *type, const char *help)
{
	bprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

enum col { C_REQ, C_REFUSED, C_COST, C_BUSY, C_LAUNCH };

static void
bvalue(struct buf *b, const struct series *s, enum col c)
{
	char usd[48];

	switch (c) {
	case C_REQ: bprintf(b, " %llu\n", (unsigned long long)s->requests); break;
	case C_REFUSED: bprintf(b, " %llu\n", (unsigned long long)s->refused); break;
	case C_COST:
		tg_usd_format(usd, sizeof(usd), s->cost, 9);
		bprintf(b, " %s\n", usd);
		break;
	case C_BUSY:
		bprintf(b, " %llu.%09llu\n",
		    (unsigned long long)(s->gpu_busy_ns / 1000000000u),
		    (unsigned long long)(s->gpu_busy_ns % 1000000000u));
		break;
	case C_LAUNCH:
		bprintf(b, " %llu\n", (unsigned long long)s->gpu_launches);
		break;
	}
}

static void
bfamily(struct buf *b, const struct metrics *m, const char *name,
    const char *help, enum col c)
{
	bhead(b, name, "counter", help);
	for (const struct series *s = m->head; s; s = s->next) {
		bprintf(b, "%s", name);
		blabels(b, m, s, NULL);
		bvalue(b, s, c);
	}
}

static void
btokens(struct buf *b, const struct metrics *m)
{
	bhead(b, "tollgate_tokens_total", "counter",
	    "Tokens billed, by type (cached and cache_write are part of input, "
	    "reasoning part of output).");
	for (const struct series *s = m->head; s; s = s->next) {
		for (int t = 0; t < TK_N; t++) {
			bprintf(b, "tollgate_tokens_total");
			blabels(b, m, s, tk_names[t]);
			bprintf(b, " %llu\n", (unsigned long long)s->tokens[t]);
		}
	}
}

static void
bhealth(struct buf *b, const char *name, const char *type, const char *help,
    uint64_t v)
{
	bhead(b, name, type, help);
	bprintf(b, "%s %llu\n", name, (unsigned long long)v);
}

/* Called with mu held. */
static void
bidle(struct buf *b, const struct metrics *m)
{
	bhead(b, "tollgate_gpu_idle_seconds", "gauge", "Seconds since a GPU "
	    "holder's last kernel launch or GPU ioctl.");
	for (size_t i = 0; i < m->nidle; i++) {
		const struct metrics_idle_row *r = &m->idle[i];

		bprintf(b, "tollgate_gpu_idle_seconds{pid=\"%d\",exe=\"", r->pid);
		bescape(b, r->exe);
		bprintf(b, "\",tags=\"");
		bescape(b, r->tags);
		bprintf(b, "\"} %llu\n", (unsigned long long)r->idle_seconds);
	}
	bhealth(b, "tollgate_gpu_idle_processes", "gauge", "GPU holders idle "
	    "for the policy's idle after_seconds or longer.", m->idle_now);
	bhealth(b, "tollgate_gpu_idle_terminations_total", "counter", "Idle GPU "
	    "holders sent SIGTERM by the idle terminate action.",
	    m->idle_terminations);
}

/* Called with mu held; nothing before the first one (not in audit mode,
 * or nothing seen yet). */
static void
bunmetered(struct buf *b, const struct metrics *m)
{
	if (m->nunmetered == 0)
		return;
	bhead(b, "tollgate_unmetered_connections_total", "counter", "TLS "
	    "connections audit mode cannot decrypt (not OpenSSL), by server "
	    "name.");
	for (size_t i = 0; i < m->nunmetered; i++) {
		bprintf(b, "tollgate_unmetered_connections_total{server=\"");
		bescape(b, m->unmetered[i].server);
		bprintf(b, "\"} %llu\n",
		    (unsigned long long)m->unmetered[i].n);
	}
}

char *
metrics_render(struct metrics *m)
{
	struct buf b = { 0 };
	struct tgd_health *h = m->health;

	pthread_mutex_lock(&m->mu);
	bfamily(&b, m, "tollgate_requests_total",
	    "LLM requests metered (refused ones not included).", C_REQ);
	bfamily(&b, m, "tollgate_refused_requests_total",
	    "LLM requests refused before they were sent.", C_REFUSED);
	btokens(&b, m);
	bfamily(&b, m, "tollgate_cost_usd_total",
	    "Cost in USD, exact to the nano-dollar.", C_COST);
	bfamily(&b, m, "tollgate_gpu_busy_seconds_total",
	    "GPU busy time in seconds.", C_BUSY);
	bfamily(&b, m, "tollgate_gpu_launches_total", "GPU kernel launches.",
	    C_LAUNCH);
	bhealth(&b, "tollgate_metric_series_dropped_total", "counter",
	    "Records left out of the per-series metrics by the series cap.",
	    m->dropped);
	bidle(&b, m);
	bunmetered(&b, m);
	pthread_mutex_unlock(&m->mu);
	bhealth(&b, "tollgate_records_written_total", "counter",
	    "Records committed to the ledger.", tgd_read(h->records_written));
	bhealth(&b, "tollgate_spool_replays_total", "counter",
	    "Records received from a client's spool.", tgd_read(h->spool_replays));
	bhealth(&b, "tollgate_rejected_messages_total", "counter",
	    "Malformed or refused protocol messages.",
	    tgd_read(h->rejected_messages));
	bhealth(&b, "tollgate_unpriced_records_total", "counter",
	    "Records of a model with no price (cost recorded as unpriced).",
	    tgd_read(h->unpriced_records));
	bhealth(&b, "tollgate_ledger_errors_total", "counter",
	    "Ledger batches that failed to commit (per record).",
	    tgd_read(h->ledger_errors));
	bhealth(&b, "tollgate_registered_processes", "gauge",
	    "Processes registered now.", tgd_read(h->registered_processes));
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

static enum MHD_Result
metrics_http(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **ctx)
{
	static const char nf[] = "not found: try /metrics\n";
	struct metrics *m = cls;
	struct MHD_Response *resp;
	enum MHD_Result rc;
	unsigned status = MHD_HTTP_OK;
	char *text = NULL;

	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return MHD_NO;
	if (strcmp(url, "/metrics") == 0 && (text = metrics_render(m))) {
		resp = MHD_create_response_from_buffer(strlen(text), text,
		    MHD_RESPMEM_MUST_FREE);
		MHD_add_response_header(resp, "Content-Type",
		    "text/plain; version=0.0.4; charset=utf-8");
	} else {
		status = text == NULL && strcmp(url, "/metrics") == 0 ?
		    MHD_HTTP_INTERNAL_SERVER_ERROR : MHD_HTTP_NOT_FOUND;
		resp = MHD_create_response_from_buffer(sizeof(nf) - 1,
		    (void *)nf, MHD_RESPMEM_PERSISTENT);
	}
	if (resp == NULL)
		return MHD_NO;
	rc = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return rc;
}

/* "127.0.0.1:9464", "localhost:9464", "[::1]:9464" → sockaddr; loopback
 * only: the metrics carry team names and spend. */
static int
parse_addr(const char *s, struct sockaddr_storage *ss, char *err,
    size_t errlen)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	char *end;
	long port;

	if (colon == NULL || (size_t)(colon - s) >= sizeof(host)) {
		snprintf(err, errlen, "--http %s: expected ADDR:PORT or off", s);
		return -1;
	}
	memcpy(host, s, colon - s);
	host[colon - s] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end || port < 0 || port > 65535) {
		snprintf(err, errlen, "--http %s: bad port", s);
		return -1;
	}
	memset(ss, 0, sizeof(*ss));
	if (strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		host[strlen(host) - 1] = '\0';
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) == 1 &&
		    IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr))
			return 0;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &s4->sin_addr) == 1 &&
		    (ntohl(s4->sin_addr.s_addr) >> 24) == 127)
			return 0;
	}
	snprintf(err, errlen, "--http %s: only a loopback address (127.0.0.1, "
	    "[::1], localhost) may serve /metrics", s);
	return -1;
}

int
metrics_check_addr(const char *addrport, char *err, size_t errlen)
{
	struct sockaddr_storage ss;

	return parse_addr(addrport, &ss, err, errlen);
}

int
metrics_listen(struct metrics *m, const char *addrport, char *err,
    size_t errlen)
{
	struct sockaddr_storage ss;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD;
	const union MHD_DaemonInfo *info;
	char host[64];

	if (parse_addr(addrport, &ss, err, errlen) == -1)
		return -1;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	m->httpd = MHD_start_daemon(flags, 0, NULL, NULL, metrics_http, m,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_CONNECTION_LIMIT, 64U,
	    MHD_OPTION_CONNECTION_TIMEOUT, 10U, MHD_OPTION_END);
	if (m->httpd == NULL) {
		snprintf(err, errlen, "--http %s: cannot listen (port in use?)",
		    addrport);
		return -1;
	}
	info = MHD_get_daemon_info(m->httpd, MHD_DAEMON_INFO_BIND_PORT);
	tg_strlcpy(host, addrport, sizeof(host));
	*strrchr(host, ':') = '\0';
	snprintf(m->addr, sizeof(m->addr), "%s:%u", host,
	    info ? (unsigned)info->port : 0);
	return 0;
}

const char *
metrics_address(const struct metrics *m)
{
	return m ? m->addr : "";
}
