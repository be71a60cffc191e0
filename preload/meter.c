/* meter.c — an LLM exchange becomes a ledger record; see meter.h. */
#include "meter.h"

#include <string.h>

#include "config.h"
#include "llm_record.h"
#include "shim.h"

int (*shim_meter_settle)(struct tg_record *) = shim_settle_record;

/* Does "k=v,k=v" tags name key k (klen bytes)? */
static int
has_key(const char *tags, const char *k, size_t klen)
{
	while (*tags) {
		if (strncmp(tags, k, klen) == 0 && tags[klen] == '=')
			return 1;
		tags += strcspn(tags, ",");
		tags += *tags == ',';
	}
	return 0;
}

/* The request's X-Tollgate-Tags, then the process's tags whose keys it
 * does not name; "" when the request has none (the daemon then uses the
 * registration's). A header that is not valid TOLLGATE_TAGS syntax is
 * ignored. Pairs that do not fit are left out whole. */
void
shim_meter_tags(char *out, size_t size, const char *req_tags)
{
	size_t len;

	out[0] = '\0';
	if (req_tags[0] == '\0' || !shim_tags_valid(req_tags) ||
	    strlen(req_tags) >= size)
		return;
	tg_strlcpy(out, req_tags, size);
	len = strlen(out);
	for (const char *p = shim_cfg.tags; *p; ) {
		size_t n = strcspn(p, ","), k = strcspn(p, "=");

		if (k < n && !has_key(req_tags, p, k) && len + 1 + n < size) {
			out[len++] = ',';
			memcpy(out + len, p, n);
			out[len += n] = '\0';
		}
		p += n;
		p += *p == ',';
	}
}

void
shim_meter_fill(struct tg_record *rec, const struct llm_exchange *x,
    uint32_t latency_ms)
{
	memset(rec, 0, sizeof(*rec));
	rec->event_time_ns = shim_now_real();
	rec->kind = TG_KIND_LLM;
	rec->source = TG_SOURCE_SHIM;
	rec->latency_ms = latency_ms;
	llm_record_usage(rec, x);
	shim_meter_tags(rec->tags, sizeof(rec->tags), x->req.tags);
}
