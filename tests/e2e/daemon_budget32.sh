#!/bin/bash
# Budgets are reservation-based: 32 clients race on one run budget, each
# on its own connection; some actual usages exceed their reservation. From
# the ledger (sqlite3), exactly:
#     spend <= budget + sum over requests of max(0, actual - reserved)
# and some requests were refused (each a refused record), and the RUN_END
# summary agrees with the ledger.
. "$(dirname "$0")/daemon_common.inc"
command -v sqlite3 >/dev/null || { echo "sqlite3 CLI not installed"; exit 77; }
start_daemon --http off

RUN=budget32-run
BUDGET=100000000   # $0.10; each reservation is 2,000,000 nano ($0.002)
out=$(raw <<<"run-begin $RUN $BUDGET team=ci")
expect_eq "$out" "ok" "RUN_BEGIN"

res=$("$B/tests/progs/budget_clients" "$SOCK" "$RUN" 32 20 42 testco \
    test-model 1000 500) || fail "budget_clients: $res"
echo "clients: $res"
allowed=$(sed 's/.*allowed=\([0-9]*\).*/\1/' <<<"$res")
denied=$(sed 's/.*denied=\([0-9]*\).*/\1/' <<<"$res")
R=$(sed 's/.*reserved=\([0-9]*\).*/\1/' <<<"$res")
acked=$(sed 's/.*acked=\([0-9]*\).*/\1/' <<<"$res")
expect_eq "$R" 2000000 "reservation of est 1000 / max 500"
expect_eq "$((allowed + denied))" 640 "requests made"
expect_eq "$acked" "$allowed" "records acknowledged"
[ "$denied" -gt 0 ] || fail "no request was refused: the budget never bound"

summary=$(raw <<<"run-end $RUN")

spend=$(sql "SELECT total(cost_nano_usd) FROM records WHERE run='$RUN'" | cut -d. -f1)
excess=$(sql "SELECT total(max(0, cost_nano_usd - $R)) FROM records
    WHERE run='$RUN' AND refused=0" | cut -d. -f1)
over=$(sql "SELECT count(*) FROM records WHERE run='$RUN' AND refused=0
    AND cost_nano_usd > $R")
expect_eq "$(sql "SELECT count(*) FROM records WHERE run='$RUN' AND refused=0")" \
    "$allowed" "settled records"
expect_eq "$(sql "SELECT count(*) FROM records WHERE run='$RUN' AND refused=1
    AND decision='deny' AND rule='run-budget' AND cost_nano_usd=0
    AND input_tokens=0 AND output_tokens=0")" "$denied" "refused records"
[ "$over" -gt 0 ] || fail "no request cost more than its reservation"
echo "spend=$spend budget=$BUDGET excess=$excess (over-reservation: $over)"
[ "$spend" -le $((BUDGET + excess)) ] ||
	fail "spend $spend > budget $BUDGET + excess $excess"

expect_eq "$(jget "$summary" 'd["run"]["spent_nano_usd"]')" "$spend" \
    "summary spent_nano_usd"
expect_eq "$(jget "$summary" 'd["run"]["refused_requests"]')" "$denied" \
    "summary refused_requests"
expect_eq "$(jget "$summary" 'd["run"]["budget_exceeded"]')" True \
    "summary budget_exceeded"
expect_eq "$(jget "$summary" 'd["totals"]["cost_nano_usd"]')" "$spend" \
    "summary totals cost"
expect_eq "$(jget "$summary" 'd["totals"]["refused_requests"]')" "$denied" \
    "summary totals refused_requests"
stop_daemon
echo "ok"
