/*
 * test_shim_cuda_busy.c — busy time (preload/cuda_busy*.c) against the
 * fake driver (tools/fakecuda, build/fakecuda/libcuda.so.1, opened here by
 * path), whose kernels last exactly what their first argument says and
 * whose truth file holds the exact union of their spans.
 *
 * This file stands in for the rest of the shim: the driver's functions
 * (cu_real, cu_real_find: the fake's, by name), cu_epoch, the device slot
 * (one device: 0) and the busy counter. A harvester thread loops like the
 * GPU thread (cu_busy_harvest, cu_busy_sleep); launches go through the
 * same fast/slow split as preload/cuda_launch.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cuda_busy.h"

/* ---- the rest of the shim, as far as cuda_busy needs it ------------- */

void *_Atomic cu_real[TG_FN_COUNT];
_Atomic uint64_t cu_epoch = 1;
static void *fake;
/* libc's dlsym, by version: naming dlsym itself would link the shim's
 * override (preload/cuda_dlsym.c) from the archive, and all it brings. */
static void *(*libc_dlsym)(void *, const char *);
static const char *const fn_names[TG_FN_COUNT] = {
#define NAME(sym, base, ver, pt, params) #sym,
	TG_CU_FUNCS(NAME)
#undef NAME
};

void *
cu_real_find(int i)
{
	void *p = fake ? libc_dlsym(fake, fn_names[i]) : NULL;

	if (p)
		atomic_store(&cu_real[i], p);
	return p;
}

int
cu_ctx_slot(CUcontext ctx)
{
	return ctx ? 0 : -1;
}

static _Atomic uint64_t busy_ns; /* what cu_acct_add_busy received */

void
cu_acct_add_busy(int slot, uint64_t ns)
{
	assert_int_equal(slot, 0);
	atomic_fetch_add(&busy_ns, ns);
}

/* ---- the fake driver ------------------------------------------------ */

#define R(name) CU_REAL(name)
#define CK(call) assert_int_equal((call), CUDA_SUCCESS)
#define MS 1000000LL

static char truth_path[64];
static CUcontext ctx;
static CUfunction fn;

struct truth {
	int64_t busy_ns;
	int64_t records_in_capture;
	int64_t event_creates, event_destroys, event_records;
};

/* The fake writes its truth at every cuCtxSynchronize. */
static struct truth
truth(void)
{
	struct truth t = { 0 };
	json_error_t err;
	json_t *j, *calls;

	CK(R(cuCtxSynchronize)());
	j = json_load_file(truth_path, 0, &err);
	assert_non_null(j);
	t.busy_ns = json_integer_value(json_object_get(json_array_get(
	    json_object_get(j, "devices"), 0), "busy_ns"));
	t.records_in_capture = json_integer_value(json_object_get(j,
	    "event_records_in_capture"));
	calls = json_object_get(j, "calls");
	t.event_creates = json_integer_value(json_object_get(calls,
	    "cuEventCreate"));
	t.event_destroys = json_integer_value(json_object_get(calls,
	    "cuEventDestroy_v2"));
	t.event_records = json_integer_value(json_object_get(calls,
	    "cuEventRecord")) + json_integer_value(json_object_get(calls,
	    "cuEventRecord_ptsz"));
	json_decref(j);
	return t;
}

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void
sleep_ns(int64_t ns)
{
	struct timespec ts = { ns / 1000000000LL, ns % 1000000000LL };

	nanosleep(&ts, NULL);
}

/* ---- the harvester thread ------------------------------------------- */

static struct {
	pthread_mutex_t mtx;
	pthread_cond_t cv;
	pthread_t tid;
	int stop, running;
	uint64_t started, done;  /* rounds */
	int64_t done_ret;        /* what the last done round returned */
	int64_t last_start;      /* when the last round began */
	int64_t late;            /* most a round began late, while live */
} hv = { .mtx = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static void *
harvester(void *arg)
{
	(void)arg;
	for (;;) {
		uint64_t n;
		int64_t ret;

		pthread_mutex_lock(&hv.mtx);
		if (hv.stop) {
			pthread_mutex_unlock(&hv.mtx);
			return NULL;
		}
		n = ++hv.started;
		/* A round late (a loaded machine) is a batch closed late:
		 * the bound grows by as much (see slack). */
		if (hv.done_ret == CB_SHORT_NS && hv.last_start &&
		    now_ns() - hv.last_start - CB_SHORT_NS > hv.late)
			hv.late = now_ns() - hv.last_start - CB_SHORT_NS;
		hv.last_start = now_ns();
		pthread_mutex_unlock(&hv.mtx);
		ret = cu_busy_harvest();
		pthread_mutex_lock(&hv.mtx);
		hv.done = n;
		hv.done_ret = ret;
		pthread_cond_broadcast(&hv.cv);
		pthread_mutex_unlock(&hv.mtx);
		cu_busy_sleep(ret);
	}
}

static void
harvester_start(void)
{
	hv.stop = 0;
	assert_int_equal(pthread_create(&hv.tid, NULL, harvester, NULL), 0);
	hv.running = 1;
}

static void
harvester_stop(void)
{
	pthread_mutex_lock(&hv.mtx);
	hv.stop = 1;
	pthread_mutex_unlock(&hv.mtx);
	pthread_join(hv.tid, NULL);
	hv.running = 0;
}

/* Wait until a round begun after this call found nothing open or
 * waiting: everything launched before is harvested. */
static void
wait_quiet(void)
{
	struct timespec until;
	uint64_t after;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	int rc = 0;

	pthread_mutex_lock(&hv.mtx);
	after = hv.started;
	while (rc == 0 && !(hv.done > after && hv.done_ret == CB_LONG_NS))
		rc = pthread_cond_timedwait(&hv.cv, &hv.mtx, &until);
	pthread_mutex_unlock(&hv.mtx);
	assert_int_equal(rc, 0); /* not with the lock held: it jumps */
}

/* ---- launches, split like cuda_launch.c ----------------------------- */

struct launcher {
	struct cu_thread t;
	int fast, slow, captured;
	int64_t window;  /* summed: slow path begun to launch returned */
};

static CUresult
real_launch(CUstream h, int ptsz, uint32_t us)
{
	void *params[] = { &us };

	if (ptsz)
		return R(cuLaunchKernel_ptsz)(fn, 1, 1, 1, 32, 1, 1, 0, h,
		    params, NULL);
	return R(cuLaunchKernel)(fn, 1, 1, 1, 32, 1, 1, 0, h, params, NULL);
}

static void
launch(struct launcher *l, CUstream h, int ptsz, uint32_t us)
{
	struct cu_thread *t = &l->t;
	struct cu_ticket tk;
	CUresult rc;

	if (t->epoch == atomic_load(&cu_epoch) && t->stream == h &&
	    t->ptsz == ptsz) {
		l->fast++;
		CK(real_launch(h, ptsz, us));
		return;
	}
	l->slow++;
	l->window -= now_ns();
	cu_busy_before(t, h, ptsz, &tk);
	rc = real_launch(h, ptsz, us);
	l->window += now_ns();
	if (tk.record_after && t->stream == h && t->ptsz == ptsz)
		t->epoch = 0; /* as cuda_launch.c's forget_stream */
	cu_busy_after(t, &tk, rc);
	CK(rc);
	if (!tk.count)
		l->captured++;
}

/* n launches back to back; they take microseconds, so starting on a
 * fresh time slice (sched_yield) keeps a loaded machine from stretching
 * them into a stream that runs dry midway (see queued). */
static void
burst(struct launcher *l, CUstream h, int ptsz, int n, uint32_t us)
{
	sched_yield();
	for (int i = 0; i < n; i++)
		launch(l, h, ptsz, us);
}

/* Work that keeps its stream busy from the first launch to the last
 * even if this thread is descheduled for a while in between: a long
 * kernel first, the short ones queue behind it. (A stream gone idle
 * mid-burst, on a loaded machine, would rightly count the gap up to the
 * harvester's next look, and the truth would not.) */
static void
queued(struct launcher *l, CUstream h, uint32_t first_us, int n,
    uint32_t us)
{
	sched_yield();
	launch(l, h, 0, first_us);
	burst(l, h, 0, n, us);
}

static CUstream
stream(unsigned flags)
{
	CUstream s;

	CK(R(cuStreamCreate)(&s, flags));
	return s;
}

/* As cuda_stream.c's cuStreamDestroy_v2 does. */
static void
destroy(CUstream s)
{
	cu_busy_stream_gone(s);
	CK(R(cuStreamDestroy_v2)(s));
}

/* What the machine's load may add to a measure, beyond the design's
 * own error: the harvester's lateness (a round due every CB_SHORT_NS
 * that began later) once per busy→idle transition, and the time a
 * launching thread spent between recording A and its launch reaching
 * the driver (descheduled there, the stream sits idle inside the batch).
 * On an idle machine both are a few µs. Starts counting afresh. */
static int64_t
slack(struct launcher *l, int transitions)
{
	int64_t late;

	pthread_mutex_lock(&hv.mtx);
	late = hv.late;
	hv.late = 0;
	pthread_mutex_unlock(&hv.mtx);
	return l->window + transitions * late;
}

static void
slack_reset(struct launcher *l)
{
	(void)slack(l, 0);
	l->window = 0;
}

/* want - tol <= got <= want + tol + over */
static void
assert_near(int64_t got, int64_t want, int64_t tol, int64_t over)
{
	if (got < want - tol || got > want + tol + over)
		fail_msg("got %lld ns, want %lld - %lld + %lld", (long long)got,
		    (long long)want, (long long)tol, (long long)(tol + over));
}

/* ---- set-up ---------------------------------------------------------- */

static int
setup(void **state)
{
	char exe[PATH_MAX], lib[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	CUdevice dev;
	CUmodule mod;

	if (n <= 0)
		return -1;
	exe[n] = 0;
	/* build/tests/test_shim_cuda_busy → build/fakecuda/libcuda.so.1 */
	snprintf(lib, sizeof(lib), "%s/../fakecuda/libcuda.so.1", dirname(exe));
	snprintf(truth_path, sizeof(truth_path), "/tmp/tg_busy_truth.%d.json",
	    (int)getpid());
	setenv("FAKECUDA_TRUTH", truth_path, 1);
	if ((libc_dlsym = dlvsym(RTLD_DEFAULT, "dlsym", "GLIBC_2.34")) == NULL &&
	    (libc_dlsym = dlvsym(RTLD_DEFAULT, "dlsym", "GLIBC_2.2.5")) == NULL)
		return -1;
	if ((fake = dlopen(lib, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		fprintf(stderr, "%s\n", dlerror());
		return -1;
	}
	if (R(cuInit)(0) || R(cuDeviceGet)(&dev, 0) ||
	    R(cuCtxCreate_v2)(&ctx, 0, dev) ||
	    R(cuModuleLoadData)(&mod, "module") ||
	    R(cuModuleGetFunction)(&fn, mod, "spin"))
		return -1;
	harvester_start();
	return 0;
}

static int
teardown(void **state)
{
	if (hv.running)
		harvester_stop();
	/* The fake writes its truth once more when unloaded: unload it
	 * first, so the file goes for good. */
	memset((void *)cu_real, 0, sizeof(cu_real));
	dlclose(fake);
	fake = NULL;
	unlink(truth_path);
	return 0;
}

/* ---- the cases ------------------------------------------------------- */

/* 100 kernels of 200 µs on one stream: 20 ms, within 1%; all but the
 * first launches take the fast path. The batch opens while the harvester
 * sleeps long: it must wake, or its first look comes after the end. */
static void
test_one_stream(void **state)
{
	struct launcher l = { 0 };
	CUstream s = stream(CU_STREAM_NON_BLOCKING);
	struct truth t0, t1;
	uint64_t b0;

	wait_quiet();
	t0 = truth();
	b0 = busy_ns;
	slack_reset(&l);
	burst(&l, s, 0, 100, 200);
	CK(R(cuStreamSynchronize)(s));
	wait_quiet();
	t1 = truth();
	assert_int_equal(t1.busy_ns - t0.busy_ns, 20 * MS);
	assert_near((int64_t)(busy_ns - b0), 20 * MS, 20 * MS / 100,
	    slack(&l, 1));
	/* The harvester's rounds move cu_epoch (a probe): a launch or two
	 * may take the slow path again. */
	assert_int_equal(l.slow + l.fast, 100);
	assert_true(l.fast >= 90);
	destroy(s);
}

/* Two non-blocking streams running side by side count once: the union,
 * not the 20 ms sum; then a partial overlap (5 ms apart). */
static void
test_overlapping_streams(void **state)
{
	struct launcher l = { 0 };
	CUstream a = stream(CU_STREAM_NON_BLOCKING);
	CUstream b = stream(CU_STREAM_NON_BLOCKING);
	struct truth t0, t1;
	int64_t truth_ns, got;
	uint64_t b0;

	wait_quiet();
	t0 = truth();
	b0 = busy_ns;
	slack_reset(&l);
	launch(&l, a, 0, 5000);
	launch(&l, b, 0, 5000);
	for (int i = 0; i < 25; i++) {
		launch(&l, a, 0, 200);
		launch(&l, b, 0, 200);
	}
	CK(R(cuStreamSynchronize)(a));
	CK(R(cuStreamSynchronize)(b));
	wait_quiet();
	t1 = truth();
	truth_ns = t1.busy_ns - t0.busy_ns;
	got = (int64_t)(busy_ns - b0);
	assert_true(truth_ns >= 10 * MS && truth_ns < 11 * MS);
	assert_near(got, truth_ns, truth_ns / 100, slack(&l, 2));

	t0 = t1;
	b0 = busy_ns;
	slack_reset(&l);
	queued(&l, a, 5000, 25, 200);
	sleep_ns(5 * MS);
	queued(&l, b, 5000, 25, 200);
	CK(R(cuStreamSynchronize)(b));
	wait_quiet();
	t1 = truth();
	truth_ns = t1.busy_ns - t0.busy_ns;
	got = (int64_t)(busy_ns - b0);
	/* 5 ms apart, or more on a loaded machine: never the 40 ms sum. */
	assert_true(truth_ns >= 15 * MS && truth_ns <= 20 * MS);
	assert_near(got, truth_ns, truth_ns / 100, slack(&l, 2));
	destroy(a);
	destroy(b);
}

/* 10 ms, an idle gap of 50 ms, 10 ms: the gap is not busy. The bound is
 * one harvest period per busy→idle transition; on an explicit stream and
 * on the legacy one. */
static void
test_idle_gap_not_counted(void **state)
{
	CUstream streams[2] = { stream(CU_STREAM_NON_BLOCKING), NULL };

	for (int i = 0; i < 2; i++) {
		struct launcher l = { 0 };
		CUstream s = streams[i];
		struct truth t0, t1;
		uint64_t b0;

		wait_quiet();
		t0 = truth();
		b0 = busy_ns;
		slack_reset(&l);
		launch(&l, s, 0, 10000);
		sleep_ns(50 * MS);
		launch(&l, s, 0, 10000);
		CK(R(cuStreamSynchronize)(s));
		wait_quiet();
		t1 = truth();
		assert_int_equal(t1.busy_ns - t0.busy_ns, 20 * MS);
		assert_near((int64_t)(busy_ns - b0), 20 * MS, 2 * CB_SHORT_NS,
		    slack(&l, 2));
	}
	destroy(streams[0]);
}

/* Per-thread default streams: only their thread can end a batch; two
 * threads launch 100 ms each on theirs, synchronize and exit (the batch
 * ends at exit). */
static void *
ptds_thread(void *arg)
{
	struct launcher *l = arg;

	if (R(cuCtxSetCurrent)(ctx) != CUDA_SUCCESS)
		return "set";
	for (int i = 0; i < 100; i++)
		launch(l, NULL, 1, 1000);
	if (R(cuStreamSynchronize_ptsz)(NULL) != CUDA_SUCCESS)
		return "sync";
	return NULL;
}

static void
test_per_thread_streams(void **state)
{
	struct launcher l[2];
	pthread_t tid[2];
	struct truth t0, t1;
	void *ret;
	uint64_t b0;

	int64_t start, end, got, want;

	memset(l, 0, sizeof(l));
	wait_quiet();
	t0 = truth();
	b0 = busy_ns;
	start = now_ns();
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&tid[i], NULL, ptds_thread,
		    &l[i]), 0);
	for (int i = 0; i < 2; i++) {
		pthread_join(tid[i], &ret);
		assert_null(ret);
	}
	end = now_ns();
	wait_quiet();
	t1 = truth();
	/* Side by side: the union is about 100 ms, not 200. */
	want = t1.busy_ns - t0.busy_ns;
	assert_true(want >= 100 * MS && want < 110 * MS);
	/* All of it, once: at least the truth (less 1%); at most the wall
	 * time the threads lived — a batch ends at the thread's exit, after
	 * its synchronize, so that wait counts (the documented bound). */
	got = (int64_t)(busy_ns - b0);
	assert_true(got >= want - want / 100);
	assert_true(got <= end - start);
}

/* A stream captured into a graph gets no event; neither the harvester's
 * queries (other streams, another thread) nor ours invalidate the GLOBAL
 * capture; the legacy stream is left alone meanwhile; the captured
 * launches count 0 kernels and no busy time. */
static void
test_capture(void **state)
{
	struct launcher l = { 0 };
	CUstream cap = stream(0); /* blocking */
	CUstream other = stream(CU_STREAM_NON_BLOCKING);
	struct truth t0, t1;
	CUgraph g;
	uint64_t b0;

	wait_quiet();
	t0 = truth();
	b0 = busy_ns;
	slack_reset(&l);
	launch(&l, NULL, 0, 30000);   /* legacy: a batch open */
	launch(&l, cap, 0, 2000);     /* a batch open on cap */
	queued(&l, other, 10000, 10, 1000);
	cu_busy_capture_begin(cap, 0);
	CK(R(cuStreamBeginCapture_v2)(cap, CU_STREAM_CAPTURE_MODE_GLOBAL));
	burst(&l, cap, 0, 10, 500);
	sleep_ns(20 * MS);            /* harvest rounds during the capture */
	assert_int_equal(R(cuStreamEndCapture)(cap, &g), CUDA_SUCCESS);
	cu_busy_capture_end(cap, 0);
	assert_int_equal(l.captured, 10);
	launch(&l, cap, 0, 1000);     /* counted again */
	assert_int_equal(l.captured, 10);
	CK(R(cuStreamSynchronize)(cap));
	CK(R(cuStreamSynchronize)(other));
	CK(R(cuStreamSynchronize)(NULL));
	wait_quiet();
	t1 = truth();
	assert_int_equal(t1.records_in_capture, t0.records_in_capture);
	assert_near((int64_t)(busy_ns - b0), t1.busy_ns - t0.busy_ns,
	    (t1.busy_ns - t0.busy_ns) / 100, slack(&l, 4));
	CK(R(cuGraphDestroy)(g));
	destroy(cap);
	destroy(other);
}

/* A stream destroyed with its work queued: the batch is ended behind
 * that work and still counted. */
static void
test_stream_destroyed(void **state)
{
	struct launcher l = { 0 };
	CUstream s = stream(CU_STREAM_NON_BLOCKING);
	struct truth t0, t1;
	uint64_t b0;

	wait_quiet();
	t0 = truth();
	b0 = busy_ns;
	slack_reset(&l);
	queued(&l, s, 3000, 4, 500);
	cu_busy_stream_gone(s);
	CK(R(cuStreamDestroy_v2)(s));
	sleep_ns(6 * MS);
	wait_quiet();
	t1 = truth();
	assert_int_equal(t1.busy_ns - t0.busy_ns, 5 * MS);
	assert_near((int64_t)(busy_ns - b0), 5 * MS, 5 * MS / 100,
	    slack(&l, 1));
}

/* A context synchronized and destroyed at once, before any harvest
 * round could close its batch: what completed is still counted. */
static void
test_context_destroyed(void **state)
{
	struct launcher l = { 0 };
	struct truth t0, t1;
	int64_t start, end, got;
	CUcontext c2;
	CUdevice dev;
	uint64_t b0;

	wait_quiet();
	t0 = truth();
	b0 = busy_ns;
	harvester_stop(); /* no round in between */
	CK(R(cuDeviceGet)(&dev, 0));
	CK(R(cuCtxCreate_v2)(&c2, 0, dev)); /* current now */
	start = now_ns();
	burst(&l, NULL, 0, 20, 2500);
	/* Not cuCtxSynchronize: the fake writes its truth file then, and
	 * the batch's end is recorded when the context goes. */
	CK(R(cuStreamSynchronize)(NULL));
	cu_busy_ctx_gone(c2);
	end = now_ns();
	CK(R(cuCtxDestroy_v2)(c2));
	CK(R(cuCtxSetCurrent)(ctx));
	harvester_start();
	wait_quiet();
	t1 = truth();
	assert_int_equal(t1.busy_ns - t0.busy_ns, 50 * MS);
	/* The batch ends when the context goes (no harvest round saw the
	 * stream idle): at least the 50 ms, at most the wall time from the
	 * first launch to cu_busy_ctx_gone. */
	got = (int64_t)(busy_ns - b0);
	assert_true(got >= 50 * MS - 50 * MS / 100);
	assert_true(got <= end - start);
}

/* At process exit (cu_busy_flush): batches the harvester has not closed
 * yet end now, this thread's per-thread stream's included, and what
 * completed is counted. */
static void
test_flush_at_exit(void **state)
{
	struct launcher l = { 0 };
	CUstream s = stream(CU_STREAM_NON_BLOCKING);
	struct truth t0, t1;
	int64_t start, end, got, want;
	uint64_t b0;

	wait_quiet();
	t0 = truth();
	b0 = busy_ns;
	harvester_stop(); /* no round closes them first */
	start = now_ns();
	queued(&l, s, 5000, 10, 100);   /* 6 ms, explicit */
	sched_yield();
	launch(&l, NULL, 1, 6000);      /* 6 ms beside it, per-thread */
	CK(R(cuStreamSynchronize)(s));
	CK(R(cuStreamSynchronize_ptsz)(NULL));
	cu_busy_flush();
	end = now_ns();
	harvester_start();
	wait_quiet();
	t1 = truth();
	want = t1.busy_ns - t0.busy_ns;
	assert_true(want >= 6 * MS && want < 7 * MS);
	got = (int64_t)(busy_ns - b0);
	assert_true(got >= want - want / 100);
	assert_true(got <= end - start);
	destroy(s);
}

/* Once the free lists are stocked, batch after batch creates and
 * destroys no event. */
static void
test_steady_state_makes_no_events(void **state)
{
	struct launcher l = { 0 };
	CUstream s = stream(CU_STREAM_NON_BLOCKING);
	struct truth t0, t1;

	for (int i = 0; i < 20; i++) {
		burst(&l, s, 0, 5, 200);
		burst(&l, NULL, 0, 2, 300);
		sleep_ns(3 * MS);
	}
	CK(R(cuCtxSynchronize)());
	wait_quiet();
	t0 = truth();
	for (int i = 0; i < 20; i++) {
		burst(&l, s, 0, 5, 200);
		burst(&l, NULL, 0, 2, 300);
		sleep_ns(3 * MS);
	}
	CK(R(cuCtxSynchronize)());
	wait_quiet();
	t1 = truth();
	assert_true(t1.event_records - t0.event_records >= 40);
	assert_int_equal(t1.event_creates, t0.event_creates);
	assert_int_equal(t1.event_destroys, t0.event_destroys);
	destroy(s);
}

/* A fork child's reset forgets every batch and calls no driver function:
 * the parent's events are not the child's. */
static void
test_reset_forgets_without_calls(void **state)
{
	struct launcher l = { 0 };
	CUstream s = stream(CU_STREAM_NON_BLOCKING);
	struct truth t0, t1;
	uint64_t b0;

	wait_quiet();
	harvester_stop();
	launch(&l, s, 0, 20000);      /* a batch open */
	t0 = truth();                 /* waits for the kernel */
	b0 = busy_ns;
	cu_busy_reset();
	cu_epoch_bump();
	t1 = truth();
	assert_int_equal(t1.event_creates, t0.event_creates);
	assert_int_equal(t1.event_destroys, t0.event_destroys);
	assert_int_equal(t1.event_records, t0.event_records);
	/* Nothing open, nothing to time: the long sleep, no busy time. */
	assert_int_equal(cu_busy_harvest(), CB_LONG_NS);
	assert_int_equal(busy_ns, b0);
	harvester_start();
	destroy(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_stream),
		cmocka_unit_test(test_overlapping_streams),
		cmocka_unit_test(test_idle_gap_not_counted),
		cmocka_unit_test(test_per_thread_streams),
		cmocka_unit_test(test_capture),
		cmocka_unit_test(test_stream_destroyed),
		cmocka_unit_test(test_context_destroyed),
		cmocka_unit_test(test_flush_at_exit),
		cmocka_unit_test(test_steady_state_makes_no_events),
		cmocka_unit_test(test_reset_forgets_without_calls),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
