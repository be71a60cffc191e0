/*
 * proc.h — registered processes.
 *
 * Identity comes from the kernel, never from a message: SO_PEERCRED at
 * accept, a pidfd (SO_PEERPIDFD on kernel >= 6.5, else pidfd_open) that pins
 * the process so its pid cannot be reused under us, /proc/PID/exe and
 * /proc/PID/cgroup read while the pidfd shows it alive.
 *
 * One struct proc per REGISTER (one per connection): it owns the two
 * per-process pages (page.h) — the verdict page, which the daemon maps
 * read-write and then seals (F_SEAL_FUTURE_WRITE) so the shim can only map
 * it read-only, and the counters page, writable by both — plus the
 * registration's tags, mode, covers, run and protocol version, its
 * outstanding reservations and the daemon's running sums for status/top.
 */
#ifndef TGD_PROC_H
#define TGD_PROC_H

#include <stdint.h>
#include <sys/types.h>

#include "admit.h"
#include "gpu_settle.h"
#include "htab.h"
#include "page.h"
#include "proto.h"
#include "rules.h"
#include "runs.h"

struct peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	int pidfd; /* -1 when neither way worked */
	char exe[256];
	char cgroup[256];
	int identified; /* exe/cgroup read */
};

struct conn;

struct proc {
	struct conn *conn;        /* the registering connection */
	struct hnode hn;         /* by id */
	struct resv_owner owner; /* owner.id is the registration id */
	struct peer *peer;       /* the connection's */
	char tags[256];
	char run_token[40];
	struct run *run;         /* reference; NULL when the token is unknown */
	uint32_t mode;
	uint32_t covers;
	uint16_t proto_version;
	int dead;                /* its process exited */
	/* tags, user and kind parsed once for policy_eval (enforce.c);
	 * ri.in.exe is set from peer at each use (the peer moves) */
	struct rules_input ri;
	struct tg_verdict_page *vpage;
	struct tg_counters_page *cpage;
	struct gpu_seen gpu;     /* what its GPU records counted so far */
	/* settled sums (committed, inserted records) */
	uint64_t requests;
	uint64_t input_tokens;
	uint64_t output_tokens;
	uint64_t gpu_launches;
	tg_nano_usd cost;
	struct proc *all_next, **all_prev;
};

/* Credentials and pidfd of the peer of a connected socket. 0 or -1. */
int peer_init(struct peer *p, int fd);
/* Read exe and cgroup once (replayed records never need it). */
void peer_identify(struct peer *p);
void peer_close(struct peer *p);

/* Create the registration's pages: fds[0] verdict (sealed), fds[1]
 * counters; the caller sends and closes them. 0 or -1 (errno). */
int proc_pages_create(struct proc *p, int fds[2]);
void proc_pages_free(struct proc *p);

#endif
