/*
 * busy_union.h — the union of busy intervals on one timeline, counted once.
 *
 * Intervals are half-open [start, end) in ns. busy_union_add returns how
 * many ns of the new interval the set did not already cover, and keeps the
 * set as sorted, disjoint, non-touching intervals (touching ones merge).
 *
 * The set is bounded (cap intervals). When an add leaves cap + 1, the
 * oldest (lowest) interval is finalized: forgotten, and the floor moves to
 * its end. Time before the floor is never counted again, so an interval
 * arriving later than the cap most recent ones loses only its part before
 * the floor: the union can undercount then, never count twice.
 *
 * Pure arithmetic: no clock, no allocation, no CUDA.
 */
#ifndef TG_BUSY_UNION_H
#define TG_BUSY_UNION_H

#include <stdint.h>

#define BUSY_UNION_MAX 64

struct busy_iv {
	int64_t start, end;
};

struct busy_union {
	int cap;               /* 1..BUSY_UNION_MAX */
	int n;
	int has_floor;
	int64_t floor;         /* nothing before it counts (when has_floor) */
	uint64_t total;        /* every ns ever added, finalized ones included */
	struct busy_iv iv[BUSY_UNION_MAX + 1];
};

/* An empty set of at most cap intervals (clamped to 1..BUSY_UNION_MAX). */
void busy_union_init(struct busy_union *u, int cap);

/* Add [start, end): returns the ns newly covered (0 for an empty or
 * reversed interval, or one wholly covered or before the floor). */
uint64_t busy_union_add(struct busy_union *u, int64_t start, int64_t end);

#endif
