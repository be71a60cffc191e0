/* test_busy_union.c — the union of busy intervals: what each add newly
 * covers, exactly, and what the bounded set keeps. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "busy_union.h"

/* The set's intervals, as "start-end start-end". */
static void
assert_set(const struct busy_union *u, int n, const int64_t *pairs)
{
	assert_int_equal(u->n, n);
	for (int i = 0; i < n; i++) {
		assert_int_equal(u->iv[i].start, pairs[2 * i]);
		assert_int_equal(u->iv[i].end, pairs[2 * i + 1]);
	}
}

static void
test_disjoint(void **state)
{
	struct busy_union u;

	busy_union_init(&u, 8);
	assert_int_equal(busy_union_add(&u, 100, 250), 150);
	assert_int_equal(busy_union_add(&u, 1000, 1001), 1);
	assert_int_equal(busy_union_add(&u, 400, 700), 300);
	assert_set(&u, 3, (int64_t[]){ 100, 250, 400, 700, 1000, 1001 });
	assert_int_equal(u.total, 451);
}

static void
test_overlap_counts_once(void **state)
{
	struct busy_union u;

	/* Two streams, 10 ms each, the second starting 4 ms later: 14 ms. */
	busy_union_init(&u, 8);
	assert_int_equal(busy_union_add(&u, 0, 10000000), 10000000);
	assert_int_equal(busy_union_add(&u, 4000000, 14000000), 4000000);
	assert_set(&u, 1, (int64_t[]){ 0, 14000000 });
	/* The same interval again adds nothing. */
	assert_int_equal(busy_union_add(&u, 4000000, 14000000), 0);
	/* Overlapping the start only. */
	assert_int_equal(busy_union_add(&u, -500, 10), 500);
	assert_set(&u, 1, (int64_t[]){ -500, 14000000 });
	assert_int_equal(u.total, 14000500);
}

static void
test_nested(void **state)
{
	struct busy_union u;

	busy_union_init(&u, 8);
	assert_int_equal(busy_union_add(&u, 100, 900), 800);
	assert_int_equal(busy_union_add(&u, 200, 300), 0);
	assert_int_equal(busy_union_add(&u, 100, 900), 0);
	/* One that swallows the first: only its two ends are new. */
	assert_int_equal(busy_union_add(&u, 50, 1000), 150);
	assert_set(&u, 1, (int64_t[]){ 50, 1000 });
}

static void
test_bridge_and_touch(void **state)
{
	struct busy_union u;

	busy_union_init(&u, 8);
	busy_union_add(&u, 0, 100);
	busy_union_add(&u, 200, 300);
	busy_union_add(&u, 400, 500);
	/* Touching intervals merge and count their own length. */
	assert_int_equal(busy_union_add(&u, 100, 200), 100);
	assert_set(&u, 2, (int64_t[]){ 0, 300, 400, 500 });
	/* One spanning a gap and two intervals: only the gaps are new. */
	assert_int_equal(busy_union_add(&u, 250, 600), 200);
	assert_set(&u, 1, (int64_t[]){ 0, 600 });
	assert_int_equal(u.total, 600);
}

static void
test_out_of_order(void **state)
{
	struct busy_union u;

	/* Batches arrive as their events complete, not in time order. */
	busy_union_init(&u, 8);
	assert_int_equal(busy_union_add(&u, 5000, 6000), 1000);
	assert_int_equal(busy_union_add(&u, 1000, 2000), 1000);
	assert_int_equal(busy_union_add(&u, 3000, 4000), 1000);
	assert_int_equal(busy_union_add(&u, 1500, 5500), 2000);
	assert_set(&u, 1, (int64_t[]){ 1000, 6000 });
	assert_int_equal(u.total, 5000);
}

static void
test_empty_and_reversed(void **state)
{
	struct busy_union u;

	busy_union_init(&u, 8);
	assert_int_equal(busy_union_add(&u, 10, 10), 0);
	assert_int_equal(busy_union_add(&u, 10, 5), 0);
	assert_int_equal(u.n, 0);
	assert_int_equal(u.total, 0);
}

static void
test_bounded_finalizes_oldest(void **state)
{
	struct busy_union u;

	busy_union_init(&u, 3);
	busy_union_add(&u, 0, 10);
	busy_union_add(&u, 20, 30);
	busy_union_add(&u, 40, 50);
	/* A fourth disjoint interval: [0, 10) is final, the floor is 10. */
	assert_int_equal(busy_union_add(&u, 60, 70), 10);
	assert_set(&u, 3, (int64_t[]){ 20, 30, 40, 50, 60, 70 });
	assert_int_equal(u.has_floor, 1);
	assert_int_equal(u.floor, 10);
	/* A late interval over the finalized one counts only past the
	 * floor, never [0, 10) twice: 10..20 is new. */
	assert_int_equal(busy_union_add(&u, 5, 25), 10);
	assert_set(&u, 3, (int64_t[]){ 10, 30, 40, 50, 60, 70 });
	/* Wholly before the floor: nothing. */
	assert_int_equal(busy_union_add(&u, 0, 9), 0);
	/* Merging frees room: no finalization. */
	assert_int_equal(busy_union_add(&u, 30, 40), 10);
	assert_set(&u, 2, (int64_t[]){ 10, 50, 60, 70 });
	assert_int_equal(u.floor, 10);
	assert_int_equal(u.total, 60);
}

static void
test_late_interval_becomes_the_final_one(void **state)
{
	struct busy_union u;

	busy_union_init(&u, 2);
	busy_union_add(&u, 100, 200);
	busy_union_add(&u, 300, 400);
	/* Older than both, and the set is full: it is counted, then it is
	 * the one finalized (the floor moves to its end, not past 200). */
	assert_int_equal(busy_union_add(&u, 10, 20), 10);
	assert_int_equal(u.floor, 20);
	assert_set(&u, 2, (int64_t[]){ 100, 200, 300, 400 });
	assert_int_equal(busy_union_add(&u, 0, 150), 80); /* 20..100 */
	assert_int_equal(u.total, 290);
}

static void
test_cap_clamped(void **state)
{
	struct busy_union u;

	busy_union_init(&u, 0);
	assert_int_equal(u.cap, 1);
	busy_union_init(&u, 1000);
	assert_int_equal(u.cap, BUSY_UNION_MAX);
	for (int i = 0; i < BUSY_UNION_MAX + 5; i++)
		assert_int_equal(busy_union_add(&u, i * 10, i * 10 + 5), 5);
	assert_int_equal(u.n, BUSY_UNION_MAX);
	assert_int_equal(u.floor, 4 * 10 + 5); /* five finalized */
	assert_int_equal(u.iv[0].start, 50);
	assert_int_equal(u.total, (BUSY_UNION_MAX + 5) * 5);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_disjoint),
		cmocka_unit_test(test_overlap_counts_once),
		cmocka_unit_test(test_nested),
		cmocka_unit_test(test_bridge_and_touch),
		cmocka_unit_test(test_out_of_order),
		cmocka_unit_test(test_empty_and_reversed),
		cmocka_unit_test(test_bounded_finalizes_oldest),
		cmocka_unit_test(test_late_interval_becomes_the_final_one),
		cmocka_unit_test(test_cap_clamped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
