/*
 * policy_fields.h — typed readers of policy JSON fields for the parser.
 * Each checks one value and, on error, records the first message as
 * "FILE: JSON.PATH: expected …" in the parse context and returns -1.
 */
#ifndef TG_POLICY_FIELDS_H
#define TG_POLICY_FIELDS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "policy.h"

#define MAX_USD (1000000000LL * TG_NANO_PER_USD) /* $1e9: the largest limit */

struct pctx {
	const char *file;
	char *err;
	size_t errlen;
	struct policy *p;
};

int pf_fail(struct pctx *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int pf_check_keys(struct pctx *c, const char *path, json_t *o,
    const char *const *allowed);
int pf_ident_ok(const char *s);
int pf_get_usd(struct pctx *c, const char *path, json_t *v, tg_nano_usd *out);
int pf_get_count(struct pctx *c, const char *path, json_t *v, int64_t max,
    int64_t *out);
/* Bytes: a positive JSON integer or a string "N" / "N<unit>" with a binary
 * unit KiB, MiB, GiB or TiB; at most max. */
int pf_get_bytes(struct pctx *c, const char *path, json_t *v, uint64_t max,
    uint64_t *out);
int pf_get_enum(struct pctx *c, const char *path, json_t *v,
    const char *const *names, int *out);
int pf_get_bool(struct pctx *c, const char *path, json_t *v, int *out);
int pf_get_hhmm(struct pctx *c, const char *path, json_t *v, uint16_t *out);
int pf_get_days(struct pctx *c, const char *path, json_t *v, uint8_t *out);

#endif
