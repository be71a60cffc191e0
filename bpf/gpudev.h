/*
 * gpudev.h — GPU device holders (issue 6). Shared by bpf/gpudev.bpf.c (the
 * kernel side) and bpf/gpudev.c (the daemon's loader): fixed-size types
 * only.
 *
 * The kernel side sees opens of paths that start with the prefix
 * (/dev/nvidia*, or the --gpu-dev-prefix stand-in of the tests), closes of
 * the fds it knows, fork, exec and exit of the processes it knows, counts
 * ioctls on those fds per process in "procs" (read by the loader once a
 * second). What it cannot see — fds inherited through fork or dup, opens
 * relative to a directory fd, io_uring — the loader's /proc/PID/fd scan
 * finds; the loader puts what it finds into "fds" and "procs" too, so the
 * ioctls on inherited fds are counted as well.
 */
#ifndef TG_GPUDEV_H
#define TG_GPUDEV_H

#ifndef __bpf__
#include <stdint.h>
typedef uint32_t gd_u32;
typedef int32_t gd_s32;
typedef uint64_t gd_u64;
#else
typedef __u32 gd_u32;
typedef __s32 gd_s32;
typedef __u64 gd_u64;
#endif

#define GD_PREFIX_MAX 64   /* bytes, with the NUL; longer prefixes refused */
#define GD_MAX_PROCS 4096
#define GD_MAX_FDS 16384

enum gd_ev_type {
	GD_EV_OPEN = 1,    /* a watched path was opened: fd */
	GD_EV_CLOSE = 2,   /* a known GPU fd was closed (after the close) */
	GD_EV_EXEC = 3,    /* a known holder exec'd (O_CLOEXEC fds are gone) */
	GD_EV_EXIT = 4,    /* a known holder exited (thread group leader) */
	GD_EV_FORK = 5,    /* a known holder forked: pid is the child */
};

/* "fds" key: one GPU fd of one process. */
struct gd_fd_key {
	gd_u32 tgid;
	gd_s32 fd;
};

/* "procs" value, keyed by tgid: ioctls on its GPU fds so far. */
struct gd_proc {
	gd_u64 ioctls;
	gd_u64 last_ioctl_ns;  /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
};

struct gd_event {
	gd_u32 pid;            /* tgid */
	gd_u32 type;           /* enum gd_ev_type */
	gd_s32 fd;             /* GD_EV_OPEN, GD_EV_CLOSE; else -1 */
	gd_u32 pad;
	gd_u64 ts_ns;          /* CLOCK_MONOTONIC */
};

#ifndef __bpf__
#include <sys/types.h>
/* gpudev_scan.c: the /proc ground truth. */
/* The GPU fds pid holds now (fd numbers into fds, up to max; the count
 * may exceed max): >= 0, or -1 when pid is gone or unreadable. */
int gpudev_scan_pid(pid_t pid, const char *prefix, int *fds, int max);
/* 1 when /proc/pid/fd/fd is a path under prefix. */
int gpudev_fd_matches(pid_t pid, int fd, const char *prefix);
/* Call fn for every process in /proc (thread group leaders). */
void gpudev_scan_all(void (*fn)(pid_t pid, void *arg), void *arg);
/* The pids in /proc now (thread group leaders), malloc'd; NULL on error. */
pid_t *gpudev_list_pids(size_t *n);
#endif

#endif
