/*
 * shim_client — drive the preloaded shim's API step by step and print each
 * result, for tests/e2e/shim_client.sh and shim_replay.sh. Steps (argv):
 *   admit        -> "admit decision=D rule=R from_daemon=F"
 *   usage        -> "usage RC"   (0 acked, 1 spooled, -1 refused/lost)
 *   refuse       -> "refuse RC"  (a usage record with endpoint "refuse",
 *                   which shim_fakedaemon refuses: FAIL BAD_FIELD)
 *   busy         -> "busy RC"    (endpoint "busy": refused for now,
 *                   FAIL INTERNAL)
 *   flush        -> "flush N"
 *   waitsock     -> wait (up to 20 s) until $TOLLGATE_SOCKET exists;
 *                   prints nothing
 *   errno        -> "errno admit=A usage=U flush=F": errno is set to 4242
 *                   before each call and printed after it
 *   pending      -> "pending SIGPIPE=P SIGXFSZ=X": left pending by us?
 *   stderr=FILE  -> fd 2 becomes FILE from now on (the shim must then
 *                   stay silent: it is not the stderr it started with)
 * Exits 2 without the shim.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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

static void
wait_sock(void)
{
	const char *s = getenv("TOLLGATE_SOCKET");

	for (int i = 0; i < 400 && s && access(s, F_OK) != 0; i++)
		nanosleep(&(struct timespec){ 0, 50000000 }, NULL);
}

/* Regression, "exported calls clobbered errno". */
static void
check_errno(int (*flush)(void))
{
	shim_admit_fn fn = (shim_admit_fn)dlsym(RTLD_DEFAULT, "tollgate_admit");
	struct tollgate_verdict v;
	int a, u, f;

	errno = 4242;
	fn("openai", "gpt-4o", "/v1/chat/completions", 1000, 0, &v);
	a = errno;
	errno = 4242;
	shim_report("client", 0);
	u = errno;
	errno = 4242;
	flush();
	f = errno;
	printf("errno admit=%d usage=%d flush=%d\n", a, u, f);
}

static void
pending(void)
{
	sigset_t s;

	sigpending(&s);
	printf("pending SIGPIPE=%d SIGXFSZ=%d\n", sigismember(&s, SIGPIPE),
	    sigismember(&s, SIGXFSZ));
}

static void
to_stderr(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	dup2(fd, 2);
	close(fd);
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
		else if (strcmp(argv[i], "refuse") == 0)
			printf("refuse %d\n", shim_report("refuse", 0));
		else if (strcmp(argv[i], "busy") == 0)
			printf("busy %d\n", shim_report("busy", 0));
		else if (strcmp(argv[i], "flush") == 0)
			printf("flush %d\n", flush());
		else if (strcmp(argv[i], "waitsock") == 0)
			wait_sock();
		else if (strcmp(argv[i], "errno") == 0)
			check_errno(flush);
		else if (strcmp(argv[i], "pending") == 0)
			pending();
		else if (strncmp(argv[i], "stderr=", 7) == 0)
			to_stderr(argv[i] + 7);
		else
			return 3;
	}
	return 0;
}
