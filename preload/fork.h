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

#include <pthread.h>

void shim_fork_init(void);

/* For a prepare handler: lock m, waiting at most one call deadline. 1 when
 * taken (the state it guards is whole), 0 when the fork goes on without. */
int shim_fork_lock(pthread_mutex_t *m);

/* For a child handler: m as new; its holder, if any, is a thread of the
 * parent that does not exist here. */
void shim_fork_fresh_lock(pthread_mutex_t *m);

#endif
