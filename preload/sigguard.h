/*
 * sigguard.h — writes the host did not ask for must not kill it.
 *
 * A write to a pipe nobody reads raises SIGPIPE; a write to a regular file
 * at RLIMIT_FSIZE raises SIGXFSZ; both kill by default. Around such a
 * write (our stderr line, a spool append) both are blocked in this thread,
 * so the write fails with EPIPE / EFBIG instead. A signal the write raised
 * (it stays pending while blocked) is consumed before the mask is
 * restored, unless it was already pending before: that one is the host's.
 */
#ifndef SHIM_SIGGUARD_H
#define SHIM_SIGGUARD_H

#include <signal.h>

struct shim_sigguard {
	sigset_t old;
	int had_pipe, had_xfsz; /* pending before the write */
	int ok;                 /* the mask was changed */
};

void shim_sig_hold(struct shim_sigguard *g);

/* err: errno of the guarded write (0 when it succeeded). Keeps errno. */
void shim_sig_release(struct shim_sigguard *g, int err);

#endif
