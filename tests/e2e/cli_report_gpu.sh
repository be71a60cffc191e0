#!/bin/bash
# cli_report_gpu.sh — regression (issue 5): a report's requests counted
# GPU records, one per device per --gpu-interval, as requests. The data:
#   2 LLM records  testco/test-model 1000 in, 500 out: 2 x 2,000,000 nano-USD
#                  (event time 2023-11-14, so read from the daily rollups)
#   3 GPU records  H100 at $2.99/h, 100 / 200 / 300 launches, held 3600 /
#                  1800 / 1200 s: 2,990,000,000 + 1,495,000,000 +
#                  996,666,667 (half up) nano-USD (now: raw records)
# `tollctl report` shows requests 2, gpu_launches 600, cost_usd with the
# GPU cost; the tokens (the $/1k denominator) are the LLM records' only.
. "$(dirname "$0")/daemon_common.inc"
cat >"$T/prices.json" <<'JSON'
{"schema_version": 1,
 "models": {"test-model": {"provider": "testco", "input_usd_per_mtok": 1,
                           "output_usd_per_mtok": 2}},
 "gpus": {"H100": {"usd_per_hour": 2.99}}}
JSON
start_daemon --http off
CTL="$B/tollctl --socket $SOCK"

out=$(printf 'register team=ml -\nrecord 1 0 testco test-model 1000 500\nrecord 2 0 testco test-model 1000 500\n' | raw)
expect_eq "$(grep -c 'inserted=1' <<<"$out")" 2 "LLM records: $out"
for g in "100 3600000000000" "200 1800000000000" "300 1200000000000"; do
	set -- $g
	"$RAW" "$SOCK" >"$T/out" <<CMDS || fail "GPU client: $(cat "$T/out")"
register team=ml -
gpu 0 0 0 $2 0 0 0 NVIDIA H100 80GB HBM3
launches $1
CMDS
done
for _ in $(seq 200); do
	[ "$(sqlite3 "$DB" "SELECT count(*) FROM records" 2>/dev/null)" = 5 ] && break
	sleep 0.025
done

$CTL report --since 2023-11-14 --format json >"$T/json" || fail "report json"
python3 - "$T/json" <<'PY' || fail "report json: $(cat "$T/json")"
import json, sys
d = json.load(open(sys.argv[1]))
t = d["totals"]
got = (t["requests"], t["gpu_launches"], t["gpu_held_seconds"],
       t["cost_nano_usd"], t["cost_usd"], t["input_tokens"],
       t["output_tokens"], t["unpriced_requests"])
want = (2, 600, 6600.0, 5485666667, 5.485666667, 2000, 1000, 0)
assert got == want, (got, want)
assert t["cost_per_1k_tokens"] == 5485666667 / 1e6 / 3000, t
rows = [(r["model"], r["requests"], r["gpu_launches"], r["cost_nano_usd"],
         r["cost_per_1k_tokens"]) for r in d["rows"]]
want = [("H100", 0, 600, 5481666667, None),
        ("test-model", 2, 0, 4000000, 4000000 / 1e6 / 3000)]
assert rows == want, (rows, want)
PY
$CTL report --since 2023-11-14 --by tag:team --format csv >"$T/csv" || fail "report csv"
diff -u - "$T/csv" <<'EOF2' || fail "csv differs"
team,requests,input_tokens,output_tokens,cached_tokens,cache_write_tokens,reasoning_tokens,estimated_requests,refused_requests,gpu_launches,gpu_busy_seconds,gpu_held_seconds,gpu_mem_peak_bytes,cost_usd,cost_per_1k_tokens,cost_nano_usd
ml,2,2000,1000,0,0,0,0,0,600,0,6600,0,5.485666667,1.828555556,5485666667
EOF2
stop_daemon
echo "ok"
