/*
 * shim.h — what every part of libtollgate.so shares: init once, the
 * per-thread "inside tollgate" flag, clocks.
 *
 * shim_ready() is the gate every entry point goes through: it runs init
 * once (constructor + pthread_once) and returns 0 while init is running in
 * this thread, so a re-entrant call made by our own init passes straight
 * through instead of deadlocking in pthread_once.
 */
#ifndef SHIM_H
#define SHIM_H

#include <stdint.h>

/* 1 while this thread runs tollgate code: our own I/O must never be metered
 * (or, once hooks exist, hooked again). initial-exec: no allocation, no
 * __tls_get_addr call on access. */
extern __thread int shim_inside __attribute__((tls_model("initial-exec")));

int shim_ready(void);

int64_t shim_now_mono(void); /* CLOCK_MONOTONIC, ns */
int64_t shim_now_real(void); /* CLOCK_REALTIME, ns */

#endif
