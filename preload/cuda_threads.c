/*
 * cuda_threads.c — one counting block per launching thread.
 *
 * A launch adds to its own thread's block with a plain store (no atomic
 * read-modify-write, no shared cache line); the GPU thread sums the
 * blocks. A thread that exits hands its counts to the retired totals
 * under the table lock (the sum takes the same lock, so nothing is
 * counted twice or lost) and frees its block for the next thread. With
 * every block taken, launches go to one shared atomic counter.
 */
#include <pthread.h>
#include <string.h>

#include "cushim.h"

#define CU_THREADS 1024

__thread struct cu_thread *cu_self __attribute__((tls_model("initial-exec")));

static struct {
	pthread_mutex_t mtx;
	pthread_key_t key;
	int key_ok;
	int nfree, free[CU_THREADS];
	uint64_t retired_launches, retired_graphs;
	_Atomic uint64_t shared_launches, shared_graphs;
} tt = { .mtx = PTHREAD_MUTEX_INITIALIZER };

static struct cu_thread blocks[CU_THREADS] __attribute__((aligned(64)));
static pthread_once_t tt_once = PTHREAD_ONCE_INIT;

static void thread_gone(void *arg);

static void
tt_init(void)
{
	tt.key_ok = pthread_key_create(&tt.key, thread_gone) == 0;
	for (int i = 0; i < CU_THREADS; i++)
		tt.free[i] = CU_THREADS - 1 - i;
	tt.nfree = CU_THREADS;
}

static void
thread_gone(void *arg)
{
	struct cu_thread *t = arg;

	pthread_mutex_lock(&tt.mtx);
	tt.retired_launches += atomic_load_explicit(&t->launches,
	    memory_order_relaxed);
	tt.retired_graphs += atomic_load_explicit(&t->graph_launches,
	    memory_order_relaxed);
	atomic_store_explicit(&t->launches, 0, memory_order_relaxed);
	atomic_store_explicit(&t->graph_launches, 0, memory_order_relaxed);
	t->slot = -1;
	tt.free[tt.nfree++] = (int)(t - blocks);
	pthread_mutex_unlock(&tt.mtx);
	if (cu_self == t)
		cu_self = NULL;
}

struct cu_thread *
cu_thread_attach(void)
{
	struct cu_thread *t = NULL;

	if (cu_self)
		return cu_self;
	pthread_once(&tt_once, tt_init);
	if (!tt.key_ok)
		return NULL;
	pthread_mutex_lock(&tt.mtx);
	if (tt.nfree > 0) {
		t = &blocks[tt.free[--tt.nfree]];
		memset(t, 0, sizeof(*t));
		t->slot = (int)(t - blocks);
	}
	pthread_mutex_unlock(&tt.mtx);
	if (t == NULL || pthread_setspecific(tt.key, t) != 0) {
		if (t)
			thread_gone(t);
		return NULL;
	}
	cu_self = t;
	return t;
}

void
cu_acct_shared_launch(uint64_t kernels, uint64_t graphs)
{
	atomic_fetch_add_explicit(&tt.shared_launches, kernels,
	    memory_order_relaxed);
	atomic_fetch_add_explicit(&tt.shared_graphs, graphs,
	    memory_order_relaxed);
}

void
cu_threads_sum(uint64_t *launches, uint64_t *graphs)
{
	uint64_t l, g;

	pthread_mutex_lock(&tt.mtx);
	l = tt.retired_launches;
	g = tt.retired_graphs;
	for (int i = 0; i < CU_THREADS; i++) {
		l += atomic_load_explicit(&blocks[i].launches,
		    memory_order_relaxed);
		g += atomic_load_explicit(&blocks[i].graph_launches,
		    memory_order_relaxed);
	}
	pthread_mutex_unlock(&tt.mtx);
	*launches = l + atomic_load_explicit(&tt.shared_launches,
	    memory_order_relaxed);
	*graphs = g + atomic_load_explicit(&tt.shared_graphs,
	    memory_order_relaxed);
}

/* A fork child: one thread, ours; every other block belonged to a thread
 * of the parent. Counts start again from zero (the child is a new
 * process for the daemon). The lock is new: its holder may not exist. */
void
cu_threads_child(void)
{
	struct cu_thread *self = cu_self;

	pthread_mutex_init(&tt.mtx, NULL);
	memset(blocks, 0, sizeof(blocks));
	tt.retired_launches = tt.retired_graphs = 0;
	atomic_store(&tt.shared_launches, 0);
	atomic_store(&tt.shared_graphs, 0);
	if (!tt.key_ok) {
		cu_self = NULL;
		return;
	}
	tt.nfree = 0;
	for (int i = CU_THREADS - 1; i >= 0; i--)
		if (self == NULL || i != self - blocks)
			tt.free[tt.nfree++] = i;
	if (self)
		self->slot = (int)(self - blocks);
}
