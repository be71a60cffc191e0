/*
 * prices.c — load, merge and look up the price table (format in prices.h).
 *
 * Files carry USD per million tokens (what providers publish); the table
 * holds pico-USD per token, an exact integer (usd_per_mtok × 10^6). Every
 * value is validated; an error names the file, the JSON path and what was
 * expected, e.g. "prices.json: models.gpt-4o.input_usd_per_mtok: expected a
 * number". A failed load or merge leaves the table as it was.
 *
 * Entries are kept in one array sorted by key for bsearch; the table is
 * read-mostly (loaded at start and on SIGHUP).
 */
#include "log.h"
#include "prices.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#define PRICES_SCHEMA_VERSION 1
#define KEY_MAX 200
#define USD_PER_MTOK_MAX 1e9   /* $1,000 per token: beyond any real price */
#define USD_PER_HOUR_MAX 1e6

struct price_ent {
	char *key; /* "gpt-4o" or "azure/gpt-4o" */
	struct tg_price p;
};

struct gpu_ent {
	char *name;
	tg_pico_usd pico_per_hour; /* exact: usd_per_hour × 10^12 */
	tg_pico_usd spot_per_hour; /* exact: spot_usd_per_hour × 10^12 */
	int has_spot;
};

struct tg_prices {
	struct price_ent *ents;
	size_t n;
	struct gpu_ent *gpus;
	size_t ngpus;
	enum tg_gpu_pricing gpu_pricing; /* the last file that set it */
};

static int
ent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct price_ent *)a)->key,
	    ((const struct price_ent *)b)->key);
}

static int
gpu_cmp(const void *a, const void *b)
{
	return strcmp(((const struct gpu_ent *)a)->name,
	    ((const struct gpu_ent *)b)->name);
}

/* A JSON number in [0, max] → pico-USD with `scale`. Returns NULL, or
 * what was wrong. */
static const char *
get_money(json_t *v, double max, double scale, tg_pico_usd *out)
{
	double d;

	if (!json_is_number(v))
		return "expected a number";
	d = json_number_value(v);
	if (!isfinite(d) || d < 0 || d > max)
		return max == USD_PER_HOUR_MAX ?
		    "expected a number from 0 to 1000000" :
		    "expected a number from 0 to 1000000000";
	*out = llround(d * scale);
	return NULL;
}

static const char *const model_keys[] = { "provider", "input_usd_per_mtok",
	"output_usd_per_mtok", "cached_input_usd_per_mtok",
	"cache_write_usd_per_mtok", "max_output_tokens", "mode", NULL };

static int
known_key(const char *const *keys, const char *k)
{
	for (; *keys; keys++)
		if (strcmp(*keys, k) == 0)
			return 1;
	return 0;
}

#define PRICE_ERR(what) do { \
	tg_seterr(err, errlen, "%s: models.%s.%s", file, name, what); \
	return -1; \
} while (0)

/* A price field of model `name`: required, or optional (then *out keeps
 * its value when absent). */
static int
price_field(const char *file, const char *name, json_t *m, const char *field,
    int required, tg_pico_usd *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(m, field);
	const char *why;

	if (v == NULL && !required)
		return 0;
	if ((why = get_money(v, USD_PER_MTOK_MAX, 1e6, out)) == NULL)
		return 0;
	tg_seterr(err, errlen, "%s: models.%s.%s: %s", file, name, field, why);
	return -1;
}

/* One "models" entry → *p. */
static int
parse_model(const char *file, const char *name, json_t *m, struct tg_price *p,
    char *err, size_t errlen)
{
	const char *k;
	json_t *v;

	if (!json_is_object(m)) {
		tg_seterr(err, errlen, "%s: models.%s: expected an object", file,
		    name);
		return -1;
	}
	json_object_foreach(m, k, v) {
		if (!known_key(model_keys, k)) {
			tg_seterr(err, errlen, "%s: models.%s.%s: unknown key", file,
			    name, k);
			return -1;
		}
	}
	memset(p, 0, sizeof(*p));
	if ((v = json_object_get(m, "provider")) && !json_is_string(v))
		PRICE_ERR("provider: expected a string");
	if ((v = json_object_get(m, "mode")) && !json_is_string(v))
		PRICE_ERR("mode: expected a string");
	if (price_field(file, name, m, "input_usd_per_mtok", 1, &p->input,
	    err, errlen) == -1 ||
	    price_field(file, name, m, "output_usd_per_mtok", 1, &p->output,
	    err, errlen) == -1)
		return -1;
	p->cached_input = p->cache_write = p->input;
	if (price_field(file, name, m, "cached_input_usd_per_mtok", 0,
	    &p->cached_input, err, errlen) == -1 ||
	    price_field(file, name, m, "cache_write_usd_per_mtok", 0,
	    &p->cache_write, err, errlen) == -1)
		return -1;
	if ((v = json_object_get(m, "max_output_tokens"))) {
		if (!json_is_integer(v) || json_integer_value(v) < 0)
			PRICE_ERR("max_output_tokens: expected an integer >= 0");
		p->max_output_tokens = (uint64_t)json_integer_value(v);
	}
	return 0;
}

static int
key_ok(const char *k)
{
	size_t n = strlen(k);

	return n > 0 && n <= KEY_MAX;
}

/* Add or replace one entry of t. */
static int
put_model(struct tg_prices *t, const char *key, const struct tg_price *p)
{
	struct price_ent probe = { (char *)key, { 0 } }, *e, *ne;

	e = t->n ? bsearch(&probe, t->ents, t->n, sizeof(*t->ents),
	    ent_cmp) : NULL;
	if (e) {
		e->p = *p;
		return 0;
	}
	ne = realloc(t->ents, (t->n + 1) * sizeof(*ne));
	if (ne == NULL)
		return -1;
	t->ents = ne;
	if ((ne[t->n].key = strdup(key)) == NULL)
		return -1;
	ne[t->n].p = *p;
	t->n++;
	/* Keep sorted so the next put and every lookup can bsearch. */
	qsort(t->ents, t->n, sizeof(*t->ents), ent_cmp);
	return 0;
}

/* Add or replace one GPU: an override's entry replaces both prices, so a
 * host's own on-demand figure never sits beside the shipped spot one. */
static int
put_gpu(struct tg_prices *t, const struct gpu_ent *v)
{
	struct gpu_ent probe = { v->name, 0, 0, 0 }, *e, *ng;

	e = t->ngpus ? bsearch(&probe, t->gpus, t->ngpus, sizeof(*t->gpus),
	    gpu_cmp) : NULL;
	if (e) {
		e->pico_per_hour = v->pico_per_hour;
		e->spot_per_hour = v->spot_per_hour;
		e->has_spot = v->has_spot;
		return 0;
	}
	ng = realloc(t->gpus, (t->ngpus + 1) * sizeof(*ng));
	if (ng == NULL)
		return -1;
	t->gpus = ng;
	ng[t->ngpus] = *v;
	if ((ng[t->ngpus].name = strdup(v->name)) == NULL)
		return -1;
	t->ngpus++;
	qsort(t->gpus, t->ngpus, sizeof(*t->gpus), gpu_cmp);
	return 0;
}

/* Validate every model of the file first, then apply: all or nothing. */
static int
apply_models(struct tg_prices *t, const char *file, json_t *models,
    char *err, size_t errlen)
{
	struct tg_price *ps;
	const char *k;
	json_t *m;
	size_t i = 0;

	if (models == NULL)
		return 0;
	if (!json_is_object(models)) {
		tg_seterr(err, errlen, "%s: models: expected an object", file);
		return -1;
	}
	ps = calloc(json_object_size(models) + 1, sizeof(*ps));
	if (ps == NULL) {
		tg_seterr(err, errlen, "%s: out of memory", file);
		return -1;
	}
	json_object_foreach(models, k, m) {
		if (!key_ok(k)) {
			tg_seterr(err, errlen, "%s: models: a model name must be "
			    "1 to %d bytes", file, KEY_MAX);
			free(ps);
			return -1;
		}
		if (parse_model(file, k, m, &ps[i++], err, errlen) == -1) {
			free(ps);
			return -1;
		}
	}
	i = 0;
	json_object_foreach(models, k, m) {
		if (put_model(t, k, &ps[i++]) == -1) {
			tg_seterr(err, errlen, "%s: out of memory", file);
			free(ps);
			return -1;
		}
	}
	free(ps);
	return 0;
}

static const char *const gpu_keys[] = { "usd_per_hour", "spot_usd_per_hour",
	NULL };

/* One hourly price of GPU k: required, or optional and absent (0). */
static int
check_hourly(const char *file, const char *k, json_t *g, const char *field,
    int required, char *err, size_t errlen)
{
	json_t *v = json_object_get(g, field);
	const char *why;
	tg_pico_usd dummy;

	if (v == NULL && !required)
		return 0;
	if ((why = get_money(v, USD_PER_HOUR_MAX, 1, &dummy)) == NULL)
		return 0;
	tg_seterr(err, errlen, "%s: gpus.%s.%s: %s", file, k, field, why);
	return -1;
}

static int
check_gpus(const char *file, json_t *gpus, char *err, size_t errlen)
{
	const char *k, *f;
	json_t *g, *v;

	if (!json_is_object(gpus)) {
		tg_seterr(err, errlen, "%s: gpus: expected an object", file);
		return -1;
	}
	json_object_foreach(gpus, k, g) {
		if (!key_ok(k) || !json_is_object(g)) {
			tg_seterr(err, errlen, "%s: gpus.%s: expected an object",
			    file, k);
			return -1;
		}
		json_object_foreach(g, f, v) {
			if (!known_key(gpu_keys, f)) {
				tg_seterr(err, errlen, "%s: gpus.%s.%s: unknown key",
				    file, k, f);
				return -1;
			}
		}
		if (check_hourly(file, k, g, "usd_per_hour", 1, err,
		    errlen) == -1 ||
		    check_hourly(file, k, g, "spot_usd_per_hour", 0, err,
		    errlen) == -1)
			return -1;
	}
	return 0;
}

/* $/hour → pico-USD/hour: exact for the cents and fractions of cents
 * prices are written in (a per-second price would round 2.99/3600 and
 * bill an hour 2 nano-USD off). */
static tg_pico_usd
pico_per_hour(json_t *v)
{
	return llround(json_number_value(v) * 1e12);
}

static int
apply_gpus(struct tg_prices *t, const char *file, json_t *gpus, char *err,
    size_t errlen)
{
	struct gpu_ent v;
	const char *k;
	json_t *g, *spot;

	if (gpus == NULL)
		return 0;
	if (check_gpus(file, gpus, err, errlen) == -1)
		return -1;
	json_object_foreach(gpus, k, g) {
		spot = json_object_get(g, "spot_usd_per_hour");
		v.name = (char *)k;
		v.pico_per_hour = pico_per_hour(json_object_get(g,
		    "usd_per_hour"));
		v.has_spot = spot != NULL;
		v.spot_per_hour = spot ? pico_per_hour(spot) : 0;
		if (put_gpu(t, &v) == -1) {
			tg_seterr(err, errlen, "%s: out of memory", file);
			return -1;
		}
	}
	return 0;
}

static const char *const top_keys[] = { "schema_version", "source", "as_of",
	"gpus_source", "license", "note", "models", "gpus", "gpu_pricing",
	NULL };

/* "gpu_pricing": absent (-1: the table keeps its mode), "on_demand" or
 * "spot"; -2 on error with err filled. */
static int
gpu_pricing(const char *file, json_t *root, char *err, size_t errlen)
{
	json_t *v = json_object_get(root, "gpu_pricing");
	const char *s = json_string_value(v);

	if (v == NULL)
		return -1;
	if (s && strcmp(s, "on_demand") == 0)
		return TG_GPU_ON_DEMAND;
	if (s && strcmp(s, "spot") == 0)
		return TG_GPU_SPOT;
	tg_seterr(err, errlen, "%s: gpu_pricing: expected \"on_demand\" or "
	    "\"spot\"", file);
	return -2;
}

static int
check_top(const char *file, json_t *root, char *err, size_t errlen)
{
	const char *k;
	json_t *v;

	if (!json_is_object(root)) {
		tg_seterr(err, errlen, "%s: expected a JSON object", file);
		return -1;
	}
	json_object_foreach(root, k, v) {
		if (!known_key(top_keys, k)) {
			tg_seterr(err, errlen, "%s: %s: unknown key", file, k);
			return -1;
		}
	}
	v = json_object_get(root, "schema_version");
	if (!json_is_integer(v) ||
	    json_integer_value(v) != PRICES_SCHEMA_VERSION) {
		tg_seterr(err, errlen, "%s: schema_version: expected %d", file,
		    PRICES_SCHEMA_VERSION);
		return -1;
	}
	return 0;
}

int
tg_prices_merge(struct tg_prices *t, const char *path, char *err,
    size_t errlen)
{
	json_error_t je;
	json_t *root, *gpus;
	int rc = -1, mode = -1;

	root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL) {
		if (je.line < 1)
			tg_seterr(err, errlen, "%s: %s", path, je.text);
		else
			tg_seterr(err, errlen, "%s:%d:%d: %s", path, je.line,
			    je.column, je.text);
		return -1;
	}
	if (check_top(path, root, err, errlen) == -1 ||
	    (mode = gpu_pricing(path, root, err, errlen)) == -2)
		goto out;
	/* Check the GPUs before touching the models: all or nothing. */
	gpus = json_object_get(root, "gpus");
	if (gpus && check_gpus(path, gpus, err, errlen) == -1)
		goto out;
	if (apply_models(t, path, json_object_get(root, "models"), err,
	    errlen) == -1)
		goto out;
	rc = apply_gpus(t, path, gpus, err, errlen);
	if (rc == 0 && mode >= 0)
		t->gpu_pricing = mode;
out:
	json_decref(root);
	return rc;
}

struct tg_prices *
tg_prices_load(const char *path, char *err, size_t errlen)
{
	struct tg_prices *t;

	if ((t = calloc(1, sizeof(*t))) == NULL) {
		tg_seterr(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (tg_prices_merge(t, path, err, errlen) == -1) {
		tg_prices_free(t);
		return NULL;
	}
	return t;
}

void
tg_prices_free(struct tg_prices *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->n; i++)
		free(t->ents[i].key);
	for (i = 0; i < t->ngpus; i++)
		free(t->gpus[i].name);
	free(t->ents);
	free(t->gpus);
	free(t);
}

size_t
tg_prices_count(const struct tg_prices *t)
{
	return t ? t->n : 0;
}

static const struct tg_price *
find_key(const struct tg_prices *t, const char *key)
{
	struct price_ent probe = { (char *)key, { 0 } }, *e;

	e = t->n ? bsearch(&probe, t->ents, t->n, sizeof(*t->ents),
	    ent_cmp) : NULL;
	return e ? &e->p : NULL;
}

static int
digits(const char *s, size_t n)
{
	for (; n > 0; n--, s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

/* Length of model without a trailing "-YYYY-MM-DD" or "-YYYYMMDD", or 0
 * when it has neither. */
static size_t
undated_len(const char *m)
{
	size_t n = strlen(m);

	if (n > 11 && m[n - 11] == '-' && digits(m + n - 10, 4) &&
	    m[n - 6] == '-' && digits(m + n - 5, 2) && m[n - 3] == '-' &&
	    digits(m + n - 2, 2))
		return n - 11;
	if (n > 9 && m[n - 9] == '-' && digits(m + n - 8, 8))
		return n - 9;
	return 0;
}

/* "provider/model", then "model", for model cut to mlen bytes. */
static const struct tg_price *
find_pair(const struct tg_prices *t, const char *provider, const char *model,
    size_t mlen)
{
	const struct tg_price *p;
	char key[2 * KEY_MAX + 2];
	int n;

	if (provider && *provider) {
		n = snprintf(key, sizeof(key), "%s/%.*s", provider, (int)mlen,
		    model);
		if (n > 0 && (size_t)n < sizeof(key) &&
		    (p = find_key(t, key)) != NULL)
			return p;
	}
	n = snprintf(key, sizeof(key), "%.*s", (int)mlen, model);
	if (n > 0 && (size_t)n < sizeof(key))
		return find_key(t, key);
	return NULL;
}

const struct tg_price *
tg_prices_find(const struct tg_prices *t, const char *provider,
    const char *model)
{
	const struct tg_price *p;
	size_t len;

	if (t == NULL || model == NULL || *model == '\0')
		return NULL;
	if ((p = find_pair(t, provider, model, strlen(model))) != NULL)
		return p;
	if ((len = undated_len(model)) == 0)
		return NULL;
	return find_pair(t, provider, model, len);
}

const tg_pico_usd *
tg_prices_gpu_hourly(const struct tg_prices *t, const char *gpu)
{
	struct gpu_ent probe = { (char *)gpu, 0, 0, 0 }, *e;

	if (t == NULL || gpu == NULL)
		return NULL;
	e = t->ngpus ? bsearch(&probe, t->gpus, t->ngpus, sizeof(*t->gpus),
	    gpu_cmp) : NULL;
	if (e == NULL)
		return NULL;
	/* Spot without a spot price: on demand (the load logged it). */
	return t->gpu_pricing == TG_GPU_SPOT && e->has_spot ?
	    &e->spot_per_hour : &e->pico_per_hour;
}

enum tg_gpu_pricing
tg_prices_gpu_pricing(const struct tg_prices *t)
{
	return t ? t->gpu_pricing : TG_GPU_ON_DEMAND;
}

const char *
tg_prices_gpu_at(const struct tg_prices *t, size_t i, int *has_spot)
{
	if (t == NULL || i >= t->ngpus)
		return NULL;
	if (has_spot)
		*has_spot = t->gpus[i].has_spot;
	return t->gpus[i].name;
}

static int
word_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z');
}

/* key occurs in name with no letter or digit right before or after it. */
static int
has_token(const char *name, const char *key)
{
	size_t n = strlen(name), k = strlen(key);

	for (size_t i = 0; k > 0 && i + k <= n; i++)
		if (strncasecmp(name + i, key, k) == 0 &&
		    (i == 0 || !word_char(name[i - 1])) &&
		    !word_char(name[i + k]))
			return 1;
	return 0;
}

const char *
tg_prices_gpu_key(const struct tg_prices *t, const char *device)
{
	const char *best = NULL;
	size_t blen = 0;

	if (t == NULL || device == NULL)
		return NULL;
	for (size_t i = 0; i < t->ngpus; i++) {
		size_t k = strlen(t->gpus[i].name);

		if (k > blen && has_token(device, t->gpus[i].name)) {
			best = t->gpus[i].name;
			blen = k;
		}
	}
	return best;
}
