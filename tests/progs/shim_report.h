/*
 * shim_report.h — for the shim test programs: report one usage record
 * through the preloaded shim, found with dlsym(RTLD_DEFAULT) so the same
 * binary runs with and without the shim (then it reports nothing) and
 * prints the same thing either way.
 */
#ifndef SHIM_REPORT_H
#define SHIM_REPORT_H

#include <dlfcn.h>
#include <stdint.h>

#include "../../preload/tollgate.h"

typedef int (*shim_usage_fn)(const struct tollgate_usage *);
typedef uint64_t (*shim_admit_fn)(const char *, const char *, const char *,
    uint64_t, uint64_t, struct tollgate_verdict *);

/* Returns tollgate_usage's result, or -9 when no shim is loaded. */
static inline int
shim_report(const char *endpoint, uint64_t admit_id)
{
	static shim_usage_fn fn;
	struct tollgate_usage u = { .admit_id = admit_id, .provider = "openai",
		.model = "gpt-4o-mini", .endpoint = endpoint,
		.http_status = 200, .input_tokens = 100, .output_tokens = 20 };

	if (fn == NULL)
		fn = (shim_usage_fn)dlsym(RTLD_DEFAULT, "tollgate_usage");
	return fn ? fn(&u) : -9;
}

static inline uint64_t
shim_admit(const char *endpoint)
{
	static shim_admit_fn fn;
	struct tollgate_verdict v;

	if (fn == NULL)
		fn = (shim_admit_fn)dlsym(RTLD_DEFAULT, "tollgate_admit");
	return fn ? fn("openai", "gpt-4o-mini", endpoint, 100, 50, &v) : 0;
}

#endif
