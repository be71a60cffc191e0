#!/bin/bash
# Regression: a killed process's socket EOF reaches the daemon a moment
# before its pidfd turns readable; its reservations were once dropped as if
# the process lived on (11 of 20 lost). Each must become an estimated record.
. "$(dirname "$0")/daemon_common.inc"
command -v sqlite3 >/dev/null || { echo "sqlite3 CLI not installed"; exit 77; }
start_daemon --http off
for i in $(seq 10); do
	"$RAW" "$SOCK" >"$T/out" <<'CMDS' &
register team=x -
admit 1 testco test-model 1000 500
hold
CMDS
	P=$!
	for _ in $(seq 200); do grep -q holding "$T/out" && break; sleep 0.01; done
	kill -9 "$P"
	wait "$P" 2>/dev/null || true
done
for _ in $(seq 200); do
	[ "$(sql "SELECT count(*) FROM records")" = 10 ] && break
	sleep 0.025
done
expect_eq "$(sql "SELECT count(*), sum(estimated), sum(cost_nano_usd) FROM records
    WHERE rule = 'reservation-expired'")" "10|10|20000000" "estimated records"
stop_daemon
echo "ok"
