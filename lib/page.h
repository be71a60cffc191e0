/*
 * page.h — the per-process shared pages (layout version TG_PAGE_VERSION).
 *
 * At registration the daemon creates two memfds for the process and passes
 * them over SCM_RIGHTS:
 *   - the verdict page: the daemon writes it; sealed F_SEAL_FUTURE_WRITE
 *     after the daemon mapped it, so the shim can only map it read-only;
 *   - the counters page: the shim writes it (relaxed atomics, no syscall),
 *     the daemon reads it when it settles GPU usage.
 * Only the registering process receives the fds: no process can touch
 * another's pages.
 */
#ifndef TG_PAGE_H
#define TG_PAGE_H

#include <stdint.h>

#define TG_PAGE_VERSION 1
#define TG_PAGE_SIZE 4096

enum tg_verdict_word {
	TG_RUN = 0,      /* go on */
	TG_THROTTLE = 1, /* arg = launches per second allowed */
	TG_PAUSE = 2,    /* block at the next launch until TG_RUN */
	TG_DENY_ALL = 3, /* refuse launches and requests */
};

/* What the policy asks of the process now; the same bits as proto.h's
 * TG_REG_*, kept current after registration (a policy reload). */
#define TG_PAGE_FAIL_CLOSED 0x1u
#define TG_PAGE_MODE_OFF_REFUSED 0x2u
#define TG_PAGE_LLM_NO_ADMIT 0x4u

struct tg_verdict_page {
	uint32_t version; /* TG_PAGE_VERSION */
	uint32_t verdict; /* enum tg_verdict_word; read with an acquire load */
	uint32_t arg;
	uint32_t flags;   /* TG_PAGE_* (the TG_REG_* bits of proto.h) */
	uint64_t seq; /* bumped by the daemon on every change */
};

struct tg_counters_page {
	uint32_t version; /* TG_PAGE_VERSION, set by the daemon */
	uint32_t pad;
	uint64_t gpu_launches;       /* relaxed atomic adds by the shim */
	uint64_t gpu_busy_ns;
	uint64_t gpu_held_ns;
	uint64_t gpu_mem_bytes;      /* in use now */
	uint64_t gpu_mem_peak_bytes; /* high-water mark */
	uint64_t llm_requests;       /* seen by the shim, metered or not */
};

_Static_assert(sizeof(struct tg_verdict_page) <= TG_PAGE_SIZE, "verdict page");
_Static_assert(sizeof(struct tg_counters_page) <= TG_PAGE_SIZE, "counters page");

#endif
