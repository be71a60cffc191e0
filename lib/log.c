/* log.c — see log.h. */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *log_prog = "tollgate";
static int log_debug_on;

void
log_init(const char *progname, int debug)
{
	log_prog = progname;
	log_debug_on = debug;
}

static void
log_vemit(const char *fmt, va_list ap, const char *suffix)
{
	int saved = errno;
	char line[1024];

	vsnprintf(line, sizeof(line), fmt, ap);
	if (suffix)
		fprintf(stderr, "%s: %s: %s\n", log_prog, line, suffix);
	else
		fprintf(stderr, "%s: %s\n", log_prog, line);
	errno = saved;
}

#define LOG_BODY(suffix)                   \
	do {                               \
		va_list ap;                \
		va_start(ap, fmt);         \
		log_vemit(fmt, ap, suffix); \
		va_end(ap);                \
	} while (0)

void log_warn(const char *fmt, ...) { const char *e = strerror(errno); LOG_BODY(e); }
void log_warnx(const char *fmt, ...) { LOG_BODY(NULL); }
void log_info(const char *fmt, ...) { LOG_BODY(NULL); }

void
log_debug(const char *fmt, ...)
{
	if (log_debug_on)
		LOG_BODY(NULL);
}

void
fatal(const char *fmt, ...)
{
	const char *e = strerror(errno);
	LOG_BODY(e);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	LOG_BODY(NULL);
	exit(1);
}

void
tg_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}
