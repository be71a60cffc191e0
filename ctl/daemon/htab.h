/*
 * htab.h — an intrusive chained hash table keyed by a 64-bit hash.
 *
 * The caller embeds struct hnode in its object, computes the hash, and
 * compares full keys itself while walking a chain (htab_chain). The table
 * grows by doubling; insert and remove are O(1) on average and never
 * allocate except when growing, which keeps admission allocation-free in
 * steady state.
 */
#ifndef TGD_HTAB_H
#define TGD_HTAB_H

#include <stddef.h>
#include <stdint.h>

struct hnode {
	struct hnode *next;
	uint64_t hash;
};

struct htab {
	struct hnode **b;
	size_t nb; /* power of two */
	size_t n;
};

int htab_init(struct htab *t, size_t nb);
void htab_free(struct htab *t);
void htab_insert(struct htab *t, struct hnode *n, uint64_t hash);
void htab_remove(struct htab *t, struct hnode *n);
/* First node of the chain that may hold hash; walk with ->next and check
 * ->hash and the full key. */
struct hnode *htab_chain(const struct htab *t, uint64_t hash);

uint64_t htab_hash64(uint64_t a, uint64_t b);
uint64_t htab_hash_str(const char *s);

#define HTAB_ENTRY(p, type, member) \
	((type *)(void *)((char *)(p) - offsetof(type, member)))

#endif
