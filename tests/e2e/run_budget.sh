#!/bin/bash
# run_budget.sh — the CI/CD budget gate end to end: `tollctl run` with the
# REAL private tollgated and the REAL shim (build/libtollgate.so), usage
# reported by tests/progs/report_usage through the shim's client API.
# Exact numbers: gpt-4o costs $2.50/M input and $10/M output tokens in
# policies/prices.json, so a 1000-in/200-out request costs
# 1000 × 2,500,000 + 200 × 10,000,000 pico-USD = 4,500,000 nano-USD, and
# admission reserves exactly that (max output = 200).
set -u
: "${B:?set B to the build dir}" "${SRC:?set SRC to the repo root}"

. "$(dirname "$0")/cli_common.inc"
isolate
CTL=$B/tollctl
RU=$B/tests/progs/report_usage

# field FILE PATH.TO.KEY — prints a value of a JSON file
field() {
	python3 -c 'import json,sys
v=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): v=v[int(k)] if k.isdigit() else v[k]
print(json.dumps(v))' "$1" "$2"
}
expect() { # FILE KEY WANT
	local got
	got=$(field "$1" "$2") || fail "$1 has no $2"
	[ "$got" = "$3" ] || fail "$2: want $3, got $got"
}

# The price, read from the table and computed with integer math.
per_request=$(python3 -c 'import json,sys
from decimal import Decimal
m=json.load(open(sys.argv[1]),parse_float=Decimal)["models"]["gpt-4o"]
pin=int(m["input_usd_per_mtok"]*1000000); pout=int(m["output_usd_per_mtok"]*1000000)
pico=1000*pin+200*pout
print((pico+500)//1000)' "$SRC/policies/prices.json")
[ "$per_request" = 4500000 ] || fail "gpt-4o price changed: $per_request nano-USD per request"

# (1) three requests, no budget: exit 0, exact totals
$CTL run --tags team=search --summary-json "$T/s1.json" -- \
	"$RU" openai gpt-4o 1000 200 3 >"$T/out1" 2>"$T/err1"
rc=$?
[ $rc = 0 ] || { cat "$T/err1"; fail "(1) exit $rc, want 0"; }
grep -qx 'allowed=3 refused=0' "$T/out1" || fail "(1) $(cat "$T/out1")"
expect "$T/s1.json" totals.requests 3
expect "$T/s1.json" totals.input_tokens 3000
expect "$T/s1.json" totals.output_tokens 600
expect "$T/s1.json" totals.cost_nano_usd $((3 * per_request))
expect "$T/s1.json" totals.cost_nano_usd 13500000
expect "$T/s1.json" rows.0.model '"gpt-4o"'
expect "$T/s1.json" run.spent_nano_usd 13500000
expect "$T/s1.json" run.refused_requests 0
expect "$T/s1.json" run.budget_exceeded false
expect "$T/s1.json" run.budget_nano_usd null
grep -q '^tollctl run: 3 requests, tokens in 3000 / out 600, cost \$0.013500, budget none, refused 0$' \
	"$T/err1" || fail "(1) summary: $(cat "$T/err1")"
token=$(field "$T/s1.json" run.token | tr -d '"')
[[ $token =~ ^[0-9a-f]{32}$ ]] || fail "(1) run token '$token'"
# the private daemon is gone, the run's cgroup removed
pgrep -f "tollgated .*$T" >/dev/null && fail "(1) private tollgated still running"
cg=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$cg" ] && [ -e "$cg/tollgate-run-$token" ] && fail "(1) cgroup left behind"

# (2) budget $0.01: 2 requests fit (9,000,000 ≤ 10,000,000), 3 refused
$CTL run --tags team=gate --budget 0.01 --summary-json "$T/s2.json" -- \
	"$RU" openai gpt-4o 1000 200 5 >"$T/out2" 2>"$T/err2"
rc=$?
[ $rc = 86 ] || { cat "$T/err2"; fail "(2) exit $rc, want 86"; }
grep -qx 'allowed=2 refused=3' "$T/out2" || fail "(2) $(cat "$T/out2")"
expect "$T/s2.json" run.refused_requests 3
expect "$T/s2.json" run.spent_nano_usd $((2 * per_request))
expect "$T/s2.json" run.budget_nano_usd 10000000
expect "$T/s2.json" run.budget_exceeded true
expect "$T/s2.json" totals.input_tokens 2000
expect "$T/s2.json" totals.output_tokens 400
expect "$T/s2.json" totals.refused_requests 3
grep -q '^tollctl run: budget exceeded: exit status 86 (the command.s was 0)$' \
	"$T/err2" || fail "(2) summary: $(cat "$T/err2")"

# (2b) --budget-exit-code chooses the status
$CTL run --tags team=gate --budget 0.01 --budget-exit-code 9 -- \
	"$RU" openai gpt-4o 1000 200 5 >/dev/null 2>&1
rc=$?
[ $rc = 9 ] || fail "(2b) exit $rc, want 9"

# (2c) spend reaching the budget exactly, nothing refused: budget status
$CTL run --tags team=gate --budget 0.009 --summary-json "$T/s2c.json" -- \
	"$RU" openai gpt-4o 1000 200 2 >"$T/out2c" 2>/dev/null
rc=$?
[ $rc = 86 ] || fail "(2c) exit $rc, want 86"
grep -qx 'allowed=2 refused=0' "$T/out2c" || fail "(2c) $(cat "$T/out2c")"
expect "$T/s2c.json" run.spent_nano_usd 9000000
expect "$T/s2c.json" run.refused_requests 0

# (2d) within the budget: CMD's status
$CTL run --tags team=gate --budget 1 -- "$RU" openai gpt-4o 1000 200 1 \
	>/dev/null 2>&1
rc=$?
[ $rc = 0 ] || fail "(2d) exit $rc, want 0"

# (3) CMD's own status; the budget status wins over it
$CTL run -- sh -c 'exit 7' 2>/dev/null
rc=$?
[ $rc = 7 ] || fail "(3) exit $rc, want 7"
$CTL run --tags team=gate --budget 0.001 -- \
	sh -c "'$RU' openai gpt-4o 1000 200 1; exit 7" >/dev/null 2>&1
rc=$?
[ $rc = 86 ] || fail "(3b) exit $rc, want 86"
$CTL run -- /nonexistent/cmd 2>"$T/err3"
rc=$?
[ $rc = 127 ] || fail "(3c) exit $rc, want 127"
grep -q '^tollctl run: /nonexistent/cmd: No such file or directory$' "$T/err3" ||
	fail "(3c) $(cat "$T/err3")"

# (4) SIGTERM to tollctl is forwarded to CMD: 128 + 15
$CTL run -- sleep 60 2>"$T/err4" &
P=$!
for _ in $(seq 200); do pgrep -P "$P" -x sleep >/dev/null && break; sleep 0.05; done
pgrep -P "$P" -x sleep >/dev/null || fail "(4) sleep did not start"
kill -TERM "$P"
wait "$P"
rc=$?
[ $rc = 143 ] || fail "(4) exit $rc, want 143"
grep -q '^tollctl run: 0 requests' "$T/err4" || fail "(4) no summary: $(cat "$T/err4")"

# (5) the records are in the user's ledger: report through a daemon on it
start_tollgated
$CTL --socket "$T/d.sock" report --format json --since 1h --by tag:team \
	>"$T/r.json" || fail "(5) report failed"
python3 - "$T/r.json" <<'PY' || fail "(5) report: $(cat "$T/r.json")"
import json, sys
d = json.load(open(sys.argv[1]))
rows = {r["team"]: r for r in d["rows"]}
s = rows["search"]
assert (s["requests"], s["input_tokens"], s["output_tokens"],
        s["cost_nano_usd"]) == (3, 3000, 600, 13500000), s
g = rows["gate"]
# requests 5 (2) + 5 (2b) + 2 (2c) + 1 (2d) + 1 (3b); refused 3+3+0+0+1;
# allowed 2+2+2+1+0 = 7 of 1000 input tokens
assert (g["requests"], g["refused_requests"], g["input_tokens"],
        g["cost_nano_usd"]) == (14, 7, 7000, 7 * 4500000), g
PY

# (5b) with a daemon reachable, run uses it (no private one)
TOLLGATE_SOCKET=$T/d.sock $CTL run --tags team=sys -- \
	"$RU" openai gpt-4o 1000 200 1 >/dev/null 2>"$T/err5"
rc=$?
[ $rc = 0 ] || fail "(5b) exit $rc"
grep -q 'private' "$T/err5" && fail "(5b) started a private daemon"
$CTL --socket "$T/d.sock" report --format csv --since 1h --by tag:team |
	grep -qx 'sys,1,1000,200,0,0,0,0,0,0,0,0,0,0.004500000,0.003750000,4500000' ||
	fail "(5b) report csv"

# (6) no daemon: exit 2 and the exact message
TOLLGATE_SOCKET=$T/none.sock $CTL status 2>"$T/err6"
rc=$?
[ $rc = 2 ] || fail "(6) exit $rc, want 2"
[ "$(cat "$T/err6")" = "tollctl: no daemon on $T/none.sock (start tollgated, or set TOLLGATE_SOCKET)" ] ||
	fail "(6) message: $(cat "$T/err6")"
echo "run_budget: ok"
