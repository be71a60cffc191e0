/*
 * meter.h — from a finished LLM exchange (lib/llm.h) to a ledger record,
 * settled with the daemon or spooled on the same path as tollgate_usage.
 *
 * The record: kind llm, source shim, no admission (observe only), the
 * latency; provider, model, endpoint, status and tokens as llm_record.h
 * says; tags: shim_meter_tags.
 */
#ifndef SHIM_METER_H
#define SHIM_METER_H

#include <stdint.h>

#include "llm.h"
#include "proto.h"

/* Fill rec (everything but the id) from x. */
void shim_meter_fill(struct tg_record *rec, const struct llm_exchange *x,
    uint32_t latency_ms);

/* The record's tags for a request that carried X-Tollgate-Tags: its own
 * pairs, then the process's (TOLLGATE_TAGS) for keys it does not name;
 * "" without the header (or with one that is not k=v,k=v): the daemon
 * uses the registration's. */
void shim_meter_tags(char *out, size_t size, const char *req_tags);

/* Draw rec's id, send it to the daemon, spool it when that fails. 0: the
 * daemon acknowledged it; 1: spooled; -1: lost (said why). The caller is
 * inside tollgate (shim_inside). Defined in api.c: tollgate_usage settles
 * through it too. */
int shim_settle_record(struct tg_record *rec);
/* The same with the id rec already has (one sent before without an
 * answer: the ledger ignores a repeat). */
int shim_settle_record_as_is(struct tg_record *rec);

/* tollgate_admit for a request with its own tags ("k=v,k=v": the
 * request's and the process's, shim_meter_tags; NULL or "": the
 * registration's). Defined in api.c. */
struct tollgate_verdict;
uint64_t shim_admit_tagged(const char *provider, const char *model,
    const char *endpoint, uint64_t est_input_tokens,
    uint64_t max_output_tokens, const char *tags, struct tollgate_verdict *v);

/* Where the hooks hand their records: shim_settle_record — then they go
 * through the settler thread (settle.h) — or a test's, called at once on
 * the hook's own thread. */
extern int (*shim_meter_settle)(struct tg_record *rec);

#endif
