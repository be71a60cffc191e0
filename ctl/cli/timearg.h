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
#define TIMEARG_LATEST "2262-04-11T23:47:16Z"   /* INT64_MAX ns, floored */
#define TIMEARG_RANGE (-2)

/* CLOCK_REALTIME nanoseconds into *out. 0, -1 on a malformed text, or
 * TIMEARG_RANGE for a well-formed time after TIMEARG_LATEST (nanoseconds
 * since 1970 no longer fit in 64 bits). */
int timearg_parse(const char *text, int64_t now_ns, int64_t *out);

#endif
