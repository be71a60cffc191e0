/*
 * tlsconn.h — the event of bpf/tlsconn.bpf.c (issue 6, audit mode): the
 * first bytes a process wrote on a TCP connection it opened with
 * connect(2) — for TLS, the ClientHello, whose server name the daemon
 * takes (ctl/daemon/unmetered.c) when the process's TLS is not one the
 * tlsaudit uprobes decrypt. Fixed-size types, shared by the BPF side and
 * the loader (bpf/tlsconn.c).
 */
#ifndef TG_BPF_TLSCONN_H
#define TG_BPF_TLSCONN_H

/* A ClientHello with a post-quantum key share is 1.2-1.8 KiB, and the
 * server_name extension may come after it. */
#define TC_CAP 2048
#define TC_MAX_CONNS 16384   /* connects not yet written to */
#define TC_MAX_PIDS 8192     /* processes that created an OpenSSL SSL */

struct tc_event {
	__u32 pid;           /* tgid */
	__u32 fd;
	__u32 len;           /* bytes in data (the write's first TC_CAP) */
	__u8 openssl;        /* the process created an SSL in a file that
			      * tlsaudit probes: its TLS is decrypted */
	__u8 pad[3];
	char comm[16];
	__u8 data[TC_CAP];
};

#define TC_HDR 32
_Static_assert(__builtin_offsetof(struct tc_event, data) == TC_HDR,
    "TC_HDR is the offset of data");

#endif
