/*
 * orphan.c — reservations of a live process whose connection closed.
 *
 * A shim that loses its socket (a closed fd, a reset) reconnects and
 * settles its requests in flight later. Expiring their reservations at the
 * close would count each twice (estimate + real record) and dropping them
 * would let the run overspend meanwhile. So they stay reserved, owned by
 * the process — its pid and its pidfd, still watched — until one of:
 *   - the pidfd fires: the process is gone, each reservation becomes an
 *     estimated record (rule "reservation-expired"), as for any death;
 *   - a REGISTER from the same process (same pid, same pidfd inode where
 *     the kernel has pidfs, and the orphan's pidfd not yet readable, so the
 *     pid was not reused) adopts them: its RECORD releases them as usual.
 * Nothing here waits: the decision at close time is a poll with timeout 0.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

static int
pidfd_exited(int pidfd)
{
	struct pollfd pf = { .fd = pidfd, .events = POLLIN };

	return pidfd < 0 || poll(&pf, 1, 0) == 1;
}

static void
orphan_link(struct tgd *d, struct orphan *o)
{
	o->next = d->orphans;
	if (d->orphans)
		d->orphans->prev = &o->next;
	o->prev = &d->orphans;
	d->orphans = o;
}

/* Drops what o still holds (no records) and frees it after the batch:
 * an event for its pidfd may still wait in this epoll batch. */
static void
orphan_free(struct tgd *d, struct orphan *o)
{
	if (o->gone)
		return;
	o->gone = 1;
	*o->prev = o->next;
	if (o->next)
		o->next->prev = o->prev;
	if (o->peer.pidfd >= 0)
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, o->peer.pidfd, NULL);
	peer_close(&o->peer);
	dispatch_proc_free(d, o->p);
	o->p = NULL;
	o->grave_next = d->orphan_grave;
	d->orphan_grave = o;
}

void
orphan_keep(struct tgd *d, struct conn *c, struct proc *p)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct orphan *o = calloc(1, sizeof(*o));
	int op = c->pid_watched ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;

	dispatch_proc_unlink(d, p);
	if (o == NULL) {
		log_warnx("%s: out of memory; pid %d's reservations expire",
		    __func__, (int)c->peer.pid);
		dispatch_expire(d, p);
		dispatch_proc_free(d, p);
		return;
	}
	/* The orphan takes the connection's identity and its pidfd. */
	o->peer = c->peer;
	o->p = p;
	o->ev = (struct evsrc){ EV_ORPHAN, o };
	p->peer = &o->peer;
	p->conn = NULL;
	proc_pages_free(p);
	orphan_link(d, o);
	ev.data.ptr = &o->ev;
	if (epoll_ctl(d->epfd, op, o->peer.pidfd, &ev) == -1) {
		log_warn("%s: pidfd of %d", __func__, (int)o->peer.pid);
		o->peer.pidfd = -1; /* still the connection's: it closes it */
		dispatch_expire(d, p);
		orphan_free(d, o);
		return;
	}
	c->pid_watched = 0;
	c->peer.pidfd = -1;
	log_debug("%s: pid %d keeps %zu reservations", __func__,
	    (int)o->peer.pid, p->owner.n);
}

void
orphan_died(struct tgd *d, struct orphan *o)
{
	if (o->gone)
		return;
	log_debug("%s: pid %d exited with %zu reservations", __func__,
	    (int)o->peer.pid, o->p->owner.n);
	dispatch_expire(d, o->p);
	orphan_free(d, o);
}

/* 1 when both pidfds name one process. With pidfs (Linux 6.9) a process's
 * pidfds share an inode; before, every pidfd has the same anonymous inode
 * and the pid with a live orphan pidfd decides alone. */
static int
same_process(int a, int b)
{
	struct stat sa, sb;

	if (a < 0 || b < 0 || fstat(a, &sa) == -1 || fstat(b, &sb) == -1)
		return 0;
	return sa.st_ino == sb.st_ino && sa.st_dev == sb.st_dev;
}

void
orphan_adopt(struct tgd *d, struct proc *p)
{
	struct orphan *o, *next;
	size_t n = 0;

	for (o = d->orphans; o; o = next) {
		next = o->next;
		if (o->peer.pid != p->peer->pid ||
		    !same_process(o->peer.pidfd, p->peer->pidfd))
			continue;
		if (pidfd_exited(o->peer.pidfd)) {
			orphan_died(d, o);
			continue;
		}
		n += admit_adopt(&d->admit, &o->p->owner, &p->owner);
		/* Admit ids clashing with this registration's stay behind and
		 * expire with the process. */
		if (o->p->owner.n == 0)
			orphan_free(d, o);
	}
	if (n)
		log_debug("%s: pid %d takes back %zu reservations", __func__,
		    (int)p->peer->pid, n);
}

/*
 * A RECORD whose admit_id this registration does not hold may settle a
 * reservation of the same process's closed connection (a shim that lost
 * one socket and settles over another; or the record spooled and replayed
 * by another process, which names the origin pid). Same process: for a
 * live sender its pidfd's inode, for a replay the pid and the uid (root
 * may replay anyone's). Returns 1 when one was released.
 */
int
orphan_settle(struct tgd *d, const struct peer *sender, pid_t pid,
    uint64_t admit_id, int replayed)
{
	struct orphan *o, *next;

	for (o = d->orphans; o; o = next) {
		next = o->next;
		if (o->peer.pid != pid)
			continue;
		if (replayed ? sender->uid != 0 && sender->uid != o->peer.uid :
		    !same_process(o->peer.pidfd, sender->pidfd))
			continue;
		if (admit_release(&d->admit, &o->p->owner, admit_id) == 0)
			continue;
		if (o->p->owner.n == 0)
			orphan_free(d, o);
		return 1;
	}
	return 0;
}

/* RUN_END sums up: orphans of the run whose process is gone now expire
 * first, as dead registered processes do (run_drain). */
void
orphan_settle_run(struct tgd *d, struct run *r)
{
	struct orphan *o, *next;

	for (o = d->orphans; o; o = next) {
		next = o->next;
		if (o->p->run == r && pidfd_exited(o->peer.pidfd))
			orphan_died(d, o);
	}
}

void
orphan_reap(struct tgd *d)
{
	struct orphan *o;

	while ((o = d->orphan_grave)) {
		d->orphan_grave = o->grave_next;
		free(o);
	}
}

void
orphan_free_all(struct tgd *d)
{
	while (d->orphans)
		orphan_free(d, d->orphans);
	orphan_reap(d);
}
