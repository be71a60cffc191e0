#!/bin/bash
# bpf_unmetered — audit mode counts the TLS it cannot decrypt (issue 6):
# bpf/tlsconn sees each new TCP connection's first write; a ClientHello of
# a process whose TLS is not OpenSSL in a file tlsaudit probes counts as
# one unmetered connection for its server name (ctl/daemon/unmetered.c).
# Against tools/fake-llm-provider over HTTPS (test CA):
#   Debian's wget (GnuTLS) twice to https://localhost:PORT  -> localhost 2,
#       a debug line naming each wget pid;
#   wget over plain HTTP                                    -> nothing;
#   python requests (OpenSSL libssl.so.3, decrypted)        -> nothing, and
#       its chat in the ledger with source ebpf as before.
# Shown in `tollctl status` (json and text) and as
# tollgate_unmetered_connections_total{server="localhost"}. The daemon
# sees the whole host: names other than localhost (another process's
# Go or rustls TLS) are not ours to count. Root only.
. "$(dirname "$0")/llm_common.inc"
[ "$(id -u)" = 0 ] || { echo "skip: not root (eBPF)"; exit 77; }
need "$B/tollgated" "$B/tollctl"
need_cmd wget curl
need_sqlite
need_py requests
ldd "$(command -v wget)" | grep -q libgnutls ||
	{ echo "skip: this wget does not use GnuTLS"; exit 77; }
llm_setup
provider https --seed 11 --http 0
HTTP=http://127.0.0.1:$(sed -n "s/^http=//p" "$T/ports")
export REQUESTS_CA_BUNDLE=$CA SSL_CERT_FILE=$CA

rm -rf "$T/state"
"$B/tollgated" --socket "$T/sock" --state-dir "$T/state" --http 127.0.0.1:0 \
    --prices "$PRICES" --audit --debug 2>>"$T/daemon.log" & D=$!
for _ in $(seq 200); do grep -q 'listening on' "$T/daemon.log" && break; sleep 0.05; done
grep -q 'listening on' "$T/daemon.log" ||
	{ echo "tollgated --audit did not start:"; cat "$T/daemon.log"; exit 1; }
grep -q 'tlsconn: counting TLS connections audit cannot decrypt' "$T/daemon.log" ||
	{ echo "FAIL: tlsconn not started: $(grep tls "$T/daemon.log")"; exit 1; }
st() { "$B/tollctl" --socket "$T/sock" status "$@"; }
addr=$(st --format json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["daemon"]["http"])')

# CMD... in the background, its pid in LAST; it must exit 0
bg() {
	"$@" >"$T/out" 2>"$T/err" & LAST=$!
	wait $LAST || fail "$*: exit $?: $(head -c 300 "$T/err")"
}
bg wget -q -O "$T/m1" --ca-certificate="$CA" "https://localhost:$PORT/v1/models"
W1=$LAST
bg wget -q -O "$T/m2" --ca-certificate="$CA" "https://localhost:$PORT/v1/models/gpt-4o-mini"
W2=$LAST
bg wget -q -O "$T/m3" "$HTTP/v1/models"
WP=$LAST
bg "$PY" -c '
import requests, sys
r = requests.post(sys.argv[1] + "/v1/chat/completions", json={"model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": "unmetered?"}]})
r.raise_for_status()' "https://localhost:$PORT"
PYPID=$LAST
grep -q '"object"' "$T/m1" || fail "wget got no model list: $(head -c 200 "$T/m1")"

# The python record is committed after the ring buffers were read: once
# it is in, the wgets' events (earlier) have been counted too.
for _ in $(seq 200); do
	[ "$(sql "SELECT count(*) FROM records WHERE pid = $PYPID")" -ge 1 ] && break
	sleep 0.05
done
got=$(sql "SELECT count(*) || ' ' || group_concat(source) FROM records WHERE pid = $PYPID")
[ "$got" = "1 ebpf" ] || fail "python requests: records '$got', want '1 ebpf'"
for _ in $(seq 100); do
	[ "$(grep -c 'TLS to localhost that audit cannot decrypt' "$T/daemon.log")" -ge 2 ] && break
	sleep 0.05
done

lines=$(grep -o 'unmetered: pid [0-9]* ([^)]*): TLS to localhost ' "$T/daemon.log")
want="unmetered: pid $W1 (wget, $(readlink -f "$(command -v wget)")): TLS to localhost 
unmetered: pid $W2 (wget, $(readlink -f "$(command -v wget)")): TLS to localhost "
# wget has exited by now: its exe may read as "?"
lines=$(sed 's/, ?)/, '"$(readlink -f "$(command -v wget)" | sed 's/[\/&]/\\&/g')"')/' <<<"$lines")
[ "$lines" = "$want" ] || fail "unmetered log lines:
$lines
want:
$want"
for p in $WP $PYPID; do
	grep -q "unmetered: pid $p " "$T/daemon.log" && fail "pid $p counted: $(grep "pid $p " "$T/daemon.log")"
done

js=$(st --format json) || fail "tollctl status --format json: exit $?"
n=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["unmetered_connections"].get("localhost"))' "$js")
[ "$n" = 2 ] || fail "status unmetered_connections: $("$PY" -c 'import json,sys; print(json.loads(sys.argv[1]).get("unmetered_connections"))' "$js"), want localhost 2"
txt=$(st) || fail "tollctl status: exit $?"
grep -Eq '^unmetered connections:(.*,)? localhost 2(,|$)' <<<"$txt" ||
	fail "tollctl status text: $(grep -i unmetered <<<"$txt")"
m=$(curl -sf "http://$addr/metrics") || fail "GET /metrics"
grep -qx 'tollgate_unmetered_connections_total{server="localhost"} 2' <<<"$m" ||
	fail "metric: $(grep unmetered <<<"$m")"
grep -qx '# TYPE tollgate_unmetered_connections_total counter' <<<"$m" ||
	fail "metric TYPE line missing"

llm_end "ok: audit mode counted wget's GnuTLS to localhost twice as unmetered; OpenSSL and plain HTTP not"
