/* gate.c — admission of a held LLM request; see gate.h. */
#include "gate.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "config.h"
#include "instance.h"
#include "llm_record.h"
#include "llm_refuse.h"
#include "meter.h"
#include "shim.h"
#include "tollgate.h"

int
shim_gate_needed(void)
{
	uint32_t pol;

	if (shim_cfg.mode == TG_MODE_OBSERVE)
		return 0;
	/* Once learned, never wait for the connection's lock: the settler
	 * thread holds it for a whole batch. Taken only when free (a past
	 * deadline); else the bits last seen. */
	shim_inside++;
	if (shim_conn_policy_cached() & SHIM_POLICY_LEARNED)
		pol = shim_conn_policy(shim_instance_sync(), 0, 0);
	else
		pol = shim_conn_policy(shim_instance_sync(),
		    shim_now_mono() + shim_call_ns(), 1);
	shim_inside--;
	if (shim_cfg.mode == TG_MODE_OFF && !(pol & TG_REG_MODE_OFF_REFUSED))
		return 0;
	if (!(pol & SHIM_POLICY_LEARNED))       /* no daemon: the fail mode */
		return shim_cfg.fail_closed || (pol & TG_REG_FAIL_CLOSED);
	return !(pol & TG_REG_LLM_NO_ADMIT);
}

/* A delay is slept whole, whatever signals come (the request waits). */
static void
sleep_ms(uint32_t ms)
{
	struct timespec t = { ms / 1000, (long)(ms % 1000) * 1000000 };
	int saved = errno;

	while (nanosleep(&t, &t) == -1 && errno == EINTR)
		;
	errno = saved;
}

/* What a refusal leaves in the ledger when the daemon wrote nothing: a
 * throttle answered here, or a fail-closed deny (spooled). Like the
 * daemon's refusal records: http_status 0, the provider never saw it. */
static void
refusal_record(const struct llm_req *r, const struct tollgate_verdict *v,
    const char *decision)
{
	struct tg_record rec;

	memset(&rec, 0, sizeof(rec));
	rec.event_time_ns = shim_now_real();
	rec.kind = TG_KIND_LLM;
	rec.source = TG_SOURCE_SHIM;
	rec.flags = TG_REC_REFUSED;     /* no provider status: never sent */
	tg_strlcpy(rec.provider, llm_provider_name(r->provider),
	    sizeof(rec.provider));
	tg_strlcpy(rec.model, r->model, sizeof(rec.model));
	tg_strlcpy(rec.endpoint, r->endpoint, sizeof(rec.endpoint));
	tg_strlcpy(rec.decision, decision, sizeof(rec.decision));
	tg_strlcpy(rec.rule, v->rule, sizeof(rec.rule));
	shim_meter_tags(rec.tags, sizeof(rec.tags), r->tags);
	shim_inside++;
	shim_meter_settle(&rec);
	shim_inside--;
}

/* A response that always fits, when the rule's own cannot be built. */
static const char plain_429[] =
    "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
    "Content-Length: 77\r\nConnection: close\r\nx-should-retry: false\r\n"
    "\r\n{\"error\":{\"message\":\"tollgate: request refused\",\"type\":"
    "\"insufficient_quota\"}}";

static void
refuse(const struct llm_req *r, const struct tollgate_verdict *v,
    struct shim_gate *g)
{
	int throttle = v->decision == TOLLGATE_DELAY;
	unsigned retry = (v->delay_ms + 999) / 1000;
	ssize_t n = -1;

	g->outcome = SHIM_GATE_REFUSE;
	if ((g->resp = malloc(LLM_REFUSE_BUF)) != NULL)
		n = llm_refusal_build(r, throttle ? LLM_REFUSE_THROTTLE :
		    LLM_REFUSE_DENY, v->rule, v->reason, v->reset_time_ns,
		    shim_now_real(), retry, g->resp, LLM_REFUSE_BUF);
	if (n < 0) {
		free(g->resp);
		g->resp = strdup(plain_429);
		n = g->resp ? (ssize_t)strlen(plain_429) : 0;
	}
	g->nresp = (size_t)n;
	if (throttle || !v->from_daemon)
		refusal_record(r, v, throttle ? "delay" : "deny");
}

void
shim_gate_ask(const struct llm_req *r, int nonblock, struct shim_gate *g)
{
	struct tollgate_verdict v;
	char tags[256];

	memset(g, 0, sizeof(*g));
	shim_meter_tags(tags, sizeof(tags), r->tags);
	for (;;) {
		g->admit_id = shim_admit_tagged(llm_provider_name(r->provider),
		    r->model, r->endpoint, r->est_input_tokens,
		    r->max_tokens > 0 ? (uint64_t)r->max_tokens : 0, tags, &v);
		if (v.decision == TOLLGATE_ALLOW) {
			g->outcome = SHIM_GATE_SEND;
			return;
		}
		tg_strlcpy(g->rule, v.rule, sizeof(g->rule));
		if (v.decision != TOLLGATE_DELAY || nonblock)
			break;
		sleep_ms(v.delay_ms ? v.delay_ms : 1);
		g->delay_ms += v.delay_ms;
	}
	refuse(r, &v, g);
}
