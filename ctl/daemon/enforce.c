/*
 * enforce.c — the active policy applied.
 *
 * Admission: policy_eval over the process's tags, user and exe and the
 * request's provider, model, estimated cost and tokens, with the per-rule
 * counters of rules.h; then the run budget (admit.c). Every verdict names
 * its rule, reason and reset. An LLM request inside a pause window is told
 * to wait until the window ends (TG_DELAY); nothing is reserved for a
 * delayed or refused request, and the client asks again after the delay.
 *
 * Registrations, runs and policy changes start standing verdicts
 * (standing.c): the pages, freezes and shutdowns.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "daemon.h"
#include "enforce_int.h"
#include "log.h"

/* policy_eval's per-rule states, for the reservation's rule set. The
 * main thread is the only caller. */
static struct policy_rule_state states[POLICY_MAX_RULES];

void
enforce_proc_input(const struct proc *p, struct policy_input *in)
{
	*in = p->ri.in;
	in->exe = p->peer->exe[0] ? p->peer->exe : NULL;
	in->mode = (enum policy_mode)p->mode;
}

int
enforce_enforced(const struct tgd *d, const struct proc *p)
{
	return p->mode == TG_MODE_ENFORCE ||
	    (p->mode == TG_MODE_OFF && !d->policy->allow_mode_off);
}

static int64_t
sat_tokens(uint64_t a, uint64_t b)
{
	uint64_t s;

	if (__builtin_add_overflow(a, b, &s) || s > INT64_MAX)
		return INT64_MAX;
	return (int64_t)s;
}

/* A refusal, a delay or a pause as the shim's verdict; prefix names whose
 * policy decided ("" the host's, "run:" the run's own). */
static void
verdict_from(const struct policy *pol, const char *prefix,
    const struct policy_input *in, struct policy_decision *dec,
    uint64_t admit_id, struct tg_verdict *v)
{
	int64_t wait;

	memset(v, 0, sizeof(*v));
	v->admit_id = admit_id;
	v->reset_time_ns = dec->reset;
	switch (dec->verdict) {
	case POLICY_DENY:
		v->decision = TG_DENY;
		break;
	case POLICY_PAUSE:
		/* wait for the window's end (at least 1 ms, at most ~49 days) */
		v->decision = TG_DELAY;
		wait = dec->reset > in->now ? (dec->reset - in->now + MS - 1) / MS :
		    1;
		v->delay_ms = wait > UINT32_MAX ? UINT32_MAX : (uint32_t)wait;
		break;
	case POLICY_DELAY:
		v->decision = TG_DELAY;
		v->delay_ms = dec->delay_ms;
		break;
	default:
		v->decision = TG_ALLOW;
		break;
	}
	if (dec->rule < 0)
		return;
	snprintf(v->rule, sizeof(v->rule), "%s%s", prefix,
	    pol->rules[dec->rule].name);
	policy_decision_reason(pol, in, dec);
	tg_strlcpy(v->reason, dec->reason, sizeof(v->reason));
}

/* The counting rules among the matching ones policy_eval reported. */
static void
rules_of(struct rules *R, const struct policy_decision *dec,
    uint64_t out[POLICY_SET_WORDS])
{
	uint64_t set[POLICY_SET_WORDS] = { 0 };

	for (int i = 0; i < dec->nstates; i++)
		set[dec->states[i].rule / 64] |= 1ULL << (dec->states[i].rule % 64);
	rules_counting(R, set, out);
}

static void
count_decision(struct rules *R, const struct policy_decision *dec)
{
	struct rule_usage *u;

	if (dec->rule < 0 || dec->rule >= R->n || R->u == NULL)
		return;
	u = &R->u[dec->rule];
	if (dec->verdict == POLICY_WARN)
		u->warned++;
	else if (dec->verdict == POLICY_DELAY || dec->verdict == POLICY_PAUSE)
		u->delayed++;
	else if (dec->verdict == POLICY_DENY)
		u->denied++;
}

/* One policy's say on an admission. 1 when it refuses or delays (v
 * filled), else 0 with its counting rules in set. */
static int
decide(struct tgd *d, struct proc *p, const struct policy *pol,
    struct rules *R, const char *prefix, struct policy_input *in,
    struct policy_rule_state *st, uint64_t admit_id, struct tg_verdict *v,
    struct tg_verdict *warn, uint64_t set[POLICY_SET_WORDS])
{
	struct rules_eval re = { R, tgd_mono_ns() };
	struct policy_decision dec = { .lazy_reason = 1, .states = st,
		.cap = POLICY_MAX_RULES };

	policy_eval(pol, in, rules_usage, &re, &dec);
	count_decision(R, &dec);
	if (dec.verdict >= POLICY_DELAY) {
		verdict_from(pol, prefix, in, &dec, admit_id, v);
		/* a refusal of the run's process counts as the run's: the
		 * budget gate's exit status */
		if (dec.verdict == POLICY_DENY && p->run && enforce_enforced(d, p))
			p->run->refused++;
		if (dec.flags & POLICY_D_SHUTDOWN)
			d->enforce_dirty = 1;
		return 1;
	}
	if (dec.verdict == POLICY_WARN && warn->rule[0] == '\0')
		verdict_from(pol, prefix, in, &dec, admit_id, warn);
	rules_of(R, &dec, set);
	return 0;
}

int
enforce_admit(struct tgd *d, struct proc *p, const struct tg_admit *a,
    const char *tags, struct tg_verdict *v)
{
	struct policy_tag tagv[POLICY_MAX_TAGS];
	char tagbuf[256];
	static struct policy_rule_state run_states[POLICY_MAX_RULES];
	const struct tg_price *price = tgd_price(d, a->provider, a->model);
	struct run *run = p->run && p->run->policy ? p->run : NULL;
	struct tg_verdict warn = { .rule = "" };
	struct resv_rules rr = { .gen = d->rules_gen };
	struct policy_input in;
	uint64_t max_out;
	tg_nano_usd cost = admit_cost(price, a, &max_out);

	enforce_proc_input(p, &in);
	if (tags != NULL) {
		in.ntags = policy_tags_parse(tags, tagbuf, sizeof(tagbuf), tagv,
		    POLICY_MAX_TAGS);
		in.tags = tagv;
	}
	in.kind = POLICY_LLM;
	in.model = a->model[0] ? a->model : NULL;
	in.provider = a->provider[0] ? a->provider : NULL;
	in.cost = cost;
	in.tokens = sat_tokens(a->est_input_tokens, max_out);
	in.now = tgd_now_ns();
	rr.tokens = in.tokens;
	/* the host's policy, then the run's own: it can only tighten */
	if (decide(d, p, d->policy, &d->rules, "", &in, states, a->admit_id,
	    v, &warn, rr.set) ||
	    (run && decide(d, p, run->policy, &run->rules, "run:", &in,
	    run_states, a->admit_id, v, &warn, rr.run_set)))
		return 0;
	if (admit_request(&d->admit, &p->owner, p->run, price, a, &rr, v) == -1)
		return -1;
	if (v->decision != TG_ALLOW)
		return 0;
	rules_reserve(&d->rules, rr.set, cost, in.tokens, tgd_mono_ns());
	if (run)
		rules_reserve(&run->rules, rr.run_set, cost, in.tokens,
		    tgd_mono_ns());
	if (warn.rule[0]) {
		memcpy(v->rule, warn.rule, sizeof(v->rule));
		memcpy(v->reason, warn.reason, sizeof(v->reason));
		v->reset_time_ns = warn.reset_time_ns;
	}
	return 0;
}

/* admit.c drops a reservation: counted under this policy, uncount it. */
static void
on_drop(void *arg, const struct resv *r)
{
	struct tgd *d = arg;

	if (r->rules_gen == d->rules_gen)
		rules_unreserve(&d->rules, r->rules, r->cost, r->rules_tokens);
	if (r->run && r->run->policy)
		rules_unreserve(&r->run->rules, r->run_rules, r->cost,
		    r->rules_tokens);
}

static void
settle_into(struct tgd *d, struct rules *R, const struct ledger_entry *e,
    int sign)
{
	const struct tg_record *r = &e->rec;
	struct rules_subject s = { .tags = r->tags, .uid = e->uid,
		.exe = r->exe, .model = r->model, .provider = r->provider,
		.kind = r->kind == TG_KIND_GPU ? POLICY_GPU : POLICY_LLM };
	int64_t tokens = sat_tokens(r->input_tokens, r->output_tokens);

	if (R->n == 0)
		return;
	if (sign > 0) {
		if (rules_settle(R, &s, r->event_time_ns, e->cost_nano_usd,
		    tokens, tgd_now_ns(), tgd_mono_ns()))
			d->enforce_dirty = 1;
	} else
		rules_unsettle(R, &s, r->event_time_ns, e->cost_nano_usd,
		    tokens, tgd_now_ns());
}

void
enforce_settled(struct tgd *d, const struct ledger_entry *e, struct run *run,
    int sign)
{
	const struct tg_record *r = &e->rec;

	if ((r->flags & TG_REC_REFUSED) ||
	    (e->cost_nano_usd == 0 && r->input_tokens == 0 &&
	    r->output_tokens == 0))
		return;
	settle_into(d, &d->rules, e, sign);
	/* the run's own policy counts the run's own records */
	if (run && run->policy)
		settle_into(d, &run->rules, e, sign);
}

/* ---- registrations and runs ---- */

uint32_t
enforce_register(struct tgd *d, struct proc *p, uint16_t version)
{
	struct rules_subject s = { .tags = p->tags, .uid = p->peer->uid,
		.kind = POLICY_LLM };
	struct policy_input in;
	uint32_t f;

	rules_input_fill(&p->ri, &s, tgd_now_ns());
	enforce_proc_input(p, &in);
	f = standing_flags(d, p, &in);
	if (standing_scan_proc(d, p))
		standing_arm_timer(d);   /* a SIGKILL is due after the grace */
	/* a v1 shim reads the field as fail-closed when nonzero */
	return version < 2 ? f & TG_REG_FAIL_CLOSED : f;
}

void
enforce_proc_gone(struct tgd *d, struct proc *p)
{
	struct job_target t = { .pid = p->peer ? p->peer->pid : 0,
		.pidfd = p->peer ? p->peer->pidfd : -1 };

	/* a no-op unless we froze it; forgets an exited one's entry too */
	if (t.pid > 0)
		jobs_thaw(&d->jobs, &t);
}

/* tollctl makes the run's cgroup after RUN_BEGIN: one that exists
 * already was made by someone else (a token read off the cgroup tree) and
 * is never taken. */
void
enforce_run_begin(struct tgd *d, struct run *r, const struct peer *tollctl)
{
	struct stat st;
	int n;

	r->begun_mono = tgd_mono_ns();
	r->cgroup[0] = r->cgroup_rel[0] = '\0';
	if (tollctl->cgroup[0] == '\0' ||
	    jobs_run_cgroup(tollctl->cgroup, r->token, r->cgroup,
	    sizeof(r->cgroup)) == -1)
		return;
	if (stat(r->cgroup, &st) == 0) {
		log_warnx("%s: %s exists before its run began; not used",
		    __func__, r->cgroup);
		r->cgroup[0] = '\0';
		return;
	}
	n = snprintf(r->cgroup_rel, sizeof(r->cgroup_rel), "%s/tollgate-run-%s",
	    strcmp(tollctl->cgroup, "/") == 0 ? "" : tollctl->cgroup, r->token);
	if (n < 0 || (size_t)n >= sizeof(r->cgroup_rel))
		r->cgroup[0] = r->cgroup_rel[0] = '\0';
	standing_scan_run(d, r);
	standing_arm_timer(d);
}

void
enforce_run_policy(struct tgd *d, struct run *r, struct policy *p)
{
	char err[300];

	/* a new run: its own records start from zero, no ledger scan */
	if (rules_load(&r->rules, p, NULL, tgd_now_ns(), err,
	    sizeof(err)) == -1)
		log_warnx("%s: run %s: %s", __func__, r->token, err);
	r->policy = p;
	enforce_scan(d);
}

void
enforce_run_end(struct tgd *d, struct run *r)
{
	struct job_target t = { .pid = 0, .pidfd = -1 };

	if (r->cgroup[0] == '\0')
		return;
	tg_strlcpy(t.cgroup, r->cgroup, sizeof(t.cgroup));
	if (jobs_is_frozen(&d->jobs, &t))
		jobs_thaw(&d->jobs, &t);
}

/* ---- policy changes ---- */

/* Outstanding reservations were counted under the old rules: count them
 * under the new ones (their rate slots start empty). */
static void
recount_owner(struct tgd *d, struct proc *p)
{
	for (struct resv *r = p->owner.head; r; r = r->onext) {
		struct policy_input in;
		uint64_t set[POLICY_SET_WORDS];

		enforce_proc_input(p, &in);
		in.kind = POLICY_LLM;
		in.model = r->model[0] ? r->model : NULL;
		in.provider = r->provider[0] ? r->provider : NULL;
		policy_match_set(d->policy, &in, set);
		rules_counting(&d->rules, set, r->rules);
		r->rules_gen = d->rules_gen;
		r->rules_tokens = sat_tokens(r->est_input, r->max_output);
		rules_reserve(&d->rules, r->rules, r->cost, r->rules_tokens, 0);
	}
}

static void
recount(struct tgd *d)
{
	for (struct proc *p = d->procs_all; p; p = p->all_next)
		recount_owner(d, p);
	for (struct orphan *o = d->orphans; o; o = o->next)
		recount_owner(d, o->p);
}

/* The same rules in the same order (a SIGHUP meant for the prices): the
 * counters stay as they are. */
static int
same_policy(const struct policy *a, const struct policy *b)
{
	char *x = policy_show(a), *y = policy_show(b);
	int same = x && y && strcmp(x, y) == 0;

	free(x);
	free(y);
	return same;
}

void
enforce_set_policy(struct tgd *d, struct policy *p)
{
	struct policy *old = d->policy;
	char err[300];
	size_t left;

	if (old && same_policy(old, p)) {
		d->policy = p;
		d->rules.pol = p;
		policy_free(old);
		enforce_scan(d);
		return;
	}
	/* The counters are rebuilt from the ledger: what is on its way
	 * there must be in it first, or it would be missed (and a repeat
	 * settling later subtracted). */
	if (old && (left = record_wait_committed(d, 5 * NS)) > 0)
		log_warnx("%s: %zu records still in flight are not counted by "
		    "the new rules", __func__, left);
	rules_free(&d->rules);
	d->policy = p;
	d->rules_gen++;
	if (rules_load(&d->rules, p, d->rlg, tgd_now_ns(), err,
	    sizeof(err)) == -1)
		log_warnx("%s: %s; the rules count from zero", __func__, err);
	policy_free(old);
	recount(d);
	enforce_scan(d);
}

int
enforce_init(struct tgd *d)
{
	d->admit.on_drop = on_drop;
	d->admit.drop_arg = d;
	if (jobs_init(&d->jobs, d->state_dir) == -1)
		log_warn("%s: %s/frozen.json: what is frozen is not persisted",
		    __func__, d->state_dir);
	d->ptimerfd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	return d->ptimerfd == -1 ? -1 : 0;
}

void
enforce_exit(struct tgd *d)
{
	jobs_thaw_all(&d->jobs);
}
