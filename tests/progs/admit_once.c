/*
 * admit_once.c — one LLM admission through the shim's client API, for the
 * policy end-to-end tests: prints the verdict as one line
 *
 *   decision=allow|delay|deny delay_ms=N rule=R from_daemon=0|1 reason=TEXT
 *
 * and, when allowed, settles it with IN input and OUT output tokens
 * (tollgate_usage; "settled=0" acknowledged, "settled=1" spooled).
 *
 *   admit_once PROVIDER MODEL IN OUT
 *
 * Exit 0; 2 when the shim is not preloaded; 1 on bad arguments.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../preload/tollgate.h"

typedef uint64_t (*admit_fn)(const char *, const char *, const char *,
    uint64_t, uint64_t, struct tollgate_verdict *);
typedef int (*usage_fn)(const struct tollgate_usage *);

int
main(int argc, char **argv)
{
	static const char *names[] = { "allow", "delay", "deny" };
	static const char endpoint[] = "/v1/chat/completions";
	struct tollgate_verdict v;
	struct tollgate_usage u = { 0 };
	admit_fn admit;
	usage_fn usage;
	char *e1, *e2;

	if (argc != 5 || (u.input_tokens = strtoull(argv[3], &e1, 10), *e1) ||
	    (u.output_tokens = strtoull(argv[4], &e2, 10), *e2)) {
		fprintf(stderr, "usage: admit_once PROVIDER MODEL IN OUT\n");
		return 1;
	}
	admit = (admit_fn)dlsym(RTLD_DEFAULT, "tollgate_admit");
	usage = (usage_fn)dlsym(RTLD_DEFAULT, "tollgate_usage");
	if (admit == NULL || usage == NULL) {
		fprintf(stderr, "admit_once: libtollgate.so is not preloaded\n");
		return 2;
	}
	u.admit_id = admit(argv[1], argv[2], endpoint, u.input_tokens,
	    u.output_tokens, &v);
	printf("decision=%s delay_ms=%u rule=%s from_daemon=%d reason=%s\n",
	    v.decision >= 0 && v.decision <= 2 ? names[v.decision] : "?",
	    v.delay_ms, v.rule[0] ? v.rule : "-", v.from_daemon, v.reason);
	if (v.decision != TOLLGATE_ALLOW)
		return 0;
	u.provider = argv[1];
	u.model = argv[2];
	u.endpoint = endpoint;
	u.http_status = 200;
	printf("settled=%d\n", usage(&u));
	return 0;
}
