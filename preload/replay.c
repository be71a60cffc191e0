/* replay.c — replay the spool, file by file; see replay.h. */
#include "replay.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client.h"
#include "real.h"
#include "say.h"
#include "shim.h"
#include "spool.h"

struct pass {
	uint64_t gen;
	int64_t end, step;
	int relock;        /* take the connection lock per file */
	struct replay_result *res;
	char own[SPOOL_NAME_MAX];
};

/* 1 when the pass must not go on to another file. */
static int
must_stop(const struct pass *p)
{
	return p->res->lost || p->res->stalled ||
	    (p->end && shim_now_mono() >= p->end);
}

/* relock: lock and connect before a file; 0 ready, -1 stop. */
static int
enter(struct pass *p)
{
	if (!p->relock)
		return 0;
	if (shim_conn_lock(p->gen, p->end) != 0) {
		p->res->stalled = 1;
		return -1;
	}
	if (shim_conn_ensure(shim_replay_step_deadline(p->end, p->step),
	    1) < 0) {
		shim_conn_unlock();
		p->res->lost = 1;
		return -1;
	}
	return 0;
}

static void
leave(struct pass *p)
{
	if (p->relock)
		shim_conn_unlock();
}

/* This instance's file. 1 when nothing is left in it to replay. */
static int
replay_own(struct pass *p)
{
	struct spool_view v;
	struct replay_file f;
	int r;

	shim_spool_own(p->gen, &v);
	snprintf(p->own, sizeof(p->own), "%s", v.name);
	if (v.fd < 0)
		return 1;
	f = (struct replay_file){ .fd = v.fd, .from = v.from, .to = v.to,
		.name = v.name };
	r = v.from < v.to ? shim_replay_range(&f, p->end, p->step, p->res) :
	    REPLAY_DONE;
	shim_real.close(v.fd);
	shim_spool_own_acked(v.ino, r == REPLAY_DONE ? v.to : f.upto);
	if (r == REPLAY_BAD)
		shim_spool_own_set_aside(v.ino, v.to, f.why);
	return r != REPLAY_PARTIAL;
}

static void
set_aside(int dfd, const char *name, const char *why)
{
	char bad[NAME_MAX + 8];

	snprintf(bad, sizeof(bad), "%s" SPOOL_BAD_SUFFIX, name);
	if (renameat(dfd, name, dfd, bad) == 0)
		shim_say("spool %.80s: %s; set aside as %.80s, not replayed "
		    "again", name, why, bad);
	else
		shim_say("spool %.80s: %s; cannot set it aside: %m", name, why);
}

/* The acknowledged prefix goes into the name: the next replayer, in this
 * process or another, starts after it. */
static void
keep_progress(int dfd, const char *name, off_t upto)
{
	char to[SPOOL_NAME_MAX];

	if (upto > shim_spool_name_offset(name) &&
	    shim_spool_progress_name(name, upto, to, sizeof(to)) == 0)
		renameat(dfd, name, dfd, to);
}

/* Another instance's file, flock'ed by us. */
static int
replay_locked_other(struct pass *p, int dfd, int fd, const char *name,
    off_t size)
{
	struct replay_file f = { .fd = fd, .to = -1, .name = name };
	int r;

	f.from = shim_spool_name_offset(name);
	if (f.from > size)
		f.from = 0;
	r = shim_replay_range(&f, p->end, p->step, p->res);
	if (r == REPLAY_DONE)
		unlinkat(dfd, name, 0);
	else if (r == REPLAY_BAD)
		set_aside(dfd, name, f.why);
	else
		keep_progress(dfd, name, f.upto);
	return r != REPLAY_PARTIAL;
}

/* 1: done (replayed, set aside, or not ours to replay: locked by its
 * live process). */
static int
replay_other(struct pass *p, int dfd, const char *name)
{
	struct stat st, now;
	int fd, done = 1;

	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return 1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid() || flock(fd, LOCK_EX | LOCK_NB) < 0)
		goto out;
	/* Another replayer may have unlinked or renamed it before we got
	 * the lock. */
	if (fstatat(dfd, name, &now, AT_SYMLINK_NOFOLLOW) < 0 ||
	    now.st_ino != st.st_ino)
		goto out;
	done = replay_locked_other(p, dfd, fd, name, st.st_size);
out:
	shim_real.close(fd);
	return done;
}

static int
replay_dir(struct pass *p)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int done = 1;

	if (shim_spool_dir(path, sizeof(path)) < 0 || (d = opendir(path)) == NULL)
		return 1; /* nothing we could replay */
	while ((de = readdir(d)) != NULL) {
		if (!shim_spool_is_spool_name(de->d_name) ||
		    strcmp(de->d_name, p->own) == 0)
			continue;
		if (must_stop(p) || enter(p) < 0) {
			done = 0;
			break;
		}
		done &= replay_other(p, dirfd(d), de->d_name);
		leave(p);
	}
	closedir(d);
	return done;
}

static void
run_pass(struct pass *p)
{
	int done = 0;

	memset(p->res, 0, sizeof(*p->res));
	/* Cleared first: an append racing with this pass sets it again. */
	shim_spool_set_dirty(0);
	if (enter(p) == 0) {
		done = replay_own(p);
		leave(p);
		if (!must_stop(p))
			done &= replay_dir(p);
	}
	p->res->complete = done && !p->res->lost && !p->res->stalled;
	if (!p->res->complete)
		shim_spool_set_dirty(1);
}

void
shim_replay(uint64_t gen, int64_t end, int64_t step, struct replay_result *res)
{
	struct pass p = { .gen = gen, .end = end, .step = step, .res = res };

	run_pass(&p);
}

void
shim_replay_flush(uint64_t gen, int64_t end, int64_t step,
    struct replay_result *res)
{
	struct pass p = { .gen = gen, .end = end, .step = step, .relock = 1,
		.res = res };

	run_pass(&p);
}
