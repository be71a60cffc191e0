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
# The policy's asks of a process at registration: a fail-closed rule that
# matches its tags and allow_mode_off false → REGISTERED flags 3 for a v2
# shim (fail closed + off refused), 1 for a v1 shim (which reads the field
# as "fail closed when nonzero"), and the same 3 in the verdict page; a
# process the rule does not match gets 6: off refused, and no admission
# needed for its LLM requests (the shim's hooks then never hold them).
cat >"$T/p.json" <<'JSON'
{"schema_version": 1, "timezone": "UTC", "allow_mode_off": false,
 "rules": [{"name": "ci-closed", "kind": "budget", "period": "day",
            "limit_usd": "100", "match": {"team": "ci"}, "fail": "closed"}]}
JSON
kill -HUP "$DPID"
wait_for "the reload" '[ "$(grep -c "policy $T/p.json: 1 rules" "$T/daemon.log")" -ge 3 ]'
python3 - "$SOCK" <<'PY' || fail "registration flags"
import array, mmap, socket, struct, sys
def register(version, tags):
    sk = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sk.connect(sys.argv[1])
    body = struct.pack('<II', 0, 0) + tags.encode().ljust(256, b'\0') + b'\0' * 40
    sk.send(struct.pack('<IHHII', 0x54474c31, version, 1, len(body), 1) + body)
    msg, anc, _, _ = sk.recvmsg(4096, socket.CMSG_SPACE(8))
    fds = array.array('i')
    for _, _, data in anc:
        fds.frombytes(data[:len(data) - len(data) % 4])
    typ = struct.unpack('<IHHII', msg[:16])[2]
    assert typ == 42, typ
    flags = struct.unpack('<HHIQ', msg[16:32])[2]
    page = mmap.mmap(fds[0], 4096, prot=mmap.PROT_READ)
    pflags = struct.unpack('<IIII', page[:16])[3]
    return flags, pflags, sk
v2 = register(2, 'team=ci')
v1 = register(1, 'team=ci')
web = register(2, 'team=web')
got = (v2[:2], v1[:2], web[:2])
# team=web: no rule can refuse its LLM requests → + LLM_NO_ADMIT (4)
assert got == ((3, 3), (1, 3), (6, 6)), got
PY
echo "ok: require_tags deny and report; registration flags"
