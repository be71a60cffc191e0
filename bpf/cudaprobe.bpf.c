// SPDX-License-Identifier: GPL-2.0
/*
 * cudaprobe.bpf.c — uprobes on libcuda.so.1 (kernel side; see cudaprobe.h).
 * The loader attaches the uprobe programs per pid; this side counts only
 * the pids the loader put in "counts", so a trap in any other process
 * (another perf consumer of the same offset) is ignored. Every call is
 * counted in the map; events are rate-limited per process
 * (CP_EMIT_EVERY_NS, cudaprobe.h).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "cudaprobe.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CP_MAX_PIDS);
	__type(key, __u32);
	__type(value, struct cp_state);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

static __always_inline void
emit_at(__u32 tgid, __u32 type, struct cp_counts *c, __u64 now)
{
	struct cp_event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return; /* the next event, or the sweep, reads the counts */
	e->pid = tgid;
	e->type = type;
	e->ts_ns = now;
	e->c.launches = c->launches;
	e->c.graph_launches = c->graph_launches;
	e->c.allocs = c->allocs;
	e->c.alloc_bytes = c->alloc_bytes;
	e->c.frees = c->frees;
	bpf_ringbuf_submit(e, 0); /* adaptive wake-up: one per batch */
}

static __always_inline void
emit(__u32 tgid, __u32 type, struct cp_counts *c)
{
	emit_at(tgid, type, c, bpf_ktime_get_ns());
}

/* A call was counted in s: note its time; an event unless one went out
 * less than CP_EMIT_EVERY_NS ago (two threads may both send one: the
 * counts are cumulative, so that only costs an event). */
static __always_inline void
called(__u32 tgid, __u32 type, struct cp_state *s)
{
	__u64 now = bpf_ktime_get_ns();

	s->last_ns = now;
	if (s->emit_ns != 0 && now - s->emit_ns < CP_EMIT_EVERY_NS)
		return;
	s->emit_ns = now;
	emit_at(tgid, type, &s->c, now);
}

static __always_inline struct cp_state *
watched(__u32 *tgid)
{
	*tgid = bpf_get_current_pid_tgid() >> 32;
	return bpf_map_lookup_elem(&counts, tgid);
}

SEC("uprobe")
int BPF_KPROBE(cp_launch)
{
	struct cp_state *c;
	__u32 tgid;

	if (!(c = watched(&tgid)))
		return 0;
	__sync_fetch_and_add(&c->c.launches, 1);
	called(tgid, CP_EV_LAUNCH, c);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(cp_graph_launch)
{
	struct cp_state *c;
	__u32 tgid;

	if (!(c = watched(&tgid)))
		return 0;
	__sync_fetch_and_add(&c->c.graph_launches, 1);
	called(tgid, CP_EV_LAUNCH, c);
	return 0;
}

/* CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize) */
SEC("uprobe")
int BPF_KPROBE(cp_alloc, void *dptr, __u64 bytesize)
{
	struct cp_state *c;
	__u32 tgid;

	if (!(c = watched(&tgid)))
		return 0;
	__sync_fetch_and_add(&c->c.allocs, 1);
	__sync_fetch_and_add(&c->c.alloc_bytes, bytesize);
	called(tgid, CP_EV_ALLOC, c);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(cp_free)
{
	struct cp_state *c;
	__u32 tgid;

	if (!(c = watched(&tgid)))
		return 0;
	__sync_fetch_and_add(&c->c.frees, 1);
	called(tgid, CP_EV_FREE, c);
	return 0;
}

/* Fires per thread: only the thread group's leader ends the process. */
SEC("tracepoint/sched/sched_process_exit")
int cp_exit(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct cp_state *c;

	if ((__u32)id != tgid)
		return 0;
	if (!(c = bpf_map_lookup_elem(&counts, &tgid)))
		return 0;
	emit(tgid, CP_EV_EXIT, &c->c);
	return 0;
}

/* Audit mode's discovery: attached host-wide to each libcuda file's
 * cuInit (once per process), so a process that dlopens libcuda late is
 * found; the loader then attaches the launch probes to it alone. */
SEC("uprobe")
int BPF_KPROBE(cp_init)
{
	struct cp_counts zero = {};
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (bpf_map_lookup_elem(&counts, &tgid))
		return 0; /* watched already */
	emit(tgid, CP_EV_INIT, &zero);
	return 0;
}

/* Audit mode: the loader reads the new image's maps a little later. */
SEC("tracepoint/sched/sched_process_exec")
int cp_exec(void *ctx)
{
	struct cp_counts zero = {};
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	emit(tgid, CP_EV_EXEC, &zero);
	return 0;
}
