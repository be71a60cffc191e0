/*
 * fc_state.c — the fake driver's process state: configuration from the
 * environment (read once, when the library loads), the per-thread counter
 * blocks, time, and what a fork child inherits.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fakecuda.h"

struct fc_global fc_g = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cap_lock = PTHREAD_MUTEX_INITIALIZER,
};
__thread struct fc_thread *fc_self __attribute__((tls_model("initial-exec")));

static unsigned long long
env_ull(const char *name, unsigned long long dflt, unsigned long long max)
{
	const char *s = getenv(name);
	char *end;
	unsigned long long v;

	if (s == NULL || *s == '\0')
		return dflt;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || *end != '\0' || v == 0 || v > max)
		return dflt;
	return v;
}

static void
device_init(struct fc_device *d, int ordinal, size_t total)
{
	memset(d, 0, sizeof(*d));
	d->ordinal = ordinal;
	pthread_mutex_init(&d->lock, NULL);
	d->mem.total = total;
	d->pool.magic = FC_MAGIC_POOL;
	d->pool.dev = d;
	fc_ctx_init(&d->primary, d, 1);
}

/* Folds an exiting thread's counts into the totals. */
static void
thread_exit(void *arg)
{
	struct fc_thread *t = arg, **pp;
	size_t i;

	pthread_mutex_lock(&fc_g.lock);
	for (pp = &fc_g.threads; *pp != NULL; pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	for (i = 0; i < TG_FN_COUNT; i++)
		fc_g.totals.calls[i] += t->calls[i];
	for (i = 0; i < FC_PATH_COUNT; i++)
		fc_g.totals.launches[i] += t->launches[i];
	fc_g.totals.captured += t->captured;
	fc_g.totals.graphs_captured += t->graphs_captured;
	fc_g.totals.graph_kernels += t->graph_kernels;
	fc_g.totals.event_records_in_capture += t->event_records_in_capture;
	pthread_mutex_unlock(&fc_g.lock);
	fc_self = NULL;
	free(t);
}

struct fc_thread *
fc_thread_new(void)
{
	struct fc_thread *t = calloc(1, sizeof(*t));

	if (t == NULL)
		abort(); /* a driver that cannot count is no test oracle */
	pthread_mutex_lock(&fc_g.lock);
	t->serial = ++fc_g.next_serial;
	t->next = fc_g.threads;
	fc_g.threads = t;
	pthread_mutex_unlock(&fc_g.lock);
	pthread_setspecific(fc_g.key, t);
	fc_self = t;
	return t;
}

/* The thread list is whole in the child: no thread is changing it. */
static void
fork_prepare(void)
{
	pthread_mutex_lock(&fc_g.lock);
}

static void
fork_parent(void)
{
	pthread_mutex_unlock(&fc_g.lock);
}

/* A child of a process that initialized CUDA cannot use it (the real
 * driver answers CUDA_ERROR_NOT_INITIALIZED there); one whose parent never
 * called cuInit starts afresh. Either way it counts only its own calls. */
void
fc_fork_child(void)
{
	struct fc_thread *t;
	int i;

	pthread_mutex_init(&fc_g.lock, NULL);
	pthread_mutex_init(&fc_g.cap_lock, NULL);
	fc_g.is_fork_child = 1;
	fc_g.captures = NULL;
	atomic_store(&fc_g.active_captures, 0);
	memset(&fc_g.totals, 0, sizeof(fc_g.totals));
	for (t = fc_g.threads; t != NULL; t = t->next) {
		memset(t->calls, 0, sizeof(t->calls));
		memset(t->launches, 0, sizeof(t->launches));
		t->captured = t->graphs_captured = t->graph_kernels = 0;
		t->event_records_in_capture = 0;
	}
	if (atomic_load(&fc_g.state) == FC_READY)
		atomic_store(&fc_g.state, FC_FORKED);
	for (i = 0; i < fc_g.ndev; i++)
		device_init(&fc_g.dev[i], i, fc_g.dev[i].mem.total);
	fc_mem_fork_child();
}

__attribute__((constructor)) static void
fc_load(void)
{
	const char *s;
	size_t total;
	int i;

	pthread_key_create(&fc_g.key, thread_exit);
	fc_g.ndev = env_ull("FAKECUDA_DEVICES", 1, FC_MAX_DEVICES);
	fc_g.driver_version = env_ull("FAKECUDA_DRIVER_VERSION",
	    TG_CUDA_ABI_VERSION, 99990);
	total = env_ull("FAKECUDA_MEM_TOTAL", FC_DEFAULT_MEM_TOTAL, SIZE_MAX / 2);
	s = getenv("FAKECUDA_NAME");
	strncpy(fc_g.name, s != NULL && *s != '\0' ? s : FC_DEFAULT_NAME,
	    sizeof(fc_g.name) - 1);
	s = getenv("FAKECUDA_TRUTH");
	if (s != NULL)
		strncpy(fc_g.truth_path, s, sizeof(fc_g.truth_path) - 1);
	for (i = 0; i < fc_g.ndev; i++)
		device_init(&fc_g.dev[i], i, total);
	pthread_atfork(fork_prepare, fork_parent, fc_fork_child);
}

__attribute__((destructor)) static void
fc_unload(void)
{
	fc_truth_write();
}

int64_t
fc_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void
fc_sleep_until(int64_t t)
{
	struct timespec ts = { t / 1000000000, t % 1000000000 };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

void
fc_atomic_max(_Atomic int64_t *p, int64_t v)
{
	int64_t cur = atomic_load_explicit(p, memory_order_relaxed);

	while (cur < v && !atomic_compare_exchange_weak(p, &cur, v))
		;
}

/* Appends [start, end), merged into the last span when it starts inside
 * it (always so for a stream's back-to-back kernels). */
void
fc_spans_add(struct fc_spans *s, int64_t start, int64_t end)
{
	struct fc_span *v;

	if (s->n > 0 && start >= s->v[s->n - 1].start &&
	    start <= s->v[s->n - 1].end) {
		s->v[s->n - 1].end = fc_max64(s->v[s->n - 1].end, end);
		return;
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;

		if ((v = realloc(s->v, cap * sizeof(*v))) == NULL)
			abort(); /* as in fc_thread_new */
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = (struct fc_span){ start, end };
}

struct fc_device *
fc_device(CUdevice d)
{
	return d >= 0 && d < fc_g.ndev ? &fc_g.dev[d] : NULL;
}
