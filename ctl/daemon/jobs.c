/*
 * jobs.c — freeze, thaw and terminate jobs for the policy (see jobs.h).
 *
 * Two lists: J->frozen (what we froze, mirrored in STATE/frozen.json by
 * jobs_state.c) and J->dying (SIGTERM sent, SIGKILL due). A process is
 * held by a pidfd of our own from the moment it is accepted, so later
 * signals reach that process or nothing; a pid entry whose process has
 * exited is dropped when next looked up. The kernel work (cgroup files,
 * pidfds, /proc) is in jobs_sys.c.
 *
 * Order of persistence: a freeze is written to the file before it is done
 * and a thaw after it is done, so a crash in between errs towards thawing
 * something that is not frozen (harmless) and never leaves a job frozen
 * with no record of it.
 */
#include "jobs_private.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proto.h"

#define NSEC 1000000000LL

void
job_entry_free(struct job_entry *e)
{
	if (e == NULL)
		return;
	if (e->pidfd >= 0)
		close(e->pidfd);
	free(e);
}

void
job_list_free(struct job_entry *list)
{
	struct job_entry *next;

	for (; list != NULL; list = next) {
		next = list->next;
		job_entry_free(list);
	}
}

/* For log lines; main thread only. */
static const char *
entry_name(const struct job_entry *e)
{
	static char buf[64];

	if (e->cgroup[0] != '\0')
		return e->cgroup;
	snprintf(buf, sizeof(buf), "pid %d", (int)e->pid);
	return buf;
}

/* Check t and put its canonical cgroup path ("" for a process) in cg. */
static int
target_name(const struct jobs *J, const struct job_target *t, char *cg,
    size_t size)
{
	if (t->cgroup[0] != '\0')
		return jobs_cg_name(J->self_cgroup, t->cgroup, cg, size);
	cg[0] = '\0';
	if (t->pid <= 0) {
		errno = EINVAL;
		return -1;
	}
	if (t->pid == getpid()) {
		errno = EPERM;
		return -1;
	}
	return 0;
}

static int
entry_is(const struct job_entry *e, const char *cg, pid_t pid)
{
	if (cg[0] != '\0')
		return strcmp(e->cgroup, cg) == 0;
	return e->cgroup[0] == '\0' && e->pid == pid;
}

/* The link to the entry for (cg, pid) in *head, or NULL. A process entry
 * whose process has exited is unlinked on the way (*pruned set). */
static struct job_entry **
entry_lookup(struct job_entry **head, const char *cg, pid_t pid, int *pruned)
{
	struct job_entry *e;

	for (; (e = *head) != NULL; head = &e->next) {
		if (!entry_is(e, cg, pid))
			continue;
		if (e->cgroup[0] == '\0' && jobs_pidfd_exited(e->pidfd)) {
			*head = e->next;
			job_entry_free(e);
			*pruned = 1;
			return NULL;
		}
		return head;
	}
	return NULL;
}

/* A new entry for a checked target: the cgroup exists, or the process is
 * held by a verified pidfd. */
static struct job_entry *
entry_new(const struct job_target *t, const char *cg)
{
	struct job_entry *e;
	int saved;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	e->pidfd = -1;
	tg_strlcpy(e->cgroup, cg, sizeof(e->cgroup));
	e->pid = cg[0] != '\0' ? 0 : t->pid;
	if (cg[0] != '\0' ? jobs_cg_exists(cg) :
	    jobs_proc_hold(t->pid, t->pidfd, &e->pidfd, &e->start_time)) {
		saved = errno;
		free(e);
		errno = saved;
		return NULL;
	}
	return e;
}

static int
entry_freeze(const struct job_entry *e, int on)
{
	if (e->cgroup[0] != '\0')
		return jobs_cg_write(e->cgroup, "cgroup.freeze", on ? "1" : "0");
	return jobs_pidfd_signal(e->pidfd, on ? SIGSTOP : SIGCONT);
}

static int
entry_signal(const struct job_entry *e, int sig)
{
	if (e->cgroup[0] != '\0')
		return jobs_cg_signal(e->cgroup, sig) == -1 ? -1 : 0;
	return jobs_pidfd_signal(e->pidfd, sig);
}

static int
entry_kill(const struct job_entry *e)
{
	if (e->cgroup[0] == '\0')
		return jobs_pidfd_signal(e->pidfd, SIGKILL);
	if (jobs_cg_write(e->cgroup, "cgroup.kill", "1") == 0)
		return 0;
	/* cgroup.kill came with Linux 5.14 */
	return errno == EOPNOTSUPP ? entry_signal(e, SIGKILL) : -1;
}

static int
entry_gone(const struct job_entry *e)
{
	if (e->cgroup[0] == '\0')
		return jobs_pidfd_exited(e->pidfd);
	return jobs_cg_populated(e->cgroup) != 1;
}

/* A process a previous daemon stopped: SIGCONT only if the pid still
 * names it (same start time). 0 thawed, 1 reused pid, -1 (ESRCH gone). */
static int
thaw_left_pid(const struct job_entry *e)
{
	unsigned long long st;
	int fd, rc;

	if (e->pid == getpid() || (fd = jobs_pidfd_open(e->pid)) < 0) {
		errno = ESRCH;
		return -1;
	}
	if (jobs_proc_start_time(e->pid, &st) == -1 || jobs_pidfd_exited(fd)) {
		errno = ESRCH;
		rc = -1;
	} else if (st != e->start_time) {
		log_info("%s: pid %d started at %llu, not %llu: a reused pid, "
		    "left alone", __func__, (int)e->pid, st, e->start_time);
		rc = 1;
	} else
		rc = jobs_pidfd_signal(fd, SIGCONT);
	close(fd);
	return rc;
}

/* What a previous daemon left frozen (read from the file: trusted no more
 * than a request, so a cgroup path is checked again). */
static void
thaw_left(const struct jobs *J, const struct job_entry *e)
{
	char cg[PATH_MAX];
	int rc;

	if (e->cgroup[0] == '\0')
		rc = thaw_left_pid(e);
	else if ((rc = jobs_cg_name(J->self_cgroup, e->cgroup, cg,
	    sizeof(cg))) == 0)
		rc = jobs_cg_write(cg, "cgroup.freeze", "0");
	if (rc == 0)
		log_info("%s: thawed %s", __func__, entry_name(e));
	else if (rc == -1 && errno == ESRCH)
		log_debug("%s: %s is gone", __func__, entry_name(e));
	else if (rc == -1)
		log_warn("%s: %s", __func__, entry_name(e));
}

int
jobs_init(struct jobs *J, const char *state_dir)
{
	struct job_entry *left, *e;
	int n;

	memset(J, 0, sizeof(*J));
	if (jobs_cg_self(J->self_cgroup, sizeof(J->self_cgroup)) == -1) {
		J->self_cgroup[0] = '\0';
		log_debug("%s: no cgroup v2: cgroup targets refused", __func__);
	}
	n = snprintf(J->state_path, sizeof(J->state_path), "%s/frozen.json",
	    state_dir);
	if (n < 0 || (size_t)n >= sizeof(J->state_path)) {
		J->state_path[0] = '\0';
		errno = ENAMETOOLONG;
		return -1;
	}
	/* unreadable: keep it (it may list frozen jobs) and run unpersisted */
	if (jobs_state_load(J->state_path, &left) == -1) {
		log_warn("%s: %s", __func__, J->state_path);
		J->state_path[0] = '\0';
		return -1;
	}
	for (e = left; e != NULL; e = e->next)
		thaw_left(J, e);
	job_list_free(left);
	if (jobs_state_save(J) == -1) {
		J->state_path[0] = '\0';
		return -1;
	}
	return 0;
}

int
jobs_freeze(struct jobs *J, const struct job_target *t)
{
	char cg[PATH_MAX];
	struct job_entry *e;
	int pruned = 0, saved;

	if (target_name(J, t, cg, sizeof(cg)) == -1)
		return -1;
	/* shutdown wins: a frozen job could not act on its SIGTERM */
	if (entry_lookup(&J->dying, cg, t->pid, &pruned) != NULL)
		return 0;
	pruned = 0;
	if (entry_lookup(&J->frozen, cg, t->pid, &pruned) != NULL)
		return 0;
	if ((e = entry_new(t, cg)) == NULL) {
		if (pruned)
			(void)jobs_state_save(J);
		return -1;
	}
	e->next = J->frozen;
	J->frozen = e;
	(void)jobs_state_save(J);
	if (entry_freeze(e, 1) == -1) {
		saved = errno;
		J->frozen = e->next;
		job_entry_free(e);
		(void)jobs_state_save(J);
		errno = saved;
		return -1;
	}
	/* the caller logs it with the rule that asked */
	log_debug("%s: froze %s", __func__, entry_name(e));
	return 0;
}

int
jobs_thaw(struct jobs *J, const struct job_target *t)
{
	char cg[PATH_MAX];
	struct job_entry **link, *e;
	int pruned = 0;

	if (target_name(J, t, cg, sizeof(cg)) == -1)
		return -1;
	if ((link = entry_lookup(&J->frozen, cg, t->pid, &pruned)) == NULL) {
		if (pruned)
			(void)jobs_state_save(J);
		return 0;
	}
	e = *link;
	/* a job that ended while frozen is thawed as far as we care */
	if (entry_freeze(e, 0) == -1 && errno != ESRCH)
		return -1;      /* kept, for jobs_thaw_all; the caller logs */
	log_debug("%s: thawed %s", __func__, entry_name(e));
	*link = e->next;
	job_entry_free(e);
	(void)jobs_state_save(J);
	return 0;
}

int
jobs_is_frozen(const struct jobs *J, const struct job_target *t)
{
	char cg[PATH_MAX];
	const struct job_entry *e;

	if (t->cgroup[0] != '\0') {
		if (jobs_cg_norm(t->cgroup, cg, sizeof(cg)) == -1)
			return 0;
	} else
		cg[0] = '\0';
	for (e = J->frozen; e != NULL; e = e->next)
		if (entry_is(e, cg, t->pid))
			return e->cgroup[0] != '\0' || !jobs_pidfd_exited(e->pidfd);
	return 0;
}

/* Terminating a frozen target: thaw it, else SIGTERM waits forever. */
static void
unfreeze_for_term(struct jobs *J, const char *cg, pid_t pid)
{
	struct job_entry **link, *e;
	int pruned = 0;

	if ((link = entry_lookup(&J->frozen, cg, pid, &pruned)) != NULL) {
		e = *link;
		if (entry_freeze(e, 0) == -1 && errno != ESRCH)
			log_warn("%s: %s", __func__, entry_name(e));
		*link = e->next;
		job_entry_free(e);
	}
	if (link != NULL || pruned)
		(void)jobs_state_save(J);
}

int
jobs_terminate(struct jobs *J, const struct job_target *t, unsigned grace_s,
    int64_t mono_now)
{
	char cg[PATH_MAX];
	struct job_entry *e;
	int pruned = 0, rc;

	if (target_name(J, t, cg, sizeof(cg)) == -1)
		return -1;
	if (entry_lookup(&J->dying, cg, t->pid, &pruned) != NULL)
		return 0;
	if ((e = entry_new(t, cg)) == NULL)
		return -1;
	unfreeze_for_term(J, cg, t->pid);
	if (entry_signal(e, SIGTERM) == -1 && errno != ESRCH)
		log_warn("%s: SIGTERM to %s", __func__, entry_name(e));
	if (grace_s == 0) {
		rc = entry_kill(e);
		if (rc == -1 && errno == ESRCH)
			rc = 0;
		if (rc == 0)
			log_info("%s: killed %s", __func__, entry_name(e));
		job_entry_free(e);
		return rc;
	}
	e->due = mono_now + (int64_t)grace_s * NSEC;
	e->next = J->dying;
	J->dying = e;
	log_info("%s: SIGTERM to %s, SIGKILL in %us", __func__, entry_name(e),
	    grace_s);
	return 0;
}

void
jobs_tick(struct jobs *J, int64_t mono_now)
{
	struct job_entry **link = &J->dying, *e;

	while ((e = *link) != NULL) {
		if (e->due > mono_now) {
			link = &e->next;
			continue;
		}
		if (entry_gone(e))
			;
		else if (entry_kill(e) == 0)
			log_info("%s: %s outlived its grace period: killed",
			    __func__, entry_name(e));
		else if (errno != ESRCH)
			log_warn("%s: SIGKILL to %s", __func__, entry_name(e));
		*link = e->next;
		job_entry_free(e);
	}
}

int64_t
jobs_next_due(const struct jobs *J)
{
	const struct job_entry *e;
	int64_t due = 0;

	for (e = J->dying; e != NULL; e = e->next)
		if (due == 0 || e->due < due)
			due = e->due;
	return due;
}

void
jobs_thaw_all(struct jobs *J)
{
	struct job_entry *e, *next, *failed = NULL;

	for (e = J->frozen; e != NULL; e = next) {
		next = e->next;
		if (entry_freeze(e, 0) == -1 && errno != ESRCH) {
			/* stays in the file: the next daemon tries again */
			log_warn("%s: %s", __func__, entry_name(e));
			e->next = failed;
			failed = e;
			continue;
		}
		log_info("%s: thawed %s", __func__, entry_name(e));
		job_entry_free(e);
	}
	J->frozen = failed;
	(void)jobs_state_save(J);
	job_list_free(J->frozen);
	J->frozen = NULL;
	job_list_free(J->dying);
	J->dying = NULL;
}

/* A token names a directory: [A-Za-z0-9_-]+ only. */
static int
token_ok(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (!(('a' <= *s && *s <= 'z') || ('A' <= *s && *s <= 'Z') ||
		    ('0' <= *s && *s <= '9') || *s == '_' || *s == '-'))
			return 0;
	return 1;
}

int
jobs_run_cgroup(const char *tollctl_cgroup, const char *token, char *buf,
    size_t size)
{
	char mnt[PATH_MAX];
	const char *cg = tollctl_cgroup;
	int n;

	if (strncmp(cg, "0::", 3) == 0)
		cg += 3;
	if (*cg != '/' || !token_ok(token)) {
		errno = EINVAL;
		return -1;
	}
	if (jobs_cg_mount(mnt, sizeof(mnt)) == -1)
		return -1;
	/* as tollctl's cgroup_create (ctl/cli/run_cgroup.c) names it */
	n = snprintf(buf, size, "%s%s/tollgate-run-%s", mnt,
	    strcmp(cg, "/") == 0 ? "" : cg, token);
	if (n < 0 || (size_t)n >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}
