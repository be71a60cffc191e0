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
. "$(dirname "$0")/shim_common.inc"
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=/usr/bin/python3
NODE_DIR=$SRC/tests/clients/node
need "$SHIM" "$B/tollgated" "$B/tollctl"
need_sqlite
if ! command -v node >/dev/null && [ "${CI:-}" != true ]; then
	echo "skip: no node"; exit 77
fi
[ -d "$NODE_DIR/node_modules/openai" ] && [ -d "$NODE_DIR/node_modules/@anthropic-ai/sdk" ] || {
	echo "FAIL: $NODE_DIR/node_modules is missing: run tools/install-deps"; exit 1; }
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy
export NO_PROXY='*'
shim_setup
export TOLLGATE_TIMEOUT_MS=5000

"$SRC/tools/fake-llm-provider" --http 0 --port-file "$T/ports" \
    --log "$T/provider.log" --seed 7 2>"$T/provider.err" & C=$!
for _ in $(seq 100); do [ -s "$T/ports" ] && break; sleep 0.05; done
PORT=$(sed -n 's/^http=//p' "$T/ports")
[ -n "$PORT" ] || { echo "the fake provider did not start:"; cat "$T/provider.err"; exit 1; }
H=http://127.0.0.1:$PORT
touch "$T/provider.log"

# daemon LIMIT_USD: a fresh tollgated (and ledger) whose one rule is
# "day-cap", a day budget of LIMIT_USD
daemon() {
	no_daemon
	rm -rf "$T/state"
	echo '{"schema_version": 1, "timezone": "UTC", "rules": [{"name": "day-cap",
 "kind": "budget", "period": "day", "limit_usd": "'"$1"'"}]}' >"$T/policy.json"
	"$B/tollgated" --socket "$T/sock" --state-dir "$T/state" --http off \
	    --prices "$SRC/policies/prices.json" --policy "$T/policy.json" \
	    2>>"$T/daemon.log" & D=$!
	for _ in $(seq 100); do [ -S "$T/sock" ] && return; sleep 0.05; done
	echo "tollgated did not start:"; cat "$T/daemon.log"; exit 1
}
sql() { sqlite3 "$T/state/ledger.db" "$1"; }
plines() { wc -l <"$T/provider.log"; }
# node MODE: refuse_calls.mjs under the shim; its lines in $T/MODE.jsonl
node_run() {
	LD_PRELOAD=$SHIM timeout 60 node "$NODE_DIR/refuse_calls.mjs" "$H" "$1" \
	    >"$T/$1.jsonl" 2>"$T/err" || fail "node $1: exit $?: $(head -c 600 "$T/err")"
	[ -s "$T/err" ] && fail "node $1 wrote on stderr: $(head -c 600 "$T/err")"
}
tomorrow() { date -u -d tomorrow +%F; }

# ---- deny -------------------------------------------------------------------
daemon 0.000001
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
daemon 1000
node_run allow
[ "$(plines)" = 1 ] || fail "the provider got $(plines) requests, want 1"
[ "$(sql 'SELECT count(*) FROM records')" = 1 ] ||
	fail "$(sql 'SELECT count(*) FROM records') records for 1 call"
# Cost: the price table's entry for the response's model (the dated
# snapshot has its own, as lib/prices.h looks it up first), pico-USD per
# token, rounded once to nano-USD.
"$PY" - "$T/allow.jsonl" "$T/provider.log" "$T/state/ledger.db" \
    "$SRC/policies/prices.json" <<'PY' || fail "allow record"
import json, re, sqlite3, sys
from decimal import Decimal
S = [json.loads(l) for l in open(sys.argv[1])]
L = [json.loads(l) for l in open(sys.argv[2])]
con = sqlite3.connect(sys.argv[3]); con.row_factory = sqlite3.Row
r = con.execute("SELECT * FROM records").fetchone()
assert len(S) == len(L) == 1, (S, L)
s, l = S[0], L[0]
assert l["complete"] and l["status"] == 200 and l["model"] == "gpt-4o-2024-08-06", l
assert (s["model"], s["usage"]) == (l["model"], l["usage"]), (s, l)
t = l["tokens"]
p = json.load(open(sys.argv[4]), parse_float=Decimal)["models"][l["model"]]
pico = lambda k: int(p.get(k, p["input_usd_per_mtok"]) * 1000000)
cost = ((t["input_tokens"] - t["cached_tokens"]) * pico("input_usd_per_mtok")
        + t["cached_tokens"] * pico("cached_input_usd_per_mtok")
        + t["output_tokens"] * pico("output_usd_per_mtok") + 500) // 1000
want = dict(t, provider="openai-compatible", model=l["model"],
            endpoint="/v1/chat/completions", http_status=200, decision="", rule="",
            refused=0, estimated=0, unpriced=0, cost_nano_usd=cost)
got = {k: r[k] for k in want}
assert got == want, (got, want)
assert r["admit_id"] != 0 and cost > 0, dict(r)
PY
# spent = what the record cost: the admission's reservation is settled
st=$("$B/tollctl" --socket "$T/sock" status --format json) || fail "tollctl status"
cost=$(sql "SELECT sum(cost_nano_usd) FROM records")
"$PY" - "$st" "$cost" <<'PY' || fail "day budget: $st (the record cost $cost nano-USD)"
import json, sys
from decimal import Decimal
d = json.loads(sys.argv[1])
m = [r for r in d["policy"]["rules"] if r["name"] == "day-cap"][0]
assert Decimal(str(m["spent_usd"])) * 10**9 == int(sys.argv[2]), m
PY

n=$(ls "$T/spool" 2>/dev/null | grep -c '\.spool$')
[ "$n" = 0 ] || fail "$n spool files: records were not settled live"

[ "$fails" = 0 ] || { echo "--- daemon log"; tail -5 "$T/daemon.log"; exit 1; }
echo "ok: node SDKs refused (RateLimitError, no retry, provider untouched); allowed call admitted and metered exactly"
