#!/bin/bash
# The daemon's active policy and the tollctl commands around it:
#   - `policy show` (from the daemon) prints exactly what `policy show
#     FILE` prints for the --policy file; json says where it came from;
#   - SIGHUP with a broken file keeps the old policy, with one log line
#     naming the file, the JSON path and what was expected;
#   - `policy apply`: a good file becomes active and is written to the
#     daemon's policy file; a bad one exits 1 with check's error and changes
#     nothing; a user neither root nor in group tollgate (nor the
#     daemon's own user) is refused;
#   - the fd of POLICY_APPLY: missing, not a regular file, extra fds and
#     fds on other messages are closed (no descriptor leaks);
#   - a missing --policy, or a bad file at the default path: exit 1 with
#     the parser's error; no file at the default path: the built-in
#     default (policies/default.json), and apply creates the file;
#   - `tollctl status` tabulates each rule: used, limit, left, resets.
. "$(dirname "$0")/daemon_common.inc"
CTL() { "$B/tollctl" --socket "$SOCK" "$@"; }
# run CMD...: sets rc, out, err
run() {
	rc=0
	"$@" >"$T/out" 2>"$T/err" || rc=$?
	out=$(cat "$T/out")
	err=$(cat "$T/err")
}

# 2025-03-10 is a Monday; the daemon's clock starts at 12:00 UTC.
NOW=1741608000
echo "$NOW" >"$T/clock"
cat >"$T/p.json" <<'JSON'
{"schema_version": 1, "timezone": "UTC",
 "rules": [{"name": "search-day", "kind": "budget",
            "match": {"team": "search"}, "period": "day",
            "limit_usd": "5.00", "soft_usd": 4}]}
JSON
cp "$T/p.json" "$T/p.orig"
cat >"$T/good.json" <<'JSON'
{"schema_version": 1, "timezone": "UTC",
 "description": "the applied one",
 "rules": [
  {"name": "search-day", "kind": "budget", "match": {"team": "search"},
   "period": "day", "limit_usd": "5.00"},
  {"name": "sandbox-total", "kind": "sandbox", "match": {"sandbox": "*"},
   "limit_usd": "1.00", "action": "shutdown"},
  {"name": "per-min", "kind": "rate", "requests_per_min": 60,
   "concurrent": 4},
  {"name": "night", "kind": "token_quota", "max_tokens": 10000,
   "window": {"from": "19:00", "to": "07:00"}},
  {"name": "batch-pause", "kind": "pause", "match": {"purpose": "batch"},
   "window": {"from": "09:00", "to": "18:00",
              "days": ["mon", "tue", "wed", "thu", "fri"]}},
  {"name": "tags", "kind": "require_tags", "tags": ["team"],
   "action": "report"}]}
JSON
cat >"$T/bad.json" <<'JSON'
{"schema_version": 1, "timezone": "UTC",
 "rules": [{"name": "x", "kind": "budget", "period": "fortnight",
            "limit_usd": 1}]}
JSON
BADERR="$T/bad.json: rules[0].period: expected \"day|week|month\""
run "$B/tollctl" policy check "$T/bad.json"
expect_eq "$rc/$err" "1/tollctl policy: $BADERR" "check of bad.json"

start_daemon --http off --policy "$T/p.json" --fake-clock "$T/clock"
grep -qxF "tollgated: policy $T/p.json: 1 rules, timezone UTC" "$T/daemon.log" ||
	fail "no start-up policy line"

# show from the daemon = show of the file, byte for byte
"$B/tollctl" policy show "$T/p.json" >"$T/show.file"
run CTL policy show
expect_eq "$rc/$err" "0/" "policy show from the daemon"
cmp -s "$T/out" "$T/show.file" || fail "show differs: $(diff "$T/out" "$T/show.file")"
run CTL policy show --format json
expect_eq "$(jget "$out" '(d["schema_version"], d["file"], d["builtin"], d["loaded_at"], d["generation"], d["policy"]["rules"][0]["limit_usd"])')" \
    "(1, '$T/p.json', False, '2025-03-10T12:00:00+00:00', 1, '5.00')" \
    "policy show --format json"
run CTL policy show --format yaml
expect_eq "$rc/$err" "1/tollctl policy show: --format: expected text or json, got 'yaml'" \
    "policy show --format yaml"

# SIGHUP with a broken file: the old policy stays, one line says why
cp "$T/bad.json" "$T/p.json"
kill -HUP "$DPID"
for _ in $(seq 100); do
	grep -q "keeping the current policy" "$T/daemon.log" && break
	sleep 0.05
done
grep -qxF "tollgated: reload: $T/p.json: rules[0].period: expected \"day|week|month\"; keeping the current policy" \
    "$T/daemon.log" || fail "no reload refusal line"
CTL policy show >"$T/show.now"
cmp -s "$T/show.now" "$T/show.file" || fail "a bad reload changed the policy"
expect_eq "$(jget "$(CTL policy show --format json)" 'd["generation"]')" 1 \
    "generation after a refused reload"
# and a good file on SIGHUP is taken
cp "$T/p.orig" "$T/p.json"
kill -HUP "$DPID"
for _ in $(seq 100); do
	[ "$(grep -c "reload: policy $T/p.json: 1 rules" "$T/daemon.log")" = 1 ] && break
	sleep 0.05
done
expect_eq "$(jget "$(CTL policy show --format json)" 'd["generation"]')" 2 \
    "generation after a good reload"

# apply: good → active and written; bad → exit 1, nothing changes
run CTL policy apply "$T/good.json"
expect_eq "$rc/$out/$err" "0/applied $T/good.json: 6 rules (timezone UTC) → $T/p.json/" \
    "apply good.json"
cmp -s "$T/good.json" "$T/p.json" || fail "apply did not write the policy file"
expect_eq "$(stat -c %a "$T/p.json")" 644 "mode of the written policy file"
"$B/tollctl" policy show "$T/good.json" >"$T/show.good"
CTL policy show >"$T/show.now"
cmp -s "$T/show.now" "$T/show.good" || fail "show after apply: $(diff "$T/show.now" "$T/show.good")"
expect_eq "$(jget "$(CTL policy show --format json)" '(d["generation"], d["builtin"])')" \
    "(3, False)" "generation after apply"
grep -qxE "tollgated: apply by uid $(id -u) pid [0-9]+: policy $T/p.json: 6 rules, timezone UTC" \
    "$T/daemon.log" || fail "no apply line"

run CTL policy apply "$T/bad.json"
expect_eq "$rc/$out/$err" "1//tollctl policy: $BADERR" "apply bad.json"
cmp -s "$T/good.json" "$T/p.json" || fail "a bad apply touched the policy file"
CTL policy show >"$T/show.now"
cmp -s "$T/show.now" "$T/show.good" || fail "a bad apply changed the policy"
run CTL policy apply "$T/none.json"
expect_eq "$rc/$err" "1/tollctl policy: $T/none.json: No such file or directory" \
    "apply of a missing file"
run CTL policy apply
expect_eq "$rc/$err" "1/usage: tollctl policy apply FILE" "apply without FILE"

if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	chmod 755 "$T"
	chmod 644 "$T/good.json"
	run setpriv --reuid=65534 --regid=65534 --clear-groups \
	    "$B/tollctl" --socket "$SOCK" policy apply "$T/good.json"
	expect_eq "$rc/$out/$err" "1//tollctl: the daemon refused the request: policy apply needs root or group tollgate" \
	    "apply by nobody"
else
	echo "note: not root (or no setpriv): apply by another user not tested"
fi

# the descriptor: none, not a regular file, extras and strays all closed
fds() { ls "/proc/$DPID/fd" | wc -l; }
# the daemon closes earlier clients' sockets and pidfds when it gets to
# them: count once the number holds still for a while
settled_fds() {
	local a b
	b=$(fds)
	for _ in $(seq 40); do
		sleep 0.05
		a=$(fds)
		[ "$a" = "$b" ] && break
		b=$a
	done
	echo "$b"
}
before=$(settled_fds)
SOCK="$SOCK" GOOD="$T/good.json" python3 - >"$T/out" <<'PY' || fail "fd probes: $(cat "$T/out")"
import array, json, os, socket, struct
HDR = struct.Struct('<IHHII')
def req(t, payload, fds=()):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(os.environ['SOCK'])
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', fds))] if fds else []
    s.sendmsg([HDR.pack(0x54474c31, 2, t, len(payload), 1) + payload], anc)
    m = s.recv(70000)
    s.close()
    t, = struct.unpack('<H', m[6:8])
    if t == 41:
        code, = struct.unpack('<I', m[16:20])
        return 'fail %d %s' % (code, m[20:].split(b'\0')[0].decode())
    return 'type %d' % t
name = b'x.json'.ljust(256, b'\0')
print(req(26, name))
r, w = os.pipe()
print(req(26, name, [r]))
g = os.open(os.environ['GOOD'], os.O_RDONLY)
print(req(26, name, [g, r, w]))
print(req(20, b'', [g, r]))
PY
expect_eq "$(cat "$T/out")" "fail 5 POLICY_APPLY needs the policy file's descriptor
fail 5 x.json: not a regular file
type 45
type 45" "POLICY_APPLY descriptors"
for _ in $(seq 100); do [ "$(fds)" = "$before" ] && break; sleep 0.05; done
[ "$(fds)" = "$before" ] || fail "descriptors leaked: $before before, $(fds) after"

# status: every rule with what is used, its limit, what is left, its reset.
# One request of test-model (1000 in, 500 out: $0.002) by team=search at
# the daemon's 12:00; the batch pause is active (09:00-18:00 Monday), the
# night quota idle until 19:00, the rate rule saw that one request.
tgp_setup
py - "$NOW" <<'PY' >"$T/out" || fail "usage: $(cat "$T/out")"
import sys
from tgp import *
import os
now = int(sys.argv[1]) * 10**9
c = C(os.environ['SOCK'])
c.req(1, register('team=search'))
t, _, p = c.req(2, admit(1, 'testco', 'test-model', 1000, 500))
print('admit', t, verdict(p))
t, _, p = c.req(3, record(1, 1, 'testco', 'test-model', 1000, 500,
                          tags='team=search', t=now))
print('record', t)
PY
expect_eq "$(cat "$T/out")" "admit 43 0
record 44" "usage for the status"
run CTL status
expect_eq "$rc/$err" "0/" "status"
# (loaded_at: the apply above, a second or so after 12:00 on that clock)
grep -qxE 'policy\.loaded_at: 2025-03-10T12:0[0-9]:[0-9]{2}\+00:00' "$T/out" ||
	fail "status: policy.loaded_at: $(grep loaded_at "$T/out")"
sed -n '/^policy\.[fb]/p; /^policy rules:/,$p' "$T/out" >"$T/rules"
expect_eq "$(cat "$T/rules")" "policy.file: $T/p.json
policy.builtin: no
policy rules:
  RULE           KIND          USED          LIMIT         LEFT          RESETS
  search-day     budget        \$0.002        \$5.00         \$4.998        2025-03-11T00:00:00+00:00
  sandbox-total  sandbox       \$0.00         \$1.00         \$1.00         never
  per-min        rate          1 rpm         60 rpm        59 rpm        -
  per-min        rate          0 concurrent  4 concurrent  4 concurrent  -
  night          token_quota   idle          10000         -             2025-03-10T19:00:00+00:00
  batch-pause    pause         active        -             -             2025-03-10T18:00:00+00:00
  tags           require_tags  -             -             -             -" \
    "status: the policy rules"
st=$(CTL status --format json)
expect_eq "$(jget "$st" '[sorted(r.items()) for r in d["policy"]["rules"][:2]]')" \
    "[[('delayed', 0), ('denied', 0), ('kind', 'budget'), ('limit_usd', '5.00'), ('name', 'search-day'), ('period_end', '2025-03-11T00:00:00+00:00'), ('period_start', '2025-03-10T00:00:00+00:00'), ('spent_usd', '0.002'), ('usd_left', '4.998'), ('warned', 0)], [('delayed', 0), ('denied', 0), ('kind', 'sandbox'), ('limit_usd', '1.00'), ('name', 'sandbox-total'), ('spent_usd', '0.00'), ('usd_left', '1.00'), ('warned', 0)]]" \
    "status json: budget and sandbox"
expect_eq "$(jget "$st" '[sorted(r.items()) for r in d["policy"]["rules"][3:]]')" \
    "[[('active', False), ('delayed', 0), ('denied', 0), ('kind', 'token_quota'), ('max_tokens', 10000), ('name', 'night'), ('next_start', '2025-03-10T19:00:00+00:00'), ('warned', 0)], [('active', True), ('delayed', 0), ('denied', 0), ('kind', 'pause'), ('name', 'batch-pause'), ('period_end', '2025-03-10T18:00:00+00:00'), ('period_start', '2025-03-10T09:00:00+00:00'), ('warned', 0)], [('delayed', 0), ('denied', 0), ('kind', 'require_tags'), ('name', 'tags'), ('warned', 0)]]" \
    "status json: window rules"
stop_daemon

# a --policy that is missing or bad: exit 1 with the parser's error
for f in "$T/missing.json:$T/missing.json: No such file or directory" \
    "$T/bad.json:$BADERR"; do
	rc=0
	err=$("$B/tollgated" --socket "$T/m.sock" --state-dir "$T/st2" \
	    --http off --prices "$T/prices.json" --policy "${f%%:*}" 2>&1) || rc=$?
	expect_eq "$rc/$err" "1/tollgated: ${f#*:}" "start with --policy ${f%%:*}"
done

# the default path ($XDG_CONFIG_HOME/tollgate/policy.json for a user; as
# root the test runs the daemon as nobody to get that path)
AS=()
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	AS=(setpriv --reuid=65534 --regid=65534 --clear-groups)
fi
mkdir -p "$T/cfgbad/tollgate" "$T/cfg" "$T/nb" "$T/st3"
cp "$T/bad.json" "$T/cfgbad/tollgate/policy.json"
chmod 755 "$T"
chmod 644 "$T"/*.json
[ ${#AS[@]} = 0 ] || chown 65534 "$T/cfg" "$T/nb" "$T/st3"
rc=0
err=$(XDG_CONFIG_HOME=$T/cfgbad "${AS[@]}" "$B/tollgated" --socket "$T/nb/s" \
    --state-dir "$T/st3" --http off --prices "$T/prices.json" 2>&1) || rc=$?
expect_eq "$rc/$err" "1/tollgated: $T/cfgbad/tollgate/policy.json: rules[0].period: expected \"day|week|month\"" \
    "a bad file at the default path"

SOCK=$T/nb/s
DEF=$T/cfg/tollgate/policy.json
start_default() {
	XDG_CONFIG_HOME=$T/cfg "${AS[@]}" "$B/tollgated" --socket "$SOCK" \
	    --state-dir "$T/st3" --http off --prices "$T/prices.json" \
	    2>"$T/daemon.log" &
	DPID=$!
	for _ in $(seq 200); do
		grep -q "listening on" "$T/daemon.log" && return 0
		kill -0 "$DPID" 2>/dev/null || fail "tollgated (default path) exited"
		sleep 0.025
	done
	fail "tollgated (default path) did not start"
}
start_default
grep -qxF "tollgated: no policy at $DEF; using the built-in default (meter everything, enforce nothing)" \
    "$T/daemon.log" || fail "no built-in line"
grep -qxF "tollgated: policy (built-in default): 0 rules, timezone UTC" \
    "$T/daemon.log" || fail "no built-in policy line"
"$B/tollctl" policy show "$SRC/policies/default.json" >"$T/show.def"
CTL policy show >"$T/show.now"
cmp -s "$T/show.now" "$T/show.def" || fail "built-in differs from policies/default.json: $(diff "$T/show.now" "$T/show.def")"
expect_eq "$(jget "$(CTL policy show --format json)" '(d["file"], d["builtin"], d["generation"])')" \
    "('$DEF', True, 1)" "show of the built-in default"
kill -HUP "$DPID"
for _ in $(seq 100); do
	grep -q "still no policy" "$T/daemon.log" && break
	sleep 0.05
done
grep -qxF "tollgated: reload: still no policy at $DEF; keeping the built-in default" \
    "$T/daemon.log" || fail "no reload line for the built-in default"
# apply (root to nobody's daemon, or a user to their own): the daemon
# creates its policy directory
run CTL policy apply "$T/good.json"
expect_eq "$rc/$out/$err" "0/applied $T/good.json: 6 rules (timezone UTC) → $DEF/" \
    "apply to the built-in default"
cmp -s "$T/good.json" "$DEF" || fail "apply did not create $DEF"
expect_eq "$(stat -c %a "$T/cfg/tollgate") $(stat -c %a "$DEF")" "755 644" \
    "modes of the created directory and file"
expect_eq "$(jget "$(CTL policy show --format json)" '(d["file"], d["builtin"], d["generation"], len(d["policy"]["rules"]))')" \
    "('$DEF', False, 2, 6)" "show after apply to the built-in default"
stop_daemon

# a built-in default whose file appears: SIGHUP takes it
rm "$DEF"
start_default
expect_eq "$(jget "$(CTL policy show --format json)" 'd["builtin"]')" True \
    "built-in again"
cp "$T/p.orig" "$DEF"
kill -HUP "$DPID"
for _ in $(seq 100); do
	grep -q "reload: policy $DEF" "$T/daemon.log" && break
	sleep 0.05
done
expect_eq "$(jget "$(CTL policy show --format json)" '(d["builtin"], d["generation"], len(d["policy"]["rules"]))')" \
    "(False, 2, 1)" "the default path's file after SIGHUP"
stop_daemon
echo "ok"
