/*
 * replay.h — send spooled records to the daemon: this instance's file
 * first, then every unlocked file in the spool directory (files of dead
 * processes; a live process holds its file's flock and is skipped). Each
 * record goes as it was spooled (TG_REC_REPLAYED, the original pid/exe/run),
 * up to REPLAY_WINDOW in flight; an ACK counts as delivered whether the
 * ledger inserted the id or already had it. A file is unlinked (our own:
 * emptied) only when every record in it was acknowledged; a torn last
 * record is skipped with one line. Nothing acknowledged is lost, and the
 * ledger ignores repeated ids, so a record replayed twice counts once.
 *
 * The caller holds the connection lock and has a registered connection.
 * No wait goes past end (0: no overall limit); each wait is at most step.
 */
#ifndef SHIM_REPLAY_H
#define SHIM_REPLAY_H

#include <stdint.h>

#define REPLAY_WINDOW 32

struct replay_result {
	int acked;    /* records acknowledged */
	int complete; /* every replayable record was acknowledged */
	int lost;     /* the connection failed during the pass */
};

void shim_replay(uint64_t gen, int64_t end, int64_t step,
    struct replay_result *res);

#endif
