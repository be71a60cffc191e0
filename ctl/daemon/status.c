/* status.c — see status.h. */
#include "status.h"

#include <stdlib.h>
#include <unistd.h>

#include "metrics.h"
#include "unmetered.h"

#define NS 1000000000LL
#define DAY 86400LL

static const char *const mode_names[] = { "enforce", "observe", "off" };

static json_int_t
ji(uint64_t v)
{
	return v > INT64_MAX ? INT64_MAX : (json_int_t)v;
}

/* The hold in progress on g up to now (0: none, or a start in the
 * future: the page is the client's). */
static uint64_t
slot_live(const struct tg_page_gpu *g, int64_t now)
{
	int64_t since = __atomic_load_n(&g->held_since_ns, __ATOMIC_RELAXED);

	return since > 0 && since <= now ? (uint64_t)(now - since) : 0;
}

static uint64_t
sat_add(uint64_t a, uint64_t b)
{
	return __builtin_add_overflow(a, b, &a) ? UINT64_MAX : a;
}

/* One used device slot of the counters page, as the shim wrote it (held:
 * closed holds plus the one in progress up to now). */
static json_t *
slot_json(const struct tg_page_gpu *g, int i, int64_t now)
{
	char name[sizeof(g->name)];
	int64_t since = __atomic_load_n(&g->held_since_ns, __ATOMIC_RELAXED);
	uint64_t held = sat_add(__atomic_load_n(&g->held_ns, __ATOMIC_RELAXED),
	    slot_live(g, now));

	gpu_slot_name(g, name, sizeof(name));
#define LD(f) ji(__atomic_load_n(&g->f, __ATOMIC_RELAXED))
	return json_pack("{s:i, s:i, s:s, s:b, s:I, s:I, s:I, s:I}",
	    "slot", i,
	    "ordinal", (int)__atomic_load_n(&g->ordinal, __ATOMIC_RELAXED),
	    "name", name,
	    "held_now", since != 0,
	    "held_ns", ji(held),
	    "busy_ns", LD(busy_ns),
	    "mem_bytes", LD(mem_bytes),
	    "mem_peak_bytes", LD(mem_peak_bytes));
#undef LD
}

static json_t *
gpus_json(const struct proc *p)
{
	json_t *a = json_array();
	int64_t now = tgd_mono_ns();

	for (int i = 0; p->cpage && i < TG_PAGE_GPUS; i++)
		if (__atomic_load_n(&p->cpage->gpu[i].used,
		    __ATOMIC_ACQUIRE) == 1)
			json_array_append_new(a, slot_json(&p->cpage->gpu[i], i,
			    now));
	return a;
}

static json_t *
proc_json(const struct proc *p)
{
	return json_pack("{s:I, s:i, s:s, s:I, s:s, s:s, s:s, s:i, s:b, s:I, "
	    "s:I, s:f, s:I, s:o}",
	    "id", (json_int_t)p->owner.id,
	    "pid", (int)p->peer->pid,
	    "exe", p->peer->exe,
	    "uid", (json_int_t)p->peer->uid,
	    "tags", p->tags,
	    "run", p->run_token,
	    "mode", p->mode <= TG_MODE_OFF ? mode_names[p->mode] : "?",
	    "protocol_version", (int)p->proto_version,
	    "alive", !p->dead,
	    "reservations", (json_int_t)p->owner.n,
	    "requests", (json_int_t)p->requests,
	    "cost_usd", (double)p->cost / 1e9,
	    "cost_nano_usd", (json_int_t)p->cost,
	    "gpus", gpus_json(p));
}

static json_t *
run_status(const struct run *r)
{
	return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:b}",
	    "token", r->token,
	    "budget_nano_usd", (json_int_t)r->budget,
	    "spent_nano_usd", (json_int_t)run_money(r->spent),
	    "pending_nano_usd", (json_int_t)run_money(r->pending),
	    "reserved_nano_usd", (json_int_t)run_money(r->reserved),
	    "refused_requests", (json_int_t)r->refused,
	    "processes", (json_int_t)r->processes,
	    "budget_exceeded", run_budget_exceeded(r));
}

static json_t *
daemon_json(struct tgd *d)
{
	const char *http = d->metrics && metrics_address(d->metrics)[0] ?
	    metrics_address(d->metrics) : "off";

	return json_pack("{s:s, s:i, s:I, s:i, s:i, s:s, s:s, s:s}",
	    "version", TGD_VERSION,
	    "pid", (int)getpid(),
	    "uptime_seconds",
	    (json_int_t)((tgd_mono_ns() - d->started_ns) / 1000000000LL),
	    "protocol_version", TG_PROTO_VERSION,
	    "protocol_oldest", TG_PROTO_OLDEST,
	    "socket", d->socket_path,
	    "state_dir", d->state_dir,
	    "http", http);
}

static json_t *
health_json(struct tgd *d)
{
	struct tgd_health *h = &d->health;

	return json_pack("{s:I, s:I, s:I, s:I, s:I}",
	    "records_written", (json_int_t)tgd_read(h->records_written),
	    "spool_replays", (json_int_t)tgd_read(h->spool_replays),
	    "rejected_messages", (json_int_t)tgd_read(h->rejected_messages),
	    "unpriced_records", (json_int_t)tgd_read(h->unpriced_records),
	    "ledger_errors", (json_int_t)tgd_read(h->ledger_errors));
}

/* ---- the active policy's rules and what is left of each ---- */

static int64_t
floordiv(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* The instance of window w holding now (ns): 1 with [*from, *to), else 0
 * with the next start in *from (0: none within 8 days). The instances
 * policy_eval sees: one per day of w->days, starting that local day at
 * w->from, local times mapped by tg_tz_to_utc (DST rules: tzif.h). */
static int
window_at(const struct policy *p, const struct policy_window *w, int64_t now,
    int64_t *from, int64_t *to)
{
	int64_t t = floordiv(now, NS), s, e;
	int64_t lday = floordiv(t + tg_tz_offset(&p->tz, t), DAY);

	*from = *to = 0;
	for (int64_t d = lday - 1; d <= lday + 8; d++) {
		if (!(w->days & (1u << tg_weekday(d))))
			continue;
		s = tg_tz_to_utc(&p->tz, d * DAY + w->from * 60);
		e = tg_tz_to_utc(&p->tz, (d + (w->from > w->to)) * DAY +
		    w->to * 60);
		if (s <= t && t < e) {
			*from = s * NS;
			*to = e * NS;
			return 1;
		}
		if (s > t) {
			*from = s * NS;
			return 0;
		}
	}
	return 0;
}

static void
set_time(json_t *o, const char *key, const struct policy *p, int64_t ns)
{
	char buf[64];

	policy_fmt_time(p, ns, buf, sizeof(buf));
	json_object_set_new(o, key, json_string(buf));
}

static void
set_usd(json_t *o, const char *key, tg_nano_usd v)
{
	char buf[48];

	policy_fmt_usd(v, buf, sizeof(buf));
	json_object_set_new(o, key, json_string(buf));
}

static void
set_int(json_t *o, const char *key, int64_t v)
{
	json_object_set_new(o, key, json_integer((json_int_t)v));
}

/* What the rule allows: its limits, shown even when it counts nothing
 * now (a quota outside its window). */
static void
rule_limits(json_t *o, const struct policy_rule *r)
{
	if (r->limit)
		set_usd(o, "limit_usd", r->limit);
	if (r->soft)
		set_usd(o, "soft_usd", r->soft);
	if (r->kind == POLICY_K_TOKEN_QUOTA)
		set_int(o, "max_tokens", r->max_tokens);
	if (r->mem_cap)
		set_int(o, "mem_cap_bytes", (int64_t)r->mem_cap);
	if (r->launches_per_sec)
		set_int(o, "launches_per_sec", r->launches_per_sec);
	if (r->kind != POLICY_K_RATE)
		return;
	if (r->rpm)
		set_int(o, "rpm_limit", r->rpm);
	if (r->tpm)
		set_int(o, "tpm_limit", r->tpm);
	if (r->concurrent)
		set_int(o, "concurrent_limit", r->concurrent);
}

static int64_t
left(int64_t limit, int64_t used)
{
	return used < limit ? limit - used : 0;
}

/* What is used and left (u: as policy_eval would see it now). */
static void
rule_used(json_t *o, const struct policy_rule *r, const struct policy_usage *u)
{
	switch (r->kind) {
	case POLICY_K_BUDGET:
	case POLICY_K_SANDBOX:
		set_usd(o, "spent_usd", u->spent);
		if (r->limit)
			set_usd(o, "usd_left", left(r->limit, u->spent));
		break;
	case POLICY_K_TOKEN_QUOTA:
		set_int(o, "tokens", u->tokens);
		set_int(o, "tokens_left", left(r->max_tokens, u->tokens));
		break;
	case POLICY_K_RATE:
		if (r->rpm)
			set_int(o, "rpm", u->rpm);
		if (r->tpm)
			set_int(o, "tpm", u->tpm);
		if (r->concurrent)
			set_int(o, "concurrent", u->concurrent);
		break;
	default:
		break;
	}
}

/* Window rules (pause, and token_quota with a window): in it or not;
 * returns which. */
static int
rule_window(json_t *o, const struct policy *p, const struct policy_rule *r,
    int64_t now)
{
	int64_t from, to;
	int in = window_at(p, &r->win, now, &from, &to);

	json_object_set_new(o, "active", json_boolean(in));
	if (!in && from)
		set_time(o, "next_start", p, from);
	if (in && r->kind == POLICY_K_PAUSE) {
		set_time(o, "period_start", p, from);
		set_time(o, "period_end", p, to);
	}
	return in;
}

static json_t *
rule_json(struct tgd *d, int i, int64_t now, int64_t mono)
{
	const struct policy *p = d->policy;
	const struct policy_rule *r = &p->rules[i];
	struct policy_usage u = { 0 };
	int64_t from = 0, to = 0;
	json_t *o = json_pack("{s:s, s:s}", "name", r->name,
	    "kind", policy_kind_name(r->kind));

	if (o == NULL)
		return NULL;
	rule_limits(o, r);
	if (i < d->rules.n && d->rules.u) {
		/* admissions it decided since the policy was loaded */
		set_int(o, "warned", d->rules.u[i].warned);
		set_int(o, "delayed", d->rules.u[i].delayed);
		set_int(o, "denied", d->rules.u[i].denied);
	}
	/* outside its window a rule counts nothing: no usage to show */
	if ((r->kind == POLICY_K_PAUSE ||
	    (r->kind == POLICY_K_TOKEN_QUOTA && r->has_window)) &&
	    !rule_window(o, p, r, now))
		return o;
	if (rules_peek(&d->rules, i, now, mono, &from, &to, &u) == -1)
		return o;
	if (to != 0) {
		set_time(o, "period_start", p, from);
		set_time(o, "period_end", p, to);
	}
	rule_used(o, r, &u);
	return o;
}

static json_t *
policy_json(struct tgd *d)
{
	const struct policy *p = d->policy;
	int64_t now = tgd_now_ns(), mono = tgd_mono_ns();
	json_t *rules = json_array(), *o;
	char when[64];

	if (p == NULL)
		return json_null();
	for (int i = 0; i < p->nrules; i++)
		if ((o = rule_json(d, i, now, mono)))
			json_array_append_new(rules, o);
	policy_fmt_time(p, d->policy_loaded_ns, when, sizeof(when));
	return json_pack("{s:s, s:b, s:s, s:o}",
	    "file", d->policy_file,
	    "builtin", d->policy_builtin,
	    "loaded_at", when,
	    "rules", rules);
}

/* Root sees everything; another user its own processes and runs. */
static int
visible(uid_t caller, uid_t owner)
{
	return caller == 0 || caller == owner;
}

json_t *
status_json(struct tgd *d, uid_t uid)
{
	json_t *procs = json_array(), *runs = json_array(), *doc;

	for (const struct proc *p = d->procs_all; p; p = p->all_next)
		if (visible(uid, p->peer->uid))
			json_array_append_new(procs, proc_json(p));
	for (const struct run *r = d->runs.all; r; r = r->all_next)
		if (visible(uid, r->owner))
			json_array_append_new(runs, run_status(r));
	doc = json_pack("{s:i, s:o, s:{s:I, s:i}, s:o, s:o, s:o, s:o}",
	    "schema_version", STATUS_SCHEMA_VERSION,
	    "daemon", daemon_json(d),
	    "ledger", "records", (json_int_t)ledger_count(d->rlg),
	    "schema_version", LEDGER_SCHEMA_VERSION,
	    "health", health_json(d),
	    "processes", procs,
	    "runs", runs,
	    "policy", policy_json(d));
	/* audit mode: host-wide server names, for root only */
	if (doc && d->audit && uid == 0)
		json_object_set_new(doc, "unmetered_connections",
		    unmetered_json());
	return doc;
}

/* The page's closed holds plus each used device's hold in progress. */
static uint64_t
proc_held(const struct proc *p)
{
	const struct tg_counters_page *c = p->cpage;
	int64_t now = tgd_mono_ns();
	uint64_t held;

	if (c == NULL)
		return 0;
	held = __atomic_load_n(&c->gpu_held_ns, __ATOMIC_RELAXED);
	for (int i = 0; i < TG_PAGE_GPUS; i++)
		if (__atomic_load_n(&c->gpu[i].used, __ATOMIC_ACQUIRE) == 1)
			held = sat_add(held, slot_live(&c->gpu[i], now));
	return held;
}

/* Live counters: the shim writes them with relaxed atomics. */
static json_t *
top_proc(const struct proc *p)
{
	const struct tg_counters_page *c = p->cpage;
	json_t *o = proc_json(p);

#define LOAD(f) (json_int_t)(c ? __atomic_load_n(&c->f, __ATOMIC_RELAXED) : 0)
	json_object_set_new(o, "input_tokens", json_integer(
	    (json_int_t)p->input_tokens));
	json_object_set_new(o, "output_tokens", json_integer(
	    (json_int_t)p->output_tokens));
	json_object_set_new(o, "recorded_gpu_launches", json_integer(
	    (json_int_t)p->gpu_launches));
	json_object_set_new(o, "gpu_launches", json_integer(LOAD(gpu_launches)));
	json_object_set_new(o, "gpu_busy_ns", json_integer(LOAD(gpu_busy_ns)));
	json_object_set_new(o, "gpu_held_ns", json_integer(ji(proc_held(p))));
	json_object_set_new(o, "gpu_mem_bytes", json_integer(LOAD(gpu_mem_bytes)));
	json_object_set_new(o, "gpu_mem_peak_bytes",
	    json_integer(LOAD(gpu_mem_peak_bytes)));
	json_object_set_new(o, "llm_requests_seen",
	    json_integer(LOAD(llm_requests)));
#undef LOAD
	return o;
}

static int
by_cost(const void *a, const void *b)
{
	const struct proc *x = *(const struct proc *const *)a;
	const struct proc *y = *(const struct proc *const *)b;

	if (x->cost != y->cost)
		return x->cost < y->cost ? 1 : -1;
	return x->owner.id < y->owner.id ? -1 : x->owner.id > y->owner.id;
}

json_t *
top_json(struct tgd *d, uid_t uid)
{
	const struct proc **v;
	json_t *arr = json_array();
	size_t n = 0, i = 0;

	for (const struct proc *p = d->procs_all; p; p = p->all_next)
		if (visible(uid, p->peer->uid))
			n++;
	if ((v = calloc(n ? n : 1, sizeof(*v))) == NULL) {
		json_decref(arr);
		return NULL;
	}
	for (const struct proc *p = d->procs_all; p && i < n; p = p->all_next)
		if (visible(uid, p->peer->uid))
			v[i++] = p;
	qsort(v, n, sizeof(*v), by_cost);
	for (i = 0; i < n; i++)
		json_array_append_new(arr, top_proc(v[i]));
	free(v);
	return json_pack("{s:i, s:o}", "schema_version", STATUS_SCHEMA_VERSION,
	    "processes", arr);
}
