/*
 * enforce_int.h — between enforce.c (admissions, counters, registrations,
 * policy changes) and standing.c (standing verdicts, the policy timer).
 */
#ifndef TGD_ENFORCE_INT_H
#define TGD_ENFORCE_INT_H

#include "daemon.h"

#define NS 1000000000LL
#define MS 1000000LL

/* p's policy input: its tags, user and exe, mode. */
void enforce_proc_input(const struct proc *p, struct policy_input *in);

/* The page flags the policies ask of p (TG_PAGE_*). */
uint32_t standing_flags(struct tgd *d, const struct proc *p,
    const struct policy_input *base);
/* Recompute one's standing verdict; 1 when a kill may have become due. */
int standing_scan_proc(struct tgd *d, struct proc *p);
int standing_scan_run(struct tgd *d, struct run *r);
/* Arm the policy timer for the next edge, kill or retry. */
void standing_arm_timer(struct tgd *d);

#endif
