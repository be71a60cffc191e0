/*
 * admit.h — admission: reservations against run budgets.
 *
 * ADMIT reserves tg_reserve_cost(price, est_input, max_output) — with the
 * model's max_output_tokens when the request sets none — and denies (rule
 * "run-budget") when that would pass the run's budget (see runs.h). An
 * unpriced model reserves 0 and is allowed; without a run budget every
 * request is allowed here (the policy is decided before, in enforce.c).
 *
 * Reservations are keyed by (owner id, admit_id): the owner is one
 * registration, so admit ids need only be unique per registration. Each
 * owner keeps the list of its outstanding reservations so that, when its
 * process dies or its connection closes, they can be turned into estimated
 * records (admit_expire).
 *
 * O(1) per admission: one hash insert, entries from a free list (no
 * allocation in steady state), no clock, no logging.
 */
#ifndef TGD_ADMIT_H
#define TGD_ADMIT_H

#include <stddef.h>
#include <stdint.h>

#include "htab.h"
#include "policy.h"
#include "prices.h"
#include "proto.h"
#include "runs.h"

#define ADMIT_RULE_BUDGET "run-budget"
/* The rule of the estimated record a reservation becomes when its process
 * dies or its connection closes unsettled. */
#define ADMIT_RULE_EXPIRED "reservation-expired"

struct resv {
	struct hnode hn;
	uint64_t owner_id;
	uint64_t admit_id;
	struct resv *onext, **oprev; /* the owner's list */
	struct run *run;             /* holds a reference, or NULL */
	tg_nano_usd cost;
	uint64_t est_input;
	uint64_t max_output;         /* the one used for the cost */
	char provider[32];
	char model[128];
	char endpoint[128];
	/* the policy rules it is counted under (rules.h), and for which
	 * policy generation: a reservation of an older policy is re-counted
	 * by enforce_set_policy */
	uint64_t rules[POLICY_SET_WORDS];
	uint64_t rules_gen;
	int64_t rules_tokens;        /* est input + max output */
	uint64_t run_rules[POLICY_SET_WORDS]; /* of run->policy, if any */
};

/* What the policy said about an admission that admit_request reserves. */
struct resv_rules {
	uint64_t set[POLICY_SET_WORDS];
	uint64_t run_set[POLICY_SET_WORDS];
	uint64_t gen;
	int64_t tokens;
};

struct resv_owner {
	uint64_t id;
	struct resv *head;
	size_t n;
};

struct admit {
	struct htab tab;
	struct resv *free;
	uint64_t outstanding;
	uint64_t allowed;
	uint64_t denied;
	/* Called for every reservation dropped (settled, released, expired,
	 * freed), before it is reused: the policy counters let go of it. */
	void (*on_drop)(void *arg, const struct resv *r);
	void *drop_arg;
};

int admit_init(struct admit *A);
void admit_free(struct admit *A);

/* Decide one admission and reserve on allow. v is filled in full. Returns
 * 0, or -1 when the owner already has a reservation with this admit_id
 * (errno EEXIST) or on ENOMEM — v is then untouched. */
int admit_request(struct admit *A, struct resv_owner *o, struct run *run,
    const struct tg_price *price, const struct tg_admit *a,
    const struct resv_rules *rr, struct tg_verdict *v);

/* The reservation cost and the max output it assumes (the model's when
 * the request set none); what admit_request reserves. */
tg_nano_usd admit_cost(const struct tg_price *price, const struct tg_admit *a,
    uint64_t *max_out);

/* Drop the reservation (RECORD settles it, RELEASE gives it up).
 * Idempotent: returns 1 when one was dropped, 0 when none existed. */
int admit_release(struct admit *A, struct resv_owner *o, uint64_t admit_id);

/* Drop every reservation of the owner, calling fn(r, arg) on each first
 * (to write its estimated record). Returns how many. */
size_t admit_expire(struct admit *A, struct resv_owner *o,
    void (*fn)(const struct resv *, void *), void *arg);

/* Move the owner's reservations to another owner (a process registering
 * again takes back those of its closed connection). One whose admit_id the
 * new owner already holds stays with from. Returns how many moved. */
size_t admit_adopt(struct admit *A, struct resv_owner *from,
    struct resv_owner *to);

/* "$0.48"-style: 2 to 9 decimals, trailing zeros trimmed. */
void admit_usd(char *buf, size_t size, tg_nano_usd v);

#endif
