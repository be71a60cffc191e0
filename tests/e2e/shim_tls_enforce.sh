#!/bin/bash
# shim_tls_enforce — admission over TLS (OpenSSL hooks, issue 4
# "Enforcement") and HTTP/2 under the shim. The fake provider serves HTTPS
# with ALPN h2 and http/1.1; a private tollgated has a policy.
#   deny:  a spent day budget. python3 requests (blocking), curl
#          (non-blocking), httpx.AsyncClient and asyncio's own TLS
#          streams (TLS on memory BIOs) over HTTPS get their provider's
#          429 from SSL_read; the provider receives nothing.
#   ALPN:  curl offers h2 by default. To a provider's own host
#          (api.openai.com, via --resolve) from a process whose requests
#          are admitted, the offer is narrowed to http/1.1, so the request
#          is held and refused like any other; to localhost it stays h2.
#   allow: a big budget. The narrowed request is admitted and sent (its
#          record has the admission's id); an h2 request (localhost) is
#          metered passively, exactly, with its latency, and its record
#          says "unenforceable"; with no enforcing rule it says nothing.
. "$(dirname "$0")/llm_common.inc"
need "$SHIM" "$B/tollgated"
need_sqlite
need_cmd curl
need_py requests h2
llm_setup
provider https --h2 --seed 21
export REQUESTS_CA_BUNDLE=$CA SSL_CERT_FILE=$CA CURL_CA_BUNDLE=$CA
OAI=https://api.openai.com:$PORT
RESOLVE="--resolve api.openai.com:$PORT:127.0.0.1"
CHAT='{"model":"gpt-4o","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}'

# ---- deny -------------------------------------------------------------------
daemon '{"schema_version": 1, "timezone": "UTC", "rules": [{"name": "day-cap",
 "kind": "budget", "period": "day", "limit_usd": "0.000001"}]}'
cat >"$T/anthropic.py" <<'PY'
import requests, sys
r = requests.post(sys.argv[1] + "/v1/messages", headers={"anthropic-version": "2023-06-01"},
    json={"model": "claude-sonnet-4-20250514", "max_tokens": 100,
          "messages": [{"role": "user", "content": "hi"}]})
b = r.json()
assert r.status_code == 429 and r.headers["x-should-retry"] == "false", (r.status_code, r.headers)
assert b["type"] == "error" and b["error"]["type"] == "rate_limit_error", b
assert b["error"]["message"].startswith('tollgate: request refused by rule "day-cap"'), b
print("ok")
PY
LD_PRELOAD=$SHIM "$PY" "$T/anthropic.py" "$H" >"$T/out" 2>&1 ||
	fail "requests https deny: $(cat "$T/out")"
out=$(LD_PRELOAD=$SHIM curl -sS --http1.1 -w '\n%{http_code}' "$H/v1/chat/completions" \
    -d "$CHAT") || fail "curl https deny: exit $?"
[ "$(echo "$out" | tail -1)" = 429 ] && echo "$out" | head -1 | grep -q '"insufficient_quota"' ||
	fail "curl https deny: $out"
# asyncio: TLS on memory BIOs (the loop moves the bytes itself). The
# refusal must wake it (the socket its ClientHello used is shut down),
# not leave it waiting for a server that was never asked.
cat >"$T/gemini_async.py" <<'PY'
import asyncio, httpx, sys, time
async def main():
    t0 = time.monotonic()
    async with httpx.AsyncClient(timeout=30, http2=False) as c:
        r = await c.post(sys.argv[1] + "/v1beta/models/gemini-2.5-flash:generateContent",
            json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
    b = r.json()
    assert r.status_code == 429, (r.status_code, b)
    assert b["error"]["status"] == "RESOURCE_EXHAUSTED" and 'rule "day-cap"' in b["error"]["message"], b
    # not the 30 s timeout: answered at once
    assert time.monotonic() - t0 < 20, time.monotonic() - t0
    print("ok")
asyncio.run(main())
PY
LD_PRELOAD=$SHIM "$PY" "$T/gemini_async.py" "$H" >"$T/out" 2>&1 ||
	fail "httpx async https deny: $(cat "$T/out")"
# asyncio's own TLS transport (aiohttp's) reads the SSL only when the
# socket says so: the shut-down socket must wake it.
cat >"$T/raw_async.py" <<'PY'
import asyncio, json, ssl, sys
async def main():
    ctx = ssl.create_default_context(cafile=sys.argv[2])
    r, w = await asyncio.open_connection("localhost", int(sys.argv[1]), ssl=ctx)
    body = json.dumps({"model": "gpt-4o", "max_tokens": 5,
                       "messages": [{"role": "user", "content": "hi"}]}).encode()
    w.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    await w.drain()
    data = await asyncio.wait_for(r.read(), 20)     # to the end: Connection: close
    head, _, b = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 429 "), data
    assert json.loads(b)["error"]["code"] == "insufficient_quota", b
    w.close()
    print("ok")
asyncio.run(main())
PY
LD_PRELOAD=$SHIM "$PY" "$T/raw_async.py" "$PORT" "$CA" >"$T/out" 2>&1 ||
	fail "asyncio streams https deny: $(cat "$T/out")"
# default ALPN (h2, http/1.1) to a provider's host: narrowed, refused
out=$(LD_PRELOAD=$SHIM curl -sS $RESOLVE -w '\n%{http_code} %{http_version}' \
    "$OAI/v1/chat/completions" -d "$CHAT") || fail "curl alpn deny: exit $?"
[ "$(echo "$out" | tail -1)" = "429 1.1" ] || fail "curl alpn deny: $out"
[ "$(plines)" = 0 ] || fail "the provider received refused requests: $(cat "$T/provider.log")"
got=$(sql "SELECT group_concat(provider || ':' || decision || ':' || rule, ' ') FROM records ORDER BY seq")
[ "$got" = "anthropic:deny:day-cap openai-compatible:deny:day-cap gemini:deny:day-cap openai-compatible:deny:day-cap openai:deny:day-cap" ] ||
	fail "deny records: $got"

# ---- allow ------------------------------------------------------------------
daemon '{"schema_version": 1, "timezone": "UTC", "rules": [{"name": "month",
 "kind": "budget", "period": "month", "limit_usd": "1000"}]}'
v=$(LD_PRELOAD=$SHIM curl -sS $RESOLVE -o /dev/null -w '%{http_version}' \
    "$OAI/v1/chat/completions" -d "$CHAT") || fail "curl alpn allow: exit $?"
[ "$v" = 1.1 ] || fail "curl alpn allow: HTTP/$v, want 1.1"
v=$(LD_PRELOAD=$SHIM curl -sS -N -o /dev/null -w '%{http_version}' \
    -H 'X-Fake-Delay-Ms: 30' -H 'anthropic-version: 2023-06-01' "$H/v1/messages" \
    -d '{"model":"claude-sonnet-4-20250514","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi"}]}') ||
	fail "curl h2 allow: exit $?"
[ "$v" = 2 ] || fail "curl h2 allow: HTTP/$v, want 2"
"$PY" - "$T/provider.log" "$T/state/ledger.db" <<'PY' || fail "allow records"
import json, sqlite3, sys
L = [json.loads(l) for l in open(sys.argv[1])]
con = sqlite3.connect(sys.argv[2]); con.row_factory = sqlite3.Row
R = list(con.execute("SELECT * FROM records ORDER BY seq"))
assert len(L) == 2 and len(R) == 2, (L, [dict(r) for r in R])
assert [l["transport"] for l in L] == ["http/1.1", "h2"], L
for l, r in zip(L, R):
    t = l["tokens"]
    got = (r["model"], r["input_tokens"], r["output_tokens"], r["cached_tokens"], r["estimated"])
    assert got == (l["model"], t["input_tokens"], t["output_tokens"], t["cached_tokens"], 0), (got, t)
assert R[0]["provider"] == "openai" and R[0]["admit_id"] != 0 and R[0]["decision"] == "", dict(R[0])
assert R[1]["decision"] == "unenforceable" and R[1]["admit_id"] == 0, dict(R[1])
assert R[1]["latency_ms"] >= 30 * (L[1]["events"] - 1), (R[1]["latency_ms"], L[1]["events"])
PY

# ---- no enforcing rule: h2 metered, nothing to say ----------------------------
daemon '{"schema_version": 1, "timezone": "UTC", "rules": []}'
LD_PRELOAD=$SHIM curl -sS -o /dev/null "$H/v1/chat/completions" -d "$CHAT" ||
	fail "curl h2 observe: exit $?"
"$PY" - "$T/provider.log" "$T/state/ledger.db" <<'PY' || fail "h2 observe record"
import json, sqlite3, sys
l = [json.loads(l) for l in open(sys.argv[1])][-1]
r = sqlite3.connect(sys.argv[2]).execute("SELECT input_tokens, output_tokens, decision, admit_id FROM records").fetchall()
assert l["transport"] == "h2", l
assert r == [(l["tokens"]["input_tokens"], l["tokens"]["output_tokens"], "", 0)], (r, l)
PY

llm_end "ok: TLS deny (requests, curl, narrowed ALPN), provider untouched; admitted over TLS; h2 metered and marked unenforceable"
