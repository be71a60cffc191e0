/*
 * idle_nvml.c — the confirmation before an idle holder is terminated: a
 * process running one long kernel makes no launch and no ioctl, and looks
 * idle. NVML (libnvidia-ml.so.1, the driver's own) is dlopen'ed on first
 * use — no build dependency, and hosts without a GPU driver go on without
 * it (one log line). Used only on the terminate path, a few calls per
 * terminated process: nvmlInit's one-time cost is the only long one.
 *
 * The declarations below are NVML's (nvml.h, stable ABI): the _v2/_v3
 * process info has the same layout; the utilisation sample is v1's.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <string.h>

#include "idle.h"
#include "log.h"

#define NVML_SUCCESS 0
#define NVML_ERROR_NOT_FOUND 6
#define NVML_MAX_DEVICES 64
#define NVML_MAX_PROCS 256

typedef void *nvml_dev;

struct nvml_proc_info {
	unsigned int pid;
	unsigned long long used_gpu_memory;
	unsigned int gpu_instance_id;
	unsigned int compute_instance_id;
};

struct nvml_util_sample {
	unsigned int pid;
	unsigned long long time_stamp;    /* µs since the epoch */
	unsigned int sm_util, mem_util, enc_util, dec_util;
};

static struct {
	int state;                          /* 0 untried, 1 present, -1 absent */
	unsigned int ndev;
	nvml_dev dev[NVML_MAX_DEVICES];
	int (*get_procs)(nvml_dev, unsigned int *, struct nvml_proc_info *);
	int (*get_util)(nvml_dev, struct nvml_util_sample *, unsigned int *,
	    unsigned long long);
} N;

static int
nvml_load(void)
{
	int (*init)(void), (*count)(unsigned int *);
	int (*handle)(unsigned int, nvml_dev *);
	void *h;

	if (N.state != 0)
		return N.state > 0;
	N.state = -1;
	if ((h = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL)) == NULL) {
		log_info("%s: libnvidia-ml.so.1 not found: idle processes are "
		    "terminated on launches and GPU ioctls alone, without "
		    "NVML's utilisation and memory check", __func__);
		return 0;
	}
	init = (int (*)(void))dlsym(h, "nvmlInit_v2");
	count = (int (*)(unsigned int *))dlsym(h, "nvmlDeviceGetCount_v2");
	handle = (int (*)(unsigned int, nvml_dev *))dlsym(h,
	    "nvmlDeviceGetHandleByIndex_v2");
	if ((N.get_procs = dlsym(h, "nvmlDeviceGetComputeRunningProcesses_v3"))
	    == NULL)
		N.get_procs = dlsym(h, "nvmlDeviceGetComputeRunningProcesses_v2");
	N.get_util = dlsym(h, "nvmlDeviceGetProcessUtilization");
	if (!init || !count || !handle || !N.get_procs || !N.get_util ||
	    init() != NVML_SUCCESS || count(&N.ndev) != NVML_SUCCESS) {
		log_warnx("%s: libnvidia-ml.so.1 is there but unusable: idle "
		    "processes are terminated without NVML's check", __func__);
		return 0;
	}
	if (N.ndev > NVML_MAX_DEVICES)
		N.ndev = NVML_MAX_DEVICES;
	for (unsigned int i = 0; i < N.ndev; i++)
		if (handle(i, &N.dev[i]) != NVML_SUCCESS)
			N.dev[i] = NULL;
	N.state = 1;
	log_info("%s: NVML confirms idleness before a terminate (%u GPUs)",
	    __func__, N.ndev);
	return 1;
}

const char *
idle_nvml_state(void)
{
	return N.state == 0 ? "unused" : N.state > 0 ? "present" : "absent";
}

int
idle_nvml_mem(pid_t pid, uint64_t *bytes)
{
	static struct nvml_proc_info p[NVML_MAX_PROCS];
	unsigned int n;
	int found = 0;

	*bytes = 0;
	if (!nvml_load())
		return 0;
	for (unsigned int d = 0; d < N.ndev; d++) {
		n = NVML_MAX_PROCS;
		if (N.dev[d] == NULL || N.get_procs(N.dev[d], &n, p) !=
		    NVML_SUCCESS)
			continue;
		for (unsigned int i = 0; i < n; i++)
			if (p[i].pid == (unsigned int)pid) {
				*bytes += p[i].used_gpu_memory;
				found = 1;
			}
	}
	return found;
}

enum idle_nvml_verdict
idle_nvml_util(pid_t pid, int64_t since_real_ns)
{
	static struct nvml_util_sample s[NVML_MAX_PROCS];
	unsigned long long since_us;
	enum idle_nvml_verdict v = IDLE_NVML_UNKNOWN;
	unsigned int n;
	int rc;

	if (!nvml_load())
		return v;
	since_us = since_real_ns > 0 ? (unsigned long long)since_real_ns / 1000 : 0;
	for (unsigned int d = 0; d < N.ndev; d++) {
		n = NVML_MAX_PROCS;
		if (N.dev[d] == NULL)
			continue;
		rc = N.get_util(N.dev[d], s, &n, since_us);
		if (rc == NVML_ERROR_NOT_FOUND) {   /* no sample since then */
			v = v == IDLE_NVML_UNKNOWN ? IDLE_NVML_IDLE : v;
			continue;
		}
		if (rc != NVML_SUCCESS)
			continue;
		if (v == IDLE_NVML_UNKNOWN)
			v = IDLE_NVML_IDLE;
		for (unsigned int i = 0; i < n && i < NVML_MAX_PROCS; i++)
			if (s[i].pid == (unsigned int)pid && (s[i].sm_util > 0 ||
			    s[i].mem_util > 0) &&
			    s[i].time_stamp >= since_us)
				return IDLE_NVML_BUSY;
	}
	return v;
}
