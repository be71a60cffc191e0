/*
 * status.h — the STATUS and TOP documents (JSON, schema_version 1).
 *
 * STATUS: {"schema_version":1,
 *   "daemon":{"version","pid","uptime_seconds","protocol_version",
 *             "protocol_oldest","socket","state_dir","http"},
 *   "ledger":{"records","schema_version"},
 *   "health":{"records_written","spool_replays","rejected_messages",
 *             "unpriced_records","ledger_errors"},
 *   "processes":[{"id","pid","exe","uid","tags","run","mode",
 *                 "protocol_version","alive","reservations","requests",
 *                 "cost_usd","cost_nano_usd"}],
 *   "runs":[{"token","budget_nano_usd","spent_nano_usd","pending_nano_usd",
 *            "reserved_nano_usd","refused_requests","processes",
 *            "budget_exceeded"}]}
 * TOP: {"schema_version":1,"processes":[…]} — each process as in STATUS
 * plus its live counters (the counters page the shim writes: gpu_launches,
 * gpu_busy_ns, gpu_held_ns, gpu_mem_bytes, gpu_mem_peak_bytes,
 * llm_requests_seen) and the daemon's sums of its committed records
 * (requests, input_tokens, output_tokens, recorded_gpu_launches, cost),
 * sorted by cost, highest first.
 */
#ifndef TGD_STATUS_H
#define TGD_STATUS_H

#include <jansson.h>

#include "daemon.h"

#define STATUS_SCHEMA_VERSION 1

/* uid: the caller's. Non-root callers see only their own processes and
 * runs (DESIGN.md: a non-root user sees only that user's rows); a run's
 * token is a capability and is never shown to another user. */
json_t *status_json(struct tgd *d, uid_t uid);
json_t *top_json(struct tgd *d, uid_t uid);

#endif
