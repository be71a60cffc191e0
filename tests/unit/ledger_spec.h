/* ledger_spec.h — records written as one table row each (struct spec) and
 * the report helpers, shared by test_ledger.c and test_ledger_report.c.
 * Include after cmocka.h and ledger_fixture.h. */
#ifndef LEDGER_SPEC_H
#define LEDGER_SPEC_H

#include <stdint.h>
#include <string.h>

#include <jansson.h>

struct spec {
	uint64_t id;
	int64_t t;
	const char *model, *tags, *run;
	uint32_t uid;
	uint64_t in, out;
	int64_t cost;
};

static void
entry(struct ledger_entry *e, const struct spec *s)
{
	memset(e, 0, sizeof(*e));
	memcpy(e->rec.id, &s->id, sizeof(s->id));
	e->rec.id[15] = 0xab; /* exercise the high bytes too */
	e->rec.event_time_ns = s->t;
	e->rec.kind = TG_KIND_LLM;
	e->rec.source = TG_SOURCE_SHIM;
	e->rec.http_status = 200;
	e->rec.input_tokens = s->in;
	e->rec.output_tokens = s->out;
	tg_strlcpy(e->rec.provider, "openai", sizeof(e->rec.provider));
	tg_strlcpy(e->rec.model, s->model ? s->model : "gpt-4o",
	    sizeof(e->rec.model));
	tg_strlcpy(e->rec.tags, s->tags ? s->tags : "", sizeof(e->rec.tags));
	tg_strlcpy(e->rec.run, s->run ? s->run : "", sizeof(e->rec.run));
	tg_strlcpy(e->rec.decision, "allow", sizeof(e->rec.decision));
	e->uid = s->uid;
	e->pid = 4242;
	e->cost_nano_usd = s->cost;
}

static void
insert_specs(struct ledger *lg, const struct spec *s, size_t n, int *ins)
{
	struct ledger_entry *e = calloc(n, sizeof(*e));
	size_t i;

	assert_non_null(e);
	for (i = 0; i < n; i++)
		entry(&e[i], &s[i]);
	assert_int_equal(ledger_insert(lg, e, n, ins), 0);
	free(e);
}

static json_t *
report(struct ledger *lg, int64_t since, int64_t until, const char *by,
    const char *run, int has_uid, uint32_t uid)
{
	struct ledger_query q = { since, until, by, run, has_uid, uid };
	char err[512] = "";
	json_t *doc = ledger_report(lg, &q, err, sizeof(err));

	if (doc == NULL)
		fail_msg("ledger_report: %s", err);
	return doc;
}

static int64_t
jint(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	if (!json_is_integer(v))
		fail_msg("%s: not an integer", k);
	return json_integer_value(v);
}

static json_t *
totals(json_t *doc)
{
	return json_object_get(doc, "totals");
}

#endif
