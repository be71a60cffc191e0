/*
 * procinfo.h — what the daemon reads from /proc/PID about a process that
 * did not register through the shim (the probes see it): its identity
 * for a record and its TOLLGATE_TAGS. Main thread only.
 */
#ifndef TGD_PROCINFO_H
#define TGD_PROCINFO_H

#include <stddef.h>
#include <sys/types.h>

struct ledger_entry;

/* TOLLGATE_TAGS of pid's initial environment, printable ASCII (others
 * become '?': the tags reach JSON, log lines and labels); "" when absent
 * or unreadable. */
void procinfo_env_tags(pid_t pid, char *out, size_t len);

/* Fill e (zeroed first) with pid's exe, uid, cgroup and TOLLGATE_TAGS. */
void procinfo_identity(struct ledger_entry *e, pid_t pid);

#endif
