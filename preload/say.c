/* say.c — rate-limited lines on the original stderr; see say.h. */
#include "say.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "real.h"
#include "shim.h"
#include "sigguard.h"

static dev_t say_dev;
static ino_t say_ino;
static int say_ok;                  /* fd 2 was open at init */
static _Atomic int64_t say_window;  /* start of the window, mono ns */
static _Atomic int say_count;       /* lines said in the window */

void
shim_say_init(void)
{
	struct stat st;

	if (fstat(2, &st) == 0) {
		say_dev = st.st_dev;
		say_ino = st.st_ino;
		say_ok = 1;
	}
}

static int
still_stderr(void)
{
	struct stat st;

	return say_ok && fstat(2, &st) == 0 && st.st_dev == say_dev &&
	    st.st_ino == say_ino;
}

/* Lock-free: a racing thread may start a new window twice; harmless. */
static int
may_say(void)
{
	int64_t now = shim_now_mono(), start = atomic_load(&say_window);

	if (start == 0 || now - start >= (int64_t)SAY_WINDOW_S * 1000000000) {
		atomic_store(&say_window, now);
		atomic_store(&say_count, 0);
	}
	return atomic_fetch_add(&say_count, 1) < SAY_BURST;
}

/* fd 2 may be a pipe nobody reads (SIGPIPE) or a file at RLIMIT_FSIZE
 * (SIGXFSZ): a line of ours must not kill the host. Nor hang it: a full
 * pipe nobody drains gets no line (poll without waiting first). */
static void
say_write(const char *line, int n)
{
	struct pollfd p = { .fd = 2, .events = POLLOUT };
	struct shim_sigguard g;
	ssize_t w;

	if (shim_real.poll(&p, 1, 0) != 1 || !(p.revents & POLLOUT))
		return;
	shim_sig_hold(&g);
	do
		w = shim_real.write(2, line, n);
	while (w < 0 && errno == EINTR);
	shim_sig_release(&g, w < 0 ? errno : 0);
}

void
shim_say(const char *fmt, ...)
{
	int saved = errno;
	char line[256];
	va_list ap;
	int n;

	if (!still_stderr() || !may_say())
		goto out;
	memcpy(line, "tollgate: ", 10);
	va_start(ap, fmt);
	n = vsnprintf(line + 10, sizeof(line) - 11, fmt, ap);
	va_end(ap);
	if (n < 0)
		goto out;
	n += 10;
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	say_write(line, n);
out:
	errno = saved;
}
