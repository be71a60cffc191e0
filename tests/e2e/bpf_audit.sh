#!/bin/bash
# bpf_audit — audit mode end to end (issue 6): `tollgated --audit` meters
# LLM calls over TLS of processes WITHOUT the shim, from the plaintext its
# uprobes on SSL_write/SSL_read(_ex) copy (bpf/tlsaudit), parsed by the
# shim's usage parser (ctl/daemon/audit.c), recorded with source ebpf.
# Against tools/fake-llm-provider over HTTPS, with a test CA:
#   (a) Debian's python3 requests (libssl.so.3, SSL_write_ex/SSL_read_ex):
#       two chats on one keep-alive connection (gzip) and an anthropic
#       stream (20 ms between events: its latency spans them), tagged by
#       TOLLGATE_TAGS in its environment;
#   (b) the official openai/anthropic npm SDKs in node (OpenSSL linked into
#       /usr/bin/node): six calls, three of them streams;
#   (c) a shimmed python (LD_PRELOAD): its libssl is the shim's to meter,
#       so exactly one record, source shim, none from the probes;
#   (d) a shimmed node: one chat over plain HTTP (the shim's: it
#       registers, covering libssl), then the six SDK calls over TLS: the
#       shim covers libssl, not node's own OpenSSL, so the probes still
#       meter those (source ebpf) and the shim only the first;
#   (e) a python started later whose libssl is a copy at a path no
#       process had mapped when the daemon started ($T/lib): the mmap of
#       it makes the daemon probe that file (tlsaudit_scan_pid), and its
#       chat is metered exactly;
#   (f) a gap recovers: a second daemon whose ring buffer
#       (TOLLGATE_TEST_TA_RING=16384, tests only) can never hold a full
#       16 KiB chunk; a requests Session uploads 256 KiB to a non-LLM URL
#       (404: the upload's chunks are dropped for certain), then chats on
#       the SAME keep-alive connection: exactly one gap for it, and the
#       chat metered exactly (before the fix one drop stopped all
#       metering); its SSL_free (Session.close) frees that one stream
#       while the process still runs (--debug lines).
# Each record must hold the provider's exact tokens, model, endpoint and
# status and the price table's cost (llm_check.py's rules, per pid:
# bpf_audit_check.py), not estimated. The fake provider's own TLS (a
# python server under the same probes) must add nothing. Then `tollctl
# report --by source` shows shim and ebpf side by side, and `--by exe`
# the untagged AI use. Root only (uprobes); node SDKs as shim_node.sh.
. "$(dirname "$0")/llm_common.inc"
[ "$(id -u)" = 0 ] || { echo "skip: not root (eBPF)"; exit 77; }
need "$SHIM" "$B/tollgated" "$B/tollctl"
need_sqlite
need_py requests
need_node_sdks
llm_setup
provider https --seed 11 --http 0
HTTP=http://127.0.0.1:$(sed -n "s/^http=//p" "$T/ports")
export REQUESTS_CA_BUNDLE=$CA SSL_CERT_FILE=$CA NODE_EXTRA_CA_CERTS=$CA

# A fresh tollgated in audit mode; ready once it logs "listening" (the
# probes are attached before that line).
rm -rf "$T/state"
"$B/tollgated" --socket "$T/sock" --state-dir "$T/state" --http off \
    --prices "$PRICES" --audit 2>>"$T/daemon.log" & D=$!
for _ in $(seq 200); do grep -q 'listening on' "$T/daemon.log" && break; sleep 0.05; done
grep -q 'listening on' "$T/daemon.log" ||
	{ echo "tollgated --audit did not start:"; cat "$T/daemon.log"; exit 1; }
grep -q 'tlsaudit: probing /usr/lib/x86_64-linux-gnu/libssl.so.3$' "$T/daemon.log" ||
	fail "libssl.so.3 not probed: $(grep tlsaudit "$T/daemon.log")"
grep -q 'tlsaudit: probing /usr/bin/node$' "$T/daemon.log" ||
	fail "/usr/bin/node not probed: $(grep tlsaudit "$T/daemon.log")"

# n records of pid $1 within 10 s (the ring buffer, the parser and the
# ledger writer are asynchronous to the client)
wait_pid_records() { # PID N
	for _ in $(seq 200); do
		[ "$(sql "SELECT count(*) FROM records WHERE pid = $1")" -ge "$2" ] && return
		sleep 0.05
	done
}
# run WHO N PROVIDERS SOURCES [VAR=VALUE...] CMD...: CMD must exit 0, write
# nothing on stderr, and its pid get exactly the records
# bpf_audit_check.py finds right (CLIENT: the client's own usage lines)
run() {
	local who=$1 n=$2 provs=$3 src=$4 t0 pid out; shift 4
	t0=$(now_ms)
	env "$@" >"$T/out" 2>"$T/err" & pid=$!
	wait $pid || { fail "$who: exit $?: $(head -c 400 "$T/err")"; return; }
	[ -s "$T/err" ] && fail "$who wrote on stderr: $(head -c 400 "$T/err")"
	wait_pid_records $pid "$n"
	LAST=$pid
	out=$("$PY" "$SRC/tests/e2e/bpf_audit_check.py" "$T/provider.log" \
	    "$T/state/ledger.db" "$PRICES" "$provs" $(($(now_ms) - t0)) \
	    $pid "$src" --tls http/1.1 ${CLIENT:+--client "$CLIENT"}) ||
		fail "$who:
$out"
}

cat >"$T/req.py" <<'PY'
import json, requests, sys
s = requests.Session()
for q in sys.argv[2:]:
    r = s.post(sys.argv[1] + "/v1/chat/completions", json={"model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "audit question " + q}]})
    r.raise_for_status()
    assert r.headers.get("Content-Encoding") == "gzip", r.headers
if len(sys.argv) == 3:
    sys.exit(0)
r = s.post(sys.argv[1] + "/v1/messages", stream=True,
    headers={"anthropic-version": "2023-06-01", "X-Fake-Delay-Ms": "20"},
    json={"model": "claude-3-5-haiku-20241022", "max_tokens": 300, "stream": True,
          "messages": [{"role": "user", "content": "stream please"}]})
r.raise_for_status()
ev = [json.loads(l[6:]) for l in r.iter_lines() if l.startswith(b"data: ")]
assert ev[-1]["type"] == "message_stop", ev[-1]
PY

# (c) first: a shimmed python, one chat; the shim's record only. (a)'s
# records come later through the same ring buffer, so once they are in,
# any event of this process has been parsed too.
CLIENT= run "shimmed requests" 1 openai-compatible shim \
	LD_PRELOAD="$SHIM" "$PY" "$T/req.py" "$H" one
SHIMPID=$LAST

# (a) python requests without the shim, tagged in its environment
CLIENT= run "requests (audit)" 3 openai-compatible,openai-compatible,anthropic ebpf \
	TOLLGATE_TAGS=team=audit "$PY" "$T/req.py" "$H" two three
PYPID=$LAST
[ "$(sql "SELECT count(*) FROM records WHERE pid = $SHIMPID")" = 1 ] ||
	fail "the shimmed process has $(sql "SELECT count(*) || ' records, sources ' || group_concat(source) FROM records WHERE pid = $SHIMPID"), want 1 (shim)"
# 20 ms between the stream's events: its latency (the probes' clock,
# first request byte to last response byte) spans them
ev=$(tail -n 1 "$T/provider.log" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["events"])')
lat=$(sql "SELECT latency_ms FROM records WHERE pid = $PYPID ORDER BY seq DESC LIMIT 1")
[ "$lat" -ge $((20 * (ev - 1))) ] ||
	fail "audited anthropic stream latency $lat ms < 20 ms x ($ev - 1) events"
tags=$(sql "SELECT group_concat(DISTINCT tags) || '|' || group_concat(DISTINCT exe) FROM records WHERE pid = $PYPID")
[ "$tags" = "team=audit|$(readlink -f "$PY")" ] || fail "requests (audit) tags|exe: $tags"

# (b) node and the official SDKs, no shim, no tags: OpenSSL inside node
NODE_PROVS=openai-compatible,openai-compatible,openai-compatible,openai-compatible,anthropic,anthropic
CLIENT=$T/out run "node SDKs (audit)" 6 $NODE_PROVS ebpf \
	node "$NODE_DIR/llm_calls.mjs" "$H"
NODEPID=$LAST
# (d) node under the shim: registered (a plain HTTP chat first, the
# shim's), yet its TLS is the probes' to meter, exactly once
cat >"$T/mixed.mjs" <<'JS'
const [http, https, calls] = process.argv.slice(2);
const r = await fetch(http + "/v1/chat/completions", { method: "POST",
	headers: { "content-type": "application/json" },
	body: JSON.stringify({ model: "gpt-4o-mini",
		messages: [{ role: "user", content: "plain, under the shim" }] }) });
const j = await r.json();
console.log(JSON.stringify({ call: "fetch chat (http)",
	api: "chat.completions", model: j.model, usage: j.usage }));
process.argv[2] = https;
await import(calls);
JS
CLIENT=$T/out run "shimmed node: http, then SDKs over TLS" 7 \
	openai-compatible,$NODE_PROVS shim,ebpf,ebpf,ebpf,ebpf,ebpf,ebpf \
	LD_PRELOAD="$SHIM" node "$T/mixed.mjs" "$HTTP" "$H" "$NODE_DIR/llm_calls.mjs"
SHIMNODE=$LAST

# Every provider line is one record: the provider's own TLS (server side,
# under the same probes) and the shimmed ones added none.
[ "$(plines)" = 17 ] || fail "the provider logged $(plines) requests, want 17"
mine=$(sql "SELECT count(*) FROM records WHERE pid IN ($SHIMPID, $PYPID, $NODEPID, $SHIMNODE)")
[ "$mine" = 17 ] || fail "$mine records of the 4 clients, want 17"
[ "$(sql "SELECT count(*) FROM records WHERE pid = $C")" = 0 ] ||
	fail "the fake provider (pid $C) has records"

# tollctl report: the two sources side by side, and the untagged use.
# The daemon sees the whole host: a process of another test could add
# records, so the report is held to the ledger's own sums, and the
# ledger (above) to our processes' exact numbers.
# A record of another process landing between the report and the
# ledger read (a GPU record of a concurrent CUDA test) differs from a
# wrong report: the pair is taken again, up to 3 times, and must agree.
report_check() {
"$B/tollctl" --socket "$T/sock" report --since 1h --by source --format json \
    >"$T/rep.json" || { echo "tollctl report --by source: exit $?"; return 1; }
"$B/tollctl" --socket "$T/sock" report --since 1h --untagged >"$T/rep.txt" ||
	{ echo "tollctl report --untagged: exit $?"; return 1; }
"$PY" - "$T/rep.json" "$T/rep.txt" "$T/state/ledger.db" "$SHIMNODE" \
    "$(readlink -f /usr/bin/node)" <<'PY' 2>&1 || { cat "$T/rep.txt"; return 1; }
import json, sqlite3, sys
from decimal import Decimal, ROUND_HALF_UP
doc, txt = json.load(open(sys.argv[1])), open(sys.argv[2]).read()
db, shimnode, node = sqlite3.connect(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
usd = lambda n: str((Decimal(n) / 10**9).quantize(Decimal("0.000001"), ROUND_HALF_UP))
want = db.execute("SELECT source, count(*), sum(cost_nano_usd) FROM records"
                  " GROUP BY source ORDER BY 3 DESC, 1").fetchall()
assert [w[0] for w in want][:2] == ["ebpf", "shim"], want
for key in ("rows", "sources"):
    got = [(r["source"], r["requests"], r["cost_nano_usd"]) for r in doc[key]]
    assert got == [tuple(w) for w in want], (key, got, want)
line = "sources:" + ",".join(" %s %d requests $%s" % (s, n, usd(c)) for s, n, c in want)
assert line + "\n" in txt, (line, txt)
u = [p for p in doc["untagged_processes"] if p["exe"] == node and p["source"] == "ebpf"]
n = db.execute("SELECT count(DISTINCT pid), count(*), sum(cost_nano_usd)"
               " FROM records WHERE exe = ? AND tags = '' AND source = 'ebpf'", (node,)).fetchone()
assert n[0] >= 2 and n[1] >= 12, n
assert [(p["source"], p["processes"], p["last_pid"], p["requests"],
         p["cost_nano_usd"]) for p in u] == [("ebpf", n[0], shimnode, n[1], n[2])], (u, n)
l = "  %s (ebpf): %d processes, last pid %d, %d requests, $%s\n" % (
    node, n[0], shimnode, n[1], usd(n[2]))
assert "untagged processes:\n" in txt and l in txt, (l, txt)
PY
}
for try in 1 2 3; do
	rep=$(report_check) && break
	[ $try = 3 ] && fail "tollctl report: $rep"
	sleep 0.3
done

# (e) a libssl the daemon did not see at start: a copy made now, found
# through LD_LIBRARY_PATH by python's _ssl. The client waits (go file)
# until the daemon has probed the copy: calls made before the attach are
# a documented limit, not what this case is about.
mkdir "$T/lib"
cp /usr/lib/x86_64-linux-gnu/libssl.so.3 "$T/lib/"
cat >"$T/late.py" <<'PY'
import os, sys, time, requests
lib, ready, go = sys.argv[2:5]
assert any(l.rstrip().endswith(" " + lib) for l in open("/proc/self/maps")), "not mapped"
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.01)
r = requests.Session().post(sys.argv[1] + "/v1/chat/completions", json={"model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "late library"}]})
r.raise_for_status()
PY
t0=$(now_ms)
LD_LIBRARY_PATH=$T/lib "$PY" "$T/late.py" "$H" "$T/lib/libssl.so.3" "$T/ready" "$T/go" \
    >"$T/out" 2>"$T/err" & LATE=$!
for _ in $(seq 200); do
	grep -qxF "tollgated: tlsaudit: probing /proc/$LATE/root$T/lib/libssl.so.3" "$T/daemon.log" && break
	sleep 0.05
done
grep -qxF "tollgated: tlsaudit: probing /proc/$LATE/root$T/lib/libssl.so.3" "$T/daemon.log" ||
	fail "late libssl copy not probed (ready: $([ -e "$T/ready" ] && echo yes || echo no)): $(grep tlsaudit "$T/daemon.log" | tail -3)"
touch "$T/go"
wait $LATE || fail "late libssl client: exit $?: $(head -c 400 "$T/err")"
[ -s "$T/err" ] && fail "late libssl client wrote on stderr: $(head -c 400 "$T/err")"
wait_pid_records $LATE 1
out=$("$PY" "$SRC/tests/e2e/bpf_audit_check.py" "$T/provider.log" "$T/state/ledger.db" \
    "$PRICES" openai-compatible $(($(now_ms) - t0)) $LATE ebpf --tls http/1.1) ||
	fail "late libssl client:
$out"

# (f) a second daemon, its ring buffer too small for a full chunk
kill $D; wait $D
rm -rf "$T/state"
: >"$T/daemon.log"
TOLLGATE_TEST_TA_RING=16384 "$B/tollgated" --socket "$T/sock" --state-dir "$T/state" \
    --http off --prices "$PRICES" --audit --debug 2>>"$T/daemon.log" & D=$!
for _ in $(seq 200); do grep -q 'listening on' "$T/daemon.log" && break; sleep 0.05; done
grep -q 'listening on' "$T/daemon.log" ||
	{ echo "tollgated --audit (small ring) did not start:"; cat "$T/daemon.log"; exit 1; }
grep -qx 'tollgated: tlsaudit: ring buffer of 16384 bytes (TOLLGATE_TEST_TA_RING, for tests)' "$T/daemon.log" ||
	fail "TOLLGATE_TEST_TA_RING not applied: $(grep tlsaudit "$T/daemon.log" | head -3)"
cat >"$T/gap.py" <<'PY'
import gc, os, sys, time, requests
s = requests.Session()
r = s.post(sys.argv[1] + "/upload", data=b"x" * (256 * 1024))
assert r.status_code == 404, r.status_code
r = s.post(sys.argv[1] + "/v1/chat/completions", json={"model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "after the gap"}]})
r.raise_for_status()
s.close()
del r, s
gc.collect()
open(sys.argv[2], "w").close()
while not os.path.exists(sys.argv[3]):
    time.sleep(0.01)
PY
rm -f "$T/ready" "$T/go"
t0=$(now_ms)
"$PY" "$T/gap.py" "$H" "$T/ready" "$T/go" >"$T/out" 2>"$T/err" & GAP=$!
for _ in $(seq 200); do
	[ -e "$T/ready" ] && grep -q "^tollgated: audit: pid $GAP ssl 0x[0-9a-f]*: stream freed (SSL_free)$" "$T/daemon.log" && break
	sleep 0.05
done
lost=$(grep -c "^tollgated: audit: pid $GAP ssl 0x[0-9a-f]*: bytes lost; resuming at the next request$" "$T/daemon.log")
freed=$(grep -c "^tollgated: audit: pid $GAP ssl 0x[0-9a-f]*: stream freed (SSL_free)$" "$T/daemon.log")
kill -0 $GAP 2>/dev/null || fail "gap client exited before the go file"
[ "$lost" = 1 ] || fail "gap client: $lost gaps logged, want 1"
[ "$freed" = 1 ] || fail "gap client: $freed streams freed by SSL_free while it runs, want 1"
ssl_of() { sed -n "s/^tollgated: audit: pid $GAP ssl \(0x[0-9a-f]*\): $1.*/\1/p" "$T/daemon.log"; }
[ -n "$(ssl_of bytes)" ] && [ "$(ssl_of bytes)" = "$(ssl_of stream)" ] ||
	fail "gap and SSL_free on different connections: $(ssl_of bytes) vs $(ssl_of stream)"
touch "$T/go"
wait $GAP || fail "gap client: exit $?: $(head -c 400 "$T/err")"
[ -s "$T/err" ] && fail "gap client wrote on stderr: $(head -c 400 "$T/err")"
wait_pid_records $GAP 1
out=$("$PY" "$SRC/tests/e2e/bpf_audit_check.py" "$T/provider.log" "$T/state/ledger.db" \
    "$PRICES" openai-compatible $(($(now_ms) - t0)) $GAP ebpf --tls http/1.1) ||
	fail "chat after the gap:
$out"

llm_end "ok: audit mode metered python requests and node SDKs over TLS exactly (source ebpf); a shimmed process once; a late libssl copy; a chat after a gap on the same connection; SSL_free frees the stream"
