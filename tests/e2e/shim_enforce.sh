#!/bin/bash
# shim_enforce — admission of plain-HTTP LLM requests in the shim (issue 4,
# "Enforcement"): unmodified curl, python3 requests and httpx (sync and
# asyncio) under LD_PRELOAD, a private tollgated with a policy, the fake
# provider on loopback.
#   deny:  a spent day budget. Each client gets a 429 in its provider's
#          own error shape naming the rule (x-should-retry: false), the
#          provider receives NOTHING (its log stays empty: with Expect:
#          100-continue it sees headers and never a body), and the
#          daemon's ledger has one refused record per request.
#   allow: a budget far from its limit: the request is held until its
#          body is complete, admitted, sent; its record has the provider's
#          exact tokens and the admission's id (the reservation is
#          settled: nothing stays reserved); X-Tollgate-Tags joins the
#          process's tags in the record.
#   tags:  a require_tags rule: the same process's request is refused
#          without X-Tollgate-Tags and admitted with it (admission sees
#          the request's tags, ADMIT_TAGS).
#   delay: "concurrent": 1 with action delay (100 ms). A blocking client
#          (python requests without a timeout) whose request overlaps a
#          slow stream waits; its record says decision delay, the rule,
#          and delay_ms a multiple of 100. A non-blocking socket is never
#          slept (curl's, asyncio's): it gets a 429 with retry-after: 1
#          and the ledger a refused "delay" record.
. "$(dirname "$0")/llm_common.inc"
need "$SHIM" "$B/tollgated"
need_sqlite
need_cmd curl
need_py requests httpx
llm_setup
provider http --seed 11

# ---- deny -------------------------------------------------------------------
daemon '{"schema_version": 1, "timezone": "UTC", "rules": [{"name": "day-cap",
 "kind": "budget", "period": "day", "limit_usd": "0.000001"}]}'
CHAT='{"model":"gpt-4o","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}'
LD_PRELOAD=$SHIM curl -sS --http1.1 -D "$T/h1" -o "$T/b1" \
    "$H/v1/chat/completions" -d "$CHAT" || fail "curl deny: exit $?"
"$PY" - "$T/h1" "$T/b1" <<'PY' || fail "curl deny: $(cat "$T/h1" "$T/b1")"
import json, sys
h = open(sys.argv[1], newline="").read().split("\r\n")
b = json.load(open(sys.argv[2]))
assert h[0] == "HTTP/1.1 429 Too Many Requests", h
for want in ("Connection: close", "x-should-retry: false", "x-tollgate-rule: day-cap"):
    assert want in h, (want, h)
assert not any(l.lower().startswith("retry-after") for l in h), h
e = b["error"]
assert (e["type"], e["code"], e["param"]) == ("insufficient_quota",) * 2 + (None,), e
assert e["message"].startswith('tollgate: request refused by rule "day-cap" (day budget of $0.000001 would be exceeded'), e
assert e["message"].endswith("resets at %s" % e["message"][-20:]) and e["message"][-20:].endswith("T00:00:00Z"), e
PY
# Expect: 100-continue (curl asks it for a body over 1 KiB): the headers
# go ahead, the body is held, then refused.
big=$("$PY" -c 'import json; print(json.dumps({"model":"gpt-4o","max_tokens":5,"messages":[{"role":"user","content":"x"*3000}]}))')
code=$(LD_PRELOAD=$SHIM curl -sS --http1.1 -o "$T/b2" -w '%{http_code}' \
    -H 'Expect: 100-continue' "$H/v1/chat/completions" -d "$big") ||
	fail "curl expect deny: exit $?"
[ "$code" = 429 ] || fail "curl expect deny: status $code: $(cat "$T/b2")"
cat >"$T/anthropic.py" <<'PY'
import requests, sys
r = requests.post(sys.argv[1] + "/v1/messages", headers={"anthropic-version": "2023-06-01"},
    json={"model": "claude-sonnet-4-20250514", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]})
b = r.json()
assert r.status_code == 429 and r.headers["x-should-retry"] == "false", (r.status_code, r.headers)
assert b["type"] == "error" and b["error"]["type"] == "rate_limit_error", b
assert b["error"]["message"].startswith('tollgate: request refused by rule "day-cap"'), b
print("ok")
PY
LD_PRELOAD=$SHIM "$PY" "$T/anthropic.py" "$H" >"$T/out" 2>&1 ||
	fail "requests anthropic deny: $(cat "$T/out")"
# asyncio: the socket is non-blocking and only read when epoll says so.
cat >"$T/gemini_async.py" <<'PY'
import asyncio, httpx, sys
async def main():
    async with httpx.AsyncClient(timeout=10) as c:
        r = await c.post(sys.argv[1] + "/v1beta/models/gemini-2.5-flash:generateContent",
            json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
    b = r.json()
    assert r.status_code == 429, (r.status_code, b)
    assert b["error"]["code"] == 429 and b["error"]["status"] == "RESOURCE_EXHAUSTED", b
    assert 'rule "day-cap"' in b["error"]["message"], b
    print("ok")
asyncio.run(main())
PY
LD_PRELOAD=$SHIM "$PY" "$T/gemini_async.py" "$H" >"$T/out" 2>&1 ||
	fail "httpx async gemini deny: $(cat "$T/out")"
[ "$(plines)" = 0 ] || fail "the provider received refused requests: $(cat "$T/provider.log")"
got=$(sql "SELECT group_concat(provider || ':' || decision || ':' || rule || ':' || refused, ' ') FROM records ORDER BY seq")
[ "$got" = "openai-compatible:deny:day-cap:1 openai-compatible:deny:day-cap:1 anthropic:deny:day-cap:1 gemini:deny:day-cap:1" ] ||
	fail "deny records: $got"

# ---- allow, through admission ----------------------------------------------
daemon '{"schema_version": 1, "timezone": "UTC", "rules": [{"name": "month",
 "kind": "budget", "period": "month", "limit_usd": "1000"}]}'
TOLLGATE_TAGS=team=search,purpose=prod LD_PRELOAD=$SHIM curl -sS --http1.1 \
    -o "$T/b3" "$H/v1/chat/completions" -H 'Host: api.openai.com' \
    -H 'X-Tollgate-Tags: purpose=eval' -d "$CHAT" || fail "curl allow: exit $?"
LD_PRELOAD=$SHIM curl -sS --http1.1 -o "$T/b4" -H 'Expect: 100-continue' \
    "$H/v1/chat/completions" -H 'Host: api.openai.com' -d "$big" ||
	fail "curl expect allow: exit $?"
[ "$(plines)" = 2 ] || fail "the provider got $(plines) requests, want 2"
n0=2
"$PY" - "$T/provider.log" "$T/state/ledger.db" <<'PY' || fail "allow records"
import json, sqlite3, sys
L = [json.loads(l) for l in open(sys.argv[1])][-2:]
con = sqlite3.connect(sys.argv[2]); con.row_factory = sqlite3.Row
R = list(con.execute("SELECT * FROM records ORDER BY seq"))
assert len(R) == 2, [dict(r) for r in R]
for l, r in zip(L, R):
    t = l["tokens"]
    got = (r["provider"], r["model"], r["input_tokens"], r["output_tokens"],
           r["cached_tokens"], r["decision"], r["refused"], r["estimated"])
    want = ("openai", l["model"], t["input_tokens"], t["output_tokens"],
            t["cached_tokens"], "", 0, 0)
    assert got == want, (got, want)
    assert r["admit_id"] != 0, dict(r)
# the request's X-Tollgate-Tags, then the process's other keys
assert R[0]["tags"] == "purpose=eval,team=search", R[0]["tags"]
assert R[1]["tags"] == "", R[1]["tags"]
PY
# spent = what the records cost: no reservation is left behind
spent_is_cost month

# ---- a request's own tags decide: X-Tollgate-Tags -----------------------------
daemon '{"schema_version": 1, "timezone": "UTC", "rules": [{"name": "need-purpose",
 "kind": "require_tags", "tags": ["purpose"], "action": "deny"}]}'
n0=$(plines)
code=$(TOLLGATE_TAGS=team=search LD_PRELOAD=$SHIM curl -sS --http1.1 -o "$T/b7" \
    -w '%{http_code}' "$H/v1/chat/completions" -d "$CHAT") || fail "curl untagged: exit $?"
[ "$code" = 429 ] && grep -q 'refused by rule \\"need-purpose\\"' "$T/b7" ||
	fail "untagged request: $code $(cat "$T/b7")"
code=$(TOLLGATE_TAGS=team=search LD_PRELOAD=$SHIM curl -sS --http1.1 -o "$T/b8" \
    -w '%{http_code}' -H 'X-Tollgate-Tags: purpose=eval' "$H/v1/chat/completions" \
    -d "$CHAT") || fail "curl tagged: exit $?"
[ "$code" = 200 ] || fail "tagged request: $code $(cat "$T/b8")"
[ "$(plines)" = $((n0 + 1)) ] || fail "the provider got $(($(plines) - n0)) requests, want 1"
got=$(sql "SELECT decision, rule, tags, refused FROM records ORDER BY seq" | tr '\n' ' ')
[ "$got" = "deny|need-purpose|team=search|1 ||purpose=eval,team=search|0 " ] ||
	fail "tagged records (decision|rule|tags|refused): $got"

# ---- delay ------------------------------------------------------------------
daemon '{"schema_version": 1, "timezone": "UTC", "rules": [{"name": "one-at-a-time",
 "kind": "rate", "concurrent": 1, "action": "delay", "delay_ms": 100}]}'
# in_flight: wait until the slow request is admitted and not settled (the
# rule counts it as concurrent): the next request overlaps it for sure.
in_flight() {
	for _ in $(seq 250); do
		"$B/tollctl" --socket "$T/sock" status --format json 2>/dev/null |
		    "$PY" -c 'import json, sys
r = [r for r in json.load(sys.stdin)["policy"]["rules"] if r["name"] == "one-at-a-time"][0]
sys.exit(r.get("concurrent") != 1)' && return
		sleep 0.02
	done
	fail "the slow request was never in flight"
}
SLOW='{"model":"claude-sonnet-4-20250514","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"slowly"}]}'
LD_PRELOAD=$SHIM curl -sS -N --http1.1 -o /dev/null -H 'X-Fake-Delay-Ms: 150' \
    -H 'anthropic-version: 2023-06-01' "$H/v1/messages" -d "$SLOW" & slow=$!
in_flight
cat >"$T/blocking.py" <<'PY'
import requests, sys
r = requests.post(sys.argv[1] + "/v1/chat/completions", json={"model": "gpt-4o",
    "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]})
assert r.status_code == 200, (r.status_code, r.text)
PY
LD_PRELOAD=$SHIM "$PY" "$T/blocking.py" "$H" >"$T/out" 2>&1 ||
	fail "requests delayed: $(cat "$T/out")"
wait $slow || fail "slow stream: exit $?"
got=$(sql "SELECT endpoint, decision, rule, delay_ms % 100, delay_ms >= 100, refused FROM records ORDER BY event_time_ns" | tr '\n' ' ')
[ "$got" = "/v1/messages|||0|0|0 /v1/chat/completions|delay|one-at-a-time|0|1|0 " ] ||
	fail "delay records (endpoint|decision|rule|delay%100|delay>=100|refused): $got"
# curl's socket is non-blocking: a throttle answer, not a sleep
n0=$(plines)
LD_PRELOAD=$SHIM curl -sS -N --http1.1 -o /dev/null -H 'X-Fake-Delay-Ms: 150' \
    -H 'anthropic-version: 2023-06-01' "$H/v1/messages" -d "$SLOW" & slow=$!
in_flight
code=$(LD_PRELOAD=$SHIM curl -sS --http1.1 -D "$T/h6" -o "$T/b6" -w '%{http_code}' \
    "$H/v1/chat/completions" -d "$CHAT") || fail "curl throttled: exit $?"
wait $slow || fail "slow stream: exit $?"
[ "$code" = 429 ] && grep -q '^retry-after: 1' "$T/h6" ||
	fail "curl throttled: $code $(cat "$T/h6" "$T/b6")"
[ "$(plines)" = $((n0 + 1)) ] || fail "a throttled request reached the provider"
cat >"$T/two_async.py" <<'PY'
import asyncio, httpx, sys
async def one(c, path, body, hdrs):
    return await c.post(sys.argv[1] + path, json=body, headers=hdrs)
async def main():
    async with httpx.AsyncClient(timeout=20) as c:
        slow = asyncio.create_task(one(c, "/v1/messages", {"model": "claude-sonnet-4-20250514",
            "max_tokens": 100, "stream": True, "messages": [{"role": "user", "content": "slowly"}]},
            {"X-Fake-Delay-Ms": "150", "anthropic-version": "2023-06-01"}))
        await asyncio.sleep(0.3)
        r = await one(c, "/v1/chat/completions", {"model": "gpt-4o", "max_tokens": 5,
            "messages": [{"role": "user", "content": "now"}]}, {})
        s = await slow
    assert s.status_code == 200, s.status_code
    b = r.json()
    assert r.status_code == 429 and r.headers["retry-after"] == "1", (r.status_code, r.headers)
    assert "x-should-retry" not in r.headers, r.headers
    assert b["error"]["type"] == "requests" and b["error"]["code"] == "rate_limit_exceeded", b
    assert b["error"]["message"].startswith('tollgate: request throttled by rule "one-at-a-time"'), b
    print("ok")
asyncio.run(main())
PY
n1=$(sql "SELECT count(*) FROM records")
LD_PRELOAD=$SHIM "$PY" "$T/two_async.py" "$H" >"$T/out" 2>&1 ||
	fail "httpx async throttle: $(cat "$T/out")"
got=$(sql "SELECT endpoint, decision, rule, http_status, refused FROM records WHERE seq > $n1 ORDER BY event_time_ns" | tr '\n' ' ')
[ "$got" = "/v1/chat/completions|delay|one-at-a-time|0|1 /v1/messages|||200|0 " ] ||
	fail "async throttle records: $got"

llm_end "ok: deny (4 clients, provider untouched), allow through admission, delay and throttle"
