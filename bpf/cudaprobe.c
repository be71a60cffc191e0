/*
 * cudaprobe.c — the loader of bpf/cudaprobe.bpf.c (issue 6): uprobes on
 * libcuda.so.1's launch and allocation functions, attached per pid to
 * processes the shim does not cover, feeding idle.c (idle_gpu_activity).
 *
 * cudaprobe_start: open → load → attach the exit tracepoint → ring buffer
 * into the daemon's epoll loop (probes_watch). cudaprobe_attach_pid: find
 * libcuda in /proc/PID/maps, resolve the functions' file offsets from its
 * ELF symbols (libelf, cached per inode), put pid in the "counts" map and
 * attach one uprobe per function with that pid; once per (pid, inode).
 * The process's exit (its pidfd; CP_EV_EXIT) destroys its links.
 * Everything runs on the daemon's main thread but the links' destruction
 * (cudaprobe_reap.c).
 *
 * Events are rate-limited in the kernel (cudaprobe.h): the first call
 * after a quiet spell comes as an event at once, and cudaprobe_sweep
 * (once a second) reads every watched process's counts from the map, so
 * idle.c hears of the rest of a burst within a second, with the time of
 * its last call. A process that maps the shim but has not registered is
 * probed only after a grace (cudaprobe_shim.h).
 *
 * Audit mode (cudaprobe.h): the loader finds libcuda processes itself —
 * a /proc/PID/maps scan of every process at start and of each one 0.1 s
 * after its exec (not a scan of the whole /proc every second: its cost
 * grows with every process on the host, and a dlopen after the scan
 * would still be missed), plus cuInit watched host-wide in every libcuda
 * file seen (once per process; the launch functions stay per pid) for the
 * late dlopen. The launches of each watched process become ledger records
 * (gpu_audit.c) at its exit, every --gpu-interval seconds and at daemon
 * exit: only what grew since the last record, so none is counted twice.
 * Detaching is not done on the main thread: closing a uprobe's perf event
 * waits for an RCU grace period in the kernel (cudaprobe_reap.h).
 *
 * Limit: launches made between cuInit and the attach (the ring buffer's
 * wake-up, well under a millisecond; a real driver's cuInit takes far
 * longer than that) by a process that dlopened libcuda late are not seen.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "daemon.h"
#include "gpu_audit.h"
#include "ledger.h"
#include "log.h"
#include "probes.h"
#include "procinfo.h"
#include "proto.h"

#include "cudaprobe.h"
#include "cudaprobe_lib.h"
#include "cudaprobe_reap.h"
#include "cudaprobe_shim.h"
#include "cudaprobe.skel.h"

/* Defined by probes.c and idle.c; weak here so this module links (and
 * says so) while either is missing. */
#pragma weak probes_watch
#pragma weak probes_pid_covered
#pragma weak idle_gpu_activity
#pragma weak procinfo_identity
#pragma weak gpu_audit_record

struct cp_pid {
	pid_t pid;
	dev_t dev;             /* the libcuda attached to */
	ino_t ino;
	int exited;            /* final counts kept for cudaprobe_counts */
	int shimmed;           /* maps the shim: detached if it registers */
	int pidfd;             /* while attached; -1 after */
	struct bpf_link *links[CP_NFUNCS];
	struct cp_counts seen; /* what idle.c was told */
	uint64_t events;       /* call events read (the bench's figure) */
	/* audit mode */
	struct ledger_entry *id; /* identity, read at attach */
	uint64_t recorded;     /* launches + graph launches in the ledger */
	int64_t rec_ns;        /* monotonic: the last record (or attach) */
	struct cp_pid *next;
};

#define CP_EXEC_QUEUE 1024
#define CP_EXEC_DELAY_NS 100000000LL /* the dynamic loader's time */

#define CP_KEEP_EXITED 256

static struct {
	struct tgd *d;
	int64_t swept_ns;          /* last sweep from the event path */
	struct cudaprobe_bpf *skel;
	struct ring_buffer *rb;
	struct cp_pid *pids;
	int audit;                 /* find processes, make records */
	struct bpf_link *exec_link;
	struct { pid_t pid; int64_t ns; } execq[CP_EXEC_QUEUE];
	int nexecq, execq_full;
	int64_t shim_grace_ns;     /* cudaprobe_shim.h */
} cp = { .shim_grace_ns = CP_SHIM_GRACE_NS };

static void cp_audit_scan_all(void);

static int cp_event(void *ctx, void *data, size_t len);

static struct bpf_program *
cp_prog(enum cp_prog p)
{
	switch (p) {
	case CP_P_LAUNCH: return cp.skel->progs.cp_launch;
	case CP_P_GRAPH: return cp.skel->progs.cp_graph_launch;
	case CP_P_ALLOC: return cp.skel->progs.cp_alloc;
	case CP_P_FREE: return cp.skel->progs.cp_free;
	}
	return NULL;
}

int
cudaprobe_start(struct tgd *d)
{
	int err;

	cp.d = d;
	if ((cp.skel = cudaprobe_bpf__open()) == NULL) {
		log_warn("cudaprobe: opening the BPF object");
		goto cleanup;
	}
	if ((err = cudaprobe_bpf__load(cp.skel)) != 0) {
		/* EPERM as root: a user namespace, or a lockdown */
		log_warnx("cudaprobe: BPF refused the libcuda uprobe programs "
		    "(GPU activity of processes without the shim is not "
		    "seen): %s", strerror(-err));
		goto cleanup;
	}
	cp.skel->links.cp_exit = bpf_program__attach(cp.skel->progs.cp_exit);
	if (cp.skel->links.cp_exit == NULL) {
		log_warn("cudaprobe: attaching sched/sched_process_exit");
		goto cleanup;
	}
	cp.rb = ring_buffer__new(bpf_map__fd(cp.skel->maps.events), cp_event,
	    NULL, NULL);
	if (cp.rb == NULL) {
		log_warn("cudaprobe: ring buffer");
		goto cleanup;
	}
	if (probes_watch == NULL || probes_watch(d, cp.rb) != 0) {
		log_warnx("cudaprobe: the ring buffer is not in the event loop;"
		    " libcuda uprobes off");
		goto cleanup;
	}
	cp_reaper_start();
	cp.audit = d != NULL && d->audit;
	if (cp.audit) {
		cp.exec_link = bpf_program__attach(cp.skel->progs.cp_exec);
		if (cp.exec_link == NULL)
			log_warn("cudaprobe: attaching sched/sched_process_exec (audit:"
			    " processes that start later are found only through"
			    " cuInit in a libcuda seen already)");
	}
	log_info("cudaprobe: libcuda uprobes ready (attached per process without"
	    " the shim%s)", cp.audit ? "; audit: every process" : "");
	if (cp.audit)
		cp_audit_scan_all();
	return 0;
cleanup:
	ring_buffer__free(cp.rb);
	cp.rb = NULL;
	cudaprobe_bpf__destroy(cp.skel);
	cp.skel = NULL;
	return -1;
}

/* ---- libcuda files ------------------------------------------------------ */

/* cp_lib_get, and in audit mode a uprobe on a new file's cuInit. */
static struct cp_lib *
cp_lib(const char *path, dev_t dev, ino_t ino)
{
	struct cp_lib *l;
	int fresh;

	if ((l = cp_lib_get(path, dev, ino, &fresh)) == NULL || !fresh ||
	    !cp.audit || !l->usable || l->init_off == 0)
		return l;
	l->init_link = bpf_program__attach_uprobe(cp.skel->progs.cp_init,
	    false, -1, path, l->init_off);
	if (l->init_link == NULL)
		log_warn("cudaprobe: uprobe on cuInit in %s (audit: its"
		    " late dlopens are not seen)", cp_shown(path));
	else
		log_info("cudaprobe: cuInit watched in %s (audit)",
		    cp_shown(path));
	return l;
}

/* ---- per pid ------------------------------------------------------------ */

static struct cp_pid *
cp_pid_find(pid_t pid)
{
	struct cp_pid *c;

	for (c = cp.pids; c != NULL; c = c->next)
		if (c->pid == pid)
			return c;
	return NULL;
}

static void
cp_detach(struct cp_pid *c)
{
	size_t i;

	for (i = 0; i < CP_NFUNCS; i++) {
		cp_link_drop(c->links[i]);
		c->links[i] = NULL;
	}
}

/* Forget exited pids beyond the newest CP_KEEP_EXITED. */
static void
cp_prune(void)
{
	struct cp_pid **pp = &cp.pids, *c;
	int kept = 0;

	while ((c = *pp) != NULL) {
		if (c->exited && ++kept > CP_KEEP_EXITED) {
			*pp = c->next;
			free(c->id);
			free(c);
			continue;
		}
		pp = &c->next;
	}
}

static int
cp_attach_lib(struct cp_pid *c, struct cp_lib *l, const char *path)
{
	size_t i;
	int n = 0;

	for (i = 0; i < CP_NFUNCS; i++) {
		if (l->off[i] == 0)
			continue;
		c->links[i] = bpf_program__attach_uprobe(cp_prog(cp_funcs[i].prog),
		    false, c->pid, path, l->off[i]);
		if (c->links[i] == NULL) {
			log_warn("cudaprobe: pid %d: uprobe on %s in %s",
			    (int)c->pid, cp_funcs[i].name, cp_shown(path));
			continue;
		}
		n++;
	}
	return n;
}

static int
cp_alive(int pidfd)
{
	struct pollfd pfd = { .fd = pidfd, .events = POLLIN };

	return pidfd < 0 || poll(&pfd, 1, 0) == 0;
}

/* c's entry in the map: its counts, the time of its last call. */
static int
cp_read(const struct cp_pid *c, struct cp_state *s)
{
	uint32_t key = (uint32_t)c->pid;

	return bpf_map_lookup_elem(bpf_map__fd(cp.skel->maps.counts), &key, s);
}

static void cp_account(struct cp_pid *c, const struct cp_counts *k,
    int64_t ts_ns);
static void cp_exited(struct cp_pid *c);

/* What the map has that idle.c was not told yet, at the last call's
 * time. */
static void
cp_catch_up(struct cp_pid *c, int64_t now)
{
	struct cp_state s;

	if (cp_read(c, &s) == 0)
		cp_account(c, &s.c, s.last_ns != 0 ? (int64_t)s.last_ns : now);
}

/* Put pid in the map and attach: c is new, one of an exited process (a
 * reused pid), or attached to another libcuda file before. */
static void
cp_attach(struct cp_pid *c, struct cp_lib *l, const char *path, int shim,
    int pidfd)
{
	struct cp_state zero = { 0 };
	uint32_t key = (uint32_t)c->pid;
	int n;

	cp_detach(c);
	if (c->exited) { /* a new process with a reused pid */
		memset(&c->seen, 0, sizeof(c->seen));
		c->recorded = 0;
		c->events = 0;
		free(c->id);
		c->id = NULL;
	}
	if (cp.audit && c->id == NULL && procinfo_identity != NULL &&
	    (c->id = malloc(sizeof(*c->id))) != NULL)
		procinfo_identity(c->id, c->pid);
	c->rec_ns = tgd_mono_ns();
	c->exited = 1; /* until it is in the map */
	c->dev = l->dev;
	c->ino = l->ino;
	c->shimmed = shim;
	if (bpf_map_update_elem(bpf_map__fd(cp.skel->maps.counts), &key, &zero,
	    BPF_NOEXIST) != 0 && errno != EEXIST) {
		log_warn("cudaprobe: pid %d: counts map", (int)c->pid);
		cp_detach(c);
		if (c->pidfd >= 0)
			close(c->pidfd);
		c->pidfd = -1;
		close(pidfd);
		return;
	}
	c->exited = 0;
	if (shim)
		log_info("cudaprobe: pid %d maps the shim but did not register"
		    " within %g s: probed", (int)c->pid,
		    (double)cp.shim_grace_ns / 1e9);
	n = cp_attach_lib(c, l, path);
	log_info("cudaprobe: pid %d: %d uprobes on %s", (int)c->pid, n,
	    cp_shown(path));
	if (c->pidfd >= 0)
		close(c->pidfd);
	c->pidfd = pidfd; /* cudaprobe_sweep: exited before or after */
}

void
cudaprobe_attach_pid(struct tgd *d, pid_t pid)
{
	char path[PATH_MAX + 32];
	struct cp_lib *l;
	struct cp_pid *c;
	int shim, pidfd;
	dev_t dev = 0;
	ino_t ino = 0;

	if (cp.skel == NULL || pid <= 0 || pid == getpid())
		return;
	if (probes_pid_covered != NULL &&
	    probes_pid_covered(d, pid, TG_COVERS_LIBCUDA)) {
		cp_shim_forget(pid);
		return; /* the shim counts its launches itself */
	}
	/* a reused pid's old entry goes first */
	if ((c = cp_pid_find(pid)) != NULL && !c->exited && !cp_alive(c->pidfd))
		cp_exited(c);
	if ((pidfd = (int)syscall(SYS_pidfd_open, pid, 0)) < 0)
		return; /* gone already */
	if (cp_find_libcuda(pid, path, sizeof(path), &dev, &ino, &shim) != 0)
		goto cleanup; /* no libcuda yet */
	if (c != NULL && !c->exited && c->dev == dev && c->ino == ino)
		goto cleanup; /* attached already */
	if (shim && cp_shim_waiting(pid, tgd_mono_ns()))
		goto cleanup; /* it may register yet: looked at again */
	cp_shim_forget(pid);
	if ((l = cp_lib(path, dev, ino)) == NULL || !l->usable)
		goto cleanup;
	if (c == NULL) {
		if ((c = calloc(1, sizeof(*c))) == NULL)
			goto cleanup;
		c->pid = pid;
		c->pidfd = -1;
		c->exited = 1;
		c->next = cp.pids;
		cp.pids = c;
	}
	cp_attach(c, l, path, shim, pidfd);
	return;
cleanup:
	close(pidfd);
}

void
cudaprobe_shim_grace(int64_t ns)
{
	cp.shim_grace_ns = ns;
	cp_shim_set_grace(ns);
}

/* ---- accounting, detaching --------------------------------------------- */

/* Audit: the launches counted since the process's last record. A
 * process that maps the shim gets none: probed, its launches are idle.c's
 * activity only, since its shim counts them from the start and would
 * report them all if it registers later (never counted twice). */
static void
cp_audit_record(struct cp_pid *c, int64_t now)
{
	uint64_t total = c->seen.launches + c->seen.graph_launches;

	c->rec_ns = now;
	if (!cp.audit || c->id == NULL || c->shimmed || total <= c->recorded)
		return;
	if (gpu_audit_record != NULL)
		gpu_audit_record(cp.d, c->id, total - c->recorded);
	c->recorded = total;
}

/* The last record, the links dropped, the map entry gone; c->seen kept
 * for cudaprobe_counts. */
static void
cp_release(struct cp_pid *c)
{
	uint32_t key = (uint32_t)c->pid;

	cp_audit_record(c, tgd_mono_ns());
	cp_detach(c);
	bpf_map_delete_elem(bpf_map__fd(cp.skel->maps.counts), &key);
	c->exited = 1;
	if (c->pidfd >= 0)
		close(c->pidfd);
	c->pidfd = -1;
}

/* c's process exited: its last counts from the map first. */
static void
cp_exited(struct cp_pid *c)
{
	const struct cp_counts *k = &c->seen;

	cp_catch_up(c, tgd_mono_ns());
	log_info("cudaprobe: pid %d exited: %" PRIu64 " launches, %" PRIu64
	    " graph launches, %" PRIu64 " allocations (%" PRIu64 " bytes), %"
	    PRIu64 " frees (%" PRIu64 " ring events)", (int)c->pid,
	    k->launches, k->graph_launches, k->allocs, k->alloc_bytes,
	    k->frees, c->events);
	cp_release(c);
}

/* A probed shimmed process registered after all: its shim counts from
 * here (cudaprobe_shim.h). */
static void
cp_registered(struct cp_pid *c)
{
	cp_catch_up(c, tgd_mono_ns());
	log_info("cudaprobe: pid %d registered through the shim: detached"
	    " after %" PRIu64 " launches", (int)c->pid,
	    c->seen.launches + c->seen.graph_launches);
	cp_release(c);
}

static void
cp_account(struct cp_pid *c, const struct cp_counts *k, int64_t ts_ns)
{
	uint64_t before, now;

	before = c->seen.launches + c->seen.graph_launches;
	now = k->launches + k->graph_launches;
	/* counts only grow; an older event read late changes nothing */
	if (now > before) {
		if (idle_gpu_activity != NULL)
			idle_gpu_activity(cp.d, c->pid, now - before, ts_ns);
		c->seen.launches = k->launches;
		c->seen.graph_launches = k->graph_launches;
	}
	if (k->allocs > c->seen.allocs) {
		c->seen.allocs = k->allocs;
		c->seen.alloc_bytes = k->alloc_bytes;
	}
	if (k->frees > c->seen.frees)
		c->seen.frees = k->frees;
}

/* ---- audit mode: finding processes, periodic records --------------- */

/* pid maps libcuda: watch that file's cuInit, offer pid to attach. */
static void
cp_audit_look(pid_t pid)
{
	char path[PATH_MAX + 32];
	dev_t dev;
	ino_t ino;
	int shim;

	if (cp_find_libcuda(pid, path, sizeof(path), &dev, &ino, &shim) != 0)
		return;
	(void)cp_lib(path, dev, ino);
	cudaprobe_attach_pid(cp.d, pid);
}

static void
cp_audit_scan_all(void)
{
	struct dirent *de;
	DIR *dir;
	char *end;
	long pid;

	if ((dir = opendir("/proc")) == NULL) {
		log_warn("cudaprobe: /proc");
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		pid = strtol(de->d_name, &end, 10);
		if (*end == '\0' && pid > 0)
			cp_audit_look((pid_t)pid);
	}
	closedir(dir);
}

static void
cp_exec_queued(pid_t pid, int64_t ns)
{
	if (cp.nexecq == CP_EXEC_QUEUE) {
		if (!cp.execq_full++)
			log_warnx("cudaprobe: more than %d execs in 0.1 s; the"
			    " ones beyond are found only through cuInit",
			    CP_EXEC_QUEUE);
		return;
	}
	cp.execq[cp.nexecq].pid = pid;
	cp.execq[cp.nexecq].ns = ns;
	cp.nexecq++;
}

/* After cudaprobe_sweep read the counts: the execs to look at, the
 * records due. */
static void
cp_audit_tick(struct tgd *d, int64_t now)
{
	int64_t every;
	struct cp_pid *c;
	int i, n = 0;

	/* execs at least CP_EXEC_DELAY_NS old: the loader has mapped the
	 * libraries the program links */
	for (i = 0; i < cp.nexecq; i++) {
		if (now - cp.execq[i].ns >= CP_EXEC_DELAY_NS)
			cp_audit_look(cp.execq[i].pid);
		else
			cp.execq[n++] = cp.execq[i];
	}
	cp.nexecq = n; /* events are not read in here: nothing was added */
	cp.execq_full = 0;
	every = (int64_t)(d != NULL && d->gpu_interval > 0 ?
	    d->gpu_interval : 60) * 1000000000LL;
	for (c = cp.pids; c != NULL; c = c->next)
		if (!c->exited && now - c->rec_ns >= every)
			cp_audit_record(c, now);
}

/*
 * Processes that exited: their pidfds are readable. The exit tracepoint
 * (CP_EV_EXIT) is not seen for a process with uprobes attached on the 6.18
 * kernel measured here, so the pidfds are the ground truth; the final
 * counts are read from the map before its entry goes. The live ones: what
 * their map entries gained since the last event.
 */
void
cudaprobe_sweep(struct tgd *d)
{
	struct cp_pid *c;
	int64_t now;

	if (cp.skel == NULL)
		return;
	now = tgd_mono_ns();
	for (c = cp.pids; c != NULL; c = c->next) {
		if (c->exited)
			continue;
		if (!cp_alive(c->pidfd))
			cp_exited(c);
		else if (c->shimmed && probes_pid_covered != NULL &&
		    probes_pid_covered(d, c->pid, TG_COVERS_LIBCUDA))
			cp_registered(c);
		else
			cp_catch_up(c, now); /* the tail of a burst */
	}
	cp_prune();
	cp_shim_recheck(d, now, cudaprobe_attach_pid);
	if (cp.audit)
		cp_audit_tick(d, now);
}

/* ---- events ------------------------------------------------------------- */

static int
cp_event(void *ctx, void *data, size_t len)
{
	const struct cp_event *e = data;
	struct cp_pid *c;

	if (len < sizeof(*e))
		return 0;
	if (e->type == CP_EV_INIT) {
		cudaprobe_attach_pid(cp.d, (pid_t)e->pid);
		return 0;
	}
	if (e->type == CP_EV_EXEC) {
		cp_exec_queued((pid_t)e->pid, (int64_t)e->ts_ns);
		return 0;
	}
	if ((c = cp_pid_find((pid_t)e->pid)) == NULL || c->exited)
		return 0;
	cp_account(c, &e->c, (int64_t)e->ts_ns);
	if (e->type != CP_EV_EXIT)
		c->events++;
	if (e->type == CP_EV_EXIT) {
		cp_exited(c);
		cp_prune();
	}
	/* exits of idle processes, at most once a second of events */
	if ((int64_t)e->ts_ns - cp.swept_ns > 1000000000LL) {
		cp.swept_ns = (int64_t)e->ts_ns;
		cudaprobe_sweep(cp.d);
	}
	return 0;
}

int
cudaprobe_counts(pid_t pid, struct cp_counts *out)
{
	struct cp_pid *c;

	if (cp.rb != NULL)
		ring_buffer__consume(cp.rb);
	cudaprobe_sweep(cp.d);
	if ((c = cp_pid_find(pid)) == NULL)
		return -1;
	*out = c->seen;
	return 0;
}

void
cudaprobe_stop(struct tgd *d)
{
	struct cp_pid *c, *next;

	if (cp.rb != NULL)
		ring_buffer__consume(cp.rb);
	for (c = cp.pids; c != NULL; c = next) {
		next = c->next;
		/* audit: what the live ones launched since their last record */
		if (!c->exited && cp.skel != NULL) {
			cp_catch_up(c, tgd_mono_ns());
			cp_audit_record(c, tgd_mono_ns());
		}
		cp_detach(c);
		if (c->pidfd >= 0)
			close(c->pidfd);
		free(c->id);
		free(c);
	}
	cp.pids = NULL;
	cp_lib_free_all();
	cp_shim_free_all();
	bpf_link__destroy(cp.exec_link);
	cp.exec_link = NULL;
	cp.nexecq = 0;
	cp_reaper_stop();
	ring_buffer__free(cp.rb);
	cp.rb = NULL;
	cudaprobe_bpf__destroy(cp.skel);
	cp.skel = NULL;
}
