/*
 * audit.c — audit mode's TLS streams (see audit.h). A stream is one
 * (pid, SSL *): the bytes the client wrote and read, in call order (the
 * ring buffer keeps the order of the calls' returns; one connection's
 * calls do not overlap), fed to one llm_conn. A lost byte (a call cut at
 * TA_MAX_CHUNKS chunks, a chunk that could not be read, an event the ring
 * buffer dropped: TA_F_GAP or a hole in the offsets) is a gap: the
 * stream's pending exchanges end cut and estimated, and the stream
 * resumes with a fresh parser at the next request (a write at a call's
 * start that begins with an HTTP method): HTTP/1 keep-alive clients go on
 * being metered; an HTTP/2 connection, whose header compression cannot be
 * joined midway, is not parsed again. A stream ends at SSL_free
 * (TA_EV_FREE); those of processes that exited are swept once a second.
 *
 * Counted once: a shimmed process covers its libssl (TG_COVERS_LIBSSL),
 * never the OpenSSL inside node. audit_pid_changed() keeps the BPF map of
 * covered probe sets in step with the registrations, and a libssl chunk
 * of a covered pid that was in the ring buffer before is dropped here.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/types.h>

#include "daemon.h"
#include "ledger.h"
#include "llm.h"
#include "llm_record.h"
#include "log.h"
#include "probes.h"
#include "procinfo.h"
#include "proto.h"

#include "audit.h"
#include "tlsaudit.h"

#define AU_BUCKETS 1024
#define AU_MAX_STREAMS 65536
#define AU_SWEEP_NS 1000000000LL

struct au_stream {
	pid_t pid;
	uint64_t ssl;
	uint8_t set;            /* TA_SET_* of the probes that saw it */
	int skip;               /* covered by the shim, or no memory */
	int gap;                /* bytes were lost: pending ones estimated */
	int resync;             /* after a gap: waiting for a request start */
	uint32_t want_off[2];   /* next chunk offset of the call in flight */
	uint64_t first_ns;      /* ktime of the request's first bytes */
	uint64_t last_ns;       /* ktime of the chunk being parsed */
	struct llm_conn *conn;
	struct tgd *d;
	struct ledger_entry id; /* pid, uid, exe, cgroup, tags */
	struct au_stream *next;
};

static struct {
	struct au_stream *tab[AU_BUCKETS];
	uint64_t nstreams, records, gaps, freed;
	uint64_t last_sweep_ns;
	int full;               /* AU_MAX_STREAMS was hit (logged once) */
} au;

static unsigned
bucket(pid_t pid, uint64_t ssl)
{
	uint64_t h = (uint64_t)pid * 0x9E3779B97F4A7C15ULL ^ ssl;

	h ^= h >> 29;
	h *= 0xBF58476D1CE4E5B9ULL;
	return (unsigned)(h >> 40) % AU_BUCKETS;
}

/* One finished exchange: the record (llm_record.h, as the shim's). */
static void
on_done(void *arg, const struct llm_exchange *x)
{
	struct au_stream *s = arg;
	struct ledger_entry e = s->id;
	struct tg_record *r = &e.rec;

	if (s->skip)
		return; /* dropped: the shim covers it now */

	r->event_time_ns = tgd_now_ns();
	r->kind = TG_KIND_LLM;
	r->source = TG_SOURCE_EBPF;
	/* both ends are the probes' clock (CLOCK_MONOTONIC): how late the
	 * daemon reads the ring buffer does not count */
	if (s->first_ns && s->last_ns > s->first_ns)
		r->latency_ms = (uint32_t)((s->last_ns - s->first_ns) /
		    1000000);
	llm_record_usage(r, x);
	if (s->gap || x->cut)
		r->flags |= TG_REC_ESTIMATED;
	if (x->req.tags[0])
		tg_strlcpy(r->tags, x->req.tags, sizeof(r->tags));
	s->first_ns = 0;
	au.records++;
	record_audit(s->d, &e);
}

static void
stream_end(struct au_stream *s)
{
	if (s->conn)
		llm_conn_free(s->conn); /* a pending exchange ends as cut */
	s->conn = NULL;
}

/* Bytes were lost: what is in flight ends estimated (cut), and the
 * stream waits for the next request to start afresh. */
static void
stream_gap(struct au_stream *s)
{
	if (s->skip || s->resync)
		return;
	au.gaps++;
	log_debug("audit: pid %d ssl %#llx: bytes lost; resuming at the next "
	    "request", (int)s->pid, (unsigned long long)s->ssl);
	s->gap = 1;
	if (s->conn)
		llm_conn_close(s->conn);
	stream_end(s);
	s->gap = 0;
	s->resync = 1;
	s->want_off[0] = s->want_off[1] = 0;
	s->first_ns = 0;
}

/* An HTTP/1 request line starts here: a method ("POST", "GET", ...) and
 * a space. */
static int
request_start(const uint8_t *p, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n && i < 8 && p[i] >= 'A' && p[i] <= 'Z'; i++)
		;
	return i >= 3 && i < n && p[i] == ' ';
}

static void
sweep(void)
{
	for (unsigned i = 0; i < AU_BUCKETS; i++) {
		struct au_stream **pp = &au.tab[i], *s;

		while ((s = *pp) != NULL) {
			if (kill(s->pid, 0) == -1 && errno == ESRCH) {
				*pp = s->next;
				stream_end(s);
				free(s);
				au.nstreams--;
			} else {
				pp = &s->next;
			}
		}
	}
}

/* The daemon's own pid, asked once (glibc no longer caches getpid). */
static pid_t
own_pid(void)
{
	static pid_t pid;

	if (pid == 0)
		pid = getpid();
	return pid;
}

static struct au_stream *
stream_get(struct tgd *d, pid_t pid, uint64_t ssl, uint8_t set)
{
	unsigned b = bucket(pid, ssl);
	struct au_stream *s;

	for (s = au.tab[b]; s; s = s->next)
		if (s->pid == pid && s->ssl == ssl)
			return s;
	if (au.nstreams >= AU_MAX_STREAMS)
		sweep();
	if (au.nstreams >= AU_MAX_STREAMS) {
		/* a backstop: SSL_free and exits free streams */
		if (!au.full)
			log_warnx("audit: %d TLS streams alive: new connections "
			    "are not audited until some end", AU_MAX_STREAMS);
		au.full = 1;
		return NULL;
	}
	if (au.nstreams < AU_MAX_STREAMS / 2)
		au.full = 0;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->pid = pid;
	s->ssl = ssl;
	s->set = set;
	s->d = d;
	/* captured before the BPF map knew (the ring buffer lags) */
	if (set == TA_SET_LIBSSL &&
	    probes_pid_covered(d, pid, TG_COVERS_LIBSSL)) {
		s->skip = 1;
	} else {
		procinfo_identity(&s->id, pid);
		if ((s->conn = llm_conn_new(on_done, s)) == NULL)
			s->skip = 1;
	}
	s->next = au.tab[b];
	au.tab[b] = s;
	au.nstreams++;
	return s;
}

/* SSL_free: the stream ends now (its SSL * will be reused). */
static void
stream_free(pid_t pid, uint64_t ssl)
{
	struct au_stream **pp = &au.tab[bucket(pid, ssl)], *s;

	for (; (s = *pp) != NULL; pp = &s->next) {
		if (s->pid != pid || s->ssl != ssl)
			continue;
		*pp = s->next;
		if (s->conn)
			llm_conn_close(s->conn);
		stream_end(s);
		free(s);
		au.nstreams--;
		au.freed++;
		log_debug("audit: pid %d ssl %#llx: stream freed (SSL_free)",
		    (int)pid, (unsigned long long)ssl);
		return;
	}
}

void
audit_tls_event(struct tgd *d, const struct ta_event *e)
{
	struct au_stream *s;
	int dir = e->dir == TA_DIR_READ;

	if (e->ts_ns - au.last_sweep_ns > AU_SWEEP_NS) {
		au.last_sweep_ns = e->ts_ns;
		sweep();
	}
	if (e->dir == TA_EV_FREE) {
		stream_free((pid_t)e->pid, e->ssl);
		return;
	}
	if (e->dir > TA_DIR_READ || (pid_t)e->pid == own_pid() ||
	    (s = stream_get(d, (pid_t)e->pid, e->ssl, e->set)) == NULL || s->skip)
		return;
	if (e->flags & TA_F_GAP)
		stream_gap(s); /* earlier events of it were dropped */
	else if (e->off != s->want_off[dir] && e->off != 0)
		stream_gap(s);
	else if (e->off == 0 && s->want_off[dir] != 0)
		stream_gap(s); /* the previous call's tail was lost */
	if (s->resync) {
		if (dir != 0 || e->off != 0 || !request_start(e->data, e->len))
			return;
		if ((s->conn = llm_conn_new(on_done, s)) == NULL) {
			s->skip = 1;
			return;
		}
		s->resync = 0;
	}
	if (dir == 0 && s->first_ns == 0 && e->off == 0)
		s->first_ns = e->ts_ns;
	s->last_ns = e->ts_ns;
	if (e->len)
		(dir ? llm_conn_in : llm_conn_out)(s->conn, e->data, e->len);
	s->want_off[dir] = e->off + e->len;
	if (s->want_off[dir] >= e->call_len)
		s->want_off[dir] = 0;
	if ((e->flags & TA_F_TRUNC) || e->len == 0)
		stream_gap(s);
}

void
audit_pid_changed(struct tgd *d, pid_t pid)
{
	uint32_t covers = probes_pid_covered(d, pid, TG_COVERS_LIBSSL) ?
	    TG_COVERS_LIBSSL : 0;

	tlsaudit_cover(pid, covers);
	if (!(covers & TG_COVERS_LIBSSL) || au.nstreams == 0)
		return;
	/* Its libssl streams so far: registration precedes the shim's first
	 * request, so what is pending there is not an LLM exchange. */
	for (unsigned i = 0; i < AU_BUCKETS; i++) {
		struct au_stream **pp = &au.tab[i], *s;

		while ((s = *pp) != NULL) {
			if (s->pid != pid || s->set != TA_SET_LIBSSL) {
				pp = &s->next;
				continue;
			}
			*pp = s->next;
			s->skip = 1;
			stream_end(s);
			free(s);
			au.nstreams--;
		}
	}
}

void
audit_tls_stop(struct tgd *d)
{
	(void)d;
	for (unsigned i = 0; i < AU_BUCKETS; i++) {
		struct au_stream *s;

		while ((s = au.tab[i]) != NULL) {
			au.tab[i] = s->next;
			stream_end(s);
			free(s);
		}
	}
	au.nstreams = 0;
}

void
audit_tls_counts(uint64_t *streams, uint64_t *records, uint64_t *gaps,
    uint64_t *freed)
{
	*streams = au.nstreams;
	*records = au.records;
	*gaps = au.gaps;
	*freed = au.freed;
}
