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
# table's, computed with integer math (llm_check.py).
# No node: skip, except in CI; no node_modules: fail (tools/install-deps
# installs them).
. "$(dirname "$0")/llm_common.inc"
need "$SHIM" "$B/tollgated"
need_sqlite
need_node_sdks
llm_setup
daemon
# Seed 5: cached tokens in four calls (one a stream with reasoning),
# cache writes in both anthropic calls, reasoning in both o3 streams.
provider http --seed 5

t0=$(now_ms)
LD_PRELOAD=$SHIM node "$NODE_DIR/llm_calls.mjs" "$H" \
    >"$T/sdk.jsonl" 2>"$T/err" || fail "node: exit $?: $(head -c 600 "$T/err")"
wall=$(($(now_ms) - t0))
[ -s "$T/err" ] && fail "node wrote on stderr: $(head -c 600 "$T/err")"
[ "$(wc -l <"$T/provider.log")" = 6 ] ||
	fail "the provider logged $(wc -l <"$T/provider.log") requests, want 6 (no retries)"
[ "$(records)" = 6 ] || fail "$(records) records for 6 SDK calls"
# In order, each call's provider as the ledger names it.
out=$(llm_check \
    openai-compatible,openai-compatible,openai-compatible,openai-compatible,anthropic,anthropic \
    "$wall" --client "$T/sdk.jsonl") || fail "ledger, provider and SDK disagree:
$out"

# The seed makes the six calls exercise every token field.
sums=$(sqlite3 "$T/state/ledger.db" 'SELECT sum(cached_tokens > 0), sum(cache_write_tokens > 0), sum(reasoning_tokens > 0), sum(unpriced) FROM records')
[ "$sums" = "4|2|2|0" ] || fail "records with cached|cache write|reasoning|unpriced: $sums, want 4|2|2|0"

# undici asks for gzip: every response was gzipped, and decoded by the shim.
gz=$(gzipped)
[ "$gz" = 6 ] || fail "$gz of 6 responses were gzipped"

no_spool

llm_end "ok: 6 node SDK calls; ledger = provider's usage = SDK's usage; costs to the nano-USD"
