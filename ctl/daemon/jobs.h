/*
 * jobs.h — acting on a job's processes for the policy: freeze and thaw
 * (pause windows with "freeze"), terminate (sandbox shutdown).
 *
 * A target is either a cgroup v2 directory that tollgate made for the job
 * (`tollctl run`'s tollgate-run-TOKEN): cgroup.freeze, cgroup.kill, and
 * SIGTERM to each member through a pidfd; or one process by pidfd
 * (pidfd_send_signal SIGSTOP / SIGCONT / SIGTERM / SIGKILL). No signal is
 * ever sent by bare pid. Never acted on: the daemon itself (its pid, or a
 * cgroup holding the daemon's own cgroup) — refused with EPERM.
 *
 * What is frozen is persisted in STATE/frozen.json ({"version":1,
 * "frozen":[{"cgroup":PATH} | {"pid":N,"start_time":TICKS}]}, written
 * atomically on every change) so that a daemon that restarts after a crash
 * thaws it (jobs_init); jobs_thaw_all at exit thaws everything. A pid entry
 * is thawed only if /proc/PID/stat's start time still matches (the pid was
 * not reused).
 *
 * Terminate: SIGTERM now (a frozen target is thawed first, else the signal
 * waits), then SIGKILL when grace seconds have passed (jobs_tick), unless
 * the target is empty/dead by then. Main thread only.
 */
#ifndef TGD_JOBS_H
#define TGD_JOBS_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

struct job_target {
	char cgroup[PATH_MAX];  /* absolute directory; "" = the process */
	pid_t pid;              /* when cgroup is "" */
	int pidfd;              /* the caller's pidfd of pid (not owned; -1 none) */
};

struct job_entry;

struct jobs {
	char state_path[PATH_MAX];      /* STATE/frozen.json */
	char self_cgroup[PATH_MAX];     /* the daemon's own, absolute */
	struct job_entry *frozen;       /* what we froze */
	struct job_entry *dying;        /* SIGTERM sent, SIGKILL due */
};

/* Read STATE/frozen.json and thaw what a previous daemon left frozen,
 * then start with nothing frozen. 0, or -1 when the state dir is unusable
 * (errno; the jobs still work, unpersisted). A corrupt file is logged once
 * and renamed to frozen.json.bad. self_cgroup is the cgroup v2 mount plus
 * our "0::" path, read here; when it cannot be read every cgroup target is
 * refused (EPERM). */
int jobs_init(struct jobs *J, const char *state_dir);

/* Freeze / thaw; idempotent (a frozen target frozen again is a no-op;
 * so is freezing a target being terminated, and thawing one we did not
 * freeze). Thawing a target that has gone succeeds and forgets it.
 * 0, or -1 with errno: EPERM the daemon itself; EINVAL a path that is not
 * canonical-able, not under the cgroup2 mount, a pid <= 0, or a pidfd of
 * another process; ESRCH gone; EOPNOTSUPP no cgroup.freeze (no cgroup v2,
 * the root cgroup, Linux < 5.2). A frozen process whose pid was reused is
 * not frozen: jobs_is_frozen says 0 for it (one poll(2) of its pidfd). */
int jobs_freeze(struct jobs *J, const struct job_target *t);
int jobs_thaw(struct jobs *J, const struct job_target *t);
int jobs_is_frozen(const struct jobs *J, const struct job_target *t);

/* SIGTERM now, SIGKILL after grace_s (0: at once, in this call, nothing
 * left pending). A cgroup's members (nested cgroups too) get SIGTERM each
 * through a pidfd; SIGKILL is cgroup.kill. Idempotent while the kill is
 * pending (the first due time stands). 0 or -1 (errno as jobs_freeze). */
int jobs_terminate(struct jobs *J, const struct job_target *t,
    unsigned grace_s, int64_t mono_now);

/* Send the SIGKILLs that are due. */
void jobs_tick(struct jobs *J, int64_t mono_now);
/* CLOCK_MONOTONIC ns of the next SIGKILL due, 0 when none. */
int64_t jobs_next_due(const struct jobs *J);

/* At exit: thaw everything, forget pending kills, empty the state file
 * (a target whose thaw failed stays in it for the next start), free all. */
void jobs_thaw_all(struct jobs *J);

/* The cgroup v2 directory `tollctl run` made for a run: <mount><cg of
 * tollctl>/tollgate-run-<token>, from tollctl's "0::/path" cgroup line
 * (given as "/path" or the whole line). 0 with buf filled (the directory
 * may not exist yet), or -1: EINVAL not absolute, or a token other than
 * [A-Za-z0-9_-]+; ENAMETOOLONG; EOPNOTSUPP no cgroup2 mount. */
int jobs_run_cgroup(const char *tollctl_cgroup, const char *token, char *buf,
    size_t size);

#endif
