#!/bin/bash
# run_policy.sh — `tollctl run --policy FILE` against the SYSTEM daemon:
# the run's own policy is evaluated beside the daemon's (it can only
# tighten), counts only the run's own records, and names its rules
# "run:NAME". Exact money: gpt-4o 1000 in / 200 out = 4,500,000 nano-USD
# (policies/prices.json); a $0.009 day cap lets exactly two through.
. "$(dirname "$0")/enforce_common.inc"
CTL=$B/tollctl RU=$B/tests/progs/report_usage AO=$B/tests/progs/admit_once
sql() { sqlite3 "$T/st/ledger.db" "$1"; }

cat >"$T/host.json" <<'JSON'
{"schema_version": 1, "timezone": "UTC",
 "rules": [{"name": "host-day", "kind": "budget", "period": "day",
            "limit_usd": "100"}]}
JSON
cat >"$T/run.json" <<'JSON'
{"schema_version": 1, "timezone": "UTC",
 "rules": [{"name": "day-cap", "kind": "budget", "period": "day",
            "limit_usd": "0.009"}]}
JSON
start_daemon --policy "$T/host.json"

# (1) usage outside the run first: the run's own policy does not see it
v=$(LD_PRELOAD=$B/libtollgate.so "$AO" openai gpt-4o 1000 200 | head -1)
[ "$v" = "decision=allow delay_ms=0 rule=- from_daemon=1 reason=" ] || fail "(1) outside: '$v'"

# (2) the run: two fit its own cap, three are refused by it
rc=0
"$CTL" run --tags team=gate --policy "$T/run.json" --summary-json "$T/s.json" -- \
	"$RU" openai gpt-4o 1000 200 5 >"$T/out" 2>"$T/err" || rc=$?
[ "$rc" = 86 ] || fail "(2) exit $rc, want 86: $(cat "$T/err")"
[ "$(cat "$T/out")" = "allowed=2 refused=3" ] || fail "(2) job: $(cat "$T/out")"
grep -q "tollctl run: warning" "$T/err" && fail "(2) warned: $(cat "$T/err")"
[ "$(sql "SELECT count(*), min(rule) FROM records WHERE decision = 'deny'")" = "3|run:day-cap" ] ||
	fail "(2) refused: $(sql 'SELECT decision, rule, run FROM records')"
[ "$(sql "SELECT count(*), sum(cost_nano_usd) FROM records WHERE decision != 'deny'")" = "3|13500000" ] ||
	fail "(2) allowed (1 outside + 2 in the run): $(sql 'SELECT decision, cost_nano_usd FROM records')"
grep -q "on_run_policy: run [0-9a-f]*: its own policy $T/run.json, 1 rules" "$T/daemon.log" ||
	fail "(2) no log line"

# (3) outside the run, the host's policy alone still decides
v=$(LD_PRELOAD=$B/libtollgate.so "$AO" openai gpt-4o 1000 200 | head -1)
[ "$v" = "decision=allow delay_ms=0 rule=- from_daemon=1 reason=" ] || fail "(3) outside: '$v'"

# (4) a run policy that does not parse: tollctl says why, CMD never runs
echo '{"schema_version": 1, "rules": [{"name": "x"}]}' >"$T/bad.json"
rc=0
"$CTL" run --policy "$T/bad.json" -- touch "$T/ran" 2>"$T/err4" || rc=$?
[ "$rc" = 1 ] || fail "(4) exit $rc, want 1: $(cat "$T/err4")"
[ -e "$T/ran" ] && fail "(4) CMD ran"
grep -q "$T/bad.json" "$T/err4" || fail "(4) error does not name the file: $(cat "$T/err4")"
echo "ok: a run's own policy beside the system daemon's"
