#!/bin/bash
# shim_node_enforce — admission under the official npm SDKs (openai,
# @anthropic-ai/sdk, pinned in tests/clients/node/package-lock.json),
# unmodified and with their DEFAULT retries (maxRetries 2), under
# LD_PRELOAD=libtollgate.so, over plain HTTP to tools/fake-llm-provider,
# a private tollgated with a policy (issue 4, "Enforcement": test with the
# Node SDK). libuv's sockets are non-blocking and read only after epoll
# says so: the refusal must wake the event loop.
#   deny:  a day budget too small for any request. openai chat (plain and
#          stream) and anthropic messages each raise the SDK's own
#          RateLimitError with the provider's error fields and a message
#          naming rule "day-cap"; the provider receives nothing (its log
#          stays empty); the ledger has exactly one refused record per
#          call — a retry would be asked again and add one, so the count
#          proves x-should-retry: false was obeyed.
#   allow: the same rule with room: one openai chat call is admitted
#          (admit_id != 0), sent, and its record equals the provider's
#          usage, the SDK's, and the price table's cost; nothing stays
#          reserved.
# No node: skip, except in CI; no node_modules: fail (tools/install-deps
# installs them).
. "$(dirname "$0")/llm_common.inc"
need "$SHIM" "$B/tollgated" "$B/tollctl"
need_sqlite
need_node_sdks
llm_setup
provider http --seed 7

# day_cap LIMIT_USD: a fresh tollgated (and ledger) whose one rule is
# "day-cap", a day budget of LIMIT_USD
day_cap() {
	daemon '{"schema_version": 1, "timezone": "UTC", "rules": [{"name": "day-cap",
 "kind": "budget", "period": "day", "limit_usd": "'"$1"'"}]}'
}
# node MODE: refuse_calls.mjs under the shim; its lines in $T/MODE.jsonl
node_run() {
	LD_PRELOAD=$SHIM timeout 60 node "$NODE_DIR/refuse_calls.mjs" "$H" "$1" \
	    >"$T/$1.jsonl" 2>"$T/err" || fail "node $1: exit $?: $(head -c 600 "$T/err")"
	[ -s "$T/err" ] && fail "node $1 wrote on stderr: $(head -c 600 "$T/err")"
}
tomorrow() { date -u -d tomorrow +%F; }

# ---- deny -------------------------------------------------------------------
day_cap 0.000001
d0=$(tomorrow)
node_run deny
d1=$(tomorrow)
# The reset is the next UTC midnight as the call saw it (d0 = d1 unless
# the run straddles one); the request's estimated cost is the shim's.
"$PY" - "$T/deny.jsonl" "$d0" "$d1" <<'PY' || fail "the SDKs' errors: $(cat "$T/deny.jsonl")"
import json, re, sys
S = [json.loads(l) for l in open(sys.argv[1])]
days = "|".join(map(re.escape, set(sys.argv[2:4])))
msg = re.compile(r'tollgate: request refused by rule "day-cap" \(day budget of '
                 r'\$0\.000001 would be exceeded \(request ~\$0\.\d+\)\); '
                 r'resets at (%s)T00:00:00Z\Z' % days)
calls = ["openai chat", "openai chat stream", "anthropic messages"]
assert [s["call"] for s in S] == calls, S
for s in S:
    common = {k: s.get(k) for k in ("error", "rate_limit_error", "status",
              "should_retry", "rule", "connection")}
    assert common == dict(error="RateLimitError", rate_limit_error=True,
        status=429, should_retry="false", rule="day-cap", connection="close"), s
    assert msg.match(s["api_message"]), s
for s in S[:2]:
    assert (s["type"], s["code"], s["param"]) == ("insufficient_quota",) * 2 + (None,), s
    assert s["message"] == "429 " + s["api_message"], s
a = S[2]
assert (a["type"], a["body_type"]) == ("rate_limit_error", "error"), a
# The Anthropic SDK puts the whole error body in its message.
body = {"type": "error", "error": {"type": "rate_limit_error", "message": a["api_message"]}}
assert a["message"] == "429 " + json.dumps(body, separators=(",", ":")), a
PY
[ "$(plines)" = 0 ] || fail "the provider received refused requests: $(cat "$T/provider.log")"
got=$(sql "SELECT group_concat(provider || '|' || model || '|' || endpoint || '|' ||
    decision || '|' || rule || '|' || refused || '|' || cost_nano_usd || '|' ||
    (admit_id != 0), ' ') FROM (SELECT * FROM records ORDER BY seq)")
[ "$got" = "openai-compatible|gpt-4o|/v1/chat/completions|deny|day-cap|1|0|1 openai-compatible|gpt-4o|/v1/chat/completions|deny|day-cap|1|0|1 anthropic|claude-sonnet-4-20250514|/v1/messages|deny|day-cap|1|0|1" ] ||
	fail "deny records (one per call, no retry): $got"

# ---- allow, through admission ----------------------------------------------
day_cap 1000
t0=$(now_ms)
node_run allow
wall=$(($(now_ms) - t0))
[ "$(plines)" = 1 ] || fail "the provider got $(plines) requests, want 1"
[ "$(records)" = 1 ] || fail "$(records) records for 1 call"
# The record equals the provider's usage, the SDK's, and the price table's
# cost (the response's model, a dated snapshot, has its own entry there,
# which lib/prices.h looks up first); the call was admitted.
out=$(llm_check openai-compatible "$wall" --client "$T/allow.jsonl") ||
	fail "allow record: ledger, provider and SDK disagree:
$out"
"$PY" -c 'import json, sys; sys.exit("gpt-4o-2024-08-06" not in json.load(open(sys.argv[1]))["models"])' \
    "$PRICES" || fail "the price table has no gpt-4o-2024-08-06 of its own"
got=$(sql "SELECT model, endpoint, http_status, decision, rule, admit_id != 0, cost_nano_usd > 0 FROM records")
[ "$got" = "gpt-4o-2024-08-06|/v1/chat/completions|200|||1|1" ] ||
	fail "allow record (model|endpoint|status|decision|rule|admitted|cost > 0): $got"
# spent = what the record cost: the admission's reservation is settled
spent_is_cost day-cap

no_spool

llm_end "ok: node SDKs refused (RateLimitError, no retry, provider untouched); allowed call admitted and metered exactly"
