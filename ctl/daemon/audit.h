/*
 * audit.h — audit mode's TLS side in the daemon (issue 6): the plaintext
 * bpf/tlsaudit captured, reassembled per (pid, SSL pointer) and direction,
 * fed to the LLM usage parser (lib/llm.h) as the shim feeds it, and each
 * finished exchange committed as a record with source ebpf (estimated
 * when any byte of it was lost: a truncated call, a dropped event).
 * Identity and tags come from /proc/PID (TOLLGATE_TAGS in its environ).
 * Everything runs on the daemon's main thread.
 */
#ifndef TGD_AUDIT_H
#define TGD_AUDIT_H

#include <stdint.h>
#include <sys/types.h>

struct tgd;
struct ta_event;
struct ledger_entry;

/* One captured chunk (from tlsaudit.c's ring buffer callback). */
void audit_tls_event(struct tgd *d, const struct ta_event *e);
/* Ends every stream (pending exchanges as cut) and frees them. */
void audit_tls_stop(struct tgd *d);
/* Streams alive, exchanges committed, gaps seen, streams ended by
 * SSL_free (for tests and status). */
void audit_tls_counts(uint64_t *streams, uint64_t *records, uint64_t *gaps,
    uint64_t *freed);

/* tlsaudit.c: detach everything, end the streams (probes_stop should
 * call it; tlsaudit_start is in probes.h). */
void tlsaudit_stop(struct tgd *d);

/* tlsaudit.c: probe the TLS files pid maps now that are not probed yet
 * (each libssl.so*, its executable when it is node; once per inode).
 * At start for every process, then for each TA_EV_SCAN (a libssl mapped,
 * node exec'd). */
void tlsaudit_scan_pid(struct tgd *d, pid_t pid);

/* tlsaudit.c: the probe sets pid covers itself (TG_COVERS_* of
 * proto.h; 0: none), kept in the BPF "covered" map so those of its SSL
 * calls are not even copied. */
void tlsaudit_cover(pid_t pid, uint32_t covers);

/* dispatch.c: pid registered, or a registration of it ended (its
 * connection closed, it died): what it covers is looked up again
 * (probes_pid_covered), the BPF map told, and its streams in a set it
 * now covers dropped unrecorded. */
void audit_pid_changed(struct tgd *d, pid_t pid);

/* record.c: commit an audit record (source ebpf) that has no shim
 * registration behind it; e->rec's id, decision and cost are set there. */
void record_audit(struct tgd *d, const struct ledger_entry *e);

#endif
