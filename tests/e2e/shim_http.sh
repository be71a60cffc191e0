#!/bin/bash
# shim_http — plain-HTTP LLM metering in the shim, observe only (issue 4,
# first slice). Unmodified curl and Debian's python3 requests, with
# LD_PRELOAD=libtollgate.so, talk to tools/fake-llm-provider on loopback;
# a private tollgated prices with policies/prices.json. Each LLM request
# must add exactly one ledger record whose provider, model, endpoint, HTTP
# status and token counts are the ones the provider's --log line says it
# sent, whose latency lies between the stream's own pauses and the
# client's wall time, and whose cost_nano_usd is the price table's,
# computed here with integer math. Non-LLM traffic (GET /v1/models, a
# file:// URL) adds no record and never even connects to the daemon; nor
# do ls and python3.
. "$(dirname "$0")/shim_common.inc"
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
PY=/usr/bin/python3 # Debian's, where python3-requests lives
need "$SHIM" "$B/tollgated" "$P/http_fortified"
need_sqlite
command -v curl >/dev/null || { echo "skip: no curl"; exit 77; }
"$PY" -c 'import requests' 2>/dev/null ||
	{ echo "skip: python3-requests is not installed for $PY"; exit 77; }
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy
export NO_PROXY='*'
shim_setup
# A commit may take longer than the default 50 ms on a loaded machine:
# records are to arrive live, not through the spool.
export TOLLGATE_TIMEOUT_MS=5000

"$B/tollgated" --socket "$T/sock" --state-dir "$T/state" --http off \
    --prices "$SRC/policies/prices.json" 2>>"$T/daemon.log" & D=$!
for _ in $(seq 100); do [ -S "$T/sock" ] && break; sleep 0.05; done
[ -S "$T/sock" ] || { echo "tollgated did not start:"; cat "$T/daemon.log"; exit 1; }

"$SRC/tools/fake-llm-provider" --http 0 --port-file "$T/ports" \
    --log "$T/provider.log" --seed 8 2>"$T/provider.err" & C=$!
for _ in $(seq 100); do [ -s "$T/ports" ] && break; sleep 0.05; done
PORT=$(sed -n 's/^http=//p' "$T/ports")
[ -n "$PORT" ] || { echo "the fake provider did not start:"; cat "$T/provider.err"; exit 1; }
H=http://127.0.0.1:$PORT

# check.py K PROVIDERS WALL_MS MIN_MS: the last K --log lines against the
# last K records, in order. PROVIDERS: the ledger's provider name for each
# (comma-separated). The cost is the price table's: lookup as lib/prices.h
# says (provider/model, model, then without a date suffix), pico-USD per
# token = USD per Mtok × 10^6 exactly, rounded once to nano-USD.
cat >"$T/check.py" <<'PY'
import json, re, sqlite3, sys
from decimal import Decimal
log, db, prices = sys.argv[1:4]
k, provs = int(sys.argv[4]), sys.argv[5].split(",")
wall, least = int(sys.argv[6]), int(sys.argv[7])
L = [json.loads(l) for l in open(log)][-k:]
con = sqlite3.connect(db)
con.row_factory = sqlite3.Row
R = list(con.execute("SELECT * FROM records ORDER BY seq DESC LIMIT ?", (k,)))[::-1]
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
bad = []
if len(R) != k:
    bad.append("want %d records, have %d" % (k, len(R)))
for l, r, prov in zip(L, R, provs):
    t = l["tokens"]
    want = {"provider": prov, "model": l["model"],
            "endpoint": l["path"].split("?")[0], "http_status": l["status"],
            "input_tokens": t["input_tokens"], "output_tokens": t["output_tokens"],
            "cached_tokens": t["cached_tokens"],
            "cache_write_tokens": t["cache_write_tokens"],
            "reasoning_tokens": t["reasoning_tokens"],
            "estimated": 0, "refused": 0, "kind": "llm", "source": "shim"}
    p = price(prov, l["model"])
    if p is None:
        want.update(cost_nano_usd=0, unpriced=1)
    else:
        unc = t["input_tokens"] - t["cached_tokens"] - t["cache_write_tokens"]
        c = (unc * pico(p, "input_usd_per_mtok", "input_usd_per_mtok")
             + t["cached_tokens"] * pico(p, "cached_input_usd_per_mtok", "input_usd_per_mtok")
             + t["cache_write_tokens"] * pico(p, "cache_write_usd_per_mtok", "input_usd_per_mtok")
             + t["output_tokens"] * pico(p, "output_usd_per_mtok", "output_usd_per_mtok"))
        want.update(cost_nano_usd=(c + 500) // 1000, unpriced=0)
    for f, v in want.items():
        if r[f] != v:
            bad.append("request %d %s: record has %r, want %r"
                       % (l["n"], f, r[f], v))
    if not least <= r["latency_ms"] <= wall:
        bad.append("request %d latency_ms %d not in [%d, %d]"
                   % (l["n"], r["latency_ms"], least, wall))
    if not l["complete"] or l["tokens"] is None:
        bad.append("request %d: the provider did not complete it" % l["n"])
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY

records() { sqlite3 "$T/state/ledger.db" 'SELECT count(*) FROM records'; }
now_ms() { date +%s%3N; }
# run NAME K PROVIDERS MIN_MS CMD...: CMD under the shim must succeed and
# add K records matching the provider's last K log lines.
run() {
	local name=$1 k=$2 provs=$3 least=$4 before t0 wall out; shift 4
	before=$(records)
	t0=$(now_ms)
	LD_PRELOAD=$SHIM "$@" >"$T/out" 2>"$T/err" ||
		{ fail "$name: exit $?: $(head -c 300 "$T/err")"; return; }
	wall=$(($(now_ms) - t0))
	[ "$(records)" = $((before + k)) ] ||
		{ fail "$name: $(($(records) - before)) new records, want $k"; return; }
	out=$("$PY" "$T/check.py" "$T/provider.log" "$T/state/ledger.db" \
	    "$SRC/policies/prices.json" "$k" "$provs" "$wall" "$least") ||
		fail "$name:
$out"
}

# --- curl, HTTP/1.1 ----------------------------------------------------------
CHAT='{"model":"gpt-4o","messages":[{"role":"user","content":"Say hi to the meter"}]}'
run "openai chat (unknown host: openai-compatible)" 1 openai-compatible 0 \
	curl -sS --http1.1 "$H/v1/chat/completions" -d "$CHAT"
run "openai chat, Host api.openai.com" 1 openai 0 \
	curl -sS --http1.1 -H 'Host: api.openai.com' "$H/v1/chat/completions" -d "$CHAT"
# A stream with include_usage, gzip (chunked, flushed per event), o3 with
# reasoning tokens.
run "openai chat stream, include_usage, gzip" 1 openai-compatible 0 \
	curl -sS -N --http1.1 -H 'Accept-Encoding: gzip' --compressed \
	"$H/v1/chat/completions" -d '{"model":"o3","stream":true,"stream_options":{"include_usage":true},"max_completion_tokens":2000,"messages":[{"role":"user","content":"think, then answer"}]}'
[ "$(tail -n 1 "$T/provider.log" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["gzip"])')" = True ] ||
	fail "the gzip case was not gzipped: $(tail -n 1 "$T/provider.log")"
# Anthropic: cumulative output in message_delta; 40 ms between events, so
# the latency is at least 40 ms × (events - 1).
run "anthropic messages stream" 1 anthropic 0 \
	curl -sS -N --http1.1 -H 'X-Fake-Delay-Ms: 40' -H 'anthropic-version: 2023-06-01' \
	"$H/v1/messages" -d '{"model":"claude-sonnet-4-20250514","max_tokens":200,"stream":true,"messages":[{"role":"user","content":"hello"}]}'
ev=$(tail -n 1 "$T/provider.log" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["events"])')
lat=$(sqlite3 "$T/state/ledger.db" 'SELECT latency_ms FROM records ORDER BY seq DESC LIMIT 1')
[ "$lat" -ge $((40 * (ev - 1))) ] ||
	fail "anthropic stream latency $lat ms < 40 ms x ($ev - 1) events"
run "gemini streamGenerateContent alt=sse" 1 gemini 0 \
	curl -sS -N --http1.1 "$H/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse" \
	-d '{"contents":[{"role":"user","parts":[{"text":"stream me some words"}]}]}'
run "ollama /api/chat NDJSON" 1 ollama 0 \
	curl -sS -N --http1.1 "$H/api/chat" \
	-d '{"model":"llama3.2","messages":[{"role":"user","content":"hey"}]}'

# --- python3 requests: keep-alive (two requests, one connection), gzip ---
cat >"$T/req_chat.py" <<'PY'
import requests, sys
s = requests.Session()
for q in ("one", "two"):
    r = s.post(sys.argv[1] + "/v1/chat/completions", json={"model": "gpt-4o",
        "messages": [{"role": "user", "content": "question " + q}]})
    r.raise_for_status()
    assert r.headers.get("Content-Encoding") == "gzip", r.headers
    print(r.json()["usage"]["prompt_tokens"])
PY
run "requests chat x2 keep-alive gzip" 2 openai-compatible,openai-compatible 0 \
	"$PY" "$T/req_chat.py" "$H"
cat >"$T/req_ollama.py" <<'PY'
import json, requests, sys
r = requests.post(sys.argv[1] + "/api/chat", stream=True, json={"model": "llama3.2",
    "messages": [{"role": "user", "content": "stream please"}]})
last = [json.loads(l) for l in r.iter_lines() if l][-1]
assert last["done"] is True, last
print(last["prompt_eval_count"], last["eval_count"])
PY
run "requests ollama NDJSON stream" 1 ollama 0 "$PY" "$T/req_ollama.py" "$H"

# --- a program built with _FORTIFY_SOURCE: __read_chk, __recv_chk,
# __recvfrom_chk (a length the compiler cannot check) ------------------
for how in read recv recvfrom; do
	run "fortified $how" 1 openai-compatible 0 "$P/http_fortified" "$PORT" "$how"
	[ "$(cat "$T/out")" = "HTTP/1.1 200 OK" ] || fail "fortified $how printed: $(cat "$T/out")"
done

# The seed (8) makes the numbers above exercise every token field.
sums=$(sqlite3 "$T/state/ledger.db" 'SELECT sum(cached_tokens > 0), sum(cache_write_tokens > 0), sum(reasoning_tokens > 0), sum(unpriced), count(DISTINCT provider) FROM records')
[ "$sums" = "4|1|2|2|5" ] || fail "records with cached|cache write|reasoning|unpriced, providers: $sums, want 4|1|2|2|5"

# --- not LLM: no record, no daemon connection ----------------------------
n=$(records)
have_strace=0
command -v strace >/dev/null && have_strace=1 ||
	echo "note: no strace; the no-connection checks are skipped"
noconn() { # what command...
	local what=$1; shift
	if [ $have_strace = 1 ]; then
		strace -f -qq -e trace=connect -o "$T/strace" \
		    env LD_PRELOAD="$SHIM" "$@" >"$T/out" 2>&1 || fail "$what: exit $?"
		grep -q "$T/sock" "$T/strace" && fail "$what connected to the daemon"
	else
		LD_PRELOAD=$SHIM "$@" >"$T/out" 2>&1 || fail "$what: exit $?"
	fi
}
noconn "curl GET /v1/models" curl -sS --http1.1 "$H/v1/models"
grep -q '"object": *"list"' "$T/out" || fail "GET /v1/models answered: $(head -c 200 "$T/out")"
echo hello >"$T/file.txt"
noconn "curl file://" curl -sS "file://$T/file.txt"
[ "$(cat "$T/out")" = hello ] || fail "curl file:// printed: $(cat "$T/out")"
noconn "ls /" ls /
noconn "python3 -c pass" "$PY" -c pass
[ "$(records)" = "$n" ] || fail "non-LLM traffic added $(($(records) - n)) records"

# Regression "a socket closed by close_range kept its state": a file that
# then got its fd number was parsed as the pending request's response and
# billed as a made-up record. Now the request ends (cut, an estimate of
# the request alone) and the file is nobody's response.
printf 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 95\r\n\r\n{"model":"gpt-4o-PHANTOM","usage":{"prompt_tokens":77777,"completion_tokens":88888}}          ' \
	>"$T/phantom.txt"
LD_PRELOAD=$SHIM "$PY" - "$PORT" "$T/phantom.txt" <<'PY' || fail "close_range case: exit $?"
import json, os, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}).encode()
s.send(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
fd = s.detach()
os.closerange(fd, fd + 1)
f = os.open(sys.argv[2], os.O_RDONLY)
assert f == fd, (f, fd)
while os.read(f, 4096):
    pass
os.close(f)
PY
[ "$(sqlite3 "$T/state/ledger.db" "SELECT count(*) FROM records WHERE model LIKE '%PHANTOM%'")" = 0 ] ||
	fail "close_range: a file read on the reused fd was billed"
# … and a socket closed past every hook (a raw close system call): the
# socket's identity (dev+ino at connect) no longer matches, nothing billed
if [ "$(uname -m)" = x86_64 ]; then
LD_PRELOAD=$SHIM "$PY" - "$PORT" "$T/phantom.txt" <<'PY' || fail "raw close case: exit $?"
import ctypes, json, os, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}).encode()
s.send(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
fd = s.detach()
ctypes.CDLL(None, use_errno=True).syscall(3, fd)   # SYS_close on x86_64
f = os.open(sys.argv[2], os.O_RDONLY)
assert f == fd, (f, fd)
while os.read(f, 4096):
    pass
os.close(f)
PY
[ "$(sqlite3 "$T/state/ledger.db" "SELECT count(*) FROM records WHERE model LIKE '%PHANTOM%'")" = 0 ] ||
	fail "raw close: a file read on the reused fd was billed"
fi
n=$(records)

# Nothing went through the spool.
n=$(ls "$T/spool" 2>/dev/null | grep -c '\.spool$')
[ "$n" = 0 ] || fail "$n spool files: records were not settled live"

[ "$fails" = 0 ] || { echo "--- daemon log"; tail -5 "$T/daemon.log"; exit 1; }
echo "ok: $(records) records equal the provider's usage and the price table's cost"
