/* carrier.c — a metered state's slot and fork take-over; see carrier.h. */
#include "carrier.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "fork.h"

void *
shim_carrier_get(void *_Atomic *slot, size_t size, uint64_t g)
{
	struct shim_carrier *st = atomic_load(slot), *fresh;

	if (st != NULL)
		return st;
	if ((fresh = calloc(1, size)) == NULL)
		return NULL;
	pthread_mutex_init(&fresh->mu, NULL);
	shim_xchg_init(&fresh->x);
	atomic_store(&fresh->gen, g);
	if (!atomic_compare_exchange_strong(slot, (void **)&st, fresh)) {
		pthread_mutex_destroy(&fresh->mu);
		free(fresh);
		return st;
	}
	return fresh;
}

int
shim_carrier_own(struct shim_carrier *c, uint64_t g,
    void (*reset)(struct shim_carrier *, void *), void *arg)
{
	uint64_t sg = atomic_load(&c->gen);

	if (sg == g)
		return 1;
	if (sg == 0 || !atomic_compare_exchange_strong(&c->gen, &sg, 0))
		return 0;
	if (pthread_mutex_trylock(&c->mu) == 0) {
		shim_xchg_end(&c->x, 0);
		shim_done_free(shim_xchg_take(&c->x));
		pthread_mutex_unlock(&c->mu);
	} else {
		shim_fork_fresh_lock(&c->mu);
		shim_xchg_init(&c->x);
	}
	reset(c, arg);
	atomic_store(&c->gen, g);
	return 1;
}
