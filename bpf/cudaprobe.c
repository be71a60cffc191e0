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
 * The process's exit (CP_EV_EXIT) destroys its links. Everything runs on
 * the daemon's main thread.
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
 * waits for an RCU grace period in the kernel (0.4 s each, 10 per process,
 * measured on a loaded 6.18 host), so the links go to a reaper thread that
 * only destroys them (bpf_link__destroy touches nothing the main thread
 * still uses).
 *
 * Limit: launches made between cuInit and the attach (the ring buffer's
 * wake-up, well under a millisecond; a real driver's cuInit takes far
 * longer than that) by a process that dlopened libcuda late are not seen.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
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
#include "cudaprobe.skel.h"

/* Defined by probes.c and idle.c; weak here so this module links (and
 * says so) while either is missing. */
#pragma weak probes_watch
#pragma weak probes_pid_covered
#pragma weak idle_gpu_activity
#pragma weak procinfo_identity
#pragma weak gpu_audit_record

enum cp_prog { CP_P_LAUNCH, CP_P_GRAPH, CP_P_ALLOC, CP_P_FREE };

static const struct cp_func {
	const char *name;
	enum cp_prog prog;
} cp_funcs[] = {
	{ "cuLaunchKernel", CP_P_LAUNCH },
	{ "cuLaunchKernel_ptsz", CP_P_LAUNCH },
	{ "cuLaunchKernelEx", CP_P_LAUNCH },
	{ "cuLaunchKernelEx_ptsz", CP_P_LAUNCH },
	{ "cuLaunchCooperativeKernel", CP_P_LAUNCH },
	{ "cuLaunchCooperativeKernel_ptsz", CP_P_LAUNCH },
	{ "cuGraphLaunch", CP_P_GRAPH },
	{ "cuGraphLaunch_ptsz", CP_P_GRAPH },
	{ "cuMemAlloc_v2", CP_P_ALLOC },
	{ "cuMemFree_v2", CP_P_FREE },
};
#define CP_NFUNCS (sizeof(cp_funcs) / sizeof(cp_funcs[0]))

/* One libcuda file: its functions' file offsets (0: absent). */
struct cp_lib {
	dev_t dev;
	ino_t ino;
	int usable;            /* has cuLaunchKernel at least */
	size_t off[CP_NFUNCS];
	size_t init_off;       /* cuInit */
	struct bpf_link *init_link; /* audit: cuInit, every pid */
	struct cp_lib *next;
};

struct cp_pid {
	pid_t pid;
	dev_t dev;             /* the libcuda attached to */
	ino_t ino;
	int exited;            /* final counts kept for cudaprobe_counts */
	int pidfd;             /* while attached; -1 after */
	struct bpf_link *links[CP_NFUNCS];
	struct cp_counts seen; /* what idle.c was told */
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
	int64_t swept_ns;          /* last cp_sweep from the event path */
	struct cudaprobe_bpf *skel;
	struct ring_buffer *rb;
	struct cp_lib *libs;
	struct cp_pid *pids;
	int audit;                 /* find processes, make records */
	struct bpf_link *exec_link;
	struct { pid_t pid; int64_t ns; } execq[CP_EXEC_QUEUE];
	int nexecq, execq_full;
} cp;

static void cp_audit_scan_all(void);

/* ---- the reaper: bpf_link__destroy off the main thread ----------------- */

#define CP_REAP_MAX 4096

static struct {
	pthread_t t;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct bpf_link *q[CP_REAP_MAX];
	int n, quit;
} reap = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static void *
cp_reaper(void *arg)
{
	struct bpf_link *l;

	pthread_mutex_lock(&reap.mu);
	for (;;) {
		while (reap.n == 0 && !reap.quit)
			pthread_cond_wait(&reap.cv, &reap.mu);
		if (reap.n == 0)
			break;
		l = reap.q[--reap.n];
		pthread_mutex_unlock(&reap.mu);
		bpf_link__destroy(l);
		pthread_mutex_lock(&reap.mu);
	}
	pthread_mutex_unlock(&reap.mu);
	return NULL;
}

/* Destroy l on the reaper (here when there is none, or its queue is
 * full: slow, but nothing is leaked). */
static void
cp_link_drop(struct bpf_link *l)
{
	if (l == NULL)
		return;
	pthread_mutex_lock(&reap.mu);
	if (reap.started && !reap.quit && reap.n < CP_REAP_MAX) {
		reap.q[reap.n++] = l;
		pthread_cond_signal(&reap.cv);
		l = NULL;
	}
	pthread_mutex_unlock(&reap.mu);
	bpf_link__destroy(l);
}

static void
cp_reaper_start(void)
{
	sigset_t all, old;

	if (reap.started)
		return;
	/* signals stay with the main thread */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	reap.quit = 0;
	reap.started = pthread_create(&reap.t, NULL, cp_reaper, NULL) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!reap.started)
		log_warnx("cudaprobe: no reaper thread; detaching blocks the"
		    " daemon");
}

/* Daemon exit: the queue is emptied, then the thread joined. */
static void
cp_reaper_stop(void)
{
	if (!reap.started)
		return;
	pthread_mutex_lock(&reap.mu);
	reap.quit = 1;
	pthread_cond_signal(&reap.cv);
	pthread_mutex_unlock(&reap.mu);
	pthread_join(reap.t, NULL);
	reap.started = 0;
}

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

/* ---- libcuda's functions: file offsets from the ELF symbols ---------- */

static void
cp_scan_symtab(Elf *e, Elf_Scn *scn, GElf_Shdr *sh, size_t *off,
    size_t *init_off)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t i, j, n;
	GElf_Shdr ts;
	GElf_Sym s;

	if (data == NULL || sh->sh_entsize == 0)
		return;
	n = sh->sh_size / sh->sh_entsize;
	for (i = 0; i < n; i++) {
		const char *name;
		Elf_Scn *tscn;

		if (gelf_getsym(data, (int)i, &s) == NULL ||
		    GELF_ST_TYPE(s.st_info) != STT_FUNC || s.st_shndx == SHN_UNDEF ||
		    s.st_value == 0)
			continue;
		if ((name = elf_strptr(e, sh->sh_link, s.st_name)) == NULL ||
		    strncmp(name, "cu", 2) != 0)
			continue;
		if (*init_off == 0 && strcmp(name, "cuInit") == 0 &&
		    (tscn = elf_getscn(e, s.st_shndx)) != NULL &&
		    gelf_getshdr(tscn, &ts) != NULL) {
			*init_off = s.st_value - ts.sh_addr + ts.sh_offset;
			continue;
		}
		for (j = 0; j < CP_NFUNCS; j++) {
			if (off[j] != 0 || strcmp(name, cp_funcs[j].name) != 0)
				continue;
			if ((tscn = elf_getscn(e, s.st_shndx)) == NULL ||
			    gelf_getshdr(tscn, &ts) == NULL)
				break;
			off[j] = s.st_value - ts.sh_addr + ts.sh_offset;
			break;
		}
	}
}

/* 0, or -1 with why in err. */
static int
cp_resolve(const char *path, size_t *off, size_t *init_off, char *err,
    size_t errlen)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	Elf *e;
	int fd;

	if (elf_version(EV_CURRENT) == EV_NONE) {
		tg_seterr(err, errlen, "libelf: %s", elf_errmsg(-1));
		return -1;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		tg_seterr(err, errlen, "open: %s", strerror(errno));
		return -1;
	}
	if ((e = elf_begin(fd, ELF_C_READ, NULL)) == NULL) {
		tg_seterr(err, errlen, "not ELF: %s", elf_errmsg(-1));
		close(fd);
		return -1;
	}
	/* .dynsym holds the exported names; .symtab, where present, too */
	while ((scn = elf_nextscn(e, scn)) != NULL) {
		if (gelf_getshdr(scn, &sh) != NULL &&
		    (sh.sh_type == SHT_DYNSYM || sh.sh_type == SHT_SYMTAB))
			cp_scan_symtab(e, scn, &sh, off, init_off);
	}
	elf_end(e);
	close(fd);
	return 0;
}

/* /proc/PID/root/usr/lib/...: the path as the process sees it. */
static const char *
cp_shown(const char *path)
{
	const char *p = strchr(path + strlen("/proc/"), '/');

	return p != NULL ? p + strlen("/root") : path;
}

static struct cp_lib *
cp_lib_get(const char *path, dev_t dev, ino_t ino)
{
	struct cp_lib *l;
	char err[256];

	for (l = cp.libs; l != NULL; l = l->next)
		if (l->dev == dev && l->ino == ino)
			return l;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	l->dev = dev;
	l->ino = ino;
	if (cp_resolve(path, l->off, &l->init_off, err, sizeof(err)) != 0)
		log_warnx("cudaprobe: %s: %s; its processes are not probed",
		    cp_shown(path), err);
	else if (l->off[0] == 0)
		log_warnx("cudaprobe: %s has no cuLaunchKernel symbol (not a"
		    " CUDA driver?); its processes are not probed",
		    cp_shown(path));
	else
		l->usable = 1;
	l->next = cp.libs;
	cp.libs = l;
	if (cp.audit && l->usable && l->init_off != 0) {
		l->init_link = bpf_program__attach_uprobe(cp.skel->progs.cp_init,
		    false, -1, path, l->init_off);
		if (l->init_link == NULL)
			log_warn("cudaprobe: uprobe on cuInit in %s (audit: its"
			    " late dlopens are not seen)", cp_shown(path));
		else
			log_info("cudaprobe: cuInit watched in %s (audit)",
			    cp_shown(path));
	}
	return l;
}

/* ---- per pid ------------------------------------------------------------ */

/* libcuda's path (through /proc/PID/root), device and inode from
 * /proc/PID/maps; shim set when libtollgate.so is mapped. 0, or -1 when
 * no libcuda is mapped (or pid is gone). */
static int
cp_find_libcuda(pid_t pid, char *path, size_t len, dev_t *dev, ino_t *ino,
    int *shim)
{
	char mp[64], line[PATH_MAX + 128];
	unsigned int maj, min;
	unsigned long inode;
	int found = -1, n;
	const char *p, *base;
	FILE *f;

	snprintf(mp, sizeof(mp), "/proc/%d/maps", (int)pid);
	if ((f = fopen(mp, "re")) == NULL)
		return -1;
	*shim = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%*s %*s %*s %x:%x %lu %n", &maj, &min, &inode,
		    &n) != 3 || inode == 0)
			continue;
		p = line + n;
		if (*p != '/')
			continue;
		line[strcspn(line, "\n")] = '\0';
		if (strstr(p, " (deleted)") != NULL)
			continue;
		base = strrchr(p, '/') + 1;
		if (strncmp(base, "libtollgate.so", 14) == 0)
			*shim = 1;
		if (found == 0 || strncmp(base, "libcuda.so", 10) != 0)
			continue;
		snprintf(path, len, "/proc/%d/root%s", (int)pid, p);
		*dev = makedev(maj, min);
		*ino = (ino_t)inode;
		found = 0;
	}
	fclose(f);
	return found;
}

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

void
cudaprobe_attach_pid(struct tgd *d, pid_t pid)
{
	struct cp_counts zero = { 0 };
	char path[PATH_MAX + 32];
	struct cp_lib *l;
	struct cp_pid *c;
	int shim, n, pidfd;
	uint32_t key = (uint32_t)pid;
	dev_t dev = 0;
	ino_t ino = 0;

	if (cp.skel == NULL || pid <= 0 || pid == getpid())
		return;
	cudaprobe_sweep(d); /* a reused pid's old entry goes first */
	if (probes_pid_covered != NULL &&
	    probes_pid_covered(d, pid, TG_COVERS_LIBCUDA))
		return; /* the shim counts its launches itself */
	if ((pidfd = (int)syscall(SYS_pidfd_open, pid, 0)) < 0)
		return; /* gone already */
	if (cp_find_libcuda(pid, path, sizeof(path), &dev, &ino, &shim) != 0 ||
	    shim)
		goto cleanup; /* no libcuda yet, or a shim about to register */
	c = cp_pid_find(pid);
	if (c != NULL && !c->exited && c->dev == dev && c->ino == ino)
		goto cleanup; /* attached already */
	if ((l = cp_lib_get(path, dev, ino)) == NULL || !l->usable)
		goto cleanup;
	if (c == NULL) {
		if ((c = calloc(1, sizeof(*c))) == NULL)
			goto cleanup;
		c->pid = pid;
		c->pidfd = -1;
		c->next = cp.pids;
		cp.pids = c;
	}
	cp_detach(c);
	if (c->exited) { /* a new process with a reused pid */
		memset(&c->seen, 0, sizeof(c->seen));
		c->recorded = 0;
		free(c->id);
		c->id = NULL;
	}
	if (cp.audit && c->id == NULL && procinfo_identity != NULL &&
	    (c->id = malloc(sizeof(*c->id))) != NULL)
		procinfo_identity(c->id, pid);
	c->rec_ns = tgd_mono_ns();
	c->exited = 0;
	c->dev = dev;
	c->ino = ino;
	if (bpf_map_update_elem(bpf_map__fd(cp.skel->maps.counts), &key, &zero,
	    BPF_NOEXIST) != 0 && errno != EEXIST) {
		log_warn("cudaprobe: pid %d: counts map", (int)pid);
		c->exited = 1;
		goto cleanup;
	}
	n = cp_attach_lib(c, l, path);
	log_info("cudaprobe: pid %d: %d uprobes on %s", (int)pid, n,
	    cp_shown(path));
	if (c->pidfd >= 0)
		close(c->pidfd);
	c->pidfd = pidfd; /* cudaprobe_sweep: exited before or after */
	return;
cleanup:
	close(pidfd);
}

/* ---- events ------------------------------------------------------------- */

static void cp_account(struct cp_pid *c, const struct cp_counts *k,
    int64_t ts_ns);

/* Audit: the launches counted since the process's last record. */
static void
cp_audit_record(struct cp_pid *c, int64_t now)
{
	uint64_t total = c->seen.launches + c->seen.graph_launches;

	c->rec_ns = now;
	if (!cp.audit || c->id == NULL || total <= c->recorded)
		return;
	if (gpu_audit_record != NULL)
		gpu_audit_record(cp.d, c->id, total - c->recorded);
	c->recorded = total;
}

static void
cp_exited(struct cp_pid *c, const struct cp_counts *k)
{
	uint32_t key = (uint32_t)c->pid;

	cp_audit_record(c, tgd_mono_ns());

	log_info("cudaprobe: pid %d exited: %" PRIu64 " launches, %" PRIu64
	    " graph launches, %" PRIu64 " allocations (%" PRIu64 " bytes), %"
	    PRIu64 " frees", (int)c->pid, k->launches, k->graph_launches,
	    k->allocs, k->alloc_bytes, k->frees);
	cp_detach(c);
	bpf_map_delete_elem(bpf_map__fd(cp.skel->maps.counts), &key);
	c->exited = 1;
	if (c->pidfd >= 0)
		close(c->pidfd);
	c->pidfd = -1;
}

/*
 * Processes that exited: their pidfds are readable. The exit tracepoint
 * (CP_EV_EXIT) is not seen for a process with uprobes attached on the 6.18
 * kernel measured here, so the pidfds are the ground truth; the final
 * counts are read from the map before its entry goes.
 */
/* ---- audit mode: finding processes, periodic records --------------- */

/* pid maps libcuda: watch that file's cuInit, attach to pid. */
static void
cp_audit_look(pid_t pid)
{
	char path[PATH_MAX + 32];
	dev_t dev;
	ino_t ino;
	int shim;

	if (cp_find_libcuda(pid, path, sizeof(path), &dev, &ino, &shim) != 0)
		return;
	(void)cp_lib_get(path, dev, ino);
	if (!shim)
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

static void
cp_audit_tick(struct tgd *d)
{
	int64_t now = tgd_mono_ns(), every;
	struct cp_counts k;
	struct cp_pid *c;
	uint32_t key;
	int i, n = 0;
	static int busy; /* cp_audit_look → attach → sweep → here */

	if (busy)
		return;
	busy = 1;
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
	for (c = cp.pids; c != NULL; c = c->next) {
		if (c->exited || now - c->rec_ns < every)
			continue;
		key = (uint32_t)c->pid;
		if (bpf_map_lookup_elem(bpf_map__fd(cp.skel->maps.counts), &key,
		    &k) == 0)
			cp_account(c, &k, now);
		cp_audit_record(c, now);
	}
	busy = 0;
}

void
cudaprobe_sweep(struct tgd *d)
{
	struct cp_counts k;
	struct cp_pid *c;
	uint32_t key;

	if (cp.skel == NULL)
		return;
	for (c = cp.pids; c != NULL; c = c->next) {
		if (c->exited || cp_alive(c->pidfd))
			continue;
		key = (uint32_t)c->pid;
		if (bpf_map_lookup_elem(bpf_map__fd(cp.skel->maps.counts), &key,
		    &k) != 0)
			k = c->seen;
		cp_account(c, &k, tgd_mono_ns());
		cp_exited(c, &k);
	}
	cp_prune();
	if (cp.audit)
		cp_audit_tick(d);
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
	if (e->type == CP_EV_EXIT) {
		cp_exited(c, &e->c);
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
	struct cp_lib *l, *lnext;
	struct cp_counts k;
	uint32_t key;

	if (cp.rb != NULL)
		ring_buffer__consume(cp.rb);
	for (c = cp.pids; c != NULL; c = next) {
		next = c->next;
		key = (uint32_t)c->pid;
		/* audit: what the live ones launched since their last record */
		if (!c->exited && cp.skel != NULL &&
		    bpf_map_lookup_elem(bpf_map__fd(cp.skel->maps.counts), &key,
		    &k) == 0) {
			cp_account(c, &k, tgd_mono_ns());
			cp_audit_record(c, tgd_mono_ns());
		}
		cp_detach(c);
		if (c->pidfd >= 0)
			close(c->pidfd);
		free(c->id);
		free(c);
	}
	cp.pids = NULL;
	for (l = cp.libs; l != NULL; l = lnext) {
		lnext = l->next;
		bpf_link__destroy(l->init_link);
		free(l);
	}
	bpf_link__destroy(cp.exec_link);
	cp.exec_link = NULL;
	cp.nexecq = 0;
	cp_reaper_stop();
	cp.libs = NULL;
	ring_buffer__free(cp.rb);
	cp.rb = NULL;
	cudaprobe_bpf__destroy(cp.skel);
	cp.skel = NULL;
}
