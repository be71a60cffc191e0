// SPDX-License-Identifier: GPL-2.0
/*
 * tlsconn.bpf.c — the first write of each TCP connection a process opens
 * (kernel side; see tlsconn.h). connect(2) on a stream socket to an
 * AF_INET/AF_INET6 address keeps (tgid, fd) in "conns"; the next write,
 * writev, sendto or sendmsg on that fd copies its first TC_CAP bytes into
 * the ring buffer and forgets the entry: only a connection's first write
 * (a TLS ClientHello) is looked at. Every other write on the host costs
 * one hash lookup that misses.
 *
 * "ssl_pids" holds the processes that called SSL_new in a file tlsaudit
 * probes (the loader attaches ssl_new there): their ClientHello is
 * OpenSSL's, whose plaintext tlsaudit decrypts. Deciding here, not from
 * /proc/PID/maps later, is what makes a process that is gone by the time
 * the daemon reads the event (wget on localhost) count right. exec and
 * exit forget the process (its pid may be reused).
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "tlsconn.h"

char LICENSE[] SEC("license") = "GPL";

#define TC_AF_INET 2
#define TC_AF_INET6 10
#define TC_SOCK_STREAM 1

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TC_MAX_CONNS);
	__type(key, __u64);          /* tgid << 32 | fd */
	__type(value, __u8);
} conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, TC_MAX_PIDS);
	__type(key, __u32);
	__type(value, __u8);
} ssl_pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024);
} events SEC(".maps");

/* fd of the current process is a SOCK_STREAM socket (a connect on
 * anything else fails anyway; an unreadable chain says no). */
static __always_inline int
is_stream(__u32 fd)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	struct file **fds, *f = NULL;
	struct socket *s;
	short type = 0;

	if (fdt == NULL || fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) != 0 || f == NULL)
		return 0;
	s = BPF_CORE_READ(f, private_data);
	if (s == NULL || bpf_probe_read_kernel(&type, sizeof(type),
	    &s->type) != 0)
		return 0;
	return type == TC_SOCK_STREAM;
}

SEC("tracepoint/syscalls/sys_enter_connect")
int
tc_connect(struct trace_event_raw_sys_enter *ctx)
{
	__u64 key = bpf_get_current_pid_tgid() & 0xffffffff00000000ULL;
	__u32 fd = (__u32)ctx->args[0];
	__u16 family = 0;
	__u8 one = 1;

	if (bpf_probe_read_user(&family, sizeof(family),
	    (void *)ctx->args[1]) != 0)
		return 0;
	if (family != TC_AF_INET && family != TC_AF_INET6)
		return 0;
	if (!is_stream(fd))
		return 0;
	key |= fd;
	bpf_map_update_elem(&conns, &key, &one, BPF_ANY);
	return 0;
}

static __always_inline int
first_write(__u32 fd, __u64 buf, __u64 count)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 key = (id & 0xffffffff00000000ULL) | fd;
	__u32 tgid = id >> 32, n;
	struct tc_event *e;

	if (bpf_map_lookup_elem(&conns, &key) == NULL)
		return 0;
	bpf_map_delete_elem(&conns, &key);
	if ((e = bpf_ringbuf_reserve(&events, sizeof(*e), 0)) == NULL)
		return 0;
	n = count > TC_CAP ? TC_CAP : (__u32)count;
	if (n > TC_CAP)
		n = TC_CAP;
	if (bpf_probe_read_user(e->data, n, (void *)buf) != 0)
		n = 0;
	e->pid = tgid;
	e->fd = fd;
	e->len = n;
	e->openssl = bpf_map_lookup_elem(&ssl_pids, &tgid) != NULL;
	e->pad[0] = e->pad[1] = e->pad[2] = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_write")
int
tc_write(struct trace_event_raw_sys_enter *ctx)
{
	return first_write((__u32)ctx->args[0], ctx->args[1], ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_enter_sendto")
int
tc_sendto(struct trace_event_raw_sys_enter *ctx)
{
	return first_write((__u32)ctx->args[0], ctx->args[1], ctx->args[2]);
}

/* writev and sendmsg: the first iovec (a ClientHello is one) */
static __always_inline int
first_iov(__u32 fd, __u64 iovp)
{
	__u64 iov[2] = {};   /* struct iovec: base, len */

	if (bpf_probe_read_user(iov, sizeof(iov), (void *)iovp) != 0)
		return 0;
	return first_write(fd, iov[0], iov[1]);
}

SEC("tracepoint/syscalls/sys_enter_writev")
int
tc_writev(struct trace_event_raw_sys_enter *ctx)
{
	__u64 key = (bpf_get_current_pid_tgid() & 0xffffffff00000000ULL) |
	    (__u32)ctx->args[0];

	if (bpf_map_lookup_elem(&conns, &key) == NULL)
		return 0;
	return first_iov((__u32)ctx->args[0], ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int
tc_sendmsg(struct trace_event_raw_sys_enter *ctx)
{
	__u64 key = (bpf_get_current_pid_tgid() & 0xffffffff00000000ULL) |
	    (__u32)ctx->args[0];
	__u64 iovp = 0;

	if (bpf_map_lookup_elem(&conns, &key) == NULL)
		return 0;
	/* struct user_msghdr: msg_name, msg_namelen (padded), msg_iov */
	if (bpf_probe_read_user(&iovp, sizeof(iovp),
	    (void *)(ctx->args[1] + 16)) != 0)
		return 0;
	return first_iov((__u32)ctx->args[0], iovp);
}

SEC("uprobe")
int
BPF_KPROBE(tc_ssl_new)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u8 one = 1;

	bpf_map_update_elem(&ssl_pids, &tgid, &one, BPF_ANY);
	return 0;
}

SEC("tracepoint/sched/sched_process_exec")
int
tc_exec(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	bpf_map_delete_elem(&ssl_pids, &tgid);
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int
tc_exit(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;

	if ((__u32)id == tgid)
		bpf_map_delete_elem(&ssl_pids, &tgid);
	return 0;
}
