/* spool.c — the spool's format, directory and names; see spool.h (this
 * process's own file: spool_own.c). */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32.h"
#include "paths.h"
#include "real.h"
#include "say.h"

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

off_t
shim_spool_dir_bytes(const char *dir)
{
	struct dirent *de;
	struct stat st;
	off_t sum = 0;
	DIR *d = opendir(dir);

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode))
			sum += st.st_size;
	closedir(d);
	return sum;
}

static int
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

int
shim_spool_is_spool_name(const char *name)
{
	return name[0] != '.' && strlen(name) > strlen(SPOOL_SUFFIX) &&
	    strlen(name) < SPOOL_NAME_MAX && ends_with(name, SPOOL_SUFFIX);
}

/* Where "+OFF" starts in name, or NULL. */
static const char *
progress_at(const char *name)
{
	const char *end = name + strlen(name) - strlen(SPOOL_SUFFIX);
	const char *p = end;

	if (!shim_spool_is_spool_name(name))
		return NULL;
	while (p > name && p[-1] >= '0' && p[-1] <= '9')
		p--;
	return (p > name + 1 && p < end && p[-1] == '+') ? p - 1 : NULL;
}

off_t
shim_spool_name_offset(const char *name)
{
	const char *p = progress_at(name);
	long long off;

	if (p == NULL)
		return 0;
	off = strtoll(p + 1, NULL, 10);
	/* Only a whole number of records is a progress mark. */
	return off > 0 && off % (long long)SPOOL_REC_SIZE == 0 ? (off_t)off : 0;
}

int
shim_spool_progress_name(const char *name, off_t off, char *out, size_t size)
{
	const char *p = progress_at(name);
	size_t base = p ? (size_t)(p - name) :
	    strlen(name) - strlen(SPOOL_SUFFIX);
	int n = snprintf(out, size, "%.*s+%lld" SPOOL_SUFFIX, (int)base, name,
	    (long long)off);

	return n < 0 || (size_t)n >= size || (size_t)n >= SPOOL_NAME_MAX ? -1 : 0;
}
