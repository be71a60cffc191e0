#!/bin/bash
# GPU records from the counters page (ctl/daemon/gpu_settle.c): a process
# writes per-device counters as the shim does; when its registration ends
# the daemon records, per used device, what grew: busy and held time, the
# memory high-water mark, and the process's launches on its lowest slot;
# model = the price table's GPU key in the device name, priced as held
# seconds x the hourly price, exactly. A device the table does not know is
# unpriced. Out-of-range page values are left out with one log line each,
# and nothing else of the record is lost. At shutdown a live process's
# hold in progress is recorded up to then.
# (The periodic records: daemon_gpu_interval.sh; the verdict page:
# daemon_gpu_page.sh.)
. "$(dirname "$0")/daemon_common.inc"
command -v sqlite3 >/dev/null || { echo "sqlite3 CLI not installed"; exit 77; }
cat >"$T/prices.json" <<'JSON'
{"schema_version": 1,
 "models": {"test-model": {"provider": "testco", "input_usd_per_mtok": 1,
                           "output_usd_per_mtok": 2}},
 "gpus": {"H100": {"usd_per_hour": 2.99}, "A100": {"usd_per_hour": 1.79},
          "L4": {"usd_per_hour": 0.8}, "L40S": {"usd_per_hour": 1.19}}}
JSON
EXE=$(readlink -f "$RAW")
start_daemon --http off

# wait_rows N WHAT: until the ledger holds N records
wait_rows() {
	for _ in $(seq 200); do
		[ "$(sql "SELECT count(*) FROM records")" = "$1" ] && return 0
		sleep 0.025
	done
	fail "$2: $(sql "SELECT count(*) FROM records") records, want $1"
}
COLS="pid, exe, tags, kind, source, provider, model, endpoint, decision,
    gpu_launches, gpu_busy_ns, gpu_held_ns, gpu_mem_peak_bytes,
    cost_nano_usd, unpriced"

# 1. Two devices, closed holds, then the process exits. H100 held 3600 s
# at $2.99/h: 2,990,000,000 nano-USD; A100 held 1800 s at $1.79/h:
# 895,000,000. The 4242 launches go on slot 0, the lowest used.
"$RAW" "$SOCK" >"$T/out1" <<'CMDS' &
register team=ml,purpose=train -
gpu 0 0 1500000000 3600000000000 0 1073741824 2147483648 NVIDIA H100 80GB HBM3
gpu 1 3 250000000 1800000000000 0 0 1048576 NVIDIA A100-SXM4-80GB
launches 4242
CMDS
P=$!
wait "$P" || fail "client 1: $(cat "$T/out1")"
expect_eq "$(tail -n 3 "$T/out1" | tr '\n' ' ')" "gpu 0 set gpu 1 set launches 4242 " \
    "client 1 commands"
wait_rows 2 "records of client 1"
expect_eq "$(sql "SELECT $COLS FROM records ORDER BY endpoint")" \
"$P|$EXE|team=ml,purpose=train|gpu|shim|nvidia|H100|gpu0|allow|4242|1500000000|3600000000000|2147483648|2990000000|0
$P|$EXE|team=ml,purpose=train|gpu|shim|nvidia|A100|gpu3|allow|0|250000000|1800000000000|1048576|895000000|0" \
    "the records of a process that wrote two devices and exited"

# the report sums them: 5400 s held, $3.885
rep=$(raw <<<"report model -")
expect_eq "$(jget "$rep" '[(r["model"], r["gpu_launches"], r["gpu_held_seconds"], r["gpu_mem_peak_bytes"], r["cost_usd"]) for r in d["rows"]]')" \
    "[('H100', 4242, 3600.0, 2147483648, 2.99), ('A100', 0, 1800.0, 1048576, 0.895)]" \
    "report by model"

# 2. A device the price table does not name: model = the device name,
# unpriced. "NVIDIA L40S" is L40S (not L4): the longest whole token.
"$RAW" "$SOCK" >"$T/out2" <<'CMDS' &
register team=ml -
gpu 0 0 0 7200000000000 0 0 0 Acme Tensor Accelerator X1
gpu 2 1 10 3600000000000 0 0 0 NVIDIA L40S
CMDS
P2=$!
wait "$P2" || fail "client 2: $(cat "$T/out2")"
wait_rows 4 "records of client 2"
expect_eq "$(sql "SELECT model, endpoint, gpu_held_ns, cost_nano_usd, unpriced
    FROM records WHERE pid = $P2 ORDER BY endpoint")" \
"Acme Tensor Accelerator X1|gpu0|7200000000000|0|1
L40S|gpu1|3600000000000|1190000000|0" "an unknown device is unpriced"
st=$(raw <<<"status")
expect_eq "$(jget "$st" 'd["health"]["unpriced_records"]')" 1 "unpriced records"

# 3. Out of range: each bad value is left out with one log line naming
# the pid and the field; the rest of each record is kept. Slot 0: busy
# past 10^17 ns (its held time stays); slot 1: ordinal -1 (endpoint
# "gpu"), peak past 2^50 (busy stays); slot 2: a hold "in progress" that
# starts in the future (its closed 1800 s on an L4 at $0.80/h stay:
# 400,000,000); launches +10^12+1 in one go.
"$RAW" "$SOCK" >"$T/out3" <<'CMDS' &
register team=bad -
gpu 0 0 100000000000000001 3600000000000 0 0 4096 NVIDIA H100 80GB HBM3
gpu 1 -1 5 0 0 0 1125899906842625 NVIDIA A100-SXM4-80GB
gpu 2 2 0 1800000000000 -60000 0 0 NVIDIA L4
launches 1000000000001
CMDS
P3=$!
wait "$P3" || fail "client 3: $(cat "$T/out3")"
wait_rows 7 "records of client 3"
expect_eq "$(sql "SELECT endpoint, model, gpu_launches, gpu_busy_ns, gpu_held_ns,
    gpu_mem_peak_bytes, cost_nano_usd, unpriced FROM records WHERE pid = $P3
    ORDER BY endpoint")" \
"gpu|A100|0|5|0|0|0|0
gpu0|H100|0|0|3600000000000|4096|2990000000|0
gpu2|L4|0|0|1800000000000|0|400000000|0" "records with values left out"
for f in "gpu[0].busy_ns = 100000000000000001" "gpu[1].ordinal = -1" \
    "gpu[1].mem_peak_bytes = 1125899906842625" "gpu[2].held_since_ns = " \
    "gpu_launches = 1000000000001"; do
	n=$(grep -cF "tollgated: gpu_settle: pid $P3: counters page $f" "$T/daemon.log")
	expect_eq "$n" 1 "log lines for $f"
done
expect_eq "$(grep -c 'out of range' "$T/daemon.log")" 5 "out-of-range log lines"

# 4. Nothing used, nothing written: a process that registers and leaves.
raw <<<"register team=idle -" >/dev/null
sleep 0.2
expect_eq "$(sql "SELECT count(*) FROM records WHERE tags = 'team=idle'")" 0 \
    "records of a process without GPU use"
# Launches with no device named (no slot used): kept, on an unpriced
# record of model "unknown".
printf 'register team=noslot -\nlaunches 9\n' | raw >/dev/null
wait_rows 8 "the launches-only record"
expect_eq "$(sql "SELECT model, endpoint, gpu_launches, gpu_held_ns, cost_nano_usd,
    unpriced FROM records WHERE tags = 'team=noslot'")" "unknown|gpu|9|0|0|1" \
    "launches without a device"

# 5. At shutdown a live process's hold in progress (begun 1000 ms before
# the page write) counts up to the daemon's settle: between 1000 ms and
# 1000 ms + the time from the write to the daemon's exit.
mkfifo "$T/in5"
"$RAW" "$SOCK" <"$T/in5" >"$T/out5" &
P5=$!
KIDS=$P5
exec 3>"$T/in5"
echo "register team=live -" >&3
t1=$(python3 -c 'import time; print(time.monotonic_ns())')
echo "gpu 0 1 777 0 1000 123 456 NVIDIA H100 80GB HBM3" >&3
for _ in $(seq 200); do grep -q "gpu 0 set" "$T/out5" && break; sleep 0.025; done
grep -q "gpu 0 set" "$T/out5" || fail "client 5: $(cat "$T/out5")"
# status shows the live slot; top the process's held time with the hold
# in progress
st=$(raw <<<"status")
expect_eq "$(jget "$st" '[{k: v for k, v in g.items() if k != "held_ns"} for p in d["processes"] if p["pid"] == '"$P5"' for g in p["gpus"]]')" \
    "[{'slot': 0, 'ordinal': 1, 'name': 'NVIDIA H100 80GB HBM3', 'held_now': True, 'busy_ns': 777, 'mem_bytes': 123, 'mem_peak_bytes': 456}]" \
    "the live slot in status"
# the text view: one short string per process
"$B/tollctl" --socket "$SOCK" status | grep -qE " gpu1 held 1\.[0-9]{2}s\* busy 0\.00s peak 456 *$" ||
	fail "tollctl status: $("$B/tollctl" --socket "$SOCK" status)"
top=$(raw <<<"top")
t3=$(python3 -c 'import time; print(time.monotonic_ns())')
for doc in "$st" "$top"; do
	h=$(jget "$doc" '[p.get("gpu_held_ns", p["gpus"][0]["held_ns"]) for p in d["processes"] if p["pid"] == '"$P5"'][0]')
	[ "$h" -ge 1000000000 ] && [ "$h" -le $((1000000000 + t3 - t1)) ] ||
		fail "live held $h ns, want 1000000000 .. $((1000000000 + t3 - t1))"
done
stop_daemon
t2=$(python3 -c 'import time; print(time.monotonic_ns())')
exec 3>&-
wait "$P5" 2>/dev/null || true
KIDS=
row=$(sql "SELECT endpoint, model, gpu_busy_ns, gpu_held_ns FROM records
    WHERE pid = $P5")
held=${row##*|}
expect_eq "${row%|*}" "gpu1|H100|777" "the live process's record at shutdown"
[ "$held" -ge 1000000000 ] && [ "$held" -le $((1000000000 + t2 - t1)) ] ||
	fail "held $held ns, want 1000000000 .. $((1000000000 + t2 - t1))"
cost=$(sql "SELECT cost_nano_usd FROM records WHERE pid = $P5")
expect_eq "$cost" "$(python3 -c "print(($held * 2990000000000 + 1800000000000000) // 3600000000000000)")" \
    "the live hold's cost, rounded half up"
echo "ok"
