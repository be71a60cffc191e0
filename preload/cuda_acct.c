/*
 * cuda_acct.c — the process's GPU numbers, the GPU thread, and their
 * copy on the counters page (lib/page.h).
 *
 * The hooks keep their numbers here (private memory, a mutex: none of
 * them is a launch's fast path; launches count in their threads' blocks,
 * cuda_threads.c). The GPU thread, started by the first context, harvests
 * busy time (cuda_busy.c) and copies everything to the counters page at
 * most every CU_PUBLISH_NS, and the exit does once more.
 *
 * The page of a new registration starts from zero in the daemon's eyes:
 * the first one gets everything since the process started; a later one
 * (the daemon restarted) only what happened after it — the old daemon
 * recorded what it had read, and what it had not read when it died is
 * lost (never counted twice).
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "config.h"
#include "cushim.h"
#include "instance.h"
#include "pages.h"
#include "shim.h"

#define RETRY_REGISTER_NS 1000000000LL

void cu_ctx_child(void);
void cu_mem_child(void);

struct dev {
	int used;
	CUdevice ordinal;
	char name[96];
	uint8_t uuid[16];
	int live;            /* live contexts on it */
	int64_t held_since;  /* mono ns; 0: not held */
	uint64_t held_ns;    /* closed holds */
	uint64_t busy_ns;
	uint64_t mem;
	uint64_t page_peak;  /* high-water since the page's start */
};

/* What the current page's daemon has not been told about: the totals at
 * its start. */
struct base {
	uint64_t launches, graphs, refused_launch, refused_alloc;
	uint64_t paused_ns, throttled_ns;
	uint64_t busy[TG_PAGE_GPUS];
	int64_t held[TG_PAGE_GPUS];
	int64_t since; /* mono ns of the page's start; 0: the first page */
};

static struct {
	pthread_mutex_t mtx;
	struct dev d[TG_PAGE_GPUS];
	uint64_t refused_launch, refused_alloc, paused_ns, throttled_ns;
	uint64_t mem_total, peak_total_page;
	uint64_t page_gen;
	struct base base;
	uint64_t inst_gen;
	int started;
	int64_t last_publish, last_register;
} ac = { .mtx = PTHREAD_MUTEX_INITIALIZER };

/* ---- devices ------------------------------------------------------- */

static void
dev_learn(struct dev *d, CUdevice dev)
{
	tg_pfn_cuDeviceGetName name = CU_REAL(cuDeviceGetName);
	tg_pfn_cuDeviceGetUuid_v2 uuid = CU_REAL(cuDeviceGetUuid_v2);
	CUuuid u;

	d->ordinal = dev;
	if (name == NULL || name(d->name, sizeof(d->name), dev) != CUDA_SUCCESS)
		snprintf(d->name, sizeof(d->name), "GPU %d", (int)dev);
	d->name[sizeof(d->name) - 1] = '\0';
	if (uuid && uuid(&u, dev) == CUDA_SUCCESS)
		memcpy(d->uuid, u.bytes, sizeof(d->uuid));
	d->used = 1;
}

int
cu_dev_slot(CUdevice dev)
{
	int slot = -1;

	pthread_mutex_lock(&ac.mtx);
	for (int i = 0; i < TG_PAGE_GPUS && slot < 0; i++)
		if (ac.d[i].used && ac.d[i].ordinal == dev)
			slot = i;
	for (int i = 0; i < TG_PAGE_GPUS && slot < 0; i++)
		if (!ac.d[i].used) {
			dev_learn(&ac.d[i], dev);
			slot = i;
		}
	pthread_mutex_unlock(&ac.mtx);
	return slot;
}

static int
valid(int slot)
{
	return slot >= 0 && slot < TG_PAGE_GPUS;
}

void
cu_acct_add_busy(int slot, uint64_t ns)
{
	if (!valid(slot))
		return;
	pthread_mutex_lock(&ac.mtx);
	ac.d[slot].busy_ns += ns;
	pthread_mutex_unlock(&ac.mtx);
}

void
cu_acct_hold_begin(int slot)
{
	if (!valid(slot))
		return;
	pthread_mutex_lock(&ac.mtx);
	if (ac.d[slot].live++ == 0)
		ac.d[slot].held_since = shim_now_mono();
	pthread_mutex_unlock(&ac.mtx);
}

void
cu_acct_hold_end(int slot)
{
	struct dev *d;

	if (!valid(slot))
		return;
	pthread_mutex_lock(&ac.mtx);
	d = &ac.d[slot];
	if (d->live > 0 && --d->live == 0) {
		d->held_ns += (uint64_t)(shim_now_mono() - d->held_since);
		d->held_since = 0;
	}
	pthread_mutex_unlock(&ac.mtx);
	cu_acct_publish();
}

void
cu_acct_mem(int slot, int64_t delta)
{
	pthread_mutex_lock(&ac.mtx);
	ac.mem_total += (uint64_t)delta;
	if (ac.mem_total > ac.peak_total_page)
		ac.peak_total_page = ac.mem_total;
	if (valid(slot)) {
		struct dev *d = &ac.d[slot];

		d->mem += (uint64_t)delta;
		if (d->mem > d->page_peak)
			d->page_peak = d->mem;
	}
	pthread_mutex_unlock(&ac.mtx);
}

void
cu_acct_refused(int what)
{
	pthread_mutex_lock(&ac.mtx);
	if (what == CU_REFUSED_LAUNCH)
		ac.refused_launch++;
	else
		ac.refused_alloc++;
	pthread_mutex_unlock(&ac.mtx);
}

void
cu_acct_blocked(int what, uint64_t ns)
{
	pthread_mutex_lock(&ac.mtx);
	if (what == CU_BLOCKED_PAUSE)
		ac.paused_ns += ns;
	else
		ac.throttled_ns += ns;
	pthread_mutex_unlock(&ac.mtx);
}

/* ---- the page ------------------------------------------------------ */

#define STORE(field, v) __atomic_store_n(&(field), (v), __ATOMIC_RELAXED)

static uint64_t
minus(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

/* A new page: what came before is not its daemon's (see the top). Lock
 * held. */
static void
new_page(uint64_t gen, uint64_t launches, uint64_t graphs, int64_t now)
{
	struct base *b = &ac.base;
	int first = ac.page_gen == 0;

	ac.page_gen = gen;
	memset(b, 0, sizeof(*b));
	ac.peak_total_page = ac.mem_total;
	for (int i = 0; i < TG_PAGE_GPUS; i++)
		ac.d[i].page_peak = ac.d[i].mem;
	if (first)
		return;
	b->since = now;
	b->launches = launches;
	b->graphs = graphs;
	b->refused_launch = ac.refused_launch;
	b->refused_alloc = ac.refused_alloc;
	b->paused_ns = ac.paused_ns;
	b->throttled_ns = ac.throttled_ns;
	for (int i = 0; i < TG_PAGE_GPUS; i++) {
		b->busy[i] = ac.d[i].busy_ns;
		b->held[i] = (int64_t)ac.d[i].held_ns + (ac.d[i].held_since ?
		    now - ac.d[i].held_since : 0);
	}
}

static void
publish_dev(struct tg_page_gpu *p, const struct dev *d, int i,
    uint64_t *busy, uint64_t *held, uint64_t *mem)
{
	int64_t closed = (int64_t)d->held_ns - ac.base.held[i];
	int64_t since = d->held_since;

	if (since && ac.base.since > since)
		since = ac.base.since;
	if (!__atomic_load_n(&p->used, __ATOMIC_ACQUIRE)) {
		STORE(p->ordinal, d->ordinal);
		memcpy(p->name, d->name, sizeof(p->name));
		memcpy(p->uuid, d->uuid, sizeof(p->uuid));
		__atomic_store_n(&p->used, 1, __ATOMIC_RELEASE);
	}
	STORE(p->busy_ns, minus(d->busy_ns, ac.base.busy[i]));
	/* A hold that closed: its start goes first, then its length joins
	 * held_ns; a reader in between sees too little for a moment, never
	 * the hold twice. */
	STORE(p->held_since_ns, since);
	__atomic_store_n(&p->held_ns, (uint64_t)(closed > 0 ? closed : 0),
	    __ATOMIC_RELEASE);
	STORE(p->mem_bytes, d->mem);
	STORE(p->mem_peak_bytes, d->page_peak);
	*busy += minus(d->busy_ns, ac.base.busy[i]);
	*held += (uint64_t)(closed > 0 ? closed : 0);
	*mem += d->mem;
}

void
cu_acct_publish(void)
{
	struct tg_counters_page *p = shim_pages_counters();
	uint64_t launches, graphs, gen, busy = 0, held = 0, mem = 0;
	int64_t now = shim_now_mono();

	if (p == NULL || (gen = shim_pages_generation()) == 0)
		return;
	cu_threads_sum(&launches, &graphs);
	pthread_mutex_lock(&ac.mtx);
	if (gen != ac.page_gen)
		new_page(gen, launches, graphs, now);
	for (int i = 0; i < TG_PAGE_GPUS; i++)
		if (ac.d[i].used)
			publish_dev(&p->gpu[i], &ac.d[i], i, &busy, &held, &mem);
	STORE(p->gpu_launches, minus(launches, ac.base.launches));
	STORE(p->gpu_graph_launches, minus(graphs, ac.base.graphs));
	STORE(p->gpu_busy_ns, busy);
	STORE(p->gpu_held_ns, held);
	STORE(p->gpu_mem_bytes, mem);
	STORE(p->gpu_mem_peak_bytes, ac.peak_total_page);
	STORE(p->gpu_refused_launches,
	    minus(ac.refused_launch, ac.base.refused_launch));
	STORE(p->gpu_refused_allocs,
	    minus(ac.refused_alloc, ac.base.refused_alloc));
	STORE(p->gpu_paused_ns, minus(ac.paused_ns, ac.base.paused_ns));
	STORE(p->gpu_throttled_ns,
	    minus(ac.throttled_ns, ac.base.throttled_ns));
	ac.last_publish = now;
	pthread_mutex_unlock(&ac.mtx);
}

/* ---- registration and the GPU thread -------------------------------- */

/* Register when this process is not registered now (the first time, or
 * after the daemon went away: a hung-up connection is noticed here, one
 * poll per call): the verdict page then exists. At most once per
 * RETRY_REGISTER_NS. */
static void
ensure_registered(int64_t wait_ns)
{
	int64_t now = shim_now_mono();

	if (shim_pages_attached())
		(void)cu_drop_if_daemon_gone(); /* a daemon restart */
	if (!shim_pages_attached() && (ac.last_register == 0 ||
	    now - ac.last_register >= RETRY_REGISTER_NS)) {
		ac.last_register = now;
		if (shim_conn_lock(shim_instance_sync(), now + wait_ns) == 0) {
			(void)shim_conn_ensure(now + wait_ns, 0);
			shim_conn_unlock();
		}
	}
	if (shim_pages_attached())
		atomic_store_explicit(&cu_vpage, shim_pages_verdict(),
		    memory_order_release);
}

static void *
gpu_thread(void *arg)
{
	sigset_t all;

	(void)arg;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	shim_inside = 1; /* our own socket calls are not metered */
	for (;;) {
		int64_t sleep_ns = cu_busy_harvest(), now = shim_now_mono();

		if (now - ac.last_publish >= CU_PUBLISH_NS) {
			ensure_registered(shim_call_ns());
			cu_acct_publish();
		}
		if (sleep_ns > CU_PUBLISH_NS || sleep_ns <= 0)
			sleep_ns = CU_PUBLISH_NS;
		cu_busy_sleep(sleep_ns);
	}
	return NULL;
}

void
cu_acct_start(void)
{
	pthread_t t;
	pthread_attr_t a;
	int start;

	if (!shim_ready())
		return; /* a context made before our init: counted, not sent */
	cu_fork_check();
	pthread_mutex_lock(&ac.mtx);
	start = !ac.started;
	ac.started = 1;
	pthread_mutex_unlock(&ac.mtx);
	ensure_registered(shim_call_ns()); /* a daemon call's deadline */
	if (!start)
		return;
	/* atexit handlers run before the libraries' destructors, libcuda's
	 * included: the last batches are ended and timed, then cu_acct_exit
	 * publishes them. */
	atexit(cu_busy_flush);
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&a, 256 * 1024);
	if (pthread_create(&t, &a, gpu_thread, NULL) != 0) {
		pthread_mutex_lock(&ac.mtx);
		ac.started = 0;
		pthread_mutex_unlock(&ac.mtx);
	}
	pthread_attr_destroy(&a);
}

/* ---- fork and exit --------------------------------------------------- */

/* A new process (fork child): nothing of the parent's GPU state is ours;
 * counting starts again, and the next context registers this process. */
static void
child_reset(void)
{
	pthread_mutex_init(&ac.mtx, NULL);
	memset(ac.d, 0, sizeof(ac.d));
	ac.refused_launch = ac.refused_alloc = 0;
	ac.paused_ns = ac.throttled_ns = 0;
	ac.mem_total = ac.peak_total_page = 0;
	ac.page_gen = 0;
	memset(&ac.base, 0, sizeof(ac.base));
	ac.started = 0;
	ac.last_publish = ac.last_register = 0;
	atomic_store(&cu_vpage, NULL);
	cu_threads_child();
	cu_ctx_child();
	cu_mem_child();
	cu_busy_reset();
	cu_epoch_bump();
}

void
cu_fork_check(void)
{
	uint64_t g = shim_instance_sync();

	if (CU_LIKELY(g == __atomic_load_n(&ac.inst_gen, __ATOMIC_ACQUIRE)))
		return;
	if (ac.inst_gen != 0)
		child_reset();
	__atomic_store_n(&ac.inst_gen, g, __ATOMIC_RELEASE);
}

/* From fork.c's child handler. */
void
cu_atfork_child(void)
{
	if (ac.inst_gen == 0)
		return; /* no CUDA in the parent */
	child_reset();
	ac.inst_gen = shim_instance_sync();
}

__attribute__((destructor)) static void
cu_acct_exit(void)
{
	if (ac.started)
		cu_acct_publish();
}
