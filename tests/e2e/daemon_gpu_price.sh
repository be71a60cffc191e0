#!/bin/bash
# GPU pricing per host (issue 5: "on-demand or spot per host setting"):
# a price file's "gpu_pricing": "spot" bills a GPU at its
# spot_usd_per_hour, exactly; a GPU without one at its usd_per_hour, with
# one log line naming it at load. SIGHUP to "on_demand" bills the on-demand
# price from then on; a bad value is refused with one line naming the file
# and the key (at start: exit 1; on reload: the old prices stay).
. "$(dirname "$0")/daemon_common.inc"
command -v sqlite3 >/dev/null || { echo "sqlite3 CLI not installed"; exit 77; }
# spot_prices MODE: H100 $2.99/h on demand, $1.23/h spot; A100 $1.79/h,
# no spot price
spot_prices() {
	cat >"$T/prices.json" <<JSON
{"schema_version": 1, "gpu_pricing": "$1",
 "gpus": {"H100": {"usd_per_hour": 2.99, "spot_usd_per_hour": 1.23},
          "A100": {"usd_per_hour": 1.79}}}
JSON
}

# A bad value stops the start with one line naming the file and the key.
spot_prices Spot
rc=0
out=$("$B/tollgated" --socket "$T/x.sock" --state-dir "$T/x" --http off \
    --prices "$T/prices.json" 2>&1) || rc=$?
expect_eq "$rc" 1 "exit status with gpu_pricing Spot"
expect_eq "$out" "tollgated: $T/prices.json: gpu_pricing: expected \"on_demand\" or \"spot\"" \
    "error for gpu_pricing Spot"

spot_prices spot
start_daemon --http off
expect_eq "$(grep -c 'prices_log_gpu' "$T/daemon.log")" 2 "pricing log lines at start"
grep -qxF "tollgated: prices_log_gpu: GPU pricing: spot" "$T/daemon.log" ||
	fail "no spot mode line"
grep -qxF "tollgated: prices_log_gpu: GPU A100 has no spot_usd_per_hour; billed at its on-demand usd_per_hour" \
    "$T/daemon.log" || fail "no fallback line for A100"

# wait_rows N WHAT: until the ledger holds N records
wait_rows() {
	for _ in $(seq 200); do
		[ "$(sql "SELECT count(*) FROM records")" = "$1" ] && return 0
		sleep 0.025
	done
	fail "$2: $(sql "SELECT count(*) FROM records") records, want $1"
}
# hold_hour TAG: a process that held an H100 for 3600 s and an A100 for
# 1800 s, then exited
hold_hour() {
	"$RAW" "$SOCK" >"$T/out" <<CMDS || fail "client $1: $(cat "$T/out")"
register team=$1 -
gpu 0 0 0 3600000000000 0 0 0 NVIDIA H100 80GB HBM3
gpu 1 1 0 1800000000000 0 0 0 NVIDIA A100-SXM4-80GB
CMDS
}

# Spot: the H100 hour at $1.23 = 1,230,000,000 nano-USD; the A100 half
# hour at its on-demand $1.79/h = 895,000,000.
hold_hour spot
wait_rows 2 "the spot records"
expect_eq "$(sql "SELECT model, gpu_held_ns, cost_nano_usd, unpriced FROM records
    WHERE tags = 'team=spot' ORDER BY model")" \
"A100|1800000000000|895000000|0
H100|3600000000000|1230000000|0" "records priced in spot mode"

# A bad value on reload: refused, the spot prices stay.
spot_prices on-demand
kill -HUP "$DPID"
for _ in $(seq 200); do grep -q "keeping the current prices" "$T/daemon.log" && break; sleep 0.025; done
grep -qxF "tollgated: reload: $T/prices.json: gpu_pricing: expected \"on_demand\" or \"spot\"; keeping the current prices" \
    "$T/daemon.log" || fail "no reload error line"

# On demand after SIGHUP: the H100 hour at $2.99, nothing more logged.
spot_prices on_demand
kill -HUP "$DPID"
for _ in $(seq 200); do
	[ "$(grep -c 'reload: 0 model prices' "$T/daemon.log")" = 1 ] && break
	sleep 0.025
done
expect_eq "$(grep -c 'reload: 0 model prices' "$T/daemon.log")" 1 "reloads"
hold_hour od
wait_rows 4 "the on-demand records"
expect_eq "$(sql "SELECT model, cost_nano_usd FROM records
    WHERE tags = 'team=od' ORDER BY model")" \
"A100|895000000
H100|2990000000" "records priced on demand"
expect_eq "$(grep -c 'prices_log_gpu' "$T/daemon.log")" 2 "pricing log lines after reloads"
stop_daemon
echo "ok"
