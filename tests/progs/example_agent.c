/*
 * example_agent.c — the bundled example of `make run`: a pretend agent
 * that makes a few LLM requests to three models and reports each through
 * the shim's client API (tollgate_admit / tollgate_usage), the way the
 * shim's HTTP hooks will once they exist. No network is used.
 */
#include <dlfcn.h>
#include <stdio.h>

#include "../../preload/tollgate.h"

typedef uint64_t (*admit_fn)(const char *, const char *, const char *,
    uint64_t, uint64_t, struct tollgate_verdict *);
typedef int (*usage_fn)(const struct tollgate_usage *);

struct step {
	const char *provider, *model, *endpoint, *what;
	uint64_t in, out, cached;
};

static const struct step steps[] = {
	{ "openai", "gpt-4o", "/v1/chat/completions", "plan the task", 1200, 350, 0 },
	{ "openai", "gpt-4o-mini", "/v1/chat/completions", "classify 3 documents", 800, 40, 0 },
	{ "openai", "gpt-4o-mini", "/v1/chat/completions", "extract fields", 950, 120, 0 },
	{ "anthropic", "claude-3-5-sonnet-20241022", "/v1/messages", "write the answer", 2400, 900, 2000 },
	{ "openai", "gpt-4o", "/v1/chat/completions", "check the answer", 3300, 80, 0 },
};

int
main(void)
{
	admit_fn admit = (admit_fn)dlsym(RTLD_DEFAULT, "tollgate_admit");
	usage_fn usage = (usage_fn)dlsym(RTLD_DEFAULT, "tollgate_usage");
	struct tollgate_verdict v;
	int sent = 0;

	if (admit == NULL || usage == NULL) {
		fprintf(stderr, "example_agent: run me under `tollctl run` (the shim "
		    "is not preloaded)\n");
		return 2;
	}
	printf("example_agent: a simulated agent; it reports its usage through "
	    "the tollgate client API\n(the shim's HTTP hooks, which meter real "
	    "provider calls, come in a later release)\n");
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		const struct step *s = &steps[i];
		struct tollgate_usage u = { 0 };

		u.admit_id = admit(s->provider, s->model, s->endpoint, s->in, s->out, &v);
		if (v.decision == TOLLGATE_DENY) {
			printf("  %-28s %-20s refused: %s\n", s->model, s->what, v.reason);
			continue;
		}
		u.provider = s->provider;
		u.model = s->model;
		u.endpoint = s->endpoint;
		u.http_status = 200;
		u.latency_ms = 400;
		u.input_tokens = s->in;
		u.output_tokens = s->out;
		u.cached_tokens = s->cached;
		printf("  %-28s %-20s %5llu in %4llu out%s\n", s->model, s->what,
		    (unsigned long long)s->in, (unsigned long long)s->out,
		    usage(&u) == 0 ? "" : "  (spooled: daemon unreachable)");
		sent++;
	}
	return sent > 0 ? 0 : 1;
}
