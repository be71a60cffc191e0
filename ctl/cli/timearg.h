/*
 * timearg.h — the time arguments of `tollctl report` and `top`:
 *   7d, 24h, 30m     : that long before now
 *   YYYY-MM-DD       : midnight UTC of that day
 *   RFC 3339         : 2025-01-02T03:04:05Z, ...05.25+02:00, 't'/' ' too
 * now_ns is a parameter so tests get exact results.
 */
#ifndef TG_CLI_TIMEARG_H
#define TG_CLI_TIMEARG_H

#include <stdint.h>

#define TIMEARG_EXPECTED "7d, 24h, 30m, YYYY-MM-DD or RFC3339"

/* CLOCK_REALTIME nanoseconds into *out. 0, or -1 on a malformed text. */
int timearg_parse(const char *text, int64_t now_ns, int64_t *out);

#endif
