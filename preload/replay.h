/*
 * replay.h — send spooled records to the daemon: this instance's file
 * first, then every unlocked file in the spool directory (files of dead
 * processes; a live process holds its file's flock and is skipped). Each
 * record goes as it was spooled (TG_REC_REPLAYED, the original pid/exe/run),
 * up to REPLAY_WINDOW in flight; an ACK counts as delivered whether the
 * ledger inserted the id or already had it. Nothing acknowledged is lost,
 * and the ledger ignores repeated ids, so a record replayed twice counts
 * once.
 *
 * Per file: fully acknowledged, it is unlinked (our own: emptied); a torn
 * last record is skipped with one line. A pass that stops part way keeps
 * the acknowledged prefix (our own: in memory; another's: in its name,
 * spool.h), and the next pass starts after it. A record that can never be
 * delivered (unreadable before the end, or refused by the daemon for a
 * reason that would not change: client.h) sets the file aside as
 * NAME.bad after the rest of it was sent, with one line: it is not
 * retried, so it costs no later call any time.
 *
 * A pass stops at the first wait that times out, at the first transient
 * refusal, when the connection is lost, or at end (0: no overall limit);
 * each wait is at most step.
 */
#ifndef SHIM_REPLAY_H
#define SHIM_REPLAY_H

#include <stdint.h>
#include <sys/types.h>

#define REPLAY_WINDOW 32

struct replay_result {
	int acked;    /* records acknowledged */
	int complete; /* nothing left that a later pass could deliver */
	int lost;     /* the connection failed (or could not be made) */
	int stalled;  /* stopped: a timeout, a transient refusal, end */
};

/* The caller holds the connection lock and has a registered connection. */
void shim_replay(uint64_t gen, int64_t end, int64_t step,
    struct replay_result *res);

/* The caller does not hold the lock: it is taken (and the connection made,
 * even inside the retry back-off) for each file and released after it, so
 * a long pass never keeps other threads, or fork, waiting. */
void shim_replay_flush(uint64_t gen, int64_t end, int64_t step,
    struct replay_result *res);

/* One file range (replay_file.c). */
enum { REPLAY_DONE, REPLAY_PARTIAL, REPLAY_BAD };
struct replay_file {
	int fd;
	off_t from, to;   /* to < 0: to the end of the file */
	const char *name;
	off_t upto;       /* out: everything before it is acknowledged */
	char why[96];     /* out, REPLAY_BAD: what was wrong */
};
int shim_replay_range(struct replay_file *f, int64_t end, int64_t step,
    struct replay_result *res);

int64_t shim_replay_step_deadline(int64_t end, int64_t step);

#endif
