/* htab.c — see htab.h. */
#include "htab.h"

#include <stdlib.h>

int
htab_init(struct htab *t, size_t nb)
{
	size_t n = 16;

	while (n < nb)
		n <<= 1;
	t->b = calloc(n, sizeof(*t->b));
	t->nb = t->b ? n : 0;
	t->n = 0;
	return t->b ? 0 : -1;
}

void
htab_free(struct htab *t)
{
	free(t->b);
	t->b = NULL;
	t->nb = t->n = 0;
}

/* Rehash into twice the buckets; on allocation failure keep the old table
 * (longer chains, still correct). */
static void
htab_grow(struct htab *t)
{
	size_t nb = t->nb * 2;
	struct hnode **b = calloc(nb, sizeof(*b));

	if (b == NULL)
		return;
	for (size_t i = 0; i < t->nb; i++) {
		struct hnode *n = t->b[i], *next;

		for (; n; n = next) {
			next = n->next;
			n->next = b[n->hash & (nb - 1)];
			b[n->hash & (nb - 1)] = n;
		}
	}
	free(t->b);
	t->b = b;
	t->nb = nb;
}

void
htab_insert(struct htab *t, struct hnode *n, uint64_t hash)
{
	struct hnode **head;

	if (t->n >= t->nb)
		htab_grow(t);
	n->hash = hash;
	head = &t->b[hash & (t->nb - 1)];
	n->next = *head;
	*head = n;
	t->n++;
}

void
htab_remove(struct htab *t, struct hnode *n)
{
	struct hnode **pp = &t->b[n->hash & (t->nb - 1)];

	for (; *pp; pp = &(*pp)->next) {
		if (*pp == n) {
			*pp = n->next;
			n->next = NULL;
			t->n--;
			return;
		}
	}
}

struct hnode *
htab_chain(const struct htab *t, uint64_t hash)
{
	return t->b[hash & (t->nb - 1)];
}

/* splitmix64 finaliser over both words: cheap and well mixed. */
uint64_t
htab_hash64(uint64_t a, uint64_t b)
{
	uint64_t x = a * 0x9e3779b97f4a7c15ull ^ b;

	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* FNV-1a, then mixed. */
uint64_t
htab_hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return htab_hash64(h, 0);
}
