/*
 * cudaprobe_lib.c — the libcuda files bpf/cudaprobe.c probes
 * (cudaprobe_lib.h): found in /proc/PID/maps, their functions' file
 * offsets resolved from the ELF symbols with libelf, cached per
 * (device, inode). Only a file that was read is cached: one that could
 * not be opened (its process exited between the maps read and the open)
 * is tried again with the next process that maps it.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "log.h"

#include "cudaprobe_lib.h"

const struct cp_func cp_funcs[CP_NFUNCS] = {
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

static struct cp_lib *libs;

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

/* 0, or -1 when path could not be read (why in err). */
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
		tg_seterr(err, errlen, "reading: %s", elf_errmsg(-1));
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

const char *
cp_shown(const char *path)
{
	const char *p = strchr(path + strlen("/proc/"), '/');

	return p != NULL ? p + strlen("/root") : path;
}


struct cp_lib *
cp_lib_get(const char *path, dev_t dev, ino_t ino, int *fresh)
{
	struct cp_lib *l;
	char err[256];

	*fresh = 0;
	for (l = libs; l != NULL; l = l->next)
		if (l->dev == dev && l->ino == ino)
			return l;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	if (cp_resolve(path, l->off, &l->init_off, err, sizeof(err)) != 0) {
		log_debug("cudaprobe: %s: %s; tried again with its next process",
		    cp_shown(path), err);
		free(l);
		return NULL;
	}
	l->dev = dev;
	l->ino = ino;
	if (l->off[0] == 0)
		log_warnx("cudaprobe: %s has no cuLaunchKernel symbol (not a"
		    " CUDA driver?); its processes are not probed",
		    cp_shown(path));
	else
		l->usable = 1;
	l->next = libs;
	libs = l;
	*fresh = 1;
	return l;
}

struct cp_lib *
cp_lib_all(void)
{
	return libs;
}

void
cp_lib_free_all(void)
{
	struct cp_lib *l, *next;

	for (l = libs; l != NULL; l = next) {
		next = l->next;
		bpf_link__destroy(l->init_link);
		free(l);
	}
	libs = NULL;
}

int
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
