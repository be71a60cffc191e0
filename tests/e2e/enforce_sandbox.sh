#!/bin/bash
# enforce_sandbox.sh — a sandbox budget with action shutdown: once the
# spend reaches the limit, further requests are refused and the sandbox's
# `tollctl run` job gets SIGTERM, then SIGKILL after the grace (the job
# here ignores SIGTERM, so only the SIGKILL through cgroup.kill ends it).
# Exact money: gpt-4o is $2.50/M input, $10/M output (policies/prices.json):
# 1000 in / 200 out = 4,500,000 nano-USD; two requests reach the $0.009
# limit exactly. Needs root and cgroup v2 (CI has both).
. "$(dirname "$0")/enforce_common.inc"
need_cgroup
CTL=$B/tollctl RU=$B/tests/progs/report_usage

cat >"$T/p.json" <<'JSON'
{"schema_version": 1, "timezone": "UTC",
 "rules": [{"name": "demo-sandbox", "kind": "sandbox",
            "match": {"sandbox": "demo"}, "limit_usd": "0.009",
            "action": "shutdown", "grace_seconds": 1}]}
JSON
start_daemon --policy "$T/p.json"
sql() { sqlite3 "$T/st/ledger.db" "$1"; }

# (1) five requests; the job ignores SIGTERM and then idles
"$CTL" run --tags sandbox=demo -- sh -c 'echo $$ >"$3"; trap "" TERM
	"$1" openai gpt-4o 1000 200 5
	echo done >"$2"; while :; do sleep 0.05; done' sh "$RU" "$T/done" "$T/j1.pid" \
	>"$T/out1" 2>"$T/err1" &
J=$!
JOBS="$JOBS $J"
CGS="$CGS $(job_cgroup "$T/j1.pid")"
wait_for "the job to end" '! kill -0 $J 2>/dev/null'
wait $J
rc=$?
[ "$rc" = 86 ] || fail "(1) tollctl run exit $rc, want 86; $(cat "$T/err1")"
[ "$(cat "$T/out1")" = "allowed=2 refused=3" ] || fail "(1) job printed '$(cat "$T/out1")'"
[ -s "$T/done" ] || fail "(1) the job was killed before it finished its requests"
grep -q "(the command's was 137)" "$T/err1" || fail "(1) not killed by SIGKILL: $(cat "$T/err1")"
grep -q "^tollgated: jobs_terminate: SIGTERM to $CGMOUNT/.*tollgate-run-[0-9a-f]*, SIGKILL in 1s$" \
	"$T/daemon.log" || fail "(1) no SIGTERM with a 1 s grace logged"
grep -q "^tollgated: jobs_tick: $CGMOUNT/.*tollgate-run-[0-9a-f]* outlived its grace period: killed$" \
	"$T/daemon.log" || fail "(1) no SIGKILL after the grace logged"
[ "$(sql "SELECT count(*), sum(cost_nano_usd) FROM records WHERE decision != 'deny'")" = "2|9000000" ] ||
	fail "(1) allowed records: $(sql "SELECT count(*), sum(cost_nano_usd) FROM records")"
[ "$(sql "SELECT count(*), min(rule), max(rule) FROM records WHERE decision = 'deny'")" = "3|demo-sandbox|demo-sandbox" ] ||
	fail "(1) refused records: $(sql "SELECT decision, rule FROM records")"

# (2) the sandbox stays spent (period total): a new job of it is shut
# down as soon as its run begins, without a request of its own
"$CTL" run --tags sandbox=demo -- sh -c 'echo $$ >"$1"; trap "" TERM
	while :; do sleep 0.05; done' sh "$T/j2.pid" >/dev/null 2>"$T/err2" &
J=$!
JOBS="$JOBS $J"
wait_for "the second job to end" '! kill -0 $J 2>/dev/null'
wait $J
rc=$?
[ "$rc" = 137 ] || fail "(2) tollctl run exit $rc, want 137: $(cat "$T/err2")"

# (2b) a process of the sandbox outside any run: SIGTERM through its pidfd
# when it registers (before its first verdict comes back)
rc=0
TOLLGATE_TAGS=sandbox=demo LD_PRELOAD=$B/libtollgate.so \
	"$B/tests/progs/admit_once" openai gpt-4o 10 10 >"$T/v2" || rc=$?
[ "$rc" = 143 ] || fail "(2b) exit $rc, want 143 (SIGTERM): $(cat "$T/v2")"

# (2c) … and one that ignores SIGTERM gets SIGKILL after the grace
# (regression: a shutdown begun at registration never re-armed the timer)
# (a long-lived process: it reads commands from a FIFO we hold open)
mkfifo "$T/in"
TOLLGATE_TAGS=sandbox=demo LD_PRELOAD=$B/libtollgate.so sh -c 'trap "" TERM
	exec "$1" openai gpt-4o 10 10' sh "$B/tests/progs/shim_admit_loop" \
	<"$T/in" >"$T/v2c" &
P=$!
JOBS="$JOBS $P"
exec 9>"$T/in"
echo admit >&9
wait_for "the SIGKILL of (2c)" '! kill -0 $P 2>/dev/null'
rc=0
wait $P || rc=$?
exec 9>&-
[ "$rc" = 137 ] || fail "(2c) exit $rc, want 137 (SIGKILL): $(cat "$T/v2c")"
grep -q "^admit decision=2 rule=demo-sandbox from_daemon=1 " "$T/v2c" ||
	fail "(2c) verdict: $(cat "$T/v2c")"

# (3) other tags are not in the sandbox
TOLLGATE_TAGS=sandbox=other LD_PRELOAD=$B/libtollgate.so \
	"$B/tests/progs/admit_once" openai gpt-4o 1000 200 >"$T/v3"
grep -q '^decision=allow delay_ms=0 rule=- from_daemon=1 ' "$T/v3" || fail "(3) $(cat "$T/v3")"
echo "ok: sandbox spent → refused, SIGTERM, SIGKILL after the grace"
