/* admit.c — see admit.h. */
#include "admit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADMIT_SLAB 256

int
admit_init(struct admit *A)
{
	memset(A, 0, sizeof(*A));
	return htab_init(&A->tab, 1024);
}

/* Entries are never given back to malloc while the daemon runs (they are
 * reused) and their slabs are not tracked; at exit the process goes away.
 * So only the table is freed. */
void
admit_free(struct admit *A)
{
	htab_free(&A->tab);
}

static struct resv *
resv_get(struct admit *A)
{
	struct resv *r;

	if (A->free == NULL) {
		struct resv *slab = calloc(ADMIT_SLAB, sizeof(*slab));

		if (slab == NULL)
			return NULL;
		for (size_t i = 0; i < ADMIT_SLAB; i++) {
			slab[i].onext = A->free;
			A->free = &slab[i];
		}
	}
	r = A->free;
	A->free = r->onext;
	return r;
}

static void
resv_put(struct admit *A, struct resv *r)
{
	run_unref(r->run);
	r->run = NULL;
	r->onext = A->free;
	A->free = r;
}

/* Index r under its owner and put it at the head of the owner's list. */
static void
resv_link(struct admit *A, struct resv_owner *o, struct resv *r)
{
	htab_insert(&A->tab, &r->hn, htab_hash64(o->id, r->admit_id));
	r->onext = o->head;
	if (o->head)
		o->head->oprev = &r->onext;
	r->oprev = &o->head;
	o->head = r;
	o->n++;
}

static void
resv_unlink(struct admit *A, struct resv_owner *o, struct resv *r)
{
	htab_remove(&A->tab, &r->hn);
	*r->oprev = r->onext;
	if (r->onext)
		r->onext->oprev = r->oprev;
	o->n--;
}

static struct resv *
resv_find(struct admit *A, uint64_t owner, uint64_t admit_id)
{
	uint64_t h = htab_hash64(owner, admit_id);
	struct hnode *n;

	for (n = htab_chain(&A->tab, h); n; n = n->next) {
		struct resv *r = HTAB_ENTRY(n, struct resv, hn);

		if (n->hash == h && r->owner_id == owner &&
		    r->admit_id == admit_id)
			return r;
	}
	return NULL;
}

void
admit_usd(char *buf, size_t size, tg_nano_usd v)
{
	char tmp[48];
	size_t n;
	char *dot;

	tg_usd_format(tmp, sizeof(tmp), v, 9);
	n = strlen(tmp);
	dot = strchr(tmp, '.');
	while (dot && n > (size_t)(dot - tmp) + 3 && tmp[n - 1] == '0')
		tmp[--n] = '\0';
	snprintf(buf, size, "$%s", tmp);
}

static void
deny_budget(const struct run *run, tg_nano_usd cost, struct tg_verdict *v)
{
	char b[24], s[24], r[24], c[24], text[200];

	admit_usd(b, sizeof(b), run->budget);
	admit_usd(s, sizeof(s), run_money(run->spent + run->pending));
	admit_usd(r, sizeof(r), run_money(run->reserved));
	admit_usd(c, sizeof(c), cost);
	v->decision = TG_DENY;
	tg_strlcpy(v->rule, ADMIT_RULE_BUDGET, sizeof(v->rule));
	/* Real amounts fit the 128 bytes; absurd ones are cut, not lost. */
	snprintf(text, sizeof(text), "run budget %s would be exceeded: spent "
	    "%s, reserved %s, this request %s", b, s, r, c);
	tg_strlcpy(v->reason, text, sizeof(v->reason));
}

static void
resv_fill(struct resv *r, struct resv_owner *o, struct run *run,
    const struct tg_admit *a, uint64_t max_out, tg_nano_usd cost,
    const struct resv_rules *rr)
{
	if (rr) {
		memcpy(r->rules, rr->set, sizeof(r->rules));
		memcpy(r->run_rules, rr->run_set, sizeof(r->run_rules));
		r->rules_gen = rr->gen;
		r->rules_tokens = rr->tokens;
	} else {
		memset(r->rules, 0, sizeof(r->rules));
		memset(r->run_rules, 0, sizeof(r->run_rules));
		r->rules_gen = 0;
		r->rules_tokens = 0;
	}
	r->owner_id = o->id;
	r->admit_id = a->admit_id;
	r->run = run_ref(run);
	r->cost = cost;
	r->est_input = a->est_input_tokens;
	r->max_output = max_out;
	memcpy(r->provider, a->provider, sizeof(r->provider));
	memcpy(r->model, a->model, sizeof(r->model));
	memcpy(r->endpoint, a->endpoint, sizeof(r->endpoint));
}

tg_nano_usd
admit_cost(const struct tg_price *price, const struct tg_admit *a,
    uint64_t *max_out)
{
	*max_out = a->max_output_tokens;
	if (price == NULL)
		return 0;
	if (*max_out == 0)
		*max_out = price->max_output_tokens;
	return tg_reserve_cost(price, a->est_input_tokens, *max_out);
}

int
admit_request(struct admit *A, struct resv_owner *o, struct run *run,
    const struct tg_price *price, const struct tg_admit *a,
    const struct resv_rules *rr, struct tg_verdict *v)
{
	uint64_t max_out;
	tg_nano_usd cost;
	struct resv *r;

	if (resv_find(A, o->id, a->admit_id)) {
		errno = EEXIST;
		return -1;
	}
	cost = admit_cost(price, a, &max_out);
	memset(v, 0, sizeof(*v));
	v->admit_id = a->admit_id;
	if (run_would_exceed(run, cost)) {
		deny_budget(run, cost, v);
		run->refused++;
		A->denied++;
		return 0;
	}
	if ((r = resv_get(A)) == NULL)
		return -1;
	resv_fill(r, o, run, a, max_out, cost, rr);
	resv_link(A, o, r);
	if (run)
		run->reserved += cost;
	A->outstanding++;
	A->allowed++;
	v->decision = TG_ALLOW;
	v->reserved_nano_usd = cost;
	return 0;
}

static void
resv_drop(struct admit *A, struct resv_owner *o, struct resv *r)
{
	resv_unlink(A, o, r);
	if (A->on_drop)
		A->on_drop(A->drop_arg, r);
	if (r->run)
		r->run->reserved -= r->cost;
	A->outstanding--;
	resv_put(A, r);
}

int
admit_release(struct admit *A, struct resv_owner *o, uint64_t admit_id)
{
	struct resv *r = resv_find(A, o->id, admit_id);

	if (r == NULL)
		return 0;
	resv_drop(A, o, r);
	return 1;
}

size_t
admit_expire(struct admit *A, struct resv_owner *o,
    void (*fn)(const struct resv *, void *), void *arg)
{
	size_t n = 0;

	while (o->head) {
		struct resv *r = o->head;

		/* fn sees the run still holding the reservation; it moves
		 * the money to pending itself after we drop it. */
		if (fn)
			fn(r, arg);
		resv_drop(A, o, r);
		n++;
	}
	return n;
}

size_t
admit_adopt(struct admit *A, struct resv_owner *from, struct resv_owner *to)
{
	struct resv *r, *next;
	size_t n = 0;

	for (r = from->head; r; r = next) {
		next = r->onext;
		if (resv_find(A, to->id, r->admit_id))
			continue;
		resv_unlink(A, from, r);
		r->owner_id = to->id;
		resv_link(A, to, r);
		n++;
	}
	return n;
}
