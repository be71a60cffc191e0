/*
 * cuda_busy_sleep.c — the GPU thread's sleep between harvest rounds. A
 * batch opened during a long sleep (nothing was open) starts a round at
 * once: its first idle check would otherwise come up to CB_LONG_NS late,
 * more than the error bound allows (cuda_busy.c). The opening launch pays
 * one atomic store, and a signal only when the GPU thread sleeps long.
 */
#include <time.h>

#include "cuda_busy.h"

static struct {
	pthread_mutex_t mtx;
	pthread_cond_t cv;
	int cv_ok, woken;
	_Atomic int long_sleep; /* the GPU thread is in (or entering) one */
	_Atomic int pending;    /* a batch opened since the round began */
} zz = { .mtx = PTHREAD_MUTEX_INITIALIZER };
static pthread_once_t zz_once = PTHREAD_ONCE_INIT;

static void
zz_init(void)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	zz.cv_ok = pthread_condattr_setclock(&a, CLOCK_MONOTONIC) == 0 &&
	    pthread_cond_init(&zz.cv, &a) == 0;
	pthread_condattr_destroy(&a);
}

void
cu_busy_sleep(int64_t ns)
{
	struct timespec until, ts;
	int64_t t;

	pthread_once(&zz_once, zz_init);
	if (!zz.cv_ok || ns <= CB_SHORT_NS) {
		ts.tv_sec = ns / 1000000000LL;
		ts.tv_nsec = ns % 1000000000LL;
		nanosleep(&ts, NULL);
		return;
	}
	t = cb_mono_ns() + ns;
	until.tv_sec = t / 1000000000LL;
	until.tv_nsec = t % 1000000000LL;
	pthread_mutex_lock(&zz.mtx);
	zz.woken = 0;
	/* long_sleep, then pending (cb_wake: the other way round): one of
	 * us sees the other's store, so no opening is missed. */
	atomic_store(&zz.long_sleep, 1);
	if (!atomic_exchange(&zz.pending, 0))
		while (!zz.woken &&
		    pthread_cond_timedwait(&zz.cv, &zz.mtx, &until) == 0)
			;
	atomic_store(&zz.long_sleep, 0);
	pthread_mutex_unlock(&zz.mtx);
}

void
cb_wake(void)
{
	atomic_store(&zz.pending, 1);
	if (!atomic_load(&zz.long_sleep))
		return;
	pthread_mutex_lock(&zz.mtx);
	zz.woken = 1;
	pthread_cond_signal(&zz.cv);
	pthread_mutex_unlock(&zz.mtx);
}

/* A batch opened from here on is seen by this round or, if too late for
 * it, cuts the sleep after it short. */
void
cb_round_begins(void)
{
	atomic_store(&zz.pending, 0);
}

/* A fork child: the lock's holder may not exist here. */
void
cb_sleep_reset(void)
{
	pthread_mutex_init(&zz.mtx, NULL);
	zz.woken = 0;
	atomic_store(&zz.long_sleep, 0);
	atomic_store(&zz.pending, 0);
}
