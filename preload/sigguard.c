/* sigguard.c — block SIGPIPE/SIGXFSZ around our writes; see sigguard.h. */
#include "sigguard.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

static void
guarded_set(sigset_t *s)
{
	sigemptyset(s);
	sigaddset(s, SIGPIPE);
	sigaddset(s, SIGXFSZ);
}

void
shim_sig_hold(struct shim_sigguard *g)
{
	sigset_t block, pend;

	guarded_set(&block);
	g->ok = pthread_sigmask(SIG_BLOCK, &block, &g->old) == 0;
	if (!g->ok || sigpending(&pend) < 0)
		sigemptyset(&pend);
	g->had_pipe = sigismember(&pend, SIGPIPE) == 1;
	g->had_xfsz = sigismember(&pend, SIGXFSZ) == 1;
}

/* Take sig off the pending set if it is there; never waits. */
static void
consume(int sig)
{
	struct timespec zero = { 0, 0 };
	sigset_t one, pend;

	if (sigpending(&pend) < 0 || sigismember(&pend, sig) != 1)
		return;
	sigemptyset(&one);
	sigaddset(&one, sig);
	while (sigtimedwait(&one, NULL, &zero) < 0 && errno == EINTR)
		;
}

void
shim_sig_release(struct shim_sigguard *g, int err)
{
	int saved = errno;

	if (!g->ok)
		return;
	if (err == EPIPE && !g->had_pipe)
		consume(SIGPIPE);
	if (err == EFBIG && !g->had_xfsz)
		consume(SIGXFSZ);
	pthread_sigmask(SIG_SETMASK, &g->old, NULL);
	errno = saved;
}
