/* settle.c — the settler thread; see settle.h. */
#include "settle.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <time.h>

#include "client.h"
#include "config.h"
#include "fork.h"
#include "instance.h"
#include "meter.h"
#include "real.h"
#include "shim.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER; /* queued */
static pthread_cond_t idle = PTHREAD_COND_INITIALIZER; /* batch done */
static struct shim_done *head, **tail = &head;
static int running;             /* this process has the thread */
static int busy;                /* a batch is in flight */

/* Up to SHIM_SETTLE_BATCH records out of the queue; mu held. */
static int
take_batch(struct shim_done **v)
{
	int n = 0;

	while (head != NULL && n < SHIM_SETTLE_BATCH) {
		v[n++] = head;
		if ((head = head->next) == NULL)
			tail = &head;
	}
	return n;
}

/* The batch in flight: its seqs, and which the daemon acknowledged.
 * Filled under the connection lock right after the sends, read and
 * marked under mu (a stray ACK comes from another caller's wait). */
static struct {
	struct shim_done **v;
	uint32_t seq[SHIM_SETTLE_BATCH];
	int *acked, n, left;
} flight;

/* An ACK for one of the batch's records; mu held. */
static void
mark(const struct shim_reply *r)
{
	for (int i = 0; i < flight.n; i++) {
		if (flight.seq[i] != r->hdr.seq || flight.acked[i])
			continue;
		if (memcmp(r->u.ack.id, flight.v[i]->rec.id,
		    sizeof(r->u.ack.id)) == 0) {
			flight.acked[i] = 1;
			flight.left--;
		}
		return;
	}
}

static void
stray_ack(const struct shim_reply *r)
{
	pthread_mutex_lock(&mu);
	mark(r);
	pthread_mutex_unlock(&mu);
}

static int
left(void)
{
	int n;

	pthread_mutex_lock(&mu);
	n = flight.left;
	pthread_mutex_unlock(&mu);
	return n;
}

/* Send v[0..n) pipelined under the connection lock; the number sent. */
static int
send_all(struct shim_done **v, int n, int *acked, int64_t deadline)
{
	uint32_t seq;
	int sent = 0;

	if (shim_conn_lock(shim_instance_sync(), deadline) != 0)
		return 0;
	if (shim_conn_ensure(deadline, 0) >= 0)
		for (; sent < n; sent++) {
			if (shim_conn_send(TG_MSG_RECORD, &v[sent]->rec,
			    sizeof(v[sent]->rec), &seq, deadline) != 0)
				break;
			flight.seq[sent] = seq;
		}
	pthread_mutex_lock(&mu);
	flight.v = v;
	flight.acked = acked;
	flight.n = flight.left = sent;
	pthread_mutex_unlock(&mu);
	shim_conn_unlock();
	return sent;
}

/* Collect the ACKs without keeping the connection from others: wait for
 * input with the lock free, then take it only to read what has arrived
 * (an admission waiting for the lock gets it between reads; its own wait
 * marks the ACKs it comes across, stray_ack). */
static void
collect(int64_t deadline)
{
	struct shim_reply r;

	while (left() > 0 && shim_now_mono() < deadline) {
		struct pollfd p = { shim_conn_fd_hint(), POLLIN, 0 };

		if (p.fd < 0 || shim_real.poll(&p, 1, 1) < 0)
			break;
		if (shim_conn_lock(shim_instance_sync(), deadline) != 0)
			break;
		while (shim_conn_recv(&r, 0) == 0) {     /* what is there */
			if (r.hdr.type != TG_MSG_ACK)
				continue;
			pthread_mutex_lock(&mu);
			mark(&r);
			pthread_mutex_unlock(&mu);
		}
		shim_conn_unlock();
	}
}

/* Send v[0..n) pipelined; acked[i] = 1 for each the daemon committed. */
static void
send_batch(struct shim_done **v, int n, int *acked)
{
	int64_t deadline = shim_now_mono() + shim_call_ns();

	if (send_all(v, n, acked, deadline) > 0)
		collect(deadline);
	pthread_mutex_lock(&mu);
	flight.n = flight.left = 0;     /* no more marks into acked */
	pthread_mutex_unlock(&mu);
}

/* The daemon path for the batch; the ordinary one (retry, spool) for
 * what it did not acknowledge, keeping each record's id. */
static void
settle_batch(struct shim_done **v, int n)
{
	int acked[SHIM_SETTLE_BATCH] = { 0 };

	shim_instance_sync();   /* the prefix of this process's ids */
	for (int i = 0; i < n; i++)
		shim_instance_new_id(v[i]->rec.id);
	send_batch(v, n, acked);
	for (int i = 0; i < n; i++) {
		if (!acked[i])
			shim_settle_record_as_is(&v[i]->rec);
		free(v[i]);
	}
}

static void *
settler(void *arg)
{
	struct shim_done *v[SHIM_SETTLE_BATCH];
	int n;

	shim_inside = 1;
	pthread_mutex_lock(&mu);
	for (;;) {
		while (head == NULL)
			pthread_cond_wait(&wake, &mu);
		n = take_batch(v);
		busy = 1;
		pthread_mutex_unlock(&mu);
		settle_batch(v, n);
		pthread_mutex_lock(&mu);
		busy = 0;
		pthread_cond_broadcast(&idle);
	}
	return NULL;
}

/* mu held. 0: the thread runs. Every signal blocked in it. */
static int
start(void)
{
	sigset_t all, old;
	pthread_attr_t a;
	pthread_t t;
	int rc;

	if (running)
		return 0;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &a, settler, NULL);
	pthread_attr_destroy(&a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc == 0) {
		running = 1;
		shim_conn_stray_ack = stray_ack;
	}
	return rc;
}

/* Settled on this thread: no settler could be started. */
static void
settle_here(struct shim_done *d)
{
	struct shim_done *next;

	for (; d != NULL; d = next) {
		next = d->next;
		shim_settle_record(&d->rec);
		free(d);
	}
}

void
shim_settle_enqueue(struct shim_done *d)
{
	struct shim_done *last = d;

	if (d == NULL)
		return;
	while (last->next != NULL)
		last = last->next;
	pthread_mutex_lock(&mu);
	if (start() != 0) {
		pthread_mutex_unlock(&mu);
		settle_here(d);
		return;
	}
	*tail = d;
	tail = &last->next;
	pthread_cond_signal(&wake);
	pthread_mutex_unlock(&mu);
}

void
shim_settle_atfork_child(void)
{
	shim_fork_fresh_lock(&mu);
	pthread_cond_init(&wake, NULL);
	pthread_cond_init(&idle, NULL);
	head = NULL;            /* the parent's, settled by the parent */
	tail = &head;
	running = busy = 0;
	flight.n = flight.left = 0;
}

/* At exit: what is queued is settled here; a batch in flight is waited
 * for, at most SHIM_SETTLE_EXIT_NS. */
__attribute__((destructor)) static void
settle_at_exit(void)
{
	struct timespec ts;
	struct shim_done *d;
	int64_t end = shim_now_mono() + SHIM_SETTLE_EXIT_NS;

	if (!running)
		return;
	shim_inside++;
	pthread_mutex_lock(&mu);
	d = head;
	head = NULL;
	tail = &head;
	ts.tv_sec = end / 1000000000;
	ts.tv_nsec = end % 1000000000;
	while (busy && pthread_cond_clockwait(&idle, &mu, CLOCK_MONOTONIC,
	    &ts) == 0)
		;
	pthread_mutex_unlock(&mu);
	settle_here(d);
	shim_inside--;
}
