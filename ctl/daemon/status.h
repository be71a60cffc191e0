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
 *                 "cost_usd","cost_nano_usd","gpus":[…]}],
 *   "runs":[{"token","budget_nano_usd","spent_nano_usd","pending_nano_usd",
 *            "reserved_nano_usd","refused_requests","processes",
 *            "budget_exceeded"}],
 *   "policy":{"file","builtin","loaded_at","rules":[{"name","kind",…}]}}
 * "gpus": each used device slot of the process's counters page, live:
 * {"slot","ordinal","name","held_now" (a context holds it now),"held_ns"
 * (closed holds plus the one in progress),"busy_ns","mem_bytes",
 * "mem_peak_bytes"} — what the shim wrote, not yet what was recorded.
 * Each rule: its limits as set ("limit_usd","soft_usd"; "max_tokens";
 * "rpm_limit","tpm_limit","concurrent_limit"; gpu_limit "mem_cap_bytes",
 * "launches_per_sec"); while it counts (rules_peek)
 * its span "period_start","period_end" (RFC 3339 in the policy's zone;
 * absent for total periods and rate) and what is used: "spent_usd" (spent
 * + reserved, as policy_eval sees it) and "usd_left"; "tokens",
 * "tokens_left"; "rpm","tpm","concurrent" (those limited). Amounts are
 * exact decimal strings. Pause and windowed token_quota rules: "active"
 * (now inside the window; a pause rule then has its instance as
 * period_start/end) and "next_start" when not. Every user sees every
 * rule: a shared budget's remainder is what each of its users needs.
 * TOP: {"schema_version":1,"processes":[…]} — each process as in STATUS
 * plus its live counters (the counters page the shim writes: gpu_launches,
 * gpu_busy_ns, gpu_held_ns — closed holds plus the holds in progress up
 * to now —, gpu_mem_bytes, gpu_mem_peak_bytes, llm_requests_seen) and the daemon's sums of its committed records
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
