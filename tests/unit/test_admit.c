/*
 * test_admit — admission against run budgets (ctl/daemon/admit.c, runs.c):
 * exact reservations, the deny boundary and its reason, idempotent
 * release, per-registration admit ids, expiry, and the budget formula
 * spend <= budget + sum(max(0, actual - reserved)) over a random
 * interleaving of many clients.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "admit.h"
#include "runs.h"

/* $1/Mtok in, $2/Mtok out: pico-USD per token. */
static const struct tg_price price = { .input = 1000000, .output = 2000000,
	.cached_input = 500000, .cache_write = 1000000,
	.max_output_tokens = 1000 };

static struct tg_admit
mk_admit(uint64_t id, uint64_t est, uint64_t max)
{
	struct tg_admit a;

	memset(&a, 0, sizeof(a));
	a.admit_id = id;
	a.est_input_tokens = est;
	a.max_output_tokens = max;
	strcpy(a.provider, "testco");
	strcpy(a.model, "test-model");
	return a;
}

struct fix {
	struct admit A;
	struct runs rs;
	struct run *run;
	struct resv_owner o1, o2;
};

static int
setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_int_equal(admit_init(&f->A), 0);
	assert_int_equal(runs_init(&f->rs), 0);
	f->run = runs_begin(&f->rs, "r1", 5000000, "team=ci", 0);
	assert_non_null(f->run);
	f->o1.id = 1;
	f->o2.id = 2;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fix *f = *state;

	admit_expire(&f->A, &f->o1, NULL, NULL);
	admit_expire(&f->A, &f->o2, NULL, NULL);
	runs_free(&f->rs);
	admit_free(&f->A);
	free(f);
	return 0;
}

static void
test_reserve_exact(void **state)
{
	struct fix *f = *state;
	struct tg_admit a = mk_admit(1, 1000, 500);
	struct tg_verdict v;

	assert_int_equal(admit_request(&f->A, &f->o1, NULL, &price, &a, NULL, &v), 0);
	assert_int_equal(v.decision, TG_ALLOW);
	assert_int_equal(v.admit_id, 1);
	/* 1000 × 1e6 + 500 × 2e6 pico = 2,000,000 nano */
	assert_int_equal(v.reserved_nano_usd, 2000000);
	/* max_output 0: the model's 1000 → 1e9 + 2e9 pico */
	a = mk_admit(2, 1000, 0);
	assert_int_equal(admit_request(&f->A, &f->o1, NULL, &price, &a, NULL, &v), 0);
	assert_int_equal(v.reserved_nano_usd, 3000000);
	/* unpriced: nothing reserved, allowed */
	a = mk_admit(3, 1000, 0);
	assert_int_equal(admit_request(&f->A, &f->o1, f->run, NULL, &a, NULL, &v), 0);
	assert_int_equal(v.decision, TG_ALLOW);
	assert_int_equal(v.reserved_nano_usd, 0);
	assert_int_equal(f->o1.n, 3);
	assert_int_equal(f->A.outstanding, 3);
}

static void
test_budget_boundary_and_reason(void **state)
{
	struct fix *f = *state;
	struct tg_admit a;
	struct tg_verdict v;

	f->run->spent = 500000;
	f->run->pending = 500000;
	/* 1,000,000 used + 2 × 2,000,000 = 5,000,000 = budget: allowed */
	for (uint64_t i = 1; i <= 2; i++) {
		a = mk_admit(i, 1000, 500);
		assert_int_equal(admit_request(&f->A, &f->o1, f->run, &price,
		    &a, NULL, &v), 0);
		assert_int_equal(v.decision, TG_ALLOW);
	}
	assert_int_equal(f->run->reserved, 4000000);
	/* one nano more is over */
	a = mk_admit(3, 1, 0);
	a.max_output_tokens = 0;
	assert_int_equal(admit_request(&f->A, &f->o1, f->run, &price, &a, NULL, &v),
	    0);
	assert_int_equal(v.decision, TG_DENY);
	assert_int_equal(v.reserved_nano_usd, 0);
	assert_string_equal(v.rule, "run-budget");
	assert_string_equal(v.reason, "run budget $0.005 would be exceeded: "
	    "spent $0.001, reserved $0.004, this request $0.002001");
	assert_int_equal(f->run->refused, 1);
	assert_int_equal(f->A.outstanding, 2);
	assert_true(run_budget_exceeded(f->run));
}

static void
test_release_idempotent(void **state)
{
	struct fix *f = *state;
	struct tg_admit a = mk_admit(7, 1000, 500);
	struct tg_verdict v;

	assert_int_equal(admit_request(&f->A, &f->o1, f->run, &price, &a, NULL, &v),
	    0);
	assert_int_equal(f->run->reserved, 2000000);
	assert_int_equal(f->run->refs, 2);
	assert_int_equal(admit_release(&f->A, &f->o1, 7), 1);
	assert_int_equal(admit_release(&f->A, &f->o1, 7), 0);
	assert_int_equal(admit_release(&f->A, &f->o2, 7), 0);
	assert_int_equal(f->run->reserved, 0);
	assert_int_equal(f->run->refs, 1);
	assert_int_equal(f->o1.n, 0);
}

static void
test_admit_id_per_owner(void **state)
{
	struct fix *f = *state;
	struct tg_admit a = mk_admit(1, 10, 10);
	struct tg_verdict v;

	assert_int_equal(admit_request(&f->A, &f->o1, NULL, &price, &a, NULL, &v), 0);
	memset(&v, 0x5a, sizeof(v));
	errno = 0;
	assert_int_equal(admit_request(&f->A, &f->o1, NULL, &price, &a, NULL, &v), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(admit_request(&f->A, &f->o2, NULL, &price, &a, NULL, &v), 0);
	assert_int_equal(v.decision, TG_ALLOW);
	assert_int_equal(admit_release(&f->A, &f->o1, 1), 1);
	assert_int_equal(f->o2.n, 1);
}

struct seen {
	uint64_t ids;
	tg_nano_usd cost;
	uint64_t outs;
	int n;
};

static void
on_expire(const struct resv *r, void *arg)
{
	struct seen *s = arg;

	s->ids += r->admit_id;
	s->cost += r->cost;
	s->outs += r->max_output;
	s->n++;
}

static void
test_expire(void **state)
{
	struct fix *f = *state;
	struct tg_admit a;
	struct tg_verdict v;
	struct seen s = { 0 };

	f->run->budget = -1;
	a = mk_admit(1, 1000, 500);
	admit_request(&f->A, &f->o1, f->run, &price, &a, NULL, &v);
	a = mk_admit(2, 1000, 0);
	admit_request(&f->A, &f->o1, f->run, &price, &a, NULL, &v);
	a = mk_admit(3, 1000, 0);
	admit_request(&f->A, &f->o2, f->run, &price, &a, NULL, &v);
	assert_int_equal(admit_expire(&f->A, &f->o1, on_expire, &s), 2);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.ids, 3);
	assert_int_equal(s.cost, 5000000);
	assert_int_equal(s.outs, 1500); /* 500 given + the model's 1000 */
	assert_int_equal(f->run->reserved, 3000000); /* o2's stays */
	assert_int_equal(admit_expire(&f->A, &f->o1, on_expire, &s), 0);
	assert_int_equal(f->A.outstanding, 1);
}

static void
test_usd_text(void **state)
{
	char b[32];

	(void)state;
	admit_usd(b, sizeof(b), 500000000);
	assert_string_equal(b, "$0.50");
	admit_usd(b, sizeof(b), 480000000);
	assert_string_equal(b, "$0.48");
	admit_usd(b, sizeof(b), 1);
	assert_string_equal(b, "$0.000000001");
	admit_usd(b, sizeof(b), 12345000000LL);
	assert_string_equal(b, "$12.345");
	admit_usd(b, sizeof(b), 0);
	assert_string_equal(b, "$0.00");
}

static void
test_no_budget_run(void **state)
{
	struct fix *f = *state;
	struct run *r = runs_begin(&f->rs, "free", -5, "", 0);
	struct tg_admit a = mk_admit(1, 1000000, 1000000);
	struct tg_verdict v;

	assert_non_null(r);
	assert_int_equal(r->budget, -1);
	assert_null(runs_begin(&f->rs, "free", 1, "", 0));
	assert_int_equal(errno, EEXIST);
	assert_int_equal(admit_request(&f->A, &f->o1, r, &price, &a, NULL, &v), 0);
	assert_int_equal(v.decision, TG_ALLOW);
	assert_false(run_budget_exceeded(r));
	assert_ptr_equal(runs_find(&f->rs, "free"), r);
	runs_remove(&f->rs, r);
	assert_null(runs_find(&f->rs, "free"));
	/* the reservation's reference keeps it alive until released */
	assert_int_equal(r->refs, 1);
	admit_release(&f->A, &f->o1, 1);
}

/* The formula, over a random interleaving of 32 clients, each admitting,
 * then settling later with an actual cost that may exceed its reservation
 * (settle = release + pending, commit = pending → spent, as record.c). */
static void
test_budget_formula(void **state)
{
	struct fix *f = *state;
	struct resv_owner o[32];
	struct { uint64_t id; tg_nano_usd reserved; int open; } open[32];
	tg_nano_usd spend = 0, excess = 0;
	uint64_t seed = 12345, denied = 0, next = 1;

	f->run->budget = 100000000;
	memset(open, 0, sizeof(open));
	for (int i = 0; i < 32; i++)
		o[i] = (struct resv_owner){ .id = 100 + (uint64_t)i };
	for (int step = 0; step < 20000; step++) {
		int c;
		seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
		c = (int)(seed % 32);
		if (!open[c].open) {
			struct tg_admit a = mk_admit(next++, 1000, 500);
			struct tg_verdict v;

			assert_int_equal(admit_request(&f->A, &o[c], f->run,
			    &price, &a, NULL, &v), 0);
			if (v.decision == TG_DENY) {
				denied++;
				continue;
			}
			open[c].id = a.admit_id;
			open[c].reserved = v.reserved_nano_usd;
			open[c].open = 1;
		} else {
			/* actual: input in [0, 2000], output in [0, 500] */
			tg_nano_usd actual = (tg_nano_usd)((seed >> 8) % 2001) *
			    1000 + (tg_nano_usd)((seed >> 24) % 501) * 2000;

			admit_release(&f->A, &o[c], open[c].id);
			f->run->pending += actual;
			f->run->pending -= actual; /* committed at once */
			f->run->spent += actual;
			spend += actual;
			if (actual > open[c].reserved)
				excess += actual - open[c].reserved;
			open[c].open = 0;
		}
	}
	assert_true(denied > 0);
	assert_true(spend <= f->run->budget + excess);
	assert_int_equal(f->run->spent, spend);
	for (int i = 0; i < 32; i++)
		admit_expire(&f->A, &o[i], NULL, NULL);
	assert_int_equal(f->run->reserved, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reserve_exact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_budget_boundary_and_reason,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_release_idempotent, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_admit_id_per_owner, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_expire, setup, teardown),
		cmocka_unit_test(test_usd_text),
		cmocka_unit_test_setup_teardown(test_no_budget_run, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_budget_formula, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
