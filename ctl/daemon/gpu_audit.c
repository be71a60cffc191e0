/* gpu_audit.c — see gpu_audit.h. */
#include <string.h>

#include "audit.h"
#include "daemon.h"
#include "gpu_audit.h"
#include "ledger.h"
#include "proto.h"

void
gpu_audit_record(struct tgd *d, const struct ledger_entry *id,
    uint64_t launches)
{
	struct ledger_entry e = *id;
	struct tg_record *r = &e.rec;

	r->event_time_ns = tgd_now_ns();
	r->kind = TG_KIND_GPU;
	r->source = TG_SOURCE_EBPF;
	r->gpu_launches = launches;
	tg_strlcpy(r->provider, "nvidia", sizeof(r->provider));
	tg_strlcpy(r->model, "unknown", sizeof(r->model));
	tg_strlcpy(r->endpoint, "gpu", sizeof(r->endpoint));
	record_audit(d, &e);
}
