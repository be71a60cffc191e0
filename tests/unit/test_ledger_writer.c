/* test_ledger_writer.c — the group-commit writer thread: every submission
 * completes exactly once and only after COMMIT, duplicates say so, batches
 * group, the queue is bounded, stop flushes, a failed batch says ok = 0. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "ledger.h"
#include "ledger_fixture.h"

#define QUEUE_MAX 4096 /* ledger_writer.c */
#define WAIT_MS 20000  /* a hang guard, not a timing assertion */

static struct ledger_writer *
start(struct ledger *lg)
{
	char err[256] = "";
	struct ledger_writer *w = ledger_writer_start(lg, err, sizeof(err));

	if (w == NULL)
		fail_msg("ledger_writer_start: %s", err);
	return w;
}

static void
entry(struct ledger_entry *e, uint64_t id, const char *model)
{
	memset(e, 0, sizeof(*e));
	memcpy(e->rec.id, &id, sizeof(id));
	e->rec.event_time_ns = T0 + (int64_t)id;
	e->rec.input_tokens = 10;
	e->rec.output_tokens = 1;
	tg_strlcpy(e->rec.model, model, sizeof(e->rec.model));
	e->cost_nano_usd = 5;
}

/* Submit ids 1..n as gpt-4o records, cookie = id - 1. */
static void
submit_ids(struct ledger_writer *w, uint64_t n)
{
	struct ledger_entry e;
	uint64_t i;

	for (i = 0; i < n; i++) {
		entry(&e, i + 1, "gpt-4o");
		assert_int_equal(ledger_writer_submit(w, &e, i), 0);
	}
}

/* Collect completions until `want` arrived; the eventfd must announce
 * them. */
static size_t
collect(struct ledger_writer *w, struct ledger_done *out, size_t want)
{
	struct pollfd p = { ledger_writer_fd(w), POLLIN, 0 };
	size_t got = 0;

	while (got < want) {
		if (poll(&p, 1, WAIT_MS) != 1)
			fail_msg("no completion after %d ms (%zu of %zu)",
			    WAIT_MS, got, want);
		got += ledger_writer_take(w, out + got, want - got);
	}
	return got;
}

static int
fd_readable(struct ledger_writer *w)
{
	struct pollfd p = { ledger_writer_fd(w), POLLIN, 0 };

	return poll(&p, 1, 0) == 1;
}

static void
test_every_submission_completes_once(void **state)
{
	enum { N = 1000, DUPS = 100 };
	struct ledger *lg = open_new(), *rd;
	struct ledger_writer *w = start(lg);
	struct ledger_done *d = calloc(N + DUPS, sizeof(*d));
	char *seen = calloc(N + DUPS + 1, 1);
	struct ledger_entry e;
	char err[256];
	uint64_t i;

	for (i = 1; i <= N + DUPS; i++) {
		/* cookies N+1.. resubmit ids 1..DUPS: a replay */
		entry(&e, i <= N ? i : i - N, "gpt-4o");
		assert_int_equal(ledger_writer_submit(w, &e, i), 0);
	}
	collect(w, d, N + DUPS);
	for (i = 0; i < N + DUPS; i++) {
		assert_true(d[i].cookie >= 1 && d[i].cookie <= N + DUPS);
		assert_int_equal(seen[d[i].cookie], 0);
		seen[d[i].cookie] = 1;
		assert_int_equal(d[i].ok, 1);
		assert_int_equal(d[i].inserted, d[i].cookie <= N);
	}
	assert_false(fd_readable(w)); /* drained: the eventfd is clear */
	assert_int_equal(ledger_writer_take(w, d, 1), 0);
	assert_true(ledger_writer_commits(w) >= 1);
	assert_true(ledger_writer_commits(w) <= N + DUPS);
	/* acknowledged means committed: a second connection sees it all */
	rd = ledger_open(path, err, sizeof(err));
	assert_non_null(rd);
	assert_int_equal(ledger_count(rd), N);
	ledger_close(rd);
	ledger_writer_stop(w);
	ledger_close(lg);
	free(d);
	free(seen);
}

/* While another connection holds the write lock, submissions pile up;
 * once it lets go they are written in a few transactions, not 601. */
static void
test_group_commit(void **state)
{
	enum { N = 601 };
	struct ledger *lg = open_new();
	struct ledger_writer *w;
	struct ledger_done *d = calloc(N, sizeof(*d));
	sqlite3 *db;
	int i;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL),
	    SQLITE_OK);
	w = start(lg);
	submit_ids(w, N);
	/* nothing can have committed yet */
	assert_int_equal(ledger_writer_take(w, d, N), 0);
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	collect(w, d, N);
	for (i = 0; i < N; i++)
		assert_int_equal(d[i].ok, 1);
	/* at most: 1 taken before the lock showed, then 512 + 88 */
	assert_true(ledger_writer_commits(w) <= 3);
	ledger_writer_stop(w);
	assert_int_equal(ledger_count(lg), N);
	ledger_close(lg);
	free(d);
}

static void
test_queue_bounded(void **state)
{
	struct ledger *lg = open_new();
	struct ledger_writer *w = start(lg);
	struct ledger_done *d = calloc(QUEUE_MAX, sizeof(*d));
	struct ledger_entry e;

	/* completions not taken count against the bound too, so exactly
	 * QUEUE_MAX submissions fit whatever the thread has done */
	submit_ids(w, QUEUE_MAX);
	entry(&e, QUEUE_MAX + 1, "gpt-4o");
	errno = 0;
	assert_int_equal(ledger_writer_submit(w, &e, QUEUE_MAX), -1);
	assert_int_equal(errno, EAGAIN);
	collect(w, d, QUEUE_MAX);
	assert_int_equal(ledger_writer_submit(w, &e, QUEUE_MAX), 0);
	collect(w, d, 1);
	assert_int_equal(d[0].cookie, QUEUE_MAX);
	assert_int_equal(d[0].inserted, 1);
	ledger_writer_stop(w);
	assert_int_equal(ledger_count(lg), QUEUE_MAX + 1);
	ledger_close(lg);
	free(d);
}

static void
test_stop_flushes(void **state)
{
	struct ledger *lg = open_new();
	struct ledger_writer *w = start(lg);

	submit_ids(w, 300);
	ledger_writer_stop(w);
	assert_int_equal(ledger_count(lg), 300);
	ledger_close(lg);
}

static void
test_failed_batch(void **state)
{
	struct ledger *lg = open_new();
	struct ledger_writer *w;
	struct ledger_done d[1];
	struct ledger_entry e;
	sqlite3 *db;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TRIGGER boom BEFORE INSERT "
	    "ON records WHEN new.model = 'boom' BEGIN "
	    "SELECT RAISE(ABORT, 'boom'); END", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	w = start(lg);
	entry(&e, 1, "boom");
	assert_int_equal(ledger_writer_submit(w, &e, 77), 0);
	collect(w, d, 1);
	assert_int_equal(d[0].cookie, 77);
	assert_int_equal(d[0].ok, 0);
	assert_int_equal(d[0].inserted, 0);
	assert_int_equal(ledger_writer_commits(w), 0);
	entry(&e, 2, "gpt-4o");
	assert_int_equal(ledger_writer_submit(w, &e, 78), 0);
	collect(w, d, 1);
	assert_int_equal(d[0].cookie, 78);
	assert_int_equal(d[0].ok, 1);
	assert_int_equal(d[0].inserted, 1);
	ledger_writer_stop(w);
	assert_int_equal(ledger_count(lg), 1);
	ledger_close(lg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_submission_completes_once),
		cmocka_unit_test(test_group_commit),
		cmocka_unit_test(test_queue_bounded),
		cmocka_unit_test(test_stop_flushes),
		cmocka_unit_test(test_failed_batch),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
