/*
 * jobs_private.h — what jobs.c (acting on targets) and jobs_state.c
 * (STATE/frozen.json) share; nothing outside those two files includes it.
 */
#ifndef TGD_JOBS_PRIVATE_H
#define TGD_JOBS_PRIVATE_H

#include "jobs.h"

/* One frozen or dying target. A process is held by a pidfd we own, so a
 * signal can only ever reach the process that was verified. */
struct job_entry {
	struct job_entry *next;
	char cgroup[PATH_MAX];          /* normalised absolute dir; "" = pid */
	pid_t pid;
	int pidfd;                      /* owned; -1 for a cgroup, or loaded */
	unsigned long long start_time;  /* /proc/PID/stat field 22 (ticks) */
	int64_t due;                    /* dying: CLOCK_MONOTONIC ns of SIGKILL */
};

void job_entry_free(struct job_entry *e);
void job_list_free(struct job_entry *list);

/* Write J->frozen to J->state_path atomically (temp file, fsync, rename).
 * 0 (also when J->state_path is "": unpersisted), or -1 (errno, logged). */
int jobs_state_save(const struct jobs *J);

/* Read the entries a previous daemon left (pidfd -1). A missing file gives
 * 0 and nothing; a corrupt one is logged once, renamed to PATH.bad and gives
 * 0 and nothing; -1 (errno) when it exists but cannot be read. */
int jobs_state_load(const char *path, struct job_entry **out);

/* jobs_sys.c: pidfds. -1 with errno, as the syscalls. */
int jobs_pidfd_open(pid_t pid);
int jobs_pidfd_signal(int pidfd, int sig);
int jobs_pidfd_exited(int pidfd);       /* 1 when the process has exited */
/* Field 22 of /proc/PID/stat. 0, or -1 (ESRCH gone, EINVAL unparsable). */
int jobs_proc_start_time(pid_t pid, unsigned long long *st);
/* A pidfd of pid of our own (a dup of caller_fd after checking it names
 * pid, else pidfd_open) and its start time, read while it was alive.
 * 0, or -1 (ESRCH gone, EINVAL caller_fd names another process). */
int jobs_proc_hold(pid_t pid, int caller_fd, int *pidfd,
    unsigned long long *st);

/* jobs_sys.c: cgroup v2. -1 with errno, ESRCH when the cgroup is gone. */
int jobs_cg_mount(char *buf, size_t size);      /* EOPNOTSUPP: none */
int jobs_cg_self(char *buf, size_t size);       /* mount + "0::" path */
/* Canonical form: absolute, no "." or "..", no empty components. */
int jobs_cg_norm(const char *in, char *out, size_t size);
/* jobs_cg_norm, then under the mount (EINVAL) and not self or an ancestor
 * of self (EPERM; so is an unknown self). */
int jobs_cg_name(const char *self, const char *in, char *out, size_t size);
/* A non-root cgroup v2 directory (EINVAL, EOPNOTSUPP: no cgroup.freeze). */
int jobs_cg_exists(const char *dir);
/* Write val to dir/file (EOPNOTSUPP: the file does not exist). */
int jobs_cg_write(const char *dir, const char *file, const char *val);
int jobs_cg_populated(const char *dir);         /* 1, 0 or -1 */
/* sig to every process in dir and below through verified pidfds; the
 * number signalled, or -1. */
int jobs_cg_signal(const char *dir, int sig);

#endif
