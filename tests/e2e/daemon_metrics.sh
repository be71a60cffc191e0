#!/bin/bash
# /metrics after known records: exact counter values, HELP/TYPE lines,
# label allow-list, label escaping and the series cap. Costs (see
# daemon_common.inc): test-model 1000 in + 500 out = 2,000,000 nano-USD;
# cheap 2000 in + 1000 out = 400,000; cheap 100 in = 10,000.
. "$(dirname "$0")/daemon_common.inc"
command -v curl >/dev/null || { echo "curl not installed"; exit 77; }
start_daemon --http 127.0.0.1:0
addr=$(jget "$(raw <<<status)" 'd["daemon"]["http"]')
case $addr in 127.0.0.1:[1-9]*) ;; *) fail "http address: $addr" ;; esac

out=$(raw <<'CMDS'
register team=search,purpose=batch -
record 1 0 testco test-model 1000 500
record 2 0 testco cheap 2000 1000
record 1 0 testco test-model 1000 500
record 3 0 testco mystery 10 10
record 4 0 testco cheap 100 0 4 4242 /usr/bin/replayed -
CMDS
)
expect_eq "$(grep -c '^ack' <<<"$out")" 5 "acks"
expect_eq "$(grep -c 'inserted=0' <<<"$out")" 1 "duplicate acks"
out=$(raw <<'CMDS'
run-begin tiny 1 -
register team=search,purpose=batch tiny
admit 9 testco test-model 1000 500
CMDS
)
grep -q "decision=deny reserved=0 rule=run-budget" <<<"$out" || fail "no deny: $out"
expect_eq "$(sqlite3 "$DB" "SELECT pid, exe, uid, replayed FROM records WHERE model='cheap' AND input_tokens=100")" \
    "4242|/usr/bin/replayed|$(id -u)|1" "replayed record identity"

# Clients are gone once the gauge reads 0 (their close is asynchronous).
for _ in $(seq 200); do
	m=$(curl -sf "http://$addr/metrics") || fail "GET /metrics"
	grep -qx 'tollgate_registered_processes 0' <<<"$m" && break
	sleep 0.025
done
L='team="search",purpose="batch"'
while IFS= read -r line; do
	grep -qxF "$line" <<<"$m" || fail "missing line: $line
$m"
done <<WANT
# HELP tollgate_requests_total LLM requests metered (refused ones not included).
# TYPE tollgate_requests_total counter
tollgate_requests_total{$L,model="test-model",provider="testco"} 1
tollgate_requests_total{$L,model="cheap",provider="testco"} 2
tollgate_requests_total{$L,model="mystery",provider="testco"} 1
# TYPE tollgate_refused_requests_total counter
tollgate_refused_requests_total{$L,model="test-model",provider="testco"} 1
tollgate_refused_requests_total{$L,model="cheap",provider="testco"} 0
# TYPE tollgate_tokens_total counter
tollgate_tokens_total{$L,model="test-model",provider="testco",type="input"} 1000
tollgate_tokens_total{$L,model="test-model",provider="testco",type="output"} 500
tollgate_tokens_total{$L,model="test-model",provider="testco",type="cached"} 0
tollgate_tokens_total{$L,model="cheap",provider="testco",type="input"} 2100
tollgate_tokens_total{$L,model="cheap",provider="testco",type="output"} 1000
tollgate_tokens_total{$L,model="mystery",provider="testco",type="input"} 10
# TYPE tollgate_cost_usd_total counter
tollgate_cost_usd_total{$L,model="test-model",provider="testco"} 0.002000000
tollgate_cost_usd_total{$L,model="cheap",provider="testco"} 0.000410000
tollgate_cost_usd_total{$L,model="mystery",provider="testco"} 0.000000000
# TYPE tollgate_gpu_busy_seconds_total counter
# TYPE tollgate_gpu_launches_total counter
tollgate_records_written_total 5
tollgate_spool_replays_total 1
tollgate_rejected_messages_total 0
tollgate_unpriced_records_total 1
tollgate_ledger_errors_total 0
tollgate_metric_series_dropped_total 0
# TYPE tollgate_registered_processes gauge
tollgate_registered_processes 0
WANT
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "http://$addr/nope")" 404 \
    "status of an unknown path"
stop_daemon

# Allow-list of one label, a cap of one series, a value needing escapes.
: >"$T/daemon.log"
start_daemon --http 127.0.0.1:0 --metric-labels team --metric-series 1
addr=$(jget "$(raw <<<status)" 'd["daemon"]["http"]')
raw <<'CMDS' >/dev/null
register team=q"x\y -
record 11 0 testco cheap 100 0
CMDS
raw <<'CMDS' >/dev/null
register team=other -
record 12 0 testco cheap 100 0
CMDS
m=$(curl -sf "http://$addr/metrics")
grep -qxF 'tollgate_requests_total{team="q\"x\\y"} 1' <<<"$m" ||
	fail "escaped series missing:
$m"
grep -qxF 'tollgate_metric_series_dropped_total 1' <<<"$m" ||
	fail "dropped count: $m"
expect_eq "$(grep -c '^tollgate_requests_total{' <<<"$m")" 1 "series kept"
stop_daemon
echo "ok"
