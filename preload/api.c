/*
 * api.c — the exported client API (tollgate.h): admission, usage records,
 * spool flush. Every call runs under one deadline (TOLLGATE_TIMEOUT_MS)
 * that covers the lock wait, a lazy registration, spool replay and the
 * request itself; past it the fail mode decides (open: allow and spool;
 * closed: deny with rule "fail-closed"). The fail mode is closed when
 * TOLLGATE_FAIL=closed or when the policy last known says so (client.h);
 * only an enforcing process is ever refused. Every call leaves errno as
 * it found it.
 *
 * TOLLGATE_MODE=off asks no admission, unless the policy forbids off: the
 * first admit registers (within its deadline) to learn that, and later
 * ones read the verdict page's flag (no syscall). Forbidden: the process
 * is enforced (admission asked, the fail mode applies), with one line on
 * stderr per process. No daemon reachable and nothing known: off. The
 * registration still says mode off; the daemon decides "refused" itself.
 *
 * Two bounds that differ from tollgate.h's "never longer than the
 * deadline", on purpose:
 * - Durability first: a record that goes to the spool is on disk
 *   (write + fdatasync) before tollgate_usage returns 1, however long a
 *   slow disk takes; the deadline covers the daemon, not the disk.
 * - tollgate_flush_spool works through the whole spool: it takes at most
 *   FLUSH_BUDGET = max(2 s, 20 x TOLLGATE_TIMEOUT_MS), each wait for the
 *   daemon at most max(1 s, TOLLGATE_TIMEOUT_MS) (a commit under load may
 *   take that long), and stops at the first wait that times out; it
 *   returns what was delivered, and a later call (or flush) goes on where
 *   it stopped. It holds the connection lock for one file at a time, so
 *   other threads' calls get their turn between files, and fork never
 *   waits for it more than one call deadline (fork.h).
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "config.h"
#include "instance.h"
#include "meter.h"
#include "replay.h"
#include "say.h"
#include "shim.h"
#include "spool.h"
#include "tollgate.h"

#define FLUSH_STEP_MIN_NS 1000000000LL
#define FLUSH_BUDGET_MIN_NS 2000000000LL
#define FLUSH_BUDGET_CALLS 20

static int64_t
deadline_in(int64_t ns)
{
	return shim_now_mono() + ns;
}

/* Lock and get a registered connection. After a fresh registration, or
 * while records wait in the spool, replay them with at most half of the
 * time left, so the call itself still fits its deadline. */
static int
enter_daemon(uint64_t gen, int64_t deadline)
{
	struct replay_result res;
	int64_t now;
	int rc;

	if (shim_conn_lock(gen, deadline) != 0)
		return SHIM_TIMEOUT;
	if ((rc = shim_conn_ensure(deadline, 0)) < 0) {
		shim_conn_unlock();
		return rc;
	}
	if (rc == 1 || shim_spool_dirty()) {
		now = shim_now_mono();
		if (deadline > now)
			shim_replay(gen, now + (deadline - now) / 2,
			    (deadline - now) / 2, &res);
	}
	return 0;
}

/* One request with its reply; a connection found broken (the daemon
 * restarted) is reopened once within the same deadline. */
static int
daemon_call(uint64_t gen, uint16_t type, const void *p, uint32_t len,
    uint16_t want, struct shim_reply *r, int64_t deadline)
{
	int rc = SHIM_LOST;

	for (int attempt = 0; attempt < 2 && rc == SHIM_LOST; attempt++) {
		if ((rc = enter_daemon(gen, deadline)) != 0)
			return rc;
		rc = shim_conn_call(type, p, len, want, r, deadline);
		shim_conn_unlock();
	}
	return rc;
}

static void
local_verdict(struct tollgate_verdict *v, int deny, const char *reason)
{
	memset(v, 0, sizeof(*v));
	v->decision = deny ? TOLLGATE_DENY : TOLLGATE_ALLOW;
	tg_strlcpy(v->rule, deny ? "fail-closed" : "fail-open",
	    sizeof(v->rule));
	tg_strlcpy(v->reason, reason, sizeof(v->reason));
}

/* No answer from the daemon. policy: the TG_REG_* bits (client.h). */
static void
fail_verdict(struct tollgate_verdict *v, uint32_t mode, uint32_t policy)
{
	int by_policy = (policy & TG_REG_FAIL_CLOSED) != 0;

	if (mode != TG_MODE_ENFORCE || !(by_policy || shim_cfg.fail_closed))
		local_verdict(v, 0, "tollgate daemon unreachable; metering "
		    "locally");
	else
		local_verdict(v, 1, by_policy ? "tollgate daemon unreachable; "
		    "the policy's fail mode is closed" : "tollgate daemon "
		    "unreachable; TOLLGATE_FAIL=closed");
}

/* Mode off, not refused: the rule stays "fail-open" (what callers of
 * earlier versions saw); the reason says whether a policy allowed it. */
static void
off_verdict(struct tollgate_verdict *v, uint32_t policy)
{
	local_verdict(v, 0, (policy & SHIM_POLICY_LEARNED) ?
	    "TOLLGATE_MODE=off and the policy allows it: nothing enforced" :
	    "TOLLGATE_MODE=off; tollgate daemon unreachable: nothing enforced");
}

/* The mode this process runs in: TOLLGATE_MODE, but off is enforced when
 * the policy forbids it. */
static uint32_t
run_mode(uint32_t policy)
{
	if (shim_cfg.mode == TG_MODE_OFF && (policy & TG_REG_MODE_OFF_REFUSED))
		return TG_MODE_ENFORCE;
	return shim_cfg.mode;
}

/* Mode off: learn (register once) whether the policy allows it. */
static uint32_t
admit_mode(uint64_t gen, int64_t deadline, uint32_t *policy)
{
	static _Atomic int said;
	uint32_t mode;

	if (shim_cfg.mode != TG_MODE_OFF)
		return shim_cfg.mode;
	*policy = shim_conn_policy(gen, deadline, 1);
	mode = run_mode(*policy);
	if (mode != TG_MODE_OFF && !atomic_exchange(&said, 1))
		shim_say("TOLLGATE_MODE=off is not allowed by the policy; "
		    "enforcing");
	return mode;
}

static void
daemon_verdict(struct tollgate_verdict *v, const struct tg_verdict *d,
    uint32_t mode)
{
	memset(v, 0, sizeof(*v));
	v->decision = (int)d->decision;
	v->delay_ms = d->delay_ms;
	v->reset_time_ns = d->reset_time_ns;
	tg_strlcpy(v->rule, d->rule, sizeof(v->rule));
	tg_strlcpy(v->reason, d->reason, sizeof(v->reason));
	v->from_daemon = 1;
	/* observe: report what the policy would do, never hold the caller. */
	if (mode != TG_MODE_ENFORCE) {
		v->decision = TOLLGATE_ALLOW;
		v->delay_ms = 0;
	}
}

uint64_t
tollgate_admit(const char *provider, const char *model, const char *endpoint,
    uint64_t est_input_tokens, uint64_t max_output_tokens,
    struct tollgate_verdict *v)
{
	return shim_admit_tagged(provider, model, endpoint, est_input_tokens,
	    max_output_tokens, NULL, v);
}

uint64_t
shim_admit_tagged(const char *provider, const char *model,
    const char *endpoint, uint64_t est_input_tokens,
    uint64_t max_output_tokens, const char *tags, struct tollgate_verdict *v)
{
	struct tollgate_verdict local;
	struct tg_admit_tags at = { .a = { .est_input_tokens = est_input_tokens,
		.max_output_tokens = max_output_tokens } };
	struct tg_admit *a = &at.a;
	struct shim_reply r;
	int64_t deadline;
	uint64_t gen;
	uint32_t mode, policy = 0;
	int rc = SHIM_LOST, saved = errno;

	if (v == NULL)
		v = &local;
	if (!shim_ready() || shim_inside) {
		/* Re-entered (our init, a signal handler inside our code). */
		policy = shim_conn_policy_cached();
		if ((mode = run_mode(policy)) == TG_MODE_OFF)
			off_verdict(v, policy);
		else
			fail_verdict(v, mode, policy);
		errno = saved;
		return shim_instance_new_admit_id();
	}
	shim_inside++;
	deadline = deadline_in(shim_call_ns());
	gen = shim_instance_sync();
	a->admit_id = shim_instance_new_admit_id();
	tg_strlcpy(a->provider, provider, sizeof(a->provider));
	tg_strlcpy(a->model, model, sizeof(a->model));
	tg_strlcpy(a->endpoint, endpoint, sizeof(a->endpoint));
	/* off, unless the policy forbids it: no admission asked; usage is
	 * still reported. */
	if ((mode = admit_mode(gen, deadline, &policy)) != TG_MODE_OFF &&
	    tags != NULL && tags[0] != '\0') {
		tg_strlcpy(at.tags, tags, sizeof(at.tags));
		rc = daemon_call(gen, TG_MSG_ADMIT_TAGS, &at, sizeof(at),
		    TG_MSG_VERDICT, &r, deadline);
	} else if (mode != TG_MODE_OFF)
		rc = daemon_call(gen, TG_MSG_ADMIT, a, sizeof(*a),
		    TG_MSG_VERDICT, &r, deadline);
	if (rc == 0)
		daemon_verdict(v, &r.u.verdict, mode);
	else if (mode == TG_MODE_OFF)
		off_verdict(v, policy);
	else
		fail_verdict(v, mode, mode == TG_MODE_ENFORCE ?
		    shim_conn_policy(gen, deadline, 0) : 0);
	shim_inside--;
	errno = saved;
	return a->admit_id;
}

static void
fill_record(struct tg_record *rec, const struct tollgate_usage *u)
{
	memset(rec, 0, sizeof(*rec));
	rec->admit_id = u->admit_id;
	rec->event_time_ns = shim_now_real();
	rec->kind = TG_KIND_LLM;
	rec->source = TG_SOURCE_SHIM;
	rec->flags = (u->estimated ? TG_REC_ESTIMATED : 0) |
	    (u->refused ? TG_REC_REFUSED : 0);
	rec->http_status = u->http_status;
	rec->latency_ms = u->latency_ms;
	rec->input_tokens = u->input_tokens;
	rec->output_tokens = u->output_tokens;
	rec->cached_tokens = u->cached_tokens;
	rec->cache_write_tokens = u->cache_write_tokens;
	rec->reasoning_tokens = u->reasoning_tokens;
	tg_strlcpy(rec->provider, u->provider, sizeof(rec->provider));
	tg_strlcpy(rec->model, u->model, sizeof(rec->model));
	tg_strlcpy(rec->endpoint, u->endpoint, sizeof(rec->endpoint));
	if (u->refused)
		tg_strlcpy(rec->decision, "deny", sizeof(rec->decision));
}

/* What a replayer needs to attribute the record to us, not to itself. */
static void
replay_form(struct tg_record *rec)
{
	ssize_t n = readlink("/proc/self/exe", rec->exe, sizeof(rec->exe) - 1);

	rec->exe[n > 0 ? n : 0] = '\0';
	rec->flags |= TG_REC_REPLAYED;
	rec->pid = getpid();
	tg_strlcpy(rec->tags, shim_cfg.tags, sizeof(rec->tags));
	tg_strlcpy(rec->run, shim_cfg.run, sizeof(rec->run));
}

/* Settle a filled record (meter.h): tollgate_usage and the hooks' meter
 * share this path. The caller is inside tollgate (shim_inside). */
int
shim_settle_record(struct tg_record *rec)
{
	shim_instance_sync();   /* a fork child's ids get its own prefix */
	shim_instance_new_id(rec->id);
	return shim_settle_record_as_is(rec);
}

int
shim_settle_record_as_is(struct tg_record *rec)
{
	struct shim_reply r;
	int64_t deadline = deadline_in(shim_call_ns());
	uint64_t gen = shim_instance_sync();
	int rc;

	rc = daemon_call(gen, TG_MSG_RECORD, rec, sizeof(*rec), TG_MSG_ACK, &r,
	    deadline);
	if (rc == 0 && memcmp(r.u.ack.id, rec->id, sizeof(rec->id)) == 0)
		return 0;
	if (rc > 0 && shim_conn_permanent(rc)) {
		shim_say("the daemon refused a usage record (error %d)", rc);
		return -1;
	}
	replay_form(rec);
	/* When it cannot, the spool says why (rate-limited) and counts it. */
	return shim_spool_append(gen, rec) == 0 ? 1 : -1;
}

static int
usage_locked(const struct tollgate_usage *u)
{
	struct tg_record rec;

	fill_record(&rec, u);
	return shim_settle_record(&rec);
}

int
tollgate_usage(const struct tollgate_usage *u)
{
	int rc = -1, saved = errno;

	if (u == NULL)
		return -1;
	if (!shim_ready() || shim_inside) {
		shim_say("tollgate_usage called from inside tollgate (a signal "
		    "handler?); record dropped");
	} else {
		shim_inside++;
		rc = usage_locked(u);
		shim_inside--;
	}
	errno = saved;
	return rc;
}

static int64_t
max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

/* A connection found broken (the daemon restarted) is made anew once. */
static int
flush_locked(void)
{
	int64_t step = max64(shim_call_ns(), FLUSH_STEP_MIN_NS);
	int64_t end = deadline_in(max64(FLUSH_BUDGET_MIN_NS,
	    FLUSH_BUDGET_CALLS * shim_call_ns()));
	uint64_t gen = shim_instance_sync();
	struct replay_result res;

	for (int attempt = 0; attempt < 2; attempt++) {
		shim_replay_flush(gen, end, step, &res);
		if (!res.lost || res.acked > 0 || shim_now_mono() >= end)
			break;
	}
	if (res.acked == 0 && (res.lost || res.stalled))
		return -1;
	return res.acked;
}

int
tollgate_flush_spool(void)
{
	int rc = -1, saved = errno;

	if (shim_ready() && !shim_inside) {
		shim_inside++;
		rc = flush_locked();
		shim_inside--;
	}
	errno = saved;
	return rc;
}
