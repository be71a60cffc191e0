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
. "$(dirname "$0")/shim_common.inc"
N=200
need "$SHIM" "$B/tollgated" "$P/shim_stopped"
need_sqlite
shim_setup
export TOLLGATE_TIMEOUT_MS=10

start_daemon

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
