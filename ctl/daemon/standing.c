/*
 * standing.c — standing verdicts: what each registered process and each
 * `tollctl run` should get now, whatever it asks next (enforce.c has the
 * admissions). For each, as if a GPU launch were asked now:
 *   - the verdict page: TG_RUN, TG_THROTTLE (arg: launches/s), TG_PAUSE
 *     or TG_DENY_ALL and the rule behind it, the GPU memory cap and its
 *     rule, and the flags (fail closed when unreachable, TOLLGATE_MODE=off
 *     refused); a launch paused on the word is woken (FUTEX_WAKE) as soon
 *     as the word or its argument changes;
 *   - freeze / thaw for a pause rule with "freeze";
 *   - terminate for a spent sandbox (jobs.h: SIGTERM, SIGKILL after the
 *     grace).
 * A run whose cgroup exists is acted on as a whole through it; any other
 * process by its pidfd. Recomputed when the policy changes, a process
 * registers, a run begins, a settled record takes a hard limit to its end,
 * and at the next policy edge (a window opens or closes, a period ends):
 * a CLOCK_REALTIME timerfd armed with TFD_TIMER_CANCEL_ON_SET, so a clock
 * step wakes us as well.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "daemon.h"
#include "enforce_int.h"
#include "log.h"

#define IDLE_REARM_NS (3600 * NS)   /* no edge: still catch clock steps */
#define RETRY_NS (250 * MS)         /* a run's cgroup not there yet */
#define RUN_CGROUP_WAIT_NS (5 * NS) /* … for at most this long */

/* policy_eval's per-rule states; the main thread is the only caller. */
static struct policy_rule_state states[POLICY_MAX_RULES];
static int64_t retry_at_mono;       /* 0: no retry pending */

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

/* Can an LLM request of p be held at all: a rule of either policy, or
 * its run's budget. */
static int
llm_may_refuse(struct tgd *d, const struct proc *p,
    const struct policy_input *base)
{
	if (policy_may_refuse_llm(d->policy, base))
		return 1;
	if (p && p->run && (p->run->budget >= 0 || (p->run->policy &&
	    policy_may_refuse_llm(p->run->policy, base))))
		return 1;
	return 0;
}

/* The host's policy's, and the run's own policy's when it has one. */
uint32_t
standing_flags(struct tgd *d, const struct proc *p,
    const struct policy_input *base)
{
	uint32_t f = policy_flags1(d->policy, base);

	if (p && p->run && p->run->policy)
		f |= policy_flags1(p->run->policy, base);
	if (!llm_may_refuse(d, p, base))
		f |= TG_PAGE_LLM_NO_ADMIT;
	return f;
}

/* What a job should get now. The page word is the verdict a GPU launch
 * asked now would get: deny > pause > throttle (the lowest
 * launches_per_sec of the matching gpu_limit rules) > run; the memory cap
 * is the lowest mem_cap of theirs. Freeze and shutdown come from EVERY
 * matching rule, for both kinds of request, so that a stronger rule (a
 * spent team budget denying everything) never hides a pause's freeze or
 * a spent sandbox. Selectors on model or provider cannot match here: no
 * request is named. Rule names of a run's own policy carry "run:". */
struct standing {
	enum policy_verdict gpu;
	int freeze, shutdown;
	uint32_t grace;                 /* the shortest of the spent sandboxes */
	const char *freeze_rule, *shutdown_rule;
	char gpu_rule[64];              /* the rule behind gpu */
	uint64_t lps;                   /* launches/s; 0: none */
	char lps_rule[64];
	uint64_t cap;                   /* bytes; 0: none */
	char cap_rule[64];
};

/* The page as standing() wants it. */
struct page_want {
	uint32_t word, arg, flags;
	uint64_t cap;
	const char *rule, *cap_rule;
};

static void
page_str(char *dst, const char *src, size_t len)
{
	size_t n = strnlen(src, len - 1);

	/* relaxed byte stores: the shim may read it meanwhile (for a log
	 * line); it never sees past the NUL we keep at the end */
	for (size_t i = 0; i < len; i++)
		__atomic_store_n(&dst[i], i < n ? src[i] : '\0',
		    __ATOMIC_RELAXED);
}

static int
page_same(const struct tg_verdict_page *vp, const struct page_want *w)
{
	return vp->verdict == w->word && vp->arg == w->arg &&
	    vp->flags == w->flags && vp->gpu_mem_cap == w->cap &&
	    strncmp(vp->rule, w->rule, sizeof(vp->rule) - 1) == 0 &&
	    strncmp(vp->cap_rule, w->cap_rule, sizeof(vp->cap_rule) - 1) == 0;
}

/* Fields relaxed, the word with release, then seq; a launch waiting on
 * the word (a pause) is woken when the word or its argument changed. */
static void
page_set(struct proc *p, const struct page_want *w)
{
	struct tg_verdict_page *vp = p->vpage;
	int wake;

	if (vp == NULL || page_same(vp, w))
		return;
	wake = vp->verdict != w->word || vp->arg != w->arg;
	__atomic_store_n(&vp->flags, w->flags, __ATOMIC_RELAXED);
	__atomic_store_n(&vp->arg, w->arg, __ATOMIC_RELAXED);
	__atomic_store_n(&vp->gpu_mem_cap, w->cap, __ATOMIC_RELAXED);
	page_str(vp->rule, w->rule, sizeof(vp->rule));
	page_str(vp->cap_rule, w->cap_rule, sizeof(vp->cap_rule));
	__atomic_store_n(&vp->verdict, w->word, __ATOMIC_RELEASE);
	__atomic_add_fetch(&vp->seq, 1, __ATOMIC_RELEASE);
	/* shared (not FUTEX_PRIVATE_FLAG): the waiter maps the page too */
	if (wake && syscall(SYS_futex, &vp->verdict, FUTEX_WAKE, INT_MAX,
	    NULL, NULL, 0) == -1)
		log_warn("%s: futex wake pid %d", __func__, (int)p->peer->pid);
}

static void
rule_name(char *buf, size_t len, const char *prefix, const char *name)
{
	snprintf(buf, len, "%s%s", prefix, name);
}

/* The lowest limits of the matching gpu_limit rules (GPU evaluation). */
static void
standing_gpu_limits(const struct policy *pol, const char *prefix,
    const struct policy_decision *dec, struct standing *s)
{
	for (int i = 0; i < dec->nstates; i++) {
		const struct policy_rule *r = &pol->rules[dec->states[i].rule];

		if (r->kind != POLICY_K_GPU_LIMIT)
			continue;
		if (r->launches_per_sec && (s->lps == 0 ||
		    (uint64_t)r->launches_per_sec < s->lps)) {
			s->lps = (uint64_t)r->launches_per_sec;
			rule_name(s->lps_rule, sizeof(s->lps_rule), prefix,
			    r->name);
		}
		if (r->mem_cap && (s->cap == 0 || r->mem_cap < s->cap)) {
			s->cap = r->mem_cap;
			rule_name(s->cap_rule, sizeof(s->cap_rule), prefix,
			    r->name);
		}
	}
}

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
standing1(const struct policy *pol, const char *prefix, struct rules *R,
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
		if (k == 0 && dec.verdict > s->gpu) {
			s->gpu = dec.verdict;
			rule_name(s->gpu_rule, sizeof(s->gpu_rule), prefix,
			    pol->rules[dec.rule].name);
		}
		if (k == 0)
			standing_gpu_limits(pol, prefix, &dec, s);
		standing_rules(pol, &dec, s);
	}
}

/* The host's policy, and the run's own policy when it has one. */
static void
standing(struct tgd *d, struct run *run, const struct policy_input *base,
    struct standing *s)
{
	memset(s, 0, sizeof(*s));
	standing1(d->policy, "", &d->rules, base, s);
	if (run && run->policy)
		standing1(run->policy, "run:", &run->rules, base, s);
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

/* The page of p from its standing verdict. */
static void
page_standing(struct tgd *d, struct proc *p, const struct policy_input *in,
    const struct standing *s)
{
	struct page_want w = { .word = TG_RUN, .rule = "",
		.cap = s->cap, .cap_rule = s->cap_rule };

	if (s->gpu == POLICY_DENY || s->gpu == POLICY_PAUSE) {
		w.word = s->gpu == POLICY_DENY ? TG_DENY_ALL : TG_PAUSE;
		w.rule = s->gpu_rule;
	} else if (s->lps > 0) {
		w.word = TG_THROTTLE;
		w.arg = (uint32_t)s->lps;       /* ≤ POLICY_GPU_LPS_MAX */
		w.rule = s->lps_rule;
	}
	w.flags = standing_flags(d, p, in);
	page_set(p, &w);
}

int
standing_scan_proc(struct tgd *d, struct proc *p)
{
	struct job_target t = { .pid = p->peer->pid, .pidfd = p->peer->pidfd };
	struct policy_input in;
	struct standing s;
	char what[64];

	enforce_proc_input(p, &in);
	standing(d, p->run, &in, &s);
	page_standing(d, p, &in, &s);
	/* Observe and allowed-off processes are never acted on; a run with
	 * a cgroup is acted on as a whole (scan_run). */
	if (p->dead || !enforce_enforced(d, p) || in_run_cgroup(p))
		return 0;
	snprintf(what, sizeof(what), "pid %d", (int)p->peer->pid);
	return act(d, &t, &s, what);
}

int
standing_scan_run(struct tgd *d, struct run *r)
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

void
standing_arm_timer(struct tgd *d)
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
		(void)standing_scan_proc(d, p);
	/* a live process whose connection closed still maps its page and
	 * may still be frozen: it is thawed and acted on like the others */
	for (struct orphan *o = d->orphans; o; o = o->next)
		if (!o->gone && o->p)
			(void)standing_scan_proc(d, o->p);
	for (struct run *r = d->runs.all; r; r = r->all_next)
		(void)standing_scan_run(d, r);
	standing_arm_timer(d);
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

