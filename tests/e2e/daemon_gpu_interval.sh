#!/bin/bash
# --gpu-interval: a running process's GPU use is recorded every interval,
# each record what grew since the one before; the final one comes when
# the registration ends. Two records whose sums are the page's last
# values: launches, busy and held add up, the peak is the high-water mark,
# and the two costs add up to the cost of the whole hold (H100 at $2.99/h:
# 2 s → 1,661,111; 3 s → 2,491,667; 5 s → 4,152,778 nano-USD).
# Also the option's bounds and its usage text.
. "$(dirname "$0")/daemon_common.inc"
command -v sqlite3 >/dev/null || { echo "sqlite3 CLI not installed"; exit 77; }
cat >"$T/prices.json" <<'JSON'
{"schema_version": 1, "gpus": {"H100": {"usd_per_hour": 2.99}}}
JSON

for bad in 0 3601 x; do
	rc=0
	out=$("$B/tollgated" --socket "$T/x.sock" --state-dir "$T/x" \
	    --gpu-interval "$bad" 2>&1) || rc=$?
	expect_eq "$rc" 1 "exit status with --gpu-interval $bad"
	expect_eq "$out" "tollgated: --gpu-interval $bad: expected a whole number from 1 to 3600" \
	    "error for --gpu-interval $bad"
done
"$B/tollgated" --help 2>"$T/usage" && fail "--help exited 0"
grep -q -- "--gpu-interval  seconds between GPU usage records" "$T/usage" ||
	fail "usage text: $(cat "$T/usage")"

start_daemon --http off --gpu-interval 2

# wait_rows N: until the ledger holds N records
wait_rows() {
	for _ in $(seq 400); do
		[ "$(sql "SELECT count(*) FROM records")" = "$1" ] && return 0
		sleep 0.025
	done
	fail "$(sql "SELECT count(*) FROM records") records, want $1"
}
# wait_out LINE: until the client printed LINE
wait_out() {
	for _ in $(seq 200); do grep -qxF "$1" "$T/out" && return 0; sleep 0.025; done
	fail "client did not print '$1': $(cat "$T/out")"
}

mkfifo "$T/in"
"$RAW" "$SOCK" <"$T/in" >"$T/out" &
P=$!
KIDS=$P
exec 3>"$T/in"
cat >&3 <<'CMDS'
register team=ml -
gpu 0 0 1000 2000000000 0 0 4096 NVIDIA H100 80GB HBM3
launches 10
CMDS
wait_out "launches 10"
# the first tick (at most 2 s on) records the first values; the process
# lives on
wait_rows 1
kill -0 "$P" || fail "client exited"
# the next tick finds nothing grown: no record
sleep 2.2
expect_eq "$(sql "SELECT count(*) FROM records")" 1 "records after a tick with nothing new"
# ~0.3 s after a tick, so the next one is ~1.7 s away: the second values
cat >&3 <<'CMDS'
gpu 0 0 3000 5000000000 0 0 8192 NVIDIA H100 80GB HBM3
launches 25
CMDS
wait_out "launches 25"
exec 3>&-
wait "$P" || fail "client: $(cat "$T/out")"
KIDS=
wait_rows 2
expect_eq "$(sql "SELECT gpu_launches, gpu_busy_ns, gpu_held_ns,
    gpu_mem_peak_bytes, cost_nano_usd FROM records ORDER BY seq")" \
"10|1000|2000000000|4096|1661111
15|2000|3000000000|8192|2491667" "the interval record and the final one"
expect_eq "$(sql "SELECT sum(gpu_launches), sum(gpu_busy_ns), sum(gpu_held_ns),
    max(gpu_mem_peak_bytes), sum(cost_nano_usd) FROM records")" \
    "25|3000|5000000000|8192|4152778" "their sums: the page's last values"
stop_daemon
echo "ok"
