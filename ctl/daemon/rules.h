/*
 * rules.h — usage so far per rule of the active policy: what policy_eval's
 * usage callback reads at admission, and what settlement feeds.
 *
 * Per rule (only kinds that count: budget, sandbox, token_quota, rate):
 *   spent / tokens  settled records (cost; input + output tokens) whose
 *                   EVENT time lies in the rule's current span
 *                   (policy_rule_span): counted when the record is
 *                   submitted to the ledger, taken back if the ledger
 *                   says the id was a repeat (rules_unsettle). A record
 *                   of an earlier span (a late replay) counts nowhere;
 *                   one of a later span moves the rule on to it first;
 *                   one of a span not begun at `now` (a wrong clock)
 *                   counts nowhere, so no record can wipe a budget.
 *   reserved        cost and tokens (est input + max output) of admissions
 *                   allowed and not yet settled, released or expired.
 *   concurrent      those admissions' count.
 *   rate            requests admitted and tokens settled in the last 60 s,
 *                   one-second buckets on the monotonic clock.
 * policy_eval sees spent = spent + reserved, tokens = tokens + reserved
 * tokens, rpm, tpm, concurrent. When a rule's span moves on (a new day, a
 * new window), spent and tokens restart at 0; reserved stays (in flight).
 * policy_eval is the authority on now: a span it asks about that differs
 * from the stored one becomes the rule's span.
 *
 * At start and on every policy change, rules_load sums the ledger's raw
 * records of each rule's current span (records older than the retention
 * are gone: a month budget needs --retention-days >= 31). Rate buckets
 * start empty.
 *
 * One thread (the daemon's main loop); no allocation after rules_load.
 */
#ifndef TGD_RULES_H
#define TGD_RULES_H

#include <stdint.h>
#include <sys/types.h>

#include "money.h"
#include "policy.h"

struct ledger;

#define RULES_RATE_SLOTS 60

struct rule_usage {
	int counts;             /* 0: a kind that counts nothing */
	int64_t from, to;       /* current span; to 0 with from 0: total */
	int spanned;            /* from/to are set */
	tg_nano_usd spent;
	int64_t tokens;
	tg_nano_usd reserved;
	int64_t reserved_tokens;
	int64_t concurrent;
	/* decisions this rule made at admission since the policy was loaded
	 * (enforce.c counts them; shown by status and /metrics) */
	uint64_t warned, delayed, denied;
	/* rate: slot = second % 60; stamp = that second (monotonic) */
	int64_t stamp[RULES_RATE_SLOTS];
	uint32_t req[RULES_RATE_SLOTS];
	int64_t tok[RULES_RATE_SLOTS];
	/* the sums over the window ending at second sum_sec, kept current
	 * by each count that falls in it: one pass per rule and second */
	int sum_ok;
	int64_t sum_sec, sum_rpm, sum_tpm;
};

struct rules {
	const struct policy *pol;  /* not owned */
	int n;
	struct rule_usage *u;      /* n entries */
};

/* What a usage is matched with: a record's or a registration's fields.
 * tags is "k=v,k=v"; user names come from uid (getpwuid_r, cached). */
struct rules_subject {
	const char *tags;
	uid_t uid;
	const char *exe, *model, *provider;  /* NULL or "": unknown */
	enum policy_req_kind kind;
};

/* Fill in (with tags parsed into tagv/buf) for policy_eval or matching.
 * The strings of s must outlive in. */
struct rules_input {
	struct policy_input in;
	struct policy_tag tagv[POLICY_MAX_TAGS];
	char buf[256];
	char user[64];
};
void rules_input_fill(struct rules_input *ri, const struct rules_subject *s,
    int64_t now);

/* Build the counters for pol at now (realtime ns), summing the ledger's
 * records of every counting rule's current span (one ledger_scan from the
 * earliest span start; all records when a "total" sandbox counts; lg
 * NULL: none). R is overwritten: rules_free the old counters first. The
 * user name cache is emptied (passwd may have changed). 0, or -1 with err
 * (the counters are then empty but usable). */
int rules_load(struct rules *R, const struct policy *pol, struct ledger *lg,
    int64_t now, char *err, size_t errlen);
void rules_free(struct rules *R);

/* policy_eval's usage callback; arg is a struct rules_eval. */
struct rules_eval {
	struct rules *R;
	int64_t mono;           /* CLOCK_MONOTONIC ns, for the rate slots */
};
void rules_usage(void *arg, int rule, int64_t from, int64_t to,
    struct policy_usage *u);

/* The rules among set (policy_match_set) that count, as a set. */
void rules_counting(const struct rules *R, const uint64_t set[POLICY_SET_WORDS],
    uint64_t out[POLICY_SET_WORDS]);

/* An admission allowed: reserve cost and tokens on every rule of set,
 * count one request in the rate slots of mono (mono 0: a reservation
 * re-counted after a policy change — no request is counted). */
void rules_reserve(struct rules *R, const uint64_t set[POLICY_SET_WORDS],
    tg_nano_usd cost, int64_t tokens, int64_t mono);
/* Its reservation settled, released or expired. */
void rules_unreserve(struct rules *R, const uint64_t set[POLICY_SET_WORDS],
    tg_nano_usd cost, int64_t tokens);

/* A record submitted (settle) or found to be a repeat (unsettle): matched
 * against every rule, added to the spans holding event_time, and its
 * tokens to the rate slots of mono. Returns 1 when a rule with a hard
 * limit (budget, sandbox: spent + reserved >= limit; token_quota: tokens
 * + reserved tokens >= max) reached it through this record (after, not
 * before), else 0: unreserve the admission the record
 * settles before, or its cost counts twice for that test. unsettle leaves
 * the rate slots alone (the slot of the settlement is not known; a
 * minute's overcount is the safe side). */
int rules_settle(struct rules *R, const struct rules_subject *s,
    int64_t event_time, tg_nano_usd cost, int64_t tokens, int64_t now,
    int64_t mono);
void rules_unsettle(struct rules *R, const struct rules_subject *s,
    int64_t event_time, tg_nano_usd cost, int64_t tokens, int64_t now);

/* Usage of rule i at now for display (tollctl status): its span and the
 * sums policy_eval would see (moving the rule to the span of now, as
 * policy_eval would). A token_quota outside its window: 0 with from = to
 * = 0 and only concurrent set. -1 when the rule counts nothing. */
int rules_peek(struct rules *R, int rule, int64_t now, int64_t mono,
    int64_t *from, int64_t *to, struct policy_usage *u);

#endif
