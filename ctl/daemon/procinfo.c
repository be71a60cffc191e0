/* procinfo.c — see procinfo.h. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ledger.h"
#include "procinfo.h"
#include "proto.h"

#define ENVIRON_MAX (128 * 1024)  /* bytes of /proc/PID/environ read */

/* Up to size - 1 bytes of path, NUL-terminated: their count, or -1. */
static ssize_t
read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0;
	ssize_t r;

	if (fd == -1)
		return -1;
	while (n + 1 < size && (r = read(fd, buf + n, size - 1 - n)) > 0)
		n += (size_t)r;
	close(fd);
	buf[n] = '\0';
	return (ssize_t)n;
}

static void
printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = '?';
}

void
procinfo_env_tags(pid_t pid, char *out, size_t len)
{
	static const char key[] = "TOLLGATE_TAGS=";
	char path[64], *buf;
	ssize_t n;

	out[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	if ((buf = malloc(ENVIRON_MAX + 1)) == NULL)
		return;
	if ((n = read_file(path, buf, ENVIRON_MAX + 1)) > 0)
		for (char *p = buf; p < buf + n; p += strlen(p) + 1)
			if (strncmp(p, key, sizeof(key) - 1) == 0) {
				tg_strlcpy(out, p + sizeof(key) - 1, len);
				printable(out);
				break;
			}
	free(buf);
}

void
procinfo_identity(struct ledger_entry *e, pid_t pid)
{
	char path[64], buf[4096], *p;
	ssize_t n;

	memset(e, 0, sizeof(*e));
	e->pid = pid;
	e->rec.pid = pid;
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	if ((n = readlink(path, e->rec.exe, sizeof(e->rec.exe) - 1)) > 0)
		e->rec.exe[n] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (read_file(path, buf, sizeof(buf)) > 0 &&
	    (p = strstr(buf, "\nUid:")) != NULL)
		e->uid = (uint32_t)strtoul(p + 5, NULL, 10);
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	if (read_file(path, buf, sizeof(buf)) > 0 &&
	    (p = strstr(buf, "0::")) != NULL) {
		p += 3;
		p[strcspn(p, "\n")] = '\0';
		tg_strlcpy(e->cgroup, p, sizeof(e->cgroup));
	}
	procinfo_env_tags(pid, e->rec.tags, sizeof(e->rec.tags));
}
