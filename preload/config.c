/* config.c — the shim's environment; see config.h. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "paths.h"
#include "proto.h"
#include "say.h"

struct shim_config shim_cfg = {
	.mode = TG_MODE_ENFORCE,
	.timeout_ms = SHIM_TIMEOUT_DEFAULT_MS,
};

int64_t
shim_call_ns(void)
{
	return (int64_t)shim_cfg.timeout_ms * 1000000;
}

static int
tag_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' && strchr("_.:/@+-", c));
}

/* One k=v: both sides non-empty. Returns the end of the pair or NULL. */
static const char *
tag_pair(const char *p)
{
	const char *k = p;

	while (tag_char((unsigned char)*p))
		p++;
	if (p == k || *p != '=')
		return NULL;
	k = ++p;
	while (tag_char((unsigned char)*p))
		p++;
	return p == k ? NULL : p;
}

int
shim_tags_valid(const char *s)
{
	if (strlen(s) > 255)
		return 0;
	if (*s == '\0')
		return 1;
	for (;;) {
		if ((s = tag_pair(s)) == NULL)
			return 0;
		if (*s == '\0')
			return 1;
		if (*s++ != ',')
			return 0;
	}
}

int
shim_run_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= sizeof(shim_cfg.run))
		return 0;
	for (; *s; s++)
		if (!tag_char((unsigned char)*s) || strchr(":/@+", *s))
			return 0;
	return 1;
}

static void
load_mode(struct shim_config *c, const char *v)
{
	c->mode = TG_MODE_ENFORCE;
	if (v == NULL || strcmp(v, "enforce") == 0)
		return;
	if (strcmp(v, "observe") == 0)
		c->mode = TG_MODE_OBSERVE;
	else if (strcmp(v, "off") == 0)
		c->mode = TG_MODE_OFF;
	else
		shim_say("TOLLGATE_MODE=%.40s is not enforce|observe|off; "
		    "using enforce", v);
}

static void
load_timeout(struct shim_config *c, const char *v)
{
	char *end;
	long ms;

	c->timeout_ms = SHIM_TIMEOUT_DEFAULT_MS;
	if (v == NULL)
		return;
	ms = strtol(v, &end, 10);
	if (*v == '\0' || *end != '\0' || ms < 1 || ms > 60000) {
		shim_say("TOLLGATE_TIMEOUT_MS=%.40s is not 1..60000; using %d",
		    v, SHIM_TIMEOUT_DEFAULT_MS);
		return;
	}
	c->timeout_ms = (int)ms;
}

static void
load_fail(struct shim_config *c, const char *v)
{
	c->fail_closed = 0;
	if (v == NULL || strcmp(v, "open") == 0)
		return;
	if (strcmp(v, "closed") == 0)
		c->fail_closed = 1;
	else
		shim_say("TOLLGATE_FAIL=%.40s is not open|closed; using open", v);
}

static void
load_strings(struct shim_config *c, const char *tags, const char *run)
{
	c->tags[0] = c->run[0] = '\0';
	if (tags && shim_tags_valid(tags))
		tg_strlcpy(c->tags, tags, sizeof(c->tags));
	else if (tags)
		shim_say("TOLLGATE_TAGS is not k=v,k=v (at most 255 bytes of "
		    "[A-Za-z0-9_.:/@+-]); using no tags");
	if (run && shim_run_valid(run))
		tg_strlcpy(c->run, run, sizeof(c->run));
	else if (run && *run)
		shim_say("TOLLGATE_RUN is not a run token; ignoring it");
}

void
shim_config_load(struct shim_config *c, const char *(*get)(const char *))
{
	const char *sock = get("TOLLGATE_SOCKET");

	load_mode(c, get("TOLLGATE_MODE"));
	load_timeout(c, get("TOLLGATE_TIMEOUT_MS"));
	load_fail(c, get("TOLLGATE_FAIL"));
	load_strings(c, get("TOLLGATE_TAGS"), get("TOLLGATE_RUN"));
	/* paths.h reads TOLLGATE_SOCKET itself; check the length here so a
	 * path too long for sun_path says so once instead of failing later. */
	if (tg_path_socket(c->socket, sizeof(c->socket)) < 0) {
		c->socket[0] = '\0';
		shim_say("TOLLGATE_SOCKET %.60s... is longer than a unix socket "
		    "path may be; metering locally", sock ? sock : "");
	}
}
