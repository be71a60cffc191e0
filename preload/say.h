/*
 * say.h — the shim's only way to talk: one line on fd 2, prefixed
 * "tollgate: ", and only while fd 2 is still the stderr the process started
 * with (same dev+ino as at init: a program that reused fd 2 for a data file
 * or socket must never get our text in it). Rate-limited to SAY_BURST lines
 * per SAY_WINDOW_S seconds per process; lines over the limit are dropped.
 * A line never kills the host (SIGPIPE, SIGXFSZ: sigguard.h) nor blocks
 * it (fd 2 not writable now: the line is dropped). Never touches errno.
 */
#ifndef SHIM_SAY_H
#define SHIM_SAY_H

#define SAY_BURST 5
#define SAY_WINDOW_S 10

void shim_say_init(void);
void shim_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
