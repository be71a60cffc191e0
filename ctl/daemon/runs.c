/* runs.c — see runs.h. */
#include "runs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int
runs_init(struct runs *rs)
{
	rs->all = NULL;
	return htab_init(&rs->tab, 64);
}

void
runs_free(struct runs *rs)
{
	while (rs->all)
		runs_remove(rs, rs->all);
	htab_free(&rs->tab);
}

struct run *
runs_find(struct runs *rs, const char *token)
{
	uint64_t h = htab_hash_str(token);
	struct hnode *n;

	for (n = htab_chain(&rs->tab, h); n; n = n->next) {
		struct run *r = HTAB_ENTRY(n, struct run, hn);

		if (n->hash == h && strcmp(r->token, token) == 0)
			return r;
	}
	return NULL;
}

struct run *
runs_begin(struct runs *rs, const char *token, tg_nano_usd budget,
    const char *tags, uid_t owner)
{
	struct run *r;

	if (runs_find(rs, token)) {
		errno = EEXIST;
		return NULL;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	tg_strlcpy(r->token, token, sizeof(r->token));
	tg_strlcpy(r->tags, tags, sizeof(r->tags));
	r->budget = budget < 0 ? -1 : budget;
	r->owner = owner;
	r->refs = 1;
	r->in_table = 1;
	r->end_fd = -1;
	htab_insert(&rs->tab, &r->hn, htab_hash_str(r->token));
	r->all_next = rs->all;
	if (rs->all)
		rs->all->all_prev = &r->all_next;
	r->all_prev = &rs->all;
	rs->all = r;
	return r;
}

void
runs_remove(struct runs *rs, struct run *r)
{
	if (!r->in_table)
		return;
	htab_remove(&rs->tab, &r->hn);
	*r->all_prev = r->all_next;
	if (r->all_next)
		r->all_next->all_prev = r->all_prev;
	r->in_table = 0;
	run_unref(r);
}

struct run *
run_ref(struct run *r)
{
	if (r)
		r->refs++;
	return r;
}

void
run_unref(struct run *r)
{
	if (r && --r->refs == 0) {
		rules_free(&r->rules);
		policy_free(r->policy);
		free(r);
	}
}

int
run_would_exceed(const struct run *r, tg_nano_usd cost)
{
	if (r == NULL || r->budget < 0)
		return 0;
	return r->spent + r->pending + r->reserved + cost >
	    (__int128)r->budget;
}

tg_nano_usd
run_money(__int128 v)
{
	if (v > INT64_MAX)
		return INT64_MAX;
	if (v < INT64_MIN)
		return INT64_MIN;
	return (tg_nano_usd)v;
}

int
run_budget_exceeded(const struct run *r)
{
	if (r->budget < 0)
		return 0;
	return r->refused > 0 || (r->spent > 0 && r->spent >= r->budget);
}
