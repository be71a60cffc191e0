/*
 * cudaprobe_reap.c — the reaper thread of bpf/cudaprobe.c
 * (cudaprobe_reap.h). bpf_link__destroy touches nothing the main thread
 * still uses, so the thread needs no other lock than its queue's. The
 * queue grows as needed (a host where thousands of CUDA processes exit at
 * once): the main thread destroys a link itself only when that fails.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

#include <bpf/libbpf.h>

#include "log.h"

#include "cudaprobe_reap.h"

#define CP_REAP_FIRST 256

static struct {
	pthread_t t;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct bpf_link **q;
	size_t n, cap;
	int quit;
} reap = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static void *
cp_reaper(void *arg)
{
	struct bpf_link *l;

	(void)arg;
	pthread_mutex_lock(&reap.mu);
	for (;;) {
		while (reap.n == 0 && !reap.quit)
			pthread_cond_wait(&reap.cv, &reap.mu);
		if (reap.n == 0)
			break;
		l = reap.q[--reap.n];
		pthread_mutex_unlock(&reap.mu);
		bpf_link__destroy(l);
		pthread_mutex_lock(&reap.mu);
	}
	pthread_mutex_unlock(&reap.mu);
	return NULL;
}

/* Room for one more link; under reap.mu. 0, or -1 out of memory. */
static int
cp_reap_room(void)
{
	struct bpf_link **q;
	size_t cap;

	if (reap.n < reap.cap)
		return 0;
	cap = reap.cap ? reap.cap * 2 : CP_REAP_FIRST;
	if ((q = reallocarray(reap.q, cap, sizeof(*q))) == NULL)
		return -1;
	reap.q = q;
	reap.cap = cap;
	return 0;
}

void
cp_link_drop(struct bpf_link *l)
{
	if (l == NULL)
		return;
	pthread_mutex_lock(&reap.mu);
	if (reap.started && !reap.quit && cp_reap_room() == 0) {
		reap.q[reap.n++] = l;
		pthread_cond_signal(&reap.cv);
		l = NULL;
	}
	pthread_mutex_unlock(&reap.mu);
	bpf_link__destroy(l); /* no reaper, or no memory: slow, not leaked */
}

void
cp_reaper_start(void)
{
	sigset_t all, old;

	if (reap.started)
		return;
	/* signals stay with the main thread */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	reap.quit = 0;
	reap.started = pthread_create(&reap.t, NULL, cp_reaper, NULL) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!reap.started)
		log_warnx("cudaprobe: no reaper thread; detaching blocks the"
		    " daemon");
}

void
cp_reaper_stop(void)
{
	if (!reap.started)
		return;
	pthread_mutex_lock(&reap.mu);
	reap.quit = 1;
	pthread_cond_signal(&reap.cv);
	pthread_mutex_unlock(&reap.mu);
	pthread_join(reap.t, NULL);
	reap.started = 0;
	free(reap.q);
	reap.q = NULL;
	reap.n = reap.cap = 0;
}
