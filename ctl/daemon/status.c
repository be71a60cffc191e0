/* status.c — see status.h. */
#include "status.h"

#include <stdlib.h>
#include <unistd.h>

#include "metrics.h"

static const char *const mode_names[] = { "enforce", "observe", "off" };

static json_t *
proc_json(const struct proc *p)
{
	return json_pack("{s:I, s:i, s:s, s:I, s:s, s:s, s:s, s:i, s:b, s:I, "
	    "s:I, s:f, s:I}",
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
	    "cost_nano_usd", (json_int_t)p->cost);
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

/* Root sees everything; another user its own processes and runs. */
static int
visible(uid_t caller, uid_t owner)
{
	return caller == 0 || caller == owner;
}

json_t *
status_json(struct tgd *d, uid_t uid)
{
	json_t *procs = json_array(), *runs = json_array();

	for (const struct proc *p = d->procs_all; p; p = p->all_next)
		if (visible(uid, p->peer->uid))
			json_array_append_new(procs, proc_json(p));
	for (const struct run *r = d->runs.all; r; r = r->all_next)
		if (visible(uid, r->owner))
			json_array_append_new(runs, run_status(r));
	return json_pack("{s:i, s:o, s:{s:I, s:i}, s:o, s:o, s:o}",
	    "schema_version", STATUS_SCHEMA_VERSION,
	    "daemon", daemon_json(d),
	    "ledger", "records", (json_int_t)ledger_count(d->rlg),
	    "schema_version", LEDGER_SCHEMA_VERSION,
	    "health", health_json(d),
	    "processes", procs,
	    "runs", runs);
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
	json_object_set_new(o, "gpu_held_ns", json_integer(LOAD(gpu_held_ns)));
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
