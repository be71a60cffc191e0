#!/bin/bash
# fake_provider.sh — tools/fake-llm-provider, the fake LLM API the shim's
# tests talk to, checked on its own with real clients: curl over plain
# HTTP/1.1, over HTTPS with a CA made here (HTTP/1.1 and HTTP/2 by ALPN,
# h2c with prior knowledge, several h2 streams on one connection), and
# Debian's python3 requests. For every answer the usage the client parsed
# must equal, exactly, the usage its --log line says was sent; gzip
# (curl --compressed, requests' default Accept-Encoding), in-stream
# errors, cut streams, Expect: 100-continue, seeded determinism, bad
# options and SIGTERM are checked too. Needs no build.
set -u
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
FAKE=$SRC/tools/fake-llm-provider
PY=/usr/bin/python3 # Debian's, where python3-h2 and python3-requests live
[ -x "$PY" ] && "$PY" -c 'import h2' 2>/dev/null ||
	{ echo "skip: python3-h2 is not installed for $PY"; exit 77; }
command -v openssl >/dev/null || { echo "skip: no openssl command"; exit 77; }
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy
export NO_PROXY='*'

T=$(mktemp -d) F= G=
cleanup() {
	for p in $F $G; do kill "$p" && wait "$p"; done 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

"$FAKE" make-ca "$T/ca" >"$T/ca.out" || { echo "make-ca failed"; exit 1; }
[ "$(cat "$T/ca.out")" = "$T/ca/ca.pem
$T/ca/server.pem
$T/ca/server.key" ] || fail "make-ca printed: $(cat "$T/ca.out")"
openssl verify -CAfile "$T/ca/ca.pem" "$T/ca/server.pem" >/dev/null ||
	fail "server.pem does not verify against ca.pem"

start() { # dir: a fake with its port file and log in T/dir; sets P, S, pid
	mkdir -p "$T/$1"
	"$FAKE" --http 0 --https 0 --cert "$T/ca/server.pem" \
	    --key "$T/ca/server.key" --h2 --seed 42 --port-file "$T/$1/ports" \
	    --log "$T/$1/log" 2>"$T/$1/err" &
	pid=$!
	for _ in $(seq 100); do [ -s "$T/$1/ports" ] && break; sleep 0.05; done
	P=$(sed -n 's/^http=//p' "$T/$1/ports")
	S=$(sed -n 's/^https=//p' "$T/$1/ports")
	[ -n "$P" ] && [ -n "$S" ] || { echo "the fake did not start"; cat "$T/$1/err"; exit 1; }
}
start a
F=$pid
H=http://127.0.0.1:$P TLS=https://localhost:$S
CA=(--cacert "$T/ca/ca.pem")
LOG=$T/a/log

# lastlog EXPR: a python expression on L, the newest --log line
lastlog() { tail -n 1 "$LOG" | "$PY" -c "import json,sys; L=json.load(sys.stdin); print($1)"; }
# json FILE EXPR: a python expression on J, FILE's JSON
json() { "$PY" -c "import json,sys; J=json.load(open(sys.argv[1])); print($2)" "$1"; }

# --- curl, plain HTTP/1.1 --------------------------------------------------
CHAT='{"model":"gpt-4o","messages":[{"role":"user","content":"Say hi"}]}'
out=$(curl -sS --http1.1 -o "$T/r1" -w '%{http_version} %{http_code}' "$H/v1/chat/completions" -d "$CHAT")
[ "$out" = "1.1 200" ] || fail "chat: $out"
[ "$(json "$T/r1" 'J["object"], J["model"], J["choices"][0]["finish_reason"]')" = \
  "chat.completion gpt-4o-2024-08-06 stop" ] || fail "chat body: $(head -c 300 "$T/r1")"
[ "$(json "$T/r1" 'json.dumps(J["usage"], sort_keys=True)')" = \
  "$(lastlog 'json.dumps(L["usage"], sort_keys=True)')" ] || fail "chat usage differs from the log"
[ "$(lastlog 'L["n"], L["provider"], L["api"], L["transport"], L["tls"], L["stream"], L["status"]')" = \
  "1 openai chat.completions http/1.1 False False 200" ] || fail "chat log: $(tail -n 1 "$LOG")"

# the same request again: other usage (numbers vary per request)
curl -sS -o "$T/r2" "$H/v1/chat/completions" -d "$CHAT"
[ "$(json "$T/r1" 'J["usage"]')" != "$(json "$T/r2" 'J["usage"]')" ] ||
	fail "two requests got the same usage: $(json "$T/r2" 'J["usage"]')"

# an OpenAI stream with include_usage: every chunk has "usage": null but the
# last, which has no choices; then [DONE]
curl -sS -N -o "$T/r3" "$H/v1/chat/completions" -d \
  '{"model":"o3","stream":true,"stream_options":{"include_usage":true},"max_completion_tokens":300,"messages":[{"role":"user","content":"hi"}]}'
"$PY" - "$T/r3" "$LOG" <<'PY' || fail "OpenAI stream"
import json, sys
body = open(sys.argv[1]).read()
log = json.loads(open(sys.argv[2]).read().splitlines()[-1])
events = body.split("\n\n")
assert events[-1] == "" and events[-2] == "data: [DONE]", events[-3:]
chunks = [json.loads(e[len("data: "):]) for e in events[:-2]]
assert all(c["usage"] is None for c in chunks[:-1])
assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == log["usage"], (chunks[-1], log)
assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
u = log["usage"]
assert u["completion_tokens"] <= 300 and u["completion_tokens_details"]["reasoning_tokens"] > 0, u
assert log["tokens"]["reasoning_tokens"] == u["completion_tokens_details"]["reasoning_tokens"]
assert chunks[0]["model"] == log["model"] == "o3-2025-04-16"
assert log["events"] == len(events) - 1 and log["complete"] is True, log
PY

# keep-alive: a chunked stream, then a 429, then another request, all on
# one connection
out=$(curl -sS -w '%{num_connects} ' -o /dev/null -d '{"model":"m","stream":true}' "$H/v1/chat/completions" \
  --next -sS -w '%{num_connects} ' -o /dev/null -H 'X-Fake-Error: 429' -d '{}' "$H/v1/responses" \
  --next -sS -w '%{num_connects}' -o /dev/null "$H/v1/models")
[ "$out" = "1 0 0" ] || fail "keep-alive: connections made per request: $out"

# provider-shaped errors
out=$(curl -sS -o "$T/r4" -w '%{http_code}' -H 'X-Fake-Error: 429' "$H/v1/chat/completions" -d "$CHAT")
[ "$out $(json "$T/r4" 'J["error"]["code"], J["error"]["param"]')" = "429 rate_limit_exceeded None" ] ||
	fail "429: $out $(cat "$T/r4")"
[ "$(lastlog 'L["status"], L["error"], L["usage"]')" = "429 429 None" ] || fail "429 log: $(tail -n 1 "$LOG")"
out=$(curl -sS -o "$T/r5" -w '%{http_code}' -H 'X-Fake-Error: 500' "$H/v1/messages" \
  -d '{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[]}')
[ "$out $(json "$T/r5" 'J["type"], J["error"]["type"]')" = "500 error api_error" ] || fail "500: $out $(cat "$T/r5")"
out=$(curl -sS -o "$T/r6" -w '%{http_code}' "$H/v1/messages" -d '{"model":"claude-sonnet-4-5","messages":[]}')
[ "$out $(json "$T/r6" 'J["error"]["message"]')" = "400 max_tokens: Field required" ] || fail "no max_tokens: $out"
out=$(curl -sS -o "$T/r7" -w '%{http_code}' "$H/v2/nothing" -d '{}')
[ "$out $(json "$T/r7" 'J["error"]["message"]')" = "404 Invalid URL (POST /v2/nothing)" ] || fail "404: $out"
out=$(curl -sS -o "$T/r8" -w '%{http_code}' -H 'X-Fake-Error: 418' "$H/api/chat" -d '{"model":"m"}')
[ "$out $(json "$T/r8" 'J["error"]')" = "400 X-Fake-Error must be 429, 500 or stream, not '418'" ] ||
	fail "bad X-Fake-Error: $out $(cat "$T/r8")"

# a stream cut after 3 events: curl sees a cut chunked body (exit 18)
curl -sS -N -o "$T/r9" -H 'X-Fake-Cut: 3' "$H/v1/chat/completions" \
  -d '{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}}' 2>/dev/null
rc=$?
[ "$rc $(grep -c '^data: ' "$T/r9")" = "18 3" ] || fail "cut: curl exit $rc, $(grep -c '^data: ' "$T/r9") events"
[ "$(lastlog 'L["events"], L["cut"], L["complete"], L["usage"]')" = "3 True False None" ] ||
	fail "cut log: $(tail -n 1 "$LOG")"

# Expect: 100-continue is answered before the body is sent
head -c 200000 /dev/zero | tr '\0' x | sed 's/.*/{"model":"text-embedding-3-small","input":"&"}/' >"$T/big.json"
curl -sS -v -o "$T/r10" -H 'Expect: 100-continue' "$H/v1/embeddings" -d @"$T/big.json" 2>"$T/v10"
grep -q '^< HTTP/1.1 100 Continue' "$T/v10" || fail "no 100 Continue"
[ "$(json "$T/r10" 'len(J["data"][0]["embedding"]), J["usage"]["prompt_tokens"] >= 50000')" = "1536 True" ] ||
	fail "embeddings: $(head -c 200 "$T/r10")"

# --- gzip -------------------------------------------------------------------
curl -sS --compressed -D "$T/h11" -o "$T/r11" \
  "$H/v1beta/models/gemini-2.5-flash:generateContent" -d '{"contents":[{"parts":[{"text":"hi"}]}]}'
grep -qi '^content-encoding: gzip' "$T/h11" || fail "gemini: not gzipped"
[ "$(json "$T/r11" 'json.dumps(J["usageMetadata"], sort_keys=True)')" = \
  "$(lastlog 'json.dumps(L["usage"], sort_keys=True)')" ] || fail "gzipped gemini usage differs from the log"
[ "$(lastlog 'L["gzip"]')" = True ] || fail "log says not gzipped"
curl -sS -N --compressed -D "$T/h12" -o "$T/r12" "$H/v1/messages" \
  -d '{"model":"claude-3-5-haiku-latest","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}'
grep -qi '^transfer-encoding: chunked' "$T/h12" && grep -qi '^content-encoding: gzip' "$T/h12" ||
	fail "anthropic stream: not chunked+gzip: $(cat "$T/h12")"
[ "$(tail -n 2 "$T/r12" | head -n 1)" = 'data: {"type":"message_stop"}' ] || fail "gzipped stream end: $(tail -n 3 "$T/r12")"
curl -sS -D "$T/h13" -o /dev/null "$H/v1/models"
grep -qi '^content-encoding' "$T/h13" && fail "gzip without Accept-Encoding"
[ "$(lastlog 'L["gzip"]')" = False ] || fail "log says gzipped"
# X-Fake-Gzip overrides Accept-Encoding either way
curl -sS -N -H 'X-Fake-Gzip: 1' -o "$T/r13.gz" "$H/api/chat" -d '{"model":"llama3.2"}'
[ "$(gzip -dc <"$T/r13.gz" | tail -n 1 | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["done"])')" = True ] ||
	fail "X-Fake-Gzip: 1 did not gzip the NDJSON stream"
curl -sS --compressed -H 'X-Fake-Gzip: 0' -D "$T/h13" -o /dev/null "$H/v1/models"
grep -qi '^content-encoding' "$T/h13" && fail "X-Fake-Gzip: 0 still gzipped"

# --- HTTPS: HTTP/2 by ALPN, HTTP/1.1, h2c ---------------------------------
out=$(curl -sS --http2 "${CA[@]}" -o "$T/r14" -w '%{http_version}' "$TLS/v1/messages" \
  -d '{"model":"claude-sonnet-4-5","max_tokens":500,"stream":true,"messages":[{"role":"user","content":"hi"}]}')
[ "$out" = 2 ] || fail "https --http2 got HTTP/$out"
[ "$(lastlog 'L["transport"], L["tls"]')" = "h2 True" ] || fail "h2 log: $(tail -n 1 "$LOG")"
"$PY" - "$T/r14" "$LOG" <<'PY' || fail "Anthropic stream over h2"
import json, sys
log = json.loads(open(sys.argv[2]).read().splitlines()[-1])
kinds, usage = [], None
for block in open(sys.argv[1]).read().split("\n\n")[:-1]:
	ev, data = block.split("\n")
	kind = ev[len("event: "):]
	obj = json.loads(data[len("data: "):])
	assert obj["type"] == kind
	if kind == "message_start":
		usage = dict(obj["message"]["usage"])
	elif kind == "message_delta":
		usage.update(obj["usage"])  # cumulative: the last one wins
	kinds.append(kind if kind != "content_block_delta" else "delta")
assert kinds[:3] == ["message_start", "content_block_start", "ping"], kinds
assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"], kinds
assert len(kinds) >= 7 and set(kinds[3:-3]) == {"delta"}, kinds
assert usage == log["usage"], (usage, log["usage"])
t = log["tokens"]
assert t["input_tokens"] == usage["input_tokens"] + usage["cache_creation_input_tokens"] + usage["cache_read_input_tokens"]
assert (t["cached_tokens"], t["cache_write_tokens"], t["output_tokens"]) == \
	(usage["cache_read_input_tokens"], usage["cache_creation_input_tokens"], usage["output_tokens"])
PY
out=$(curl -sS --http1.1 "${CA[@]}" -o "$T/r15" -w '%{http_version}' "$TLS/api/generate" -d '{"model":"llama3.2","prompt":"hi"}')
[ "$out $(lastlog 'L["transport"], L["tls"]')" = "1.1 http/1.1 True" ] || fail "https http/1.1: $out"
[ "$(tail -n 1 "$T/r15" | "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(d["done"], d["prompt_eval_count"], d["eval_count"])')" = \
  "$(lastlog 'True, L["usage"]["prompt_eval_count"], L["usage"]["eval_count"]')" ] || fail "ollama NDJSON end"
out=$(curl -sS --http2-prior-knowledge -o "$T/r16" -w '%{http_version}' "$H/v1/models")
[ "$out $(lastlog 'L["transport"], L["tls"]')" = "2 h2 False" ] || fail "h2c: $out"
# h2 flow control: a 3072-dimension pretty-printed answer is bigger than
# the 64 KiB initial window; and a 200 kB request body
out=$(curl -sS --http2 "${CA[@]}" -o "$T/r17" -w '%{http_version} %{size_download}' "$TLS/v1/embeddings" \
  -d '{"model":"text-embedding-3-large","input":["a","b"]}')
[ "${out%% *} $(json "$T/r17" 'len(J["data"][1]["embedding"])')" = "2 3072" ] || fail "h2 embeddings: $out"
[ "${out#* }" -gt 65535 ] || fail "h2 embeddings only $out bytes"
out=$(curl -sS --http2 "${CA[@]}" -o "$T/r18" -w '%{http_version} %{http_code}' "$TLS/v1/embeddings" -d @"$T/big.json")
[ "$out" = "2 200" ] || fail "h2 big body: $out"
# three streams on one h2 connection at once (curl -Z multiplexes them),
# one of them gzipped and cut cleanly after two events
W=(-sS --http2 "${CA[@]}" -w '%{num_connects}\n')
out=$(curl "${W[@]}" -Z -o "$T/p1" "$TLS/v1/responses" -d '{"model":"gpt-4.1","stream":true,"input":"one"}' \
  --next "${W[@]}" -o "$T/p2" "$TLS/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse" -d '{"contents":[]}' \
  --next "${W[@]}" --compressed -H 'X-Fake-Cut: 2,clean' -o "$T/p3" "$TLS/api/chat" -d '{"model":"qwen3"}' \
  2>"$T/perr") || fail "parallel h2 requests: $(cat "$T/perr")"
[ "$(echo $out | tr ' ' '\n' | sort | tr '\n' ' ')" = "0 0 1 " ] || fail "3 h2 streams took connections: $out"
case $(tail -n 2 "$T/p1" | head -n 1) in 'data: {"type":"response.completed",'*) ;; *) false ;; esac ||
	fail "responses stream end: $(tail -c 200 "$T/p1")"
[ "$(grep -c $'\r$' "$T/p2") $(wc -l <"$T/p3")" = "$(($(grep -c '^data: ' "$T/p2") * 2)) 2" ] ||
	fail "gemini CRLF events / clean cut: $(od -c "$T/p2" | tail -n 3)"

# --- python3 requests: per provider, stream and not, plain and TLS ---------
"$PY" - "$P" "$S" "$LOG" "$T/ca/ca.pem" <<'PY' || fail "python requests"
import json, sys, requests
http, https, logpath, ca = sys.argv[1:]
S = requests.Session()

def last():
	with open(logpath) as f:
		return json.loads(f.read().splitlines()[-1])

def sse(r, sep):
	buf = b"".join(r.iter_content(None)).decode()
	assert buf.endswith(sep), repr(buf[-20:])
	return buf.split(sep)[:-1]

def chat(e):
	chunks = [json.loads(x[6:]) for x in e if x != "data: [DONE]"]
	assert e[-1] == "data: [DONE]"
	return [c["usage"] for c in chunks if c.get("usage")][-1]

def responses(e):
	evs = [json.loads(x.split("\n")[1][6:]) for x in e]
	assert [v["sequence_number"] for v in evs] == list(range(len(evs)))
	assert evs[-1]["type"] == "response.completed"
	return evs[-1]["response"]["usage"]

def anthropic(e):
	u = {}
	for x in e:
		o = json.loads(x.split("\n")[1][6:])
		if o["type"] == "message_start":
			u = dict(o["message"]["usage"])
		if o["type"] == "message_delta":
			u.update(o["usage"])
	return u

def gemini(e):
	return [json.loads(x[6:])["usageMetadata"] for x in e][-1]

def ollama(r):
	lines = r.text.splitlines()
	end = json.loads(lines[-1])
	assert end["done"] is True and all(not json.loads(l)["done"] for l in lines[:-1])
	return {"prompt_eval_count": end["prompt_eval_count"], "eval_count": end["eval_count"]}

msgs = [{"role": "user", "content": "hello there"}]
cases = [  # path, body, how the client finds the usage
	("/v1/chat/completions", {"model": "gpt-4o-mini", "messages": msgs, "stream": True,
	 "stream_options": {"include_usage": True}}, lambda r: chat(sse(r, "\n\n"))),
	("/v1/chat/completions", {"model": "gpt-5", "messages": msgs}, lambda r: r.json()["usage"]),
	("/v1/responses", {"model": "gpt-4.1-mini", "input": "hi", "stream": True},
	 lambda r: responses(sse(r, "\n\n"))),
	("/v1/responses", {"model": "o4-mini", "input": "hi"}, lambda r: r.json()["usage"]),
	("/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21",
	 {"messages": msgs, "stream": True, "stream_options": {"include_usage": True}},
	 lambda r: chat(sse(r, "\n\n"))),
	("/v1/messages", {"model": "claude-haiku-4-5", "max_tokens": 20, "messages": msgs,
	 "stream": True}, lambda r: anthropic(sse(r, "\n\n"))),
	("/v1/messages", {"model": "claude-opus-4-1", "max_tokens": 3, "messages": msgs},
	 lambda r: r.json()["usage"]),
	("/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
	 {"contents": [{"parts": [{"text": "hi"}]}]}, lambda r: gemini(sse(r, "\r\n\r\n"))),
	("/v1beta/models/gemini-2.5-flash:generateContent",
	 {"contents": [{"parts": [{"text": "hi"}]}]}, lambda r: r.json()["usageMetadata"]),
	("/api/chat", {"model": "llama3.2", "messages": msgs}, ollama),
	("/api/generate", {"model": "llama3.2", "prompt": "hi", "stream": False},
	 lambda r: {k: r.json()[k] for k in ("prompt_eval_count", "eval_count")}),
]
for base in ("http://127.0.0.1:" + http, "https://localhost:" + https):
	for path, body, usage_of in cases:
		r = S.post(base + path, json=body, stream=True, verify=ca)
		assert r.status_code == 200, (path, r.status_code, r.text)
		got = usage_of(r)
		L = last()
		assert got == L["usage"], (path, got, L["usage"])
		# requests asks for gzip by default, so the fake gzips
		assert r.headers["content-encoding"] == "gzip" and L["gzip"], (path, r.headers)
		assert L["transport"] == "http/1.1" and L["tls"] == base.startswith("https"), L
		assert L["complete"] and L["tokens"]["output_tokens"] > 0, L
		if "max_tokens" in body:
			assert L["tokens"]["output_tokens"] <= body["max_tokens"], L
r = S.post("http://127.0.0.1:%s/v1/chat/completions" % http, stream=True,
	   json={"model": "gpt-4o", "messages": msgs, "stream": True,
		 "stream_options": {"include_usage": True}}, headers={"X-Fake-Error": "stream"})
e = sse(r, "\n\n")
assert r.status_code == 200 and json.loads(e[-1][6:])["error"]["type"] == "server_error", e[-1]
assert last()["error"] == "stream" and last()["complete"] is False and last()["usage"] is None
r = S.post("http://127.0.0.1:%s/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse" % http,
	   json={"contents": []}, headers={"X-Fake-Error": "stream"})
assert r.status_code == 200 and json.loads(r.text.split("\r\n\r\n")[-2][6:])["error"]["status"] == "INTERNAL"
PY

# --- same seed, same numbers; exact request numbering; SIGTERM -----------
start b
G=$pid
curl -sS -o "$T/b1" "http://127.0.0.1:$P/v1/chat/completions" -d "$CHAT"
[ "$(json "$T/b1" 'J["usage"]')" = "$(json "$T/r1" 'J["usage"]')" ] ||
	fail "same seed, other usage: $(json "$T/b1" 'J["usage"]') vs $(json "$T/r1" 'J["usage"]')"
[ "$("$PY" -c 'import json,sys; print([json.loads(l)["n"] for l in open(sys.argv[1])] == list(range(1, 1 + sum(1 for _ in open(sys.argv[1])))))' "$LOG")" = True ] ||
	fail "log numbers are not 1..N"
[ "$(wc -l <"$LOG")" = 50 ] || fail "log has $(wc -l <"$LOG") lines, want 50"
kill -TERM "$G"
wait "$G"
rc=$?
G=
[ $rc = 0 ] || fail "SIGTERM: exit $rc"
[ -s "$T/b/err" ] && fail "stderr after SIGTERM: $(cat "$T/b/err")"

# bad options: exit 2 and one line naming what was wrong
out=$("$FAKE" --https 0 2>&1)
[ $? = 2 ] && [ "$(printf '%s\n' "$out" | tail -n 1)" = "fake-llm-provider: error: --https needs --cert FILE and --key FILE (make them with: fake-llm-provider make-ca DIR)" ] ||
	fail "--https without cert: $out"
out=$("$FAKE" --http 70000 2>&1)
[ $? = 2 ] && [ "$(printf '%s\n' "$out" | tail -n 1)" = "fake-llm-provider: error: --http: port 70000 is not in 0..65535" ] ||
	fail "bad port: $out"

[ -s "$T/a/err" ] && fail "the fake wrote to stderr: $(cat "$T/a/err")"
[ $fails = 0 ] || { echo "$fails failed"; exit 1; }
echo "ok"
