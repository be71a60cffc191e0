#!/bin/bash
# shim_cuda_enforce.sh — the daemon's verdict page applied by the shim's
# CUDA hooks (issue 5, "Enforcement"), against the fake libcuda.so.1:
#   cap:      a gpu_limit rule's mem_cap of 8 MiB. Through every
#             allocation path an allocation that reaches the cap exactly
#             succeeds, one byte more fails with CUDA_ERROR_OUT_OF_MEMORY
#             (2) and never reaches the driver (the fake's truth counts the
#             calls it got); cuMemGetInfo_v2 says total = the cap, free =
#             the cap less what is in use; one stderr line says why.
#   pause:    a policy swapped in by SIGHUP whose pause window covers the
#             daemon's (fake) clock: a launching program blocks — its
#             counters stay flat for a second, no launch returns while the
#             verdict word says TG_PAUSE — and the policy swapped back by
#             SIGHUP resumes it: the first launch returns within 50 ms of
#             the word changing (the program watches its own verdict
#             page) and within 1 s of the SIGHUP.
#   throttle: launches_per_sec 200: 300 back-to-back launches return at
#             200/s within 5%, by the program's own CLOCK_MONOTONIC
#             timestamps.
#   deny:     a day budget of 1 nano-USD matching kind gpu, spent by a
#             first program's GPU record: the next program's launches
#             answer CUDA_ERROR_NOT_PERMITTED (800) without reaching the
#             driver, and its stderr is exactly one line naming the rule.
. "$(dirname "$0")/shim_common.inc"
. "$(dirname "$0")/cuda_common.inc"
cuda_setup "$CP/cuda_alloc" "$CP/cuda_rate"

policy() { # FILE RULES-JSON
	printf '{"schema_version": 1, "timezone": "UTC", "rules": [%s]}\n' "$2" >"$1"
}
launches_now() { # PID: the live gpu_launches, or -1
	top_proc "$1" | python3 -c 'import json,sys; p=json.load(sys.stdin); print(p["gpu_launches"] if p else -1)'
}
mono_ns() { python3 -c 'import time; print(time.monotonic_ns())'; }

# ---- cap ----------------------------------------------------------------------
CAP=8388608
policy "$T/cap.json" '{"name": "gpu-cap", "kind": "gpu_limit", "mem_cap": '$CAP'}'
cuda_daemon --policy "$T/cap.json"
for run in "alloc link" "alloc gpa2 -P" "pitch gpa2 -P" "managed gpa1" \
    "async gpa2 -P" "pool gpagpa -P" "create dlsym"; do
	set -- $run
	path=$1 mode=$2 pt=${3:-}
	# cuMemCreate takes multiples of 2 MiB: its "one byte more" is 2 MiB
	more=1
	[ "$path" = create ] && more=2097152
	name=cap-$path-$mode$pt
	FAKECUDA_TRUTH=$T/$name.truth LD_PRELOAD=$SHIM "$CP/cuda_alloc" -p "$path" \
	    -r "$mode" $pt 4194304 free $more >"$T/$name.out" 2>"$T/$name.err" ||
	    { fail "$name: exit $?: $(cat "$T/$name.err")"; continue; }
	python3 - "$T/$name" "$CAP" "$more" <<'PY' || fail "$name"
import json, sys
base, cap, more = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
out = json.load(open(base + ".out"))
truth = json.load(open(base + ".truth"))
err = open(base + ".err").read()
fns = {"alloc": "cuMemAlloc_v2", "pitch": "cuMemAllocPitch_v2",
       "managed": "cuMemAllocManaged", "async": "cuMemAllocAsync",
       "pool": "cuMemAllocFromPoolAsync", "create": "cuMemCreate"}
fn = fns[out["path"]]
if "-P" in base and fn in ("cuMemAllocAsync", "cuMemAllocFromPoolAsync"):
    fn += "_ptsz"
got = [(a["bytes"], a["rc"], a["free"], a["total"]) for a in out["allocs"]]
want = [(4194304, 0, cap - 4194304, cap), (cap - 4194304, 0, 0, cap), (more, 2, 0, cap)]
assert (out["total0"], out["free0"]) == (cap, cap), out
assert got == want, f"allocs {got}, want {want}"
assert (out["freed"], out["free_end"], out["total_end"]) == (2, cap, cap), out
dev = truth["devices"][0]
# the refused one never reached the driver
assert truth["calls"].get(fn, 0) == 2, (fn, truth["calls"])
assert (dev["ooms"], dev["mem_hwm"], dev["mem_in_use"]) == (0, cap, 0), dev
line = f"tollgate: GPU allocation of {more} bytes refused: over the memory cap of {cap} bytes\n"
assert err == line, f"stderr {err!r}, want {line!r}"
PY
done
no_daemon

# ---- pause ----------------------------------------------------------------------
# The daemon's clock: Monday 2026-11-30 12:00 UTC, inside 09:00-18:00.
date -u -d "2026-11-30 12:00:00" +%s >"$T/clock"
policy "$T/run.json" '{"name": "far", "kind": "budget", "period": "day", "limit_usd": "1000"}'
policy "$T/pause.json" '{"name": "far", "kind": "budget", "period": "day", "limit_usd": "1000"},
 {"name": "batch-hours", "kind": "pause", "match": {"purpose": "batch"},
  "window": {"from": "09:00", "to": "18:00"}}'
cp "$T/run.json" "$T/policy.json"
cuda_daemon --policy "$T/policy.json" --fake-clock "$T/clock"
mkfifo "$T/pause.fifo"
TOLLGATE_TAGS=purpose=batch FAKECUDA_TRUTH=$T/pause.truth LD_PRELOAD=$SHIM \
    "$CP/cuda_rate" -n 0 -i 1000 -w -o "$T/pause.times" <"$T/pause.fifo" \
    >"$T/pause.out" 2>"$T/pause.err" & pid=$!
exec 8>"$T/pause.fifo"
for _ in $(seq 100); do [ "$(launches_now $pid)" -ge 100 ] && break; sleep 0.05; done
[ "$(launches_now $pid)" -ge 100 ] || fail "pause: the program does not launch"
cp "$T/pause.json" "$T/policy.json"
kill -HUP "$D"
# flat: equal counts 1 s apart (the GPU thread publishes every 100 ms)
flat=
for _ in $(seq 20); do
	a=$(launches_now $pid)
	sleep 1
	b=$(launches_now $pid)
	[ "$a" = "$b" ] && { flat=$b; break; }
done
[ -n "$flat" ] || fail "pause: launches never stopped"
cp "$T/run.json" "$T/policy.json"
t_hup=$(mono_ns)
kill -HUP "$D"
for _ in $(seq 40); do [ "$(launches_now $pid)" -gt "${flat:-0}" ] && break; sleep 0.05; done
[ "$(launches_now $pid)" -gt "${flat:-0}" ] || fail "pause: launches did not resume"
sleep 0.2
exec 8>&-
wait $pid || fail "pause: exit $?"
python3 - "$T" "$t_hup" <<'PY' || fail "pause: timestamps"
import json, sys
t, t_hup = sys.argv[1], int(sys.argv[2])
out = json.load(open(t + "/pause.out"))
truth = json.load(open(t + "/pause.truth"))
times = [int(l.split()[0]) for l in open(t + "/pause.times")]
v = out["verdicts"]
assert [w for _, w in v] == [0, 2, 0], f"verdict words seen {v}, want RUN, PAUSE, RUN"
paused, resumed = v[1][0], v[2][0]
assert resumed - paused >= 1000000000, f"paused for only {(resumed - paused) / 1e6:.1f} ms"
# No launch returned while the word said pause: 1 ms for one in flight
# when it changed, and for the watcher, which looks every 100 µs (the
# shim, woken by the daemon's FUTEX_WAKE, may launch before it looks).
inside = [x for x in times if paused + 1000000 < x < resumed - 1000000]
assert not inside, f"{len(inside)} launches returned while paused: at +{[(x - paused) / 1e6 for x in inside]} ms (resumed at +{(resumed - paused) / 1e6} ms)"
first = min(x for x in times if x > paused + 1000000)
print(f"pause: {(resumed - paused) / 1e9:.2f} s; resumed {(first - resumed) / 1e6:.2f} ms "
      f"after the word changed, {(first - t_hup) / 1e6:.1f} ms after the SIGHUP")
assert first - resumed <= 50000000, f"resumed {(first - resumed) / 1e6:.1f} ms after the page changed"
assert first - t_hup <= 1000000000, f"resumed {(first - t_hup) / 1e6:.1f} ms after the SIGHUP"
assert out["rc"] == {"0": out["launches"]}, out["rc"]
assert truth["kernels_run"]["total"] == out["launches"] == len(times), (truth["kernels_run"], out["launches"], len(times))
PY
want="tollgate: GPU launches paused by rule batch-hours"
[ "$(cat "$T/pause.err")" = "$want" ] ||
    fail "pause: stderr '$(cat "$T/pause.err")', want '$want'"
no_daemon

# ---- throttle -------------------------------------------------------------------
policy "$T/rate.json" '{"name": "gpu-rate", "kind": "gpu_limit",
 "match": {"purpose": "rate"}, "launches_per_sec": 200}'
cuda_daemon --policy "$T/rate.json"
TOLLGATE_TAGS=purpose=rate FAKECUDA_TRUTH=$T/rate.truth LD_PRELOAD=$SHIM \
    "$CP/cuda_rate" -r gpa2 -n 300 -w >"$T/rate.out" 2>"$T/rate.err" ||
    fail "throttle: exit $?"
# an untagged process is not throttled: 300 launches well above 200/s
FAKECUDA_TRUTH=$T/free.truth LD_PRELOAD=$SHIM "$CP/cuda_rate" -r gpa2 -n 300 \
    >"$T/free.out" 2>"$T/free.err" || fail "throttle (untagged): exit $?"
python3 - "$T" <<'PY' || fail "throttle"
import json, sys
t = sys.argv[1]
out = json.load(open(t + "/rate.out"))
free = json.load(open(t + "/free.out"))
truth = json.load(open(t + "/rate.truth"))
print(f"throttle: {out['rate']:.2f} launches/s over {out['launches']} (untagged: {free['rate']:.0f}/s)")
assert [w for _, w in out["verdicts"]] == [1], f"verdict words {out['verdicts']}, want THROTTLE"
assert out["rc"] == {"0": 300} and truth["kernels_run"]["total"] == 300, (out["rc"], truth["kernels_run"])
assert 190 <= out["rate"] <= 210, f"rate {out['rate']}, want 200 within 5%"
assert free["rate"] > 1000, f"untagged rate {free['rate']}"
PY
[ -s "$T/rate.err" ] && fail "throttle: stderr '$(cat "$T/rate.err")'"
no_daemon

# ---- deny ---------------------------------------------------------------------
policy "$T/deny.json" '{"name": "gpu-budget", "kind": "budget", "period": "day",
 "match": {"kind": "gpu"}, "limit_usd": "0.000000001"}'
rm -rf "$T/state" # a day budget: the records above must not count
cuda_daemon --policy "$T/deny.json"
FAKECUDA_TRUTH=$T/spend.truth LD_PRELOAD=$SHIM "$CP/cuda_rate" -n 10 -d 100 \
    >"$T/spend.out" 2>"$T/spend.err" & pid=$!
wait $pid || fail "deny: the first program: exit $?"
wait_records $pid || fail "deny: the first program left no GPU record"
cost=$(sqlite3 "$T/state/ledger.db" "select sum(cost_nano_usd) from records where pid = $pid")
[ "${cost:-0}" -ge 1 ] || fail "deny: the first record cost ${cost:-nothing} nano-USD"
FAKECUDA_TRUTH=$T/deny.truth LD_PRELOAD=$SHIM "$CP/cuda_rate" -r gpa2 -P -n 5 -w \
    >"$T/denied.out" 2>"$T/denied.err" || fail "deny: exit $?"
python3 - "$T" <<'PY' || fail "deny"
import json, sys
t = sys.argv[1]
first = json.load(open(t + "/spend.out"))
out = json.load(open(t + "/denied.out"))
truth = json.load(open(t + "/deny.truth"))
assert first["rc"] == {"0": 10}, first["rc"]
assert out["rc"] == {"800": 5}, out["rc"]
assert [w for _, w in out["verdicts"]] == [3], f"verdict words {out['verdicts']}, want DENY_ALL"
calls = {k: v for k, v in truth["calls"].items() if k.startswith("cuLaunch")}
assert calls == {}, f"launches reached the driver: {calls}"
PY
want="tollgate: GPU launches refused by rule gpu-budget"
[ "$(cat "$T/denied.err")" = "$want" ] ||
    fail "deny: stderr '$(cat "$T/denied.err")', want '$want'"

[ "$fails" = 0 ] && echo "shim_cuda_enforce: all passed"
[ "$fails" = 0 ]
