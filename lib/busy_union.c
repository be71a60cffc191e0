/*
 * busy_union.c — see busy_union.h. The set is small (≤ 64 intervals), so
 * a linear scan and memmove beat anything cleverer.
 */
#include <string.h>

#include "busy_union.h"

void
busy_union_init(struct busy_union *u, int cap)
{
	memset(u, 0, sizeof(*u));
	u->cap = cap < 1 ? 1 : cap > BUSY_UNION_MAX ? BUSY_UNION_MAX : cap;
}

/* The oldest interval is final: forget it, and never count before its
 * end again. */
static void
finalize_oldest(struct busy_union *u)
{
	u->floor = u->iv[0].end;
	u->has_floor = 1;
	u->n--;
	memmove(&u->iv[0], &u->iv[1], (size_t)u->n * sizeof(u->iv[0]));
}

uint64_t
busy_union_add(struct busy_union *u, int64_t start, int64_t end)
{
	int64_t covered = 0, lo, hi;
	int i, j;

	if (u->has_floor && start < u->floor)
		start = u->floor;
	if (end <= start)
		return 0;
	/* [i, j): the intervals that overlap or touch [start, end). */
	for (i = 0; i < u->n && u->iv[i].end < start; i++)
		;
	for (j = i; j < u->n && u->iv[j].start <= end; j++) {
		lo = u->iv[j].start > start ? u->iv[j].start : start;
		hi = u->iv[j].end < end ? u->iv[j].end : end;
		if (hi > lo)
			covered += hi - lo;
	}
	lo = i < j && u->iv[i].start < start ? u->iv[i].start : start;
	hi = i < j && u->iv[j - 1].end > end ? u->iv[j - 1].end : end;
	/* Replace iv[i..j) by the one merged interval. */
	memmove(&u->iv[i + 1], &u->iv[j], (size_t)(u->n - j) * sizeof(u->iv[0]));
	u->n += 1 - (j - i);
	u->iv[i] = (struct busy_iv){ lo, hi };
	if (u->n > u->cap)
		finalize_oldest(u);
	u->total += (uint64_t)(end - start - covered);
	return (uint64_t)(end - start - covered);
}
