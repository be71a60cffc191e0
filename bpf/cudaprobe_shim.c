/*
 * cudaprobe_shim.c — shimmed processes that have not registered (yet):
 * remembered and looked at again (the rule is in cudaprobe_shim.h). Each
 * one holds a pidfd, so a pid reused by another process is not mistaken
 * for it.
 */
#include <poll.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "probes.h"
#include "proto.h"

#include "cudaprobe_shim.h"

#pragma weak probes_pid_covered

#define CP_SHIM_MAX 1024

struct cp_waiting {
	pid_t pid;
	int pidfd;
	int64_t first_ns;        /* monotonic: first seen unregistered */
	struct cp_waiting *next;
};

static struct {
	struct cp_waiting *list;
	int n;
	int64_t grace_ns, checked_ns;
} W = { .grace_ns = CP_SHIM_GRACE_NS };

static int
cp_shim_gone(const struct cp_waiting *w)
{
	struct pollfd pfd = { .fd = w->pidfd, .events = POLLIN };

	return poll(&pfd, 1, 0) != 0; /* readable: it exited */
}

static void
cp_shim_unlink(struct cp_waiting **pp)
{
	struct cp_waiting *w = *pp;

	*pp = w->next;
	close(w->pidfd);
	free(w);
	W.n--;
}

static struct cp_waiting **
cp_shim_find(pid_t pid)
{
	struct cp_waiting **pp;

	for (pp = &W.list; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->pid == pid)
			return pp;
	return NULL;
}

int
cp_shim_waiting(pid_t pid, int64_t now)
{
	struct cp_waiting **pp = cp_shim_find(pid), *w;

	if (pp != NULL && cp_shim_gone(*pp))
		cp_shim_unlink(pp); /* that process exited: pid is reused */
	else if (pp != NULL)
		return now - (*pp)->first_ns < W.grace_ns;
	if (W.n == CP_SHIM_MAX || (w = calloc(1, sizeof(*w))) == NULL)
		return 0;
	if ((w->pidfd = (int)syscall(SYS_pidfd_open, pid, 0)) < 0) {
		free(w);
		return 0; /* gone already: attaching fails too */
	}
	w->pid = pid;
	w->first_ns = now;
	w->next = W.list;
	W.list = w;
	W.n++;
	log_debug("cudaprobe: pid %d maps the shim and is not registered;"
	    " probed if it is not within %lld ms", (int)pid,
	    (long long)(W.grace_ns / 1000000));
	return 1;
}

void
cp_shim_forget(pid_t pid)
{
	struct cp_waiting **pp = cp_shim_find(pid);

	if (pp != NULL)
		cp_shim_unlink(pp);
}

void
cp_shim_recheck(struct tgd *d, int64_t now, void (*attach)(struct tgd *,
    pid_t))
{
	struct cp_waiting **pp, *w;
	int64_t every = W.grace_ns / 2 < CP_SHIM_RECHECK_NS ?
	    W.grace_ns / 2 : CP_SHIM_RECHECK_NS;
	pid_t pid;

	if (W.list == NULL || now - W.checked_ns < every)
		return;
	W.checked_ns = now;
	for (pp = &W.list; (w = *pp) != NULL;) {
		if (cp_shim_gone(w) || (probes_pid_covered != NULL &&
		    probes_pid_covered(d, w->pid, TG_COVERS_LIBCUDA))) {
			cp_shim_unlink(pp);
			continue;
		}
		if (now - w->first_ns < W.grace_ns) {
			pp = &w->next;
			continue;
		}
		/* attach may add others (at the head) and forgets pid */
		pid = w->pid;
		attach(d, pid);
		cp_shim_forget(pid);
		pp = &W.list; /* start over: the list changed */
	}
}

void
cp_shim_set_grace(int64_t ns)
{
	W.grace_ns = ns;
	W.checked_ns = 0;
}

void
cp_shim_free_all(void)
{
	while (W.list != NULL)
		cp_shim_unlink(&W.list);
}
