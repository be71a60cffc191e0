// SPDX-License-Identifier: GPL-2.0
/*
 * gpudev.bpf.c — GPU device holders, kernel side (see gpudev.h): opens of
 * paths under the prefix, closes and ioctls of those fds, exec and exit
 * and fork of the processes that hold them.
 *
 * Every open, close and ioctl on the host passes through here, so the
 * common case is one hash lookup that misses: opens whose path can be read
 * at entry and does not match are dropped there; closes and ioctls look up
 * the process in "procs" first (few entries, small key).
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "gpudev.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by the loader before load. */
const volatile char gd_prefix[GD_PREFIX_MAX] = {};
const volatile __u32 gd_prefix_len = 0;

/* openat entered by a thread: the user pointer to its path. The path is
 * read again at exit, when the kernel has faulted its page in. LRU: an
 * entry whose exit was never seen (attached in between) ages out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, __u64);
} opening SEC(".maps");

/* close entered by a thread on a GPU fd: the fd, reported at exit. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __s32);
} closing SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GD_MAX_FDS);
	__type(key, struct gd_fd_key);
	__type(value, __u8);
} fds SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GD_MAX_PROCS);
	__type(key, __u32);
	__type(value, struct gd_proc);
} procs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

static __always_inline void
emit(__u32 tgid, __u32 type, __s32 fd)
{
	struct gd_event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return; /* the loader's once-a-second rescan makes up for it */
	e->pid = tgid;
	e->type = type;
	e->fd = fd;
	e->pad = 0;
	e->ts_ns = bpf_ktime_get_ns();
	bpf_ringbuf_submit(e, 0);
}

/* 1: the user string at p starts with the prefix; 0: it does not;
 * -1: it could not be read. */
static __always_inline int
prefix_match(const char *p)
{
	char buf[GD_PREFIX_MAX];
	int i;

	if (bpf_probe_read_user_str(buf, sizeof(buf), p) < 0)
		return -1;
	for (i = 0; i < GD_PREFIX_MAX; i++) {
		if (i >= gd_prefix_len)
			return 1;
		if (buf[i] != gd_prefix[i])
			return 0;
	}
	return 1;
}

static __always_inline int
open_enter(const char *path)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 p = (__u64)path;

	if (prefix_match(path) == 0)
		return 0;
	bpf_map_update_elem(&opening, &tid, &p, BPF_ANY);
	return 0;
}

static __always_inline int
open_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct gd_fd_key k = { .tgid = id >> 32, .fd = (__s32)ret };
	struct gd_proc zero = {};
	__u8 one = 1;
	__u64 *p;
	int m;

	if (!(p = bpf_map_lookup_elem(&opening, &tid)))
		return 0;
	m = prefix_match((const char *)*p);
	bpf_map_delete_elem(&opening, &tid);
	if (m != 1 || ret < 0)
		return 0;
	bpf_map_update_elem(&procs, &k.tgid, &zero, BPF_NOEXIST);
	bpf_map_update_elem(&fds, &k, &one, BPF_ANY);
	emit(k.tgid, GD_EV_OPEN, k.fd);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_openat")
int gd_openat_enter(struct trace_event_raw_sys_enter *ctx)
{
	return open_enter((const char *)ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_exit_openat")
int gd_openat_exit(struct trace_event_raw_sys_exit *ctx)
{
	return open_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_openat2")
int gd_openat2_enter(struct trace_event_raw_sys_enter *ctx)
{
	return open_enter((const char *)ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int gd_openat2_exit(struct trace_event_raw_sys_exit *ctx)
{
	return open_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_open")
int gd_open_enter(struct trace_event_raw_sys_enter *ctx)
{
	return open_enter((const char *)ctx->args[0]);
}

SEC("tracepoint/syscalls/sys_exit_open")
int gd_open_exit(struct trace_event_raw_sys_exit *ctx)
{
	return open_exit(ctx->ret);
}

/* close(2) frees the fd whatever it returns; the event goes at exit so
 * that the loader's /proc rescan no longer sees the fd. */
SEC("tracepoint/syscalls/sys_enter_close")
int gd_close_enter(struct trace_event_raw_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct gd_fd_key k = { .tgid = id >> 32, .fd = (__s32)ctx->args[0] };

	if (!bpf_map_lookup_elem(&procs, &k.tgid) ||
	    bpf_map_delete_elem(&fds, &k) != 0)
		return 0;
	bpf_map_update_elem(&closing, &tid, &k.fd, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_close")
int gd_close_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	__s32 *fd;

	if (!(fd = bpf_map_lookup_elem(&closing, &tid)))
		return 0;
	emit(id >> 32, GD_EV_CLOSE, *fd);
	bpf_map_delete_elem(&closing, &tid);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_ioctl")
int gd_ioctl(struct trace_event_raw_sys_enter *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct gd_fd_key k = { .tgid = id >> 32, .fd = (__s32)ctx->args[0] };
	struct gd_proc *p;

	if (!(p = bpf_map_lookup_elem(&procs, &k.tgid)) ||
	    !bpf_map_lookup_elem(&fds, &k))
		return 0;
	__sync_fetch_and_add(&p->ioctls, 1);
	p->last_ioctl_ns = bpf_ktime_get_ns();
	return 0;
}

SEC("tracepoint/sched/sched_process_exec")
int gd_exec(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (bpf_map_lookup_elem(&procs, &tgid))
		emit(tgid, GD_EV_EXEC, -1);
	return 0;
}

/* Fires per thread: only the thread group's leader ends the process. */
SEC("tracepoint/sched/sched_process_exit")
int gd_exit(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;

	if ((__u32)id != tgid || !bpf_map_lookup_elem(&procs, &tgid))
		return 0;
	emit(tgid, GD_EV_EXIT, -1);
	return 0;
}

/* A holder's new process (not a new thread) inherits its fds: the loader
 * reads them from /proc/CHILD/fd. A raw tracepoint, for the child's tgid. */
SEC("raw_tp/sched_process_fork")
int BPF_PROG(gd_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 cpid = BPF_CORE_READ(child, pid);

	if (cpid != (__u32)BPF_CORE_READ(child, tgid) ||
	    !bpf_map_lookup_elem(&procs, &tgid))
		return 0;
	emit(cpid, GD_EV_FORK, -1);
	return 0;
}
