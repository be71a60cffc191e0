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
 */
#include "vmlinux.h"
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

/* the event being built (too big for the BPF stack); a uprobe's program
 * runs to its end on one CPU */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ta_event);
} scratch SEC(".maps");

/* events the ring buffer had no room for (the daemon sees the holes too) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

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

static __always_inline void
drop(void)
{
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&drops, &k);

	if (v)
		__sync_fetch_and_add(v, 1);
}

static __always_inline __u32
drops_now(void)
{
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&drops, &k);

	return v ? (__u32)*v : 0;
}

static __always_inline int
ret(long rc, __u8 dir)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct ta_call *c = bpf_map_lookup_elem(&calls, &id);
	struct ta_call cc;
	struct ta_event *e;
	__u64 total = 0;
	__u32 off = 0, zero = 0;
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
	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->ssl = cc.ssl;
	e->ts_ns = bpf_ktime_get_ns();
	e->call_len = total;
	e->dir = dir;
	e->set = (__u8)cc.set;
	e->pad = 0;
	e->pad2 = 0;
	for (i = 0; i < TA_MAX_CHUNKS; i++) {
		__u32 n = total - off;

		if (n > TA_CHUNK)
			n = TA_CHUNK;
		e->off = off;
		e->flags = 0;
		e->drops = drops_now();
		asm volatile("%[n] &= 0x3fff" : [n] "+r"(n));
		if (n == 0)
			n = TA_CHUNK;
		if (bpf_probe_read_user(e->data, n,
		    (void *)(cc.buf + off)) != 0)
			n = 0;
		e->len = n;
		off += n;
		if (n == 0 || (off < total && i == TA_MAX_CHUNKS - 1))
			e->flags = TA_F_TRUNC;
		/* only the bytes read travel: a small call takes little room */
		if (bpf_ringbuf_output(&events, e, TA_HDR + n, 0) != 0) {
			drop();
			return 0;
		}
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
