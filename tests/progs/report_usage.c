/*
 * report_usage.c — reports LLM usage through the shim's client API, for
 * the end-to-end tests of `tollctl run`.
 *
 *   report_usage PROVIDER MODEL IN OUT N
 *
 * makes N requests of IN input and OUT output tokens: each is admitted
 * (tollgate_admit, max output = OUT; asked again after each delay) and,
 * when allowed, settled
 * (tollgate_usage). Prints "allowed=A refused=R" and exits 0; exits 2 when
 * the shim is not preloaded, 1 on bad arguments or a failed settlement.
 * The functions are found with dlsym(RTLD_DEFAULT, ...), so the program
 * needs nothing but libc and runs as-is without the shim.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../../preload/tollgate.h"

typedef uint64_t (*admit_fn)(const char *, const char *, const char *,
    uint64_t, uint64_t, struct tollgate_verdict *);
typedef int (*usage_fn)(const struct tollgate_usage *);

static int
number(const char *s, unsigned long long *v)
{
	char *end;

	*v = strtoull(s, &end, 10);
	return *s != '\0' && *end == '\0' && *s != '-';
}

static void
sleep_ms(uint32_t ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

int
main(int argc, char **argv)
{
	static const char endpoint[] = "/v1/chat/completions";
	unsigned long long in, out, n, allowed = 0, refused = 0;
	struct tollgate_verdict v;
	struct tollgate_usage u = { 0 };
	admit_fn admit;
	usage_fn usage;

	if (argc != 6 || !number(argv[3], &in) || !number(argv[4], &out) ||
	    !number(argv[5], &n)) {
		fprintf(stderr, "usage: report_usage PROVIDER MODEL IN OUT N\n");
		return 1;
	}
	admit = (admit_fn)dlsym(RTLD_DEFAULT, "tollgate_admit");
	usage = (usage_fn)dlsym(RTLD_DEFAULT, "tollgate_usage");
	if (admit == NULL || usage == NULL) {
		fprintf(stderr, "report_usage: libtollgate.so is not preloaded\n");
		return 2;
	}
	for (unsigned long long i = 0; i < n; i++) {
		/* a delay reserves nothing: wait, then ask again */
		while ((u.admit_id = admit(argv[1], argv[2], endpoint, in, out,
		    &v)) && v.decision == TOLLGATE_DELAY)
			sleep_ms(v.delay_ms);
		if (v.decision == TOLLGATE_DENY) {
			refused++;
			continue;
		}
		u.provider = argv[1];
		u.model = argv[2];
		u.endpoint = endpoint;
		u.http_status = 200;
		u.input_tokens = in;
		u.output_tokens = out;
		if (usage(&u) < 0) {
			fprintf(stderr, "report_usage: tollgate_usage refused the "
			    "record\n");
			return 1;
		}
		allowed++;
	}
	printf("allowed=%llu refused=%llu\n", allowed, refused);
	return 0;
}
