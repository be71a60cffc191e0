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
 * Standing verdicts (enforce_scan) — what a GPU launch asked now would
 * get — for every registered process and every `tollctl run`:
 *   - the verdict page: TG_RUN, TG_PAUSE or TG_DENY_ALL, and its flags
 *     (fail closed when unreachable, TOLLGATE_MODE=off refused);
 *   - freeze / thaw for a pause rule with "freeze";
 *   - terminate for a spent sandbox (jobs.h: SIGTERM, SIGKILL after the
 *     grace).
 * A run whose cgroup exists is acted on as a whole through it; any other
 * process by its pidfd. They are recomputed when the policy changes, a
 * process registers, a run begins, a settled record takes a hard limit to
 * its end, and at the next policy edge (a window opens or closes, a period
 * ends): a CLOCK_REALTIME timerfd armed with TFD_TIMER_CANCEL_ON_SET, so
 * a clock step wakes us as well.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

#define NS 1000000000LL
#define MS 1000000LL
#define IDLE_REARM_NS (3600 * NS)   /* no edge: still catch clock steps */
#define RETRY_NS (250 * MS)         /* a run's cgroup not there yet */
#define RUN_CGROUP_WAIT_NS (5 * NS) /* … for at most this long */

/* policy_eval's per-rule states, for the reservation's rule set. The
 * main thread is the only caller. */
static struct policy_rule_state states[POLICY_MAX_RULES];
static int64_t retry_at_mono;       /* 0: no retry pending */

static void
proc_input(const struct proc *p, struct policy_input *in)
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
    struct tg_verdict *v)
{
	static struct policy_rule_state run_states[POLICY_MAX_RULES];
	const struct tg_price *price = tgd_price(d, a->provider, a->model);
	struct run *run = p->run && p->run->policy ? p->run : NULL;
	struct tg_verdict warn = { .rule = "" };
	struct resv_rules rr = { .gen = d->rules_gen };
	struct policy_input in;
	uint64_t max_out;
	tg_nano_usd cost = admit_cost(price, a, &max_out);

	proc_input(p, &in);
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

/* ---- standing verdicts ---- */

static uint32_t
policy_flags1(const struct policy *pol, const struct policy_input *base)
{
	struct policy_decision dec = { .lazy_reason = 1 };
	struct policy_input in = *base;
	uint32_t f = 0;

	in.kind = POLICY_LLM;
	in.unreachable = 1;
	in.mode = POLICY_MODE_ENFORCE;
	policy_eval(pol, &in, NULL, NULL, &dec);
	if (dec.verdict == POLICY_DENY)
		f |= TG_PAGE_FAIL_CLOSED;
	if (!pol->allow_mode_off)
		f |= TG_PAGE_MODE_OFF_REFUSED;
	return f;
}

/* The host's policy's, and the run's own policy's when it has one. */
static uint32_t
policy_flags(struct tgd *d, const struct proc *p,
    const struct policy_input *base)
{
	uint32_t f = policy_flags1(d->policy, base);

	if (p && p->run && p->run->policy)
		f |= policy_flags1(p->run->policy, base);
	return f;
}

static void
page_set(struct proc *p, uint32_t word, uint32_t flags)
{
	struct tg_verdict_page *vp = p->vpage;

	if (vp == NULL || (vp->verdict == word && vp->flags == flags))
		return;
	__atomic_store_n(&vp->flags, flags, __ATOMIC_RELAXED);
	__atomic_store_n(&vp->arg, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&vp->verdict, word, __ATOMIC_RELEASE);
	__atomic_add_fetch(&vp->seq, 1, __ATOMIC_RELEASE);
}

/* What a job should get now. The page word is the verdict a GPU launch
 * asked now would get. Freeze and shutdown come from EVERY matching rule,
 * for both kinds of request, so that a stronger rule (a spent team budget
 * denying everything) never hides a pause's freeze or a spent sandbox.
 * Selectors on model or provider cannot match here: no request is named. */
struct standing {
	enum policy_verdict gpu;
	int freeze, shutdown;
	uint32_t grace;                 /* the shortest of the spent sandboxes */
	const char *freeze_rule, *shutdown_rule;
};

static void
standing_rules(const struct policy *pol, const struct policy_decision *dec,
    struct standing *s)
{
	for (int i = 0; i < dec->nstates; i++) {
		const struct policy_rule_state *st = &dec->states[i];
		const struct policy_rule *r = &pol->rules[st->rule];

		if (r->kind == POLICY_K_PAUSE && r->freeze &&
		    st->verdict != POLICY_ALLOW && !s->freeze) {
			s->freeze = 1;
			s->freeze_rule = r->name;
		}
		if (r->kind == POLICY_K_SANDBOX && st->verdict == POLICY_DENY &&
		    (!s->shutdown || r->grace_seconds < s->grace)) {
			s->shutdown = 1;
			s->grace = r->grace_seconds;
			s->shutdown_rule = r->name;
		}
	}
}

/* One policy's part, added to s. */
static void
standing1(const struct policy *pol, struct rules *R,
    const struct policy_input *base, struct standing *s)
{
	struct rules_eval re = { R, tgd_mono_ns() };
	struct policy_decision dec = { .lazy_reason = 1, .states = states,
		.cap = POLICY_MAX_RULES };
	struct policy_input in = *base;

	in.cost = 0;
	in.tokens = 0;
	in.now = tgd_now_ns();
	in.unreachable = 0;
	for (int k = 0; k < 2; k++) {
		in.kind = k == 0 ? POLICY_GPU : POLICY_LLM;
		policy_eval(pol, &in, rules_usage, &re, &dec);
		if (k == 0 && dec.verdict > s->gpu)
			s->gpu = dec.verdict;
		standing_rules(pol, &dec, s);
	}
}

/* The host's policy, and the run's own policy when it has one. */
static void
standing(struct tgd *d, struct run *run, const struct policy_input *base,
    struct standing *s)
{
	memset(s, 0, sizeof(*s));
	standing1(d->policy, &d->rules, base, s);
	if (run && run->policy)
		standing1(run->policy, &run->rules, base, s);
}

/* Returns 1 when a kill may have become due (the timer must know). */
static int
act(struct tgd *d, const struct job_target *t, const struct standing *s,
    const char *what)
{
	if (s->shutdown) {
		if (jobs_terminate(&d->jobs, t, s->grace, tgd_mono_ns()) == -1)
			log_warn("%s: shut down %s (rule %s)", __func__, what,
			    s->shutdown_rule);
		return 1;
	}
	if (s->freeze) {
		if (jobs_is_frozen(&d->jobs, t))
			return 0;
		if (jobs_freeze(&d->jobs, t) == -1)
			log_warn("%s: freeze %s (rule %s)", __func__, what,
			    s->freeze_rule);
		else if (jobs_is_frozen(&d->jobs, t))
			log_info("%s: froze %s (rule %s)", __func__, what,
			    s->freeze_rule);
	} else if (jobs_is_frozen(&d->jobs, t)) {
		if (jobs_thaw(&d->jobs, t) == 0)
			log_info("%s: thawed %s", __func__, what);
		else
			log_warn("%s: thaw %s", __func__, what);
	}
	return 0;
}

/* The run's cgroup, once tollctl has made it — and made it as the run's
 * owner: a cgroup of the same name made by someone else is not ours to
 * freeze or kill. */
static int
run_has_cgroup(const struct run *r)
{
	char path[PATH_MAX + 16];
	struct stat st;

	if (r->cgroup[0] == '\0')
		return 0;
	snprintf(path, sizeof(path), "%s/cgroup.freeze", r->cgroup);
	return stat(r->cgroup, &st) == 0 && S_ISDIR(st.st_mode) &&
	    st.st_uid == r->owner && access(path, F_OK) == 0;
}

/* p lives inside its run's cgroup (or one below it). */
static int
in_run_cgroup(const struct proc *p)
{
	const char *rel = p->run ? p->run->cgroup_rel : "";
	size_t n = strlen(rel);

	return n > 0 && run_has_cgroup(p->run) &&
	    strncmp(p->peer->cgroup, rel, n) == 0 &&
	    (p->peer->cgroup[n] == '\0' || p->peer->cgroup[n] == '/');
}

static int
scan_proc(struct tgd *d, struct proc *p)
{
	struct job_target t = { .pid = p->peer->pid, .pidfd = p->peer->pidfd };
	struct policy_input in;
	struct standing s;
	char what[64];
	uint32_t word;

	proc_input(p, &in);
	standing(d, p->run, &in, &s);
	word = s.gpu == POLICY_DENY ? TG_DENY_ALL :
	    s.gpu == POLICY_PAUSE ? TG_PAUSE : TG_RUN;
	page_set(p, word, policy_flags(d, p, &in));
	/* Observe and allowed-off processes are never acted on; a run with
	 * a cgroup is acted on as a whole (scan_run). */
	if (p->dead || !enforce_enforced(d, p) || in_run_cgroup(p))
		return 0;
	snprintf(what, sizeof(what), "pid %d", (int)p->peer->pid);
	return act(d, &t, &s, what);
}

static int
scan_run(struct tgd *d, struct run *r)
{
	struct rules_input ri;
	struct rules_subject subj = { .tags = r->tags, .uid = r->owner,
		.kind = POLICY_GPU };
	struct job_target t = { .pid = 0, .pidfd = -1 };
	struct standing s;
	char what[64];

	if (r->cgroup[0] == '\0' || r->shut_down)
		return 0;
	rules_input_fill(&ri, &subj, tgd_now_ns());
	ri.in.mode = POLICY_MODE_ENFORCE;
	standing(d, r, &ri.in, &s);
	if (!run_has_cgroup(r)) {
		/* tollctl makes it just after RUN_BEGIN: look again soon, for
		 * a few seconds; then the run has none (its processes are
		 * acted on one by one) */
		if (tgd_mono_ns() - r->begun_mono > RUN_CGROUP_WAIT_NS)
			r->cgroup[0] = r->cgroup_rel[0] = '\0';
		else if ((s.freeze || s.shutdown) && retry_at_mono == 0)
			retry_at_mono = tgd_mono_ns() + RETRY_NS;
		return 0;
	}
	tg_strlcpy(t.cgroup, r->cgroup, sizeof(t.cgroup));
	snprintf(what, sizeof(what), "run %.8s", r->token);
	if (s.shutdown)
		r->shut_down = 1;       /* once: its cgroup is killed */
	return act(d, &t, &s, what);
}

static void
arm_timer(struct tgd *d)
{
	int64_t now = tgd_now_ns(), real = tgd_real_ns(), mono = tgd_mono_ns();
	int64_t edge = policy_next_edge(d->policy, now), e;
	int64_t due = jobs_next_due(&d->jobs);
	int64_t at = real + IDLE_REARM_NS;
	struct itimerspec its = { { 0, 0 }, { 0, 0 } };

	for (struct run *r = d->runs.all; r; r = r->all_next)
		if (r->policy && (e = policy_next_edge(r->policy, now)) > 0 &&
		    (edge == 0 || e < edge))
			edge = e;
	if (edge > 0 && real + (edge - now) + MS < at)
		at = real + (edge - now) + MS;
	if (due > 0 && real + (due - mono) < at)
		at = real + (due - mono);
	if (retry_at_mono > 0 && real + (retry_at_mono - mono) < at)
		at = real + (retry_at_mono - mono);
	if (at <= real)
		at = real + MS;
	its.it_value.tv_sec = at / NS;
	its.it_value.tv_nsec = at % NS;
	if (timerfd_settime(d->ptimerfd, TFD_TIMER_ABSTIME |
	    TFD_TIMER_CANCEL_ON_SET, &its, NULL) == -1)
		log_warn("%s: timerfd_settime", __func__);
}

void
enforce_scan(struct tgd *d)
{
	d->enforce_dirty = 0;
	retry_at_mono = 0;
	for (struct proc *p = d->procs_all; p; p = p->all_next)
		(void)scan_proc(d, p);
	/* a live process whose connection closed still maps its page and
	 * may still be frozen: it is thawed and acted on like the others */
	for (struct orphan *o = d->orphans; o; o = o->next)
		if (!o->gone && o->p)
			(void)scan_proc(d, o->p);
	for (struct run *r = d->runs.all; r; r = r->all_next)
		(void)scan_run(d, r);
	arm_timer(d);
}

void
enforce_timer(struct tgd *d)
{
	uint64_t ticks;

	if (read(d->ptimerfd, &ticks, sizeof(ticks)) == -1 &&
	    errno == ECANCELED)
		log_info("%s: the clock was set; re-evaluating", __func__);
	jobs_tick(&d->jobs, tgd_mono_ns());
	enforce_scan(d);
}

void
enforce_clock_changed(struct tgd *d)
{
	enforce_scan(d);
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
	proc_input(p, &in);
	f = policy_flags(d, p, &in);
	if (scan_proc(d, p))
		arm_timer(d);   /* a SIGKILL is due after the grace */
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
	scan_run(d, r);
	arm_timer(d);
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

		proc_input(p, &in);
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
