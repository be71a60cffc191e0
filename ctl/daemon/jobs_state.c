/*
 * jobs_state.c — STATE/frozen.json, the record of what the daemon froze,
 * so that a daemon that died without thawing can thaw on its next start:
 *   {"version":1,"frozen":[{"cgroup":PATH} | {"pid":N,"start_time":TICKS}]}
 * Written whole on every change through a temp file in the same directory,
 * fsync and rename, so a crash leaves the old file or the new one. A file
 * that does not match the shape above is not half-trusted: it is reported
 * once, renamed aside (PATH.bad) for a human, and ignored.
 */
#include "jobs_private.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proto.h"

static json_t *
entry_json(const struct job_entry *e)
{
	if (e->cgroup[0] != '\0')
		return json_pack("{s:s}", "cgroup", e->cgroup);
	return json_pack("{s:I,s:I}", "pid", (json_int_t)e->pid,
	    "start_time", (json_int_t)e->start_time);
}

static json_t *
state_json(const struct job_entry *list)
{
	json_t *root, *arr;
	const struct job_entry *e;

	if ((root = json_object()) == NULL)
		return NULL;
	/* json_*_new steal their argument, on failure too */
	if (json_object_set_new(root, "version", json_integer(1)) == -1 ||
	    json_object_set_new(root, "frozen", arr = json_array()) == -1)
		goto fail;
	for (e = list; e != NULL; e = e->next)
		if (json_array_append_new(arr, entry_json(e)) == -1)
			goto fail;
	return root;
fail:
	json_decref(root);
	return NULL;
}

/* fsync the directory so the rename itself survives a power cut. */
static void
sync_dir(const char *path)
{
	char dir[PATH_MAX];
	int fd;

	tg_strlcpy(dir, path, sizeof(dir));
	if ((fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return;
	(void)fsync(fd);
	close(fd);
}

static int
write_file(const char *tmp, const json_t *root)
{
	int fd, rc;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd < 0)
		return -1;
	rc = json_dumpfd(root, fd, JSON_COMPACT) == 0 &&
	    write(fd, "\n", 1) == 1 && fsync(fd) == 0 ? 0 : -1;
	if (close(fd) == -1)
		rc = -1;
	return rc;
}

int
jobs_state_save(const struct jobs *J)
{
	char tmp[PATH_MAX + 8];
	json_t *root;
	int rc;

	if (J->state_path[0] == '\0')
		return 0;
	if ((root = state_json(J->frozen)) == NULL) {
		errno = ENOMEM;
		log_warn("%s: %s", __func__, J->state_path);
		return -1;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", J->state_path);
	rc = write_file(tmp, root);
	json_decref(root);
	if (rc == 0 && rename(tmp, J->state_path) == 0) {
		sync_dir(J->state_path);
		return 0;
	}
	log_warn("%s: %s", __func__, J->state_path);
	(void)unlink(tmp);
	return -1;
}

/* One array element into *e; NULL, or what is wrong with it. */
static const char *
entry_parse(json_t *o, struct job_entry *e)
{
	json_t *cg = json_object_get(o, "cgroup");
	json_t *pid = json_object_get(o, "pid");
	json_t *st = json_object_get(o, "start_time");
	json_int_t p, s;

	if (!json_is_object(o))
		return "expected an object";
	if (cg != NULL) {
		if (!json_is_string(cg) || json_object_size(o) != 1)
			return "expected {\"cgroup\":PATH}";
		if (json_string_value(cg)[0] != '/' ||
		    json_string_length(cg) >= sizeof(e->cgroup))
			return "cgroup is not an absolute path";
		tg_strlcpy(e->cgroup, json_string_value(cg), sizeof(e->cgroup));
		return NULL;
	}
	if (!json_is_integer(pid) || !json_is_integer(st) ||
	    json_object_size(o) != 2)
		return "expected {\"cgroup\":PATH} or {\"pid\":N,\"start_time\":N}";
	p = json_integer_value(pid);
	s = json_integer_value(st);
	if (p <= 0 || p > 0x3fffffff || s < 0)
		return "pid or start_time out of range";
	e->pid = (pid_t)p;
	e->start_time = (unsigned long long)s;
	return NULL;
}

/* The whole document into *out; NULL, or what is wrong (msg filled). */
static const char *
doc_parse(json_t *root, struct job_entry **out, char *msg, size_t size)
{
	json_t *arr, *o;
	struct job_entry *e;
	const char *why;
	size_t i;

	if (!json_is_object(root) ||
	    json_integer_value(json_object_get(root, "version")) != 1)
		return "expected {\"version\":1,...}";
	if (!json_is_array(arr = json_object_get(root, "frozen")))
		return "\"frozen\": expected an array";
	json_array_foreach(arr, i, o) {
		if ((e = calloc(1, sizeof(*e))) == NULL)
			return "out of memory";
		e->pidfd = -1;
		e->next = *out;
		*out = e;
		if ((why = entry_parse(o, e)) != NULL) {
			snprintf(msg, size, "frozen[%zu]: %s", i, why);
			return msg;
		}
	}
	return NULL;
}

int
jobs_state_load(const char *path, struct job_entry **out)
{
	char msg[JSON_ERROR_TEXT_LENGTH + 64], bad[PATH_MAX + 8];
	json_error_t jerr;
	json_t *root;
	const char *why;
	int fd;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return errno == ENOENT ? 0 : -1;
	root = json_loadfd(fd, JSON_REJECT_DUPLICATES, &jerr);
	close(fd);
	if (root == NULL) {
		snprintf(msg, sizeof(msg), "line %d: %s", jerr.line, jerr.text);
		why = msg;
	} else
		why = doc_parse(root, out, msg, sizeof(msg));
	json_decref(root);
	if (why != NULL) {
		job_list_free(*out);
		*out = NULL;
		/* aside, for a human; a rename failure only costs the copy */
		snprintf(bad, sizeof(bad), "%s.bad", path);
		log_warnx("%s: %s: %s; ignored%s %s", __func__, path, why,
		    rename(path, bad) == 0 ? ", renamed to" : ", could not "
		    "rename it to", bad);
	}
	return 0;
}
