#!/bin/bash
# tollgated start-up and shutdown: refuses a second daemon on the same
# socket and a non-loopback --http with one clear line (exit 1); creates
# the socket 0666 in a new 0755 directory; --policy loads the policy (one
# line naming it); SIGHUP reloads the prices; SIGTERM exits 0 and removes
# the socket.
. "$(dirname "$0")/daemon_common.inc"
SOCK="$T/run/sub/tg.sock"
echo '{"schema_version": 1, "timezone": "UTC", "rules": []}' >"$T/policy.json"
start_daemon --http off --policy "$T/policy.json"
expect_eq "$(stat -c %a "$SOCK")" 666 "socket mode"
expect_eq "$(stat -c %a "$T/run/sub")" 755 "socket directory mode"
grep -qxF "tollgated: policy $T/policy.json: 0 rules, timezone UTC" \
    "$T/daemon.log" || fail "no policy line"

rc=0
err=$("$B/tollgated" --socket "$SOCK" --state-dir "$T/st2" --http off \
    --prices "$T/prices.json" 2>&1) || rc=$?
expect_eq "$rc" 1 "exit status of a second daemon"
expect_eq "$err" "tollgated: another daemon is listening on $SOCK" \
    "second daemon's error"

rc=0
err=$("$B/tollgated" --socket "$T/other.sock" --state-dir "$T/st2" \
    --http 0.0.0.0:9464 --prices "$T/prices.json" 2>&1) || rc=$?
expect_eq "$rc" 1 "exit status with a public --http"
expect_eq "$err" "tollgated: --http 0.0.0.0:9464: only a loopback address (127.0.0.1, [::1], localhost) may serve /metrics" \
    "public --http error"
[ ! -e "$T/other.sock" ] || fail "a refused start left a socket"

rc=0
err=$("$B/tollgated" --socket "$T/other.sock" --retention-days x 2>&1) || rc=$?
expect_eq "$rc" 1 "exit status with a bad number"
expect_eq "$err" "tollgated: --retention-days x: expected a whole number from 0 to 36500" \
    "bad number error"

rc=0
err=$("$B/tollgated" --socket "$T/other.sock" --prices "$T/nope.json" \
    --state-dir "$T/st2" --http off 2>&1) || rc=$?
expect_eq "$rc" 1 "exit status with a missing price table"
grep -q "nope.json" <<<"$err" || fail "price error does not name the file: $err"

# SIGHUP: a broken table is refused and the old one kept; a good one loads.
cp "$T/prices.json" "$T/good.json"
echo '{"schema_version": 1, "models": {"x": 1}}' >"$T/prices.json"
kill -HUP "$DPID"
for _ in $(seq 200); do grep -q "reload:" "$T/daemon.log" && break; sleep 0.025; done
grep -qxF "tollgated: reload: $T/prices.json: models.x: expected an object; keeping the current prices" \
    "$T/daemon.log" || fail "bad reload line"
cp "$T/good.json" "$T/prices.json"
kill -HUP "$DPID"
for _ in $(seq 200); do grep -q "reload: 2 model" "$T/daemon.log" && break; sleep 0.025; done
grep -qxF "tollgated: reload: 2 model prices from $T/prices.json" "$T/daemon.log" ||
	fail "no reload line"
out=$(raw <<'CMDS'
register - -
admit 1 testco test-model 1000 500
CMDS
)
grep -q "reserved=2000000" <<<"$out" || fail "prices after reload: $out"

stop_daemon
[ ! -e "$SOCK" ] || fail "socket left after SIGTERM"
grep -qxF "tollgated: stopped" "$T/daemon.log" || fail "no stop line"
echo "ok"
