/*
 * policy_admin.c — which policy the daemon runs (daemon.h: padmin_*).
 *
 *   start   --policy FILE, else the default path (tg_path_policy). A given
 *           file that is missing or bad is fatal; a default path that does
 *           not exist means the built-in default (policies/default.json's
 *           text, below); a default file that exists but is bad is fatal.
 *   SIGHUP  re-read the same file (a built-in default tries its path
 *           again); on any error the current policy stays, with one line.
 *   APPLY   root, group tollgate or the daemon's own user; the file
 *           comes as an fd (read here, bounded), is checked, written to
 *           the policy file atomically (temp file, fsync, rename, fsync
 *           dir), then made active. A failure at any step leaves the
 *           active policy and the file as they were.
 *   SHOW    the active policy in normal form, where it came from, when.
 * Every change goes through enforce_set_policy and bumps the generation.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "paths.h"

#define PADMIN_BUILTIN_NAME "(built-in default)"
#define PADMIN_GROUP "tollgate"
#define PADMIN_MAX_GROUPS 256
#define PADMIN_SCHEMA_VERSION 1

/* policies/default.json, byte for byte: used when the default path has
 * no file (tests/e2e/policy_daemon.sh compares the two). */
static const char builtin_text[] =
	"{\n"
	"  \"schema_version\": 1,\n"
	"  \"description\": \"Meter everything, enforce nothing: no rules, "
	"so every request is allowed and recorded.\",\n"
	"  \"timezone\": \"UTC\",\n"
	"  \"allow_mode_off\": true,\n"
	"  \"rules\": []\n"
	"}\n";

/* Make p the active policy, coming from file (builtin: no file there). */
static void
install(struct tgd *d, struct policy *p, const char *file, int builtin,
    const char *why)
{
	int n = p->nrules;
	char tz[TG_TZ_NAME_MAX];

	tg_strlcpy(tz, p->tz.name, sizeof(tz));
	if (file != d->policy_file)
		tg_strlcpy(d->policy_file, file, sizeof(d->policy_file));
	d->policy_builtin = builtin;
	d->policy_loaded_ns = tgd_now_ns();
	d->policy_generation++;
	enforce_set_policy(d, p);
	log_info("%spolicy %s: %d rules, timezone %s", why,
	    builtin ? PADMIN_BUILTIN_NAME : d->policy_file, n, tz);
}

/* 1 when path names nothing (so the built-in default applies). */
static int
absent(const char *path)
{
	struct stat st;

	return stat(path, &st) == -1 && (errno == ENOENT || errno == ENOTDIR);
}

static struct policy *
builtin_policy(void)
{
	char err[512];
	struct policy *p = policy_parse(PADMIN_BUILTIN_NAME, builtin_text,
	    sizeof(builtin_text) - 1, err, sizeof(err));

	if (p == NULL)          /* the constant above is broken: a bug */
		fatalx("%s: %s", __func__, err);
	return p;
}

void
padmin_load_initial(struct tgd *d)
{
	char file[PATH_MAX], err[512];
	struct policy *p;

	if (d->policy_path)
		tg_strlcpy(file, d->policy_path, sizeof(file));
	else if (tg_path_policy(file, sizeof(file)) == -1)
		fatalx("the default policy path is too long; give --policy");
	if (d->policy_path == NULL && absent(file)) {
		log_info("no policy at %s; using the built-in default (meter "
		    "everything, enforce nothing)", file);
		tg_strlcpy(d->policy_file, file, sizeof(d->policy_file));
		install(d, builtin_policy(), d->policy_file, 1, "");
		return;
	}
	if ((p = policy_load(file, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	install(d, p, file, 0, "");
}

void
padmin_reload(struct tgd *d)
{
	char err[512];
	struct policy *p;

	if (d->policy_builtin && absent(d->policy_file)) {
		log_info("reload: still no policy at %s; keeping the built-in "
		    "default", d->policy_file);
		return;
	}
	if ((p = policy_load(d->policy_file, err, sizeof(err))) == NULL) {
		log_warnx("reload: %s; keeping the current policy", err);
		return;
	}
	install(d, p, d->policy_file, 0, "reload: ");
}

/* ---- POLICY_SHOW ---- */

static json_t *
policy_doc(struct tgd *d)
{
	char when[64], *text = policy_show(d->policy);
	json_t *pol;

	if (text == NULL)
		return NULL;
	pol = json_loads(text, 0, NULL);
	free(text);
	if (pol == NULL)
		return NULL;
	policy_fmt_time(d->policy, d->policy_loaded_ns, when, sizeof(when));
	return json_pack("{s:i, s:s, s:b, s:s, s:I, s:o}",
	    "schema_version", PADMIN_SCHEMA_VERSION,
	    "file", d->policy_file,
	    "builtin", d->policy_builtin,
	    "loaded_at", when,
	    "generation", (json_int_t)d->policy_generation,
	    "policy", pol);
}

void
padmin_show(struct tgd *d, struct conn *c, const struct tg_hdr *h)
{
	json_t *doc = policy_doc(d);

	if (doc == NULL) {
		control_fail(d, c, h->version, h->seq, TG_ERR_INTERNAL,
		    "policy show: out of memory");
		return;
	}
	control_send_json(d, c, h->version, h->seq, doc);
	json_decref(doc);
}

/* ---- POLICY_APPLY ---- */

/* Root, or the peer's primary or (SO_PEERGROUPS) supplementary groups
 * hold the group tollgate (no such group: nobody by group). Also the
 * daemon's own user: a per-user daemon's owner can rewrite its policy
 * file and SIGHUP it anyway, so refusing would protect nothing. */
/* The gid of a group: a large group's member list needs a larger buffer
 * (ERANGE), up to 1 MiB. 0 or -1. */
static int
group_gid(const char *name, gid_t *gid)
{
	struct group gr, *res = NULL;
	size_t size = 4096;
	char *buf = NULL, *b;
	int rc;

	do {
		if ((b = realloc(buf, size)) == NULL)
			break;
		buf = b;
		rc = getgrnam_r(name, &gr, buf, size, &res);
		size *= 2;
	} while (rc == ERANGE && size <= 1024 * 1024);
	if (b != NULL && rc == 0 && res != NULL)
		*gid = gr.gr_gid;
	free(buf);
	return b != NULL && rc == 0 && res != NULL ? 0 : -1;
}

static int
may_apply(const struct conn *c)
{
	gid_t gid, *groups = NULL;
	socklen_t len = PADMIN_MAX_GROUPS * sizeof(gid_t);
	int ok = 0;

	if (c->peer.uid == 0 || c->peer.uid == geteuid())
		return 1;
	if (group_gid(PADMIN_GROUP, &gid) == -1)
		return 0;
	if (c->peer.gid == gid)
		return 1;
	/* SO_PEERGROUPS says how much room it needs (ERANGE) */
	for (int tries = 0; tries < 2 && !ok; tries++) {
		gid_t *g = realloc(groups, len ? len : sizeof(gid_t));

		if (g == NULL)
			break;
		groups = g;
		if (getsockopt(c->fd, SOL_SOCKET, SO_PEERGROUPS, groups,
		    &len) == 0) {
			for (size_t i = 0; i < len / sizeof(gid_t); i++)
				ok |= groups[i] == gid;
			break;
		}
		if (errno != ERANGE)
			break;
	}
	free(groups);
	return ok;
}

/* The file behind fd: a regular file, read from offset 0, at most
 * POLICY_MAX_FILE + 1 bytes (policy_parse names a larger one). malloc'd
 * text in *out, or NULL with err. */
static char *
read_fd(int fd, const char *name, size_t *out, char *err, size_t errlen)
{
	struct stat st;
	size_t n = 0;
	ssize_t r;
	char *buf;

	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", name);
		return NULL;
	}
	if ((buf = malloc(POLICY_MAX_FILE + 1)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", name);
		return NULL;
	}
	while (n < POLICY_MAX_FILE + 1) {
		r = pread(fd, buf + n, POLICY_MAX_FILE + 1 - n, (off_t)n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			snprintf(err, errlen, "%s: %s", name, strerror(errno));
			free(buf);
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*out = n;
	return buf;
}

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t r;

	while (n > 0) {
		if ((r = write(fd, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int
fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r;

	if (fd == -1)
		return -1;
	r = fsync(fd);
	close(fd);
	return r;
}

/* text → path, all or nothing: a crash leaves the old file or the new
 * one, never a part. 0, or -1 with errno. */
static int
write_atomic(const char *path, const char *text, size_t len)
{
	char dir[PATH_MAX], tmp[PATH_MAX];
	int fd, e;

	tg_strlcpy(dir, path, sizeof(dir));
	tg_strlcpy(dir, dirname(dir), sizeof(dir));
	if (tg_mkdirs(dir, 0755) == -1)
		return -1;
	if (snprintf(tmp, sizeof(tmp), "%s/.policy-apply.XXXXXX", dir) >=
	    (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1)
		return -1;
	if (fchmod(fd, 0644) == -1 || write_all(fd, text, len) == -1 ||
	    fsync(fd) == -1)
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) == -1)
		goto fail;
	/* The new file is in place: a failed directory sync only weakens
	 * durability, it does not undo the apply. */
	if (fsync_dir(dir) == -1)
		log_warn("%s: fsync %s", __func__, dir);
	return 0;
fail:
	e = errno;
	if (fd != -1)
		close(fd);
	unlink(tmp);
	errno = e;
	return -1;
}

static void
apply_reply(struct tgd *d, struct conn *c, const struct tg_hdr *h)
{
	json_t *doc = json_pack("{s:i, s:b, s:s, s:i, s:s}",
	    "schema_version", PADMIN_SCHEMA_VERSION,
	    "applied", 1,
	    "file", d->policy_file,
	    "rules", d->policy->nrules,
	    "timezone", d->policy->tz.name);

	if (doc == NULL) {
		control_fail(d, c, h->version, h->seq, TG_ERR_INTERNAL,
		    "policy applied; out of memory for the reply");
		return;
	}
	control_send_json(d, c, h->version, h->seq, doc);
	json_decref(doc);
}

/* The fd read and checked, the file written, the policy made active. */
static void
apply_fd(struct tgd *d, struct conn *c, const struct tg_hdr *h,
    const struct tg_policy_apply *a, int fd)
{
	char err[512], why[80];
	struct policy *p;
	size_t len;
	char *text;

	if ((text = read_fd(fd, a->name, &len, err, sizeof(err))) == NULL) {
		control_fail(d, c, h->version, h->seq, TG_ERR_BAD_FIELD, "%s",
		    err);
		return;
	}
	if ((p = policy_parse(a->name, text, len, err, sizeof(err))) == NULL) {
		control_fail(d, c, h->version, h->seq, TG_ERR_BAD_FIELD, "%s",
		    err);
		free(text);
		return;
	}
	if (write_atomic(d->policy_file, text, len) == -1) {
		log_warn("%s: cannot write %s", __func__, d->policy_file);
		control_fail(d, c, h->version, h->seq, TG_ERR_INTERNAL,
		    "cannot write %s: %s; the active policy is unchanged",
		    d->policy_file, strerror(errno));
		policy_free(p);
		free(text);
		return;
	}
	free(text);
	snprintf(why, sizeof(why), "apply by uid %u pid %d: ",
	    (unsigned)c->peer.uid, (int)c->peer.pid);
	install(d, p, d->policy_file, 0, why);
	apply_reply(d, c, h);
}

void
padmin_apply(struct tgd *d, struct conn *c, const struct tg_hdr *h,
    const struct tg_policy_apply *a)
{
	int fd = c->rx_fd;

	c->rx_fd = -1;          /* ours now: closed below on every path */
	if (!may_apply(c)) {
		control_fail(d, c, h->version, h->seq, TG_ERR_PERMISSION,
		    "policy apply needs root or group " PADMIN_GROUP);
		log_info("%s: uid %u pid %d may not apply a policy", __func__,
		    (unsigned)c->peer.uid, (int)c->peer.pid);
	} else if (fd < 0)
		control_fail(d, c, h->version, h->seq, TG_ERR_BAD_FIELD,
		    "POLICY_APPLY needs the policy file's descriptor");
	else
		apply_fd(d, c, h, a, fd);
	if (fd >= 0)
		close(fd);
}

struct policy *
padmin_policy_fd(int fd, const char *name, char *err, size_t errlen)
{
	struct policy *p;
	size_t len;
	char *text;

	if ((text = read_fd(fd, name, &len, err, errlen)) == NULL)
		return NULL;
	p = policy_parse(name, text, len, err, errlen);
	free(text);
	return p;
}
