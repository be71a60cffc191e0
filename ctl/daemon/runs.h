/*
 * runs.h — `tollctl run` scopes and their budgets.
 *
 * A run is named by a random token (TOLLGATE_RUN) that tollctl passes to
 * RUN_BEGIN and to the processes it starts. Money of a run, all nano-USD:
 *   spent    committed in the ledger (pending → spent after COMMIT)
 *   pending  settled by a RECORD, not yet committed
 *   reserved set aside by admissions not yet settled
 * An admission of cost c is denied when spent + pending + reserved + c >
 * budget. Since each settled request moves its reservation r out and its
 * actual cost a in, the total never passes budget + Σ max(0, a − r).
 *
 * Runs are reference counted: the table holds one reference until RUN_END,
 * and each process, reservation and in-flight record of the run holds one,
 * so late settlements of an ended run stay safe.
 */
#ifndef TGD_RUNS_H
#define TGD_RUNS_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "htab.h"
#include "money.h"
#include "rules.h"

struct run {
	struct hnode hn;
	char token[40];
	char tags[256];
	uid_t owner;             /* who began it; RUN_END by others needs root */
	tg_nano_usd budget;      /* < 0: none */
	/* Sums of bounded amounts, kept wide so that no number of records
	 * or reservations can wrap them; shown through run_money(). */
	__int128 spent;
	__int128 pending;
	__int128 reserved;
	uint64_t refused;        /* admissions denied for the budget */
	uint64_t inflight;       /* records submitted, not yet completed */
	uint64_t processes;      /* registrations naming it */
	/* The cgroup `tollctl run` makes for CMD (jobs_run_cgroup), "" when
	 * unknown: what a pause freezes and a sandbox shutdown kills. */
	char cgroup[PATH_MAX];
	char cgroup_rel[PATH_MAX];  /* the same below the mount ("/a/b/…") */
	int64_t begun_mono;      /* RUN_BEGIN, CLOCK_MONOTONIC */
	int shut_down;           /* a sandbox shutdown was started */
	/* `tollctl run --policy FILE` on the system daemon: evaluated beside
	 * the host's policy, with counters of the run's own records only
	 * (enforce.c); NULL when none. */
	struct policy *policy;
	struct rules rules;
	int refs;
	int in_table;
	/* A RUN_END waiting for in-flight records: who to answer. */
	int end_waiting;
	int end_fd;
	uint32_t end_gen;
	uint32_t end_seq;
	uint16_t end_version;
	uid_t end_uid;
	struct run *all_next, **all_prev; /* list for status */
};

struct runs {
	struct htab tab;
	struct run *all;
};

int runs_init(struct runs *rs);
void runs_free(struct runs *rs);
struct run *runs_find(struct runs *rs, const char *token);
/* Create a run; NULL when the token is taken (errno EEXIST) or on ENOMEM. */
struct run *runs_begin(struct runs *rs, const char *token, tg_nano_usd budget,
    const char *tags, uid_t owner);
/* Take it out of the table (RUN_END); drops the table's reference. */
void runs_remove(struct runs *rs, struct run *r);
struct run *run_ref(struct run *r);
void run_unref(struct run *r);

/* 1 when an admission of cost would pass the budget. */
int run_would_exceed(const struct run *r, tg_nano_usd cost);
/* A sum clamped to what 64 bits hold, for documents and messages. */
tg_nano_usd run_money(__int128 v);
/* budget reached or an admission was refused for it */
int run_budget_exceeded(const struct run *r);

#endif
