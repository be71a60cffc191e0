#!/bin/bash
# cli_report.sh — `tollctl report` in its three formats with exact numbers,
# plus `status` and `top --once` against a real tollgated. The data: three
# runs through the shim's client API (prices from policies/prices.json):
#   team=search  gpt-4o       3 × (1000 in, 200 out)  3 × 4,500,000 nano-USD
#   team=ads     gpt-4o-mini  2 × (1000 in, 200 out)  2 ×   270,000
#   (untagged)   claude-3-5-sonnet-20241022 1 × (100 in, 10 out)  450,000
set -u
: "${B:?set B to the build dir}" "${SRC:?set SRC to the repo root}"
. "$(dirname "$0")/cli_common.inc"
export HOME=$T/home XDG_STATE_HOME=$T/xdg TOLLGATE_SPOOL_DIR=$T/spool
export TOLLGATE_SOCKET=$T/d.sock
CTL=$B/tollctl
RU=$B/tests/progs/report_usage

start_tollgated

$CTL run --tags team=search -- "$RU" openai gpt-4o 1000 200 3 >/dev/null 2>&1 || fail run1
$CTL run --tags team=ads -- "$RU" openai gpt-4o-mini 1000 200 2 >/dev/null 2>&1 || fail run2
$CTL run -- "$RU" anthropic claude-3-5-sonnet-20241022 100 10 1 >/dev/null 2>&1 || fail run3

$CTL report --since 1h >"$T/table" || fail "report table"
diff -u - "$T/table" <<'EOF2' || fail "table differs"
model                       requests  input  output  cached    cost $  $/1k tok  GPU s
gpt-4o                             3   3000     600       0  0.013500  0.003750    0.0
gpt-4o-mini                        2   2000     400       0  0.000540  0.000225    0.0
claude-3-5-sonnet-20241022         1    100      10       0  0.000450  0.004091    0.0
total                              6   5100    1010       0  0.014490  0.002372    0.0
untagged: 3.1%
EOF2

$CTL rep --by tag:team --format csv --since "$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)" \
	>"$T/csv" || fail "report csv"
diff -u - "$T/csv" <<'EOF2' || fail "csv differs"
team,requests,input_tokens,output_tokens,cached_tokens,cache_write_tokens,reasoning_tokens,estimated_requests,refused_requests,gpu_launches,gpu_busy_seconds,gpu_held_seconds,gpu_mem_peak_bytes,cost_usd,cost_per_1k_tokens,cost_nano_usd
search,3,3000,600,0,0,0,0,0,0,0,0,0,0.013500000,0.003750000,13500000
ads,2,2000,400,0,0,0,0,0,0,0,0,0,0.000540000,0.000225000,540000
(untagged),1,100,10,0,0,0,0,0,0,0,0,0,0.000450000,0.004090909,450000
EOF2

$CTL report --by provider --format json --since 30m >"$T/json" || fail "report json"
[ "$(head -n 2 "$T/json")" = $'{\n  "schema_version": 1,' ] || fail "json not pretty: $(head -n 3 "$T/json")"
python3 - "$T/json" <<'PY' || fail "json: $(cat "$T/json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["by"] == "provider"
rows = [(r["provider"], r["requests"], r["input_tokens"], r["output_tokens"],
         r["cost_nano_usd"]) for r in d["rows"]]
assert rows == [("openai", 5, 5000, 1000, 14040000),
                ("anthropic", 1, 100, 10, 450000)], rows
t = d["totals"]
assert (t["requests"], t["cost_nano_usd"]) == (6, 14490000), t
assert abs(d["untagged_cost_share"] - 450000 / 14490000) < 1e-12
PY

# a window before the runs has nothing
$CTL report --since 2020-01-01 --until 2020-01-02T00:00:00Z --format csv >"$T/empty" ||
	fail "report empty"
[ "$(wc -l <"$T/empty")" = 1 ] || fail "empty window: $(cat "$T/empty")"

# status: versions of both sides; json parses
$CTL status >"$T/status" || fail status
grep -qx 'protocol: tollctl 3, daemon 3' "$T/status" || fail "status: $(cat "$T/status")"
grep -qx 'ledger.records: 6' "$T/status" || fail "status records: $(cat "$T/status")"
$CTL status --format json | python3 -c 'import json,sys
d=json.load(sys.stdin); assert d["tollctl_protocol_version"] == 3, d' || fail "status json"

# top --once, both formats
$CTL top --once --format json | python3 -c 'import json,sys; json.load(sys.stdin)' ||
	fail "top json"
$CTL top --once >"$T/top" || fail "top table"
grep -q '^tollgate top ' "$T/top" || fail "top: $(cat "$T/top")"
# Regression "report --by tag:NAME rejected keys that run --tags accepts":
# : / @ + in a tag key, in the CLI and in the daemon
$CTL run --tags ci:job/id@x+y=build.7 -- "$RU" openai gpt-4o 10 0 1 >/dev/null 2>&1 ||
	fail run4
$CTL report --since 1h --by 'tag:ci:job/id@x+y' --format csv >"$T/tagkey" ||
	fail "tag key with : / @ +"
grep -qx 'build.7,1,10,0,0,0,0,0,0,0,0,0,0,0.000025000,0.002500000,25000' \
	"$T/tagkey" || fail "tag key row: $(cat "$T/tagkey")"
# Regression "report --until": --until alone means 7 days before it to it
# (not 7 days before now), and 1970-01-01 is not "now"
$CTL report --until 2020-01-08 --format json >"$T/u1" || fail "--until alone"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
assert (d["since"], d["until"]) == ("2020-01-01T00:00:00Z", "2020-01-08T00:00:00Z"), d
assert d["totals"]["requests"] == 0, d["totals"]' "$T/u1" || fail "--until alone: $(head -c 300 "$T/u1")"
$CTL report --until 1970-01-01 2>"$T/u2"
rc=$?
[ $rc = 1 ] || fail "--until 1970-01-01: exit $rc"
[ "$(cat "$T/u2")" = "tollctl report: --until '1970-01-01': nothing can be recorded before it (the ledger starts at 1970-01-01)" ] ||
	fail "--until 1970-01-01: $(cat "$T/u2")"
$CTL report --since 2025-01-02 --until 2025-01-01 2>"$T/u4"
[ "$(cat "$T/u4")" = "tollctl report: --until '2025-01-01' must be later than --since '2025-01-02'" ] ||
	fail "until < since: $(cat "$T/u4")"
# Regression "report --since/--until overflow past 2262"
$CTL report --until 2262-04-12 2>"$T/u5"
rc=$?
[ $rc = 1 ] || fail "2262: exit $rc"
[ "$(cat "$T/u5")" = "tollctl report: --until: '2262-04-12' is after 2262-04-11T23:47:16Z, the latest time the ledger can hold" ] ||
	fail "2262: $(cat "$T/u5")"
$CTL report --since 2020-01-01 --until 2262-04-11T23:47:16Z --format csv >/dev/null ||
	fail "--until 2262-04-11T23:47:16Z refused"
echo "cli_report: ok"
