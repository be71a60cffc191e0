/* proto.c — validation helpers for the wire protocol (see proto.h). */
#include "proto.h"

#include <string.h>

long
tg_payload_size(uint16_t type)
{
	switch (type) {
	case TG_MSG_REGISTER: return sizeof(struct tg_register);
	case TG_MSG_ADMIT: return sizeof(struct tg_admit);
	case TG_MSG_ADMIT_TAGS: return sizeof(struct tg_admit_tags);
	case TG_MSG_RECORD: return sizeof(struct tg_record);
	case TG_MSG_RELEASE: return sizeof(struct tg_release);
	case TG_MSG_STATUS: return 0;
	case TG_MSG_REPORT: return sizeof(struct tg_report_req);
	case TG_MSG_RUN_BEGIN: return sizeof(struct tg_run_begin);
	case TG_MSG_RUN_END: return sizeof(struct tg_run_end);
	case TG_MSG_TOP: return 0;
	case TG_MSG_IDLE: return 0;
	case TG_MSG_POLICY_SHOW: return 0;
	case TG_MSG_POLICY_APPLY: return sizeof(struct tg_policy_apply);
	case TG_MSG_RUN_POLICY: return sizeof(struct tg_run_policy);
	case TG_MSG_OK: return 0;
	case TG_MSG_FAIL: return sizeof(struct tg_fail);
	case TG_MSG_REGISTERED: return sizeof(struct tg_registered);
	case TG_MSG_VERDICT: return sizeof(struct tg_verdict);
	case TG_MSG_ACK: return sizeof(struct tg_ack);
	default: return -1; /* TG_MSG_JSON and unknown types */
	}
}

static int
terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

#define STR_OK(p, f) terminated((p)->f, sizeof((p)->f))

static int
strings_ok(uint16_t type, const void *payload)
{
	switch (type) {
	case TG_MSG_REGISTER: {
		const struct tg_register *r = payload;
		return STR_OK(r, tags) && STR_OK(r, run) && r->mode <= TG_MODE_OFF;
	}
	case TG_MSG_ADMIT: {
		const struct tg_admit *a = payload;
		return STR_OK(a, provider) && STR_OK(a, model) && STR_OK(a, endpoint);
	}
	case TG_MSG_ADMIT_TAGS: {
		const struct tg_admit_tags *t = payload;
		return strings_ok(TG_MSG_ADMIT, &t->a) && STR_OK(t, tags);
	}
	case TG_MSG_RECORD: {
		const struct tg_record *r = payload;
		return STR_OK(r, provider) && STR_OK(r, model) && STR_OK(r, endpoint) &&
		    STR_OK(r, tags) && STR_OK(r, exe) && STR_OK(r, decision) &&
		    STR_OK(r, rule) && STR_OK(r, run) && r->kind <= TG_KIND_GPU &&
		    r->source <= TG_SOURCE_EBPF;
	}
	case TG_MSG_FAIL: return STR_OK((const struct tg_fail *)payload, text);
	case TG_MSG_REPORT: {
		const struct tg_report_req *q = payload;
		return STR_OK(q, by) && STR_OK(q, run);
	}
	case TG_MSG_RUN_BEGIN: {
		const struct tg_run_begin *b = payload;
		return STR_OK(b, run) && STR_OK(b, tags);
	}
	case TG_MSG_RUN_END: return STR_OK((const struct tg_run_end *)payload, run);
	case TG_MSG_POLICY_APPLY:
		return STR_OK((const struct tg_policy_apply *)payload, name);
	case TG_MSG_RUN_POLICY: {
		const struct tg_run_policy *rp = payload;
		return STR_OK(rp, run) && STR_OK(rp, name);
	}
	case TG_MSG_VERDICT: {
		const struct tg_verdict *v = payload;
		return STR_OK(v, rule) && STR_OK(v, reason) && v->decision <= TG_DENY;
	}
	default: return 1;
	}
}

int
tg_msg_check(const void *pkt, size_t n, const char **why)
{
	struct tg_hdr h;
	long want;

	if (n < sizeof(h)) {
		*why = "truncated header";
		return TG_ERR_BAD_LENGTH;
	}
	memcpy(&h, pkt, sizeof(h));
	if (h.magic != TG_PROTO_MAGIC) {
		*why = "bad magic";
		return TG_ERR_BAD_MAGIC;
	}
	if (h.version < TG_PROTO_OLDEST || h.version > TG_PROTO_VERSION) {
		*why = "unsupported protocol version";
		return TG_ERR_BAD_VERSION;
	}
	if (n > TG_MSG_MAX || h.len != n - sizeof(h)) {
		*why = "length field does not match the packet";
		return TG_ERR_BAD_LENGTH;
	}
	want = tg_payload_size(h.type);
	if (h.type == TG_MSG_JSON) {
		if (h.len < sizeof(struct tg_json_head)) {
			*why = "JSON packet without its flags";
			return TG_ERR_BAD_LENGTH;
		}
		return 0;
	}
	if (want < 0) {
		*why = "unknown message type";
		return TG_ERR_BAD_TYPE;
	}
	if ((long)h.len != want) {
		*why = "payload size does not match the message type";
		return TG_ERR_BAD_LENGTH;
	}
	if (!strings_ok(h.type, (const char *)pkt + sizeof(h))) {
		*why = "unterminated string or value out of range";
		return TG_ERR_BAD_FIELD;
	}
	return 0;
}

void
tg_hdr_init(struct tg_hdr *h, uint16_t type, uint32_t len, uint32_t seq)
{
	h->magic = TG_PROTO_MAGIC;
	h->version = TG_PROTO_VERSION;
	h->type = type;
	h->len = len;
	h->seq = seq;
}

void
tg_strlcpy(char *dst, const char *src, size_t size)
{
	size_t n;

	if (size == 0)
		return;
	n = src ? strnlen(src, size - 1) : 0;
	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}
