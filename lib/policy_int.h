/*
 * policy_int.h — between the policy engine's own files only.
 */
#ifndef TG_POLICY_INT_H
#define TG_POLICY_INT_H

#include "policy.h"

/* d->reason for the deciding rule's state st (policy_print.c). */
void policy_reason(const struct policy *, const struct policy_input *,
    const struct policy_rule_state *, struct policy_decision *);

#endif
