/*
 * idle.c — the GPU holders' state and the policy's idle actions (see
 * idle.h). Main thread only. A host has tens of GPU holders at most: a
 * small array searched by pid.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "idle.h"
#include "log.h"
#include "metrics.h"
#include "probes.h"

#define NS 1000000000LL

static struct {
	struct idle_holder *h;
	size_t n, cap;
	uint64_t terminations;
} I;

struct idle_holder *
idle_holders(size_t *n)
{
	*n = I.n;
	return I.h;
}

uint64_t
idle_terminations(void)
{
	return I.terminations;
}

void
idle_settings(const struct tgd *d, struct policy_idle *out)
{
	const struct policy_idle *pi = d->policy ? &d->policy->idle : NULL;

	if (pi != NULL && pi->after_seconds > 0) {
		*out = *pi;     /* shallow: the strings stay the policy's */
		return;
	}
	memset(out, 0, sizeof(*out));
	out->after_seconds = POLICY_IDLE_AFTER_DEFAULT;
	out->action = POLICY_IDLE_NOTIFY;
	out->grace_seconds = POLICY_IDLE_GRACE_DEFAULT;
}

static struct idle_holder *
find(pid_t pid)
{
	for (size_t i = 0; i < I.n; i++)
		if (I.h[i].pid == pid)
			return &I.h[i];
	return NULL;
}

static void
drop(struct idle_holder *h)
{
	if (h->pidfd >= 0)
		close(h->pidfd);
	*h = I.h[--I.n];
}

void
idle_reset(void)
{
	while (I.n > 0)
		drop(&I.h[0]);
	free(I.h);
	memset(&I, 0, sizeof(I));
}

static struct idle_holder *
add(pid_t pid)
{
	struct idle_holder *nh;
	size_t cap;

	if (I.n == I.cap) {
		cap = I.cap ? I.cap * 2 : 16;
		if ((nh = reallocarray(I.h, cap, sizeof(*nh))) == NULL) {
			log_warn("%s: pid %d", __func__, (int)pid);
			return NULL;
		}
		I.h = nh;
		I.cap = cap;
	}
	nh = &I.h[I.n++];
	memset(nh, 0, sizeof(*nh));
	nh->pid = pid;
	nh->pidfd = -1;
	return nh;
}

/* The shim's registration of pid, if any (its tags and counters page). */
static struct proc *
registration(struct tgd *d, pid_t pid)
{
	for (struct proc *p = d->procs_all; p; p = p->all_next)
		if (!p->dead && p->peer && p->peer->pid == pid)
			return p;
	return NULL;
}

void
idle_gpu_open(struct tgd *d, pid_t pid, int64_t now_mono_ns)
{
	struct policy_idle pi;
	struct idle_holder *h;
	struct proc *p;

	if (pid <= 0)
		return;
	if ((h = find(pid)) != NULL) {
		if (idle_proc_alive(h->pidfd))
			return;         /* known already */
		drop(h);                /* its pid was reused */
	}
	if ((h = add(pid)) == NULL)
		return;
	h->since_ns = h->last_ns = now_mono_ns;
	h->since_real_ns = tgd_real_ns() - (tgd_mono_ns() - now_mono_ns);
	if ((p = registration(d, pid)) != NULL) {
		h->registered = 1;
		tg_strlcpy(h->tags, p->tags, sizeof(h->tags));
	}
	idle_settings(d, &pi);
	idle_proc_identify(h, &pi);
	log_debug("%s: pid %d (%s) holds the GPU%s", __func__, (int)pid,
	    h->exe[0] ? h->exe : "?", h->excluded ? " (excluded)" : "");
}

void
idle_gpu_release(struct tgd *d, pid_t pid, int64_t now_mono_ns)
{
	struct idle_holder *h = find(pid);

	if (h == NULL)
		return;
	log_debug("%s: pid %d held the GPU %lld s", __func__, (int)pid,
	    (long long)((now_mono_ns - h->since_ns) / NS));
	drop(h);
}

void
idle_gpu_activity(struct tgd *d, pid_t pid, uint64_t n, int64_t now_mono_ns)
{
	struct idle_holder *h = find(pid);

	if (h == NULL || n == 0)
		return;
	h->activity += n;
	if (now_mono_ns > h->last_ns)
		h->last_ns = now_mono_ns;
}

/* A registered process's launches (its counters page): activity now. */
static void
shim_activity(struct tgd *d, int64_t now)
{
	struct idle_holder *h;
	uint64_t l;

	for (struct proc *p = d->procs_all; p; p = p->all_next) {
		if (p->dead || p->peer == NULL ||
		    (h = find(p->peer->pid)) == NULL)
			continue;
		if (!h->registered) {
			h->registered = 1;
			tg_strlcpy(h->tags, p->tags, sizeof(h->tags));
		}
		if (p->cpage == NULL)
			continue;
		l = __atomic_load_n(&p->cpage->gpu_launches, __ATOMIC_RELAXED);
		if (h->launches_known && l > h->launches_seen)
			idle_gpu_activity(d, h->pid, l - h->launches_seen, now);
		h->launches_seen = l;
		h->launches_known = 1;
	}
}

static const char *
tags_or_none(const struct idle_holder *h)
{
	return h->tags[0] ? h->tags : "none";
}

/* Is pid busy after all, by NVML? Memory that changed counts as busy,
 * and so does a present NVML that cannot tell (per-process utilisation
 * unsupported: vGPU, MIG; a lost GPU): one long kernel looks idle. */
static int
nvml_busy(struct idle_holder *h, int64_t idle_since_real)
{
	enum idle_nvml_verdict v = idle_nvml_util(h->pid, idle_since_real);
	uint64_t mem;

	if (v == IDLE_NVML_BUSY) {
		log_info("idle_terminate: pid %d: NVML shows GPU utilisation "
		    "since it became idle; not terminated", (int)h->pid);
		return 1;
	}
	if (v == IDLE_NVML_UNKNOWN &&
	    strcmp(idle_nvml_state(), "present") == 0) {
		log_info("idle_terminate: pid %d: NVML cannot report its GPU "
		    "utilisation; not terminated", (int)h->pid);
		return 1;
	}
	/* a monitor that holds /dev/nvidiactl but no GPU memory frees
	 * nothing when killed */
	if (!h->mem_known && strcmp(idle_nvml_state(), "present") == 0) {
		log_info("idle_terminate: pid %d: NVML lists no GPU memory "
		    "held by it; not terminated", (int)h->pid);
		return 1;
	}
	if (h->mem_known && idle_nvml_mem(h->pid, &mem) && mem != h->mem_bytes) {
		log_info("idle_terminate: pid %d: its GPU memory changed (%llu "
		    "to %llu bytes) since it became idle; not terminated",
		    (int)h->pid, (unsigned long long)h->mem_bytes,
		    (unsigned long long)mem);
		return 1;
	}
	return 0;
}

static void
signal_holder(struct idle_holder *h, int sig, const char *name)
{
	if (idle_proc_signal(h, sig) == 0 || errno == ESRCH)
		return;
	if (!h->warned)
		log_warn("idle_terminate: pid %d: %s", (int)h->pid, name);
	h->warned = 1;
}

/* Grace over: confirm, then SIGTERM. */
static void
terminate(struct idle_holder *h, const struct policy_idle *pi, int64_t now)
{
	int64_t idle_at = h->last_ns + (int64_t)pi->after_seconds * NS;

	if (nvml_busy(h, h->since_real_ns + (idle_at - h->since_ns))) {
		h->last_ns = now;
		h->stage = IDLE_ACTIVE;
		return;
	}
	log_info("idle_terminate: pid %d (%s, tags %s): idle %lld s; SIGTERM",
	    (int)h->pid, h->exe, tags_or_none(h),
	    (long long)((now - h->last_ns) / NS));
	signal_holder(h, SIGTERM, "SIGTERM");
	I.terminations++;
	h->stage = IDLE_SIGTERM;
	h->deadline_ns = now + IDLE_KILL_AFTER_S * NS;
}

/* Idle now: what the policy asks, one step per tick. */
static void
act(struct idle_holder *h, const struct policy_idle *pi, int64_t now)
{
	if (h->stage == IDLE_ACTIVE) {
		h->stage = IDLE_IDLE;
		log_info("idle_notify: pid %d (%s, tags %s) holds the GPU and is "
		    "idle: no launch or GPU ioctl for %lld s", (int)h->pid,
		    h->exe[0] ? h->exe : "?", tags_or_none(h),
		    (long long)((now - h->last_ns) / NS));
	}
	if (pi->action != POLICY_IDLE_TERMINATE || h->pid == getpid() ||
	    !policy_idle_tags_match(pi, h->tags))
		return;
	switch (h->stage) {
	case IDLE_IDLE:
		h->stage = IDLE_GRACE;
		h->deadline_ns = h->last_ns + (int64_t)(pi->after_seconds +
		    pi->grace_seconds) * NS;
		h->mem_known = idle_nvml_mem(h->pid, &h->mem_bytes);
		log_info("idle_terminate: pid %d: SIGTERM in %lld s unless it "
		    "becomes active", (int)h->pid,
		    (long long)((h->deadline_ns - now + NS - 1) / NS));
		break;
	case IDLE_GRACE:
		if (now >= h->deadline_ns)
			terminate(h, pi, now);
		break;
	case IDLE_SIGTERM:
		if (now < h->deadline_ns)
			break;
		log_info("idle_terminate: pid %d still alive %d s after "
		    "SIGTERM; SIGKILL", (int)h->pid, IDLE_KILL_AFTER_S);
		signal_holder(h, SIGKILL, "SIGKILL");
		h->stage = IDLE_SIGKILL;
		break;
	default:
		break;
	}
}

static void
step(struct idle_holder *h, const struct policy_idle *pi, int64_t now)
{
	/* signalled: what it does while it shuts down (CUDA teardown makes
	 * GPU ioctls) cancels nothing; SIGKILL follows if it hangs */
	if (h->stage >= IDLE_SIGTERM) {
		act(h, pi, now);
		return;
	}
	if (now - h->last_ns < (int64_t)pi->after_seconds * NS) {
		if (h->stage != IDLE_ACTIVE)
			log_info("idle_notify: pid %d is active again%s",
			    (int)h->pid, h->stage >= IDLE_GRACE ?
			    "; terminate cancelled" : "");
		h->stage = IDLE_ACTIVE;
		return;
	}
	if (!h->excluded)
		act(h, pi, now);
}

static void
publish(struct tgd *d, const struct policy_idle *pi, int64_t now)
{
	struct metrics_idle_row *rows;
	size_t n = 0;
	uint64_t idle_now = 0;

	if (d->metrics == NULL)
		return;
	if ((rows = calloc(I.n ? I.n : 1, sizeof(*rows))) == NULL)
		return;
	for (size_t i = 0; i < I.n; i++) {
		const struct idle_holder *h = &I.h[i];

		if (h->excluded)
			continue;
		rows[n].pid = h->pid;
		rows[n].idle_seconds = (uint64_t)((now - h->last_ns) / NS);
		tg_strlcpy(rows[n].exe, h->exe, sizeof(rows[n].exe));
		tg_strlcpy(rows[n].tags, h->tags, sizeof(rows[n].tags));
		idle_now += h->stage != IDLE_ACTIVE;
		n++;
	}
	metrics_set_idle(d->metrics, rows, n, idle_now, I.terminations);
	free(rows);
}

void
idle_tick(struct tgd *d, int64_t now_mono_ns)
{
	struct policy_idle pi;
	size_t i;

	idle_settings(d, &pi);
	shim_activity(d, now_mono_ns);
	for (i = I.n; i > 0; i--) {
		struct idle_holder *h = &I.h[i - 1];

		if (!idle_proc_alive(h->pidfd)) {
			log_debug("%s: pid %d exited", __func__, (int)h->pid);
			drop(h);
			continue;
		}
		if (idle_proc_exe_changed(h))   /* an exec: who is it now? */
			idle_proc_identify(h, &pi);
		h->excluded = idle_excluded(h->exe, &pi); /* a reload */
		step(h, &pi, now_mono_ns);
	}
	publish(d, &pi, now_mono_ns);
}
