/*
 * tlsaudit.c — the loader of bpf/tlsaudit.bpf.c (issue 6, audit mode):
 * uprobes + uretprobes on SSL_write, SSL_write_ex, SSL_read and
 * SSL_read_ex, plus a uprobe on SSL_free (the stream's end), attached by
 * file for every pid, in each libssl.so* mapped on the host when the
 * daemon starts (/proc/PID/maps), in the libssl of the usual paths, and
 * in binaries that carry OpenSSL themselves (node exports these symbols).
 * A file is attached once (by device and inode). Later, a process that
 * maps a libssl.so* or execs node sends TA_EV_SCAN and its maps are
 * looked at the same way (tlsaudit_scan_pid): a container's, a venv's or
 * an nvm node's own copy is probed from then on.
 * Each file's probes carry its probe set as their BPF cookie: TA_SET_LIBSSL
 * for a libssl.so*, TA_SET_EXE for an executable with OpenSSL inside; a
 * shimmed process covers only TA_SET_LIBSSL (tlsaudit_cover), so node's
 * own TLS is metered here even under the shim. The captured plaintext
 * goes to audit.c through the ring buffer, polled from the daemon's epoll
 * loop (probes_watch).
 *
 * Limits: the first file of an inode is probed a few milliseconds after
 * the process mapped it (the ring buffer's wake-up and the attach, on the
 * daemon's loop): calls it makes before that are not seen; a program that
 * carries OpenSSL but is not named node* is probed only when running at
 * daemon start under that name, or from the usual paths; at most
 * TA_SCANS_PER_S looks a second (the BPF side already sends one per
 * process and file); files found late get tlsconn's SSL_new probe too
 * (tlsconn_file_added). Statically linked TLS stacks
 * without these symbols (Go, rustls) are not decrypted.
 *
 * Tests only: TOLLGATE_TEST_TA_RING=BYTES (a power of two, at least a
 * page) sizes the ring buffer: 16384 cannot hold one full TA_CHUNK
 * event, so tests can make the ring drop a large transfer for certain
 * (tests/e2e/bpf_audit.sh's gap case).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "daemon.h"
#include "log.h"
#include "probes.h"
#include "proto.h"

#include "audit.h"
#include "tlsaudit.h"
#include "tlsaudit.skel.h"
#include "unmetered.h"

#pragma weak probes_watch

#define TA_MAX_FILES 256
#define TA_NFUNCS 4
#define TA_NLINKS (2 * TA_NFUNCS + 1) /* + SSL_free */
#define TA_SCANS_PER_S 256

static const char *const ta_funcs[TA_NFUNCS + 1] = {
	"SSL_write", "SSL_write_ex", "SSL_read", "SSL_read_ex", "SSL_free",
};

static const char *const ta_known[] = {
	"/usr/lib/x86_64-linux-gnu/libssl.so.3",
	"/usr/lib/x86_64-linux-gnu/libssl.so.1.1",
	"/lib/x86_64-linux-gnu/libssl.so.3",
	"/usr/lib64/libssl.so.3",
	"/usr/lib/libssl.so.3",
	"/usr/bin/node",
	"/usr/local/bin/node",
};

struct ta_file {
	dev_t dev;
	ino_t ino;
	char path[PATH_MAX];
	struct bpf_link *links[TA_NLINKS];
};

static struct {
	struct tgd *d;
	struct tlsaudit_bpf *skel;
	struct ring_buffer *rb;
	struct ta_file files[TA_MAX_FILES];
	size_t nfiles;
	int started;                    /* files found from now on are late */
	struct bpf_link *scan_links[3]; /* exec, mmap enter and exit */
	uint64_t scan_sec;              /* the second of the count below */
	unsigned scans;                 /* TA_EV_SCANs looked at in it */
} ta;

static struct bpf_program *
ta_prog(int i, int ret)
{
	switch (i) {
	case 0: return ret ? ta.skel->progs.ta_write_ret :
	    ta.skel->progs.ta_write;
	case 1: return ret ? ta.skel->progs.ta_write_ex_ret :
	    ta.skel->progs.ta_write_ex;
	case 2: return ret ? ta.skel->progs.ta_read_ret :
	    ta.skel->progs.ta_read;
	default: return ret ? ta.skel->progs.ta_read_ex_ret :
	    ta.skel->progs.ta_read_ex;
	}
}

static int
ta_event(void *ctx, void *data, size_t size)
{
	const struct ta_event *e = data;

	(void)ctx;
	if (size < TA_HDR || e->len > size - TA_HDR)
		return 0;
	if (e->dir != TA_EV_SCAN) {
		audit_tls_event(ta.d, e);
		return 0;
	}
	if (e->ts_ns / 1000000000ULL != ta.scan_sec) {
		ta.scan_sec = e->ts_ns / 1000000000ULL;
		ta.scans = 0;
	}
	if (ta.scans++ < TA_SCANS_PER_S)
		tlsaudit_scan_pid(ta.d, (pid_t)e->pid);
	else if (ta.scans == TA_SCANS_PER_S + 1)
		log_warnx("tlsaudit: more than %d new TLS processes in a "
		    "second: the others' new files are not looked for",
		    TA_SCANS_PER_S);
	return 0;
}

/* A libssl.so* is what the shim's preload hooks can cover; anything else
 * carrying these symbols (node) links OpenSSL into itself. */
static __u64
ta_set_of(const char *path)
{
	const char *b = strrchr(path, '/');

	return strncmp(b ? b + 1 : path, "libssl.so", 9) == 0 ?
	    TA_SET_LIBSSL : TA_SET_EXE;
}

/* off[i]: the file offset of ta_funcs[i] (0: absent), from one pass over
 * the symbol tables — libbpf's lookup by name reads the whole ELF once
 * per function, some 100 ms for node's nine probes, on the daemon's
 * loop. -1 when the file cannot be read as ELF. */
static int
ta_offsets(const char *path, size_t off[TA_NFUNCS + 1])
{
	Elf_Scn *scn = NULL, *tscn;
	GElf_Shdr sh, ts;
	GElf_Sym sym;
	Elf_Data *data;
	Elf *e;
	int fd;

	memset(off, 0, (TA_NFUNCS + 1) * sizeof(off[0]));
	if (elf_version(EV_CURRENT) == EV_NONE ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	if ((e = elf_begin(fd, ELF_C_READ, NULL)) == NULL) {
		close(fd);
		return -1;
	}
	while ((scn = elf_nextscn(e, scn)) != NULL) {
		size_t n;

		if (gelf_getshdr(scn, &sh) == NULL || (sh.sh_type != SHT_DYNSYM &&
		    sh.sh_type != SHT_SYMTAB) || sh.sh_entsize == 0 ||
		    (data = elf_getdata(scn, NULL)) == NULL)
			continue;
		n = sh.sh_size / sh.sh_entsize;
		for (size_t i = 0; i < n; i++) {
			const char *name;

			if (gelf_getsym(data, (int)i, &sym) == NULL ||
			    GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
			    sym.st_shndx == SHN_UNDEF || sym.st_value == 0 ||
			    (name = elf_strptr(e, sh.sh_link, sym.st_name)) ==
			    NULL || strncmp(name, "SSL_", 4) != 0)
				continue;
			for (int j = 0; j <= TA_NFUNCS; j++) {
				if (off[j] != 0 || strcmp(name, ta_funcs[j]) != 0)
					continue;
				if ((tscn = elf_getscn(e, sym.st_shndx)) != NULL &&
				    gelf_getshdr(tscn, &ts) != NULL)
					off[j] = sym.st_value - ts.sh_addr +
					    ts.sh_offset;
				break;
			}
		}
	}
	elf_end(e);
	close(fd);
	return 0;
}

/* Attach the four functions of path (once per inode). quiet: a candidate
 * that may well not carry OpenSSL (no line when it has no symbols). */
static void
ta_attach_file(const char *path, int quiet, __u64 set)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uo);
	size_t off[TA_NFUNCS + 1];
	struct ta_file *f;
	struct stat st;
	int n = 0;

	if (stat(path, &st) == -1 || !S_ISREG(st.st_mode))
		return;
	for (size_t i = 0; i < ta.nfiles; i++)
		if (ta.files[i].dev == st.st_dev && ta.files[i].ino == st.st_ino)
			return;
	if (ta.nfiles == TA_MAX_FILES) {
		log_warnx("tlsaudit: %s: more than %d TLS libraries; not "
		    "probed", path, TA_MAX_FILES);
		return;
	}
	f = &ta.files[ta.nfiles];
	memset(f, 0, sizeof(*f));
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	snprintf(f->path, sizeof(f->path), "%s", path);
	ta.nfiles++; /* tried once, attached or not */
	if (ta_offsets(path, off) != 0)
		memset(off, 0, sizeof(off)); /* not ELF: nothing attached */
	for (int i = 0; i < TA_NFUNCS; i++) {
		for (int r = 0; r < 2 && off[i] != 0; r++) {
			struct bpf_link *l;

			uo.retprobe = r;
			uo.bpf_cookie = set;
			l = bpf_program__attach_uprobe_opts(ta_prog(i, r), -1,
			    path, off[i], &uo);
			if (l == NULL)
				continue;
			f->links[2 * i + r] = l;
			n++;
		}
	}
	if (n > 0 && off[TA_NFUNCS] != 0) {
		uo.retprobe = 0;
		uo.bpf_cookie = set;
		f->links[2 * TA_NFUNCS] = bpf_program__attach_uprobe_opts(
		    ta.skel->progs.ta_free, -1, path, off[TA_NFUNCS], &uo);
	}
	if (n > 0 && f->links[2 * TA_NFUNCS] == NULL)
		log_info("tlsaudit: %s: no SSL_free probe: its streams end "
		    "when their process exits", path);
	if (n == 0 && !quiet)
		log_warnx("tlsaudit: %s: no SSL_read/SSL_write symbols "
		    "attached; not probed", path);
	else if (n > 0 && n < 2 * TA_NFUNCS)
		log_info("tlsaudit: %s: %d of %d probes attached", path, n,
		    2 * TA_NFUNCS);
	else if (n > 0)
		log_info("tlsaudit: probing %s", path);
	/* its SSL_new probe too, or that process's TLS would count as
	 * unmetered */
	if (n > 0 && ta.started)
		tlsconn_file_added(path);
}

/* The TLS files pid maps: each libssl.so*, and its executable when it is
 * node. */
void
tlsaudit_scan_pid(struct tgd *d, pid_t pid)
{
	char path[64], line[PATH_MAX + 256], exe[PATH_MAX];
	FILE *fp;
	ssize_t n;

	(void)d;
	if (ta.skel == NULL)
		return;
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	if ((n = readlink(path, exe, sizeof(exe) - 1)) > 0) {
		const char *b;

		exe[n] = '\0';
		b = strrchr(exe, '/');
		if (b && strncmp(b + 1, "node", 4) == 0)
			ta_attach_file(path, 1, TA_SET_EXE);
	}
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	if ((fp = fopen(path, "re")) == NULL)
		return;
	while (fgets(line, sizeof(line), fp)) {
		char *p = strchr(line, '/'), *b;
		char full[PATH_MAX + 64];

		if (p == NULL || (b = strstr(p, "libssl.so")) == NULL)
			continue;
		if (strchr(b, '/') != NULL)
			continue; /* a directory named libssl.so */
		p[strcspn(p, "\n")] = '\0';
		if (strstr(p, " (deleted)"))
			continue;
		/* the file as the process sees it (its mount ns) */
		snprintf(full, sizeof(full), "/proc/%d/root%s", (int)pid, p);
		ta_attach_file(full, 0, TA_SET_LIBSSL);
	}
	fclose(fp);
}

/* Every process now. */
static void
ta_scan_proc(void)
{
	DIR *dir = opendir("/proc");
	struct dirent *de;

	if (dir == NULL)
		return;
	while ((de = readdir(dir)) != NULL) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (*end == '\0' && pid > 0)
			tlsaudit_scan_pid(ta.d, (pid_t)pid);
	}
	closedir(dir);
}

/* tests only: the ring buffer's size (see the top) */
static void
ta_ring_size(void)
{
	const char *v = getenv("TOLLGATE_TEST_TA_RING");
	char *end;
	unsigned long n;

	if (v == NULL || *v == '\0')
		return;
	n = strtoul(v, &end, 10);
	if (*end != '\0' || n < 4096 || (n & (n - 1)) != 0 ||
	    bpf_map__set_max_entries(ta.skel->maps.events, (__u32)n) != 0) {
		log_warnx("tlsaudit: TOLLGATE_TEST_TA_RING=%s: not a power of "
		    "two of at least 4096; ignored", v);
		return;
	}
	log_info("tlsaudit: ring buffer of %lu bytes (TOLLGATE_TEST_TA_RING, "
	    "for tests)", n);
}

/* Open and load; without the new-file programs when the kernel refuses
 * them (the probes at start still work). */
static int
ta_load(void)
{
	int err = 0;

	for (int late = 1; late >= 0; late--) {
		if ((ta.skel = tlsaudit_bpf__open()) == NULL) {
			log_warnx("tlsaudit: opening the BPF object: %s",
			    strerror(errno));
			return -1;
		}
		ta_ring_size();
		bpf_program__set_autoload(ta.skel->progs.ta_exec, late);
		bpf_program__set_autoload(ta.skel->progs.ta_mmap, late);
		bpf_program__set_autoload(ta.skel->progs.ta_mmap_ret, late);
		if ((err = tlsaudit_bpf__load(ta.skel)) == 0) {
			if (!late)
				log_warnx("tlsaudit: BPF refused the exec/mmap "
				    "programs: TLS libraries that appear after "
				    "the daemon started are not probed");
			return 0;
		}
		tlsaudit_bpf__destroy(ta.skel);
		ta.skel = NULL;
	}
	log_warnx("tlsaudit: BPF refused the TLS audit programs (LLM "
	    "calls over OpenSSL are not audited): %s", strerror(-err));
	return -1;
}

/* exec and mmap: new TLS files (TA_EV_SCAN) */
static void
ta_attach_scan(void)
{
	struct bpf_program *p[3] = { ta.skel->progs.ta_exec,
	    ta.skel->progs.ta_mmap, ta.skel->progs.ta_mmap_ret };

	if (!bpf_program__autoload(p[0]))
		return;
	for (int i = 0; i < 3; i++) {
		if ((ta.scan_links[i] = bpf_program__attach(p[i])) != NULL)
			continue;
		log_warnx("tlsaudit: attaching %s: %s (TLS libraries that "
		    "appear after the daemon started are not probed)",
		    bpf_program__section_name(p[i]), strerror(errno));
		for (int j = 0; j < i; j++) {
			bpf_link__destroy(ta.scan_links[j]);
			ta.scan_links[j] = NULL;
		}
		return;
	}
}

int
tlsaudit_start(struct tgd *d)
{
	if (ta.skel != NULL)
		return 0;
	ta.d = d;
	if (geteuid() != 0) {
		log_warnx("tlsaudit: not root: TLS audit probes not loaded");
		return -1;
	}
	if (ta_load() != 0)
		goto cleanup;
	ta.rb = ring_buffer__new(bpf_map__fd(ta.skel->maps.events), ta_event,
	    NULL, NULL);
	if (ta.rb == NULL) {
		log_warnx("tlsaudit: ring buffer: %s", strerror(errno));
		goto cleanup;
	}
	for (size_t i = 0; i < sizeof(ta_known) / sizeof(ta_known[0]); i++)
		ta_attach_file(ta_known[i], 1, ta_set_of(ta_known[i]));
	/* before the scan: a process mapping libssl meanwhile is not missed */
	ta_attach_scan();
	ta_scan_proc();
	{
		int links = 0;

		for (size_t i = 0; i < ta.nfiles; i++)
			for (int j = 0; j < TA_NLINKS; j++)
				links += ta.files[i].links[j] != NULL;
		if (links == 0) {
			log_warnx("tlsaudit: no libssl with SSL_read/SSL_write "
			    "found: TLS audit off");
			goto cleanup;
		}
	}
	if (probes_watch == NULL || probes_watch(d, ta.rb) != 0) {
		log_warnx("tlsaudit: the ring buffer cannot be polled: TLS "
		    "audit off");
		goto cleanup;
	}
	ta.started = 1;
	return 0;
cleanup:
	tlsaudit_stop(d);
	return -1;
}

void
tlsaudit_stop(struct tgd *d)
{
	if (ta.rb)
		ring_buffer__consume(ta.rb);
	audit_tls_stop(d);
	for (int i = 0; i < 3; i++) {
		bpf_link__destroy(ta.scan_links[i]);
		ta.scan_links[i] = NULL;
	}
	for (size_t i = 0; i < ta.nfiles; i++)
		for (int j = 0; j < TA_NLINKS; j++)
			bpf_link__destroy(ta.files[i].links[j]);
	ta.nfiles = 0;
	ta.started = 0;
	ring_buffer__free(ta.rb);
	ta.rb = NULL;
	tlsaudit_bpf__destroy(ta.skel);
	ta.skel = NULL;
}

void
tlsaudit_cover(pid_t pid, uint32_t covers)
{
	__u32 key = (__u32)pid;
	__u8 sets = (covers & TG_COVERS_LIBSSL) ? TA_SET_LIBSSL : 0;

	if (ta.skel == NULL)
		return;
	if (sets)
		bpf_map_update_elem(bpf_map__fd(ta.skel->maps.covered), &key,
		    &sets, BPF_ANY);
	else
		bpf_map_delete_elem(bpf_map__fd(ta.skel->maps.covered), &key);
}

/* unmetered.h: the files probed (tlsconn adds its SSL_new probe there). */
size_t
tlsaudit_files(const char **paths, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < ta.nfiles && n < max; i++)
		for (int j = 0; j < 2 * TA_NFUNCS; j++)
			if (ta.files[i].links[j] != NULL) {
				paths[n++] = ta.files[i].path;
				break;
			}
	return n;
}
