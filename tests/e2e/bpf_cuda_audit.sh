#!/bin/bash
# Issue 6, audit mode's GPU records: the real daemon (`tollgated --audit`)
# with cuda_gate on the fake libcuda.so.1 WITHOUT the shim — bpf/cudaprobe
# finds it itself (the /proc/PID/maps scan 0.1 s after its exec; no GPU
# device is opened) and its launches become ledger records of kind gpu,
# source ebpf; a shimmed cuda_gate in the same daemon is counted once,
# by the shim. Needs root (CI is root); anywhere else it skips.
#   1. without the shim: 1000 launches (the fake's truth file agrees) in
#      one record (source ebpf, provider nvidia, model unknown, endpoint
#      gpu, its exe and TOLLGATE_TAGS), made by the --gpu-interval timer
#      while it lives; its exit adds nothing (nothing counted twice)
#   2. with the shim: 500 launches, source shim only; never attached
#   3. cuInit watched host-wide in the fake libcuda (one log line): a
#      process that dlopens libcuda late (tests/e2e/bpf_cuda_late.c) is
#      attached at its cuInit, its 700 launches recorded (source ebpf)
set -u
: "${B:?B must name the build directory}" "${SRC:?SRC must name the repo}"
if [ "$(id -u)" != 0 ]; then
	echo "skip: needs root (BPF programs and uprobes)"
	exit 77
fi
command -v sqlite3 >/dev/null || { echo "skip: no sqlite3 CLI"; exit 77; }
T=$(mktemp -d)
D= KIDS=
cleanup() {
	for k in $KIDS; do kill -9 "$k" 2>/dev/null || true; done
	[ -n "$D" ] && kill "$D" 2>/dev/null
	exec 7>&- 2>/dev/null
	wait 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; sed 's/^/  daemon: /' "$T/daemon.log" | tail -30; exit 1; }
GATE=$B/tests/progs/cuda/cuda_gate
for f in "$GATE" "$B/fakecuda/libcuda.so.1" "$B/libtollgate.so" "$B/tollgated"; do
	[ -e "$f" ] || fail "missing $f (run make all)"
done
sql() { sqlite3 "$T/state/ledger.db" "$1"; }
cc -O2 -std=gnu11 -D_GNU_SOURCE -I"$SRC/lib" -o "$T/late" "$SRC/tests/e2e/bpf_cuda_late.c" -ldl ||
    fail "building bpf_cuda_late"

"$B/tollgated" --audit --gpu-interval 2 --socket "$T/sock" --state-dir "$T/state" \
    --http off --prices "$SRC/policies/prices.json" 2>"$T/daemon.log" & D=$!
for _ in $(seq 200); do
	grep -q "listening on" "$T/daemon.log" && break
	kill -0 "$D" 2>/dev/null || fail "tollgated exited"
	sleep 0.025
done
grep -q "libcuda uprobes ready (attached per process without the shim; audit: every process)" \
    "$T/daemon.log" || fail "cudaprobe did not start in audit mode"

gate() { # NAME N [env...]: start cuda_gate -n N; its pid in GPID
	local name=$1 n=$2; shift 2
	mkfifo "$T/$name.in"
	env LD_LIBRARY_PATH="$B/fakecuda" FAKECUDA_TRUTH="$T/$name.truth" "$@" \
	    "$GATE" -n "$n" -a 3 <"$T/$name.in" >"$T/$name.out" 2>"$T/$name.err" & GPID=$!
	KIDS="$KIDS $GPID"
	exec 7>"$T/$name.in"
	for _ in $(seq 250); do grep -q '^ready' "$T/$name.out" && break; sleep 0.02; done
	[ "$(cat "$T/$name.out")" = "ready $GPID" ] || fail "$name: not ready"
}
go() { # NAME N
	echo go >&7
	for _ in $(seq 250); do grep -q '^done' "$T/$1.out" && break; sleep 0.02; done
	grep -qx "done $2 3" "$T/$1.out" || fail "$1: did not finish: $(cat "$T/$1.err")"
}
finish() {
	exec 7>&-
	wait "$GPID"; rc=$?
	[ "$rc" = 0 ] || fail "cuda_gate exited $rc"
}
truth_launches() {
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["kernels_run"]["total"])' "$1"
}

# --- 1. without the shim -------------------------------------------------
gate plain 1000 TOLLGATE_TAGS=team=audit
P=$GPID
for _ in $(seq 100); do
	grep -q "cudaprobe: pid $P: 10 uprobes on $B/fakecuda/libcuda.so.1" \
	    "$T/daemon.log" && break
	sleep 0.05
done
grep -q "cudaprobe: pid $P: 10 uprobes" "$T/daemon.log" ||
    fail "pid $P (libcuda mapped, no device) was not found within 5 s"
go plain 1000
# the --gpu-interval (2 s) record(s) while it lives: all 1000 launches
for _ in $(seq 80); do
	[ "$(sql "select total(gpu_launches) from records where pid = $P")" = 1000.0 ] && break
	sleep 0.1
done
got=$(sql "select distinct kind, source, provider, model, endpoint, exe, tags from records where pid = $P")
want="gpu|ebpf|nvidia|unknown|gpu|$GATE|team=audit"
[ "$got" = "$want" ] || fail "live records of $P: got '$got', want '$want'"
live=$(sql "select count(*) || '|' || sum(gpu_launches) from records where pid = $P")
case $live in
1\|1000) ;; # one record: the 1000 launches took ~2 ms, far from a tick
*) fail "live records of $P: got '$live' (records|launches), want '1|1000'" ;;
esac
finish
[ "$(truth_launches "$T/plain.truth")" = 1000 ] || fail "truth file: $(cat "$T/plain.truth")"
for _ in $(seq 30); do
	grep -q "cudaprobe: pid $P exited: 1000 launches" "$T/daemon.log" && break
	sleep 0.1
done
grep -q "cudaprobe: pid $P exited: 1000 launches, 0 graph launches, 3 allocations (12288 bytes), 3 frees" \
    "$T/daemon.log" || fail "no exit line for $P"
sleep 0.3
got=$(sql "select count(*) || '|' || sum(gpu_launches) from records where pid = $P")
[ "$got" = "$live" ] || fail "after exit, $P: got '$got' (records|launches), want '$live': counted twice"

# --- 2. with the shim: counted once, by the shim -------------------------
gate shim 500 LD_PRELOAD="$B/libtollgate.so" TOLLGATE_SOCKET="$T/sock" \
    TOLLGATE_SPOOL_DIR="$T/spool"
S=$GPID
sleep 1 # the exec scan (0.1 s) has run
go shim 500
finish
[ "$(truth_launches "$T/shim.truth")" = 500 ] || fail "shim truth file: $(cat "$T/shim.truth")"
for _ in $(seq 50); do
	[ "$(sql "select total(gpu_launches) from records where pid = $S")" = 500.0 ] && break
	sleep 0.1
done
sleep 0.5 # an eBPF record, were there one, would be in by now
got=$(sql "select source, sum(gpu_launches) from records where pid = $S group by source")
[ "$got" = "shim|500" ] || fail "shimmed $S: got '$got', want 'shim|500' only; its stderr: $(cat "$T/shim.err")"
grep -q "cudaprobe.*pid $S:" "$T/daemon.log" && fail "shimmed $S: cudaprobe attached to it"

# --- 3. libcuda dlopened late: found through cuInit ----------------------
n=$(grep -c "cudaprobe: cuInit watched in $B/fakecuda/libcuda.so.1 (audit)" "$T/daemon.log")
[ "$n" = 1 ] || fail "cuInit lines for the fake libcuda: $n, want 1"
mkfifo "$T/late.in"
env LD_LIBRARY_PATH="$B/fakecuda" "$T/late" 700 <"$T/late.in" >"$T/late.out" \
    2>"$T/late.err" & L=$!
KIDS="$KIDS $L"
exec 7>"$T/late.in"
for _ in $(seq 250); do grep -q '^ready' "$T/late.out" && break; sleep 0.02; done
[ "$(cat "$T/late.out")" = "ready $L" ] || fail "late: not ready: $(cat "$T/late.err")"
sleep 0.3 # the exec scan found no libcuda in it
grep -q "cudaprobe.*pid $L:" "$T/daemon.log" && fail "late: attached before its dlopen"
echo go >&7
for _ in $(seq 100); do
	grep -q "cudaprobe: pid $L: 10 uprobes" "$T/daemon.log" && break
	sleep 0.05
done
grep -q "cudaprobe: pid $L: 10 uprobes on $B/fakecuda/libcuda.so.1" \
    "$T/daemon.log" || fail "late: not attached after its cuInit: $(cat "$T/late.out" "$T/late.err")"
grep -qx init "$T/late.out" || fail "late: no init line"
echo go >&7
for _ in $(seq 250); do grep -q '^done' "$T/late.out" && break; sleep 0.02; done
grep -qx "done 700" "$T/late.out" || fail "late: did not finish: $(cat "$T/late.err")"
exec 7>&-
wait "$L"; rc=$?
[ "$rc" = 0 ] || fail "late exited $rc"
for _ in $(seq 50); do
	[ "$(sql "select total(gpu_launches) from records where pid = $L")" = 700.0 ] && break
	sleep 0.1
done
got=$(sql "select source, sum(gpu_launches) from records where pid = $L group by source")
[ "$got" = "ebpf|700" ] || fail "late: got '$got', want 'ebpf|700'"

kill "$D"; wait "$D"; rc=$?; D=
[ "$rc" = 0 ] || fail "tollgated exited $rc"
echo "ok: bpf_cuda_audit (1000 launches without the shim: one ebpf record; 500 with it: shim only; late dlopen found at cuInit: 700)"
