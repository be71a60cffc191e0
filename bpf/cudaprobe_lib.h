/*
 * cudaprobe_lib.h — the libcuda files bpf/cudaprobe.c probes
 * (bpf/cudaprobe_lib.c): which one a process maps (/proc/PID/maps), and
 * its functions' file offsets from the ELF symbols, read once per
 * (device, inode).
 */
#ifndef TG_CUDAPROBE_LIB_H
#define TG_CUDAPROBE_LIB_H

#include <stddef.h>
#include <sys/types.h>

enum cp_prog { CP_P_LAUNCH, CP_P_GRAPH, CP_P_ALLOC, CP_P_FREE };

struct cp_func {
	const char *name;
	enum cp_prog prog;
};

#define CP_NFUNCS 10
extern const struct cp_func cp_funcs[CP_NFUNCS];

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

/* The entry of (dev, ino), read from path when it is not known yet (then
 * *fresh is 1). A file without cuLaunchKernel is kept, unusable, and said
 * once (one log line); NULL when the file could not be read (the process
 * exited meanwhile: a later process is tried again) or out of memory. */
struct cp_lib *cp_lib_get(const char *path, dev_t dev, ino_t ino,
    int *fresh);
/* Every entry known, newest first. */
struct cp_lib *cp_lib_all(void);
/* Forget them all, destroying their cuInit links (daemon exit). */
void cp_lib_free_all(void);

/* libcuda's path (through /proc/PID/root), device and inode from
 * /proc/PID/maps; *shim set when libtollgate.so is mapped. 0, or -1 when
 * no libcuda is mapped (or pid is gone). */
int cp_find_libcuda(pid_t pid, char *path, size_t len, dev_t *dev,
    ino_t *ino, int *shim);
/* /proc/PID/root/usr/lib/...: the path as the process sees it. */
const char *cp_shown(const char *path);

#endif
