/*
 * gpu_settle.h — GPU usage from a process's counters page into the ledger.
 *
 * The shim writes per-device counters into its counters page (page.h:
 * relaxed stores, no syscall). The daemon reads them and makes one record
 * per used device slot (kind gpu, source shim, provider "nvidia", model
 * the price table's GPU key found in the device name, else the name
 * itself; endpoint "gpu<ordinal>") with what grew since the last record
 * of that process and slot: busy_ns, held_ns (closed holds plus the one in
 * progress, up to now), the slot's memory high-water mark (a peak, not a
 * delta), and on the lowest used slot the process's launches. No record
 * when nothing grew. Records go through record.c like a client's: cost,
 * ledger, metrics and policy counters all move.
 *
 * When: every --gpu-interval seconds (gpu_settle_all), when a registration
 * ends (its process died, or its connection closed: final, the page is
 * never read again), and at shutdown for every live process.
 *
 * The page is the client's and never trusted: a value out of range
 * (daemon.h's TGD_* bounds, a hold that starts in the future) is left out
 * of the record with one log line naming the pid and the field (once per
 * process, slot and field); a counter that went backwards adds nothing.
 */
#ifndef TGD_GPU_SETTLE_H
#define TGD_GPU_SETTLE_H

#include <stddef.h>
#include <stdint.h>

#include "page.h"

#define TGD_GPU_INTERVAL_DEFAULT 60     /* seconds */
#define TGD_GPU_INTERVAL_MAX 3600

/* What was last recorded for one slot: the highest value seen of each
 * (so a counter that goes backwards and up again is not counted twice). */
struct gpu_slot_seen {
	uint64_t busy_ns;
	uint64_t held_ns;       /* closed + in progress, at the last record */
	uint64_t peak;
};

struct gpu_seen {
	struct gpu_slot_seen slot[TG_PAGE_GPUS];
	uint64_t launches;
	uint64_t warned;        /* bit slot * 8 + field: logged once */
	int final;              /* the registration ended: read no more */
};

struct tgd;
struct proc;

/* Record what grew on p's page. final: the registration ends now (the
 * page is not read again afterwards). */
void gpu_settle_proc(struct tgd *d, struct proc *p, int final);
/* Every registered process (final at shutdown). */
void gpu_settle_all(struct tgd *d, int final);
/* The slot's device name as printable ASCII: a NUL-terminated copy of
 * at most len - 1 bytes, others than 0x20..0x7e replaced by '?';
 * "unknown" when empty. */
void gpu_slot_name(const struct tg_page_gpu *g, char *buf, size_t len);
/* The --gpu-interval timer: created armed; gpu_timer() on its event. */
int gpu_timer_init(struct tgd *d);
void gpu_timer(struct tgd *d);

#endif
