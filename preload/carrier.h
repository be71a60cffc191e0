/*
 * carrier.h — what sock.c's per-fd and tls.c's per-SSL states share: a
 * mutex, the process generation that owns the state, and the metered
 * connection (xchg.h). A state is made once for its slot and never freed
 * (a thread racing another's close never touches freed memory); a fork
 * child's first touch takes it over from the parent.
 */
#ifndef SHIM_CARRIER_H
#define SHIM_CARRIER_H

#include <pthread.h>
#include <stdint.h>

#include "xchg.h"

struct shim_carrier {
	pthread_mutex_t mu;
	_Atomic uint64_t gen;        /* owner's generation; 0: being taken */
	struct shim_xchg x;
};

/* The state in *slot, made (size bytes, a struct that begins with its
 * shim_carrier, zeroed) for generation g when there is none. NULL:
 * out of memory. */
void *shim_carrier_get(void *_Atomic *slot, size_t size, uint64_t g);

/* 1 when c belongs to generation g. A state a parent process made is
 * taken over first: its exchanges dropped without reporting (the parent
 * reports them), a mutex a parent thread held replaced and what it
 * guarded leaked, not trusted; reset(c, arg) then clears the carrier's
 * own fields, before any other thread may use it. 0 while another
 * thread takes it over. */
int shim_carrier_own(struct shim_carrier *c, uint64_t g,
    void (*reset)(struct shim_carrier *, void *), void *arg);

#endif
