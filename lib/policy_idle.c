/*
 * policy_idle.c — the policy's "idle" section (policy.h, struct
 * policy_idle; policies/README.md): parsed, printed back, and its tag
 * selectors matched. The daemon's idle.c acts on it.
 */
#include "policy.h"
#include "policy_int.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "policy_fields.h"

static const char *const idle_actions[] = { "notify", "terminate", NULL };

void
policy_idle_defaults(struct policy_idle *i)
{
	memset(i, 0, sizeof(*i));
	i->after_seconds = POLICY_IDLE_AFTER_DEFAULT;
	i->action = POLICY_IDLE_NOTIFY;
	i->grace_seconds = POLICY_IDLE_GRACE_DEFAULT;
}

/* "KEY=GLOB": a tag key as selectors name them, a glob of 1 to 255. */
static int
tag_sel_ok(const char *s)
{
	const char *eq = strchr(s, '=');
	char key[POLICY_NAME_MAX];
	size_t kl;

	if (eq == NULL || (kl = (size_t)(eq - s)) == 0 || kl >= sizeof(key) ||
	    eq[1] == '\0' || strlen(eq + 1) > 255)
		return 0;
	memcpy(key, s, kl);
	key[kl] = '\0';
	return pf_ident_ok(key);
}

static int
name_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 255 && strchr(s, '/') == NULL;
}

/* A list of strings each ok() into out[] (strdup'd), at most max. */
static int
get_list(struct pctx *c, const char *path, json_t *v, int max,
    int (*ok)(const char *), const char *what, const char *each,
    char **out, int *n)
{
	char el[64];

	if (!json_is_array(v) || json_array_size(v) > (size_t)max)
		return pf_fail(c, path, "expected a list of at most %d %s", max,
		    what);
	for (size_t k = 0; k < json_array_size(v); k++) {
		json_t *s = json_array_get(v, k);

		snprintf(el, sizeof(el), "%s[%zu]", path, k);
		if (!json_is_string(s) || !ok(json_string_value(s)))
			return pf_fail(c, el, "expected %s", each);
		if ((out[*n] = strdup(json_string_value(s))) == NULL)
			return pf_fail(c, el, "out of memory");
		(*n)++;
	}
	return 0;
}

/* The terminate-only keys. */
static int
parse_terminate(struct pctx *c, json_t *o, struct policy_idle *i)
{
	int term = i->action == POLICY_IDLE_TERMINATE;
	json_t *v;
	int64_t g;

	if ((v = json_object_get(o, "grace_seconds")) != NULL) {
		if (!term)
			return pf_fail(c, "idle.grace_seconds", "expected only "
			    "with \"action\": \"terminate\"");
		if (pf_get_count(c, "idle.grace_seconds", v,
		    POLICY_IDLE_GRACE_MAX, &g) < 0)
			return -1;
		i->grace_seconds = (uint32_t)g;
	}
	if ((v = json_object_get(o, "tags")) != NULL && !term)
		return pf_fail(c, "idle.tags", "expected only with \"action\": "
		    "\"terminate\"");
	if (!term)
		return 0;
	if (v != NULL && get_list(c, "idle.tags", v, POLICY_IDLE_MAX_TAGS,
	    tag_sel_ok, "\"KEY=GLOB\" tags", "\"KEY=GLOB\" (a tag key of "
	    "letters, digits, '_', '.', '-'; a glob of 1 to 255 bytes)",
	    i->tags, &i->ntags) < 0)
		return -1;
	if (i->ntags == 0)
		return pf_fail(c, "idle.tags", "expected 1 to %d \"KEY=GLOB\" "
		    "tags with \"action\": \"terminate\" (only the processes "
		    "they select are terminated)", POLICY_IDLE_MAX_TAGS);
	return 0;
}

int
policy_idle_parse(struct pctx *c, json_t *o, struct policy_idle *i)
{
	static const char *const keys[] = { "after_seconds", "action",
	    "grace_seconds", "tags", "exclude", NULL };
	json_t *v;
	int64_t n;
	int a;

	policy_idle_defaults(i);
	if (o == NULL)
		return 0;
	i->set = 1;
	if (!json_is_object(o))
		return pf_fail(c, "idle", "expected {\"after_seconds\": N, "
		    "\"action\": \"notify\"|\"terminate\", ...}");
	if (pf_check_keys(c, "idle", o, keys) < 0)
		return -1;
	if ((v = json_object_get(o, "after_seconds")) != NULL) {
		if (pf_get_count(c, "idle.after_seconds", v,
		    POLICY_IDLE_AFTER_MAX, &n) < 0)
			return -1;
		i->after_seconds = (uint32_t)n;
	}
	if ((v = json_object_get(o, "action")) != NULL) {
		if (pf_get_enum(c, "idle.action", v, idle_actions, &a) < 0)
			return -1;
		i->action = a;
	}
	if (parse_terminate(c, o, i) < 0)
		return -1;
	if ((v = json_object_get(o, "exclude")) != NULL)
		return get_list(c, "idle.exclude", v, POLICY_IDLE_MAX_EXCLUDE,
		    name_ok, "executable names", "an executable's file name "
		    "(1 to 255 bytes, no '/')", i->exclude, &i->nexclude);
	return 0;
}

void
policy_idle_free(struct policy_idle *i)
{
	for (int k = 0; k < i->ntags; k++)
		free(i->tags[k]);
	for (int k = 0; k < i->nexclude; k++)
		free(i->exclude[k]);
	i->ntags = i->nexclude = 0;
}

static json_t *
strings_json(char *const *s, int n)
{
	json_t *a = json_array();

	for (int k = 0; k < n; k++)
		json_array_append_new(a, json_string(s[k]));
	return a;
}

json_t *
policy_idle_json(const struct policy_idle *i)
{
	json_t *o = json_object();

	json_object_set_new(o, "after_seconds",
	    json_integer(i->after_seconds));
	json_object_set_new(o, "action", json_string(idle_actions[i->action]));
	if (i->action == POLICY_IDLE_TERMINATE) {
		json_object_set_new(o, "grace_seconds",
		    json_integer(i->grace_seconds));
		json_object_set_new(o, "tags", strings_json(i->tags, i->ntags));
	}
	json_object_set_new(o, "exclude", strings_json(i->exclude,
	    i->nexclude));
	return o;
}

/* Does one selector "KEY=GLOB" match one of the parsed tags? */
static int
sel_matches(const char *sel, const struct policy_tag *t, int nt)
{
	const char *eq = strchr(sel, '=');
	size_t kl = eq ? (size_t)(eq - sel) : 0;

	for (int k = 0; eq && k < nt; k++)
		if (strlen(t[k].key) == kl && memcmp(t[k].key, sel, kl) == 0 &&
		    t[k].value[0] != '\0' &&
		    fnmatch(eq + 1, t[k].value, 0) == 0)
			return 1;
	return 0;
}

int
policy_idle_tags_match(const struct policy_idle *i, const char *tags)
{
	struct policy_tag t[POLICY_MAX_TAGS];
	char buf[1024];
	int nt;

	if (i->ntags == 0 || tags == NULL)
		return 0;
	nt = policy_tags_parse(tags, buf, sizeof(buf), t, POLICY_MAX_TAGS);
	for (int k = 0; k < i->ntags; k++)
		if (sel_matches(i->tags[k], t, nt))
			return 1;
	return 0;
}
