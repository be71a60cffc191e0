#!/bin/bash
# shim_httpx — Debian's /usr/bin/python3 with httpx (python3-httpx: h11 on
# plain sockets), unmodified, under LD_PRELOAD=libtollgate.so, over plain
# HTTP to tools/fake-llm-provider. httpx.Client: openai chat, openai chat
# stream (include_usage) and an anthropic stream, in that order on one
# keep-alive connection. httpx.AsyncClient (asyncio): the same three at
# once, on three non-blocking sockets read after the event loop's poll.
# Each call must add exactly one ledger record whose provider, model,
# endpoint, status and token counts equal both the provider's --log line
# and the usage the client parsed from the body or stream itself, and
# whose cost_nano_usd is the price table's, computed here with integer
# math (as shim_http.sh does).
. "$(dirname "$0")/shim_common.inc"
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=/usr/bin/python3 # Debian's, where python3-httpx lives
need "$SHIM" "$B/tollgated"
need_sqlite
"$PY" -c 'import httpx' 2>/dev/null ||
	{ echo "skip: python3-httpx is not installed for $PY"; exit 77; }
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy
export NO_PROXY='*'
shim_setup
# Records are to arrive live, not through the spool, even on a loaded
# machine.
export TOLLGATE_TIMEOUT_MS=5000

"$B/tollgated" --socket "$T/sock" --state-dir "$T/state" --http off \
    --prices "$SRC/policies/prices.json" 2>>"$T/daemon.log" & D=$!
for _ in $(seq 100); do [ -S "$T/sock" ] && break; sleep 0.05; done
[ -S "$T/sock" ] || { echo "tollgated did not start:"; cat "$T/daemon.log"; exit 1; }

# Seed 5: the sync calls (requests 1-3) have cached tokens in each, a
# cache write and reasoning; the async ones get request numbers, and so
# usage, in the order they arrive.
"$SRC/tools/fake-llm-provider" --http 0 --port-file "$T/ports" \
    --log "$T/provider.log" --seed 5 2>"$T/provider.err" & C=$!
for _ in $(seq 100); do [ -s "$T/ports" ] && break; sleep 0.05; done
PORT=$(sed -n 's/^http=//p' "$T/ports")
[ -n "$PORT" ] || { echo "the fake provider did not start:"; cat "$T/provider.err"; exit 1; }

# calls.py BASE sync|async: one JSON line per call, {call, api, model,
# usage}, the usage as this client parsed it: the body's, the stream's
# usage chunk, or Anthropic's message_start usage updated by each
# message_delta's (output_tokens cumulative: the last one counts).
cat >"$T/calls.py" <<'PY'
import asyncio, json, sys
import httpx
base, mode = sys.argv[1:3]
ANT = {"anthropic-version": "2023-06-01", "x-api-key": "sk-ant-fake"}
OAI = {"authorization": "Bearer sk-fake"}
def ask(text):
    return [{"role": "user", "content": text}]
CALLS = [
    ("openai chat", "chat.completions", "/v1/chat/completions", OAI, False,
     {"model": "gpt-4o", "messages": ask("count my tokens, httpx")}),
    ("openai chat stream", "chat.completions", "/v1/chat/completions", OAI, True,
     {"model": "o3", "stream": True, "stream_options": {"include_usage": True},
      "messages": ask("think, then stream")}),
    ("anthropic messages stream", "messages", "/v1/messages", ANT, True,
     {"model": "claude-sonnet-4-20250514", "max_tokens": 300, "stream": True,
      "messages": ask("stream hello from httpx")}),
]
if mode == "async":   # distinct models: the three run at once
    CALLS[1][5]["model"] = "gpt-4o-mini"
    CALLS[2][3]["x-fake-anthropic-usage"] = "full"
class Fold:
    """The usage of one response, fed its SSE data lines."""
    def __init__(self, api):
        self.api, self.model, self.usage = api, None, None
    def data(self, d):
        if self.api == "chat.completions":
            self.model = d["model"]
            if d.get("usage") is not None:
                self.usage = d["usage"]
        elif d["type"] == "message_start":
            self.model = d["message"]["model"]
            self.usage = dict(d["message"]["usage"])
        elif d["type"] == "message_delta":
            self.usage.update({k: v for k, v in d["usage"].items() if v is not None})
    def line(self, l):
        if l.startswith("data:") and l[5:].strip() != "[DONE]":
            self.data(json.loads(l[5:]))
def report(name, api, f):
    assert f.usage is not None, name + ": no usage parsed"
    print(json.dumps({"call": name, "api": api, "model": f.model, "usage": f.usage}),
          flush=True)
def sync():
    with httpx.Client(base_url=base) as c:
        for name, api, path, hdrs, stream, body in CALLS:
            f = Fold(api)
            if not stream:
                r = c.post(path, json=body, headers=hdrs)
                r.raise_for_status()
                j = r.json()
                f.model, f.usage = j["model"], j["usage"]
            else:
                with c.stream("POST", path, json=body, headers=hdrs) as r:
                    r.raise_for_status()
                    for l in r.iter_lines():
                        f.line(l)
            report(name, api, f)
async def one(c, name, api, path, hdrs, stream, body):
    f = Fold(api)
    if not stream:
        r = await c.post(path, json=body, headers=hdrs)
        r.raise_for_status()
        j = r.json()
        f.model, f.usage = j["model"], j["usage"]
    else:
        async with c.stream("POST", path, json=body, headers=hdrs) as r:
            r.raise_for_status()
            async for l in r.aiter_lines():
                f.line(l)
    report(name, api, f)
async def concurrent():
    async with httpx.AsyncClient(base_url=base) as c:
        await asyncio.gather(*(one(c, *call) for call in CALLS))
sync() if mode == "sync" else asyncio.run(concurrent())
PY

# check.py LOG DB PRICES CLIENT PROVIDERS WALL_MS [by-model]: the client's
# lines (one per call) against the provider's last lines and the ledger's
# last records, in order, or each sorted by model (calls made at once).
# PROVIDERS: the ledger's provider name for each call, in that order.
# Cost: the price table's as lib/prices.h says (provider/model, model,
# then without a date suffix), pico-USD per token = USD per Mtok × 10^6,
# rounded once to nano-USD.
cat >"$T/check.py" <<'PY'
import json, re, sqlite3, sys
from decimal import Decimal
log, db, prices, sdk = sys.argv[1:5]
provs, wall = sys.argv[5].split(","), int(sys.argv[6])
by_model = sys.argv[7:] == ["by-model"]
S = [json.loads(l) for l in open(sdk)]
k = len(provs)
L = [json.loads(l) for l in open(log)][-k:]
con = sqlite3.connect(db)
con.row_factory = sqlite3.Row
R = list(con.execute("SELECT * FROM records ORDER BY seq DESC LIMIT ?", (k,)))[::-1]
if by_model:
    S.sort(key=lambda s: s["model"])
    L.sort(key=lambda l: l["model"])
    R.sort(key=lambda r: r["model"])
M = json.load(open(prices), parse_float=Decimal)["models"]
def undated(m):
    x = re.sub(r"-\d{4}-\d{2}-\d{2}$", "", m)
    return x if x != m else re.sub(r"-\d{8}$", "", m)
def price(prov, m):
    for name in (m, undated(m)):
        for key in (prov + "/" + name, name):
            if key in M:
                return M[key]
    return None
def pico(p, key, dflt):
    return int(p.get(key, p.get(dflt, 0)) * 1000000)
def cost(prov, m, t):
    p = price(prov, m)
    if p is None:
        return 0, 1
    unc = t["input_tokens"] - t["cached_tokens"] - t["cache_write_tokens"]
    c = (unc * pico(p, "input_usd_per_mtok", "input_usd_per_mtok")
         + t["cached_tokens"] * pico(p, "cached_input_usd_per_mtok", "input_usd_per_mtok")
         + t["cache_write_tokens"] * pico(p, "cache_write_usd_per_mtok", "input_usd_per_mtok")
         + t["output_tokens"] * pico(p, "output_usd_per_mtok", "output_usd_per_mtok"))
    return (c + 500) // 1000, 0
# The client's usage object in the ledger's meanings (DESIGN.md): input
# includes cache reads and writes, output includes reasoning.
def ledger_tokens(api, u):
    d = lambda o, f: (u.get(o) or {}).get(f) or 0
    if api == "chat.completions":
        return dict(input_tokens=u["prompt_tokens"], output_tokens=u["completion_tokens"],
                    cached_tokens=d("prompt_tokens_details", "cached_tokens"),
                    cache_write_tokens=0,
                    reasoning_tokens=d("completion_tokens_details", "reasoning_tokens"))
    if api == "responses":
        return dict(input_tokens=u["input_tokens"], output_tokens=u["output_tokens"],
                    cached_tokens=d("input_tokens_details", "cached_tokens"),
                    cache_write_tokens=0,
                    reasoning_tokens=d("output_tokens_details", "reasoning_tokens"))
    if api == "messages":
        cr = u.get("cache_read_input_tokens") or 0
        cw = u.get("cache_creation_input_tokens") or 0
        return dict(input_tokens=u["input_tokens"] + cr + cw,
                    output_tokens=u["output_tokens"], cached_tokens=cr,
                    cache_write_tokens=cw, reasoning_tokens=0)
    raise SystemExit("unknown api " + api)
bad = []
if not (len(S) == len(L) == len(R) == k):
    bad.append("want %d client lines, log lines, records; have %d, %d, %d"
               % (k, len(S), len(L), len(R)))
for s, l, r, prov in zip(S, L, R, provs):
    name, t = s["call"], l["tokens"]
    if not l["complete"] or t is None:
        bad.append("%s: the provider did not complete it" % name)
        continue
    if s["api"] != l["api"] or s["model"] != l["model"]:
        bad.append("%s: the client saw %s %s, the provider sent %s %s"
                   % (name, s["api"], s["model"], l["api"], l["model"]))
    if s["usage"] != l["usage"]:
        bad.append("%s: the client parsed usage %s, the provider sent %s"
                   % (name, s["usage"], l["usage"]))
    st = ledger_tokens(s["api"], s["usage"])
    if st != t:
        bad.append("%s: the client's usage means %s, the provider's log %s" % (name, st, t))
    c, unpriced = cost(prov, l["model"], t)
    want = dict(st, provider=prov, model=s["model"], endpoint=l["path"].split("?")[0],
                http_status=l["status"], cost_nano_usd=c, unpriced=unpriced,
                estimated=0, refused=0, kind="llm", source="shim")
    for f, v in want.items():
        if r[f] != v:
            bad.append("%s %s: record has %r, want %r" % (name, f, r[f], v))
    if not 0 <= r["latency_ms"] <= wall:
        bad.append("%s: latency_ms %d not in [0, %d]" % (name, r["latency_ms"], wall))
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY

records() { sqlite3 "$T/state/ledger.db" 'SELECT count(*) FROM records'; }
# run MODE PROVIDERS [by-model]: calls.py MODE under the shim must add one
# record per call, each equal to the provider's log and the client's usage.
run() {
	local mode=$1 provs=$2 order=${3:-} before logged t0 wall out
	before=$(records) logged=$(wc -l <"$T/provider.log" 2>/dev/null || echo 0)
	t0=$(date +%s%3N)
	LD_PRELOAD=$SHIM "$PY" "$T/calls.py" "http://127.0.0.1:$PORT" "$mode" \
	    >"$T/client.jsonl" 2>"$T/err" ||
		{ fail "$mode: exit $?: $(tail -c 600 "$T/err")"; return; }
	wall=$(($(date +%s%3N) - t0))
	[ "$(($(wc -l <"$T/provider.log") - logged))" = 3 ] ||
		fail "$mode: the provider logged $(($(wc -l <"$T/provider.log") - logged)) requests, want 3"
	[ "$(records)" = $((before + 3)) ] ||
		{ fail "$mode: $(($(records) - before)) new records, want 3"; return; }
	out=$("$PY" "$T/check.py" "$T/provider.log" "$T/state/ledger.db" \
	    "$SRC/policies/prices.json" "$T/client.jsonl" "$provs" "$wall" $order) ||
		fail "$mode: ledger, provider and client disagree:
$out"
}
run sync openai-compatible,openai-compatible,anthropic
# sorted by model: claude-sonnet-4-20250514, gpt-4o-2024-08-06,
# gpt-4o-mini-2024-07-18
run async anthropic,openai-compatible,openai-compatible by-model

# The seed makes the sync calls exercise every token field.
sums=$(sqlite3 "$T/state/ledger.db" 'SELECT sum(cached_tokens > 0), sum(cache_write_tokens > 0), sum(reasoning_tokens > 0), sum(unpriced) FROM records WHERE seq <= 3')
[ "$sums" = "3|1|1|0" ] || fail "sync records with cached|cache write|reasoning|unpriced: $sums, want 3|1|1|0"

# httpx asks for gzip: every response was gzipped, and decoded by the shim.
gz=$("$PY" -c 'import json, sys; print(sum(json.loads(l)["gzip"] is True for l in open(sys.argv[1])))' "$T/provider.log")
[ "$gz" = 6 ] || fail "$gz of 6 responses were gzipped"

n=$(ls "$T/spool" 2>/dev/null | grep -c '\.spool$')
[ "$n" = 0 ] || fail "$n spool files: records were not settled live"

[ "$fails" = 0 ] || { echo "--- daemon log"; tail -5 "$T/daemon.log"; exit 1; }
echo "ok: 6 httpx calls (Client, AsyncClient); ledger = provider's usage = client's usage; costs to the nano-USD"
