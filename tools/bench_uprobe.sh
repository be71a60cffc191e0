#!/bin/bash
# bench_uprobe.sh — cost of one libcuda uprobe hit (issue 6, bpf/cudaprobe):
# build/tests/progs/cuda/cuda_gate makes N cuLaunchKernel calls on the fake
# libcuda, timed in-process, with and without bpf/cudaprobe's uprobes
# attached to it (through tests/e2e/bpf_cuda_harness.c, built here);
# rounds interleaved, the best of each kept. Then the daemon's CPU under
# launch load: a real `tollgated --audit` (which finds the process
# itself) while cuda_rate launches without the shim for
# UPROBE_BENCH_SECONDS, its utime+stime from /proc/PID/stat next to the
# same daemon idle over the same time just before; two load points:
# cuda_rate -i 800 (~1,000 launches/s with nanosleep's slack) and -i 20
# (~20,000/s). The kernel sends at most one ring event per process per
# 100 ms (bpf/cudaprobe.h) and the daemon reads the rest from the map
# once a second, so ring events/s stays near 10 whatever the launch rate;
# both are printed, over the time the process was probed (launches and
# ring events: from the daemon's exit line). Root
# needed. Prints figures only:
#   uprobe_launch_ns_unprobed, uprobe_launch_ns_probed,
#   uprobe_hit_us (probed − unprobed; target <= 3)
#   daemon_cpu_idle_pct
#   then per load point (1k, 10k, max): daemon_launches_per_s_L,
#   daemon_ring_events_per_s_L, daemon_cpu_load_pct_L
#   (% of one core; target: load <= 5)
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-$SRC/build}
N=${UPROBE_BENCH_N:-200000}
SECS=${UPROBE_BENCH_SECONDS:-5}
ROUNDS=${UPROBE_BENCH_ROUNDS:-3}
[ "$(id -u)" = 0 ] || { echo "bench_uprobe: needs root" >&2; exit 77; }
T=$(mktemp -d)
H= D=
cleanup() {
	exec 5>&- 6<&- 7>&- 2>/dev/null
	[ -n "$H" ] && kill "$H" 2>/dev/null
	[ -n "$D" ] && kill "$D" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
die() { echo "bench_uprobe: $*" >&2; exit 1; }

HARNESS=$B/tests/bpf_cuda_harness # make all builds it
[ -x "$HARNESS" ] || die "missing $HARNESS (run make all)"

mkfifo "$T/h.in" "$T/h.out"
"$HARNESS" <"$T/h.in" >"$T/h.out" 2>"$T/h.err" & H=$!
exec 5>"$T/h.in" 6<"$T/h.out"

one() { # probe(0|1) -> ns of the launch loop on stdout
	local i=$1 out=$T/g.out pid ns
	rm -f "$T/g.in"; mkfifo "$T/g.in"
	LD_LIBRARY_PATH=$B/fakecuda taskset -c 0 "$B/tests/progs/cuda/cuda_gate" \
	    -n "$N" <"$T/g.in" >"$out" & pid=$!
	exec 7>"$T/g.in"
	for _ in $(seq 250); do grep -q '^ready' "$out" && break; sleep 0.02; done
	if [ "$i" = 1 ]; then
		echo "attach $pid" >&5; read -r -t 10 _ <&6 || die "harness"
	fi
	echo go >&7
	for _ in $(seq 1500); do grep -q '^ns ' "$out" && break; sleep 0.02; done
	ns=$(sed -n 's/^ns //p' "$out")
	exec 7>&-
	wait "$pid"
	[ -n "$ns" ] || die "cuda_gate gave no time"
	echo "$ns"
}
best0= best1=
for _ in $(seq "$ROUNDS"); do
	a=$(one 0) || exit 1; b=$(one 1) || exit 1
	[ -z "$best0" ] || [ "$a" -lt "$best0" ] && best0=$a
	[ -z "$best1" ] || [ "$b" -lt "$best1" ] && best1=$b
done
awk -v a="$best0" -v b="$best1" -v n="$N" 'BEGIN {
	printf "uprobe_launch_ns_unprobed %.1f\n", a / n
	printf "uprobe_launch_ns_probed %.1f\n", b / n
	printf "uprobe_hit_us %.3f\n", (b - a) / n / 1000
}'

exec 5>&- 6<&-
wait "$H"
H=

# --- the daemon's CPU under launch load ----------------------------------
"$B/tollgated" --audit --socket "$T/d.sock" --state-dir "$T/state" --http off \
    2>"$T/d.log" & D=$!
for _ in $(seq 200); do grep -q "listening on" "$T/d.log" && break; sleep 0.025; done
grep -q "listening on" "$T/d.log" || die "tollgated did not start: $(cat "$T/d.log")"
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$D/stat"; }
hz=$(getconf CLK_TCK)
sleep 1 # its start-up scans are over
c0=$(cpu_ticks); sleep "$SECS"; c1=$(cpu_ticks)
awk -v hz="$hz" -v s="$SECS" -v c0="$c0" -v c1="$c1" \
    'BEGIN { printf "daemon_cpu_idle_pct %.2f\n", 100 * (c1 - c0) / hz / s }'

now_ns() { date +%s%N; }
load() { # NAME INTERVAL_US: cuda_rate -i INTERVAL_US for SECS, the figures
	local name=$1 us=$2 r ev seen c2 c3 t0 t1
	rm -f "$T/r.in"; mkfifo "$T/r.in"
	LD_LIBRARY_PATH=$B/fakecuda "$B/tests/progs/cuda/cuda_rate" -n 0 -i "$us" \
	    <"$T/r.in" >"$T/r.out" 2>"$T/r.err" & r=$!
	exec 7>"$T/r.in"
	for _ in $(seq 400); do grep -q "cudaprobe: pid $r:" "$T/d.log" && break; sleep 0.01; done
	grep -q "cudaprobe: pid $r:" "$T/d.log" || die "the daemon did not attach to cuda_rate"
	t0=$(now_ns)
	c2=$(cpu_ticks); sleep "$SECS"; c3=$(cpu_ticks)
	exec 7>&-
	wait "$r"
	t1=$(now_ns)
	for _ in $(seq 40); do grep -q "cudaprobe: pid $r exited:" "$T/d.log" && break; sleep 0.05; done
	seen=$(sed -n "s/.*cudaprobe: pid $r exited: \([0-9]*\) launches.*/\1/p" "$T/d.log")
	ev=$(sed -n "s/.*cudaprobe: pid $r exited: .* (\([0-9]*\) ring events)$/\1/p" "$T/d.log")
	[ -n "$seen" ] && [ -n "$ev" ] || die "no exit line for cuda_rate"
	# rates over the time it was probed (attach line seen → its exit):
	# the launches before the attach are not the daemon's load
	awk -v n="$name" -v ev="$ev" -v seen="$seen" -v dt="$((t1 - t0))" \
	    -v hz="$hz" -v s="$SECS" -v c2="$c2" -v c3="$c3" 'BEGIN {
		printf "daemon_launches_per_s_%s %.0f (%d launches probed)\n", n, seen / dt * 1e9, seen
		printf "daemon_ring_events_per_s_%s %.1f (%d ring events)\n", n, ev / dt * 1e9, ev
		printf "daemon_cpu_load_pct_%s %.2f\n", n, 100 * (c3 - c2) / hz / s
	}'
}
load 1k 800
load 10k 20
load max 0
kill "$D"; wait "$D"; D=
