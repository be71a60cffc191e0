/* test_shim_xchg.c — the admission hold of one metered connection
 * (preload/xchg.h), without sockets: which writes are held, when the
 * request is complete for admission, what is released and answered. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "meter.h"
#include "xchg.h"

#include "shim_records.h"

static enum shim_xw
w(struct shim_xchg *x, const char *s, int gate, size_t *took)
{
	struct iovec v = { (void *)s, strlen(s) };

	return shim_xchg_write(x, &v, 1, strlen(s), gate, took);
}

static const char hdrs[] = "POST /v1/chat/completions HTTP/1.1\r\n"
    "Host: api.openai.com\r\nContent-Length: 47\r\n\r\n";
static const char body[] = "{\"model\":\"gpt-4o\",\"max_tokens\":7,\"messages\":";
static const char body_end[] = "[]}";

/* Headers and body held until the body is complete, then admitted and
 * released whole; the record carries the admission's id and delay. */
static void
test_hold_admit(void **state)
{
	struct shim_xchg x;
	size_t took, n;
	char *held;
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Type: "
	    "application/json\r\nContent-Length: 70\r\n\r\n{\"model\":\"gpt-4o"
	    "\",\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}  ";
	struct iovec rv = { (void *)resp, sizeof(resp) - 1 };
	char cl[64];

	ngot = 0;
	shim_xchg_init(&x);
	assert_int_equal(shim_xchg_start(&x), 0);
	/* Content-Length 47 is body + body_end: 44 + 3 */
	snprintf(cl, sizeof(cl), "%zu", strlen(body) + strlen(body_end));
	assert_string_equal(cl, "47");
	assert_int_equal(w(&x, hdrs, 0, &took), SHIM_XW_REAL);  /* no gate */
	shim_xchg_end(&x, 0);
	assert_int_equal(shim_xchg_start(&x), 0);
	assert_int_equal(w(&x, hdrs, 1, &took), SHIM_XW_HELD);
	assert_int_equal(took, strlen(hdrs));
	assert_int_equal(w(&x, body, 1, &took), SHIM_XW_HELD);
	assert_int_equal(w(&x, body_end, 1, &took), SHIM_XW_ADMIT);
	assert_int_equal(took, 3);
	assert_string_equal(shim_xchg_request(&x)->model, "gpt-4o");
	assert_int_equal(shim_xchg_request(&x)->max_tokens, 7);
	shim_xchg_admitted(&x, 99, 300, "rps");
	assert_null(shim_xchg_request(&x));
	held = shim_xchg_take_held(&x, &n);
	assert_int_equal(n, strlen(hdrs) + 47);
	assert_memory_equal(held, hdrs, strlen(hdrs));
	free(held);
	shim_xchg_in(&x, &rv, 1, rv.iov_len);
	shim_done_settle(shim_xchg_take(&x));
	assert_int_equal(ngot, 1);
	assert_int_equal(got[0].admit_id, 99);
	assert_int_equal(got[0].delay_ms, 300);
	assert_string_equal(got[0].decision, "delay");
	assert_string_equal(got[0].rule, "rps");
	assert_int_equal(got[0].input_tokens, 3);
	/* the next request is held again */
	assert_int_equal(w(&x, hdrs, 1, &took), SHIM_XW_HELD);
	shim_xchg_end(&x, 0);
}

/* Expect: 100-continue: the headers go ahead once, the body is held. A
 * request that is not an LLM call is released at its headers' end. */
static void
test_continue_and_pass(void **state)
{
	struct shim_xchg x;
	size_t took, n;
	static const char ex[] = "POST /v1/chat/completions HTTP/1.1\r\n"
	    "Host: a\r\nContent-Length: 47\r\nExpect: 100-continue\r\n\r\n";
	static const char get[] = "POST /upload HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 100\r\n\r\n";

	shim_xchg_init(&x);
	assert_int_equal(shim_xchg_start(&x), 0);
	assert_int_equal(w(&x, ex, 1, &took), SHIM_XW_RELEASE);
	free(shim_xchg_take_held(&x, &n));
	assert_int_equal(n, strlen(ex));
	assert_int_equal(w(&x, body, 1, &took), SHIM_XW_HELD);
	assert_int_equal(w(&x, body_end, 1, &took), SHIM_XW_ADMIT);
	free(shim_xchg_take_held(&x, &n));
	assert_int_equal(n, 47);
	shim_xchg_end(&x, 0);

	assert_int_equal(shim_xchg_start(&x), 0);
	assert_int_equal(w(&x, get, 1, &took), SHIM_XW_RELEASE);
	free(shim_xchg_take_held(&x, &n));
	assert_int_equal(n, strlen(get));
	/* its body is not a request start: written as it is */
	assert_int_equal(w(&x, "0123456789", 1, &took), SHIM_XW_REAL);
	shim_xchg_end(&x, 0);
}

/* Refused: later writes are swallowed, reads get the answer (a peek
 * leaves it), then end of file; no record for the refused request. */
static void
test_refused_answer(void **state)
{
	struct shim_xchg x;
	size_t took;
	char buf[8], *resp = strdup("HTTP/1.1 429 X\r\n\r\n");
	struct iovec v = { buf, sizeof(buf) };

	ngot = 0;
	shim_xchg_init(&x);
	assert_int_equal(shim_xchg_start(&x), 0);
	w(&x, hdrs, 1, &took);
	w(&x, body, 1, &took);
	assert_int_equal(w(&x, body_end, 1, &took), SHIM_XW_ADMIT);
	shim_xchg_refused(&x, resp, strlen(resp));
	assert_int_equal(w(&x, "more", 1, &took), SHIM_XW_SWALLOW);
	assert_int_equal(took, 4);
	assert_int_equal(shim_xchg_answer(&x, &v, 1, 4, 1), 4);
	assert_int_equal(shim_xchg_answer(&x, &v, 1, 8, 0), 8);
	assert_memory_equal(buf, "HTTP/1.1", 8);
	assert_int_equal(shim_xchg_answer(&x, &v, 1, 8, 0), 8);
	assert_int_equal(shim_xchg_answer(&x, &v, 1, 8, 0), 2);
	assert_int_equal(shim_xchg_answer(&x, &v, 1, 8, 0), 0);
	shim_xchg_end(&x, 1);
	shim_done_settle(shim_xchg_take(&x));
	assert_int_equal(ngot, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hold_admit),
		cmocka_unit_test(test_continue_and_pass),
		cmocka_unit_test(test_refused_answer),
	};

	shim_meter_settle = catch_record;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
