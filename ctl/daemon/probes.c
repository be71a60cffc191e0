/*
 * probes.c — starts and stops the eBPF probes (probes.h), puts their ring
 * buffers into the daemon's epoll loop and ticks them once a second.
 *
 * Nothing here is fatal: without root, or where the kernel refuses a
 * program, one line says which probe is off and why, and the daemon goes
 * on metering through the shim alone.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "daemon.h"
#include "log.h"
#include "probes.h"

#define PROBES_MAX_RINGS 8

struct probe_ring {
	struct evsrc ev;
	struct ring_buffer *rb;
};

static struct {
	struct probe_ring rings[PROBES_MAX_RINGS];
	int nrings;
	int tfd;                 /* the 1 s tick */
	struct evsrc ev_tick;
} P = { .tfd = -1 };

/* libbpf's own messages (verifier logs, "failed to attach") are detail
 * behind our one line: --debug shows them. */
static int
libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	if (level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	if (n > 0 && line[n - 1] == '\n')
		line[n - 1] = '\0';
	log_debug("libbpf: %s", line);
	return 0;
}

int
probes_watch(struct tgd *d, struct ring_buffer *rb)
{
	struct epoll_event ev;
	struct probe_ring *r;

	if (P.nrings == PROBES_MAX_RINGS) {
		log_warnx("probes: more than %d ring buffers", PROBES_MAX_RINGS);
		return -1;
	}
	r = &P.rings[P.nrings];
	r->ev.kind = EV_PROBE_RING;
	r->ev.ptr = rb;
	r->rb = rb;
	ev.events = EPOLLIN;
	ev.data.ptr = &r->ev;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, ring_buffer__epoll_fd(rb),
	    &ev) == -1) {
		log_warn("probes: epoll_ctl");
		return -1;
	}
	P.nrings++;
	return 0;
}

void
probes_ring_ready(struct tgd *d, struct ring_buffer *rb)
{
	if (ring_buffer__consume(rb) < 0)
		log_debug("probes: ring_buffer__consume: %s", strerror(errno));
}

void
probes_tick(struct tgd *d)
{
	uint64_t ticks;

	if (read(P.tfd, &ticks, sizeof(ticks)) <= 0)
		return;
	gpudev_tick(d);
	cudaprobe_sweep(d);
	idle_tick(d, tgd_mono_ns());
}

static void
start_tick(struct tgd *d)
{
	struct itimerspec its = { { 1, 0 }, { 1, 0 } };
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &P.ev_tick };

	P.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (P.tfd == -1 || timerfd_settime(P.tfd, 0, &its, NULL) == -1) {
		log_warn("probes: timerfd");
		return;
	}
	P.ev_tick.kind = EV_PROBE_TICK;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, P.tfd, &ev) == -1)
		log_warn("probes: epoll_ctl");
}

void
probes_start(struct tgd *d)
{
	libbpf_set_print(libbpf_log);
	start_tick(d);
	if (d->probes_off) {
		log_info("eBPF probes off (--probes off)");
		return;
	}
	if (geteuid() != 0) {
		log_warnx("eBPF probes off: not root (idle GPU holders%s are "
		    "not seen; processes under the shim are metered)",
		    d->audit ? " and audit mode" : "");
		return;
	}
	/* cudaprobe first: the holders gpudev finds at start are offered to
	 * it at once */
	cudaprobe_start(d);
	gpudev_start(d);
	if (d->audit)
		tlsaudit_start(d);
	tlsconn_start(d);
}

void
probes_stop(struct tgd *d)
{
	tlsconn_stop(d);
	tlsaudit_stop(d);
	cudaprobe_stop(d);
	gpudev_stop(d);
	P.nrings = 0;
	if (P.tfd != -1)
		close(P.tfd);
	P.tfd = -1;
}

int
probes_pid_covered(struct tgd *d, pid_t pid, uint32_t what)
{
	for (struct proc *p = d->procs_all; p; p = p->all_next)
		if (!p->dead && p->peer && p->peer->pid == pid &&
		    (p->covers & what) == what)
			return 1;
	return 0;
}
