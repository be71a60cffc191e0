#!/bin/bash
# shim_replay — spool replay against records that can never be delivered.
# Regression, "one bad or refused record made every call of every shimmed
# process of that uid slow forever": replay re-sent the same file from
# offset 0 on every call of every process. Now the good records of such a
# file are delivered, the file is set aside as NAME.bad with one line, and
# no later process or call sends it again. Uses the fake daemon
# (tests/progs/shim_fakedaemon.c), which refuses records whose endpoint is
# "refuse..." (FAIL BAD_FIELD) and logs each arrival as "REFUSED ...".
. "$(dirname "$0")/shim_common.inc"
need "$SHIM" "$P/shim_client" "$P/shim_fakedaemon" "$P/shim_flush"
shim_setup

run() { # expected-stdout expected-stderr(ERE, or "" for none) steps...
	local want=$1 wanterr=$2 out; shift 2
	out=$(LD_PRELOAD=$SHIM "$P/shim_client" "$@" 2>"$T/err")
	[ "$out" = "$want" ] || fail "$*: stdout [$out] want [$want]"
	if [ -z "$wanterr" ]; then
		[ -s "$T/err" ] && fail "$*: stderr [$(cat "$T/err")] want none"
	else
		[ "$(wc -l <"$T/err")" = 1 ] && grep -Eq "^$wanterr\$" "$T/err" ||
		    fail "$*: stderr [$(cat "$T/err")] want /$wanterr/"
	fi
}
refused() { grep -c '^REFUSED' "$T/fake.out"; }
delivered() { grep -Evc '^(REFUSED|BUSY|REPEAT)' "$T/fake.out"; }
NAME='[0-9]+-[0-9a-f]{16}(\.[0-9]+)?\.spool'

# 1. A dead process's file: good, refused, good.
: >"$T/fake.out"
run "usage 1
refuse 1
usage 1" "" usage refuse usage
fake ok
run "admit decision=0 rule=fake from_daemon=1 id_nonzero=1" \
    "tollgate: spool $NAME: the daemon refused 1 record\(s\) \(error 5\); set aside as $NAME\.bad, not replayed again" admit
[ "$(delivered)" = 2 ] || fail "good records delivered: $(delivered), want 2"
[ "$(refused)" = 1 ] || fail "refused record sent $(refused) times, want 1"
# Later processes and calls: silent, and the refused record never again.
for _ in 1 2 3; do
	run "admit decision=0 rule=fake from_daemon=1 id_nonzero=1
usage 0
flush 0" "" admit usage flush
done
[ "$(refused)" = 1 ] || fail "refused record re-sent: $(refused) times"
[ "$(ls "$T/spool" | grep -c '\.spool\.bad$')" = 1 ] || fail "no .bad file: $(ls "$T/spool")"
[ "$(ls "$T/spool" | grep -c '\.spool$')" = 0 ] || fail "spool files left: $(ls "$T/spool")"

# 2. This process's own file: spooled while the daemon is down, flushed
# by the same process once it is up; it goes on with a new file.
no_daemon
: >"$T/fake.out"
LD_PRELOAD=$SHIM "$P/shim_client" refuse usage waitsock flush usage usage \
    >"$T/own.out" 2>"$T/own.err" & C=$!
for _ in $(seq 100); do
	[ "$(cat "$T/spool"/*.spool 2>/dev/null | wc -c)" = 2144 ] && break
	sleep 0.1
done
fake ok
wait "$C"; C=
[ "$(cat "$T/own.out")" = "refuse 1
usage 1
flush 1
usage 0
usage 0" ] || fail "own file: [$(cat "$T/own.out")]"
grep -Eq "^tollgate: spool $NAME: the daemon refused 1 record\(s\) \(error 5\); set aside as $NAME\.bad, not replayed again$" "$T/own.err" &&
    [ "$(wc -l <"$T/own.err")" = 1 ] || fail "own file: stderr [$(cat "$T/own.err")]"
[ "$(refused)" = 1 ] || fail "own file: refused record sent $(refused) times"
[ "$(delivered)" = 3 ] || fail "own file: $(delivered) delivered, want 3"

# 3. A dead process's file damaged in the middle (record 2 of 3): record
# 1 is delivered, the file set aside, nothing retried.
no_daemon
rm -rf "$T/spool"
: >"$T/fake.out"
run "usage 1
usage 1
usage 1" "" usage usage usage
f=$(ls "$T/spool"/*.spool)
printf 'XXXX' | dd of="$f" bs=1 seek=1072 conv=notrunc status=none
fake ok
out=$(LD_PRELOAD=$SHIM "$P/shim_flush" 2>"$T/err")
[ "$out" = "flushed 1" ] || fail "damaged file: $out"
grep -Eq "^tollgate: spool $NAME: bad record header at offset 1072; set aside as $NAME\.bad, not replayed again$" "$T/err" &&
    [ "$(wc -l <"$T/err")" = 1 ] || fail "damaged file: stderr [$(cat "$T/err")]"
[ -e "$f.bad" ] || fail "damaged file not set aside: $(ls "$T/spool")"
run "flush 0" "" flush
[ "$(delivered)" = 1 ] || fail "damaged file: $(delivered) delivered, want 1"

# 4. Progress is kept: a dead process's file good, busy (refused for
# now), good. Both good ones are delivered (they were in flight
# together), the pass stops at the busy one, and the file's name records
# the acknowledged 1072 bytes: later passes start there (the first record
# is never sent again; the third is, after the busy one), and keep the
# file.
no_daemon
rm -rf "$T/spool"
: >"$T/fake.out"
run "usage 1
busy 1
usage 1" "" usage busy usage
fake ok
run "flush 1
flush -1" "" flush flush
run "flush -1" "" flush
[ "$(delivered)" = 2 ] || fail "busy: $(delivered) delivered, want 2"
[ "$(grep -c '^BUSY' "$T/fake.out")" = 3 ] || fail "busy: $(grep -c '^BUSY' "$T/fake.out") tries, want 3"
first=$(grep -m1 ' client 1$' "$T/fake.out" | cut -d' ' -f1)
grep -q "^REPEAT $first\$" "$T/fake.out" && fail "busy: the first record was sent again"
[ "$(ls "$T/spool" | grep -Ec '^[0-9]+-[0-9a-f]{16}\+1072\.spool$')" = 1 ] ||
    fail "busy: no progress in the name: $(ls "$T/spool")"

[ "$fails" = 0 ] || exit 1
echo "ok"
