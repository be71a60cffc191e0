/*
 * tlsaudit.h — the event of bpf/tlsaudit.bpf.c (issue 6, audit mode):
 * plaintext that a process wrote with SSL_write/SSL_write_ex or read with
 * SSL_read/SSL_read_ex, captured at the call's return. Fixed-size types,
 * shared by the BPF side and the loader (bpf/tlsaudit.c).
 *
 * A call longer than TA_CHUNK bytes comes as several events (off grows);
 * past TA_MAX_CHUNKS chunks the rest is not copied and the last event has
 * TA_F_TRUNC (the daemon marks that exchange estimated). An event the
 * ring buffer had no room for is remembered per connection (the "lost"
 * map, keyed by pid and SSL *): the first chunk of that connection's next
 * call, in either direction, carries TA_F_GAP. The daemon ends the
 * exchange in flight as estimated and resumes at the next request.
 *
 * Two small events (len 0, no data) share the ring: TA_EV_FREE, the
 * process called SSL_free(ssl) (its stream ends); TA_EV_SCAN, pid mapped a
 * libssl.so* or exec'd node: the loader looks at its maps for files not
 * probed yet.
 */
#ifndef TG_BPF_TLSAUDIT_H
#define TG_BPF_TLSAUDIT_H

#define TA_CHUNK 16384       /* one TLS record's plaintext at most */
#define TA_MAX_CHUNKS 8      /* 128 KiB copied per call at most */
#define TA_MAX_PIDS 4096     /* pids with covered probe sets */
#define TA_MAX_CALLS 16384   /* calls in flight (entry -> return) */

#define TA_DIR_WRITE 0       /* the client wrote: request direction */
#define TA_DIR_READ 1        /* the client read: response direction */
#define TA_EV_FREE 2         /* SSL_free(ssl): no data */
#define TA_EV_SCAN 3         /* look at pid's maps: no data, no ssl */

#define TA_F_TRUNC 0x1u      /* bytes of this call past this event lost */
#define TA_F_GAP 0x2u        /* events of this connection were lost
			      * before this call (its first chunk) */

/* Probe sets: each attached file is one (its uprobes carry the set as
 * their BPF cookie), and the "covered" map holds, per pid, the sets that
 * process meters itself through the shim: the shim hooks a libssl.so*
 * through preload, never the OpenSSL linked into node. */
#define TA_SET_LIBSSL 0x1u   /* a libssl.so* */
#define TA_SET_EXE 0x2u      /* an executable carrying OpenSSL (node) */

struct ta_event {
	__u32 pid;           /* tgid */
	__u32 tid;
	__u64 ssl;           /* the SSL * of the call */
	__u64 ts_ns;         /* bpf_ktime_get_ns at return */
	__u32 call_len;      /* bytes the call transferred */
	__u32 off;           /* this chunk's offset in the call */
	__u32 len;           /* bytes in data */
	__u8 dir;            /* TA_DIR_*, TA_EV_* */
	__u8 flags;          /* TA_F_* */
	__u8 set;            /* TA_SET_* of the probe that fired */
	__u8 pad;
	__u32 pad2;
	__u32 pad3;
	__u8 data[TA_CHUNK];
};

/* The key of the "lost" map: a connection that lost events. */
struct ta_conn_key {
	__u32 pid;           /* tgid */
	__u32 pad;
	__u64 ssl;
};

/* An event carries its header and len bytes of data, no more. */
#define TA_HDR 48
_Static_assert(__builtin_offsetof(struct ta_event, data) == TA_HDR,
    "TA_HDR is the offset of data");

#endif
