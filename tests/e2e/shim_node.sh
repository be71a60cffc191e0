#!/bin/bash
# shim_node — the official npm SDKs (openai, @anthropic-ai/sdk, pinned in
# tests/clients/node/package-lock.json), unmodified, under
# LD_PRELOAD=libtollgate.so, over plain HTTP to tools/fake-llm-provider.
# Node links its own OpenSSL, so only plain HTTP is the shim's to see; its
# sockets are libuv's (non-blocking connect, writev, read after epoll).
# One node process makes six calls on undici's keep-alive pool: openai
# chat (non-stream; stream with include_usage), openai responses
# (non-stream; stream), anthropic messages (non-stream; stream). Each call
# must add exactly one ledger record whose provider, model, endpoint,
# status and token counts equal both the provider's --log line and the
# usage the SDK itself parsed, and whose cost_nano_usd is the price
# table's, computed here with integer math (as shim_http.sh does).
# No node: skip, except in CI; no node_modules: fail (tools/install-deps
# installs them).
. "$(dirname "$0")/shim_common.inc"
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=/usr/bin/python3
NODE_DIR=$SRC/tests/clients/node
need "$SHIM" "$B/tollgated"
need_sqlite
if ! command -v node >/dev/null && [ "${CI:-}" != true ]; then
	echo "skip: no node"; exit 77
fi
[ -d "$NODE_DIR/node_modules/openai" ] && [ -d "$NODE_DIR/node_modules/@anthropic-ai/sdk" ] || {
	echo "FAIL: $NODE_DIR/node_modules is missing: run tools/install-deps"; exit 1; }
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

# Seed 5: cached tokens in four calls (one a stream with reasoning),
# cache writes in both anthropic calls, reasoning in both o3 streams.
"$SRC/tools/fake-llm-provider" --http 0 --port-file "$T/ports" \
    --log "$T/provider.log" --seed 5 2>"$T/provider.err" & C=$!
for _ in $(seq 100); do [ -s "$T/ports" ] && break; sleep 0.05; done
PORT=$(sed -n 's/^http=//p' "$T/ports")
[ -n "$PORT" ] || { echo "the fake provider did not start:"; cat "$T/provider.err"; exit 1; }

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
t0=$(date +%s%3N)
LD_PRELOAD=$SHIM node "$NODE_DIR/llm_calls.mjs" "http://127.0.0.1:$PORT" \
    >"$T/sdk.jsonl" 2>"$T/err" || fail "node: exit $?: $(head -c 600 "$T/err")"
wall=$(($(date +%s%3N) - t0))
[ -s "$T/err" ] && fail "node wrote on stderr: $(head -c 600 "$T/err")"
[ "$(wc -l <"$T/provider.log")" = 6 ] ||
	fail "the provider logged $(wc -l <"$T/provider.log") requests, want 6 (no retries)"
[ "$(records)" = 6 ] || fail "$(records) records for 6 SDK calls"
out=$("$PY" "$T/check.py" "$T/provider.log" "$T/state/ledger.db" \
    "$SRC/policies/prices.json" "$T/sdk.jsonl" \
    openai-compatible,openai-compatible,openai-compatible,openai-compatible,anthropic,anthropic \
    "$wall") || fail "ledger, provider and SDK disagree:
$out"

# The seed makes the six calls exercise every token field.
sums=$(sqlite3 "$T/state/ledger.db" 'SELECT sum(cached_tokens > 0), sum(cache_write_tokens > 0), sum(reasoning_tokens > 0), sum(unpriced) FROM records')
[ "$sums" = "4|2|2|0" ] || fail "records with cached|cache write|reasoning|unpriced: $sums, want 4|2|2|0"

# undici asks for gzip: every response was gzipped, and decoded by the shim.
gz=$("$PY" -c 'import json, sys; print(sum(json.loads(l)["gzip"] is True for l in open(sys.argv[1])))' "$T/provider.log")
[ "$gz" = 6 ] || fail "$gz of 6 responses were gzipped"

n=$(ls "$T/spool" 2>/dev/null | grep -c '\.spool$')
[ "$n" = 0 ] || fail "$n spool files: records were not settled live"

[ "$fails" = 0 ] || { echo "--- daemon log"; tail -5 "$T/daemon.log"; exit 1; }
echo "ok: 6 node SDK calls; ledger = provider's usage = SDK's usage; costs to the nano-USD"
