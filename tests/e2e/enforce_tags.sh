#!/bin/bash
# enforce_tags.sh — require_tags: without the required tag a request is
# refused (action deny, the default) or allowed and only reported (action
# report: the decision names the rule, and status counts the warning).
# Real shim (LD_PRELOAD), real daemon; the policy changes by SIGHUP.
. "$(dirname "$0")/enforce_common.inc"
AO=$B/tests/progs/admit_once
policy() { # ACTION
	cat >"$T/p.json" <<JSON
{"schema_version": 1, "timezone": "UTC",
 "rules": [{"name": "need-team", "kind": "require_tags",
            "tags": ["team"], "action": "$1"}]}
JSON
}
admit() { # TAGS → the verdict line (and settles when allowed)
	TOLLGATE_TAGS=$1 LD_PRELOAD=$B/libtollgate.so "$AO" openai gpt-4o 1000 200
}
sql() { sqlite3 "$T/st/ledger.db" "$1"; }

policy deny
start_daemon --policy "$T/p.json"
v=$(admit "purpose=batch" | head -1)
[ "$v" = "decision=deny delay_ms=0 rule=need-team from_daemon=1 reason=missing tags: team" ] ||
	fail "deny, untagged team: '$v'"
v=$(admit "team=search,purpose=batch" | head -1)
[ "$v" = "decision=allow delay_ms=0 rule=- from_daemon=1 reason=" ] || fail "deny, team given: '$v'"
v=$(admit "team=" | head -1)
case $v in "decision=deny "*"rule=need-team "*) ;; *) fail "a malformed TOLLGATE_TAGS is no tags: '$v'";; esac
# refused records are written by the daemon after the verdict went out
wait_for "2 refused records" \
	'[ "$(sql "SELECT count(*) FROM records WHERE decision = '"'deny'"' AND rule = '"'need-team'"'")" = 2 ]'

[ "$(sql "SELECT count(*), sum(cost_nano_usd) FROM records WHERE decision != 'deny'")" = "1|4500000" ] ||
	fail "allowed records: $(sql 'SELECT decision, rule, cost_nano_usd FROM records')"

policy report
kill -HUP "$DPID"
for _ in $(seq 100); do
	v=$(admit "purpose=batch")
	case $v in "decision=allow"*) break;; esac
	sleep 0.05
done
[ "$(echo "$v" | head -1)" = "decision=allow delay_ms=0 rule=need-team from_daemon=1 reason=missing tags: team (reported)" ] ||
	fail "report: '$v'"
[ "$(echo "$v" | tail -1)" = "settled=0" ] || fail "report: not settled: '$v'"
st=$("$B/tollctl" status --format json) || fail "tollctl status failed"
python3 - "$st" <<'PY' || fail "status: $st"
import json, sys
d = json.loads(sys.argv[1])
r = [r for r in d["policy"]["rules"] if r["name"] == "need-team"][0]
assert r["kind"] == "require_tags" and r["warned"] == 1 and r["denied"] == 0, r
PY
echo "ok: require_tags deny and report"
