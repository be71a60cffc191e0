/*
 * cuda_rate — launches that record when each one returned
 * (CLOCK_MONOTONIC) and what it answered: a throttle's rate, a pause's
 * gap and how soon launches resumed, a deny's error code are read from
 * these timestamps, not from how long a test took.
 *
 * usage: cuda_rate [-r mode] [-P] [-n launches] [-d µs] [-i µs] [-s]
 *            [-w] [-o file] [-W]
 *   -r, -P  how functions are found (cuda_prog.h; default link)
 *   -n      launches; 0: until stdin is closed (a test decides when)
 *   -d      each kernel's duration in µs (default 0)
 *   -i      µs to sleep after each launch (default 0: back to back)
 *   -s      launch on a stream of its own (default the NULL stream)
 *   -w      watch the verdict page of a tollgate shim, if one is mapped
 *           ("memfd:tollgate-verdict" in /proc/self/maps; the word is
 *           polled every 100 µs by a thread): when it changed, and to
 *           what — the moment a resumed launch is measured from. The
 *           first launch waits until the page was seen (at most 1 s)
 *   -o      write every launch as "t_ns rc" lines to file
 *   -W      after printing, wait until stdin is closed (with -n > 0; a
 *           test reads what a shim published about the live process)
 * Every launch is counted whatever it answered; the exit status is 0
 * unless a set-up call fails. Prints one JSON line:
 *   {"launches":N,"rc":{"0":N0,"800":N1,...},"first_ns":T,"last_ns":T,
 *    "rate":R,"max_gap_ns":G,"max_gap_end_ns":T,"verdicts":[[t,w],...],
 *    "mismatch":M,"kernels_run":K,"calls":{"cuLaunchKernel":N}}
 *   kernels_run: the launches that answered CUDA_SUCCESS; calls: every
 *   launch by the name of the function called; mismatch: cuda_prog.h's.
 *   rate: (N - 1) / (last - first) in launches per second, over the
 *   launches that answered CUDA_SUCCESS; max_gap: the longest time between
 *   two consecutive launches' returns, and when the later one returned.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "cuda_prog.h"
#include "page.h"

#define MAX_VERDICTS 64
#define MAX_CODES 16

static struct {
	tg_pfn_cuLaunchKernel launch;
	tg_pfn_cuStreamCreate stream_create;
	tg_pfn_cuStreamDestroy_v2 stream_destroy;
	tg_pfn_cuCtxSynchronize sync;
	tg_pfn_cuDevicePrimaryCtxRelease_v2 release;
} a;

static atomic_int stdin_closed, stop_watch, watch_ready;
static long long verdict_at[MAX_VERDICTS];
static uint32_t verdict_word[MAX_VERDICTS];
static int nverdicts;

static long long
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *
read_stdin(void *arg)
{
	while (getchar() != EOF)
		;
	atomic_store(&stdin_closed, 1);
	return NULL;
}

/* The shim's verdict page, once it is mapped (NULL until then). */
static const struct tg_verdict_page *
find_verdict_page(void)
{
	char line[512];
	unsigned long lo;
	FILE *f = fopen("/proc/self/maps", "r");
	const struct tg_verdict_page *v = NULL;

	if (f == NULL)
		return NULL;
	while (v == NULL && fgets(line, sizeof(line), f))
		if (strstr(line, "memfd:tollgate-verdict") &&
		    sscanf(line, "%lx-", &lo) == 1)
			v = (const struct tg_verdict_page *)lo;
	fclose(f);
	return v;
}

/* Records each change of the verdict word, the first sighting included.
 * Ready once the page was seen, or after 1 s without one (no shim). */
static void *
watch(void *arg)
{
	const struct tg_verdict_page *v = NULL;
	struct timespec tick = { 0, 100000 };
	uint32_t last = UINT32_MAX, w;
	long long give_up = mono_ns() + 1000000000LL;

	while (!atomic_load(&stop_watch)) {
		if (v == NULL)
			v = find_verdict_page();
		if (v != NULL || mono_ns() > give_up)
			atomic_store(&watch_ready, 1);
		if (v != NULL && (w = __atomic_load_n(&v->verdict,
		    __ATOMIC_ACQUIRE)) != last && nverdicts < MAX_VERDICTS) {
			verdict_at[nverdicts] = mono_ns();
			verdict_word[nverdicts++] = w;
			last = w;
		}
		nanosleep(&tick, NULL);
	}
	return NULL;
}

static void
setup(struct resolver *r, CUfunction *fn)
{
	tg_pfn_cuInit init = current(r, "cuInit");
	tg_pfn_cuDevicePrimaryCtxRetain retain =
	    current(r, "cuDevicePrimaryCtxRetain");
	tg_pfn_cuCtxSetCurrent set = current(r, "cuCtxSetCurrent");
	tg_pfn_cuModuleLoadData load = current(r, "cuModuleLoadData");
	tg_pfn_cuModuleGetFunction function = current(r, "cuModuleGetFunction");
	CUcontext ctx;
	CUmodule mod;

	a.launch = current(r, "cuLaunchKernel");
	a.stream_create = current(r, "cuStreamCreate");
	a.stream_destroy = current(r, "cuStreamDestroy");
	a.sync = r->fn[TG_FN_cuCtxSynchronize];
	a.release = current(r, "cuDevicePrimaryCtxRelease");
	CHECK(init(0));
	CHECK(retain(&ctx, 0));
	CHECK(set(ctx));
	CHECK(load(&mod, "module"));
	CHECK(function(fn, mod, "spin"));
}

struct tally {
	int code[MAX_CODES];
	long count[MAX_CODES];
	int ncodes;
	long n, ok;
	long long first, last, prev, max_gap, max_gap_end;
};

static void
tally(struct tally *t, CUresult rc, long long at)
{
	int i;

	for (i = 0; i < t->ncodes && t->code[i] != (int)rc; i++)
		;
	if (i == t->ncodes && t->ncodes < MAX_CODES)
		t->code[t->ncodes++] = (int)rc;
	if (i < t->ncodes)
		t->count[i]++;
	if (t->n > 0 && at - t->prev > t->max_gap) {
		t->max_gap = at - t->prev;
		t->max_gap_end = at;
	}
	t->prev = at;
	t->n++;
	if (rc == CUDA_SUCCESS) {
		if (t->ok++ == 0)
			t->first = at;
		t->last = at;
	}
}

static void
print_json(const struct tally *t, struct resolver *r)
{
	int i;

	printf("{\"launches\":%ld,\"rc\":{", t->n);
	for (i = 0; i < t->ncodes; i++)
		printf("%s\"%d\":%ld", i ? "," : "", t->code[i], t->count[i]);
	printf("},\"first_ns\":%lld,\"last_ns\":%lld,\"rate\":%.3f,"
	    "\"max_gap_ns\":%lld,\"max_gap_end_ns\":%lld,\"verdicts\":[",
	    t->first, t->last, t->ok > 1 && t->last > t->first ?
	    (t->ok - 1) * 1e9 / (double)(t->last - t->first) : 0.0,
	    t->max_gap, t->max_gap_end);
	for (i = 0; i < nverdicts; i++)
		printf("%s[%lld,%u]", i ? "," : "", verdict_at[i],
		    verdict_word[i]);
	printf("],\"mismatch\":%d,\"kernels_run\":%ld,\"calls\":{\"%s\":%ld}}\n",
	    r->mismatch, t->ok, name_of(r, (void *)a.launch), t->n);
}

int
main(int argc, char **argv)
{
	struct resolver r;
	struct tally t = { .ncodes = 0 };
	struct timespec gap;
	const char *mode = "link", *out = NULL;
	long n = 100, i;
	unsigned us = 0, interval = 0;
	int c, pt = 0, own_stream = 0, watching = 0, wait = 0;
	pthread_t reader, watcher;
	CUfunction fn;
	CUstream s = NULL;
	FILE *f = NULL;

	while ((c = getopt(argc, argv, "r:Pn:d:i:swo:W")) != -1) {
		switch (c) {
		case 'r': mode = optarg; break;
		case 'P': pt = 1; break;
		case 'n': n = atol(optarg); break;
		case 'd': us = atoi(optarg); break;
		case 'i': interval = atoi(optarg); break;
		case 's': own_stream = 1; break;
		case 'w': watching = 1; break;
		case 'o': out = optarg; break;
		case 'W': wait = 1; break;
		default: die("usage: see the comment at the top of cuda_rate.c");
		}
	}
	gap = (struct timespec){ interval / 1000000, interval % 1000000 * 1000L };
	if (out && (f = fopen(out, "w")) == NULL)
		die("cannot write %s", out);
	resolver_init(&r, mode, pt);
	setup(&r, &fn);
	if (own_stream)
		CHECK(a.stream_create(&s, 0));
	if (watching && pthread_create(&watcher, NULL, watch, NULL) != 0)
		die("pthread_create");
	while (watching && !atomic_load(&watch_ready))
		sched_yield();
	if (n == 0 && pthread_create(&reader, NULL, read_stdin, NULL) != 0)
		die("pthread_create");
	for (i = 0; n == 0 ? !atomic_load(&stdin_closed) : i < n; i++) {
		void *params[] = { &us };
		CUresult rc = a.launch(fn, 1, 1, 1, 32, 1, 1, 0, s, params, NULL);
		long long at = mono_ns();

		tally(&t, rc, at);
		if (f)
			fprintf(f, "%lld %d\n", at, (int)rc);
		if (interval)
			nanosleep(&gap, NULL);
	}
	CHECK(a.sync());
	if (own_stream)
		CHECK(a.stream_destroy(s));
	CHECK(a.release(0)); /* the hold ends here, not at exit */
	if (watching) {
		atomic_store(&stop_watch, 1);
		pthread_join(watcher, NULL);
	}
	if (f)
		fclose(f);
	print_json(&t, &r);
	fflush(stdout);
	while (wait && n > 0 && getchar() != EOF)
		;
	return 0;
}
