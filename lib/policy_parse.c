/*
 * policy_parse.c — policy JSON → struct policy (see policy.h and
 * policies/README.md). Every field is checked; the first error is reported
 * as "FILE: JSON.PATH: expected …" and no partial policy is returned.
 * Unknown keys are errors, so a typo cannot silently drop a limit.
 */
#include "policy.h"
#include "policy_int.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "log.h"
#include "policy_fields.h"

#define MAX_COUNT  1000000000000000LL                   /* 1e15 */

enum { PAT_EXACT, PAT_PREFIX, PAT_GLOB };

/* ---- tag key slots and globs ---- */

static int
key_slot(struct pctx *c, const char *path, const char *key)
{
	struct policy *p = c->p;

	for (int i = 0; i < p->nkeys; i++)
		if (strcmp(p->keys[i], key) == 0)
			return i;
	if (!pf_ident_ok(key))
		return pf_fail(c, path, "expected a tag key of letters, digits, "
		    "'_', '.', '-' (at most %d)", POLICY_NAME_MAX - 1);
	if (p->nkeys == POLICY_MAX_KEYS)
		return pf_fail(c, path, "more than %d distinct tag keys in one "
		    "policy", POLICY_MAX_KEYS);
	if ((p->keys[p->nkeys] = strdup(key)) == NULL)
		return pf_fail(c, path, "out of memory");
	return p->nkeys++;
}

static int
set_pat(struct pctx *c, const char *path, json_t *v, struct policy_pat *pt)
{
	const char *s = json_is_string(v) ? json_string_value(v) : NULL;
	size_t n = s ? strlen(s) : 0, meta;

	if (s == NULL || n == 0 || n > 255)
		return pf_fail(c, path, "expected a glob string (1 to 255 bytes)");
	if ((pt->text = strdup(s)) == NULL)
		return pf_fail(c, path, "out of memory");
	meta = strcspn(s, "*?[\\");
	if (meta == n)
		pt->how = PAT_EXACT, pt->len = (uint16_t)n;
	else if (meta == n - 1 && s[n - 1] == '*')
		pt->how = PAT_PREFIX, pt->len = (uint16_t)(n - 1);
	else
		pt->how = PAT_GLOB, pt->len = (uint16_t)n;
	return 0;
}

static int
field_of(const char *key)
{
	static const char *const f[] = { "", "user", "model", "provider",
	    "exe", "kind", NULL };

	for (int i = 1; f[i]; i++)
		if (strcmp(f[i], key) == 0)
			return i;
	return POLICY_F_TAG;
}

static int
parse_sel(struct pctx *c, const char *path, const char *key, json_t *v,
    struct policy_sel *s)
{
	char sub[240];
	int slot = 0;

	s->field = (uint8_t)field_of(key);
	if (s->field == POLICY_F_TAG && (slot = key_slot(c, path, key)) < 0)
		return -1;
	s->slot = (uint8_t)slot;
	if (!json_is_array(v))
		return set_pat(c, path, v, &s->pat[s->npat++]);
	if (json_array_size(v) == 0 || json_array_size(v) > POLICY_MAX_PATS)
		return pf_fail(c, path, "expected 1 to %d globs", POLICY_MAX_PATS);
	for (size_t i = 0; i < json_array_size(v); i++) {
		snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
		if (set_pat(c, sub, json_array_get(v, i), &s->pat[s->npat++]) < 0)
			return -1;
	}
	return 0;
}

static int
parse_match(struct pctx *c, const char *rpath, json_t *m,
    struct policy_rule *r)
{
	char path[200];
	const char *k;
	json_t *v;

	r->untagged = -1;
	snprintf(path, sizeof(path), "%s.match", rpath);
	if (m == NULL)
		return 0;
	if (!json_is_object(m))
		return pf_fail(c, path, "expected an object of selectors");
	json_object_foreach(m, k, v) {
		snprintf(path, sizeof(path), "%s.match.%s", rpath, k);
		if (strcmp(k, "untagged") == 0) {
			if (pf_get_bool(c, path, v, &r->untagged) < 0)
				return -1;
			continue;
		}
		if (r->nsel == POLICY_MAX_SELS)
			return pf_fail(c, path, "more than %d selectors",
			    POLICY_MAX_SELS);
		if (parse_sel(c, path, k, v, &r->sel[r->nsel++]) < 0)
			return -1;
	}
	return 0;
}

/* ---- windows ---- */

static int
parse_window(struct pctx *c, const char *rpath, json_t *w,
    struct policy_window *win)
{
	static const char *const keys[] = { "from", "to", "days", NULL };
	char path[200], sub[240];

	snprintf(path, sizeof(path), "%s.window", rpath);
	if (!json_is_object(w))
		return pf_fail(c, path, "expected {\"from\": \"HH:MM\", \"to\": "
		    "\"HH:MM\", \"days\": [...]}");
	if (pf_check_keys(c, path, w, keys) < 0)
		return -1;
	snprintf(sub, sizeof(sub), "%s.from", path);
	if (pf_get_hhmm(c, sub, json_object_get(w, "from"), &win->from) < 0)
		return -1;
	snprintf(sub, sizeof(sub), "%s.to", path);
	if (pf_get_hhmm(c, sub, json_object_get(w, "to"), &win->to) < 0)
		return -1;
	if (win->from == win->to)
		return pf_fail(c, sub, "expected a time other than \"from\"");
	win->days = 0x7f;
	snprintf(sub, sizeof(sub), "%s.days", path);
	if (json_object_get(w, "days"))
		return pf_get_days(c, sub, json_object_get(w, "days"), &win->days);
	return 0;
}

/* ---- rule kinds ---- */

/* Helpers reading the optional/required key k of rule object o. */
#define SUB(k) (snprintf(sub, sizeof(sub), "%s." k, path), sub)

static int
parse_budget(struct pctx *c, const char *path, json_t *o,
    struct policy_rule *r)
{
	static const char *const periods[] = { "day", "week", "month",
	    "total", NULL };
	/* "total" (never resets) is for sandboxes only */
	static const char *const calendar[] = { "day", "week", "month", NULL };
	int is_sb = r->kind == POLICY_K_SANDBOX, per = POLICY_TOTAL;
	char sub[200];
	json_t *v;

	if ((v = json_object_get(o, "period")) != NULL || !is_sb)
		if (pf_get_enum(c, SUB("period"), v, is_sb ? periods : calendar,
		    &per) < 0)
			return -1;
	r->period = per;
	if ((v = json_object_get(o, "limit_usd")) != NULL &&
	    pf_get_usd(c, SUB("limit_usd"), v, &r->limit) < 0)
		return -1;
	if ((v = json_object_get(o, "soft_usd")) != NULL &&
	    pf_get_usd(c, SUB("soft_usd"), v, &r->soft) < 0)
		return -1;
	if (r->limit == 0 && (is_sb || r->soft == 0))
		return pf_fail(c, SUB("limit_usd"), "expected a positive amount "
		    "of USD%s", is_sb ? "" : " (or soft_usd)");
	if (r->limit && r->soft && r->soft >= r->limit)
		return pf_fail(c, SUB("soft_usd"), "expected less than limit_usd");
	if (!is_sb)
		return 0;
	r->action = POLICY_A_SHUTDOWN;
	r->grace_seconds = 30;
	if ((v = json_object_get(o, "action")) != NULL) {
		static const char *const acts[] = { "shutdown", NULL };
		int a;
		if (pf_get_enum(c, SUB("action"), v, acts, &a) < 0)
			return -1;
	}
	if ((v = json_object_get(o, "grace_seconds")) != NULL) {
		int64_t g;
		if (pf_get_count(c, SUB("grace_seconds"), v, 3600, &g) < 0)
			return -1;
		r->grace_seconds = (uint32_t)g;
	}
	return 0;
}

static int
parse_quota(struct pctx *c, const char *path, json_t *o,
    struct policy_rule *r)
{
	char sub[200];
	json_t *v;

	r->action = POLICY_A_DENY;
	if (pf_get_count(c, SUB("max_tokens"), json_object_get(o, "max_tokens"),
	    MAX_COUNT, &r->max_tokens) < 0)
		return -1;
	if ((v = json_object_get(o, "window")) == NULL)
		return 0;
	r->has_window = 1;
	return parse_window(c, path, v, &r->win);
}

static int
parse_rate(struct pctx *c, const char *path, json_t *o,
    struct policy_rule *r)
{
	static const char *const acts[] = { "deny", "delay", NULL };
	char sub[200];
	json_t *v;
	int a = POLICY_A_DELAY;

	if ((v = json_object_get(o, "requests_per_min")) != NULL &&
	    pf_get_count(c, SUB("requests_per_min"), v, MAX_COUNT, &r->rpm) < 0)
		return -1;
	if ((v = json_object_get(o, "tokens_per_min")) != NULL &&
	    pf_get_count(c, SUB("tokens_per_min"), v, MAX_COUNT, &r->tpm) < 0)
		return -1;
	if ((v = json_object_get(o, "concurrent")) != NULL &&
	    pf_get_count(c, SUB("concurrent"), v, 1000000, &r->concurrent) < 0)
		return -1;
	if (!r->rpm && !r->tpm && !r->concurrent)
		return pf_fail(c, SUB("requests_per_min"), "expected at least one "
		    "of requests_per_min, tokens_per_min, concurrent");
	if ((v = json_object_get(o, "action")) != NULL &&
	    pf_get_enum(c, SUB("action"), v, acts, &a) < 0)
		return -1;
	r->action = a;
	if ((v = json_object_get(o, "delay_ms")) != NULL) {
		int64_t ms;
		if (a != POLICY_A_DELAY)
			return pf_fail(c, SUB("delay_ms"), "expected only with "
			    "\"action\": \"delay\"");
		if (pf_get_count(c, SUB("delay_ms"), v, 600000, &ms) < 0)
			return -1;
		r->delay_ms = (uint32_t)ms;
	} else if (a == POLICY_A_DELAY)
		r->delay_ms = 1000;
	return 0;
}

static int
parse_pause(struct pctx *c, const char *path, json_t *o,
    struct policy_rule *r)
{
	static const char *const llm[] = { "deny", "wait", NULL };
	char sub[200];
	json_t *v;
	int a = 1;

	r->has_window = 1;
	if (parse_window(c, path, json_object_get(o, "window"), &r->win) < 0)
		return -1;
	if ((v = json_object_get(o, "llm")) != NULL &&
	    pf_get_enum(c, SUB("llm"), v, llm, &a) < 0)
		return -1;
	r->action = a ? POLICY_A_WAIT : POLICY_A_DENY;
	if ((v = json_object_get(o, "freeze")) != NULL)
		return pf_get_bool(c, SUB("freeze"), v, &r->freeze);
	return 0;
}

static int
parse_require(struct pctx *c, const char *path, json_t *o,
    struct policy_rule *r)
{
	static const char *const acts[] = { "deny", "report", NULL };
	char sub[200], el[240];
	json_t *v = json_object_get(o, "tags");
	int a = 0, slot;

	if (!json_is_array(v) || json_array_size(v) == 0 ||
	    json_array_size(v) > POLICY_MAX_REQ)
		return pf_fail(c, SUB("tags"), "expected a list of 1 to %d tag keys",
		    POLICY_MAX_REQ);
	for (size_t i = 0; i < json_array_size(v); i++) {
		json_t *k = json_array_get(v, i);
		snprintf(el, sizeof(el), "%s[%zu]", sub, i);
		if (!json_is_string(k))
			return pf_fail(c, el, "expected a tag key");
		if ((slot = key_slot(c, el, json_string_value(k))) < 0)
			return -1;
		r->req[r->nreq++] = (uint8_t)slot;
	}
	if ((v = json_object_get(o, "action")) != NULL &&
	    pf_get_enum(c, SUB("action"), v, acts, &a) < 0)
		return -1;
	r->action = a ? POLICY_A_REPORT : POLICY_A_DENY;
	return 0;
}

/* What a GPU process may use; never refuses a request itself: the daemon
 * puts the lowest of the matching rules on each process's verdict page. */
static int
parse_gpu(struct pctx *c, const char *path, json_t *o, struct policy_rule *r)
{
	char sub[200];
	json_t *v;

	r->action = POLICY_A_REPORT;
	if ((v = json_object_get(o, "mem_cap")) != NULL &&
	    pf_get_bytes(c, SUB("mem_cap"), v, POLICY_GPU_MEM_MAX,
	    &r->mem_cap) < 0)
		return -1;
	if ((v = json_object_get(o, "launches_per_sec")) != NULL &&
	    pf_get_count(c, SUB("launches_per_sec"), v, POLICY_GPU_LPS_MAX,
	    &r->launches_per_sec) < 0)
		return -1;
	if (!r->mem_cap && !r->launches_per_sec)
		return pf_fail(c, SUB("mem_cap"), "expected at least one of "
		    "mem_cap, launches_per_sec");
	return 0;
}

/* Keys each kind accepts besides name, kind, match, fail. */
static const char *const kind_names[] = { "budget", "token_quota", "rate",
    "pause", "sandbox", "require_tags", "gpu_limit", NULL };
static const char *const kind_keys[][8] = {
	{ "period", "limit_usd", "soft_usd", NULL },
	{ "max_tokens", "window", NULL },
	{ "requests_per_min", "tokens_per_min", "concurrent", "action",
	    "delay_ms", NULL },
	{ "window", "llm", "freeze", NULL },
	{ "period", "limit_usd", "action", "grace_seconds", NULL },
	{ "tags", "action", NULL },
	{ "mem_cap", "launches_per_sec", NULL },
};

static int
check_rule_keys(struct pctx *c, const char *path, json_t *o, int kind)
{
	const char *all[16] = { "name", "kind", "match", "fail" };
	int n = 4;

	for (int i = 0; kind_keys[kind][i]; i++)
		all[n++] = kind_keys[kind][i];
	all[n] = NULL;
	return pf_check_keys(c, path, o, all);
}

static int
parse_head(struct pctx *c, const char *path, json_t *o, int idx,
    struct policy_rule *r)
{
	static const char *const fails[] = { "open", "closed", NULL };
	char sub[200];
	json_t *v;
	int k;

	if (!json_is_object(o))
		return pf_fail(c, path, "expected a rule object");
	v = json_object_get(o, "name");
	if (!json_is_string(v) || !pf_ident_ok(json_string_value(v)))
		return pf_fail(c, SUB("name"), "expected a name of letters, digits, "
		    "'_', '.', '-' (1 to %d)", POLICY_NAME_MAX - 1);
	snprintf(r->name, sizeof(r->name), "%s", json_string_value(v));
	SUB("name");
	for (int i = 0; i < idx; i++)
		if (strcmp(c->p->rules[i].name, r->name) == 0)
			return pf_fail(c, sub, "expected a unique name ('%s' is "
			    "rules[%d] too)", r->name, i);
	if (pf_get_enum(c, SUB("kind"), json_object_get(o, "kind"), kind_names,
	    &k) < 0)
		return -1;
	r->kind = k;
	if ((v = json_object_get(o, "fail")) != NULL &&
	    pf_get_enum(c, SUB("fail"), v, fails, &r->fail_closed) < 0)
		return -1;
	return 0;
}

static int
parse_rule(struct pctx *c, json_t *o, int idx)
{
	struct policy_rule *r = &c->p->rules[idx];
	char path[32];

	snprintf(path, sizeof(path), "rules[%d]", idx);
	if (parse_head(c, path, o, idx, r) < 0 ||
	    check_rule_keys(c, path, o, r->kind) < 0 ||
	    parse_match(c, path, json_object_get(o, "match"), r) < 0)
		return -1;
	switch (r->kind) {
	case POLICY_K_BUDGET:
	case POLICY_K_SANDBOX:
		return parse_budget(c, path, o, r);
	case POLICY_K_TOKEN_QUOTA:
		return parse_quota(c, path, o, r);
	case POLICY_K_RATE:
		return parse_rate(c, path, o, r);
	case POLICY_K_PAUSE:
		return parse_pause(c, path, o, r);
	case POLICY_K_REQUIRE_TAGS:
		return parse_require(c, path, o, r);
	case POLICY_K_GPU_LIMIT:
		return parse_gpu(c, path, o, r);
	}
	return pf_fail(c, path, "unknown kind");
}

/* ---- top level ---- */

static int
parse_top(struct pctx *c, json_t *root)
{
	static const char *const keys[] = { "schema_version", "description",
	    "timezone", "allow_mode_off", "idle", "rules", NULL };
	struct policy *p = c->p;
	char why[256];
	json_t *v;

	if (!json_is_object(root))
		return pf_fail(c, "(top)", "expected a JSON object");
	if (pf_check_keys(c, "(top)", root, keys) < 0)
		return -1;
	v = json_object_get(root, "schema_version");
	if (!json_is_integer(v) || json_integer_value(v) != POLICY_SCHEMA_VERSION)
		return pf_fail(c, "schema_version", "expected %d",
		    POLICY_SCHEMA_VERSION);
	if ((v = json_object_get(root, "description")) != NULL) {
		if (!json_is_string(v) || strlen(json_string_value(v)) > 1000)
			return pf_fail(c, "description", "expected a string of at "
			    "most 1000 bytes");
		if ((p->description = strdup(json_string_value(v))) == NULL)
			return pf_fail(c, "description", "out of memory");
	}
	v = json_object_get(root, "timezone");
	if (!json_is_string(v))
		return pf_fail(c, "timezone", "expected an IANA time zone name "
		    "(\"Europe/Berlin\", \"UTC\")");
	if (tg_tz_load(&p->tz, json_string_value(v), why, sizeof(why)) < 0)
		return pf_fail(c, "timezone", "%s", why);
	p->allow_mode_off = 1;
	if ((v = json_object_get(root, "allow_mode_off")) != NULL &&
	    pf_get_bool(c, "allow_mode_off", v, &p->allow_mode_off) < 0)
		return -1;
	return policy_idle_parse(c, json_object_get(root, "idle"), &p->idle);
}

static int
parse_rules(struct pctx *c, json_t *rules)
{
	size_t n;

	if (rules == NULL)
		return 0;
	if (!json_is_array(rules) || (n = json_array_size(rules)) >
	    POLICY_MAX_RULES)
		return pf_fail(c, "rules", "expected a list of at most %d rules",
		    POLICY_MAX_RULES);
	/* one spare entry: policy_free() looks at the rule that failed */
	if ((c->p->rules = calloc(n + 1, sizeof(*c->p->rules))) == NULL)
		return pf_fail(c, "rules", "out of memory");
	for (size_t i = 0; i < n; i++) {
		if (parse_rule(c, json_array_get(rules, i), (int)i) < 0)
			return -1;
		c->p->nrules = (int)i + 1;
	}
	return 0;
}

struct policy *
policy_parse(const char *file, const char *text, size_t len, char *err,
    size_t errlen)
{
	struct pctx c = { file, err, errlen, NULL };
	json_error_t je;
	json_t *root;

	if (len > POLICY_MAX_FILE) {
		tg_seterr(err, errlen, "%s: larger than %d bytes", file,
		    POLICY_MAX_FILE);
		return NULL;
	}
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL) {
		tg_seterr(err, errlen, "%s: line %d column %d: %s", file,
		    je.line, je.column, je.text);
		return NULL;
	}
	if ((c.p = calloc(1, sizeof(*c.p))) == NULL) {
		tg_seterr(err, errlen, "%s: out of memory", file);
		json_decref(root);
		return NULL;
	}
	if (parse_top(&c, root) < 0 ||
	    parse_rules(&c, json_object_get(root, "rules")) < 0) {
		policy_free(c.p);
		c.p = NULL;
	}
	json_decref(root);
	return c.p;
}

struct policy *
policy_load(const char *file, char *err, size_t errlen)
{
	struct policy *p;
	char *buf;
	FILE *f;
	size_t n;

	if ((f = fopen(file, "re")) == NULL) {
		tg_seterr(err, errlen, "%s: %s", file, strerror(errno));
		return NULL;
	}
	if ((buf = malloc(POLICY_MAX_FILE + 1)) == NULL) {
		fclose(f);
		tg_seterr(err, errlen, "%s: out of memory", file);
		return NULL;
	}
	n = fread(buf, 1, POLICY_MAX_FILE + 1, f);
	if (ferror(f)) {
		tg_seterr(err, errlen, "%s: %s", file, strerror(errno));
		p = NULL;
	} else
		p = policy_parse(file, buf, n, err, errlen);
	fclose(f);
	free(buf);
	return p;
}

void
policy_free(struct policy *p)
{
	if (p == NULL)
		return;
	for (int i = 0; i < p->nkeys; i++)
		free(p->keys[i]);
	for (int i = 0; p->rules && i <= p->nrules; i++) {
		/* nrules + 1: a rule that failed half-way holds strdup'd globs */
		struct policy_rule *r = &p->rules[i];
		for (int s = 0; s < r->nsel; s++)
			for (int k = 0; k < r->sel[s].npat; k++)
				free(r->sel[s].pat[k].text);
	}
	free(p->rules);
	policy_idle_free(&p->idle);
	free(p->description);
	free(p);
}

int
policy_rule_index(const struct policy *p, const char *name)
{
	for (int i = 0; i < p->nrules; i++)
		if (strcmp(p->rules[i].name, name) == 0)
			return i;
	return -1;
}
