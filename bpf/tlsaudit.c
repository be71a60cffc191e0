/*
 * tlsaudit.c — the loader of bpf/tlsaudit.bpf.c (issue 6, audit mode):
 * uprobes + uretprobes on SSL_write, SSL_write_ex, SSL_read and
 * SSL_read_ex, attached by file for every pid, in each libssl.so* mapped
 * on the host when the daemon starts (/proc/PID/maps), in the libssl of
 * the usual paths, and in binaries that carry OpenSSL themselves (node
 * exports these symbols). A file is attached once (by device and inode).
 * Each file's probes carry its probe set as their BPF cookie: TA_SET_LIBSSL
 * for a libssl.so*, TA_SET_EXE for an executable with OpenSSL inside; a
 * shimmed process covers only TA_SET_LIBSSL (tlsaudit_cover), so node's
 * own TLS is metered here even under the shim. The captured plaintext
 * goes to audit.c through the ring buffer, polled from the daemon's epoll
 * loop (probes_watch).
 *
 * Limits: a libssl that first appears on the host after the daemon
 * started (a new install, a container image) is not probed until the
 * daemon restarts; statically linked TLS stacks without these symbols
 * (Go, rustls) are not decrypted.
 */
#include <dirent.h>
#include <errno.h>
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

static const char *const ta_funcs[TA_NFUNCS] = {
	"SSL_write", "SSL_write_ex", "SSL_read", "SSL_read_ex",
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
	struct bpf_link *links[2 * TA_NFUNCS];
};

static struct {
	struct tgd *d;
	struct tlsaudit_bpf *skel;
	struct ring_buffer *rb;
	struct ta_file files[TA_MAX_FILES];
	size_t nfiles;
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
	audit_tls_event(ta.d, e);
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

/* Attach the four functions of path (once per inode). quiet: a candidate
 * that may well not carry OpenSSL (no line when it has no symbols). */
static void
ta_attach_file(const char *path, int quiet, __u64 set)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uo);
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
	for (int i = 0; i < TA_NFUNCS; i++) {
		for (int r = 0; r < 2; r++) {
			struct bpf_link *l;

			uo.func_name = ta_funcs[i];
			uo.retprobe = r;
			uo.bpf_cookie = set;
			l = bpf_program__attach_uprobe_opts(ta_prog(i, r), -1,
			    path, 0, &uo);
			if (l == NULL)
				continue;
			f->links[2 * i + r] = l;
			n++;
		}
	}
	if (n == 0 && !quiet)
		log_warnx("tlsaudit: %s: no SSL_read/SSL_write symbols "
		    "attached; not probed", path);
	else if (n > 0 && n < 2 * TA_NFUNCS)
		log_info("tlsaudit: %s: %d of %d probes attached", path, n,
		    2 * TA_NFUNCS);
	else if (n > 0)
		log_info("tlsaudit: probing %s", path);
}

/* Every libssl.so* mapped by a process now (and each process's own
 * executable when it is node). */
static void
ta_scan_proc(void)
{
	DIR *dir = opendir("/proc");
	struct dirent *de;
	char path[64], line[PATH_MAX + 256], exe[PATH_MAX];
	FILE *fp;
	ssize_t n;

	if (dir == NULL)
		return;
	while ((de = readdir(dir)) != NULL) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (*end != '\0' || pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/exe", pid);
		if ((n = readlink(path, exe, sizeof(exe) - 1)) > 0) {
			const char *b;

			exe[n] = '\0';
			b = strrchr(exe, '/');
			if (b && strncmp(b + 1, "node", 4) == 0)
				ta_attach_file(path, 1, TA_SET_EXE);
		}
		snprintf(path, sizeof(path), "/proc/%ld/maps", pid);
		if ((fp = fopen(path, "re")) == NULL)
			continue;
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
			snprintf(full, sizeof(full), "/proc/%ld/root%s", pid, p);
			ta_attach_file(full, 0, TA_SET_LIBSSL);
		}
		fclose(fp);
	}
	closedir(dir);
}

int
tlsaudit_start(struct tgd *d)
{
	int err;

	if (ta.skel != NULL)
		return 0;
	ta.d = d;
	if (geteuid() != 0) {
		log_warnx("tlsaudit: not root: TLS audit probes not loaded");
		return -1;
	}
	if ((ta.skel = tlsaudit_bpf__open()) == NULL) {
		log_warnx("tlsaudit: opening the BPF object: %s",
		    strerror(errno));
		goto cleanup;
	}
	if ((err = tlsaudit_bpf__load(ta.skel)) != 0) {
		log_warnx("tlsaudit: BPF refused the TLS audit programs (LLM "
		    "calls over OpenSSL are not audited): %s", strerror(-err));
		goto cleanup;
	}
	ta.rb = ring_buffer__new(bpf_map__fd(ta.skel->maps.events), ta_event,
	    NULL, NULL);
	if (ta.rb == NULL) {
		log_warnx("tlsaudit: ring buffer: %s", strerror(errno));
		goto cleanup;
	}
	for (size_t i = 0; i < sizeof(ta_known) / sizeof(ta_known[0]); i++)
		ta_attach_file(ta_known[i], 1, ta_set_of(ta_known[i]));
	ta_scan_proc();
	{
		int links = 0;

		for (size_t i = 0; i < ta.nfiles; i++)
			for (int j = 0; j < 2 * TA_NFUNCS; j++)
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
	for (size_t i = 0; i < ta.nfiles; i++)
		for (int j = 0; j < 2 * TA_NFUNCS; j++)
			bpf_link__destroy(ta.files[i].links[j]);
	ta.nfiles = 0;
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
