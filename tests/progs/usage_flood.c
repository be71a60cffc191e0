/*
 * usage_flood — the durability test's client: reports COUNT usage records
 * at about RATE per second through the preloaded shim's tollgate_usage,
 * record N with endpoint "flood/N" (the ledger's endpoint column tells the
 * records apart). Every N the daemon acknowledged (tollgate_usage returned
 * 0) is appended to ACKLOG, one per line, written before the next record is
 * sent. At the end tollgate_flush_spool() replays what was spooled.
 * Prints "sent S acked A spooled P lost L flushed F" and exits 0, or 1 when
 * the shim is not preloaded.
 *
 *   LD_PRELOAD=libtollgate.so usage_flood COUNT RATE ACKLOG
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../../preload/tollgate.h"

typedef int (*usage_fn)(const struct tollgate_usage *);
typedef int (*flush_fn)(void);

static void
pace(const struct timespec *t0, long i, long rate)
{
	struct timespec due = *t0;
	long long ns = (long long)i * 1000000000LL / rate;

	due.tv_sec += ns / 1000000000LL;
	due.tv_nsec += ns % 1000000000LL;
	if (due.tv_nsec >= 1000000000L) {
		due.tv_sec++;
		due.tv_nsec -= 1000000000L;
	}
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &due, NULL))
		;
}

int
main(int argc, char **argv)
{
	usage_fn usage = (usage_fn)dlsym(RTLD_DEFAULT, "tollgate_usage");
	flush_fn flush = (flush_fn)dlsym(RTLD_DEFAULT, "tollgate_flush_spool");
	long count, rate, res[3] = { 0 }, lost = 0;
	struct timespec t0;
	char ep[32];
	FILE *log;

	if (argc != 4 || (count = atol(argv[1])) <= 0 ||
	    (rate = atol(argv[2])) <= 0) {
		fprintf(stderr, "usage: usage_flood COUNT RATE ACKLOG\n");
		return 2;
	}
	if (!usage || !flush || !(log = fopen(argv[3], "w"))) {
		fprintf(stderr, "usage_flood: shim not preloaded or %s\n", argv[3]);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < count; i++) {
		struct tollgate_usage u = { .provider = "openai",
			.model = "gpt-4o-mini", .endpoint = ep,
			.http_status = 200, .input_tokens = 10,
			.output_tokens = 5 };
		int rc;

		pace(&t0, i, rate);
		snprintf(ep, sizeof(ep), "flood/%ld", i);
		rc = usage(&u);
		if (rc == 0) {
			fprintf(log, "%ld\n", i);
			fflush(log);
		}
		if (rc >= 0)
			res[rc]++;
		else
			lost++;
	}
	fclose(log);
	printf("sent %ld acked %ld spooled %ld lost %ld flushed %d\n", count,
	    res[0], res[1], lost, flush());
	return 0;
}
