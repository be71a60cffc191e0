#!/bin/bash
# shim_client — the shim's client against daemons that misbehave (a fake
# daemon, tests/progs/shim_fakedaemon.c): down (fail open / fail closed),
# slower than the deadline, of another protocol version, sending stale
# replies; and the shim's stderr rules (one line, original stderr only,
# at most 5 lines per 10 s). Expected output is written next to each case.
. "$(dirname "$0")/shim_common.inc"
need "$SHIM" "$P/shim_client" "$P/shim_fakedaemon"
shim_setup

check() { # name expected-stdout expected-stderr env/steps...
	local name=$1 want=$2 wanterr=$3 out err; shift 3
	out=$(env LD_PRELOAD="$SHIM" "$@" 2>"$T/err" | sed 's/^/  /')
	err=$(cat "$T/err")
	[ "$out" = "$(printf '%s' "$want" | sed 's/^/  /')" ] ||
	    fail "$name: stdout
$out
want
$want"
	[ "$err" = "$wanterr" ] || fail "$name: stderr [$err] want [$wanterr]"
}

no_daemon
check "down, fail open" "admit decision=0 rule=fail-open from_daemon=0 id_nonzero=1
usage 1" "" "$P/shim_client" admit usage
check "down, fail closed" "admit decision=2 rule=fail-closed from_daemon=0 id_nonzero=1
usage 1" "" TOLLGATE_FAIL=closed "$P/shim_client" admit usage
check "down, flush" "flush -1" "" "$P/shim_client" flush

fake ok
# First metered call registers and replays the 2 records spooled above.
check "fake ok" "admit decision=0 rule=fake from_daemon=1 id_nonzero=1
usage 0
flush 0" "" "$P/shim_client" admit usage flush
[ "$(grep -c ' client 1$' "$T/fake.out")" = 2 ] || fail "spool not replayed"
[ "$(grep -c ' client 0$' "$T/fake.out")" = 1 ] || fail "live record missing"

fake stale
check "stale replies are discarded" "admit decision=0 rule=fake from_daemon=1 id_nonzero=1
usage 0
usage 0" "" "$P/shim_client" admit usage usage

fake slow
check "daemon slower than the deadline" "admit decision=0 rule=fail-open from_daemon=0 id_nonzero=1
usage 1" "" "$P/shim_client" admit usage

# The shim names its own protocol version (lib/proto.h's, bumped often).
V=$(sed -n 's/^#define TG_PROTO_VERSION \([0-9]*\).*/\1/p' "${SRC:-$(dirname "$0")/../..}/lib/proto.h")
VLINE="tollgate: the daemon speaks another protocol version than this shim (v$V); metering locally and spooling"
fake badversion
check "incompatible daemon: one line" "admit decision=0 rule=fail-open from_daemon=0 id_nonzero=1
usage 1
usage 1" "$VLINE" "$P/shim_client" admit usage usage
check "fd 2 is no longer stderr: silent" "usage 1" "" \
    "$P/shim_client" "stderr=$T/other" usage
[ -s "$T/other" ] && fail "the shim wrote into a file that took fd 2: $(cat "$T/other")"

# A dead process's spool file with a torn last record (crash mid-append):
# the whole record before it is delivered, the torn one skipped with one
# line, the file removed.
no_daemon
rm -rf "$T/spool"
check "spool two" "usage 1
usage 1" "" "$P/shim_client" usage usage
f=$(ls "$T/spool"/*.spool)
truncate -s -100 "$f"
fake ok
: >"$T/fake.out"
out=$(LD_PRELOAD=$SHIM "$P/shim_client" flush 2>"$T/err")
[ "$out" = "flush 1" ] || fail "torn spool: $out"
grep -Eq "^tollgate: spool [0-9]+-[0-9a-f]{16}\.spool: torn record at the end at offset 1072; skipped$" "$T/err" &&
    [ "$(wc -l <"$T/err")" = 1 ] || fail "torn spool: stderr [$(cat "$T/err")]"
[ -e "$f" ] && fail "torn spool file not removed"
[ "$(wc -l <"$T/fake.out")" = 1 ] || fail "torn spool: $(wc -l <"$T/fake.out") records delivered, want 1"

no_daemon
LONG=$T/$(printf 'x%.0s' $(seq 120))
check "bad environment: 6 warnings, rate limit 5" "" \
"tollgate: TOLLGATE_MODE=bogus is not enforce|observe|off; using enforce
tollgate: TOLLGATE_TIMEOUT_MS=0 is not 1..60000; using 50
tollgate: TOLLGATE_FAIL=maybe is not open|closed; using open
tollgate: TOLLGATE_TAGS is not k=v,k=v (at most 255 bytes of [A-Za-z0-9_.:/@+-]); using no tags
tollgate: TOLLGATE_RUN is not a run token; ignoring it" \
    TOLLGATE_MODE=bogus TOLLGATE_TIMEOUT_MS=0 TOLLGATE_FAIL=maybe \
    "TOLLGATE_TAGS=team=a,,x" "TOLLGATE_RUN=a b" "TOLLGATE_SOCKET=$LONG" \
    "$P/shim_client"
check "good environment: silent" "admit decision=2 rule=fail-closed from_daemon=0 id_nonzero=1" "" \
    TOLLGATE_MODE=enforce TOLLGATE_TIMEOUT_MS=20 TOLLGATE_FAIL=closed \
    TOLLGATE_TAGS=team=search,purpose=batch TOLLGATE_RUN=run-1 \
    "$P/shim_client" admit
check "observe never denies" "admit decision=0 rule=fail-open from_daemon=0 id_nonzero=1" "" \
    TOLLGATE_MODE=observe TOLLGATE_FAIL=closed "$P/shim_client" admit

[ "$fails" = 0 ] || exit 1
echo "ok"
