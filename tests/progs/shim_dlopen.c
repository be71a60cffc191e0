/*
 * shim_dlopen — dlopen the shim (not preloaded) three times, flush through
 * it (which connects to the daemon), dlclose it each time.
 * Regression, "dlclose leaked the connection, the pages and the spool fd":
 * the shim is linked -z nodelete, so it stays loaded and the three rounds
 * share one connection.
 *   shim_dlopen PATH-TO-libtollgate.so
 * Prints "flush F F F sockets N still loaded L" (N = sockets open at the
 * end); exits 0 when N is 1 and L is 1.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static int
sockets(void)
{
	struct dirent *de;
	struct stat st;
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' && fstat(atoi(de->d_name), &st) == 0 &&
		    S_ISSOCK(st.st_mode))
			n++;
	closedir(d);
	return n;
}

int
main(int argc, char **argv)
{
	int f[3], n, loaded;
	void *h;

	if (argc != 2)
		return 2;
	for (int k = 0; k < 3; k++) {
		int (*flush)(void);

		if ((h = dlopen(argv[1], RTLD_NOW)) == NULL ||
		    (flush = (int (*)(void))dlsym(h, "tollgate_flush_spool")) ==
		    NULL) {
			printf("dlopen: %s\n", dlerror());
			return 1;
		}
		f[k] = flush();
		dlclose(h);
	}
	n = sockets();
	h = dlopen(argv[1], RTLD_NOW | RTLD_NOLOAD);
	loaded = h != NULL;
	printf("flush %d %d %d sockets %d still loaded %d\n", f[0], f[1], f[2],
	    n, loaded);
	return !(n == 1 && loaded);
}
