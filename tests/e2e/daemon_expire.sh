#!/bin/bash
# A reservation whose process dies becomes an estimated record: tokens =
# the reserved estimates (est input, the max output used — the model's
# when the request set none), decision "allow", rule
# "reservation-expired". The dying process's socket is still held by a
# forked child, so only the pidfd can tell the daemon.
. "$(dirname "$0")/daemon_common.inc"
command -v sqlite3 >/dev/null || { echo "sqlite3 CLI not installed"; exit 77; }
start_daemon --http off

"$RAW" "$SOCK" >"$T/out" <<'CMDS' &
register team=x,purpose=y -
admit 1 testco test-model 1000 500
admit 2 testco test-model 1000 0
admit 3 testco unknown-model 70 0
fork-hold
hold
CMDS
P=$!
KIDS=$P
for _ in $(seq 200); do grep -q holding "$T/out" && break; sleep 0.025; done
grep -q holding "$T/out" || fail "client did not start: $(cat "$T/out")"
CHILD=$(sed -n 's/^child //p' "$T/out")
KIDS="$P $CHILD"
expect_eq "$(grep -c 'decision=allow' "$T/out")" 3 "admissions allowed"

kill -9 "$P"
wait "$P" 2>/dev/null || true
for _ in $(seq 200); do
	[ "$(sql "SELECT count(*) FROM records")" = 3 ] && break
	sleep 0.025
done
rows=$(sql "SELECT admit_id, pid, tags, decision, rule, estimated, refused,
    input_tokens, output_tokens, cost_nano_usd, unpriced, provider, model
    FROM records ORDER BY admit_id")
expect_eq "$rows" "1|$P|team=x,purpose=y|allow|reservation-expired|1|0|1000|500|2000000|0|testco|test-model
2|$P|team=x,purpose=y|allow|reservation-expired|1|0|1000|1000|3000000|0|testco|test-model
3|$P|team=x,purpose=y|allow|reservation-expired|1|0|70|0|0|1|testco|unknown-model" \
    "estimated records of the killed process"

st=$(raw <<<"status")
expect_eq "$(jget "$st" '[(p["pid"], p["alive"], p["reservations"]) for p in d["processes"]]')" \
    "[($P, False, 0)]" "the dead process in status"
expect_eq "$(jget "$st" 'd["health"]["unpriced_records"]')" 1 "unpriced records"
expect_eq "$(jget "$st" 'd["health"]["records_written"]')" 3 "records written"

# The child closes the connection at last: nothing is expired twice.
kill -9 "$CHILD"
KIDS=
for _ in $(seq 200); do
	st=$(raw <<<"status")
	[ "$(jget "$st" 'len(d["processes"])')" = 0 ] && break
	sleep 0.025
done
expect_eq "$(jget "$st" 'len(d["processes"])')" 0 "processes after the child"
expect_eq "$(sql "SELECT count(*) FROM records")" 3 "records after the child"
stop_daemon
echo "ok"
