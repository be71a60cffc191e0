// SPDX-License-Identifier: GPL-2.0
/*
 * tlsaudit.bpf.c — uprobes/uretprobes on SSL_write, SSL_write_ex, SSL_read
 * and SSL_read_ex (kernel side; see tlsaudit.h). The loader attaches them
 * to each libssl (and each binary carrying OpenSSL, like node) by file,
 * for every pid, with the file's probe set (TA_SET_*) as the BPF cookie;
 * a pid whose "covered" sets hold that set (a shimmed process metering
 * its libssl itself) is skipped here, before anything is kept or copied:
 * one hash lookup is all a covered call costs.
 *
 * At entry the SSL pointer, the buffer and (for the _ex calls) the pointer
 * to the byte count are kept per thread; at return the bytes the call
 * really moved are copied, TA_CHUNK at a time, into the ring buffer.
 * A chunk the ring buffer has no room for marks its connection in "lost";
 * the connection's next call carries TA_F_GAP (tlsaudit.h). SSL_free
 * sends TA_EV_FREE so the daemon frees that stream at once.
 *
 * New TLS files (tlsaudit.c): an mmap of a file named libssl.so* by a
 * process (once per process and file) and an exec of a program named
 * node* send TA_EV_SCAN, and the loader probes what that process maps.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "tlsaudit.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, TA_MAX_PIDS);
	__type(key, __u32);
	__type(value, __u8);         /* TA_SET_* covered by the shim */
} covered SEC(".maps");

struct ta_call {
	__u64 ssl;
	__u64 buf;
	__u64 nptr;          /* size_t * of the _ex calls, 0 otherwise */
	__u64 set;           /* TA_SET_* of the entry probe */
};

/* LRU: a thread that dies inside a call leaves its entry behind */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TA_MAX_CALLS);
	__type(key, __u64);
	__type(value, struct ta_call);
} calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 1024 * 1024);
} events SEC(".maps");

/* the event being built (too big for the BPF stack). One per CPU: safe
 * only while a uprobe's program cannot be preempted mid-copy by another
 * task's uprobe on the same CPU, as on this kernel (preempt none). Under
 * a preemptible kernel two calls could interleave in it: it would then
 * need bpf_ringbuf_reserve (a fixed TA_HDR + TA_CHUNK per chunk) or a
 * per-CPU busy flag. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ta_event);
} scratch SEC(".maps");

/* connections with a chunk the ring buffer had no room for, until their
 * next call tells the daemon (TA_F_GAP). LRU: a connection that never
 * calls again leaves its entry behind. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct ta_conn_key);
	__type(value, __u8);
} lost SEC(".maps");

/* (pid, file) pairs that sent TA_EV_SCAN already: the loader looks once
 * per process and libssl file, not per mmap of its segments */
struct ta_map_key {
	__u32 pid;
	__u32 dev;
	__u64 ino;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct ta_map_key);
	__type(value, __u8);
} mapped SEC(".maps");

/* threads inside an mmap of a new libssl file: the event goes at its
 * return, once the mapping is in /proc/PID/maps */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, struct ta_map_key);
} mapping SEC(".maps");

/* a TA_EV_* event: the header alone */
struct ta_small {
	__u32 pid;
	__u32 tid;
	__u64 ssl;
	__u64 ts_ns;
	__u32 call_len;
	__u32 off;
	__u32 len;
	__u8 dir;
	__u8 flags;
	__u8 set;
	__u8 pad;
	__u32 pad2;
	__u32 pad3;
};
_Static_assert(sizeof(struct ta_small) == TA_HDR, "ta_small is TA_HDR");

static __always_inline void
small_event(__u8 type, __u64 ssl, __u8 set)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct ta_small e = {};

	e.pid = id >> 32;
	e.tid = (__u32)id;
	e.ssl = ssl;
	e.ts_ns = bpf_ktime_get_ns();
	e.dir = type;
	e.set = set;
	bpf_ringbuf_output(&events, &e, sizeof(e), 0);
}

static __always_inline int
entry(struct pt_regs *ctx, void *ssl, const void *buf, void *nptr)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	__u64 set = bpf_get_attach_cookie(ctx);
	struct ta_call c = {};
	__u8 *cov = bpf_map_lookup_elem(&covered, &tgid);

	if (cov && (*cov & set))
		return 0;
	c.set = set;
	c.ssl = (__u64)ssl;
	c.buf = (__u64)buf;
	c.nptr = (__u64)nptr;
	bpf_map_update_elem(&calls, &id, &c, BPF_ANY);
	return 0;
}

static __always_inline int
ret(long rc, __u8 dir)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct ta_call *c = bpf_map_lookup_elem(&calls, &id);
	struct ta_call cc;
	struct ta_event *e;
	struct ta_conn_key k = {};
	__u64 total = 0;
	__u32 off = 0, zero = 0;
	__u8 gap, one = 1;
	int i;

	if (!c)
		return 0;
	cc = *c;
	bpf_map_delete_elem(&calls, &id);
	if (cc.nptr) {
		if (rc != 1)
			return 0;
		if (bpf_probe_read_user(&total, sizeof(total),
		    (void *)cc.nptr) != 0)
			return 0;
	} else {
		if (rc <= 0)
			return 0;
		total = rc;
	}
	if (total == 0)
		return 0;
	if (total > 0x7fffffff)
		total = 0x7fffffff;
	if ((e = bpf_map_lookup_elem(&scratch, &zero)) == NULL)
		return 0;
	k.pid = id >> 32;
	k.ssl = cc.ssl;
	gap = bpf_map_lookup_elem(&lost, &k) ? TA_F_GAP : 0;
	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->ssl = cc.ssl;
	e->ts_ns = bpf_ktime_get_ns();
	e->call_len = total;
	e->dir = dir;
	e->set = (__u8)cc.set;
	e->pad = 0;
	e->pad2 = 0;
	e->pad3 = 0;
	for (i = 0; i < TA_MAX_CHUNKS; i++) {
		__u32 n = total - off;

		if (n > TA_CHUNK)
			n = TA_CHUNK;
		e->off = off;
		e->flags = i == 0 ? gap : 0;
		asm volatile("%[n] &= 0x3fff" : [n] "+r"(n));
		if (n == 0)
			n = TA_CHUNK;
		if (bpf_probe_read_user(e->data, n,
		    (void *)(cc.buf + off)) != 0)
			n = 0;
		e->len = n;
		off += n;
		if (n == 0 || (off < total && i == TA_MAX_CHUNKS - 1))
			e->flags |= TA_F_TRUNC;
		/* only the bytes read travel: a small call takes little room */
		if (bpf_ringbuf_output(&events, e, TA_HDR + n, 0) != 0) {
			bpf_map_update_elem(&lost, &k, &one, BPF_ANY);
			return 0;
		}
		if (i == 0 && gap)
			bpf_map_delete_elem(&lost, &k); /* told */
		if (off >= total || n == 0)
			break;
	}
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(ta_write, void *ssl, const void *buf, int num)
{
	return entry(ctx, ssl, buf, NULL);
}

SEC("uprobe")
int BPF_KPROBE(ta_write_ex, void *ssl, const void *buf, size_t num,
    size_t *written)
{
	return entry(ctx, ssl, buf, written);
}

SEC("uprobe")
int BPF_KPROBE(ta_read, void *ssl, void *buf, int num)
{
	return entry(ctx, ssl, buf, NULL);
}

SEC("uprobe")
int BPF_KPROBE(ta_read_ex, void *ssl, void *buf, size_t num,
    size_t *readbytes)
{
	return entry(ctx, ssl, buf, readbytes);
}

SEC("uretprobe")
int BPF_KRETPROBE(ta_write_ret, long rc)
{
	return ret((int)rc, TA_DIR_WRITE);
}

SEC("uretprobe")
int BPF_KRETPROBE(ta_write_ex_ret, long rc)
{
	return ret((int)rc, TA_DIR_WRITE);
}

SEC("uretprobe")
int BPF_KRETPROBE(ta_read_ret, long rc)
{
	return ret((int)rc, TA_DIR_READ);
}

SEC("uretprobe")
int BPF_KRETPROBE(ta_read_ex_ret, long rc)
{
	return ret((int)rc, TA_DIR_READ);
}

/* The stream ends: the daemon frees it now, not at the process's exit
 * (an SSL * address is reused by the next SSL_new). */
SEC("uprobe")
int BPF_KPROBE(ta_free, void *ssl)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 set = bpf_get_attach_cookie(ctx);
	__u8 *cov = bpf_map_lookup_elem(&covered, &tgid);
	struct ta_conn_key k = {};

	if (cov && (*cov & set))
		return 0;
	k.pid = tgid;
	k.ssl = (__u64)ssl;
	bpf_map_delete_elem(&lost, &k);
	small_event(TA_EV_FREE, (__u64)ssl, (__u8)set);
	return 0;
}

/* A program named node* (its comm, the name it was exec'd by) may carry
 * OpenSSL in its executable: the loader checks /proc/PID/exe. */
SEC("tracepoint/sched/sched_process_exec")
int ta_exec(void *ctx)
{
	char comm[16];

	if (bpf_get_current_comm(comm, sizeof(comm)) != 0)
		return 0;
	if (comm[0] == 'n' && comm[1] == 'o' && comm[2] == 'd' &&
	    comm[3] == 'e')
		small_event(TA_EV_SCAN, 0, 0);
	return 0;
}

/* mmap(fd) of a file whose name starts with libssl.so, once per process
 * and file: the loader probes it if no file of that inode is yet. */
SEC("tracepoint/syscalls/sys_enter_mmap")
int ta_mmap(struct trace_event_raw_sys_enter *ctx)
{
	static const char want[] = "libssl.so";
	long fd = (long)ctx->args[4];
	__u64 id = bpf_get_current_pid_tgid();
	struct task_struct *task;
	struct file **fds, *f;
	struct ta_map_key mk = {};
	const unsigned char *name;
	char buf[16];
	__u8 one = 1;
	unsigned int max;
	int i;

	if (fd < 0 || fd > 0xffff)
		return 0;
	task = (struct task_struct *)bpf_get_current_task();
	max = BPF_CORE_READ(task, files, fdt, max_fds);
	if ((unsigned long)fd >= max)
		return 0;
	fds = BPF_CORE_READ(task, files, fdt, fd);
	if (fds == NULL || bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) != 0 ||
	    f == NULL)
		return 0;
	name = BPF_CORE_READ(f, f_path.dentry, d_name.name);
	if (bpf_probe_read_kernel_str(buf, sizeof(buf), name) < 10)
		return 0;
	for (i = 0; i < 9; i++)
		if (buf[i] != want[i])
			return 0;
	mk.pid = id >> 32;
	mk.dev = BPF_CORE_READ(f, f_inode, i_sb, s_dev);
	mk.ino = BPF_CORE_READ(f, f_inode, i_ino);
	if (bpf_map_update_elem(&mapped, &mk, &one, BPF_NOEXIST) != 0)
		return 0; /* this process told the loader already */
	bpf_map_update_elem(&mapping, &id, &mk, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_mmap")
int ta_mmap_ret(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct ta_map_key *p = bpf_map_lookup_elem(&mapping, &id);
	struct ta_map_key mk;

	if (p == NULL)
		return 0;
	mk = *p;
	bpf_map_delete_elem(&mapping, &id);
	if (ctx->ret < 0 && ctx->ret > -4096) {
		bpf_map_delete_elem(&mapped, &mk); /* not mapped: next time */
		return 0;
	}
	small_event(TA_EV_SCAN, 0, 0);
	return 0;
}
