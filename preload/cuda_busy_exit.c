/*
 * cuda_busy_exit.c — busy time at the ends: a thread's exit and the
 * process's (a per-thread default stream's batch can only be ended by its
 * own thread, cuda_busy.c), and a fork child's reset.
 */
#include <string.h>

#include "cuda_busy.h"

static __thread int exit_hook; /* this thread's key value is set */
static pthread_key_t exit_key;
static int exit_key_ok;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

static void thread_exit(void *arg);

static void
exit_key_init(void)
{
	exit_key_ok = pthread_key_create(&exit_key, thread_exit) == 0;
}

/* This thread opened a batch on its per-thread stream: its exit must
 * close it. */
void
cb_want_exit_hook(void)
{
	if (exit_hook)
		return;
	pthread_once(&exit_once, exit_key_init);
	if (exit_key_ok && pthread_setspecific(exit_key, &exit_hook) == 0)
		exit_hook = 1;
}

/* Close this thread's per-thread-stream batches (its key destructor, or
 * the process's exit) and forget those streams: no one else can name
 * them. The thread's current context is moved and put back. */
static void
close_own(void)
{
	tg_pfn_cuCtxSetCurrent set = CU_REAL(cuCtxSetCurrent);
	CUcontext was = cb_current_ctx(), now = was;
	uint64_t me = cb_serial();

	if (me == 0 || set == NULL)
		return;
	pthread_mutex_lock(&cb.mtx);
	for (int i = 0; i < CB_STREAMS; i++) {
		struct cu_stream *s = &cb.st[i];
		CUcontext c = cb.cx[s->cx].ctx;

		if (!s->used || s->kind != CB_PTDS || s->owner != me)
			continue;
		if (s->open && (now == c || set(c) == CUDA_SUCCESS)) {
			now = c;
			cb_close(s, CU_STREAM_PER_THREAD, 0, 1);
		}
		cb_stream_forget(s);
	}
	pthread_mutex_unlock(&cb.mtx);
	if (now != was)
		set(was);
}

static void
thread_exit(void *arg)
{
	(void)arg;
	close_own();
}

void
cu_busy_reset(void)
{
	/* The parent's handles mean nothing here; the lock's holder may not
	 * exist in this process. No driver call. */
	pthread_mutex_init(&cb.mtx, NULL);
	cb.use_clock = 0;
	memset(cb.cx, 0, sizeof(cb.cx));
	memset(cb.st, 0, sizeof(cb.st));
	memset(cb.pend, 0, sizeof(cb.pend));
	cb_sleep_reset();
}

void
cu_busy_flush(void)
{
	close_own();
	cb_flush_all();
	cu_epoch_bump();
}

