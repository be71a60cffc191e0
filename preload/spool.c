/* spool.c — the on-disk spool of unacknowledged records; see spool.h. */
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

#include "crc32.h"
#include "instance.h"
#include "paths.h"
#include "real.h"
#include "say.h"

struct own {
	int fd;        /* -1: no file yet */
	dev_t dev;
	ino_t ino;
	uint64_t gen;
	off_t acked;   /* bytes before this were acknowledged */
	pid_t pid;     /* creator: a raw-clone child must not unlink it */
	char name[64];
	char dir[PATH_MAX];
};

static pthread_mutex_t spool_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct own own = { .fd = -1 };
static _Atomic int spool_dirty_flag;
static int said_dir;

void
shim_spool_encode(const struct tg_record *rec, void *buf)
{
	struct spool_hdr h = {
		.magic = SPOOL_MAGIC,
		.version = SPOOL_VERSION,
		.hdr_len = sizeof(h),
		.len = sizeof(*rec),
		.crc = shim_crc32(rec, sizeof(*rec)),
	};

	memcpy(buf, &h, sizeof(h));
	memcpy((char *)buf + sizeof(h), rec, sizeof(*rec));
}

static int
read_at(int fd, void *buf, size_t n, off_t off)
{
	size_t got = 0;
	ssize_t r;

	while (got < n) {
		r = shim_real.pread(fd, (char *)buf + got, n - got, off + got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += r;
	}
	return (int)got;
}

int
shim_spool_read(int fd, off_t *off, struct tg_record *rec, const char **why)
{
	struct spool_hdr h;
	struct stat st;
	int n = read_at(fd, &h, sizeof(h), *off);

	if (n == 0) {
		*why = "end of file";
		return 1;
	}
	if (fstat(fd, &st) < 0)
		st.st_size = 0;
	if (n < (int)sizeof(h)) {
		*why = "torn record header at the end";
		return SPOOL_TORN;
	}
	if (h.magic != SPOOL_MAGIC || h.hdr_len != sizeof(h)) {
		*why = "bad record header";
		return st.st_size - *off <= (off_t)SPOOL_REC_SIZE ? SPOOL_TORN :
		    SPOOL_BAD;
	}
	if (h.version != SPOOL_VERSION || h.len != sizeof(*rec)) {
		*why = "record of an unknown spool version";
		return SPOOL_BAD;
	}
	n = read_at(fd, rec, sizeof(*rec), *off + sizeof(h));
	if (n < (int)sizeof(*rec)) {
		*why = "torn record at the end";
		return SPOOL_TORN;
	}
	if (shim_crc32(rec, sizeof(*rec)) != h.crc) {
		*why = "record checksum mismatch";
		return *off + (off_t)SPOOL_REC_SIZE >= st.st_size ? SPOOL_TORN :
		    SPOOL_BAD;
	}
	*off += SPOOL_REC_SIZE;
	return 0;
}

int
shim_spool_dir(char *buf, size_t size)
{
	struct stat st;
	const char *why = NULL;

	if (tg_path_spool_dir(buf, size) < 0)
		why = "path too long";
	else if (tg_mkdirs(buf, 0700) < 0 || lstat(buf, &st) < 0)
		why = strerror(errno);
	else if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid())
		why = "not a directory owned by this user";
	else if (st.st_mode & 022)
		why = "writable by others";
	if (why == NULL)
		return 0;
	if (!said_dir)
		shim_say("spool directory %.120s refused: %s", buf, why);
	said_dir = 1;
	return -1;
}

/* A fork child: drop the parent's file (closing it only if the fd still
 * is it); the child spools into a file of its own. */
static void
forget_inherited(void)
{
	struct stat st;

	if (own.fd >= 0 && fstat(own.fd, &st) == 0 && st.st_dev == own.dev &&
	    st.st_ino == own.ino)
		shim_real.close(own.fd);
	own.fd = -1;
	own.acked = 0;
	own.name[0] = '\0';
}

static void
sync_gen(uint64_t gen)
{
	if (own.gen != gen) {
		forget_inherited();
		own.gen = gen;
	}
}

/* Create ".NAME.tmp", lock it, rename it to NAME, sync the directory. */
static int
open_own(void)
{
	char prefix[17], tmp[PATH_MAX], path[PATH_MAX];
	struct stat st;
	int fd, dfd;

	if (shim_spool_dir(own.dir, sizeof(own.dir)) < 0)
		return -1;
	shim_instance_prefix_hex(prefix);
	snprintf(own.name, sizeof(own.name), "%d-%s" SPOOL_SUFFIX,
	    (int)getpid(), prefix);
	if (snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", own.dir, own.name) >=
	    (int)sizeof(tmp) ||
	    snprintf(path, sizeof(path), "%s/%s", own.dir, own.name) >=
	    (int)sizeof(path)) {
		shim_say("spool directory path too long");
		return -1;
	}
	fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (fd < 0 || flock(fd, LOCK_EX) < 0 || rename(tmp, path) < 0 ||
	    fstat(fd, &st) < 0) {
		shim_say("cannot create spool file %.120s: %s", path,
		    strerror(errno));
		if (fd >= 0) {
			unlink(tmp);
			shim_real.close(fd);
		}
		return -1;
	}
	if ((dfd = open(own.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(dfd); /* the new name survives a crash too */
		shim_real.close(dfd);
	}
	own.fd = fd;
	own.dev = st.st_dev;
	own.ino = st.st_ino;
	own.acked = 0;
	own.pid = getpid();
	return 0;
}

static int
append_locked(const struct tg_record *rec)
{
	char buf[SPOOL_REC_SIZE];
	struct stat st;
	ssize_t n;

	if (own.fd < 0 && open_own() < 0)
		return -1;
	if (fstat(own.fd, &st) < 0)
		return -1;
	shim_spool_encode(rec, buf);
	do
		n = shim_real.write(own.fd, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(buf) && fdatasync(own.fd) == 0)
		return 0;
	/* Do not leave a torn record behind for the next append. */
	shim_say("spool write failed: %s", n < 0 ? strerror(errno) : "short");
	(void)!ftruncate(own.fd, st.st_size);
	return -1;
}

int
shim_spool_append(uint64_t gen, const struct tg_record *rec)
{
	int rc;

	pthread_mutex_lock(&spool_mtx);
	sync_gen(gen);
	rc = append_locked(rec);
	pthread_mutex_unlock(&spool_mtx);
	if (rc == 0)
		atomic_store(&spool_dirty_flag, 1);
	return rc;
}

int
shim_spool_own(uint64_t gen, off_t *from, off_t *to, char *name, size_t size)
{
	struct stat st;
	int fd = -1;

	pthread_mutex_lock(&spool_mtx);
	sync_gen(gen);
	name[0] = '\0';
	if (own.fd >= 0 && fstat(own.fd, &st) == 0) {
		fd = own.fd;
		*from = own.acked;
		*to = st.st_size;
		snprintf(name, size, "%s", own.name);
	}
	pthread_mutex_unlock(&spool_mtx);
	return fd;
}

void
shim_spool_own_acked(off_t upto)
{
	struct stat st;

	pthread_mutex_lock(&spool_mtx);
	if (own.fd >= 0 && fstat(own.fd, &st) == 0) {
		if (st.st_size == upto && ftruncate(own.fd, 0) == 0)
			own.acked = 0;
		else
			own.acked = upto;
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

void
shim_spool_exit(void)
{
	char path[PATH_MAX];
	struct stat st;

	/* Another thread may be mid-append at exit: then leave the file. */
	if (pthread_mutex_trylock(&spool_mtx) != 0)
		return;
	if (own.fd >= 0 && own.pid == getpid() && fstat(own.fd, &st) == 0 &&
	    st.st_size == 0 && snprintf(path, sizeof(path), "%s/%s", own.dir, own.name) <
	    (int)sizeof(path))
		unlink(path);
	pthread_mutex_unlock(&spool_mtx);
}

void
shim_spool_atfork_prepare(void)
{
	pthread_mutex_lock(&spool_mtx);
}

void
shim_spool_atfork_parent(void)
{
	pthread_mutex_unlock(&spool_mtx);
}

/* Close the parent's file in the child at once: the child must not keep
 * the parent's lock (and so its file) alive after the parent died. */
void
shim_spool_atfork_child(void)
{
	pthread_mutex_init(&spool_mtx, NULL);
	forget_inherited();
	atomic_store(&spool_dirty_flag, 0);
}
