/*
 * shim_client — drive the preloaded shim's API step by step and print each
 * result, for tests/e2e/shim_client.sh. Steps (argv):
 *   admit        -> "admit decision=D rule=R from_daemon=F"
 *   usage        -> "usage RC"   (0 acked, 1 spooled, -1 refused/lost)
 *   flush        -> "flush N"
 *   stderr=FILE  -> fd 2 becomes FILE from now on (the shim must then
 *                   stay silent: it is not the stderr it started with)
 * Exits 2 without the shim.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "shim_report.h"

static void
admit(void)
{
	shim_admit_fn fn = (shim_admit_fn)dlsym(RTLD_DEFAULT, "tollgate_admit");
	struct tollgate_verdict v;
	uint64_t id = fn("openai", "gpt-4o", "/v1/chat/completions", 1000, 0, &v);

	printf("admit decision=%d rule=%s from_daemon=%d id_nonzero=%d\n",
	    v.decision, v.rule, v.from_daemon, id != 0);
}

int
main(int argc, char **argv)
{
	int (*flush)(void) = (int (*)(void))dlsym(RTLD_DEFAULT,
	    "tollgate_flush_spool");

	if (flush == NULL)
		return 2;
	setvbuf(stdout, NULL, _IONBF, 0);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "admit") == 0)
			admit();
		else if (strcmp(argv[i], "usage") == 0)
			printf("usage %d\n", shim_report("client", 0));
		else if (strcmp(argv[i], "flush") == 0)
			printf("flush %d\n", flush());
		else if (strncmp(argv[i], "stderr=", 7) == 0) {
			int fd = open(argv[i] + 7, O_WRONLY | O_CREAT | O_TRUNC,
			    0600);
			dup2(fd, 2);
			close(fd);
		} else
			return 3;
	}
	return 0;
}
