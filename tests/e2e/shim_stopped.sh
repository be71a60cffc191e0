#!/bin/bash
# shim_stopped — the shim against a stopped daemon (SIGSTOP), with a short
# deadline (TOLLGATE_TIMEOUT_MS=10); tests/progs/shim_stopped.c.
# Regressions:
# - "spool replay lost records": a record whose resend failed (the stopped
#   daemon's socket full) was counted as delivered, and the ledger missed
#   it. Now all N+1 records are in the ledger, each once.
# - "tollgate_flush_spool had no overall deadline, and fork in another
#   thread waited behind it": now a flush against a stopped daemon gives
#   up (-1) at its first timeout, and a fork in another thread returns
#   before the flush does (fork waits for our lock one call deadline at
#   most).
set -u
: "${B:?B must be the build dir}"
SHIM=$B/libtollgate.so P=$B/tests/progs N=200
for f in "$SHIM" "$B/tollgated" "$P/shim_stopped"; do
	[ -e "$f" ] || { echo "skip: $f is not built"; exit 77; }
done
command -v sqlite3 >/dev/null || { echo "skip: no sqlite3 CLI"; exit 77; }
T=$(mktemp -d) D=
cleanup() {
	[ -n "$D" ] && { kill -CONT "$D"; kill "$D"; wait "$D"; } 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
export TOLLGATE_SOCKET=$T/sock TOLLGATE_SPOOL_DIR=$T/spool TOLLGATE_TIMEOUT_MS=10
unset TOLLGATE_MODE TOLLGATE_TAGS TOLLGATE_RUN TOLLGATE_FAIL
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

"$B/tollgated" --socket "$T/sock" --state-dir "$T/state" --http off \
    2>"$T/daemon.log" & D=$!
for _ in $(seq 100); do [ -S "$T/sock" ] && break; sleep 0.1; done
[ -S "$T/sock" ] || { echo "tollgated did not start:"; cat "$T/daemon.log"; exit 1; }

out=$(LD_PRELOAD=$SHIM timeout 120 "$P/shim_stopped" "$D" $N 2>"$T/err")
want="stopped: acked 0 spooled $N lost 0
flush while stopped -1; fork returned first 1"
[ "$(printf '%s\n' "$out" | head -2)" = "$want" ] ||
    fail "shim_stopped printed [$out], want [$want] first"
[ -s "$T/err" ] && fail "stderr: $(cat "$T/err")"
read -r total distinct < <(sqlite3 -separator ' ' "$T/state/ledger.db" \
    "SELECT count(*), count(DISTINCT endpoint) FROM records
     WHERE endpoint LIKE 'stopped/%'")
[ "$total" = $((N + 1)) ] || fail "ledger has $total records, want $((N + 1))"
[ "$distinct" = "$total" ] || fail "$((total - distinct)) duplicates"
left=$(ls "$T/spool")
[ -z "$left" ] || fail "spool not empty: $left"

[ "$fails" = 0 ] || { cat "$T/daemon.log"; exit 1; }
echo "ok: $N spooled while stopped, $total in the ledger, no duplicate"
