#!/bin/bash
# shim_hostile — hosts that do what hosts may do, each a regression test
# named after the bug it covers:
# - "the shim used and closed fd numbers the host had closed and reused":
#   the host closes every fd and puts its own file / socket on the shim's
#   number; the shim leaves it alone and reopens its own (shim_fdreuse).
# - "the shim's stderr line killed the host with SIGPIPE": fd 2 is a pipe
#   nobody reads (shim_brokenpipe); the host lives, nothing left pending.
# - "a spool append killed the host with SIGXFSZ": RLIMIT_FSIZE 0; the
#   record is not spooled (one line), the host lives.
# - "the spool grew without bound": the spool directory already holds
#   64 MiB; the record is dropped with one line (rate-limited).
# - "dlclose leaked the connection": shim_dlopen.
# - "exported calls clobbered errno": shim_client errno.
. "$(dirname "$0")/shim_common.inc"
need "$SHIM" "$B/tollgated" "$P/shim_client" "$P/shim_fdreuse" \
    "$P/shim_brokenpipe" "$P/shim_dlopen" "$P/shim_flush"
need_sqlite
shim_setup
expect() { # name got want
	[ "$2" = "$3" ] || fail "$1: got [$2] want [$3]"
}
records() {
	sqlite3 "$T/state/ledger.db" "SELECT count(*) FROM records WHERE endpoint = '$1'"
}

# --- no daemon ---
out=$(LD_PRELOAD=$SHIM "$P/shim_fdreuse" file "$T/host.txt" 2>&1)
expect "fd reuse, spool file" "$out" "usage 1 1 host fd intact 1"
expect "host file" "$(cat "$T/host.txt")" "HOST DATA"
# The host's close released the first file's lock: two files, one each.
expect "spool files" "$(ls "$T/spool" | grep -c '\.spool$')" 2

out=$("$P/shim_brokenpipe" env TOLLGATE_MODE=bogus LD_PRELOAD="$SHIM" \
    "$P/shim_client" usage pending; echo "exit $?")
expect "SIGPIPE on stderr" "$out" "usage 1
pending SIGPIPE=0 SIGXFSZ=0
exit 0"

out=$( (ulimit -f 0; LD_PRELOAD=$SHIM "$P/shim_client" usage pending 2>&1;
    echo "exit $?") )
expect "SIGXFSZ on the spool" "$out" "tollgate: usage record not spooled: write failed: File too large (1 lost so far)
usage -1
pending SIGPIPE=0 SIGXFSZ=0
exit 0"

truncate -s 64M "$T/spool/filler"
out=$(LD_PRELOAD=$SHIM "$P/shim_client" usage usage 2>&1)
expect "spool full" "$out" "tollgate: usage record not spooled: the spool directory holds 64 MiB (1 lost so far)
usage -1
usage -1"
rm "$T/spool/filler"
out=$(LD_PRELOAD=$SHIM "$P/shim_client" usage errno 2>&1)
expect "errno, no daemon" "$out" "usage 1
errno admit=4242 usage=4242 flush=4242"

# --- daemon ---
start_daemon
expect "flush" "$(LD_PRELOAD=$SHIM "$P/shim_flush")" "flushed 5"
expect "fdreuse records (spooled)" "$(records fdreuse)" 2

out=$(LD_PRELOAD=$SHIM "$P/shim_fdreuse" socket "$T/host.txt" 2>&1)
expect "fd reuse, daemon socket" "$out" "usage 0 0 host fd intact 1"
expect "fdreuse records" "$(records fdreuse)" 4

expect "dlopen/dlclose" "$("$P/shim_dlopen" "$SHIM" 2>&1)" \
    "flush 0 0 0 sockets 1 still loaded 1"
out=$(LD_PRELOAD=$SHIM "$P/shim_client" errno 2>&1)
expect "errno, daemon" "$out" "errno admit=4242 usage=4242 flush=4242"

[ "$fails" = 0 ] || exit 1
echo "ok"
