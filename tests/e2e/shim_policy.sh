#!/bin/bash
# shim_policy — what the policy asks of the shim beyond single verdicts:
# the fail mode when the daemon is unreachable (TOLLGATE_FAIL for a cold
# start; the policy's, from the registration and the verdict page, once a
# daemon was seen) and a policy that forbids TOLLGATE_MODE=off. Processes
# are long-lived tests/progs/shim_admit_loop (one command per line on a
# fifo, one answer line each), so the daemon can be stopped or reloaded
# between two admissions of the same process. Expected lines are written
# next to each case.
. "$(dirname "$0")/shim_common.inc"
need "$SHIM" "$P/shim_admit_loop" "$B/tollgated" "$B/tollctl"
shim_setup

# test-model: input $1/Mtok, output $2/Mtok. Every admission here asks
# for 1000 input + 500 output tokens: 2,000,000 nano-USD ($0.002).
cat >"$T/prices.json" <<'JSON'
{"schema_version": 1,
 "models": {
  "test-model": {"provider": "testco", "input_usd_per_mtok": 1,
                 "output_usd_per_mtok": 2, "max_output_tokens": 1000}}}
JSON

# policy NAME ALLOW_MODE_OFF FAIL: $T/NAME.json with one rule for team=ci
# ($100 a day, the given fail mode) and "tiny" for team=tiny ($0.000001 a
# day: any admission of test-model is refused; fails closed).
policy() {
	cat >"$T/$1.json" <<JSON
{"schema_version": 1, "timezone": "UTC", "allow_mode_off": $2,
 "rules": [
  {"name": "ci-$3", "kind": "budget", "period": "day", "limit_usd": "100",
   "match": {"team": "ci"}, "fail": "$3"},
  {"name": "tiny", "kind": "budget", "period": "day",
   "limit_usd": "0.000001", "match": {"team": "tiny"}, "fail": "closed"}]}
JSON
}

pdaemon() { # policy file
	no_daemon
	: >"$T/daemon.log"
	"$B/tollgated" --socket "$T/sock" --state-dir "$T/state" --http off \
	    --prices "$T/prices.json" --policy "$1" 2>>"$T/daemon.log" & D=$!
	for _ in $(seq 200); do
		[ -S "$T/sock" ] && grep -q "listening on" "$T/daemon.log" &&
		    return
		kill -0 "$D" 2>/dev/null || break
		sleep 0.05
	done
	echo "tollgated did not start:"; cat "$T/daemon.log"; exit 1
}

# Rewrite the policy file in place, SIGHUP, wait for the reload's line.
reload() { # policy-file-to-copy target
	local n
	n=$(grep -c "reload: policy" "$T/daemon.log")
	cp "$1" "$2"
	kill -HUP "$D"
	for _ in $(seq 100); do
		[ "$(grep -c "reload: policy" "$T/daemon.log")" -gt "$n" ] &&
		    return
		sleep 0.05
	done
	fail "no reload of $2: $(tail -3 "$T/daemon.log")"
}

declare -A LFD LN LPID
# start NAME ENV...: a shim_admit_loop under the shim.
start() {
	local name=$1 fd; shift
	mkfifo "$T/$name.in"
	env LD_PRELOAD="$SHIM" "$@" "$P/shim_admit_loop" testco test-model \
	    1000 500 <"$T/$name.in" >"$T/$name.out" 2>"$T/$name.err" &
	LPID[$name]=$!
	C="$C $!"
	exec {fd}>"$T/$name.in"
	LFD[$name]=$fd LN[$name]=0
}
# ask NAME COMMAND: the line that answered it goes to $got. Not in a
# subshell: it counts the lines read so far.
ask() {
	local name=$1 n
	echo "$2" >&"${LFD[$name]}"
	n=$((LN[$name] + 1))
	LN[$name]=$n
	for _ in $(seq 200); do
		if [ "$(wc -l <"$T/$name.out")" -ge "$n" ]; then
			got=$(sed -n "${n}p" "$T/$name.out")
			return
		fi
		sleep 0.05
	done
	got="(no answer from $name)"
}
expect() { # name command expected-line
	ask "$1" "$2"
	[ "$got" = "$3" ] || fail "$1 $2:
  got  [$got]
  want [$3]"
}
expect_err() { # name expected-stderr
	[ "$(cat "$T/$1.err")" = "$2" ] || fail "$1 stderr:
  got  [$(cat "$T/$1.err")]
  want [$2]"
}
# The daemon's view of the process: mode and reservations it holds.
seen() { # name -> "mode=M reservations=N" or "not registered"
	"$B/tollctl" --socket "$T/sock" status --format json |
	    python3 -c '
import json, sys
pid = int(sys.argv[1])
for p in json.load(sys.stdin).get("processes", []):
    if p["pid"] == pid:
        print("mode=%s reservations=%d" % (p["mode"], p["reservations"]))
        break
else:
    print("not registered")' "${LPID[$1]}"
}

OPEN="admit decision=0 rule=fail-open from_daemon=0 reason=tollgate daemon unreachable; metering locally"
CLOSED_ENV="admit decision=2 rule=fail-closed from_daemon=0 reason=tollgate daemon unreachable; TOLLGATE_FAIL=closed"
CLOSED_POLICY="admit decision=2 rule=fail-closed from_daemon=0 reason=tollgate daemon unreachable; the policy's fail mode is closed"
OFF_UNKNOWN="admit decision=0 rule=fail-open from_daemon=0 reason=TOLLGATE_MODE=off; tollgate daemon unreachable: nothing enforced"
OFF_ALLOWED="admit decision=0 rule=fail-open from_daemon=0 reason=TOLLGATE_MODE=off and the policy allows it: nothing enforced"
OFF_LINE="tollgate: TOLLGATE_MODE=off is not allowed by the policy; enforcing"
# The daemon's own verdicts: an allowed admission carries no rule or
# reason (ctl/daemon/enforce.c makes no text on that path); a refusal
# names its rule with lib/policy_print.c's reason.
OK="admit decision=0 rule= from_daemon=1 reason="
TINY_NO="admit decision=2 rule=tiny from_daemon=1 reason=day budget of \$0.000001 would be exceeded (request ~\$0.002)"

# --- 1. cold start, no daemon ever seen: TOLLGATE_FAIL decides.
no_daemon
start cold_closed TOLLGATE_FAIL=closed TOLLGATE_TAGS=team=ci
expect cold_closed admit "$CLOSED_ENV"
start cold_open TOLLGATE_TAGS=team=ci
expect cold_open admit "$OPEN"
start cold_observe TOLLGATE_FAIL=closed TOLLGATE_MODE=observe
expect cold_observe admit "$OPEN"
start cold_off TOLLGATE_MODE=off TOLLGATE_FAIL=closed
expect cold_off admit "$OFF_UNKNOWN"
expect cold_off admit "$OFF_UNKNOWN"
for n in cold_closed cold_open cold_observe cold_off; do expect_err $n ""; done

# --- 2. the policy's fail mode outlives the daemon: team=ci fails
# closed, team=web (no rule) open; observe never denies; a fork child
# keeps what its parent learned (same tags, same rules).
policy closed true closed
pdaemon "$T/closed.json"
export TOLLGATE_TIMEOUT_MS=2000 # the daemon's verdicts, not its speed
start ci TOLLGATE_TAGS=team=ci
start web TOLLGATE_TAGS=team=web
start ciobs TOLLGATE_TAGS=team=ci TOLLGATE_MODE=observe
expect ci admit "$OK"
expect web admit "$OK"
expect ciobs admit "$OK"
# A fork child uses nothing of its parent's connection: it registers itself.
expect ci fork "child $OK"
no_daemon
expect ci admit "$CLOSED_POLICY"
expect ci admit "$CLOSED_POLICY"
expect ci fork "child $CLOSED_POLICY"
expect web admit "$OPEN"
expect ciobs admit "$OPEN"
# Back: registered anew, the daemon answers again (once the shim's
# 1 s back-off after the failed connect has passed).
pdaemon "$T/closed.json"
sleep 1.1
expect ci admit "$OK"
no_daemon
for n in ci web ciobs; do expect_err $n ""; done

# --- 2b. the verdict page carries policy reloads: a process registered
# under one fail mode follows a reload to the other.
policy open true open
cp "$T/open.json" "$T/live.json"
pdaemon "$T/live.json"
start to_closed TOLLGATE_TAGS=team=ci
expect to_closed admit "$OK"
reload "$T/closed.json" "$T/live.json"
no_daemon
expect to_closed admit "$CLOSED_POLICY"
cp "$T/closed.json" "$T/live.json"
pdaemon "$T/live.json"
start to_open TOLLGATE_TAGS=team=ci
expect to_open admit "$OK"
reload "$T/open.json" "$T/live.json"
no_daemon
expect to_open admit "$OPEN"

# --- 3. allow_mode_off false: TOLLGATE_MODE=off is enforced (admission
# asked and refused by "tiny"; one line on stderr for the whole process;
# the fail mode applies once the daemon is gone).
policy refuse false open
pdaemon "$T/refuse.json"
start offno TOLLGATE_MODE=off TOLLGATE_TAGS=team=tiny
expect offno admit "$TINY_NO"
expect offno admit "$TINY_NO"
[ "$(seen offno)" = "mode=off reservations=0" ] ||
    fail "offno: the daemon sees $(seen offno)"
no_daemon
expect offno admit "$CLOSED_POLICY"
expect_err offno "$OFF_LINE"

# allow_mode_off true: the first admit registers (the daemon lists the
# process, mode off) but asks nothing, so "tiny" refuses nothing and
# nothing is reserved; later admits make no system call at all (seccomp
# counts them). The control process (enforced, the same steps) shows the
# count can see a call.
policy allow true open
pdaemon "$T/allow.json"
start offok TOLLGATE_MODE=off TOLLGATE_TAGS=team=tiny
start control TOLLGATE_TAGS=team=ci
expect offok admit "$OFF_ALLOWED"
[ "$(seen offok)" = "mode=off reservations=0" ] ||
    fail "offok: the daemon sees $(seen offok)"
expect offok strict "strict on"
expect offok admit "$OFF_ALLOWED"
expect offok admit "$OFF_ALLOWED"
expect offok count "syscalls=0"
expect control admit "$OK"
[ "$(seen control)" = "mode=enforce reservations=1" ] ||
    fail "control: the daemon sees $(seen control)"
expect control strict "strict on"
ask control admit
ask control count
[ "$got" != "syscalls=0" ] ||
    fail "control: an admission asked the daemon without a system call?"
expect_err offok ""

# A reload that forbids off reaches a process already running in mode off
# through its page: the next admit is enforced.
cp "$T/allow.json" "$T/live.json"
pdaemon "$T/live.json"
start offflip TOLLGATE_MODE=off TOLLGATE_TAGS=team=tiny
expect offflip admit "$OFF_ALLOWED"
reload "$T/refuse.json" "$T/live.json"
expect offflip admit "$TINY_NO"
expect offflip admit "$TINY_NO"
expect_err offflip "$OFF_LINE"
no_daemon

# Every process is still alive and ends cleanly.
for n in "${!LFD[@]}"; do
	echo quit >&"${LFD[$n]}"
	wait "${LPID[$n]}" || fail "$n exited with status $?"
done
C=
[ "$fails" = 0 ] || { echo "--- daemon log"; cat "$T/daemon.log"; exit 1; }
echo "ok"
