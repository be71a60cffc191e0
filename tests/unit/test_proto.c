/* test_proto.c — tg_msg_check against malformed, oversized, truncated and
 * wrong-version packets, and a good packet of every fixed type. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "proto.h"

static unsigned char pkt[TG_MSG_MAX + 64];

/* A zeroed packet of type with its exact payload size. */
static size_t
make(uint16_t type, size_t len)
{
	struct tg_hdr h;

	memset(pkt, 0, sizeof(pkt));
	tg_hdr_init(&h, type, (uint32_t)len, 7);
	memcpy(pkt, &h, sizeof(h));
	return sizeof(h) + len;
}

static void *
payload(void)
{
	return pkt + sizeof(struct tg_hdr);
}

static void
set_version(uint16_t v)
{
	struct tg_hdr h;

	memcpy(&h, pkt, sizeof(h));
	h.version = v;
	memcpy(pkt, &h, sizeof(h));
}

static void
set_len(uint32_t len)
{
	struct tg_hdr h;

	memcpy(&h, pkt, sizeof(h));
	h.len = len;
	memcpy(pkt, &h, sizeof(h));
}

static const uint16_t fixed_types[] = { TG_MSG_REGISTER, TG_MSG_ADMIT,
	TG_MSG_RECORD, TG_MSG_RELEASE, TG_MSG_STATUS, TG_MSG_REPORT,
	TG_MSG_RUN_BEGIN, TG_MSG_RUN_END, TG_MSG_TOP, TG_MSG_OK, TG_MSG_FAIL,
	TG_MSG_REGISTERED, TG_MSG_VERDICT, TG_MSG_ACK };
#define NFIXED (sizeof(fixed_types) / sizeof(fixed_types[0]))

static void
test_good_fixed(void **state)
{
	const char *why = NULL;
	size_t i, n;
	long sz;

	for (i = 0; i < NFIXED; i++) {
		sz = tg_payload_size(fixed_types[i]);
		assert_true(sz >= 0);
		n = make(fixed_types[i], (size_t)sz);
		assert_int_equal(tg_msg_check(pkt, n, &why), 0);
	}
	/* sizes of the structs that carry data */
	assert_int_equal(tg_payload_size(TG_MSG_RECORD),
	    sizeof(struct tg_record));
	assert_int_equal(tg_payload_size(TG_MSG_ACK), sizeof(struct tg_ack));
	assert_int_equal(tg_payload_size(TG_MSG_STATUS), 0);
}

static void
test_good_json(void **state)
{
	const char *why;
	size_t n;

	n = make(TG_MSG_JSON, sizeof(struct tg_json_head) + 2);
	memcpy((char *)payload() + sizeof(struct tg_json_head), "{}", 2);
	assert_int_equal(tg_msg_check(pkt, n, &why), 0);
	/* a JSON packet too short for its flags */
	n = make(TG_MSG_JSON, 2);
	assert_int_equal(tg_msg_check(pkt, n, &why), TG_ERR_BAD_LENGTH);
	assert_string_equal(why, "JSON packet without its flags");
}

static void
test_bad_magic(void **state)
{
	const char *why;
	size_t n = make(TG_MSG_OK, 0);

	pkt[0] ^= 0xff;
	assert_int_equal(tg_msg_check(pkt, n, &why), TG_ERR_BAD_MAGIC);
	assert_string_equal(why, "bad magic");
}

static void
test_bad_version(void **state)
{
	const char *why;
	size_t n = make(TG_MSG_OK, 0);

	set_version(0);
	assert_int_equal(tg_msg_check(pkt, n, &why), TG_ERR_BAD_VERSION);
	assert_string_equal(why, "unsupported protocol version");
	set_version(TG_PROTO_VERSION + 1);
	assert_int_equal(tg_msg_check(pkt, n, &why), TG_ERR_BAD_VERSION);
	set_version(TG_PROTO_OLDEST);
	assert_int_equal(tg_msg_check(pkt, n, &why), 0);
	set_version(TG_PROTO_VERSION);
	assert_int_equal(tg_msg_check(pkt, n, &why), 0);
}

static void
test_truncated(void **state)
{
	const char *why;
	size_t n;

	/* shorter than a header */
	make(TG_MSG_OK, 0);
	assert_int_equal(tg_msg_check(pkt, sizeof(struct tg_hdr) - 1, &why),
	    TG_ERR_BAD_LENGTH);
	assert_string_equal(why, "truncated header");
	assert_int_equal(tg_msg_check(pkt, 0, &why), TG_ERR_BAD_LENGTH);
	/* a record cut short: len says more than arrived */
	n = make(TG_MSG_RECORD, sizeof(struct tg_record));
	assert_int_equal(tg_msg_check(pkt, n - 1, &why), TG_ERR_BAD_LENGTH);
	assert_string_equal(why, "length field does not match the packet");
}

static void
test_oversized(void **state)
{
	const char *why;
	size_t n;

	/* a JSON packet one byte past TG_MSG_MAX */
	n = make(TG_MSG_JSON, TG_MSG_MAX + 1 - sizeof(struct tg_hdr));
	assert_int_equal(n, TG_MSG_MAX + 1);
	assert_int_equal(tg_msg_check(pkt, n, &why), TG_ERR_BAD_LENGTH);
	/* exactly TG_MSG_MAX is fine */
	n = make(TG_MSG_JSON, TG_MSG_MAX - sizeof(struct tg_hdr));
	assert_int_equal(tg_msg_check(pkt, n, &why), 0);
	/* a huge len field on a small packet */
	n = make(TG_MSG_OK, 0);
	set_len(0xffffffffu);
	assert_int_equal(tg_msg_check(pkt, n, &why), TG_ERR_BAD_LENGTH);
}

static void
test_wrong_size(void **state)
{
	const char *why;
	size_t i, n;
	long sz;

	for (i = 0; i < NFIXED; i++) {
		sz = tg_payload_size(fixed_types[i]);
		n = make(fixed_types[i], (size_t)sz + 1);
		assert_int_equal(tg_msg_check(pkt, n, &why), TG_ERR_BAD_LENGTH);
		assert_string_equal(why,
		    "payload size does not match the message type");
		if (sz == 0)
			continue;
		n = make(fixed_types[i], (size_t)sz - 1);
		assert_int_equal(tg_msg_check(pkt, n, &why), TG_ERR_BAD_LENGTH);
	}
}

static void
test_unknown_type(void **state)
{
	static const uint16_t bad[] = { 0, 6, 19, 29, 39, 46, 0xffff };
	const char *why;
	size_t i, n;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = make(bad[i], 0);
		assert_int_equal(tg_msg_check(pkt, n, &why), TG_ERR_BAD_TYPE);
		assert_string_equal(why, "unknown message type");
	}
}

static void
test_unterminated(void **state)
{
	const char *why;
	struct tg_record *r;
	struct tg_register *g;
	struct tg_admit *a;
	size_t n;

	n = make(TG_MSG_RECORD, sizeof(*r));
	r = payload();
	memset(r->model, 'x', sizeof(r->model));
	assert_int_equal(tg_msg_check(pkt, n, &why), TG_ERR_BAD_FIELD);
	assert_string_equal(why, "unterminated string or value out of range");
	r->model[sizeof(r->model) - 1] = '\0';
	assert_int_equal(tg_msg_check(pkt, n, &why), 0);
	memset(r->run, 'r', sizeof(r->run)); /* the last string field */
	assert_int_equal(tg_msg_check(pkt, n, &why), TG_ERR_BAD_FIELD);

	n = make(TG_MSG_REGISTER, sizeof(*g));
	g = payload();
	memset(g->tags, 't', sizeof(g->tags));
	assert_int_equal(tg_msg_check(pkt, n, &why), TG_ERR_BAD_FIELD);

	n = make(TG_MSG_ADMIT, sizeof(*a));
	a = payload();
	memset(a->endpoint, 'e', sizeof(a->endpoint));
	assert_int_equal(tg_msg_check(pkt, n, &why), TG_ERR_BAD_FIELD);
}

static void
test_enum_range(void **state)
{
	const char *why;
	struct tg_record *r;
	struct tg_register *g;
	size_t n;

	n = make(TG_MSG_RECORD, sizeof(*r));
	r = payload();
	r->kind = TG_KIND_GPU + 1;
	assert_int_equal(tg_msg_check(pkt, n, &why), TG_ERR_BAD_FIELD);
	r->kind = TG_KIND_GPU;
	r->source = TG_SOURCE_EBPF + 1;
	assert_int_equal(tg_msg_check(pkt, n, &why), TG_ERR_BAD_FIELD);

	n = make(TG_MSG_REGISTER, sizeof(*g));
	g = payload();
	g->mode = TG_MODE_OFF + 1;
	assert_int_equal(tg_msg_check(pkt, n, &why), TG_ERR_BAD_FIELD);
}

static void
test_strlcpy(void **state)
{
	char buf[4];

	tg_strlcpy(buf, "abcdef", sizeof(buf));
	assert_string_equal(buf, "abc");
	tg_strlcpy(buf, NULL, sizeof(buf));
	assert_string_equal(buf, "");
	tg_strlcpy(buf, "ab", sizeof(buf));
	assert_string_equal(buf, "ab");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_fixed),
		cmocka_unit_test(test_good_json),
		cmocka_unit_test(test_bad_magic),
		cmocka_unit_test(test_bad_version),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_wrong_size),
		cmocka_unit_test(test_unknown_type),
		cmocka_unit_test(test_unterminated),
		cmocka_unit_test(test_enum_range),
		cmocka_unit_test(test_strlcpy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
