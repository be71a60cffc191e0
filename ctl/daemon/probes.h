/*
 * probes.h — the daemon's eBPF probes (issue 6; programs and loaders in
 * bpf/): what they share with each other and with the event loop.
 *
 *   bpf/gpudev.*     GPU device holders: opens of the device paths
 *                    (/dev/nvidia* or the --gpu-dev-prefix stand-in),
 *                    their closes and ioctls, exec and exit; plus the
 *                    /proc/PID/fd scan (ground truth) — feeds idle.c
 *   bpf/cudaprobe.*  uprobes on libcuda.so.1's launch and allocation
 *                    functions, attached per pid to processes that do not
 *                    carry the shim — GPU activity (idle.c) and, in audit
 *                    mode, GPU records with source ebpf
 *   bpf/tlsaudit.*   audit mode: SSL_read/SSL_write plaintext of
 *                    processes the shim does not cover, reassembled and
 *                    parsed by lib/llm_*.c into records with source ebpf
 *
 * Every probe is optional: one that cannot load (not root, BPF refused,
 * a library without the symbols) logs one line naming what was wrong and
 * the daemon goes on without it. Ring buffers are polled from the daemon's
 * epoll loop (probes_watch); nothing here blocks it.
 */
#ifndef TGD_PROBES_H
#define TGD_PROBES_H

#include <stdint.h>
#include <sys/types.h>

struct tgd;
struct ring_buffer;

/* Start every probe the options ask for (gpudev always; cudaprobe and
 * tlsaudit as their modules decide); at daemon start, after the ledger. */
void probes_start(struct tgd *d);
void probes_stop(struct tgd *d);

/* Poll rb from the event loop: when its epoll fd is readable the daemon
 * calls ring_buffer__consume(rb). 0 or -1 (logged). */
int probes_watch(struct tgd *d, struct ring_buffer *rb);
/* main.c's event loop: a watched ring buffer is readable; the 1 s tick. */
void probes_ring_ready(struct tgd *d, struct ring_buffer *rb);
void probes_tick(struct tgd *d);

/* ---- gpudev (bpf/gpudev.c): GPU device holders ------------------------ */

/* Load and attach the device tracepoints, then scan /proc/PID/fd (holders
 * from before the daemon) — telling idle.c. 0, or -1 (one line logged). */
int gpudev_start(struct tgd *d);
void gpudev_stop(struct tgd *d);
/* Once a second: rescan /proc for fds inherited through fork or dup. */
void gpudev_tick(struct tgd *d);

/* ---- idle.c: per-process GPU state, fed by the probes ---------------- */

/* pid opened (or holds, per the /proc scan) a GPU device fd. */
void idle_gpu_open(struct tgd *d, pid_t pid, int64_t now_mono_ns);
/* pid's GPU fds are all closed, or pid exited. */
void idle_gpu_release(struct tgd *d, pid_t pid, int64_t now_mono_ns);
/* Once a second: idle seconds, the policy's actions. */
void idle_tick(struct tgd *d, int64_t now_mono_ns);
/* Activity: n GPU ioctls (gpudev) or launches (cudaprobe, or a shimmed
 * process's counters page) by pid. */
void idle_gpu_activity(struct tgd *d, pid_t pid, uint64_t n,
    int64_t now_mono_ns);

/* ---- cudaprobe (bpf/cudaprobe.c) -------------------------------------- */

/* Attach the libcuda uprobes to pid when it maps libcuda.so.1 and does not
 * carry the shim (the shim covers itself: TG_COVERS_LIBCUDA). Called at
 * start for every GPU holder, on exec, and when pid opens a GPU device.
 */
void cudaprobe_attach_pid(struct tgd *d, pid_t pid);
int cudaprobe_start(struct tgd *d);
/* Once a second: the live processes' counts (to idle.c), exits, audit
 * records, shimmed processes' registrations. */
void cudaprobe_sweep(struct tgd *d);
void cudaprobe_stop(struct tgd *d);

/* ---- tlsaudit (bpf/tlsaudit.c) ------------------------------------------ */
int tlsaudit_start(struct tgd *d);
void tlsaudit_stop(struct tgd *d);
int tlsconn_start(struct tgd *d);   /* bpf/tlsconn.c, after tlsaudit */
void tlsconn_stop(struct tgd *d);

/* 1 when pid is registered with the daemon through the shim and covers
 * what (TG_COVERS_* of proto.h): the probes skip that part of it. */
int probes_pid_covered(struct tgd *d, pid_t pid, uint32_t what);

#endif
