/*
 * run_kids.c — the live children of tollctl, for `tollctl run` to know
 * when CMD's leftovers are gone: /proc/self/task/TID/children when the
 * kernel has it (CONFIG_PROC_CHILDREN), else a scan of /proc/PID/stat.
 */
#include "run.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static size_t
from_children_file(FILE *f, pid_t *out, size_t max)
{
	size_t n = 0;
	int pid;

	while (n < max && fscanf(f, "%d", &pid) == 1)
		out[n++] = pid;
	return n;
}

/* ppid of /proc/NAME/stat, or -1. */
static int
stat_ppid(const char *name)
{
	char path[300], buf[512], *rp;
	int ppid = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%s/stat", name);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	if (fgets(buf, sizeof(buf), f) && (rp = strrchr(buf, ')')) &&
	    sscanf(rp + 1, " %*c %d", &ppid) != 1)
		ppid = -1;
	fclose(f);
	return ppid;
}

static size_t
from_proc_scan(pid_t self, pid_t *out, size_t max)
{
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	if ((d = opendir("/proc")) == NULL)
		return 0;
	while (n < max && (de = readdir(d)) != NULL)
		if (de->d_name[0] >= '1' && de->d_name[0] <= '9' &&
		    stat_ppid(de->d_name) == self)
			out[n++] = atoi(de->d_name);
	closedir(d);
	return n;
}

size_t
kids_list(pid_t *out, size_t max)
{
	char path[64];
	pid_t self = getpid();
	size_t n;
	FILE *f;

	/* tollctl is single-threaded: its one task has the pid's number */
	snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)self);
	if ((f = fopen(path, "re")) == NULL)
		return from_proc_scan(self, out, max);
	n = from_children_file(f, out, max);
	fclose(f);
	return n;
}
