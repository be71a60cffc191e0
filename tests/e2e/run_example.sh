#!/bin/bash
# run_example.sh — `make run`'s example (tools/run-example) exits 0 and its
# report has the exact totals of example_agent's five requests:
#   gpt-4o      4500 in, 430 out  → 15,550,000 nano-USD
#   gpt-4o-mini 1750 in, 160 out  →    358,500
#   claude-3-5-sonnet-20241022 2400 in (2000 cached), 900 out → 15,300,000
# total 31,208,500 nano-USD = $0.031209 (6 decimals, half up).
set -u
: "${B:?set B to the build dir}" "${SRC:?set SRC to the repo root}"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; cat "$T/out" "$T/err"; exit 1; }

"$SRC/tools/run-example" >"$T/out" 2>"$T/err" || fail "exit $?"
grep -qx 'total                              5   8650    1490    2000  0.031209  0.003078    0.0' \
	"$T/out" || fail "total line"
grep -qx 'gpt-4o-mini                        2   1750     160       0  0.000359  0.000188    0.0' \
	"$T/out" || fail "gpt-4o-mini line"
grep -qx 'tollctl run: 5 requests, tokens in 8650 / out 1490, cost $0.031209, budget none, refused 0' \
	"$T/err" || fail "run summary"
grep -q 'HTTP hooks' "$T/out" || fail "the example must say the HTTP hooks come later"
echo "run_example: ok"
