#!/bin/bash
# tollctl-run scopes through the protocol: RUN_BEGIN with a budget, a
# registration naming the run (its tags default to the run's), admissions
# against the budget with exact deny reasons, RUN_END's summary; who may
# end a run and see which rows.
. "$(dirname "$0")/daemon_common.inc"
command -v sqlite3 >/dev/null || { echo "sqlite3 CLI not installed"; exit 77; }
start_daemon --http off

out=$(raw <<'CMDS'
run-begin r1 5000000 team=ci
run-begin r1 5000000 team=ci
run-end nope
register - r1
admit 1 testco test-model 1000 500
admit 2 testco test-model 1000 500
admit 3 testco test-model 1000 500
record 1 1 testco test-model 1000 250
release 2
admit 4 testco test-model 1000 500
record 2 4 testco test-model 2000 500
CMDS
)
n=0
while IFS= read -r want; do
	n=$((n + 1))
	expect_eq "$(sed -n "${n}p" <<<"$out")" "$want" "reply line $n"
done <<'WANT'
ok
fail code=5 seq=2 text=run already exists
fail code=9 seq=3 text=no such run
registered daemon_version=3 page_version=2 id=1 fds=2
verdict-page version=2 rw-map=EPERM ro-map=ok
counters-page version=2 rw-map=ok shrink=EPERM
verdict admit_id=1 decision=allow reserved=2000000 rule= reason=
verdict admit_id=2 decision=allow reserved=2000000 rule= reason=
verdict admit_id=3 decision=deny reserved=0 rule=run-budget reason=run budget $0.005 would be exceeded: spent $0.00, reserved $0.004, this request $0.002
ack id=1 inserted=1
ok
verdict admit_id=4 decision=allow reserved=2000000 rule= reason=
ack id=2 inserted=1
WANT

st=$(raw <<<status)
expect_eq "$(jget "$st" '[(r["token"], r["spent_nano_usd"], r["reserved_nano_usd"], r["refused_requests"], r["processes"]) for r in d["runs"]]')" \
    "[('r1', 4500000, 0, 1, 0)]" "the run in status"

if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$RAW" "$SOCK"; }
	chmod 755 "$T"
	out=$(as_nobody <<<"run-end r1")
	expect_eq "$out" "fail code=7 seq=1 text=run belongs to another user" \
	    "RUN_END by another user"
	out=$(as_nobody <<<"report model -")
	expect_eq "$(jget "$out" '(d["totals"]["requests"], len(d["rows"]))')" \
	    "(0, 0)" "a non-root user's report of root's rows"
fi

sum=$(raw <<<"run-end r1")
expect_eq "$(jget "$sum" 'd["run"]')" \
    "{'token': 'r1', 'budget_nano_usd': 5000000, 'spent_nano_usd': 4500000, 'refused_requests': 1, 'budget_exceeded': True}" \
    "run summary"
expect_eq "$(jget "$sum" '[(r["model"], r["requests"], r["refused_requests"], r["input_tokens"], r["output_tokens"], r["cost_nano_usd"]) for r in d["rows"]]')" \
    "[('test-model', 3, 1, 3000, 750, 4500000)]" "run summary rows"
expect_eq "$(sql "SELECT DISTINCT tags || '|' || run FROM records")" "team=ci|r1" \
    "records carry the run's tags"
out=$(raw <<<"run-end r1")
expect_eq "$out" "fail code=9 seq=1 text=no such run" "a run ends once"
rep=$(raw <<<"report tag:team -")
expect_eq "$(jget "$rep" '[(r["team"], r["cost_nano_usd"]) for r in d["rows"]]')" \
    "[('ci', 4500000)]" "report by tag"
stop_daemon
echo "ok"
