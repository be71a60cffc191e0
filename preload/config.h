/*
 * config.h — the shim's environment, read once at init.
 *   TOLLGATE_SOCKET      daemon socket (default: lib/paths.h)
 *   TOLLGATE_TAGS        k=v,k=v (keys/values [A-Za-z0-9_.:/@+-], <= 255)
 *   TOLLGATE_MODE        enforce | observe | off        (default enforce)
 *   TOLLGATE_RUN         token of a `tollctl run`        (default "")
 *   TOLLGATE_TIMEOUT_MS  deadline of a daemon call, 1..60000 (default 50)
 *   TOLLGATE_FAIL        open | closed                   (default open)
 * A value we do not understand costs one line on stderr and falls back to
 * the safe default; it never stops the host program.
 */
#ifndef SHIM_CONFIG_H
#define SHIM_CONFIG_H

#include <stdint.h>

#define SHIM_TIMEOUT_DEFAULT_MS 50

struct shim_config {
	char socket[108];  /* sun_path; "" when the path does not fit */
	char tags[256];
	char run[40];
	uint32_t mode;     /* enum tg_mode */
	int timeout_ms;
	int fail_closed;
};

extern struct shim_config shim_cfg;

/* One daemon call's deadline, ns (shim_cfg.timeout_ms). */
int64_t shim_call_ns(void);

/* Fill c from getenv-like get (injectable for tests); warn through
 * shim_say. */
void shim_config_load(struct shim_config *c, const char *(*get)(const char *));

/* 1 when s is a valid TOLLGATE_TAGS value ("" is valid: no tags). */
int shim_tags_valid(const char *s);

/* 1 when s is a valid TOLLGATE_RUN token. */
int shim_run_valid(const char *s);

#endif
