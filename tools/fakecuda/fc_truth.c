/*
 * fc_truth.c — the truth file: what this process really did, as JSON, at
 * FAKECUDA_TRUTH ("%p" there becomes the pid). Written when the library
 * is unloaded (process exit) and after each cuCtxSynchronize, through a
 * temporary file and rename(2), so a reader never sees half of one. A fork
 * child writes one only when the path has "%p" (it would overwrite its
 * parent's otherwise). Calls made after the exit-time write are not in it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fakecuda.h"

static const char *const fn_names[] = {
#define NAME(sym, base, ver, pt, params) #sym,
	TG_CU_FUNCS(NAME)
#undef NAME
};

static const char *const path_names[FC_PATH_COUNT] = {
	"cuLaunchKernel", "cuLaunchKernel_ptsz",
	"cuLaunchKernelEx", "cuLaunchKernelEx_ptsz",
	"cuLaunchCooperativeKernel", "cuLaunchCooperativeKernel_ptsz",
	"cuGraphLaunch", "cuGraphLaunch_ptsz",
};

/* fc_g.lock held. */
static void
sum_threads(struct fc_thread *sum)
{
	const struct fc_thread *t;
	size_t i;

	*sum = fc_g.totals;
	for (t = fc_g.threads; t != NULL; t = t->next) {
		for (i = 0; i < TG_FN_COUNT; i++)
			sum->calls[i] += __atomic_load_n(&t->calls[i], __ATOMIC_RELAXED);
		for (i = 0; i < FC_PATH_COUNT; i++)
			sum->launches[i] += __atomic_load_n(&t->launches[i],
			    __ATOMIC_RELAXED);
		sum->captured += __atomic_load_n(&t->captured, __ATOMIC_RELAXED);
		sum->graphs_captured += __atomic_load_n(&t->graphs_captured,
		    __ATOMIC_RELAXED);
		sum->graph_kernels += __atomic_load_n(&t->graph_kernels,
		    __ATOMIC_RELAXED);
		sum->event_records_in_capture += __atomic_load_n(
		    &t->event_records_in_capture, __ATOMIC_RELAXED);
	}
}

static void
take_spans(struct fc_spans *all, struct fc_stream *s)
{
	size_t i;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < s->spans.n; i++)
		fc_spans_add(all, s->spans.v[i].start, s->spans.v[i].end);
	pthread_mutex_unlock(&s->lock);
}

static int
by_start(const void *a, const void *b)
{
	const struct fc_span *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* The union of every kernel span on d, in ns. */
static int64_t
busy_ns(struct fc_device *d)
{
	struct fc_spans all = { 0 };
	struct fc_stream *s;
	struct fc_ctx *c;
	int64_t sum = 0, end = INT64_MIN;
	size_t i;

	pthread_mutex_lock(&d->lock);
	for (c = d->ctxs; c != NULL; c = c->next) {
		take_spans(&all, &c->legacy);
		pthread_mutex_lock(&c->lock);
		for (s = c->streams; s != NULL; s = s->next)
			take_spans(&all, s);
		pthread_mutex_unlock(&c->lock);
	}
	pthread_mutex_unlock(&d->lock);
	if (all.n > 0)
		qsort(all.v, all.n, sizeof(*all.v), by_start);
	for (i = 0; i < all.n; i++) {
		if (all.v[i].end <= end)
			continue;
		sum += all.v[i].end - fc_max64(all.v[i].start, end);
		end = all.v[i].end;
	}
	free(all.v);
	return sum;
}

static int64_t
held_ns(struct fc_device *d)
{
	int64_t sum = 0;
	size_t i;

	pthread_mutex_lock(&d->lock);
	for (i = 0; i < d->held.n; i++)
		sum += d->held.v[i].end - d->held.v[i].start;
	if (d->live_ctxs > 0)
		sum += fc_now() - d->held_since;
	pthread_mutex_unlock(&d->lock);
	return sum;
}

static void
write_device(FILE *f, struct fc_device *d)
{
	struct fc_mem_stats m;

	fc_mem_snapshot(d, &m);
	fprintf(f, "{\"ordinal\":%d,\"busy_ns\":%lld,\"held_ns\":%lld,"
	    "\"mem_total\":%zu,\"mem_in_use\":%zu,\"mem_hwm\":%zu,"
	    "\"host_in_use\":%zu,\"host_hwm\":%zu,\"allocs\":%llu,"
	    "\"frees\":%llu,\"ooms\":%llu}", d->ordinal,
	    (long long)busy_ns(d), (long long)held_ns(d), m.total, m.used, m.hwm,
	    m.host_used, m.host_hwm, (unsigned long long)m.allocs,
	    (unsigned long long)m.frees, (unsigned long long)m.ooms);
}

static void
write_json(FILE *f, const struct fc_thread *sum)
{
	unsigned long long direct = 0;
	int i, first = 1;

	fprintf(f, "{\"fake\":\"tollgate fakecuda\",\"pid\":%d,\"fork_child\":%s,"
	    "\"driver_version\":%d,\n\"launches\":{", (int)getpid(),
	    fc_g.is_fork_child ? "true" : "false", fc_g.driver_version);
	for (i = 0; i < FC_PATH_COUNT; i++) {
		fprintf(f, "\"%s\":%llu,", path_names[i],
		    (unsigned long long)sum->launches[i]);
		if (i < FC_GRAPH_LAUNCH)
			direct += sum->launches[i];
	}
	direct -= sum->captured;
	fprintf(f, "\"captured\":%llu,\"graphs_captured\":%llu},\n"
	    "\"kernels_run\":{\"direct\":%llu,\"graph\":%llu,\"total\":%llu},\n"
	    "\"event_records_in_capture\":%llu,\n\"devices\":[",
	    (unsigned long long)sum->captured,
	    (unsigned long long)sum->graphs_captured, direct,
	    (unsigned long long)sum->graph_kernels,
	    direct + (unsigned long long)sum->graph_kernels,
	    (unsigned long long)sum->event_records_in_capture);
	for (i = 0; i < fc_g.ndev; i++) {
		fputs(i ? ",\n" : "\n", f);
		write_device(f, &fc_g.dev[i]);
	}
	fputs("],\n\"calls\":{", f);
	for (i = 0; i < TG_FN_COUNT; i++)
		if (sum->calls[i] != 0) {
			fprintf(f, "%s\"%s\":%llu", first ? "" : ",", fn_names[i],
			    (unsigned long long)sum->calls[i]);
			first = 0;
		}
	fputs("}}\n", f);
}

/* FAKECUDA_TRUTH with "%p" made the pid; 0 when this process writes none. */
static int
truth_path(char *out, size_t size)
{
	const char *p = fc_g.truth_path;
	size_t n = 0;
	int has_pid = 0;

	if (*p == '\0')
		return 0;
	for (; *p != '\0' && n + 16 < size; p++) {
		if (p[0] == '%' && p[1] == 'p') {
			n += snprintf(out + n, size - n, "%d", (int)getpid());
			has_pid = 1;
			p++;
		} else
			out[n++] = *p;
	}
	out[n] = '\0';
	return has_pid || !fc_g.is_fork_child;
}

void
fc_truth_write(void)
{
	char path[sizeof(fc_g.truth_path) + 32], tmp[sizeof(path) + 32];
	struct fc_thread *sum;
	FILE *f;

	if (!truth_path(path, sizeof(path)) || (sum = malloc(sizeof(*sum))) == NULL)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid());
	pthread_mutex_lock(&fc_g.lock);
	sum_threads(sum);
	if ((f = fopen(tmp, "w")) != NULL) {
		write_json(f, sum);
		if (fclose(f) == 0)
			rename(tmp, path);
		else
			unlink(tmp);
	}
	pthread_mutex_unlock(&fc_g.lock);
	free(sum);
}
