/* replay.c — replay the spool; see replay.h. */
#include "replay.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client.h"
#include "real.h"
#include "say.h"
#include "shim.h"
#include "spool.h"

struct flight {
	uint32_t seq[REPLAY_WINDOW];
	off_t start[REPLAY_WINDOW]; /* where each record begins in the file */
	int n;
};

struct file_pass {
	int sent, acked, failed;
	int ended;          /* read to the end of the range */
	off_t first_failed; /* start of the first record the daemon refused */
};

static int64_t
step_deadline(int64_t end, int64_t step)
{
	int64_t d = shim_now_mono() + step;

	return (end && end < d) ? end : d;
}

/* Take one reply; match it to a record in flight. */
static int
collect(struct flight *w, struct file_pass *fp, int64_t dl)
{
	struct shim_reply r;
	int rc;

	if ((rc = shim_conn_recv(&r, dl)) != 0)
		return rc;
	for (int i = 0; i < w->n; i++) {
		if (w->seq[i] != r.hdr.seq)
			continue;
		if (r.hdr.type == TG_MSG_ACK)
			fp->acked++;
		else if (fp->failed++, fp->first_failed > w->start[i])
			fp->first_failed = w->start[i];
		w->n--;
		w->seq[i] = w->seq[w->n];
		w->start[i] = w->start[w->n];
		break;
	}
	return 0; /* a stale reply of an earlier call: ignored */
}

/* Read the next record and send it. 0 sent; 1 nothing more to send. */
static int
send_next(int fd, off_t *off, off_t to, const char *name, struct flight *w,
    struct file_pass *fp, int64_t end, int64_t step, int *rc)
{
	struct tg_record rec;
	off_t start = *off;
	const char *why;
	int rd;

	if (to >= 0 && *off >= to) {
		fp->ended = 1;
		return 1;
	}
	if ((rd = shim_spool_read(fd, off, &rec, &why)) != 0) {
		fp->ended = rd != SPOOL_BAD;
		if (rd != 1)
			shim_say("spool %.80s: %s at offset %lld%s", name, why,
			    (long long)*off, rd == SPOOL_TORN ? "; skipped" :
			    "; file left in place");
		return 1;
	}
	*rc = shim_conn_send(TG_MSG_RECORD, &rec, sizeof(rec),
	    &w->seq[w->n], step_deadline(end, step));
	if (*rc != 0)
		return 1;
	w->start[w->n++] = start;
	fp->sent++;
	return 0;
}

/* Everything before this offset is acknowledged. */
static off_t
acked_upto(const struct flight *w, const struct file_pass *fp, off_t off)
{
	off_t upto = fp->failed ? fp->first_failed : off;

	for (int i = 0; i < w->n; i++)
		if (w->start[i] < upto)
			upto = w->start[i];
	return upto;
}

/* Replay [from, to) of fd (to < 0: to its end). 1 when every record of the
 * range was acknowledged; *upto: the acknowledged prefix otherwise. */
static int
replay_file(int fd, off_t from, off_t to, const char *name, int64_t end,
    int64_t step, struct replay_result *res, off_t *upto)
{
	struct flight w = { .n = 0 };
	struct file_pass fp = { .first_failed = (off_t)1 << 62 };
	off_t off = from;
	int rc = 0, more = 1;

	for (;;) {
		while (more && rc == 0 && w.n < REPLAY_WINDOW &&
		    !(end && shim_now_mono() >= end))
			more = !send_next(fd, &off, to, name, &w, &fp, end,
			    step, &rc);
		if (w.n == 0 || rc != 0)
			break;
		if ((rc = collect(&w, &fp, step_deadline(end, step))) != 0)
			break;
	}
	res->acked += fp.acked;
	*upto = acked_upto(&w, &fp, off);
	if (rc == SHIM_LOST)
		res->lost = 1;
	if (fp.failed)
		shim_say("spool %.80s: the daemon refused %d record(s); file "
		    "kept", name, fp.failed);
	return rc == 0 && fp.ended && fp.failed == 0 && fp.acked == fp.sent;
}

static int
replay_own(uint64_t gen, char *own, size_t size, int64_t end, int64_t step,
    struct replay_result *res)
{
	off_t from, to, upto;
	int fd = shim_spool_own(gen, &from, &to, own, size), done;

	if (fd < 0 || from >= to)
		return 1;
	done = replay_file(fd, from, to, own, end, step, res, &upto);
	/* Keep partial progress: the next pass starts after it. */
	shim_spool_own_acked(done ? to : upto);
	return done;
}

/* Another instance's file. 1: done (replayed and unlinked, or not ours
 * to replay: locked by its live process). */
static int
replay_other(int dfd, const char *name, int64_t end, int64_t step,
    struct replay_result *res)
{
	struct stat st, now;
	off_t upto;
	int fd, done = 1;

	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return 1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid() || flock(fd, LOCK_EX | LOCK_NB) < 0)
		goto out;
	/* Another replayer may have unlinked it before we got the lock. */
	if (fstatat(dfd, name, &now, AT_SYMLINK_NOFOLLOW) < 0 ||
	    now.st_ino != st.st_ino)
		goto out;
	done = replay_file(fd, 0, -1, name, end, step, res, &upto);
	if (done)
		unlinkat(dfd, name, 0);
out:
	shim_real.close(fd);
	return done;
}

static int
spool_name(const char *n, const char *own)
{
	size_t len = strlen(n), sl = strlen(SPOOL_SUFFIX);

	return n[0] != '.' && len > sl && strcmp(n + len - sl, SPOOL_SUFFIX) == 0 &&
	    strcmp(n, own) != 0;
}

static int
replay_dir(const char *own, int64_t end, int64_t step,
    struct replay_result *res)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int done = 1;

	if (shim_spool_dir(path, sizeof(path)) < 0 || (d = opendir(path)) == NULL)
		return 1; /* nothing we could replay */
	while ((de = readdir(d)) != NULL && !res->lost) {
		if (end && shim_now_mono() >= end) {
			done = 0;
			break;
		}
		if (spool_name(de->d_name, own))
			done &= replay_other(dirfd(d), de->d_name, end, step, res);
	}
	closedir(d);
	return done && !res->lost;
}

void
shim_replay(uint64_t gen, int64_t end, int64_t step, struct replay_result *res)
{
	char own[64];
	int done;

	memset(res, 0, sizeof(*res));
	/* Cleared first: an append racing with this pass sets it again. */
	shim_spool_set_dirty(0);
	done = replay_own(gen, own, sizeof(own), end, step, res);
	if (!res->lost)
		done &= replay_dir(own, end, step, res);
	res->complete = done && !res->lost;
	if (!res->complete)
		shim_spool_set_dirty(1);
}
