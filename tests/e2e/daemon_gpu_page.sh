#!/bin/bash
# The verdict page (lib/page.h) the shim's CUDA hooks obey: per process,
# deny > pause > throttle (the lowest launches_per_sec of its matching
# gpu_limit rules) > run, the rule behind it, the lowest mem_cap and its
# rule. A change of the word wakes a launch paused on it (FUTEX_WAKE on
# the shared page): a policy reload that lifts a pause within 500 ms, the
# end of a pause window (the policy timer) within about a second of the
# edge. The daemon's wall clock is injected (--fake-clock: Monday
# 2026-11-30 10:00 UTC, inside "09:00-18:00 Mon-Fri").
. "$(dirname "$0")/daemon_common.inc"

head='"schema_version": 1, "timezone": "UTC"'
gpu='{"name": "ml-cap", "kind": "gpu_limit", "match": {"team": "ml"},
      "mem_cap": "8GiB", "launches_per_sec": 5000},
     {"name": "ml-eval", "kind": "gpu_limit", "match": {"purpose": "eval"},
      "launches_per_sec": 100},
     {"name": "small", "kind": "gpu_limit", "match": {"purpose": "eval"},
      "mem_cap": "512MiB"},
     {"name": "need-owner", "kind": "require_tags",
      "match": {"purpose": "strict"}, "tags": ["owner"]}'
pause='{"name": "batch-hours", "kind": "pause", "match": {"purpose": "batch"},
      "window": {"from": "09:00", "to": "18:00",
                 "days": ["mon", "tue", "wed", "thu", "fri"]}}'
echo "{$head, \"rules\": [$gpu, $pause]}" >"$T/with-pause.json"
echo "{$head, \"rules\": [$gpu]}" >"$T/no-pause.json"
cp "$T/with-pause.json" "$T/p.json"
date -u -d "2026-11-30 10:00:00" +%s >"$T/clock"
start_daemon --http off --policy "$T/p.json" --fake-clock "$T/clock"

mono_ms() { python3 -c 'import time; print(time.monotonic_ns() // 1000000)'; }
# client NAME TAGS: a registered process that stays (commands: send)
client() {
	mkfifo "$T/$1.in"
	"$RAW" "$SOCK" <"$T/$1.in" >"$T/$1.out" &
	KIDS="$KIDS $!"
	eval "exec {fd_$1}>\"\$T/\$1.in\""
	send "$1" "register $2 -"
	wait_out "$1" "counters-page version=2 rw-map=ok shrink=EPERM" >/dev/null
}
send() { local fd="fd_$1"; echo "$2" >&"${!fd}"; }
# wait_out NAME PREFIX [SKIP]: until NAME printed a line starting with
# PREFIX (after its first SKIP lines); prints that line
wait_out() {
	for _ in $(seq 400); do
		tail -n +$((${3:-0} + 1)) "$T/$1.out" | grep -m1 "^$2" && return 0
		sleep 0.025
	done
	# (called inside $(...) too: the message goes to stderr)
	fail "$1 did not print '$2': $(cat "$T/$1.out")" >&2
}
lines() { wc -l <"$T/$1.out"; }
# page NAME: the client's verdict page now
page() {
	local n
	n=$(grep -c '^page ' "$T/$1.out" || true)
	send "$1" verdict
	for _ in $(seq 200); do
		[ "$(grep -c '^page ' "$T/$1.out")" -gt "$n" ] && break
		sleep 0.025
	done
	grep '^page ' "$T/$1.out" | tail -n 1
}

client eval team=ml,purpose=eval
client batch team=ml,purpose=batch
client web team=web
client strict team=ml,purpose=strict
# flags=4: no rule can hold an LLM request of theirs (TG_PAGE_LLM_NO_ADMIT)
expect_eq "$(page eval)" \
    "page verdict=1 arg=100 cap=536870912 rule=ml-eval cap_rule=small flags=4 seq=1" \
    "throttle: the lowest rate; the lowest cap, of another rule"
expect_eq "$(page batch)" \
    "page verdict=2 arg=0 cap=8589934592 rule=batch-hours cap_rule=ml-cap flags=0 seq=1" \
    "pause inside the window, with the cap"
expect_eq "$(page web)" \
    "page verdict=0 arg=0 cap=0 rule=- cap_rule=- flags=4 seq=1" "no rule"
expect_eq "$(page strict)" \
    "page verdict=3 arg=0 cap=8589934592 rule=need-owner cap_rule=ml-cap flags=0 seq=1" \
    "deny beats throttle"

# The rules' limits in status (JSON and the table).
st=$(raw <<<"status")
expect_eq "$(jget "$st" '[(r["name"], r.get("mem_cap_bytes"), r.get("launches_per_sec")) for r in d["policy"]["rules"] if r["kind"] == "gpu_limit"]')" \
    "[('ml-cap', 8589934592, 5000), ('ml-eval', None, 100), ('small', 536870912, None)]" \
    "gpu_limit rules in status"
rows=$("$B/tollctl" --socket "$SOCK" status | tr -s ' ' | grep ' gpu_limit ')
expect_eq "$rows" " ml-cap gpu_limit - mem 8GiB, 5000 launches/s - -
 ml-eval gpu_limit - 100 launches/s - -
 small gpu_limit - mem 512MiB - -" "gpu_limit rows of tollctl status"

# A launch paused on the word; SIGHUP loads the policy without the pause:
# it wakes at once, throttled by ml-cap now.
n=$(lines batch)
send batch "futex-wait 5000"
wait_out batch "waiting verdict=2" "$n" >/dev/null
sleep 0.3
cp "$T/no-pause.json" "$T/p.json"
t0=$(mono_ms)
kill -HUP "$DPID"
line=$(wait_out batch "woke verdict=1 after=" "$n")
at=${line##*at=}
[ $((at - t0)) -ge 0 ] && [ $((at - t0)) -le 500 ] ||
	fail "woke $((at - t0)) ms after SIGHUP: $line"
echo "the reload woke the paused launch after $((at - t0)) ms"
expect_eq "$(page batch)" \
    "page verdict=1 arg=5000 cap=8589934592 rule=ml-cap cap_rule=ml-cap flags=4 seq=2" \
    "after the reload"
# the others' pages did not change: no new seq
expect_eq "$(page eval)" \
    "page verdict=1 arg=100 cap=536870912 rule=ml-eval cap_rule=small flags=4 seq=1" \
    "an unchanged page after the reload"

# The pause back; then the clock is set to 0.6 s before the window ends:
# the policy timer ends the pause and wakes the waiter at the edge.
cp "$T/with-pause.json" "$T/p.json"
kill -HUP "$DPID"
for _ in $(seq 200); do
	case $(page batch) in *" verdict=2 "*) break ;; esac
	sleep 0.025
done
expect_eq "$(page batch)" \
    "page verdict=2 arg=0 cap=8589934592 rule=batch-hours cap_rule=ml-cap flags=0 seq=3" \
    "paused again"
echo "$(date -u -d "2026-11-30 17:59:59" +%s).4" >"$T/clock"
n=$(lines batch)
send batch "futex-wait 5000"
wait_out batch "waiting verdict=2" "$n" >/dev/null
t0=$(mono_ms)
kill -USR1 "$DPID"
line=$(wait_out batch "woke verdict=1 after=" "$n")
at=${line##*at=}
[ $((at - t0)) -ge 500 ] && [ $((at - t0)) -le 1600 ] ||
	fail "woke $((at - t0)) ms after the clock was set 600 ms before the edge: $line"
echo "the window's end woke it $((at - t0)) ms after the clock was set 600 ms before"
expect_eq "$(page batch)" \
    "page verdict=1 arg=5000 cap=8589934592 rule=ml-cap cap_rule=ml-cap flags=0 seq=4" \
    "after the window"
# A run's own policy (tollctl run --policy) can only tighten: its rules
# are named "run:NAME" on the page; the lowest rate is the run's, the
# lowest cap the host's.
cat >"$T/run.json" <<'JSON'
{"schema_version": 1, "timezone": "UTC",
 "rules": [{"name": "tight", "kind": "gpu_limit", "mem_cap": "16GiB",
            "launches_per_sec": 2000}]}
JSON
out=$(TOLLGATE_SOCKET=$SOCK HOME=$T/home XDG_STATE_HOME=$T/xdg \
    TOLLGATE_SPOOL_DIR=$T/spool "$B/tollctl" run --tags team=ml \
    --policy "$T/run.json" -- sh -c 'printf "register team=ml $TOLLGATE_RUN\nverdict\n" |
    "$1" "$2"' sh "$RAW" "$SOCK" 2>/dev/null | grep '^page ')
expect_eq "$out" \
    "page verdict=1 arg=2000 cap=8589934592 rule=run:tight cap_rule=ml-cap flags=4 seq=1" \
    "a run's own gpu_limit beside the host's"

for c in eval batch web strict; do fd="fd_$c"; eval "exec ${!fd}>&-"; done
wait $KIDS
KIDS=
stop_daemon
echo "ok"
