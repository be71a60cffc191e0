/*
 * cudaprobe_shim.h — processes that map both the shim (libtollgate.so)
 * and libcuda but are not registered with the daemon (bpf/cudaprobe_shim.c).
 *
 * The shim counts its process's launches itself once it is registered
 * (TG_COVERS_LIBCUDA), and it registers lazily: at its first CUDA
 * context, and again within a second after a daemon restart. So such a
 * process is not probed at once but remembered, and looked at again every
 * CP_SHIM_RECHECK_NS: registered → forgotten (the shim counts it); gone →
 * forgotten; still not registered CP_SHIM_GRACE_NS after it was first
 * seen (a shim pointed at another socket, or one that cannot register) →
 * probed like a process without the shim. Should it register after all,
 * cudaprobe.c detaches it at its next sweep (the shim's first
 * registration reports the launches since its start: those of the probed
 * time are then counted twice — a documented limit of a process that
 * took more than CP_SHIM_GRACE_NS to register).
 */
#ifndef TG_CUDAPROBE_SHIM_H
#define TG_CUDAPROBE_SHIM_H

#include <stdint.h>
#include <sys/types.h>

#define CP_SHIM_GRACE_NS 10000000000LL
#define CP_SHIM_RECHECK_NS 2000000000LL

struct tgd;

/* pid maps the shim and is not registered: 1 while it is within its
 * grace (remembered from its first call on), 0 once the grace is over
 * (or it cannot be remembered): probe it. */
int cp_shim_waiting(pid_t pid, int64_t now);
/* pid is probed, registered or gone: not remembered any more. */
void cp_shim_forget(pid_t pid);
/* At most every CP_SHIM_RECHECK_NS (or half the grace, when shorter):
 * forget the remembered processes that exited or registered; offer those
 * whose grace is over to attach (then forgotten, attached or not). */
void cp_shim_recheck(struct tgd *d, int64_t now,
    void (*attach)(struct tgd *, pid_t));
void cp_shim_set_grace(int64_t ns);
void cp_shim_free_all(void);

#endif
