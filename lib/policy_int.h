/*
 * policy_int.h — between the policy engine's own files only.
 */
#ifndef TG_POLICY_INT_H
#define TG_POLICY_INT_H

#include <jansson.h>

#include "policy.h"

/* d->reason for the deciding rule's state st (policy_print.c). */
void policy_reason(const struct policy *, const struct policy_input *,
    const struct policy_rule_state *, struct policy_decision *);

/* The "idle" section (policy_idle.c): o NULL (absent) gives the
 * defaults; -1 with the error in c. Printed back as an object. */
struct pctx;
void policy_idle_defaults(struct policy_idle *);
int policy_idle_parse(struct pctx *c, json_t *o, struct policy_idle *);
void policy_idle_free(struct policy_idle *);
json_t *policy_idle_json(const struct policy_idle *);

#endif
