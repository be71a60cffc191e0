/* settle.c — the settler thread; see settle.h. */
#include "settle.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "config.h"
#include "fork.h"
#include "instance.h"
#include "meter.h"
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

/* Send v[0..n) pipelined; acked[i] = 1 for each the daemon committed. */
static void
send_batch(struct shim_done **v, int n, int *acked)
{
	int64_t deadline = shim_now_mono() + shim_call_ns();
	uint32_t seq[SHIM_SETTLE_BATCH];
	struct shim_reply r;
	int sent = 0, got = 0;

	if (shim_conn_lock(shim_instance_sync(), deadline) != 0)
		return;
	if (shim_conn_ensure(deadline, 0) >= 0) {
		for (; sent < n; sent++)
			if (shim_conn_send(TG_MSG_RECORD, &v[sent]->rec,
			    sizeof(v[sent]->rec), &seq[sent], deadline) != 0)
				break;
		while (got < sent && shim_conn_recv(&r, deadline) == 0) {
			for (int i = 0; i < sent; i++) {
				if (seq[i] != r.hdr.seq)
					continue;
				got++;
				acked[i] = r.hdr.type == TG_MSG_ACK &&
				    memcmp(r.u.ack.id, v[i]->rec.id,
				    sizeof(v[i]->rec.id)) == 0;
			}
		}
	}
	shim_conn_unlock();
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
	if (rc == 0)
		running = 1;
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
