/*
 * cudaprobe.h — GPU activity of processes without the shim: uprobes on
 * libcuda.so.1's launch and allocation functions, attached per pid (issue
 * 6). Shared by bpf/cudaprobe.bpf.c (kernel side) and bpf/cudaprobe.c (the
 * daemon's loader): fixed-size types only.
 *
 * The kernel keeps cumulative counts per watched process (map "counts",
 * keyed by tgid, value struct cp_state; the loader inserts a zeroed entry
 * before attaching, and only pids in it are counted). Every call is
 * counted there, exactly; an event carrying those cumulative counts goes
 * to the ring buffer at most once per CP_EMIT_EVERY_NS per process (a
 * PyTorch process launches 10^4-10^5 kernels a second: one event each
 * would keep the daemon's loop busy), so the first call after a quiet
 * spell is seen at once, and the loader's sweep (once a second) reads
 * the map for what the rest of a burst added, with the time of the last
 * call. An event lost to a full ring buffer is made up the same way. The
 * loader detaches a process when its pidfd says it exited (the exit
 * tracepoint's CP_EV_EXIT too, where the kernel delivers it), reading its
 * final counts from the map.
 *
 * Audit mode (--audit) also finds the processes itself, whether or not
 * they hold a GPU device: /proc/PID/maps of every process at start and of
 * each process ~0.1 s after its exec (CP_EV_EXEC), and a uprobe on cuInit
 * attached host-wide (pid -1) to every libcuda file seen that way
 * (CP_EV_INIT: libcuda dlopen'ed late). cuInit runs once per process, so
 * that host-wide trap costs a shimmed process one hit, not one per launch.
 * Each watched process's launches become ledger records (kind gpu, source
 * ebpf) at its exit and every --gpu-interval seconds (gpu_audit.h).
 */
#ifndef TG_CUDAPROBE_H
#define TG_CUDAPROBE_H

#ifndef __bpf__
#include <stdint.h>
#include <sys/types.h>
typedef uint32_t cp_u32;
typedef uint64_t cp_u64;
#else
typedef __u32 cp_u32;
typedef __u64 cp_u64;
#endif

enum cp_ev_type {
	CP_EV_LAUNCH = 1,  /* a kernel or a graph launch */
	CP_EV_ALLOC = 2,   /* cuMemAlloc_v2 called (bytes asked) */
	CP_EV_FREE = 3,    /* cuMemFree_v2 called */
	CP_EV_EXIT = 4,    /* the process exited: final counts */
	/* audit mode's discovery (counts zero): */
	CP_EV_INIT = 5,    /* cuInit in a process not watched yet */
	CP_EV_EXEC = 6,    /* a process exec'd (its maps are read later) */
};

struct cp_counts {
	cp_u64 launches;        /* cuLaunchKernel*, cuLaunchCooperativeKernel* */
	cp_u64 graph_launches;  /* cuGraphLaunch* */
	cp_u64 allocs;          /* cuMemAlloc_v2 calls */
	cp_u64 alloc_bytes;     /* bytes those calls asked for */
	cp_u64 frees;           /* cuMemFree_v2 calls */
};

/* The value of map "counts". */
struct cp_state {
	struct cp_counts c;
	cp_u64 last_ns;         /* CLOCK_MONOTONIC: the last call counted */
	cp_u64 emit_ns;         /* the last event sent (0: none yet) */
};

/* At most one event per process in this time; the rest is in the map. */
#define CP_EMIT_EVERY_NS 100000000ULL

struct cp_event {
	cp_u32 pid;             /* tgid */
	cp_u32 type;            /* enum cp_ev_type */
	cp_u64 ts_ns;           /* CLOCK_MONOTONIC (bpf_ktime_get_ns): the
	                         * call that sent it */
	struct cp_counts c;     /* cumulative for pid, this event included */
};

#define CP_MAX_PIDS 4096

#ifndef __bpf__
struct tgd;
/* The counts the uprobes saw so far for pid (a process being watched, or
 * one that exited since the last call for it): 0, or -1 when pid is not
 * watched. */
int cudaprobe_counts(pid_t pid, struct cp_counts *out);
/* What the watched processes did since the last events (the map's
 * counts, to idle.c with the time of their last call); detach the ones
 * that exited (final counts, one log line each) and, every few seconds,
 * look again at shimmed processes that had not registered (see
 * cudaprobe_shim.h). probes.c calls it once a second; it is also called
 * on every counts read and once a second of events. */
void cudaprobe_sweep(struct tgd *d);
/* How long a process with the shim mapped may stay unregistered before
 * the uprobes count it (default CP_SHIM_GRACE_NS; tests shorten it). */
void cudaprobe_shim_grace(int64_t ns);
/* Detach everything and free the skeleton (daemon exit). */
void cudaprobe_stop(struct tgd *d);
#endif

#endif
