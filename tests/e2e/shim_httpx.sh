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
# whose cost_nano_usd is the price table's, computed with integer
# math (llm_check.py).
. "$(dirname "$0")/llm_common.inc"
need "$SHIM" "$B/tollgated"
need_sqlite
need_py httpx
llm_setup
daemon
# Seed 5: the sync calls (requests 1-3) have cached tokens in each, a
# cache write and reasoning; the async ones get request numbers, and so
# usage, in the order they arrive.
provider http --seed 5

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

# run MODE PROVIDERS [by-model]: calls.py MODE under the shim must add one
# record per call, each equal to the provider's log and the client's usage.
run() {
	local mode=$1 provs=$2 order=${3:+--by-model} before logged t0 wall out
	before=$(records) logged=$(plines)
	t0=$(now_ms)
	LD_PRELOAD=$SHIM "$PY" "$T/calls.py" "$H" "$mode" \
	    >"$T/client.jsonl" 2>"$T/err" ||
		{ fail "$mode: exit $?: $(tail -c 600 "$T/err")"; return; }
	wall=$(($(now_ms) - t0))
	[ "$(($(plines) - logged))" = 3 ] ||
		fail "$mode: the provider logged $(($(plines) - logged)) requests, want 3"
	[ "$(records)" = $((before + 3)) ] ||
		{ fail "$mode: $(($(records) - before)) new records, want 3"; return; }
	out=$(llm_check "$provs" "$wall" --client "$T/client.jsonl" $order) ||
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
gz=$(gzipped)
[ "$gz" = 6 ] || fail "$gz of 6 responses were gzipped"

no_spool

llm_end "ok: 6 httpx calls (Client, AsyncClient); ledger = provider's usage = client's usage; costs to the nano-USD"
