/*
 * gate.h — admission of one LLM request the hooks are holding (issue 4,
 * "Enforcement"): ask the daemon (tollgate_admit), wait out a delay when
 * the socket may block, or build the refusal the client gets instead of
 * the provider's answer (lib/llm_refuse.h).
 *
 * When no rule can refuse this process's LLM requests (the verdict page's
 * TG_PAGE_LLM_NO_ADMIT), or the process only observes, nothing is asked:
 * the hooks never hold a byte and only settle afterwards. Called outside
 * every lock of the hooks, with shim_inside 0 (tollgate_admit is an entry
 * point of its own).
 */
#ifndef SHIM_GATE_H
#define SHIM_GATE_H

#include <stddef.h>
#include <stdint.h>

#include "llm.h"

enum shim_gate_outcome {
	SHIM_GATE_SEND,         /* send it: admitted (maybe after a delay) */
	SHIM_GATE_REFUSE,       /* never sent: resp is the client's answer */
};

struct shim_gate {
	enum shim_gate_outcome outcome;
	uint64_t admit_id;      /* SEND: settle the record with it */
	uint32_t delay_ms;      /* SEND: waited before it was sent */
	char rule[64];          /* the rule that delayed or refused it */
	char *resp;             /* REFUSE: malloc'd HTTP/1.1 429 */
	size_t nresp;
};

/* 1 when this process's LLM requests must be admitted before they leave.
 * Registers first when this process generation has not (one round trip,
 * once); the page's flags after that (a mutex, no syscall). */
int shim_gate_needed(void);

/* Admit r. nonblock: the caller's socket must not sleep (O_NONBLOCK or
 * MSG_DONTWAIT): a delay becomes a throttle answer (429 with retry-after)
 * and a record of it; otherwise delays are slept and admission asked
 * again. A deny needs no record here: the daemon wrote one. */
void shim_gate_ask(const struct llm_req *r, int nonblock, struct shim_gate *g);

#endif
