/*
 * idle.h — GPU holders that do nothing (issue 6).
 *
 * The probes tell idle.c which processes hold a GPU device and when they
 * are active (probes.h: idle_gpu_open, idle_gpu_release,
 * idle_gpu_activity: GPU ioctls from bpf/gpudev, launches from
 * bpf/cudaprobe); a registered process's launches are read from its
 * counters page at each tick. A holder is idle when it has made no launch
 * and no GPU ioctl for the policy's idle.after_seconds (policy.h, struct
 * policy_idle; default 600 s, notify). Once a second (idle_tick):
 *   notify     one log line when a holder becomes idle (and the metrics);
 *   terminate  for a holder whose tags match idle.tags: grace_seconds
 *              after it became idle, confirm with NVML where
 *              libnvidia-ml.so.1 is present (no utilisation since it
 *              became idle, its device memory unchanged), then SIGTERM
 *              through its pidfd, SIGKILL IDLE_KILL_AFTER_S later if it
 *              lives. Any activity first cancels what is pending.
 * Never acted on: excluded executables (the shipped list — NVIDIA's
 * daemons and tools that hold /dev/nvidiactl for ever — plus
 * idle.exclude; they are listed with "excluded": true), the daemon
 * itself, a process without a pidfd.
 *
 * "Held since" is when the daemon first saw the holder: for a process
 * that opened the device before the daemon started, the start-up scan.
 * Times are CLOCK_MONOTONIC ns, passed in (tests give their own).
 *
 * The IDLE document (TG_MSG_IDLE, `tollctl idle`), schema_version 1:
 *   {"schema_version":1,"idle_after_s":N,"action":"notify"|"terminate",
 *    "grace_s":N,"terminations":N,"nvml":"unused"|"present"|"absent",
 *    "gpu":"H100"|null,"gpu_nano_usd_per_hour":N|null,
 *    "processes":[{"pid","exe","uid","tags","registered","held_since"
 *      (RFC 3339 UTC),"held_s","idle_s","idle","excluded","activity"
 *      (ioctls + launches seen),"state":"active"|"idle"|"grace"|
 *      "sigterm"|"sigkill"|"excluded","wasted_nano_usd_per_hour",
 *      "wasted_usd_per_hour"}]}
 * idle_s: whole seconds since the last activity (since held when none);
 * "idle": idle_s >= idle_after_s. Wasted: the host GPU's hourly price
 * (prices.json "gpus", the key found in the GPU's name: from
 * /proc/driver/nvidia/gpus/ (any)/information, else a registered
 * process's counters page) for an idle holder that is not excluded, one
 * GPU each; 0 otherwise or when unpriced. Sorted by idle_s, longest
 * first, then pid. A non-root caller sees its own processes only.
 */
#ifndef TGD_IDLE_H
#define TGD_IDLE_H

#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "policy.h"

#define IDLE_SCHEMA_VERSION 1
#define IDLE_KILL_AFTER_S 5   /* SIGTERM → SIGKILL */

struct tgd;

json_t *idle_json(struct tgd *d, uid_t uid, int64_t now_mono_ns);
/* 1 when exe's file name is on the shipped list or pi's exclude list. */
int idle_excluded(const char *exe, const struct policy_idle *pi);
/* Forget every holder (tests; shutdown). */
void idle_reset(void);

/* ---- between idle's own files ------------------------------------------ */

enum idle_stage { IDLE_ACTIVE, IDLE_IDLE, IDLE_GRACE, IDLE_SIGTERM,
	IDLE_SIGKILL };

struct idle_holder {
	pid_t pid;
	uid_t uid;
	int pidfd;               /* -1: never signalled */
	int excluded;
	int registered;          /* tags are the shim's registration's */
	char exe[256];
	char tags[256];
	int64_t since_ns;        /* holds the GPU since (mono) */
	int64_t since_real_ns;   /* the same, CLOCK_REALTIME, for display */
	int64_t last_ns;         /* last activity (mono); since_ns if none */
	uint64_t activity;       /* ioctls + launches seen */
	uint64_t launches_seen;  /* its counters page (registered) */
	int launches_known;
	enum idle_stage stage;
	int64_t deadline_ns;     /* GRACE: SIGTERM; SIGTERM: SIGKILL */
	uint64_t mem_bytes;      /* NVML, when it became idle */
	int mem_known;
	int warned;              /* a failed signal logged once */
};

/* The table (idle.c); SIGTERMs sent since the daemon started. */
struct idle_holder *idle_holders(size_t *n);
uint64_t idle_terminations(void);
/* The effective settings: the active policy's, defaults where unset. */
void idle_settings(const struct tgd *d, struct policy_idle *out);

/* /proc (idle_proc.c): exe, owner, TOLLGATE_TAGS, a pidfd. */
void idle_proc_identify(struct idle_holder *h, const struct policy_idle *pi);
/* 1 when the exe changed since identify (an exec): identify again. */
int idle_proc_exe_changed(const struct idle_holder *h);
int idle_proc_alive(int pidfd);            /* pidfd not yet readable */
int idle_proc_signal(struct idle_holder *h, int sig);   /* 0 or -1 */

/* NVML (idle_nvml.c), loaded at run time on the first use. */
enum idle_nvml_verdict { IDLE_NVML_UNKNOWN, IDLE_NVML_IDLE, IDLE_NVML_BUSY };
const char *idle_nvml_state(void);   /* "unused", "present", "absent" */
/* The device memory pid uses now (all devices); 0 when unknown. */
int idle_nvml_mem(pid_t pid, uint64_t *bytes);
/* pid's SM utilisation since since_real_ns (CLOCK_REALTIME). */
enum idle_nvml_verdict idle_nvml_util(pid_t pid, int64_t since_real_ns);

#endif
