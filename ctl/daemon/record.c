/*
 * record.c — settlement: a RECORD (or a record the daemon makes itself:
 * refused admissions, expired reservations) is resolved, priced, moved
 * into its run's pending money and handed to the ledger writer thread.
 * When the writer reports the batch committed, pending becomes spent (for a
 * new id; a repeated id spends nothing), the counters and /metrics move,
 * and the client gets TG_MSG_ACK — never before COMMIT. A connection that
 * went away meanwhile is recognised by its generation number, so a reused
 * fd never receives another client's ACK.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "daemon.h"
#include "log.h"
#include "metrics.h"

#define TAKE_MAX 512
#define RECORD_OWN_INFLIGHT 256

struct pending {
	struct hnode hn;
	struct pending *bl_next;
	uint64_t cookie;
	int fd;                 /* -1: nobody to acknowledge */
	uint32_t gen;
	uint32_t seq;
	uint16_t version;
	uint64_t proc_id;
	struct run *run;        /* reference */
	struct ledger_entry e;
};

/* --fake-clock (tests): set on the main thread, read anywhere. */
static int64_t fake_base_ns, fake_mono_ns;
static int fake_on;

void
tgd_fake_clock(int64_t base_ns)
{
	__atomic_store_n(&fake_base_ns, base_ns, __ATOMIC_RELAXED);
	__atomic_store_n(&fake_mono_ns, tgd_mono_ns(), __ATOMIC_RELAXED);
	__atomic_store_n(&fake_on, 1, __ATOMIC_RELEASE);
}

int64_t
tgd_real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t
tgd_now_ns(void)
{
	if (!__atomic_load_n(&fake_on, __ATOMIC_ACQUIRE))
		return tgd_real_ns();
	return __atomic_load_n(&fake_base_ns, __ATOMIC_RELAXED) +
	    (tgd_mono_ns() - __atomic_load_n(&fake_mono_ns, __ATOMIC_RELAXED));
}

int64_t
tgd_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

const struct tg_price *
tgd_price(struct tgd *d, const char *provider, const char *model)
{
	return d->prices ? tg_prices_find(d->prices, provider, model) : NULL;
}

int
record_init(struct tgd *d)
{
	struct records *rs = &d->recs;

	memset(rs, 0, sizeof(*rs));
	if (getrandom(&rs->id_hi, sizeof(rs->id_hi), 0) != sizeof(rs->id_hi))
		rs->id_hi = (uint64_t)tgd_now_ns() ^ (uint64_t)getpid() << 32;
	return htab_init(&rs->tab, 1024);
}

/* Ids of records the daemon makes: a random half per daemon start, then a
 * counter; they never collide with each other, and a client's random ids
 * collide with them as likely as with each other's. */
static void
record_make_id(struct tgd *d, uint8_t id[16])
{
	uint64_t lo = ++d->recs.id_lo;

	memcpy(id, &d->recs.id_hi, 8);
	memcpy(id + 8, &lo, 8);
}

/* GPU records: model names the GPU ("H100"); priced by held time:
 * held seconds × the hourly price, rounded once, half up. */
static int
gpu_cost(struct tgd *d, struct ledger_entry *e)
{
	const tg_pico_usd *pph = d->prices ?
	    tg_prices_gpu_hourly(d->prices, e->rec.model) : NULL;
	/* pico-USD/h × ns = 1e-12 USD × 1e-9 s / 3600 s: nano-USD is
	 * 1e-9 USD, so divide by 3600 × 1e12 */
	const __int128 div = (__int128)3600 * 1000000000000LL;
	__int128 v;

	if (pph == NULL)
		return 1;
	/* ≤ 1e18 (USD_PER_HOUR_MAX) × < 2^64: inside 127 bits. */
	v = (__int128)*pph * (__int128)e->rec.gpu_held_ns;
	v = (v + div / 2) / div;
	if (v > TGD_COST_MAX || v < 0)
		return -1;
	e->cost_nano_usd = (tg_nano_usd)v;
	return 0;
}

/* Prices e in place: 0, or -1 when the token counts do not add up or the
 * cost passes TGD_COST_MAX. */
static int
record_price(struct tgd *d, struct ledger_entry *e)
{
	const struct tg_price *p;
	int rc;

	e->cost_nano_usd = 0;
	e->unpriced = 0;
	if (e->rec.kind == TG_KIND_GPU) {
		if ((rc = gpu_cost(d, e)) == -1)
			return -1;
		e->unpriced = rc;
		return 0;
	}
	if ((p = tgd_price(d, e->rec.provider, e->rec.model)) == NULL) {
		/* A refusal cost nothing whatever the price: not unpriced. */
		e->unpriced = !(e->rec.flags & TG_REC_REFUSED);
		return 0;
	}
	if (tg_record_cost(p, &e->rec, &e->cost_nano_usd) == -1)
		return -1;
	return e->cost_nano_usd < 0 || e->cost_nano_usd > TGD_COST_MAX ? -1 : 0;
}

/* The numbers a client reports, bounded (daemon.h): NULL or why not. */
static const char *
record_range(const struct tg_record *r)
{
	if (r->input_tokens > TGD_TOKENS_MAX ||
	    r->output_tokens > TGD_TOKENS_MAX ||
	    r->cached_tokens > TGD_TOKENS_MAX ||
	    r->cache_write_tokens > TGD_TOKENS_MAX ||
	    r->reasoning_tokens > TGD_TOKENS_MAX ||
	    r->gpu_launches > TGD_TOKENS_MAX)
		return "token count out of range";
	if (r->gpu_busy_ns > TGD_GPU_NS_MAX || r->gpu_held_ns > TGD_GPU_NS_MAX ||
	    r->gpu_mem_peak_bytes > TGD_GPU_BYTES_MAX)
		return "GPU time or memory out of range";
	return NULL;
}

static void
set_identity(struct ledger_entry *e, const struct peer *pe)
{
	e->pid = pe->pid;
	e->uid = pe->uid;
	e->rec.pid = pe->pid;
	tg_strlcpy(e->rec.exe, pe->exe, sizeof(e->rec.exe));
	tg_strlcpy(e->cgroup, pe->cgroup, sizeof(e->cgroup));
}

static void
set_tags(struct ledger_entry *e, const struct proc *p, const struct run *r)
{
	if (e->rec.tags[0])
		return;
	if (p && p->tags[0])
		tg_strlcpy(e->rec.tags, p->tags, sizeof(e->rec.tags));
	else if (r)
		tg_strlcpy(e->rec.tags, r->tags, sizeof(e->rec.tags));
}

static void
q_push(struct pending_q *q, struct pending *pd)
{
	pd->bl_next = NULL;
	if (q->tail)
		q->tail->bl_next = pd;
	else
		q->head = pd;
	q->tail = pd;
}

static struct pending *
q_pop(struct pending_q *q)
{
	struct pending *pd = q->head;

	if (pd && (q->head = pd->bl_next) == NULL)
		q->tail = NULL;
	return pd;
}

static int
is_own(const struct pending *pd)
{
	return pd->fd < 0;
}

static int
writer_put(struct tgd *d, struct pending *pd)
{
	if (ledger_writer_submit(d->writer, &pd->e, pd->cookie) == -1)
		return -1;
	if (is_own(pd))
		d->recs.own_inflight++;
	return 0;
}

/* Hand what waits to the writer, in order, clients' records first. */
static void
backlog_flush(struct tgd *d)
{
	struct records *rs = &d->recs;
	struct pending *pd;

	while ((pd = rs->bl.head)) {
		if (writer_put(d, pd) == -1)
			return;
		q_pop(&rs->bl);
	}
	while ((pd = rs->bl_own.head) && rs->own_inflight < RECORD_OWN_INFLIGHT) {
		if (writer_put(d, pd) == -1)
			return;
		q_pop(&rs->bl_own);
	}
}

/* Takes ownership of pd. */
static void
record_submit(struct tgd *d, struct pending *pd, struct run *run)
{
	struct records *rs = &d->recs;
	struct pending_q *q = is_own(pd) ? &rs->bl_own : &rs->bl;

	pd->cookie = ++rs->next_cookie;
	pd->run = run_ref(run);
	if (run) {
		run->pending += pd->e.cost_nano_usd;
		run->inflight++;
	}
	htab_insert(&rs->tab, &pd->hn, htab_hash64(pd->cookie, 0));
	enforce_settled(d, &pd->e, pd->run, 1);
	if (q->head || (is_own(pd) && rs->own_inflight >= RECORD_OWN_INFLIGHT) ||
	    writer_put(d, pd) == -1)
		q_push(q, pd);
}

static struct pending *
pending_new(void)
{
	struct pending *pd = calloc(1, sizeof(*pd));

	if (pd)
		pd->fd = -1;
	else
		log_warnx("%s: out of memory: a record is lost", __func__);
	return pd;
}

/* A replayed record names its run itself; another user's run (root may
 * name any) is not charged. */
static struct run *
client_run(struct tgd *d, struct conn *c, const struct tg_record *r)
{
	struct run *run;

	if (!(r->flags & TG_REC_REPLAYED))
		return c->proc ? c->proc->run : NULL;
	if (r->run[0] == '\0' || (run = runs_find(&d->runs, r->run)) == NULL)
		return NULL;
	return c->peer.uid == 0 || c->peer.uid == run->owner ? run : NULL;
}

/*
 * A replayed record was spooled by a process that could not reach us; the
 * uid is always the sender's. Root's shim (or tollctl) keeps the spooled
 * pid and exe. A non-root sender could name any pid and executable, so
 * its replays carry its own pid and exe instead: a report never shows an
 * exe that user did not run. A run of another user is not kept (client_run
 * does not charge it).
 */
static void
replay_identity(struct tgd *d, struct pending *pd, struct conn *c)
{
	struct run *named = pd->e.rec.run[0] ?
	    runs_find(&d->runs, pd->e.rec.run) : NULL;

	pd->e.uid = c->peer.uid;
	if (named && c->peer.uid != 0 && c->peer.uid != named->owner)
		pd->e.rec.run[0] = '\0';
	if (c->peer.uid == 0) {
		pd->e.pid = pd->e.rec.pid;
		return;
	}
	peer_identify(&c->peer);
	pd->e.pid = c->peer.pid;
	pd->e.rec.pid = c->peer.pid;
	tg_strlcpy(pd->e.rec.exe, c->peer.exe, sizeof(pd->e.rec.exe));
}

void
record_client(struct tgd *d, struct conn *c, uint16_t version, uint32_t seq,
    const struct tg_record *r)
{
	struct proc *p = c->proc;
	struct pending *pd;
	struct run *run = client_run(d, c, r);
	const char *why;

	if ((why = record_range(r)) != NULL) {
		tgd_count(d->health.rejected_messages, 1);
		control_fail(d, c, version, seq, TG_ERR_BAD_FIELD, "%s", why);
		return;
	}
	if ((pd = pending_new()) == NULL) {
		control_fail(d, c, version, seq, TG_ERR_INTERNAL, "out of memory");
		return;
	}
	pd->e.rec = *r;
	if (r->flags & TG_REC_REPLAYED) {
		replay_identity(d, pd, c);
	} else {
		peer_identify(&c->peer);
		set_identity(&pd->e, &c->peer);
		tg_strlcpy(pd->e.rec.run, p ? p->run_token : "",
		    sizeof(pd->e.rec.run));
	}
	set_tags(&pd->e, p, run);
	if (record_price(d, &pd->e) == -1) {
		free(pd);
		tgd_count(d->health.rejected_messages, 1);
		control_fail(d, c, version, seq, TG_ERR_BAD_FIELD, "cached + "
		    "cache_write tokens exceed input tokens, or cost out of "
		    "range");
		return;
	}
	/* A replayed record settles an earlier request of the process that
	 * spooled it: this one's own (it reconnected; its registration adopted
	 * the reservation) only when it names this pid, else never this
	 * registration's admit_id. If the origin's connection closed with the
	 * reservation held (an orphan), it is released there; one already
	 * expired stays estimated. */
	if (r->flags & TG_REC_REPLAYED) {
		tgd_count(d->health.spool_replays, 1);
		if (r->admit_id && !(p && r->pid == c->peer.pid &&
		    admit_release(&d->admit, &p->owner, r->admit_id)))
			orphan_settle(d, &c->peer, r->pid, r->admit_id, 1);
	} else if (p && r->admit_id &&
	    admit_release(&d->admit, &p->owner, r->admit_id) == 0)
		orphan_settle(d, &c->peer, c->peer.pid, r->admit_id, 0);
	pd->fd = c->fd;
	pd->gen = c->gen;
	pd->seq = seq;
	pd->version = version;
	pd->proc_id = p ? p->owner.id : 0;
	record_submit(d, pd, run);
}

/* A record the daemon writes on a process's behalf. */
static struct pending *
record_own(struct proc *p, uint64_t admit_id, const char *provider,
    const char *model, const char *endpoint)
{
	struct pending *pd = pending_new();
	struct tg_record *rec;

	if (pd == NULL)
		return NULL;
	rec = &pd->e.rec;
	rec->admit_id = admit_id;
	rec->event_time_ns = tgd_now_ns();
	rec->kind = TG_KIND_LLM;
	rec->source = TG_SOURCE_SHIM;
	tg_strlcpy(rec->provider, provider, sizeof(rec->provider));
	tg_strlcpy(rec->model, model, sizeof(rec->model));
	tg_strlcpy(rec->endpoint, endpoint, sizeof(rec->endpoint));
	tg_strlcpy(rec->run, p->run_token, sizeof(rec->run));
	set_identity(&pd->e, p->peer);
	set_tags(&pd->e, p, p->run);
	pd->proc_id = p->owner.id;
	return pd;
}

void
record_refused(struct tgd *d, struct proc *p, const struct tg_admit *a,
    const char *tags, const struct tg_verdict *v)
{
	struct pending *pd = record_own(p, a->admit_id, a->provider, a->model,
	    a->endpoint);

	if (pd == NULL)
		return;
	if (tags != NULL)
		tg_strlcpy(pd->e.rec.tags, tags, sizeof(pd->e.rec.tags));
	record_make_id(d, pd->e.rec.id);
	pd->e.rec.flags = TG_REC_REFUSED;
	tg_strlcpy(pd->e.rec.decision, "deny", sizeof(pd->e.rec.decision));
	tg_strlcpy(pd->e.rec.rule, v->rule, sizeof(pd->e.rec.rule));
	record_submit(d, pd, p->run);
}

/* The reserved estimates become the record: tokens = est input and the
 * max output the reservation was computed from, flagged estimated. */
void
record_expired(struct tgd *d, struct proc *p, const struct resv *r)
{
	struct pending *pd = record_own(p, r->admit_id, r->provider, r->model,
	    r->endpoint);

	if (pd == NULL)
		return;
	record_make_id(d, pd->e.rec.id);
	pd->e.rec.flags = TG_REC_ESTIMATED;
	pd->e.rec.input_tokens = r->est_input;
	pd->e.rec.output_tokens = r->max_output;
	tg_strlcpy(pd->e.rec.decision, "allow", sizeof(pd->e.rec.decision));
	tg_strlcpy(pd->e.rec.rule, ADMIT_RULE_EXPIRED,
	    sizeof(pd->e.rec.rule));
	/* Estimates are bounded by the admission's (TGD_TOKENS_MAX); a cost
	 * past TGD_COST_MAX is recorded at the bound, flagged unpriced. */
	if (record_price(d, &pd->e) == -1) {
		pd->e.cost_nano_usd = 0;
		if (tgd_price(d, r->provider, r->model))
			pd->e.cost_nano_usd = TGD_COST_MAX;
		pd->e.unpriced = 1;
	}
	record_submit(d, pd, r->run);
}

void
record_gpu(struct tgd *d, struct proc *p, struct tg_record *r)
{
	struct pending *pd = record_own(p, 0, "nvidia", r->model, r->endpoint);
	struct tg_record *rec;

	if (pd == NULL)
		return;
	rec = &pd->e.rec;
	record_make_id(d, rec->id);
	rec->kind = TG_KIND_GPU;
	rec->gpu_launches = r->gpu_launches;
	rec->gpu_busy_ns = r->gpu_busy_ns;
	rec->gpu_held_ns = r->gpu_held_ns;
	rec->gpu_mem_peak_bytes = r->gpu_mem_peak_bytes;
	tg_strlcpy(rec->decision, "allow", sizeof(rec->decision));
	/* gpu_settle.c bounds held time to TGD_GPU_NS_MAX; a price that
	 * still takes it past TGD_COST_MAX is recorded at the bound,
	 * flagged unpriced (as an expired reservation is) */
	if (record_price(d, &pd->e) == -1) {
		log_warnx("%s: pid %d: GPU cost of %llu ns on %s out of range; "
		    "recorded at the bound, unpriced", __func__,
		    (int)p->peer->pid, (unsigned long long)rec->gpu_held_ns,
		    rec->model);
		pd->e.cost_nano_usd = TGD_COST_MAX;
		pd->e.unpriced = 1;
	}
	record_submit(d, pd, p->run);
}

/* A bound kept, flagged estimated (audit estimates from long responses). */
static void
clamp_tokens(struct tg_record *r, uint64_t *v)
{
	if (*v > TGD_TOKENS_MAX) {
		*v = TGD_TOKENS_MAX;
		r->flags |= TG_REC_ESTIMATED;
	}
}

/* Audit mode (audit.c): a record of a process the shim does not cover,
 * with no registration, reservation or run behind it; priced as the
 * shim's are, and counted in the policy's spend (it is money spent) but
 * never refused. */
void
record_audit(struct tgd *d, const struct ledger_entry *e)
{
	struct pending *pd = pending_new();
	struct tg_record *rec;

	if (pd == NULL)
		return;
	pd->e = *e;
	rec = &pd->e.rec;
	clamp_tokens(rec, &rec->input_tokens);
	clamp_tokens(rec, &rec->output_tokens);
	clamp_tokens(rec, &rec->cached_tokens);
	clamp_tokens(rec, &rec->cache_write_tokens);
	clamp_tokens(rec, &rec->reasoning_tokens);
	record_make_id(d, rec->id);
	rec->source = TG_SOURCE_EBPF;
	rec->admit_id = 0;
	rec->run[0] = '\0';
	rec->flags &= ~(uint32_t)(TG_REC_REFUSED | TG_REC_REPLAYED);
	tg_strlcpy(rec->decision, "allow", sizeof(rec->decision));
	if (record_price(d, &pd->e) == -1) {
		pd->e.cost_nano_usd = 0;
		if (tgd_price(d, rec->provider, rec->model))
			pd->e.cost_nano_usd = TGD_COST_MAX;
		pd->e.unpriced = 1;
	}
	record_submit(d, pd, NULL);
}

static void
sat_addu(uint64_t *a, uint64_t b)
{
	if (__builtin_add_overflow(*a, b, a))
		*a = UINT64_MAX;
}

static void
proc_sums(struct tgd *d, const struct pending *pd)
{
	uint64_t h = htab_hash64(pd->proc_id, 0);
	const struct tg_record *r = &pd->e.rec;

	for (struct hnode *n = htab_chain(&d->procs, h); n; n = n->next) {
		struct proc *p = HTAB_ENTRY(n, struct proc, hn);

		if (n->hash != h || p->owner.id != pd->proc_id)
			continue;
		if (r->kind == TG_KIND_LLM && !(r->flags & TG_REC_REFUSED))
			p->requests++;
		sat_addu(&p->input_tokens, r->input_tokens);
		sat_addu(&p->output_tokens, r->output_tokens);
		sat_addu(&p->gpu_launches, r->gpu_launches);
		if (__builtin_add_overflow(p->cost, pd->e.cost_nano_usd, &p->cost))
			p->cost = INT64_MAX;
		return;
	}
}

static void
record_done(struct tgd *d, struct pending *pd, const struct ledger_done *dn)
{
	struct conn *c = pd->fd >= 0 ? control_conn(d, pd->fd, pd->gen) : NULL;
	struct run *run = pd->run;
	int fresh = dn->ok && dn->inserted;

	if (is_own(pd))
		d->recs.own_inflight--;

	if (run) {
		run->pending -= pd->e.cost_nano_usd;
		run->inflight--;
		if (fresh)
			run->spent += pd->e.cost_nano_usd;
	}
	if (!fresh)
		enforce_settled(d, &pd->e, pd->run, -1);
	if (fresh) {
		tgd_count(d->health.records_written, 1);
		if (pd->e.unpriced)
			tgd_count(d->health.unpriced_records, 1);
		if (d->metrics)
			metrics_add(d->metrics, &pd->e);
		if (pd->proc_id)
			proc_sums(d, pd);
	}
	if (!dn->ok)
		tgd_count(d->health.ledger_errors, 1);
	if (c && dn->ok) {
		struct tg_ack ack = { .inserted = (uint32_t)dn->inserted };

		memcpy(ack.id, pd->e.rec.id, sizeof(ack.id));
		control_send(d, c, TG_MSG_ACK, pd->version, pd->seq, &ack,
		    sizeof(ack));
	} else if (c) {
		control_fail(d, c, pd->version, pd->seq, TG_ERR_INTERNAL,
		    "ledger write failed; keep the record and send it again");
	}
	if (run && run->end_waiting && run->inflight == 0)
		dispatch_run_finish(d, run);
	run_unref(run);
	free(pd);
}

static struct pending *
pending_take(struct records *rs, uint64_t cookie)
{
	uint64_t h = htab_hash64(cookie, 0);

	for (struct hnode *n = htab_chain(&rs->tab, h); n; n = n->next) {
		struct pending *pd = HTAB_ENTRY(n, struct pending, hn);

		if (n->hash == h && pd->cookie == cookie) {
			htab_remove(&rs->tab, n);
			return pd;
		}
	}
	return NULL;
}

void
record_collect(struct tgd *d)
{
	struct ledger_done dn[TAKE_MAX];
	size_t n;

	while ((n = ledger_writer_take(d->writer, dn, TAKE_MAX)) > 0) {
		for (size_t i = 0; i < n; i++) {
			struct pending *pd = pending_take(&d->recs, dn[i].cookie);

			if (pd)
				record_done(d, pd, &dn[i]);
		}
		backlog_flush(d);
	}
	backlog_flush(d);
}

size_t
record_wait_committed(struct tgd *d, int64_t timeout_ns)
{
	int64_t deadline = tgd_mono_ns() + timeout_ns;
	struct pollfd pf = { .fd = ledger_writer_fd(d->writer), .events = POLLIN };

	while (d->recs.tab.n > 0 && tgd_mono_ns() < deadline) {
		backlog_flush(d);
		poll(&pf, 1, 100);
		record_collect(d);
	}
	return d->recs.tab.n;
}

/* At exit: everything handed over is committed and acknowledged before the
 * writer stops. Bounded: a writer that cannot commit (disk gone) leaves
 * the clients' spools to replay. */
void
record_drain(struct tgd *d)
{
	if (record_wait_committed(d, 30LL * 1000000000LL) > 0)
		log_warnx("%s: %zu records not committed at exit", __func__,
		    d->recs.tab.n);
}
