#!/bin/bash
# shim_tls — LLM calls over TLS through OpenSSL, metered by the shim's SSL_*
# hooks, observe only (issue 4). Unmodified curl (SSL_write/SSL_read, libssl
# in the global scope) and Debian's python3 requests and httpx
# (SSL_write_ex/SSL_read_ex, libssl in the private scope of the _ssl
# module), with LD_PRELOAD=libtollgate.so, talk HTTPS (HTTP/1.1) to
# tools/fake-llm-provider with a CA made here. Each LLM request must add
# exactly one ledger record whose provider, model, endpoint, status and
# tokens are the ones the provider's --log line says it sent, and whose
# cost_nano_usd is the price table's, computed with integer math
# (llm_check.py).
#
# Two OpenSSL copies in one process: the system libssl.so.3 copied with its
# SONAME renamed (libtgs.so.3, as auditwheel renames a wheel's libssl), and
# tests/progs/tls/ programs built here with cc against it and against the
# system one. Each SSL* must reach only its own libssl: the code of the
# other is made non-executable while a request runs (a wrong route
# crashes), and each request is metered exactly. Non-LLM HTTPS adds no
# record, makes no daemon connection and prints what it prints without
# the shim; a program without OpenSSL that calls SSL_write by name gets
# OpenSSL's failure values and one line each, no crash.
. "$(dirname "$0")/llm_common.inc"
need "$SHIM" "$B/tollgated" "$P/tls_noopenssl"
need_sqlite
need_cmd curl openssl cc
need_py requests httpx
echo '#include <openssl/ssl.h>' | cc -E -x c - >/dev/null 2>&1 ||
	{ echo "skip: no OpenSSL headers (libssl-dev)"; exit 77; }
SYSSSL=$(readlink -f "$(cc -print-file-name=libssl.so.3)")
[ -f "$SYSSSL" ] || { echo "skip: no libssl.so.3"; exit 77; }
llm_setup
daemon
provider https --seed 8
export REQUESTS_CA_BUNDLE=$CA SSL_CERT_FILE=$CA
# Each request must come over TLS as HTTP/1.1, and write nothing on stderr.
METER_CHECK=(--tls http/1.1) METER_STDERR=empty

# --- curl: SSL_connect, SSL_write, SSL_read; HTTP/1.1 (ALPN) --------------
CURL="curl -sS --http1.1 --cacert $CA"
CHAT='{"model":"gpt-4o","messages":[{"role":"user","content":"Say hi to the meter"}]}'
meter "curl chat" 1 openai-compatible 0 $CURL "$H/v1/chat/completions" -d "$CHAT"
meter "curl chat, Host api.openai.com" 1 openai 0 \
	$CURL -H 'Host: api.openai.com' "$H/v1/chat/completions" -d "$CHAT"
meter "curl chat stream, include_usage, gzip" 1 openai-compatible 0 \
	$CURL -N -H 'Accept-Encoding: gzip' --compressed "$H/v1/chat/completions" \
	-d '{"model":"o3","stream":true,"stream_options":{"include_usage":true},"max_completion_tokens":2000,"messages":[{"role":"user","content":"think, then answer"}]}'
# Anthropic, 40 ms between events: the latency spans them.
meter "curl anthropic messages stream" 1 anthropic 0 \
	$CURL -N -H 'X-Fake-Delay-Ms: 40' -H 'anthropic-version: 2023-06-01' \
	"$H/v1/messages" -d '{"model":"claude-sonnet-4-20250514","max_tokens":200,"stream":true,"messages":[{"role":"user","content":"hello"}]}'
ev=$(tail -n 1 "$T/provider.log" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["events"])')
lat=$(sqlite3 "$T/state/ledger.db" 'SELECT latency_ms FROM records ORDER BY seq DESC LIMIT 1')
[ "$lat" -ge $((40 * (ev - 1))) ] ||
	fail "anthropic stream latency $lat ms < 40 ms x ($ev - 1) events"

# --- python3 requests: SSL_do_handshake, SSL_write_ex, SSL_read_ex -----------
cat >"$T/req_chat.py" <<'PY'
import requests, sys
s = requests.Session()
for q in ("one", "two"):
    r = s.post(sys.argv[1] + "/v1/chat/completions", json={"model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "question " + q}]})
    r.raise_for_status()
    assert r.headers.get("Content-Encoding") == "gzip", r.headers
    print(r.json()["usage"]["prompt_tokens"])
PY
meter "requests chat x2 keep-alive gzip" 2 openai-compatible,openai-compatible 0 \
	"$PY" "$T/req_chat.py" "$H"
cat >"$T/req_anthropic.py" <<'PY'
import json, requests, sys
r = requests.post(sys.argv[1] + "/v1/messages", stream=True,
    headers={"anthropic-version": "2023-06-01"},
    json={"model": "claude-3-5-haiku-20241022", "max_tokens": 300, "stream": True,
          "messages": [{"role": "user", "content": "stream please"}]})
r.raise_for_status()
ev = [json.loads(l[6:]) for l in r.iter_lines() if l.startswith(b"data: ")]
assert ev[-1]["type"] == "message_stop", ev[-1]
print(ev[0]["message"]["usage"]["input_tokens"])
PY
meter "requests anthropic stream" 1 anthropic 0 "$PY" "$T/req_anthropic.py" "$H"

# --- python3 httpx ---------------------------------------------------------
cat >"$T/httpx_two.py" <<'PY'
import httpx, json, sys
with httpx.Client(base_url=sys.argv[1]) as c:
    r = c.post("/v1/chat/completions", json={"model": "gpt-4.1-mini",
        "messages": [{"role": "user", "content": "via httpx"}]})
    r.raise_for_status()
    print(r.json()["usage"]["completion_tokens"])
    with c.stream("POST", "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            json={"contents": [{"role": "user", "parts": [{"text": "stream words"}]}]}) as s:
        last = [json.loads(l[6:]) for l in s.iter_lines() if l.startswith("data: ")][-1]
    print(last["usageMetadata"]["totalTokenCount"])
PY
meter "httpx chat + gemini stream" 2 openai-compatible,gemini 0 "$PY" "$T/httpx_two.py" "$H"

# --- two OpenSSL copies in one process --------------------------------------
mkdir "$T/two"
"$PY" - "$SYSSSL" "$T/two/libtgs.so.3" <<'PY' || fail "could not rename the libssl copy"
import sys
d = open(sys.argv[1], "rb").read()
assert d.count(b"\0libssl.so.3\0") == 1, "one SONAME string"
open(sys.argv[2], "wb").write(d.replace(b"\0libssl.so.3\0", b"\0libtgs.so.3\0"))
PY
TP=$SRC/tests/progs/tls
CCW="cc -O2 -Wall -Wextra -Wno-unused-parameter -Werror"
if $CCW -shared -fPIC -DTLS_EX -o "$T/two/tls_post_copy.so" "$TP/tls_post.c" \
	"$T/two/libtgs.so.3" -Wl,-rpath,"$T/two" 2>"$T/cc.err" &&
    $CCW -shared -fPIC -o "$T/two/tls_post_sys.so" "$TP/tls_post.c" -lssl -lcrypto 2>>"$T/cc.err" &&
    $CCW -DLINKED -o "$T/two/tls_two_linked" "$TP/tls_two.c" "$TP/tls_post.c" \
	"$T/two/libtgs.so.3" -Wl,-rpath,"$T/two" -ldl 2>>"$T/cc.err" &&
    $CCW -o "$T/two/tls_two_private" "$TP/tls_two.c" -ldl 2>>"$T/cc.err"; then
	# the copy really is another object: its SONAME, and the program's need
	readelf -d "$T/two/tls_two_linked" | grep -q 'NEEDED.*\[libtgs.so.3\]' ||
		fail "tls_two_linked does not need libtgs.so.3"
	for m in linked private; do
		# without the shim first: the guards alone break nothing
		"$T/two/tls_two_$m" $m "$PORT" "$CA" "$T/two" >"$T/out" 2>&1 ||
			fail "tls_two $m without the shim: exit $?: $(cat "$T/out")"
		meter "tls_two $m" 2 openai-compatible,anthropic 0 \
			"$T/two/tls_two_$m" $m "$PORT" "$CA" "$T/two"
		[ "$(cat "$T/out")" = "status 200
status 200" ] || fail "tls_two $m printed: $(cat "$T/out")"
	done
else
	fail "building the two-OpenSSL programs: $(head -c 600 "$T/cc.err")"
fi

# --- not LLM: no record, no daemon connection, the same output -------------
n=$(records)
have_strace=0
command -v strace >/dev/null && have_strace=1 ||
	echo "note: no strace; the no-connection checks are skipped"
same() { # what command...: same exit and output with and without the shim
	local what=$1 rc0 rc1; shift
	"$@" >"$T/plain.out" 2>"$T/plain.err"; rc0=$?
	if [ $have_strace = 1 ]; then
		strace -f -qq -e trace=connect -o "$T/strace" env LD_PRELOAD="$SHIM" \
		    "$@" >"$T/shim.out" 2>"$T/shim.err"; rc1=$?
		grep -q "$T/sock" "$T/strace" && fail "$what connected to the daemon"
	else
		LD_PRELOAD=$SHIM "$@" >"$T/shim.out" 2>"$T/shim.err"; rc1=$?
	fi
	[ "$rc0" = "$rc1" ] || fail "$what: exit $rc0 without the shim, $rc1 with"
	cmp -s "$T/plain.out" "$T/shim.out" || fail "$what: stdout differs"
	cmp -s "$T/plain.err" "$T/shim.err" || fail "$what: stderr differs: $(head -c 300 "$T/shim.err")"
}
same "curl GET /v1/models over TLS" $CURL "$H/v1/models"
grep -q '"object": *"list"' "$T/shim.out" || fail "GET /v1/models answered: $(head -c 200 "$T/shim.out")"
cat >"$T/req_get.py" <<'PY'
import requests, sys
s = requests.Session()
for _ in range(2):
    print(s.get(sys.argv[1] + "/v1/models").json()["object"])
PY
same "requests GET /v1/models x2" "$PY" "$T/req_get.py" "$H"
[ "$(cat "$T/shim.out")" = "list
list" ] || fail "requests GET printed: $(cat "$T/shim.out")"
same "ls (no OpenSSL)" ls -l "$SRC/preload"
[ "$(records)" = "$n" ] || fail "non-LLM traffic added $(($(records) - n)) records"

# A program without OpenSSL that finds SSL_write, SSL_read_ex and SSL_free
# by name reaches our hooks, which find no real function for it: OpenSSL's
# failure values and one line each, no crash.
out=$("$P/tls_noopenssl" 2>&1)
[ "$out" = absent ] || fail "tls_noopenssl without the shim: $out"
out=$(LD_PRELOAD=$SHIM "$P/tls_noopenssl" 2>"$T/err") ||
	fail "tls_noopenssl under the shim: exit $?"
[ "$out" = "SSL_write -1 SSL_read_ex 0 got 7" ] ||
	fail "tls_noopenssl under the shim printed: $out"
[ "$(cat "$T/err")" = "tollgate: SSL_write: no OpenSSL function for its caller; the call fails
tollgate: SSL_read_ex: no OpenSSL function for its caller; the call fails
tollgate: SSL_free: no OpenSSL function for its caller; the call fails" ] ||
	fail "tls_noopenssl under the shim said: $(cat "$T/err")"

# The seed (8) makes the 13 records above use cache reads, cache writes
# and reasoning tokens, all priced, from 4 providers.
sums=$(sqlite3 "$T/state/ledger.db" 'SELECT count(*), sum(cached_tokens > 0), sum(cache_write_tokens > 0), sum(reasoning_tokens > 0), sum(unpriced), count(DISTINCT provider) FROM records')
[ "$sums" = "13|5|3|2|0|4" ] ||
	fail "records|cached|cache write|reasoning|unpriced|providers: $sums, want 13|5|3|2|0|4"
no_spool

llm_end "ok: $(records) records over TLS equal the provider's usage and the price table's cost"
