#!/bin/bash
# policy_golden.sh — every shipped policy (policies/default.json and
# policies/examples/*.json) replays its .cases through `tollctl policy eval`
# exactly, prints back to a form that re-parses to the same text, and has a
# case that notices a mutated limit (tools/policy-golden). Then bad policies:
# exit 1 and one error naming the file, the JSON path and what was expected.
set -u
: "${B:?set B to the build dir}" "${SRC:?set SRC to the repo root}"
command -v python3 >/dev/null || { echo "python3 is missing"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

python3 "$SRC/tools/policy-golden" "$B/tollctl" "$SRC/policies/default.json" \
	"$SRC"/policies/examples/*.json || fail "golden cases"

# bad NAME 'JSON' 'expected error line'
bad() {
	printf '%s\n' "$2" >"$T/$1.json"
	out=$("$B/tollctl" policy check "$T/$1.json" 2>&1)
	rc=$?
	[ $rc = 1 ] || fail "$1: exit $rc, want 1"
	[ "$out" = "tollctl policy: $T/$1.json: $3" ] || fail "$1: got '$out'"
}
H='"schema_version": 1, "timezone": "UTC"'
bad limit "{$H, \"rules\": [{\"name\": \"a\", \"kind\": \"budget\", \"period\": \"day\", \"limit_usd\": \"5\"}, {\"name\": \"b\", \"kind\": \"budget\", \"period\": \"day\", \"limit_usd\": \"5\"}, {\"name\": \"c\", \"kind\": \"budget\", \"period\": \"day\", \"limit_usd\": -1}]}" \
	'rules[2].limit_usd: expected a positive amount of USD ("5.00" or 5), at most 1000000000'
bad typo "{$H, \"rules\": [{\"name\": \"a\", \"kind\": \"budget\", \"period\": \"day\", \"limt_usd\": \"5\"}]}" \
	"rules[0]: unknown key 'limt_usd'"
bad zone '{"schema_version": 1, "timezone": "Mars/Olympus"}' \
	"timezone: time zone 'Mars/Olympus': not found"
bad zonepath '{"schema_version": 1, "timezone": "../../etc/passwd"}' \
	"timezone: '../../etc/passwd' is not a time zone name"
bad version '{"schema_version": 2, "timezone": "UTC"}' 'schema_version: expected 1'
bad hhmm "{$H, \"rules\": [{\"name\": \"p\", \"kind\": \"pause\", \"window\": {\"from\": \"24:00\", \"to\": \"07:00\"}}]}" \
	'rules[0].window.from: expected a time of day "HH:MM" (00:00 to 23:59)'
bad days "{$H, \"rules\": [{\"name\": \"p\", \"kind\": \"pause\", \"window\": {\"from\": \"09:00\", \"to\": \"17:00\", \"days\": [\"mon\", \"fry\"]}}]}" \
	'rules[0].window.days[1]: expected "mon|tue|wed|thu|fri|sat|sun"'
bad dup "{$H, \"rules\": [{\"name\": \"a\", \"kind\": \"rate\", \"concurrent\": 1}, {\"name\": \"a\", \"kind\": \"rate\", \"concurrent\": 2}]}" \
	"rules[1].name: expected a unique name ('a' is rules[0] too)"
bad soft "{$H, \"rules\": [{\"name\": \"a\", \"kind\": \"budget\", \"period\": \"week\", \"limit_usd\": \"5\", \"soft_usd\": \"5.00\"}]}" \
	'rules[0].soft_usd: expected less than limit_usd'
bad period "{$H, \"rules\": [{\"name\": \"a\", \"kind\": \"budget\", \"period\": \"total\", \"limit_usd\": 1}]}" \
	'rules[0].period: expected "day|week|month"'
bad kind "{$H, \"rules\": [{\"name\": \"a\", \"kind\": \"quota\"}]}" \
	'rules[0].kind: expected "budget|token_quota|rate|pause|sandbox|require_tags|gpu_limit"'
bad glob "{$H, \"rules\": [{\"name\": \"a\", \"kind\": \"rate\", \"concurrent\": 1, \"match\": {\"team\": [\"x\", 3]}}]}" \
	'rules[0].match.team[1]: expected a glob string (1 to 255 bytes)'
bad syntax '{"schema_version": 1,' "line 2 column 0: string or '}' expected near end of file"

# eval refuses usage for a rule that does not exist (a typo in a case)
out=$("$B/tollctl" policy eval "$SRC/policies/examples/rate_limit.json" \
	--usage rmp:rpm=1 2>&1)
[ $? = 1 ] && [ "$out" = "tollctl policy eval: --usage: no rule 'rmp'" ] ||
	fail "usage typo: $out"
echo "policy_golden: ok"
