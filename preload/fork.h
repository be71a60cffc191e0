/*
 * fork.h — pthread_atfork handlers: no child inherits a held shim mutex, and
 * a fork child forgets the parent's daemon connection and spool file at
 * once. Forks that bypass pthread_atfork (a raw clone) are caught by the
 * MADV_WIPEONFORK word of instance.h on the child's first metered call.
 * vfork and posix_spawn run no handlers; their children share our memory
 * until they exec, and our fds are CLOEXEC.
 *
 * fork never waits long for us: prepare waits at most shim_fork_wait_ns()
 * for each lock another thread holds (a call in flight, a flush step, a
 * spool append), then lets the fork go on without it; the child then gets
 * fresh locks and starts from a clean state without trusting the
 * half-updated one. While the handlers run, the forking thread counts as
 * inside tollgate: a signal handler that calls tollgate_usage then passes
 * through instead of deadlocking on a lock this thread holds.
 */
#ifndef SHIM_FORK_H
#define SHIM_FORK_H

#include <stdint.h>

void shim_fork_init(void);

/* How long prepare waits for a lock: one call deadline. */
int64_t shim_fork_wait_ns(void);

#endif
