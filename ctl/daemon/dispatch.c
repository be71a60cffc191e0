/*
 * dispatch.c — one handler per request type, and what happens when a
 * registered process dies or its connection goes.
 *
 * Runs on the main thread only. Payloads were validated by tg_msg_check
 * (sizes, string termination, enum ranges); handlers check meaning.
 * Identity is the connection's (kernel) peer, never a message field.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "audit.h"
#include "daemon.h"
#include "idle.h"
#include "log.h"

#define RUN_END_DRAIN_ROUNDS 64

static void
reject(struct tgd *d, struct conn *c, const struct tg_hdr *h, int code,
    const char *text)
{
	tgd_count(d->health.rejected_messages, 1);
	control_fail(d, c, h->version, h->seq, code, "%s", text);
}

static void
watch_pid(struct tgd *d, struct conn *c)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &c->ev_pid };

	if (c->pid_watched || c->peer.pidfd < 0)
		return;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, c->peer.pidfd, &ev) == 0)
		c->pid_watched = 1;
	else
		log_warn("%s: pidfd of %d", __func__, (int)c->peer.pid);
}

static struct proc *
proc_new(struct tgd *d, struct conn *c, uint16_t version,
    const struct tg_register *r)
{
	struct proc *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->owner.id = ++d->next_proc_id;
	p->conn = c;
	p->peer = &c->peer;
	tg_strlcpy(p->tags, r->tags, sizeof(p->tags));
	tg_strlcpy(p->run_token, r->run, sizeof(p->run_token));
	if (p->run_token[0] && (p->run = runs_find(&d->runs, p->run_token)) &&
	    c->peer.uid != 0 && c->peer.uid != p->run->owner) {
		/* Another user's run: its budget and reports are not this
		 * process's to spend or fill. Registered, not attached. */
		log_debug("%s: pid %d uid %u named run of uid %u; not attached",
		    __func__, (int)c->peer.pid, (unsigned)c->peer.uid,
		    (unsigned)p->run->owner);
		tgd_count(d->health.rejected_messages, 1);
		p->run = NULL;
		p->run_token[0] = '\0';
	}
	if (p->run)
		p->run->processes++;
	run_ref(p->run);
	p->mode = r->mode;
	p->covers = r->covers;
	p->proto_version = version;
	return p;
}

static void
proc_link(struct tgd *d, struct proc *p)
{
	htab_insert(&d->procs, &p->hn, htab_hash64(p->owner.id, 0));
	p->all_next = d->procs_all;
	if (d->procs_all)
		d->procs_all->all_prev = &p->all_next;
	p->all_prev = &d->procs_all;
	d->procs_all = p;
	tgd_count(d->health.registered_processes, 1);
}

void
dispatch_proc_unlink(struct tgd *d, struct proc *p)
{
	htab_remove(&d->procs, &p->hn);
	*p->all_prev = p->all_next;
	if (p->all_next)
		p->all_next->all_prev = p->all_prev;
	p->all_prev = NULL;
	__atomic_sub_fetch(&d->health.registered_processes, 1,
	    __ATOMIC_RELAXED);
	/* audit mode: what it covered is the probes' again */
	if (p->peer)
		audit_pid_changed(d, p->peer->pid);
}

/* Reservations still held are dropped, not expired: callers expire first
 * when the money must be recorded. */
void
dispatch_proc_free(struct tgd *d, struct proc *p)
{
	enforce_proc_gone(d, p);
	admit_expire(&d->admit, &p->owner, NULL, NULL);
	if (p->run)
		p->run->processes--;
	run_unref(p->run);
	proc_pages_free(p);
	free(p);
}

static void
proc_destroy(struct tgd *d, struct proc *p, int linked)
{
	if (linked)
		dispatch_proc_unlink(d, p);
	dispatch_proc_free(d, p);
}

static void
on_register(struct tgd *d, struct conn *c, const struct tg_hdr *h,
    const struct tg_register *r)
{
	struct tg_registered reg;
	struct proc *p;
	int fds[2];

	if (c->proc) {
		reject(d, c, h, TG_ERR_BAD_FIELD, "this connection is already "
		    "registered; a new process must connect anew");
		return;
	}
	peer_identify(&c->peer);
	if ((p = proc_new(d, c, h->version, r)) == NULL ||
	    proc_pages_create(p, fds) == -1) {
		if (p)
			proc_destroy(d, p, 0);
		control_fail(d, c, h->version, h->seq, TG_ERR_INTERNAL,
		    "cannot create the process pages");
		return;
	}
	memset(&reg, 0, sizeof(reg));
	reg.daemon_version = TG_PROTO_VERSION;
	reg.page_version = TG_PAGE_VERSION;
	reg.process_id = p->owner.id;
	reg.flags = enforce_register(d, p, h->version);
	if (control_send_fds(d, c, TG_MSG_REGISTERED, h->version, h->seq,
	    &reg, sizeof(reg), fds, 2) == -1) {
		close(fds[0]);
		close(fds[1]);
		proc_destroy(d, p, 0);
		control_fail(d, c, h->version, h->seq, TG_ERR_INTERNAL,
		    "cannot pass the process pages");
		return;
	}
	/* Ours stay mapped; the shim has its own fds now. */
	close(fds[0]);
	close(fds[1]);
	proc_link(d, p);
	c->proc = p;
	watch_pid(d, c);
	/* audit mode: the probes skip what it meters itself, before its
	 * first request (the shim waits for REGISTERED) */
	audit_pid_changed(d, c->peer.pid);
	/* The same process again, after its connection closed: its requests
	 * in flight are settled through this registration. */
	orphan_adopt(d, p);
	log_debug("%s: pid %d id %llu tags \"%s\" run \"%s\"", __func__,
	    (int)c->peer.pid, (unsigned long long)p->owner.id, p->tags,
	    p->run_token);
}

/* The admission path: no allocation but the reservation, no log, no
 * SQLite. */
static void
on_admit(struct tgd *d, struct conn *c, const struct tg_hdr *h,
    const struct tg_admit *a, const char *tags)
{
	struct proc *p = c->proc;
	struct tg_verdict v;

	if (p == NULL) {
		reject(d, c, h, TG_ERR_NOT_REGISTERED, "register first");
		return;
	}
	if (a->est_input_tokens > TGD_TOKENS_MAX ||
	    a->max_output_tokens > TGD_TOKENS_MAX) {
		reject(d, c, h, TG_ERR_BAD_FIELD, "token count out of range");
		return;
	}
	if (enforce_admit(d, p, a, tags, &v) == -1) {
		if (errno == EEXIST)
			reject(d, c, h, TG_ERR_BAD_FIELD,
			    "admit_id already has a reservation");
		else
			control_fail(d, c, h->version, h->seq, TG_ERR_INTERNAL,
			    "out of memory");
		return;
	}
	/* In observe mode the shim sends the request anyway and reports it:
	 * only an enforced refusal is a refused record. */
	if (v.decision == TG_DENY && enforce_enforced(d, p))
		record_refused(d, p, a, tags, &v);
	control_send(d, c, TG_MSG_VERDICT, h->version, h->seq, &v, sizeof(v));
}

static void
on_release(struct tgd *d, struct conn *c, const struct tg_hdr *h,
    const struct tg_release *r)
{
	if (c->proc == NULL) {
		reject(d, c, h, TG_ERR_NOT_REGISTERED, "register first");
		return;
	}
	admit_release(&d->admit, &c->proc->owner, r->admit_id);
	control_send(d, c, TG_MSG_OK, h->version, h->seq, NULL, 0);
}

static void
send_doc(struct tgd *d, struct conn *c, const struct tg_hdr *h, json_t *doc)
{
	if (doc == NULL) {
		control_fail(d, c, h->version, h->seq, TG_ERR_INTERNAL,
		    "cannot build the document");
		return;
	}
	control_send_json(d, c, h->version, h->seq, doc);
	json_decref(doc);
}

static void
on_report(struct tgd *d, struct conn *c, const struct tg_hdr *h,
    const struct tg_report_req *r)
{
	struct ledger_query q = { 0 };
	char err[200] = "";
	json_t *doc;

	q.since_ns = r->since_ns;
	q.until_ns = r->until_ns ? r->until_ns : tgd_real_ns();
	q.by = r->by;
	q.run = r->run;
	/* DESIGN.md: a non-root user's reports show only that user's rows. */
	q.has_uid = c->peer.uid != 0;
	q.uid = c->peer.uid;
	if ((doc = ledger_report(d->rlg, &q, err, sizeof(err))) == NULL) {
		reject(d, c, h, TG_ERR_BAD_FIELD, err[0] ? err : "report failed");
		return;
	}
	send_doc(d, c, h, doc);
}

static void
on_run_begin(struct tgd *d, struct conn *c, const struct tg_hdr *h,
    const struct tg_run_begin *b)
{
	struct run *r;

	if (b->run[0] == '\0') {
		reject(d, c, h, TG_ERR_BAD_FIELD, "run token is empty");
		return;
	}
	if ((r = runs_begin(&d->runs, b->run, b->budget_nano_usd, b->tags,
	    c->peer.uid)) == NULL) {
		if (errno == EEXIST)
			reject(d, c, h, TG_ERR_BAD_FIELD, "run already exists");
		else
			control_fail(d, c, h->version, h->seq, TG_ERR_INTERNAL,
			    "out of memory");
		return;
	}
	peer_identify(&c->peer);
	enforce_run_begin(d, r, &c->peer);
	log_debug("%s: run %s budget %lld cgroup \"%s\"", __func__, b->run,
	    (long long)b->budget_nano_usd, r->cgroup);
	control_send(d, c, TG_MSG_OK, h->version, h->seq, NULL, 0);
}

/* A process of the run may have sent its last RECORDs and exited just
 * before tollctl asked RUN_END: read what its connection still holds and
 * settle its death before summing up. */
static void
run_drain(struct tgd *d, struct run *r)
{
	struct { int fd; uint32_t gen; } *v;
	size_t n = 0, cap = 0;
	struct proc *p;

	for (p = d->procs_all; p; p = p->all_next)
		if (p->run == r)
			cap++;
	if (cap == 0 || (v = calloc(cap, sizeof(*v))) == NULL)
		return;
	for (p = d->procs_all; p && n < cap; p = p->all_next)
		if (p->run == r)
			v[n].fd = p->conn->fd, v[n++].gen = p->conn->gen;
	for (size_t i = 0; i < n; i++) {
		struct conn *pc;
		struct pollfd pf;

		for (int k = 0; k < RUN_END_DRAIN_ROUNDS; k++) {
			if ((pc = control_conn(d, v[i].fd, v[i].gen)) == NULL ||
			    control_read(d, pc) < CONTROL_READ_BURST)
				break;
		}
		if ((pc = control_conn(d, v[i].fd, v[i].gen)) == NULL ||
		    pc->peer.pidfd < 0)
			continue;
		pf = (struct pollfd){ .fd = pc->peer.pidfd, .events = POLLIN };
		if (poll(&pf, 1, 0) == 1)
			dispatch_proc_died(d, pc);
	}
	free(v);
}

static void
run_settle(struct tgd *d, struct run *r)
{
	run_drain(d, r);
	/* GPU use of its processes still running counts in its summary */
	for (struct proc *p = d->procs_all; p; p = p->all_next)
		if (p->run == r)
			gpu_settle_proc(d, p, 0);
	orphan_settle_run(d, r);
}

static void
on_run_end(struct tgd *d, struct conn *c, const struct tg_hdr *h,
    const struct tg_run_end *e)
{
	struct run *r = runs_find(&d->runs, e->run);

	if (r == NULL) {
		reject(d, c, h, TG_ERR_NOT_FOUND, "no such run");
		return;
	}
	if (c->peer.uid != 0 && c->peer.uid != r->owner) {
		control_fail(d, c, h->version, h->seq, TG_ERR_PERMISSION,
		    "run belongs to another user");
		return;
	}
	if (r->end_waiting) {
		reject(d, c, h, TG_ERR_BAD_FIELD, "run is already ending");
		return;
	}
	run_ref(r);
	r->end_waiting = 1;
	r->end_fd = c->fd;
	r->end_gen = c->gen;
	r->end_seq = h->seq;
	r->end_version = h->version;
	r->end_uid = c->peer.uid;
	run_settle(d, r);
	/* Otherwise the last in-flight record's completion finishes it. */
	if (r->inflight == 0)
		dispatch_run_finish(d, r);
}

/* `tollctl run --policy FILE` on the system daemon: the run's owner (or
 * root) gives the run its own policy, once, before its processes start. */
static void
on_run_policy(struct tgd *d, struct conn *c, const struct tg_hdr *h,
    const struct tg_run_policy *rp)
{
	struct run *r = runs_find(&d->runs, rp->run);
	struct policy *p;
	char err[512];
	int fd = c->rx_fd;

	c->rx_fd = -1;
	if (r == NULL)
		reject(d, c, h, TG_ERR_NOT_FOUND, "no such run");
	else if (c->peer.uid != 0 && c->peer.uid != r->owner)
		control_fail(d, c, h->version, h->seq, TG_ERR_PERMISSION,
		    "run belongs to another user");
	else if (r->policy)
		reject(d, c, h, TG_ERR_BAD_FIELD, "the run has a policy already");
	else if (fd < 0)
		reject(d, c, h, TG_ERR_BAD_FIELD,
		    "RUN_POLICY needs the policy file's descriptor");
	else if ((p = padmin_policy_fd(fd, rp->name, err, sizeof(err))) == NULL)
		reject(d, c, h, TG_ERR_BAD_FIELD, err);
	else {
		enforce_run_policy(d, r, p);
		log_info("%s: run %s: its own policy %s, %d rules", __func__,
		    r->token, rp->name, p->nrules);
		control_send(d, c, TG_MSG_OK, h->version, h->seq, NULL, 0);
	}
	if (fd >= 0)
		close(fd);
}

static json_t *
run_json(const struct run *r)
{
	return json_pack("{s:s, s:I, s:I, s:I, s:b}", "token", r->token,
	    "budget_nano_usd", (json_int_t)r->budget,
	    "spent_nano_usd", (json_int_t)run_money(r->spent),
	    "refused_requests", (json_int_t)r->refused,
	    "budget_exceeded", run_budget_exceeded(r));
}

void
dispatch_run_finish(struct tgd *d, struct run *r)
{
	struct ledger_query q = { 0 };
	struct conn *c = control_conn(d, r->end_fd, r->end_gen);
	char err[200] = "";
	json_t *doc;

	q.until_ns = tgd_real_ns() + 1;
	q.by = "model";
	q.run = r->token;
	q.has_uid = r->end_uid != 0;
	q.uid = r->end_uid;
	doc = ledger_report(d->rlg, &q, err, sizeof(err));
	if (doc && json_object_set_new(doc, "run", run_json(r)) == -1) {
		json_decref(doc);
		doc = NULL;
	}
	if (c && doc)
		control_send_json(d, c, r->end_version, r->end_seq, doc);
	else if (c)
		control_fail(d, c, r->end_version, r->end_seq, TG_ERR_INTERNAL,
		    "run summary: %s", err[0] ? err : "out of memory");
	json_decref(doc);
	r->end_waiting = 0;
	enforce_run_end(d, r);
	runs_remove(&d->runs, r);
	run_unref(r);
}

void
dispatch(struct tgd *d, struct conn *c, const struct tg_hdr *h,
    const void *payload)
{
	/* A connection being closed is read only for its settlements. */
	if (c->closed && h->type != TG_MSG_RECORD &&
	    h->type != TG_MSG_RELEASE)
		return;
	/* One document at a time: a client that does not read its replies
	 * gets refusals, not another copy queued for it. */
	if ((h->type == TG_MSG_STATUS || h->type == TG_MSG_TOP ||
	    h->type == TG_MSG_IDLE ||
	    h->type == TG_MSG_REPORT || h->type == TG_MSG_RUN_END ||
	    h->type == TG_MSG_POLICY_SHOW || h->type == TG_MSG_POLICY_APPLY) &&
	    c->qhead) {
		reject(d, c, h, TG_ERR_BAD_FIELD, "the previous reply is not "
		    "read yet; read it before asking again");
		return;
	}
	switch (h->type) {
	case TG_MSG_REGISTER:
		on_register(d, c, h, payload);
		break;
	case TG_MSG_ADMIT:
		on_admit(d, c, h, payload, NULL);
		break;
	case TG_MSG_ADMIT_TAGS:
		on_admit(d, c, h, payload,
		    ((const struct tg_admit_tags *)payload)->tags);
		break;
	case TG_MSG_RECORD:
		record_client(d, c, h->version, h->seq, payload);
		break;
	case TG_MSG_RELEASE:
		on_release(d, c, h, payload);
		break;
	case TG_MSG_STATUS:
		send_doc(d, c, h, status_json(d, c->peer.uid));
		break;
	case TG_MSG_TOP:
		send_doc(d, c, h, top_json(d, c->peer.uid));
		break;
	case TG_MSG_IDLE:
		send_doc(d, c, h, idle_json(d, c->peer.uid, tgd_mono_ns()));
		break;
	case TG_MSG_REPORT:
		on_report(d, c, h, payload);
		break;
	case TG_MSG_RUN_BEGIN:
		on_run_begin(d, c, h, payload);
		break;
	case TG_MSG_RUN_END:
		on_run_end(d, c, h, payload);
		break;
	case TG_MSG_RUN_POLICY:
		on_run_policy(d, c, h, payload);
		break;
	case TG_MSG_POLICY_SHOW:
		padmin_show(d, c, h);
		break;
	case TG_MSG_POLICY_APPLY:
		padmin_apply(d, c, h, payload);
		break;
	default:
		reject(d, c, h, TG_ERR_BAD_TYPE, "not a request type");
		break;
	}
}

struct expire_ctx {
	struct tgd *d;
	struct proc *p;
};

static void
expire_one(const struct resv *r, void *arg)
{
	struct expire_ctx *x = arg;

	record_expired(x->d, x->p, r);
}

/* Each reservation of p becomes an estimated record. */
void
dispatch_expire(struct tgd *d, struct proc *p)
{
	struct expire_ctx x = { d, p };

	admit_expire(&d->admit, &p->owner, expire_one, &x);
}

/* The pidfd fired. What the process sent before it died is read first —
 * a RECORD still queued settles its reservation; expiring it before would
 * count the request twice. While this connection is being read (a RUN_END
 * of its own draining the run) the level-triggered pidfd comes back. */
void
dispatch_proc_died(struct tgd *d, struct conn *c)
{
	struct proc *p;

	if (c->reading)
		return;
	if (c->pid_watched) {
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, c->peer.pidfd, NULL);
		c->pid_watched = 0;
	}
	control_drain(d, c);
	/* Closed meanwhile (end of file): dispatch_conn_gone settled it. */
	if (c->closed || (p = c->proc) == NULL || p->dead)
		return;
	p->dead = 1;
	audit_pid_changed(d, c->peer.pid);
	log_debug("%s: pid %d exited with %zu reservations", __func__,
	    (int)c->peer.pid, p->owner.n);
	gpu_settle_proc(d, p, 1);       /* its page changes no more */
	dispatch_expire(d, p);
}

static int
process_exited(const struct peer *pr)
{
	struct pollfd pf = { .fd = pr->pidfd, .events = POLLIN };

	return pr->pidfd < 0 || poll(&pf, 1, 0) == 1;
}

/* The connection closed; everything it sent has been read (control_close).
 * A dead process's reservations become estimated records. A live one's
 * (a shim that lost its socket and reconnects) are kept as an orphan: its
 * later RECORDs settle them, and estimating them now would count them
 * twice. So is a process killed a moment ago: it closes its files before
 * its pidfd turns readable (do_exit: exit_files, then exit_notify), and
 * the orphan's pidfd expires them then. Never waits. */
void
dispatch_conn_gone(struct tgd *d, struct conn *c)
{
	struct proc *p = c->proc;

	if (p == NULL)
		return;
	c->proc = NULL;
	/* the registration ends: its GPU use so far is recorded now (an
	 * orphan keeps its reservations, not its pages) */
	gpu_settle_proc(d, p, 1);
	if (d->stop || p->dead || p->owner.n == 0) {
		proc_destroy(d, p, 1);
		return;
	}
	if (process_exited(&c->peer)) {
		dispatch_expire(d, p);
		proc_destroy(d, p, 1);
		return;
	}
	orphan_keep(d, c, p);
}
