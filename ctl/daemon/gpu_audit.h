/*
 * gpu_audit.h — audit mode's GPU records (issue 6): the launches that
 * bpf/cudaprobe's uprobes counted in a process without the shim, as a
 * ledger record of kind gpu, source ebpf (provider "nvidia", model
 * "unknown", endpoint "gpu": the uprobes do not see which device), through
 * record.c's record_audit like audit.c's TLS records. The process's
 * identity (exe, uid, cgroup, TOLLGATE_TAGS) is read from /proc while it
 * lives, when the probes attach. Main thread only.
 */
#ifndef TGD_GPU_AUDIT_H
#define TGD_GPU_AUDIT_H

#include <stdint.h>
#include <sys/types.h>

struct tgd;
struct ledger_entry;

/* Commit one record of launches (> 0) for the process id names. */
void gpu_audit_record(struct tgd *d, const struct ledger_entry *id,
    uint64_t launches);

#endif
