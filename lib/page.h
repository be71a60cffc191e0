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

#define TG_PAGE_VERSION 2
#define TG_PAGE_SIZE 4096
#define TG_PAGE_GPUS 8 /* devices a process's counters page has room for */

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

/*
 * The daemon changes verdict/arg/rule, then bumps seq (release), then
 * wakes every waiter with FUTEX_WAKE (shared: no FUTEX_PRIVATE_FLAG) on
 * &verdict: a paused launch sleeps in FUTEX_WAIT on that word (with a
 * short timeout, so a daemon that never wakes it costs at most that).
 */
struct tg_verdict_page {
	uint32_t version; /* TG_PAGE_VERSION */
	uint32_t verdict; /* enum tg_verdict_word; read with an acquire load */
	uint32_t arg;
	uint32_t flags;   /* TG_PAGE_* (the TG_REG_* bits of proto.h) */
	uint64_t seq; /* bumped by the daemon on every change */
	/* Device memory the process may hold, all its devices together, in
	 * bytes; 0: no cap. An allocation that would pass it fails with
	 * CUDA_ERROR_OUT_OF_MEMORY (the cap itself can be reached). */
	uint64_t gpu_mem_cap;
	char rule[64];     /* the rule behind verdict ("" for TG_RUN) */
	char cap_rule[64]; /* the rule behind gpu_mem_cap */
};

/* One device the process used (a context on it), by the shim. Fields are
 * written with relaxed atomic stores; name/uuid/ordinal are set once,
 * before `used` is set to 1 (release). */
struct tg_page_gpu {
	uint32_t used;     /* 1: this slot names a device; read with acquire */
	int32_t ordinal;   /* CUdevice ordinal in the process */
	char name[96];     /* cuDeviceGetName */
	uint8_t uuid[16];  /* cuDeviceGetUuid; zeros when unknown */
	uint64_t busy_ns;  /* kernels running, union over its streams */
	uint64_t held_ns;  /* closed holds: context created .. last destroyed */
	int64_t held_since_ns; /* CLOCK_MONOTONIC start of the hold in
	                        * progress; 0: not held now. When a hold
	                        * closes, this is cleared BEFORE its length
	                        * is added to held_ns (never counted twice) */
	uint64_t mem_bytes;      /* device memory in use now */
	uint64_t mem_peak_bytes; /* its high-water mark */
};

struct tg_counters_page {
	uint32_t version; /* TG_PAGE_VERSION, set by the daemon */
	uint32_t pad;
	/* Whole-process totals. gpu_launches: kernels that ran (direct
	 * launches not captured into a graph, plus each graph launch's kernel
	 * nodes); gpu_held_ns: closed holds only (add each device's live one:
	 * now - held_since_ns). */
	uint64_t gpu_launches;
	uint64_t gpu_busy_ns;
	uint64_t gpu_held_ns;
	uint64_t gpu_mem_bytes;      /* in use now */
	uint64_t gpu_mem_peak_bytes; /* high-water mark */
	uint64_t llm_requests;       /* seen by the shim, metered or not */
	uint64_t gpu_graph_launches; /* cuGraphLaunch calls that ran */
	uint64_t gpu_refused_launches; /* refused by a deny verdict */
	uint64_t gpu_refused_allocs;   /* refused by the memory cap */
	uint64_t gpu_paused_ns;        /* launches blocked by a pause */
	uint64_t gpu_throttled_ns;     /* launches held back by a throttle */
	struct tg_page_gpu gpu[TG_PAGE_GPUS];
};

_Static_assert(sizeof(struct tg_verdict_page) <= TG_PAGE_SIZE, "verdict page");
_Static_assert(sizeof(struct tg_counters_page) <= TG_PAGE_SIZE, "counters page");

#endif
