/*
 * tollgate.h — the shim's public client API, exported by libtollgate.so.
 *
 * For programs that want to report usage themselves (and for tests): find
 * the functions with dlsym(RTLD_DEFAULT, "tollgate_admit") when the shim is
 * preloaded, or link against libtollgate.so. The hooks of the shim use the
 * same path internally. All calls are thread-safe, never block longer than
 * the daemon deadline (TOLLGATE_TIMEOUT_MS, default 50), and never crash
 * the caller: with the daemon down they apply the fail mode and spool.
 */
#ifndef TOLLGATE_H
#define TOLLGATE_H

#include <stdint.h>

#define TOLLGATE_ALLOW 0
#define TOLLGATE_DELAY 1
#define TOLLGATE_DENY 2

struct tollgate_verdict {
	int decision;          /* TOLLGATE_ALLOW | _DELAY | _DENY */
	uint32_t delay_ms;
	int64_t reset_time_ns; /* CLOCK_REALTIME; 0 when none */
	char rule[64];
	char reason[128];
	int from_daemon;       /* 0: decided here — the fail mode (daemon
				* unreachable) or TOLLGATE_MODE=off allowed */
};

struct tollgate_usage {
	uint64_t admit_id;     /* from tollgate_admit, or 0 */
	const char *provider;
	const char *model;
	const char *endpoint;
	uint32_t http_status;
	uint32_t latency_ms;
	uint64_t input_tokens, output_tokens, cached_tokens, cache_write_tokens,
	    reasoning_tokens;
	int estimated;         /* 1: not provider-reported */
	int refused;           /* 1: the request was refused, never sent */
};

/* Ask before an LLM request. Returns the admit id (never 0) to pass to
 * tollgate_usage, and fills *v. max_output 0: the model's maximum.
 * TOLLGATE_ALLOW: send it (its cost is reserved until tollgate_usage).
 * TOLLGATE_DELAY: nothing was reserved; wait delay_ms (a rate limit, or a
 * pause window until it ends) and ask again. TOLLGATE_DENY: do not send;
 * rule and reason say why, reset_time_ns when it may pass again. */
uint64_t tollgate_admit(const char *provider, const char *model,
    const char *endpoint, uint64_t est_input_tokens, uint64_t max_output_tokens,
    struct tollgate_verdict *v);

/* Report (settle) usage. Returns 0 when the daemon acknowledged it (it is
 * committed in the ledger), 1 when it was spooled to disk for later replay,
 * -1 on bad arguments. */
int tollgate_usage(const struct tollgate_usage *u);

/* Send what is spooled now (normally done on (re)registration).
 * Returns the number of records the daemon acknowledged, or -1. */
int tollgate_flush_spool(void);

#endif
