#!/bin/bash
# Issue 6: GPU device holders — bpf/gpudev.* (tracepoints on openat,
# close, ioctl, exec, exit, a raw tracepoint on fork, and the /proc/PID/fd
# scan), seen through tollgated's --debug lines (exact pids, fds, counts)
# and, once, through `tollctl idle --format json` (idle.c). The "device"
# is a regular file, $T/dev/nvidia0, given with --gpu-dev-prefix
# $T/dev/nvidia; the holders are tests/progs/gpu_holder. Needs root (CI
# is root); anywhere else it skips with one line.
#   1. a holder started before the daemon: found by the start-up scan
#      (exactly 1 holder), its libcuda (the fake) probed; a process
#      holding $T/dev/other0: never
#   2. a holder started after: seen opening (its pid, its fd), its libcuda
#      probed at the open; its ioctls
#      counted exactly (3, then 5; tollctl idle shows 8); closing one of
#      its two fds keeps it, closing the last releases it (close)
#   3. fork: the child holding the inherited fd is found at once (the fork
#      probe reads its /proc/PID/fd); the parent's close releases only the
#      parent; the child killed: released (exit)
#   3b. an fd no probe sees (opened relative to its directory): found by
#      the once-a-second /proc rescan within 3.5 s (a pass may span two
#      ticks on a loaded host); then its ioctls (3) and its close are seen
#   4. exec keeping the fd: still held, its ioctls (2) counted; exec with
#      the fd O_CLOEXEC: released (exec)
#   5. the first holder exits: released (exit); the daemon exits 0
if [ "$(id -u)" != 0 ]; then
	echo "skip: needs root (BPF tracepoints)"
	exit 77
fi
. "${SRC:?SRC must name the repo}/tests/e2e/daemon_common.inc" || exit 1
set +e
HOLDER=$B/tests/progs/gpu_holder
[ -x "$HOLDER" ] || fail "missing $HOLDER (run make all)"
mkdir -p "$T/dev"
: >"$T/dev/nvidia0"
: >"$T/dev/other0"
LOG=$T/daemon.log

# holder NAME PATH [N]: start gpu_holder; its pid in HPID, its fd in HFD
holder() {
	local name=$1; shift
	mkfifo "$T/$name.in"
	env ${HENV:-} "$HOLDER" "$@" <"$T/$name.in" >"$T/$name.out" 2>&1 &
	HPID=$!
	KIDS="$KIDS $HPID"
	eval "exec {FD_$name}>\"\$T/\$name.in\""
	for _ in $(seq 250); do grep -q '^ready' "$T/$name.out" && break; sleep 0.02; done
	read -r _ p HFD <"$T/$name.out"
	[ "$p" = "$HPID" ] || fail "$name: not ready: $(cat "$T/$name.out")"
}
# say NAME COMMAND: its answer line in REPLY
say() {
	local name=$1 fdv="FD_$1" n
	n=$(wc -l <"$T/$name.out")
	echo "$2" >&"${!fdv}"
	for _ in $(seq 250); do
		[ "$(wc -l <"$T/$name.out")" -gt "$n" ] && break
		sleep 0.02
	done
	REPLY=$(sed -n "$((n + 1))p" "$T/$name.out")
	case $REPLY in ok*) ;; *) fail "$name: '$2' answered '$REPLY'" ;; esac
}
# wait_log LINE [SECONDS]: the daemon logs exactly this line (once)
wait_log() {
	local i
	for i in $(seq $((${2:-3} * 50))); do
		grep -qxF "tollgated: $1" "$LOG" && break
		sleep 0.02
	done
	n=$(grep -cxF "tollgated: $1" "$LOG")
	[ "$n" = 1 ] || fail "want exactly one '$1', got $n"
}
# wait_ioctls PID N: the ioctls logged for PID add up to N (a tick may
# fall in the middle of a burst and log it in two parts)
wait_ioctls() {
	local sum
	for _ in $(seq 150); do
		sum=$(sed -n "s/^tollgated: gpudev: pid $1: \([0-9]*\) GPU ioctls$/\1/p" "$LOG" |
		    awk '{ s += $1 } END { print s + 0 }')
		[ "$sum" -ge "$2" ] && break
		sleep 0.02
	done
	[ "$sum" = "$2" ] || fail "pid $1: $sum GPU ioctls logged, want $2"
}
no_log() { # PATTERN: nothing logged matching it
	grep -qE "$1" "$LOG" && fail "unexpected: $(grep -E "$1" "$LOG")"
	return 0
}

# --- 1. before the daemon -------------------------------------------------
FAKE=$B/fakecuda/libcuda.so.1
[ -f "$FAKE" ] || fail "missing $FAKE (run make all)"
HENV="LD_PRELOAD=$FAKE" holder a "$T/dev/nvidia0" 2; PA=$HPID
holder o "$T/dev/other0" 2; PO=$HPID
start_daemon --http off --gpu-dev-prefix "$T/dev/nvidia" --debug
wait_log "gpudev: watching opens of $T/dev/nvidia*, 1 holders found"
wait_log "gpudev: pid $PA holds the GPU (scan)"
# offered to cudaprobe (started before gpudev) at once
wait_log "cudaprobe: pid $PA: 10 uprobes on $FAKE"

# --- 2. after: open, ioctls, close ----------------------------------------
HENV="LD_PRELOAD=$FAKE" holder b "$T/dev/nvidia0" 3; PB=$HPID; BFD=$HFD
wait_log "gpudev: pid $PB opened fd $BFD"
wait_log "cudaprobe: pid $PB: 10 uprobes on $FAKE"
# (open, fd N) normally; (scan) when a rescan read it before the event
n=$(grep -cE "^tollgated: gpudev: pid $PB holds the GPU \((open, fd $BFD|scan)\)$" "$LOG")
[ "$n" = 1 ] || fail "want one 'holds the GPU' line for $PB, got $n"
wait_ioctls "$PB" 3
say b "ioctl 5"
wait_ioctls "$PB" 8
# idle.c was told: tollctl idle lists it with its 8 ioctls
J=$("$B/tollctl" --socket "$SOCK" idle --format json) || fail "tollctl idle"
got=$(jget "$J" "[(p['exe'], p['activity'], p['registered']) for p in d['processes'] if p['pid'] == $PB]")
expect_eq "$got" "[('$HOLDER', 8, False)]" "tollctl idle: pid $PB"
say b open; BFD2=${REPLY#ok }
say b close
[ "$REPLY" = "ok $BFD2" ] || fail "b: closed '$REPLY', want fd $BFD2"
wait_log "gpudev: pid $PB closed fd $BFD2"
no_log "gpudev: pid $PB released"
say b close
wait_log "gpudev: pid $PB closed fd $BFD"
wait_log "gpudev: pid $PB released the GPU (close)"
J=$("$B/tollctl" --socket "$SOCK" idle --format json) || fail "tollctl idle"
got=$(jget "$J" "sorted(p['pid'] for p in d['processes'])")
expect_eq "$got" "[$PA]" "tollctl idle after $PB closed its last fd"
holder o2 "$T/dev/other0" 4; PO2=$HPID

# --- 3. fork: the inherited fd, found by the fork probe ------------------
holder c "$T/dev/nvidia0"; PC=$HPID
wait_log "gpudev: pid $PC opened fd $HFD"
say c fork; PK=${REPLY#ok }
KIDS="$KIDS $PK"
wait_log "gpudev: pid $PK holds the GPU (fork)" 1
say c close
wait_log "gpudev: pid $PC released the GPU (close)"
no_log "gpudev: pid $PK released"
kill -9 "$PK"
wait_log "gpudev: pid $PK released the GPU (exit)"

# --- 3b. an fd the probes do not see: the rescan -------------------------
holder x "$T/dev/other0"; PX=$HPID
t0=$(date +%s%N)
say x "openrel $T/dev/nvidia0"; XFD=${REPLY#ok }
wait_log "gpudev: pid $PX holds the GPU (scan)" 4
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -le 3500 ] || fail "the relative open was found after $ms ms, want <= 3500"
no_log "gpudev: pid $PX opened"
say x "ioctl 3"
wait_ioctls "$PX" 3
say x close
[ "$REPLY" = "ok $XFD" ] || fail "x: closed '$REPLY', want fd $XFD"
wait_log "gpudev: pid $PX released the GPU (close)"

# --- 4. exec -------------------------------------------------------------
holder e "$T/dev/nvidia0"; PE=$HPID; EFD=$HFD
wait_log "gpudev: pid $PE opened fd $EFD"
say e exec
[ "$REPLY" = "ok $PE $EFD" ] || fail "e: exec answered '$REPLY'"
wait_log "gpudev: pid $PE exec'd, holds 1 GPU fds"
say e "ioctl 2"
wait_ioctls "$PE" 2
say e "exec cloexec"
[ "$REPLY" = "ok $PE -1" ] || fail "e: exec cloexec answered '$REPLY'"
wait_log "gpudev: pid $PE released the GPU (exec)"

# --- 5. exit --------------------------------------------------------------
say a exit
wait_log "gpudev: pid $PA released the GPU (exit)"
no_log "pid ($PO|$PO2)[ :]"
n=$(grep -c "holds the GPU (" "$LOG")
[ "$n" = 6 ] || fail "$n holders logged, want 6 (a, b, c, c's child, x, e)"
for h in b c e o o2 x; do say "$h" exit; done
wait $PA $PB $PC $PE $PO $PO2 $PX 2>/dev/null
KIDS=
stop_daemon
echo "ok: bpf_gpudev (scan at start, open/ioctl/close, fork, relative open found by the rescan in ${ms} ms, exec, exit)"
