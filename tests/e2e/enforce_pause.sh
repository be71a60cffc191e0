#!/bin/bash
# enforce_pause.sh — a pause window with "freeze" freezes a `tollctl run`
# job through its cgroup (cgroup.freeze) when the window opens and thaws
# it when it closes; what is frozen is persisted, thawed when the daemon
# exits, and thawed by the next daemon after a crash. The daemon's wall
# clock is injected (--fake-clock; SIGUSR1 re-reads it as a clock step),
# so the window "09:00–18:00 Mon–Fri" is moved to now without sleeping
# for hours. The job also lacks a required tag: that rule (first in the
# file, a deny) must not hide the pause's freeze (regression: standing
# verdicts took freeze and shutdown from the winning rule only). Needs
# root and cgroup v2 (CI has both).
. "$(dirname "$0")/enforce_common.inc"
need_cgroup
CTL=$B/tollctl

cat >"$T/p.json" <<'JSON'
{"schema_version": 1, "timezone": "UTC",
 "rules": [{"name": "need-owner", "kind": "require_tags", "tags": ["owner"]},
           {"name": "batch-hours", "kind": "pause",
            "match": {"purpose": "batch"},
            "window": {"from": "09:00", "to": "18:00",
                       "days": ["mon", "tue", "wed", "thu", "fri"]},
            "freeze": true},
           {"name": "chat-hours", "kind": "pause",
            "match": {"purpose": "chat"},
            "window": {"from": "09:00", "to": "18:00",
                       "days": ["mon", "tue", "wed", "thu", "fri"]}}]}
JSON
AO=$B/tests/progs/admit_once
shimmed() { # TAGS CMD...: a process under the shim (call in a subshell:
	# it execs, so "shimmed … &" gives the process's own pid in $!)
	local tags=$1
	shift
	TOLLGATE_TAGS=$tags LD_PRELOAD=$B/libtollgate.so exec "$@"
}
clock() { date -u -d "$1" +%s >"$T/clock"; }
# Monday 2026-11-30, three seconds before the window opens.
clock "2026-11-30 08:59:57"
start_daemon --policy "$T/p.json" --fake-clock "$T/clock"

# A job that counts, tagged purpose=batch, under `tollctl run`.
start_job() { # NAME
	"$CTL" run --tags purpose=batch -- sh -c 'echo $$ >"$1.pid"; i=0
	    while :; do i=$((i + 1)); echo $i >"$1.count"; sleep 0.02; done' \
	    sh "$T/$1" 2>"$T/$1.err" &
	JOBS="$JOBS $!"
}
counting() { # NAME: 0 when the counter moves within 0.3 s
	local a b
	a=$(cat "$T/$1.count")
	sleep 0.3
	b=$(cat "$T/$1.count")
	[ "$a" != "$b" ]
}
start_job a
CG=$(job_cgroup "$T/a.pid")
CGS="$CGS $CG"
case $CG in */tollgate-run-*) ;; *) fail "job not in a tollgate-run cgroup: $CG";; esac
[ "$(events_frozen "$CG")" = 0 ] || fail "frozen before the window"
counting a || fail "the job does not count before the window"

# (1) the window opens at 09:00:00 (the policy timer, ~3 s from now)
wait_for "frozen at 09:00" '[ "$(events_frozen "$CG")" = 1 ]'
counting a && fail "(1) the job still counts while frozen"
grep -q "froze run .* (rule batch-hours)" "$T/daemon.log" || fail "(1) no log line"
python3 - "$T/st/frozen.json" "$CG" <<'PY' || fail "(1) frozen.json does not list the cgroup"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["version"] == 1 and {"cgroup": sys.argv[2]} in d["frozen"], d
PY
[ "$(cat "$CG/cgroup.freeze")" = 1 ] || fail "(1) cgroup.freeze is not 1"
# an LLM request in a pause window without freeze waits until 18:00
v=$(shimmed purpose=chat,owner=x "$AO" openai gpt-4o 10 10)
case $v in "decision=delay delay_ms="*" rule=chat-hours from_daemon=1 reason=paused during 09:00-18:00 mon,tue,wed,thu,fri") ;;
*) fail "(1) LLM in a pause window: '$v'";; esac
ms=${v#decision=delay delay_ms=}
ms=${ms%% *}
[ "$ms" -gt 32380000 ] && [ "$ms" -le 32400000 ] || fail "(1) delay $ms ms, want ~9 h"

# (2) the clock is set to 17:59:58: still inside; it thaws at 18:00
clock "2026-11-30 17:59:58"
kill -USR1 "$DPID"
sleep 0.3
[ "$(events_frozen "$CG")" = 1 ] || fail "(2) thawed before 18:00"
# a shimmed process outside any run is stopped through its pidfd
shimmed purpose=batch,owner=x "$AO" openai gpt-4o 10 10 >"$T/b.out" &
BP=$!
JOBS="$JOBS $BP"
wait_for "pid $BP stopped" '[ "$(cut -d" " -f3 /proc/$BP/stat 2>/dev/null)" = T ]'
grep -q "froze pid $BP (rule batch-hours)" "$T/daemon.log" || fail "(2) no pid freeze logged"
wait_for "thawed at 18:00" '[ "$(events_frozen "$CG")" = 0 ]'
counting a || fail "(2) the job does not count after the window"
wait_for "pid $BP continued and done" '! kill -0 $BP 2>/dev/null'
grep -q "^decision=allow " "$T/b.out" || fail "(2) after the window: $(cat "$T/b.out")"
grep -q "thawed run" "$T/daemon.log" || fail "(2) no thaw log line"

# (3) Tuesday 10:00: frozen again; a clean daemon exit thaws it
clock "2026-12-01 10:00:00"
kill -USR1 "$DPID"
wait_for "frozen on Tuesday" '[ "$(events_frozen "$CG")" = 1 ]'
kill_daemon TERM
[ "$(events_frozen "$CG")" = 0 ] || fail "(3) still frozen after the daemon exited"
counting a || fail "(3) the job does not count after the daemon exited"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["frozen"] == [], d' \
	"$T/st/frozen.json" || fail "(3) frozen.json not emptied"

# (4) Saturday: the window's days do not include it — a new job runs
clock "2026-12-05 10:00:00"
start_daemon --policy "$T/p.json" --fake-clock "$T/clock"
start_job b
CGB=$(job_cgroup "$T/b.pid")
CGS="$CGS $CGB"
sleep 0.5
[ "$(events_frozen "$CGB")" = 0 ] || fail "(4) frozen on a Saturday"

# (5) Monday 12:00 (clock step): frozen; the daemon crashes (SIGKILL) and
# the job stays frozen; the next daemon thaws it at start
clock "2026-12-07 12:00:00"
kill -USR1 "$DPID"
wait_for "frozen on Monday" '[ "$(events_frozen "$CGB")" = 1 ]'
kill_daemon KILL
sleep 0.3
[ "$(events_frozen "$CGB")" = 1 ] || fail "(5) thawed without a daemon"
clock "2026-12-07 19:00:00"
start_daemon --policy "$T/p.json" --fake-clock "$T/clock"
wait_for "thawed by the next daemon" '[ "$(events_frozen "$CGB")" = 0 ]'
counting b || fail "(5) the job does not count after the restart"
echo "ok: freeze at the window, thaw at its end, at exit and after a crash"
