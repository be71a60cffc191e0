/*
 * ledger_writer.c — the ledger's writer thread: group commit.
 *
 * The main thread submits entries into a bounded ring (never blocks: -1
 * with errno EAGAIN when full). The thread takes everything queued, up to
 * BATCH_MAX, inserts it in ONE transaction (one fsync for the lot), and
 * only after COMMIT returns pushes one completion per entry and makes the
 * eventfd readable: an ACK can never precede its COMMIT. A failed batch
 * completes every entry with ok = 0 (nothing of it was committed).
 *
 * Bound: queued + being written + completions not yet taken <= QUEUE_MAX,
 * so an idle main thread cannot make the writer grow memory.
 * ledger_writer_stop() writes what is still queued, joins the thread and
 * frees the writer; completions not yet taken then are dropped (the
 * clients' spools replay them; ids make that harmless).
 */
#include "ledger.h"
#include "ledger_private.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define QUEUE_MAX 4096
#define BATCH_MAX 512

struct slot {
	struct ledger_entry e;
	uint64_t cookie;
};

struct ledger_writer {
	struct ledger *lg;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int efd;
	int stopping;

	struct slot *ring; /* QUEUE_MAX slots */
	size_t head, count; /* queued, not yet taken by the thread */
	size_t writing;     /* taken by the thread, not yet completed */

	struct ledger_done *done; /* QUEUE_MAX completions, FIFO */
	size_t ndone;
	uint64_t commits;

	/* The thread's own batch: only it touches these. */
	struct ledger_entry *entries;
	uint64_t *cookies;
	int *inserted;
};

/* Take up to BATCH_MAX queued slots. Called with mu held. */
static size_t
take_batch(struct ledger_writer *w)
{
	size_t n = w->count < BATCH_MAX ? w->count : BATCH_MAX, i;

	for (i = 0; i < n; i++) {
		w->entries[i] = w->ring[(w->head + i) % QUEUE_MAX].e;
		w->cookies[i] = w->ring[(w->head + i) % QUEUE_MAX].cookie;
	}
	w->head = (w->head + n) % QUEUE_MAX;
	w->count -= n;
	w->writing += n;
	return n;
}

/* Publish the results of a batch. Called with mu held; the eventfd is
 * written under the lock so take()'s reset of it cannot lose a wake-up. */
static void
complete_batch(struct ledger_writer *w, size_t n, int ok)
{
	uint64_t one = 1;
	size_t i;

	for (i = 0; i < n; i++) {
		w->done[w->ndone].cookie = w->cookies[i];
		w->done[w->ndone].inserted = ok ? w->inserted[i] : 0;
		w->done[w->ndone].ok = ok;
		w->ndone++;
	}
	w->writing -= n;
	if (ok)
		w->commits++;
	if (write(w->efd, &one, sizeof(one)) == -1 && errno != EAGAIN)
		log_warn("%s: eventfd", __func__);
}

static void *
writer_main(void *arg)
{
	struct ledger_writer *w = arg;
	size_t n;
	int ok;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (w->count == 0 && !w->stopping)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->count == 0)
			break; /* stopping, and everything is written */
		n = take_batch(w);
		pthread_mutex_unlock(&w->mu);

		ok = ledger_insert(w->lg, w->entries, n, w->inserted) == 0;
		if (!ok)
			log_warnx("%s: a batch of %zu records failed to commit",
			    __func__, n);

		pthread_mutex_lock(&w->mu);
		complete_batch(w, n, ok);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static void
writer_free(struct ledger_writer *w)
{
	if (w->efd != -1)
		close(w->efd);
	free(w->ring);
	free(w->done);
	free(w->cookies);
	free(w->entries);
	free(w->inserted);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w);
}

struct ledger_writer *
ledger_writer_start(struct ledger *lg, char *err, size_t errlen)
{
	struct ledger_writer *w;
	int rc;

	if ((w = calloc(1, sizeof(*w))) == NULL) {
		snprintf(err, errlen, "ledger writer: out of memory");
		return NULL;
	}
	w->lg = lg;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	w->ring = calloc(QUEUE_MAX, sizeof(*w->ring));
	w->done = calloc(QUEUE_MAX, sizeof(*w->done));
	w->cookies = calloc(BATCH_MAX, sizeof(*w->cookies));
	w->entries = calloc(BATCH_MAX, sizeof(*w->entries));
	w->inserted = calloc(BATCH_MAX, sizeof(*w->inserted));
	if (w->efd == -1 || !w->ring || !w->done || !w->cookies ||
	    !w->entries || !w->inserted) {
		snprintf(err, errlen, "ledger writer: %s", strerror(errno));
		writer_free(w);
		return NULL;
	}
	if ((rc = pthread_create(&w->thread, NULL, writer_main, w)) != 0) {
		snprintf(err, errlen, "ledger writer: %s", strerror(rc));
		writer_free(w);
		return NULL;
	}
	return w;
}

int
ledger_writer_fd(struct ledger_writer *w)
{
	return w->efd;
}

int
ledger_writer_submit(struct ledger_writer *w, const struct ledger_entry *e,
    uint64_t cookie)
{
	struct slot *s;

	pthread_mutex_lock(&w->mu);
	if (w->stopping ||
	    w->count + w->writing + w->ndone >= QUEUE_MAX) {
		pthread_mutex_unlock(&w->mu);
		errno = EAGAIN;
		return -1;
	}
	s = &w->ring[(w->head + w->count) % QUEUE_MAX];
	s->e = *e;
	s->cookie = cookie;
	w->count++;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

size_t
ledger_writer_take(struct ledger_writer *w, struct ledger_done *out,
    size_t max)
{
	uint64_t v;
	size_t n;

	pthread_mutex_lock(&w->mu);
	n = w->ndone < max ? w->ndone : max;
	memcpy(out, w->done, n * sizeof(*out));
	memmove(w->done, w->done + n, (w->ndone - n) * sizeof(*w->done));
	w->ndone -= n;
	/* Drained: clear the eventfd (under the lock, see complete_batch).
	 * Otherwise it stays readable so the caller comes back. */
	if (w->ndone == 0 && read(w->efd, &v, sizeof(v)) == -1 &&
	    errno != EAGAIN)
		log_warn("%s: eventfd", __func__);
	pthread_mutex_unlock(&w->mu);
	return n;
}

void
ledger_writer_stop(struct ledger_writer *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->stopping = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	writer_free(w);
}

uint64_t
ledger_writer_commits(struct ledger_writer *w)
{
	uint64_t n;

	pthread_mutex_lock(&w->mu);
	n = w->commits;
	pthread_mutex_unlock(&w->mu);
	return n;
}
