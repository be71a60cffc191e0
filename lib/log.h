/*
 * log.h — logging to stderr for the daemon and the CLI (the shim has its
 * own rate-limited writer, preload/say.c). Messages start with __func__ by
 * convention; logging never clobbers errno. fatal*() only for broken
 * invariants.
 */
#ifndef TG_LOG_H
#define TG_LOG_H

#include <stdarg.h>
#include <stddef.h>

void log_init(const char *progname, int debug);
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));  /* adds strerror(errno) */
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Format an error into a caller's buffer (err may be NULL or errlen 0). */
void tg_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
