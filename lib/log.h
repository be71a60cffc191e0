/*
 * log.h — logging to stderr for the daemon and the CLI (the shim has its
 * own rate-limited writer, preload/say.c). Messages start with __func__ by
 * convention; logging never clobbers errno. fatal*() only for broken
 * invariants.
 */
#ifndef TG_LOG_H
#define TG_LOG_H

#include <stdarg.h>

void log_init(const char *progname, int debug);
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));  /* adds strerror(errno) */
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
