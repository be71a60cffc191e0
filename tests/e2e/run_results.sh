#!/bin/bash
# run_results.sh — how `tollctl run` reports a run whose result it cannot
# fully deliver, with the real private tollgated and shim. Regressions:
# - "unwritable --summary-json path hides the budget status": the file is
#   now opened before CMD starts (exit 1 at once, CMD not run); a late
#   write failure keeps the gate's (or CMD's) status.
# - "private daemon dying mid-run": a clear message naming its log, which
#   is kept; the status is CMD's (1 when CMD's was 0).
# - "libtollgate.so path with a space or colon silently disables
#   metering": it is preloaded through a symlink in a clean directory.
# - "the private daemon inherits tollctl's extra fds".
# - "SIGPIPE on tollctl's stderr kills it before it exits with the right
#   status".
set -u
: "${B:?set B to the build dir}" "${SRC:?set SRC to the repo root}"
command -v python3 >/dev/null || { echo "skip: no python3"; exit 77; }
command -v pgrep >/dev/null || { echo "skip: no pgrep"; exit 77; }

. "$(dirname "$0")/cli_common.inc"
isolate
export TMPDIR=$T/tmp
mkdir -p "$TMPDIR"
CTL=$B/tollctl RU=$B/tests/progs/report_usage

# (1) --summary-json in a missing directory: exit 1 before CMD runs
"$CTL" run --summary-json "$T/no/such/s.json" -- touch "$T/ran" 2>"$T/e1"
rc=$?
[ $rc = 1 ] || fail "(1) exit $rc, want 1"
[ -e "$T/ran" ] && fail "(1) CMD ran"
[ "$(cat "$T/e1")" = "tollctl run: --summary-json $T/no/such/s.json: No such file or directory" ] ||
	fail "(1) message: $(cat "$T/e1")"
# a file that cannot be written at the end (/dev/full): the gate's status
# still, else CMD's, else 1
"$CTL" run --budget 0.001 --summary-json /dev/full -- \
	"$RU" openai gpt-4o 1000 200 1 >/dev/null 2>"$T/e1b"
rc=$?
[ $rc = 86 ] || fail "(1b) exit $rc, want 86: $(cat "$T/e1b")"
grep -qx 'tollctl run: --summary-json /dev/full: write failed' "$T/e1b" ||
	fail "(1b) $(cat "$T/e1b")"
"$CTL" run --summary-json /dev/full -- sh -c 'exit 7' 2>/dev/null
rc=$?
[ $rc = 7 ] || fail "(1c) exit $rc, want 7"
"$CTL" run --summary-json /dev/full -- true 2>/dev/null
rc=$?
[ $rc = 1 ] || fail "(1d) exit $rc, want 1"
# an existing file keeps its content when the run cannot start
echo keep >"$T/s.json"
TOLLGATE_STATE_DIR=/proc/nonexistent "$CTL" run --summary-json "$T/s.json" \
	-- true 2>/dev/null
[ "$(cat "$T/s.json")" = keep ] || fail "(1e) the old summary was clobbered"

# (2) the private daemon killed during the run: the message names its
# log, which is kept; CMD's status (1 for 0)
killd='kill -KILL $(pgrep -f "tollgated --socket $TOLLGATE_SOCKET")
while pgrep -f "tollgated --socket $TOLLGATE_SOCKET" >/dev/null; do sleep 0.05; done'
"$CTL" run -- sh -c "$killd; exit 7" 2>"$T/e2"
rc=$?
[ $rc = 7 ] || fail "(2) exit $rc, want 7: $(cat "$T/e2")"
log=$(sed -n 's/^tollctl run: the private tollgated exited during the run (see \(.*\)); the command.s exit status was 7$/\1/p' "$T/e2")
[ -n "$log" ] || fail "(2) message: $(cat "$T/e2")"
[ -f "$log" ] || fail "(2) log $log not kept"
case $log in "$TMPDIR"/tollctl-*/tollgated.log) ;; *) fail "(2) log at $log" ;; esac
"$CTL" run -- sh -c "$killd; exit 0" 2>/dev/null
rc=$?
[ $rc = 1 ] || fail "(2b) exit $rc, want 1"

# (3) installed in a directory whose name has a space and a colon: usage
# is still metered (report_usage exits 2 without the shim)
W="$T/a b:c"
mkdir -p "$W"
cp "$B/tollctl" "$B/tollgated" "$B/libtollgate.so" "$W/"
"$W/tollctl" run --summary-json "$T/s3.json" -- "$RU" openai gpt-4o 1000 200 1 \
	>"$T/o3" 2>"$T/e3"
rc=$?
[ $rc = 0 ] || fail "(3) exit $rc: $(cat "$T/e3")"
grep -qx 'allowed=1 refused=0' "$T/o3" || fail "(3) $(cat "$T/o3")"
python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["totals"]
assert (t["requests"], t["input_tokens"], t["output_tokens"]) == (1, 1000, 200), t' \
	"$T/s3.json" || fail "(3) totals"
ls "$TMPDIR" | grep -q '^tollctl-so-' && fail "(3) symlink dir left behind"

# (4) the private daemon has none of tollctl's extra descriptors
"$CTL" run -- sh -c 'p=$(pgrep -f "tollgated --socket $TOLLGATE_SOCKET")
	ls -l /proc/$p/fd | grep -c "extra-fd"' 7>"$T/extra-fd" >"$T/o4" 2>/dev/null
[ "$(cat "$T/o4")" = 0 ] || fail "(4) the daemon holds $(cat "$T/o4") extra fds"

# (5) stderr a pipe nobody reads: tollctl still exits with CMD's status
python3 - "$CTL" <<'PY' || fail "(5)"
import os, subprocess, sys
r, w = os.pipe()
os.close(r)
p = subprocess.run([sys.argv[1], "run", "--", "sh", "-c", "exit 7"], stderr=w)
assert p.returncode == 7, p.returncode
PY
rm -rf "$TMPDIR"/tollctl-*
echo "run_results: ok"
