#!/bin/bash
# durability — usage under load survives kill -9 of the daemon.
# usage_flood reports 4,000 records at ~1,000/s through the shim
# (endpoint "flood/N"), logging each N the daemon acknowledged. Mid-run the
# daemon is killed with SIGKILL; while it is down, the ledger file must
# already hold every N acknowledged so far (an ACK is sent only after
# COMMIT). The daemon is restarted; the shim reconnects, replays its spool,
# and flushes at the end. Then: all 4,000 N present, none twice.
set -u
: "${B:?B must be the build dir}"
SHIM=$B/libtollgate.so FLOOD=$B/tests/progs/usage_flood
for f in "$SHIM" "$B/tollgated" "$FLOOD" "$B/tests/progs/shim_flush"; do
	[ -e "$f" ] || { echo "skip: $f is not built"; exit 77; }
done
command -v sqlite3 >/dev/null || { echo "skip: no sqlite3 CLI"; exit 77; }

COUNT=4000 RATE=1000
T=$(mktemp -d) D= F=
cleanup() {
	for p in $D $F; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
export TOLLGATE_SOCKET=$T/sock TOLLGATE_SPOOL_DIR=$T/spool
unset TOLLGATE_MODE TOLLGATE_TAGS TOLLGATE_RUN TOLLGATE_FAIL TOLLGATE_TIMEOUT_MS
DB=$T/state/ledger.db
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

start_daemon() {
	rm -f "$T/sock"
	"$B/tollgated" --socket "$T/sock" --state-dir "$T/state" --http off \
	    2>>"$T/daemon.log" &
	D=$!
	for _ in $(seq 100); do [ -S "$T/sock" ] && return; sleep 0.1; done
	echo "tollgated did not start:"; cat "$T/daemon.log"; exit 1
}
# The N of every flood record in the ledger, one per line.
ledger_ns() {
	sqlite3 "$DB" "SELECT substr(endpoint, 7) FROM records
	    WHERE endpoint LIKE 'flood/%'"
}
# How many lines of file A are not in file B (comm needs both in its own
# collation: bytewise here, never numeric).
not_in() {
	LC_ALL=C comm -23 <(LC_ALL=C sort -u "$1") <(LC_ALL=C sort -u "$2") | wc -l
}

start_daemon
LD_PRELOAD=$SHIM "$FLOOD" $COUNT $RATE "$T/acked" >"$T/flood.out" 2>"$T/flood.err" &
F=$!
sleep 1.5
kill -0 "$F" 2>/dev/null || fail "usage_flood ended before the kill"
kill -9 "$D"; wait "$D" 2>/dev/null; D=
sleep 0.3 # no ACK can arrive now; let the flood log the last one

# Daemon down: every N acknowledged so far must be committed already.
cp "$T/acked" "$T/acked.before"
ledger_ns >"$T/ledger.before"
missing=$(not_in "$T/acked.before" "$T/ledger.before")
[ "$missing" = 0 ] || fail "$missing acknowledged records not in the ledger after kill -9"
[ -s "$T/acked.before" ] || fail "nothing was acknowledged before the kill"

start_daemon
wait "$F"; rc=$?; F=
[ "$rc" = 0 ] || fail "usage_flood exited $rc: $(cat "$T/flood.err")"
LD_PRELOAD=$SHIM "$B/tests/progs/shim_flush" >/dev/null || fail "flush"

cp "$T/acked" "$T/acked.all"
ledger_ns >"$T/ledger.all"
seq 0 $((COUNT - 1)) >"$T/sent"
missing=$(not_in "$T/acked.all" "$T/ledger.all")
[ "$missing" = 0 ] || fail "$missing acknowledged records missing"
missing=$(not_in "$T/sent" "$T/ledger.all")
[ "$missing" = 0 ] || fail "$missing sent records missing after replay"
read -r total distinct < <(sqlite3 -separator ' ' "$DB" \
    "SELECT count(*), count(DISTINCT endpoint) FROM records")
[ "$total" = $COUNT ] || fail "ledger has $total records, want $COUNT"
[ "$distinct" = $COUNT ] || fail "$((total - distinct)) duplicated records"
replayed=$(sqlite3 "$DB" "SELECT count(*) FROM records WHERE replayed != 0")

[ "$fails" = 0 ] || { cat "$T/flood.out" "$T/daemon.log"; exit 1; }
echo "ok: $COUNT sent, $(wc -l <"$T/acked.before") acked before kill -9," \
    "$replayed replayed from the spool, $total in the ledger, no duplicate"
echo "flood: $(cat "$T/flood.out")"
