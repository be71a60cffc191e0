/*
 * gpudev.c — the loader of bpf/gpudev.bpf.c (issue 6): which processes
 * hold a GPU device, since when, and their GPU ioctls, told to idle.c
 * (idle_gpu_open / idle_gpu_release / idle_gpu_activity); cudaprobe gets
 * each new holder, and each holder that exec'd, to attach its uprobes.
 *
 * gpudev_start: open → set the prefix (rodata) → load → attach → ring
 * buffer into the daemon's epoll loop → scan /proc/PID/fd for the holders
 * from before the daemon. The tracepoints' events are hints; /proc is the
 * ground truth: a close is confirmed by rescanning that pid, a holder's
 * fork (a raw tracepoint) has its child read at once, and gpudev_tick
 * rescans every process once a second, which finds fds inherited through
 * dup or a fork not seen, passed over a socket or opened relative to a
 * directory, processes whose last fd went unseen (close_range, dup2 over
 * it, a lost event) and exits the kernel did not report. Found fds go
 * into the kernel's "fds" map so ioctls on inherited fds count too.
 *
 * ioctls are counted in the kernel ("procs", per tgid) and read here once
 * a second rather than sent as events: a busy process makes thousands a
 * second, and idle.c decides on a scale of seconds (idle_tick runs once a
 * second too); the kernel keeps the last ioctl's time, so the activity
 * idle.c is told carries that time, not the tick's.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "daemon.h"
#include "log.h"
#include "probes.h"

#include "gpudev.h"
#include "gpudev.skel.h"

/* Defined by probes.c, idle.c and cudaprobe.c; weak here so this module
 * links while one of them is missing. */
#pragma weak probes_watch
#pragma weak idle_gpu_open
#pragma weak idle_gpu_release
#pragma weak idle_gpu_activity
#pragma weak cudaprobe_attach_pid

#define GD_DEFAULT_PREFIX "/dev/nvidia"
#define GD_SCAN_FDS 64     /* fds per process put into the kernel map */
#define GD_TICK_BUDGET_NS (20 * 1000000LL) /* /proc scanning per tick */

/* One process holding a GPU device; a sorted array, by pid. */
struct gd_holder {
	pid_t pid;
	int nfds;              /* GPU fds at the last scan */
	uint32_t gen;          /* the /proc pass that last saw it hold */
	uint64_t ioctls_seen;  /* what idle.c was told */
};

static struct {
	struct tgd *d;
	struct gpudev_bpf *skel;
	struct ring_buffer *rb;
	char prefix[GD_PREFIX_MAX];
	struct gd_holder *h;
	size_t n, cap;
	pid_t self;
	int attach_started;    /* cudaprobe told about the start-up holders */
	/* the /proc pass under way (gpudev_tick) */
	uint32_t gen;
	pid_t *cyc;
	size_t ncyc, pos;
	int ticks;             /* the pass has taken so far */
} gd;

static int gd_event(void *ctx, void *data, size_t len);
static void gd_scan_start(pid_t pid, void *arg);

/* ---- holders ------------------------------------------------------------ */

/* The index of pid, or where it would go (*found 0). */
static size_t
gd_index(pid_t pid, int *found)
{
	size_t lo = 0, hi = gd.n, mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (gd.h[mid].pid == pid) {
			*found = 1;
			return mid;
		}
		if (gd.h[mid].pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = 0;
	return lo;
}

static struct gd_holder *
gd_find(pid_t pid)
{
	int found;
	size_t i = gd_index(pid, &found);

	return found ? &gd.h[i] : NULL;
}

static struct gd_holder *
gd_insert(pid_t pid)
{
	struct gd_holder *nh;
	size_t i, cap;
	int found;

	i = gd_index(pid, &found);
	if (found)
		return &gd.h[i];
	if (gd.n == gd.cap) {
		cap = gd.cap ? gd.cap * 2 : 16;
		if ((nh = reallocarray(gd.h, cap, sizeof(*nh))) == NULL) {
			log_warn("gpudev: pid %d not tracked", (int)pid);
			return NULL;
		}
		gd.h = nh;
		gd.cap = cap;
	}
	memmove(&gd.h[i + 1], &gd.h[i], (gd.n - i) * sizeof(*gd.h));
	memset(&gd.h[i], 0, sizeof(*gd.h));
	gd.h[i].pid = pid;
	gd.n++;
	return &gd.h[i];
}

/* ioctls since the last call: to idle.c, with the last one's time. */
static void
gd_account(struct gd_holder *h)
{
	uint32_t key = (uint32_t)h->pid;
	struct gd_proc p;

	if (bpf_map_lookup_elem(bpf_map__fd(gd.skel->maps.procs), &key,
	    &p) != 0 || p.ioctls <= h->ioctls_seen)
		return;
	log_debug("gpudev: pid %d: %" PRIu64 " GPU ioctls", (int)h->pid,
	    p.ioctls - h->ioctls_seen);
	if (idle_gpu_activity != NULL)
		idle_gpu_activity(gd.d, h->pid, p.ioctls - h->ioctls_seen,
		    (int64_t)p.last_ioctl_ns);
	h->ioctls_seen = p.ioctls;
}

/* The fds a scan found, into the kernel's map: their ioctls and closes
 * are seen from now on. */
static void
gd_track_fds(pid_t pid, const int *fds, int n)
{
	struct gd_proc zero = { 0 };
	uint32_t key = (uint32_t)pid;
	struct gd_fd_key k;
	uint8_t one = 1;
	int i;

	bpf_map_update_elem(bpf_map__fd(gd.skel->maps.procs), &key, &zero,
	    BPF_NOEXIST);
	for (i = 0; i < n && i < GD_SCAN_FDS; i++) {
		k.tgid = (uint32_t)pid;
		k.fd = fds[i];
		bpf_map_update_elem(bpf_map__fd(gd.skel->maps.fds), &k, &one,
		    BPF_ANY);
	}
}

/* pid holds a GPU fd: new holders go to idle.c and cudaprobe. */
static struct gd_holder *
gd_hold(pid_t pid, int nfds, const char *how, int64_t ts)
{
	struct gd_holder *h;

	if ((h = gd_find(pid)) != NULL) {
		h->nfds = nfds;
		h->gen = gd.gen;
		/* a holder through NVML (/dev/nvidiactl) may map libcuda only
		 * when cuInit opens the next device: look again */
		if (strncmp(how, "open", 4) == 0 && cudaprobe_attach_pid != NULL)
			cudaprobe_attach_pid(gd.d, pid);
		return h;
	}
	if ((h = gd_insert(pid)) == NULL)
		return NULL;
	h->nfds = nfds;
	h->gen = gd.gen;
	log_debug("gpudev: pid %d holds the GPU (%s)", (int)pid,
	    how);
	if (idle_gpu_open != NULL)
		idle_gpu_open(gd.d, pid, ts);
	if (cudaprobe_attach_pid != NULL)
		cudaprobe_attach_pid(gd.d, pid);
	return h;
}

static void
gd_release(struct gd_holder *h, const char *how, int64_t ts)
{
	uint32_t key = (uint32_t)h->pid;
	pid_t pid = h->pid;

	gd_account(h); /* the last ioctls first */
	bpf_map_delete_elem(bpf_map__fd(gd.skel->maps.procs), &key);
	memmove(h, h + 1, (size_t)(&gd.h[gd.n] - (h + 1)) * sizeof(*h));
	gd.n--;
	log_debug("gpudev: pid %d released the GPU (%s)", (int)pid, how);
	if (idle_gpu_release != NULL)
		idle_gpu_release(gd.d, pid, ts);
}

/* /proc/pid/fd decides: holds (fds tracked), or released. */
static void
gd_rescan(pid_t pid, const char *why, int64_t ts)
{
	int fds[GD_SCAN_FDS], n;
	struct gd_holder *h;

	if (pid == gd.self) /* the daemon's own NVML opens */
		return;
	n = gpudev_scan_pid(pid, gd.prefix, fds, GD_SCAN_FDS);
	if (n > 0) {
		gd_track_fds(pid, fds, n);
		gd_hold(pid, n, why, ts);
	} else if ((h = gd_find(pid)) != NULL)
		gd_release(h, n < 0 ? "exit" : why, ts);
}

/* ---- start, stop -------------------------------------------------------- */

static int
gd_attach(struct bpf_program *p, struct bpf_link **l, int optional)
{
	if ((*l = bpf_program__attach(p)) != NULL)
		return 0;
	if (optional) {
		log_debug("gpudev: %s not attached (%s); the /proc rescan "
		    "covers it", bpf_program__section_name(p), strerror(errno));
		return 0;
	}
	log_warn("gpudev: attaching %s; GPU device holders are not "
	    "seen", bpf_program__section_name(p));
	return -1;
}

static int
gd_attach_all(void)
{
	struct gpudev_bpf *s = gd.skel;

	return gd_attach(s->progs.gd_openat_enter, &s->links.gd_openat_enter, 0) ||
	    gd_attach(s->progs.gd_openat_exit, &s->links.gd_openat_exit, 0) ||
	    gd_attach(s->progs.gd_openat2_enter, &s->links.gd_openat2_enter, 1) ||
	    gd_attach(s->progs.gd_openat2_exit, &s->links.gd_openat2_exit, 1) ||
	    gd_attach(s->progs.gd_open_enter, &s->links.gd_open_enter, 1) ||
	    gd_attach(s->progs.gd_open_exit, &s->links.gd_open_exit, 1) ||
	    gd_attach(s->progs.gd_close_enter, &s->links.gd_close_enter, 0) ||
	    gd_attach(s->progs.gd_close_exit, &s->links.gd_close_exit, 0) ||
	    gd_attach(s->progs.gd_ioctl, &s->links.gd_ioctl, 0) ||
	    gd_attach(s->progs.gd_exec, &s->links.gd_exec, 0) ||
	    gd_attach(s->progs.gd_exit, &s->links.gd_exit, 0) ||
	    gd_attach(s->progs.gd_fork, &s->links.gd_fork, 1) ? -1 : 0;
}

static int
gd_set_prefix(const struct tgd *d)
{
	const char *p = d->gpu_dev_prefix[0] ? d->gpu_dev_prefix :
	    GD_DEFAULT_PREFIX;
	size_t len = strlen(p);

	if (len >= GD_PREFIX_MAX) {
		log_warnx("gpudev: device prefix %s is longer than %d "
		    "bytes; GPU device holders are not seen", p,
		    GD_PREFIX_MAX - 1);
		return -1;
	}
	memcpy(gd.prefix, p, len + 1);
	memcpy((char *)gd.skel->rodata->gd_prefix, p, len + 1);
	gd.skel->rodata->gd_prefix_len = (uint32_t)len;
	return 0;
}

int
gpudev_start(struct tgd *d)
{
	int err;

	gd.d = d;
	gd.self = getpid();
	if ((gd.skel = gpudev_bpf__open()) == NULL) {
		log_warn("gpudev: opening the BPF object");
		goto cleanup;
	}
	if (gd_set_prefix(d) != 0)
		goto cleanup;
	if ((err = gpudev_bpf__load(gd.skel)) != 0) {
		errno = -err;
		log_warn("gpudev: BPF refused the GPU device programs (GPU "
		    "device holders are not seen)");
		goto cleanup;
	}
	if (gd_attach_all() != 0)
		goto cleanup;
	gd.rb = ring_buffer__new(bpf_map__fd(gd.skel->maps.events), gd_event,
	    NULL, NULL);
	if (gd.rb == NULL) {
		log_warn("gpudev: ring buffer; GPU device holders are not seen");
		goto cleanup;
	}
	if (probes_watch == NULL || probes_watch(d, gd.rb) != 0) {
		log_warnx("gpudev: the ring buffer is not in the event loop; GPU "
		    "device holders are not seen");
		goto cleanup;
	}
	gpudev_scan_all(gd_scan_start, NULL);
	log_info("gpudev: watching opens of %s*, %zu holders found",
	    gd.prefix, gd.n);
	return 0;
cleanup:
	gpudev_stop(d);
	return -1;
}

static void
gd_scan_start(pid_t pid, void *arg)
{
	if (pid != gd.self)
		gd_rescan(pid, "scan", tgd_mono_ns());
}

void
gpudev_stop(struct tgd *d)
{
	ring_buffer__free(gd.rb);
	gd.rb = NULL;
	gpudev_bpf__destroy(gd.skel);
	gd.skel = NULL;
	free(gd.h);
	gd.h = NULL;
	gd.n = gd.cap = 0;
	free(gd.cyc);
	gd.cyc = NULL;
	gd.attach_started = 0;
}

/* ---- events ------------------------------------------------------------- */

static int
gd_event(void *ctx, void *data, size_t len)
{
	const struct gd_event *e = data;
	pid_t pid = (pid_t)e->pid;
	struct gd_holder *h;
	char how[32];

	if (len < sizeof(*e) || pid == gd.self || gd.skel == NULL)
		return 0;
	switch (e->type) {
	case GD_EV_OPEN:
		log_debug("gpudev: pid %d opened fd %d", (int)pid,
		    (int)e->fd);
		snprintf(how, sizeof(how), "open, fd %d", (int)e->fd);
		if ((h = gd_hold(pid, 1, how, (int64_t)e->ts_ns)) != NULL)
			gd_track_fds(pid, NULL, 0); /* its "procs" entry */
		break;
	case GD_EV_CLOSE:
		log_debug("gpudev: pid %d closed fd %d", (int)pid,
		    (int)e->fd);
		gd_rescan(pid, "close", (int64_t)e->ts_ns);
		break;
	case GD_EV_EXEC:
		/* O_CLOEXEC fds went; a new program may map libcuda */
		gd_rescan(pid, "exec", (int64_t)e->ts_ns);
		if ((h = gd_find(pid)) == NULL)
			break;
		log_debug("gpudev: pid %d exec'd, holds %d GPU fds",
		    (int)pid, h->nfds);
		if (cudaprobe_attach_pid != NULL)
			cudaprobe_attach_pid(gd.d, pid);
		break;
	case GD_EV_FORK:
		gd_rescan(pid, "fork", (int64_t)e->ts_ns);
		break;
	case GD_EV_EXIT:
		if ((h = gd_find(pid)) != NULL)
			gd_release(h, "exit", (int64_t)e->ts_ns);
		break;
	}
	return 0;
}

/* ---- once a second ------------------------------------------------------ */

/* Kernel map entries that no longer name a GPU fd (closed unseen, the
 * process gone or exec'd): dropped, collected first, then deleted. */
static void
gd_prune_fds(void)
{
	int fd = bpf_map__fd(gd.skel->maps.fds);
	struct gd_fd_key k, cursor, *pk = NULL, *gone;
	size_t n = 0;

	if ((gone = calloc(GD_MAX_FDS, sizeof(*gone))) == NULL)
		return;
	while (bpf_map_get_next_key(fd, pk, &k) == 0 && n < GD_MAX_FDS) {
		if (!gpudev_fd_matches((pid_t)k.tgid, k.fd, gd.prefix))
			gone[n++] = k;
		cursor = k;
		pk = &cursor;
	}
	while (n > 0)
		bpf_map_delete_elem(fd, &gone[--n]);
	free(gone);
}

/* "procs" entries of processes not held (an open whose event was lost
 * and that closed since): rescanned, then held or dropped. */
static void
gd_prune_procs(void)
{
	int fd = bpf_map__fd(gd.skel->maps.procs);
	uint32_t k, cursor, *pk = NULL, *orphan;
	size_t n = 0;

	if ((orphan = calloc(GD_MAX_PROCS, sizeof(*orphan))) == NULL)
		return;
	while (bpf_map_get_next_key(fd, pk, &k) == 0 && n < GD_MAX_PROCS) {
		if (gd_find((pid_t)k) == NULL)
			orphan[n++] = k;
		cursor = k;
		pk = &cursor;
	}
	while (n > 0) {
		k = orphan[--n];
		gd_rescan((pid_t)k, "scan", tgd_mono_ns());
		if (gd_find((pid_t)k) == NULL)
			bpf_map_delete_elem(fd, &k);
	}
	free(orphan);
}

/* probes_start starts gpudev before cudaprobe, so the holders the
 * start-up scan found are offered to cudaprobe again at the first tick
 * (it attaches once per process and library). */
static void
gd_attach_started(void)
{
	size_t i;

	gd.attach_started = 1;
	for (i = 0; i < gd.n && cudaprobe_attach_pid != NULL; i++)
		cudaprobe_attach_pid(gd.d, gd.h[i].pid);
}

/* A new pass over /proc: the pids there now. */
static void
gd_cycle_begin(void)
{
	gd.gen++;
	gd.pos = 0;
	gd.ticks = 0;
	if ((gd.cyc = gpudev_list_pids(&gd.ncyc)) == NULL)
		log_warn("gpudev: listing /proc");
}

/* The pass is over: a holder it did not find (gone before its turn) is
 * released, and the kernel maps lose what no longer holds. */
static void
gd_cycle_end(void)
{
	struct gd_holder *h;
	size_t i;

	for (i = gd.n; i > 0; i--) {
		h = &gd.h[i - 1];
		if (h->gen != gd.gen)
			gd_release(h, kill(h->pid, 0) == 0 || errno == EPERM ?
			    "scan" : "exit", tgd_mono_ns());
	}
	gd_prune_fds();
	gd_prune_procs();
	if (gd.ticks > 1)
		log_debug("gpudev: the /proc pass over %zu processes took "
		    "%d ticks", gd.ncyc, gd.ticks);
	free(gd.cyc);
	gd.cyc = NULL;
}

/*
 * One readlink per fd of every process is about 7 µs here: a host with
 * 100,000 fds would stall the event loop for most of a second. So each
 * tick scans for at most GD_TICK_BUDGET_NS and the next goes on from
 * there; a small host is scanned whole every tick.
 */
void
gpudev_tick(struct tgd *d)
{
	int64_t t0 = tgd_mono_ns();
	size_t i;

	if (gd.skel == NULL)
		return;
	ring_buffer__consume(gd.rb); /* events before the truth */
	if (!gd.attach_started)
		gd_attach_started();
	if (gd.cyc == NULL)
		gd_cycle_begin();
	gd.ticks++;
	while (gd.cyc != NULL && gd.pos < gd.ncyc) {
		if (gd.cyc[gd.pos] != gd.self)
			gd_rescan(gd.cyc[gd.pos], "scan", tgd_mono_ns());
		gd.pos++;
		if (tgd_mono_ns() - t0 > GD_TICK_BUDGET_NS)
			break;
	}
	if (gd.cyc == NULL || gd.pos == gd.ncyc)
		gd_cycle_end();
	for (i = 0; i < gd.n; i++)
		gd_account(&gd.h[i]);
}
