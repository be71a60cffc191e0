/*
 * daemon.h — tollgated's state, shared by its modules.
 *
 * One thread does all dispatch (epoll on the main thread): admission needs
 * no lock. The ledger writer thread signals completions through an eventfd;
 * the /metrics thread (libmicrohttpd) reads only struct tgd_health (atomics)
 * and the metrics module's own series (its mutex).
 */
#ifndef TGD_DAEMON_H
#define TGD_DAEMON_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "admit.h"
#include "htab.h"
#include "jobs.h"
#include "ledger.h"
#include "policy.h"
#include "prices.h"
#include "proc.h"
#include "proto.h"
#include "rules.h"
#include "runs.h"

#define TGD_VERSION "0.1.0"

/* Sanity bounds on what a client reports (a record or an admission), so
 * that no sum the daemon or a report keeps can be pushed past 64 bits by a
 * few messages: 10^12 tokens, launches or bytes-as-counts per record; GPU
 * times up to 10^17 ns (three years); a record's cost up to 10^15 nano-USD
 * ($1,000,000). Beyond: FAIL TG_ERR_BAD_FIELD. */
#define TGD_TOKENS_MAX 1000000000000ULL
#define TGD_GPU_NS_MAX 100000000000000000ULL
#define TGD_GPU_BYTES_MAX (1ULL << 50)
#define TGD_COST_MAX 1000000000000000LL

enum ev_kind { EV_LISTEN, EV_CONN, EV_PIDFD, EV_SIGNAL, EV_LEDGER, EV_TIMER,
	EV_ORPHAN, EV_POLICY_TIMER, EV_GPU_TIMER, EV_PROBE_RING, EV_PROBE_TICK };

struct evsrc {
	int kind;
	void *ptr;
};

struct outpkt {
	struct outpkt *next;
	size_t len;
	char data[];
};

struct conn {
	int fd;
	uint32_t gen;          /* guards late ACKs against fd reuse */
	struct evsrc ev_sock;
	struct evsrc ev_pid;
	struct peer peer;
	struct proc *proc;     /* after REGISTER */
	int pid_watched;       /* pidfd in epoll */
	int reading;           /* inside control_read: no re-entry */
	int want_out;          /* EPOLLOUT armed */
	int closed;            /* closed; freed after this epoll batch */
	int reset;             /* recvmsg said ECONNRESET: read to EOF */
	int rx_fd;             /* an fd that came with the message being
				* dispatched (POLICY_APPLY takes it: sets
				* -1); control closes what is left; -1 none */
	struct conn *grave_next;
	struct outpkt *qhead, *qtail;
	size_t qbytes;
};

/* Counters the /metrics thread reads: update with tgd_count(). */
struct tgd_health {
	uint64_t records_written;
	uint64_t spool_replays;
	uint64_t rejected_messages;
	uint64_t unpriced_records;
	uint64_t ledger_errors;
	uint64_t registered_processes; /* a gauge */
};

#define tgd_count(field, n) __atomic_add_fetch(&(field), (n), __ATOMIC_RELAXED)
#define tgd_read(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

struct metrics;
struct pending;

/*
 * A registration whose connection closed while its process lives on (a
 * shim that lost its socket) and still holds reservations: they are kept,
 * owned by the process (pid and pidfd, still watched), until the pidfd
 * fires (each becomes an estimated record, as for a death) or a new
 * REGISTER from the same process adopts them (its RECORDs settle them).
 */
struct orphan {
	struct proc *p;            /* unlinked from procs; p->peer = &peer */
	struct peer peer;          /* owns the pidfd */
	struct evsrc ev;
	struct orphan *next, **prev;
	struct orphan *grave_next;
	int gone;                  /* freed after this epoll batch */
};

struct pending_q {
	struct pending *head;
	struct pending *tail;
};

struct records {
	struct htab tab;           /* in-flight, by cookie */
	/* Waiting for room in the writer's queue. Records a client waits
	 * for go first; the daemon's own (expired reservations, refusals) are
	 * fed at most RECORD_OWN_INFLIGHT at a time, so thousands of expired
	 * reservations never delay a client's ACK by more than that. */
	struct pending_q bl;
	struct pending_q bl_own;
	uint64_t own_inflight;
	uint64_t next_cookie;
	uint64_t id_hi;            /* random: ids the daemon makes itself */
	uint64_t id_lo;
};

struct tgd {
	/* options */
	char socket_path[PATH_MAX];
	char state_dir[PATH_MAX];
	char ledger_path[PATH_MAX];
	char prices_path[PATH_MAX];
	const char *policy_path;   /* --policy, or NULL */
	char http[80];            /* "off" or "ADDR:PORT" */
	int audit;
	int probes_off;            /* --probes off */
	int retention_days;
	int gpu_interval;          /* --gpu-interval seconds */
	char gpu_dev_prefix[64];   /* --gpu-dev-prefix: GPU device paths */
	/* event sources */
	int epfd;
	int lfd;
	int sigfd;
	int timerfd;
	int gtimerfd;              /* CLOCK_MONOTONIC, every gpu_interval */
	struct evsrc ev_listen, ev_signal, ev_ledger, ev_timer, ev_gtimer;
	/* state */
	struct tg_prices *prices;  /* may be NULL: everything unpriced */
	struct ledger *wlg;        /* the writer thread's */
	struct ledger *rlg;        /* the main thread's, for reports */
	struct ledger_writer *writer;
	struct runs runs;
	struct admit admit;
	struct htab procs;         /* by registration id */
	struct proc *procs_all;
	uint64_t next_proc_id;
	struct conn **conns;       /* by fd */
	struct conn *grave;        /* closed, freed after the epoll batch */
	struct orphan *orphans;
	struct orphan *orphan_grave;
	size_t qbytes_total;       /* replies queued on all connections */
	int accept_paused;         /* out of fds: listener off for a while */
	int64_t accept_resume_ns;  /* CLOCK_MONOTONIC */
	int64_t accept_warned_ns;
	size_t conns_cap;
	uint32_t next_gen;
	struct records recs;
	struct metrics *metrics;
	struct tgd_health health;
	/* the policy (policy_admin.c loads it, enforce.c applies it) */
	struct policy *policy;     /* never NULL after start */
	char policy_file[PATH_MAX];/* the file it came from / apply writes */
	int policy_builtin;        /* 1: no file; the built-in default */
	int64_t policy_loaded_ns;  /* CLOCK_REALTIME */
	uint64_t policy_generation;/* bumped on every change */
	uint64_t rules_gen;        /* enforce.c's: reservations counted under */
	struct rules rules;
	struct jobs jobs;
	int ptimerfd;              /* CLOCK_REALTIME, next policy edge */
	struct evsrc ev_ptimer;
	int enforce_dirty;         /* standing verdicts to recompute */
	const char *fake_clock;    /* --fake-clock FILE (tests) or NULL */
	int64_t started_ns;        /* CLOCK_MONOTONIC */
	int stop;
};

int64_t tgd_now_ns(void);      /* CLOCK_REALTIME, or the --fake-clock */
int64_t tgd_real_ns(void);     /* CLOCK_REALTIME, always */
/* --fake-clock: from now on tgd_now_ns() is base_ns + the monotonic time
 * elapsed since this call. */
void tgd_fake_clock(int64_t base_ns);
int64_t tgd_mono_ns(void);

/* control.c — the socket */
int control_listen(const char *path);
void control_accept(struct tgd *d);
void control_accept_resume(struct tgd *d);
int control_accept_timeout(struct tgd *d); /* for epoll_wait */
void control_drain(struct tgd *d, struct conn *c);
void control_event(struct tgd *d, struct conn *c, uint32_t events);
int control_read(struct tgd *d, struct conn *c);
#define CONTROL_READ_BURST 64 /* messages per wake-up: fairness */
struct conn *control_conn(struct tgd *d, int fd, uint32_t gen);
int control_send(struct tgd *d, struct conn *c, uint16_t type, uint16_t version,
    uint32_t seq, const void *payload, size_t len);
int control_send_fds(struct tgd *d, struct conn *c, uint16_t type,
    uint16_t version, uint32_t seq, const void *payload, size_t len,
    const int *fds, int nfds);
int control_send_json(struct tgd *d, struct conn *c, uint16_t version,
    uint32_t seq, json_t *doc);
void control_fail(struct tgd *d, struct conn *c, uint16_t version,
    uint32_t seq, int code, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
void control_close(struct tgd *d, struct conn *c);
void control_close_all(struct tgd *d);
void control_reap(struct tgd *d); /* free closed connections */

/* dispatch.c — one handler per message type */
void dispatch(struct tgd *d, struct conn *c, const struct tg_hdr *h,
    const void *payload);
void dispatch_proc_died(struct tgd *d, struct conn *c);
void dispatch_conn_gone(struct tgd *d, struct conn *c);
void dispatch_run_finish(struct tgd *d, struct run *r);
void dispatch_proc_unlink(struct tgd *d, struct proc *p);
void dispatch_proc_free(struct tgd *d, struct proc *p);
void dispatch_expire(struct tgd *d, struct proc *p); /* estimated records */

/* orphan.c — reservations of a live process whose connection closed */
void orphan_keep(struct tgd *d, struct conn *c, struct proc *p);
void orphan_died(struct tgd *d, struct orphan *o);
void orphan_adopt(struct tgd *d, struct proc *p);
int orphan_settle(struct tgd *d, const struct peer *sender, pid_t pid,
    uint64_t admit_id, int replayed);
void orphan_settle_run(struct tgd *d, struct run *r);
void orphan_reap(struct tgd *d);
void orphan_free_all(struct tgd *d); /* at exit: dropped, not expired */

/* record.c — settlement: RECORD → writer thread → ACK after COMMIT */
int record_init(struct tgd *d);
void record_client(struct tgd *d, struct conn *c, uint16_t version,
    uint32_t seq, const struct tg_record *r);
void record_refused(struct tgd *d, struct proc *p, const struct tg_admit *a,
    const char *tags, const struct tg_verdict *v);
void record_expired(struct tgd *d, struct proc *p, const struct resv *r);
/* A GPU record of p's (gpu_settle.c): r holds the numbers, model and
 * endpoint; kind, source, provider, identity, tags, run, id and price
 * are set here. */
void record_gpu(struct tgd *d, struct proc *p, struct tg_record *r);
void record_collect(struct tgd *d);
void record_drain(struct tgd *d); /* at exit: flush, collect */
/* Wait (bounded) until every record handed to the writer is committed and
 * settled; returns how many are still in flight. */
size_t record_wait_committed(struct tgd *d, int64_t timeout_ns);

/* status.c — STATUS and TOP documents */
json_t *status_json(struct tgd *d, uid_t uid);
json_t *top_json(struct tgd *d, uid_t uid);

/* policy_admin.c — which policy is active: the start-up load, SIGHUP
 * reload (the old one stays on error), POLICY_APPLY, POLICY_SHOW. Every
 * change goes through enforce_set_policy. */
void padmin_load_initial(struct tgd *d);   /* fatal on a bad --policy */
void padmin_reload(struct tgd *d);
void padmin_show(struct tgd *d, struct conn *c, const struct tg_hdr *h);
/* A policy read from a file's fd (a regular file, bounded) and parsed;
 * NULL with err naming name. */
struct policy *padmin_policy_fd(int fd, const char *name, char *err,
    size_t errlen);
void padmin_apply(struct tgd *d, struct conn *c, const struct tg_hdr *h,
    const struct tg_policy_apply *a);     /* the file is c->rx_fd */

/* enforce.c — the active policy applied: admissions, counters, standing
 * verdicts (pages, freeze, shutdown), the policy timer. */
int enforce_init(struct tgd *d);
/* Make p (owned from now on) the active policy: counters rebuilt from the
 * ledger, reservations re-counted, standing verdicts recomputed. */
void enforce_set_policy(struct tgd *d, struct policy *p);
void enforce_exit(struct tgd *d);          /* thaw everything */
/* ADMIT: the policy, then the run budget (admit.c); v filled in full.
 * tags: the request's own (ADMIT_TAGS), NULL for the registration's.
 * 0, or -1 as admit_request (EEXIST, ENOMEM). */
int enforce_admit(struct tgd *d, struct proc *p, const struct tg_admit *a,
    const char *tags, struct tg_verdict *v);
/* 1 when p's requests are enforced (enforce mode, or off refused). */
int enforce_enforced(const struct tgd *d, const struct proc *p);
/* A registration: its policy input, page and flags (TG_REG_*, for the
 * peer's protocol version). */
uint32_t enforce_register(struct tgd *d, struct proc *p, uint16_t version);
void enforce_proc_gone(struct tgd *d, struct proc *p);
void enforce_run_begin(struct tgd *d, struct run *r, const struct peer *tollctl);
void enforce_run_end(struct tgd *d, struct run *r);
/* RUN_POLICY: p (owned from now on) becomes the run's own policy. */
void enforce_run_policy(struct tgd *d, struct run *r, struct policy *p);
/* A record submitted to the ledger (sign 1) or not inserted after all
 * (sign -1: a repeated id, a failed write). */
void enforce_settled(struct tgd *d, const struct ledger_entry *e,
    struct run *run, int sign);
/* Recompute standing verdicts now (enforce_dirty) / at the policy timer /
 * after the clock was set (--fake-clock re-read). */
void enforce_scan(struct tgd *d);
void enforce_timer(struct tgd *d);
void enforce_clock_changed(struct tgd *d);

/* prices lookup with NULL table */
const struct tg_price *tgd_price(struct tgd *d, const char *provider,
    const char *model);

#endif
