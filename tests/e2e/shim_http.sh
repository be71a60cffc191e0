#!/bin/bash
# shim_http — plain-HTTP LLM metering in the shim, observe only (issue 4,
# first slice). Unmodified curl and Debian's python3 requests, with
# LD_PRELOAD=libtollgate.so, talk to tools/fake-llm-provider on loopback;
# a private tollgated prices with policies/prices.json. Each LLM request
# must add exactly one ledger record whose provider, model, endpoint, HTTP
# status and token counts are the ones the provider's --log line says it
# sent, whose latency lies between the stream's own pauses and the
# client's wall time, and whose cost_nano_usd is the price table's,
# computed with integer math (llm_check.py). Non-LLM traffic (GET
# /v1/models, a file:// URL) adds no record and never even connects to the
# daemon; nor do ls and python3.
. "$(dirname "$0")/llm_common.inc"
need "$SHIM" "$B/tollgated" "$P/http_fortified"
need_sqlite
need_cmd curl
need_py requests
llm_setup
daemon
provider http --seed 8

# --- curl, HTTP/1.1 ----------------------------------------------------------
CHAT='{"model":"gpt-4o","messages":[{"role":"user","content":"Say hi to the meter"}]}'
meter "openai chat (unknown host: openai-compatible)" 1 openai-compatible 0 \
	curl -sS --http1.1 "$H/v1/chat/completions" -d "$CHAT"
meter "openai chat, Host api.openai.com" 1 openai 0 \
	curl -sS --http1.1 -H 'Host: api.openai.com' "$H/v1/chat/completions" -d "$CHAT"
# A stream with include_usage, gzip (chunked, flushed per event), o3 with
# reasoning tokens.
meter "openai chat stream, include_usage, gzip" 1 openai-compatible 0 \
	curl -sS -N --http1.1 -H 'Accept-Encoding: gzip' --compressed \
	"$H/v1/chat/completions" -d '{"model":"o3","stream":true,"stream_options":{"include_usage":true},"max_completion_tokens":2000,"messages":[{"role":"user","content":"think, then answer"}]}'
[ "$(tail -n 1 "$T/provider.log" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["gzip"])')" = True ] ||
	fail "the gzip case was not gzipped: $(tail -n 1 "$T/provider.log")"
# Anthropic: cumulative output in message_delta; 40 ms between events, so
# the latency is at least 40 ms × (events - 1).
meter "anthropic messages stream" 1 anthropic 0 \
	curl -sS -N --http1.1 -H 'X-Fake-Delay-Ms: 40' -H 'anthropic-version: 2023-06-01' \
	"$H/v1/messages" -d '{"model":"claude-sonnet-4-20250514","max_tokens":200,"stream":true,"messages":[{"role":"user","content":"hello"}]}'
ev=$(tail -n 1 "$T/provider.log" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["events"])')
lat=$(sqlite3 "$T/state/ledger.db" 'SELECT latency_ms FROM records ORDER BY seq DESC LIMIT 1')
[ "$lat" -ge $((40 * (ev - 1))) ] ||
	fail "anthropic stream latency $lat ms < 40 ms x ($ev - 1) events"
meter "gemini streamGenerateContent alt=sse" 1 gemini 0 \
	curl -sS -N --http1.1 "$H/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse" \
	-d '{"contents":[{"role":"user","parts":[{"text":"stream me some words"}]}]}'
meter "ollama /api/chat NDJSON" 1 ollama 0 \
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
meter "requests chat x2 keep-alive gzip" 2 openai-compatible,openai-compatible 0 \
	"$PY" "$T/req_chat.py" "$H"
cat >"$T/req_ollama.py" <<'PY'
import json, requests, sys
r = requests.post(sys.argv[1] + "/api/chat", stream=True, json={"model": "llama3.2",
    "messages": [{"role": "user", "content": "stream please"}]})
last = [json.loads(l) for l in r.iter_lines() if l][-1]
assert last["done"] is True, last
print(last["prompt_eval_count"], last["eval_count"])
PY
meter "requests ollama NDJSON stream" 1 ollama 0 "$PY" "$T/req_ollama.py" "$H"

# --- a program built with _FORTIFY_SOURCE: __read_chk, __recv_chk,
# __recvfrom_chk (a length the compiler cannot check) ------------------
for how in read recv recvfrom; do
	meter "fortified $how" 1 openai-compatible 0 "$P/http_fortified" "$PORT" "$how"
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
no_spool

llm_end "ok: $(records) records equal the provider's usage and the price table's cost"
