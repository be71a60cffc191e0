/*
 * bpf_cuda_harness.c — drives bpf/cudaprobe*.c (the loader) without the
 * daemon, for tests/e2e/bpf_cuda.sh (which builds it): the daemon
 * functions the loader calls are stubbed here (probes_watch keeps the
 * ring buffer, idle_gpu_activity sums per pid). Commands on stdin, one
 * reply line each:
 *   attach PID  -> "attach PID"        (cudaprobe_attach_pid)
 *   count PID   -> "count PID L G A B F I" (launches, graph launches,
 *                  allocs, alloc bytes, frees, sum of idle_gpu_activity)
 *                  or "count PID none" when PID is not watched
 *   grace MS    -> "grace MS"  (cudaprobe_shim_grace: a shimmed process
 *                  not registered after MS ms is probed)
 *   cover PID   -> "cover PID" (from now on probes_pid_covered says PID
 *                  registered through the shim)
 * Exit 3 when cudaprobe_start fails.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/libbpf.h>

#include "daemon.h"
#include "log.h"
#include "probes.h"
#include "cudaprobe.h"

static struct ring_buffer *hrb;
static struct { pid_t pid; uint64_t n; } act[64];
static pid_t covered[64];
static int ncovered;

int
probes_watch(struct tgd *d, struct ring_buffer *rb)
{
	hrb = rb;
	return 0;
}

int
probes_pid_covered(struct tgd *d, pid_t pid, uint32_t what)
{
	int i;

	for (i = 0; i < ncovered; i++)
		if (covered[i] == pid)
			return 1;
	return 0; /* not registered: the shim is found in /proc/PID/maps */
}

void
idle_gpu_activity(struct tgd *d, pid_t pid, uint64_t n, int64_t now)
{
	int i;

	for (i = 0; i < 64; i++) {
		if (act[i].pid == pid || act[i].pid == 0) {
			act[i].pid = pid;
			act[i].n += n;
			return;
		}
	}
}

int64_t
tgd_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static uint64_t
act_of(pid_t pid)
{
	int i;

	for (i = 0; i < 64; i++)
		if (act[i].pid == pid)
			return act[i].n;
	return 0;
}

int
main(void)
{
	char line[128];
	struct cp_counts c;
	int pid, ms;

	log_init("harness", 0);
	if (cudaprobe_start(NULL) != 0)
		return 3;
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof(line), stdin) != NULL) {
		if (sscanf(line, "attach %d", &pid) == 1) {
			cudaprobe_attach_pid(NULL, pid);
			printf("attach %d\n", pid);
		} else if (sscanf(line, "count %d", &pid) == 1) {
			ring_buffer__poll(hrb, 100);
			if (cudaprobe_counts(pid, &c) != 0)
				printf("count %d none\n", pid);
			else
				printf("count %d %llu %llu %llu %llu %llu %llu\n", pid,
				    (unsigned long long)c.launches,
				    (unsigned long long)c.graph_launches,
				    (unsigned long long)c.allocs,
				    (unsigned long long)c.alloc_bytes,
				    (unsigned long long)c.frees,
				    (unsigned long long)act_of(pid));
		} else if (sscanf(line, "grace %d", &ms) == 1) {
			cudaprobe_shim_grace((int64_t)ms * 1000000);
			printf("grace %d\n", ms);
		} else if (sscanf(line, "cover %d", &pid) == 1) {
			if (ncovered < 64)
				covered[ncovered++] = pid;
			printf("cover %d\n", pid);
		} else {
			printf("unknown\n");
		}
	}
	cudaprobe_stop(NULL);
	return 0;
}
