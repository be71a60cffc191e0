/* spool_own.c — this process instance's spool file; see spool.h. */
#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdid.h"
#include "fork.h"
#include "instance.h"
#include "real.h"
#include "say.h"
#include "shim.h"
#include "sigguard.h"

#define SPOOL_RECOUNT_NS 1000000000LL
#define SPOOL_SAY_LOST_NS 60000000000LL

struct own {
	struct shim_fd f;   /* fd -1: no file yet */
	uint64_t gen;
	off_t acked;        /* bytes before this were acknowledged */
	pid_t pid;          /* creator: a raw-clone child must not unlink it */
	unsigned files;     /* files this instance opened: names the next */
	off_t others;       /* bytes of the other files in the directory */
	int64_t counted_at; /* mono ns when others was counted */
	uint64_t lost;      /* records that could not be spooled */
	int64_t said_lost;  /* mono ns of the last line about them */
	char name[SPOOL_NAME_MAX];
	char dir[PATH_MAX];
};

static pthread_mutex_t spool_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct own own = { .f = SHIM_FD_NONE };
static _Atomic int spool_dirty_flag;
static __thread int fork_held __attribute__((tls_model("initial-exec")));

/* close_it 0: the fd number is not ours to close. */
static void
forget_file(int close_it)
{
	if (close_it)
		shim_fd_close(&own.f);
	else
		shim_fd_forget(&own.f);
	own.acked = 0;
	own.name[0] = '\0';
}

/* Before each use: a new process drops the parent's file; a host that
 * closed our fd (and so our lock) leaves that file to a replayer, and we
 * start a new one. */
static void
check_own(uint64_t gen)
{
	if (own.gen != gen) {
		forget_file(1);
		own.gen = gen;
		own.files = 0;
	}
	if (own.f.fd >= 0 && !shim_fd_ours(&own.f)) {
		forget_file(0);
		atomic_store(&spool_dirty_flag, 1);
	}
}

/* One line at most a minute, with the count: a full disk or spool must
 * not flood the host's stderr. */
static void
record_lost(const char *why)
{
	int64_t now = shim_now_mono();

	own.lost++;
	if (own.said_lost && now - own.said_lost < SPOOL_SAY_LOST_NS)
		return;
	own.said_lost = now;
	shim_say("usage record not spooled: %s (%llu lost so far)", why,
	    (unsigned long long)own.lost);
}

static int
make_paths(char *tmp, char *path, size_t size)
{
	char prefix[17];
	int n;

	shim_instance_prefix_hex(prefix);
	if (own.files == 0)
		n = snprintf(own.name, sizeof(own.name), "%d-%s" SPOOL_SUFFIX,
		    (int)getpid(), prefix);
	else
		n = snprintf(own.name, sizeof(own.name), "%d-%s.%u"
		    SPOOL_SUFFIX, (int)getpid(), prefix, own.files);
	own.files++;
	return n < (int)sizeof(own.name) &&
	    snprintf(tmp, size, "%s/.%s.tmp", own.dir, own.name) < (int)size &&
	    snprintf(path, size, "%s/%s", own.dir, own.name) < (int)size ?
	    0 : -1;
}

/* Create ".NAME.tmp", lock it, rename it to NAME, sync the directory. */
static int
open_own(void)
{
	char tmp[PATH_MAX], path[PATH_MAX];
	struct shim_fd f = SHIM_FD_NONE;
	int fd, dfd;

	if (shim_spool_dir(own.dir, sizeof(own.dir)) < 0) {
		record_lost("no usable spool directory");
		return -1;
	}
	if (make_paths(tmp, path, sizeof(path)) < 0) {
		record_lost("spool directory path too long");
		return -1;
	}
	fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (fd < 0 || shim_fd_adopt(&f, fd) < 0 || flock(f.fd, LOCK_EX) < 0 ||
	    rename(tmp, path) < 0) {
		record_lost(strerror(errno));
		if (fd >= 0)
			unlink(tmp);
		shim_fd_close(&f);
		return -1;
	}
	if ((dfd = open(own.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(dfd); /* the new name survives a crash too */
		shim_real.close(dfd);
	}
	own.f = f;
	own.acked = 0;
	own.pid = getpid();
	own.others = shim_spool_dir_bytes(own.dir);
	own.counted_at = shim_now_mono();
	return 0;
}

/* 1 when one more record would take the directory past its cap. */
static int
over_cap(off_t mine)
{
	int64_t now = shim_now_mono();

	if (own.others + mine + (off_t)SPOOL_REC_SIZE <= SPOOL_MAX_BYTES)
		return 0;
	if (now - own.counted_at >= SPOOL_RECOUNT_NS) {
		own.others = shim_spool_dir_bytes(own.dir) - mine;
		own.counted_at = now;
	}
	return own.others + mine + (off_t)SPOOL_REC_SIZE > SPOOL_MAX_BYTES;
}

/* One write() with SIGXFSZ blocked: past RLIMIT_FSIZE it fails (EFBIG)
 * instead of killing the host. */
static ssize_t
guarded_write(int fd, const void *buf, size_t n)
{
	struct shim_sigguard g;
	ssize_t w;

	shim_sig_hold(&g);
	do
		w = shim_real.write(fd, buf, n);
	while (w < 0 && errno == EINTR);
	shim_sig_release(&g, w < 0 ? errno : 0);
	return w;
}

static int
append_locked(const struct tg_record *rec)
{
	char buf[SPOOL_REC_SIZE], why[96];
	struct stat st;
	ssize_t n;

	if (own.f.fd < 0 && open_own() < 0)
		return -1;
	if (fstat(own.f.fd, &st) < 0) {
		record_lost(strerror(errno));
		return -1;
	}
	if (over_cap(st.st_size)) {
		record_lost("the spool directory holds 64 MiB");
		return -1;
	}
	shim_spool_encode(rec, buf);
	n = guarded_write(own.f.fd, buf, sizeof(buf));
	if (n == (ssize_t)sizeof(buf) && fdatasync(own.f.fd) == 0)
		return 0;
	snprintf(why, sizeof(why), "write failed: %s", n < 0 || n ==
	    (ssize_t)sizeof(buf) ? strerror(errno) : "short write");
	record_lost(why);
	/* Do not leave a torn record behind for the next append. */
	(void)!ftruncate(own.f.fd, st.st_size);
	return -1;
}

int
shim_spool_append(uint64_t gen, const struct tg_record *rec)
{
	int rc;

	pthread_mutex_lock(&spool_mtx);
	check_own(gen);
	rc = append_locked(rec);
	pthread_mutex_unlock(&spool_mtx);
	if (rc == 0)
		atomic_store(&spool_dirty_flag, 1);
	return rc;
}

void
shim_spool_own(uint64_t gen, struct spool_view *v)
{
	struct stat st;

	memset(v, 0, sizeof(*v));
	v->fd = -1;
	pthread_mutex_lock(&spool_mtx);
	check_own(gen);
	/* A duplicate: the replay reads it without our lock held. */
	if (own.f.fd >= 0 && fstat(own.f.fd, &st) == 0 &&
	    (v->fd = shim_fd_dup(own.f.fd)) >= 0) {
		v->ino = own.f.ino;
		v->from = own.acked;
		v->to = st.st_size;
		snprintf(v->name, sizeof(v->name), "%s", own.name);
	}
	pthread_mutex_unlock(&spool_mtx);
}

void
shim_spool_own_acked(ino_t ino, off_t upto)
{
	struct stat st;

	pthread_mutex_lock(&spool_mtx);
	if (own.f.fd >= 0 && own.f.ino == ino && shim_fd_ours(&own.f) &&
	    fstat(own.f.fd, &st) == 0) {
		if (st.st_size == upto && ftruncate(own.f.fd, 0) == 0)
			own.acked = 0;
		else if (upto > own.acked)
			own.acked = upto;
	}
	pthread_mutex_unlock(&spool_mtx);
}

/* Move the records of old's [from, end) into a new own file. */
static void
carry_over(int old, off_t from)
{
	struct tg_record rec;
	const char *why;

	while (shim_spool_read(old, &from, &rec, &why) == 0)
		if (append_locked(&rec) < 0)
			break;
}

void
shim_spool_own_set_aside(ino_t ino, off_t to, const char *why)
{
	char path[PATH_MAX], bad[PATH_MAX];
	struct shim_fd old;

	pthread_mutex_lock(&spool_mtx);
	if (own.f.fd >= 0 && own.f.ino == ino && shim_fd_ours(&own.f) &&
	    snprintf(path, sizeof(path), "%s/%s", own.dir, own.name) <
	    (int)sizeof(path) && snprintf(bad, sizeof(bad), "%s"
	    SPOOL_BAD_SUFFIX, path) < (int)sizeof(bad) &&
	    rename(path, bad) == 0) {
		shim_say("spool %.80s: %s; set aside as %.80s" SPOOL_BAD_SUFFIX
		    ", not replayed again", own.name, why, own.name);
		old = own.f;
		forget_file(0);
		carry_over(old.fd, to);
		shim_fd_close(&old);
	}
	pthread_mutex_unlock(&spool_mtx);
}

int
shim_spool_dirty(void)
{
	return atomic_load(&spool_dirty_flag);
}

void
shim_spool_set_dirty(int v)
{
	atomic_store(&spool_dirty_flag, v);
}

/* Empty: remove it. Partly acknowledged: say so in its name, so the
 * replayer of this dead process's file starts after that part. */
static void
exit_file(void)
{
	char path[PATH_MAX], to[PATH_MAX], name[SPOOL_NAME_MAX];
	struct stat st;

	if (snprintf(path, sizeof(path), "%s/%s", own.dir, own.name) >=
	    (int)sizeof(path) || fstat(own.f.fd, &st) < 0)
		return;
	if (st.st_size == 0)
		unlink(path);
	else if (own.acked > 0 && own.acked < st.st_size &&
	    shim_spool_progress_name(own.name, own.acked, name,
	    sizeof(name)) == 0 && snprintf(to, sizeof(to), "%s/%s", own.dir,
	    name) < (int)sizeof(to))
		rename(path, to);
}

void
shim_spool_exit(void)
{
	/* Another thread may be mid-append at exit: then leave the file. */
	if (pthread_mutex_trylock(&spool_mtx) != 0)
		return;
	if (own.f.fd >= 0 && own.pid == getpid() && shim_fd_ours(&own.f))
		exit_file();
	pthread_mutex_unlock(&spool_mtx);
}

/* An append may hold the lock through an fdatasync: fork waits at most
 * one call deadline for it (fork.h). */
void
shim_spool_atfork_prepare(void)
{
	fork_held = shim_fork_lock(&spool_mtx);
}

void
shim_spool_atfork_parent(void)
{
	if (fork_held)
		pthread_mutex_unlock(&spool_mtx);
	fork_held = 0;
}

/* Drop the parent's file in the child at once: the child must not keep
 * the parent's lock (and so its file) alive after the parent died. A
 * fresh lock: its holder, if any, is a thread of the parent; the fd is
 * closed only if its identity matches (safe on a half-updated state). */
void
shim_spool_atfork_child(void)
{
	shim_fork_fresh_lock(&spool_mtx);
	forget_file(1);
	atomic_store(&spool_dirty_flag, 0);
	fork_held = 0;
}
