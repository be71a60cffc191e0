/*
 * fork.h — pthread_atfork handlers: no child inherits a held shim mutex, and
 * a fork child forgets the parent's daemon connection and spool file at
 * once. Forks that bypass pthread_atfork (a raw clone) are caught by the
 * MADV_WIPEONFORK word of instance.h on the child's first metered call.
 * vfork and posix_spawn run no handlers; their children share our memory
 * until they exec, and our fds are CLOEXEC.
 */
#ifndef SHIM_FORK_H
#define SHIM_FORK_H

void shim_fork_init(void);

#endif
