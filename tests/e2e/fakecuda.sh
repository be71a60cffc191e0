#!/bin/bash
# fakecuda — the fake libcuda.so.1 (tools/fakecuda) on its own, no shim:
# its truth file (FAKECUDA_TRUTH) must equal what the test programs
# (tests/progs/cuda/) say they did — launch counts per path exactly, busy
# time within what the kernels' durations allow (exactly their sum on one
# stream), memory high-water mark exactly, out of memory exactly one byte
# past FAKECUDA_MEM_TOTAL — for every way of finding the functions.
set -u
: "${B:?B must be the build dir}"
P=$B/tests/progs/cuda LIB=$B/fakecuda
for f in "$LIB/libcuda.so.1" "$P/cuda_workload" "$P/cuda_fork" \
    "$P/cuda_threads64" "$P/cuda_semantics"; do
	[ -e "$f" ] || { echo "skip: $f is not built"; exit 77; }
done
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export LD_LIBRARY_PATH=$LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
unset FAKECUDA_TRUTH FAKECUDA_MEM_TOTAL FAKECUDA_NAME FAKECUDA_DEVICES \
    FAKECUDA_DRIVER_VERSION
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# agree NAME PROGRAM-JSON TRUTH-FILE [exact]: the truth says what the
# program did; "exact": busy time is the kernels' summed durations.
agree() {
	python3 - "$@" <<'PY' || fail "$1"
import json, sys
name, prog, truth = sys.argv[1], json.loads(sys.argv[2]), json.load(open(sys.argv[3]))
exact = len(sys.argv) > 4
bad = []
def want(what, got, exp):
    if got != exp:
        bad.append(f"{what}: truth {got}, program {exp}")
paths = dict(prog["launches"], **prog["graph_launches"])
for k, v in truth["launches"].items():
    if k not in ("captured", "graphs_captured"):
        want(k, v, paths.get(k, 0))
        want("calls." + k, truth["calls"].get(k, 0), paths.get(k, 0))
want("captured", truth["launches"]["captured"], prog["captured"])
want("graph kernels", truth["kernels_run"]["graph"], prog["graph_kernels"])
want("kernels run", truth["kernels_run"]["total"], prog["kernels_run"])
want("resolved", prog["resolved"], prog["functions"])
want("mismatched pointers", prog["mismatch"], 0)
dev = truth["devices"][0]
busy, lo, hi = dev["busy_ns"], prog["busy_min_ns"], prog["busy_max_ns"]
if exact:
    want("busy_ns", busy, hi)
elif not lo <= busy <= hi:
    bad.append(f"busy_ns {busy} not in [{lo}, {hi}]")
if not busy <= dev["held_ns"]:
    bad.append(f"held_ns {dev['held_ns']} < busy_ns {busy}")
want("mem_in_use", dev["mem_in_use"], 0)
want("mem_hwm", dev["mem_hwm"], prog["mem_hwm"])
if bad:
    print(name + ":\n  " + "\n  ".join(bad))
    sys.exit(1)
PY
}

W="$P/cuda_workload -n 30 -d 50 -s 1 -k 3 -R 2 -c 4 -a"
for mode in link dlsym default gpa1 gpa2 gpagpa gpagpa1; do
	for pt in "" -P; do
		out=$(FAKECUDA_TRUTH=$T/truth.json $W -r $mode $pt) ||
		    { fail "$mode$pt: exit $?"; continue; }
		agree "$mode$pt" "$out" "$T/truth.json" exact
	done
done

# Four streams at once: 10 kernels of 10 ms each; the overlap counts once.
out=$(FAKECUDA_TRUTH=$T/truth.json $P/cuda_workload -n 40 -d 10000 -s 4 -p k) &&
    agree "4 streams" "$out" "$T/truth.json"
busy=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["devices"][0]["busy_ns"])' "$T/truth.json")
[ "$busy" -ge 100000000 ] && [ "$busy" -le 110000000 ] ||
    fail "4 streams of 100 ms: busy $busy ns, want 100-110 ms"

# The legacy stream (-s 0) and a context of its own (-x).
out=$(FAKECUDA_TRUTH=$T/truth.json $P/cuda_workload -x -n 20 -d 100 -s 0 -k 2 -R 3) &&
    agree "legacy stream" "$out" "$T/truth.json" exact

# Out of memory at the byte past the total; the device's name.
out=$(FAKECUDA_TRUTH=$T/truth.json FAKECUDA_MEM_TOTAL=1000000007 \
    FAKECUDA_NAME="NVIDIA A100-SXM4-40GB" $P/cuda_workload -r gpa2 -n 1 -o)
agree "oom" "$out" "$T/truth.json"
python3 - "$out" "$T/truth.json" <<'PY' || fail "oom or name"
import json, sys
prog, dev = json.loads(sys.argv[1]), json.load(open(sys.argv[2]))["devices"][0]
assert prog["oom_free"] == 1000000007, prog
assert (dev["mem_total"], dev["mem_hwm"], dev["ooms"]) == (1000000007, 1000000007, 2), dev
assert prog["device"] == "NVIDIA A100-SXM4-40GB", prog
PY

# Fork: a child forked before cuInit works; one forked after gets
# CUDA_ERROR_NOT_INITIALIZED (the program checks); each writes its truth.
out=$(FAKECUDA_TRUTH=$T/fork.%p.json $P/cuda_fork -r dlsym -n 7 -d 20) ||
    fail "cuda_fork: exit $?"
python3 - "$out" "$T" <<'PY' || fail "fork truths"
import json, sys
for line in sys.argv[1].splitlines():
    p = json.loads(line)
    t = json.load(open(f"{sys.argv[2]}/fork.{p['pid']}.json"))
    assert t["launches"]["cuLaunchKernel"] == p["cuLaunchKernel"], (p, t)
    assert t["fork_child"] == (p["who"] != "parent"), (p, t)
    if p["who"] == "after_init":
        assert t["calls"] == {"cuInit": 1, "cuCtxSynchronize": 1,
                              "cuLaunchKernel": 1}, t
    else:
        assert t["devices"][0]["busy_ns"] == p["cuLaunchKernel"] * 20000, t
PY
[ "$(ls "$T"/fork.*.json | wc -l)" = 3 ] || fail "want 3 fork truth files"

# 64 threads launching at once, half on per-thread default streams.
for mode in link gpa2; do
	out=$(FAKECUDA_TRUTH=$T/truth.json $P/cuda_threads64 -r $mode -n 300 -d 20) ||
	    { fail "threads $mode: exit $?"; continue; }
	python3 - "$out" "$T/truth.json" <<'PY' || fail "threads $mode"
import json, sys
prog, t = json.loads(sys.argv[1]), json.load(open(sys.argv[2]))
for k, v in prog["launches"].items():
    assert t["launches"][k] == v and t["calls"][k] == v, (k, v, t["launches"])
assert t["kernels_run"]["total"] == 64 * 300, t["kernels_run"]
busy = t["devices"][0]["busy_ns"]
assert prog["busy_min_ns"] <= busy <= prog["busy_max_ns"], (busy, prog)
PY
done

# Every rule the README states, one check each.
out=$($P/cuda_semantics 2>&1)
[ "$out" = ok ] || fail "cuda_semantics: $out"

# Only the cu* API is exported: the 91 functions of lib/cuda_abi.h.
syms=$(nm -D --defined-only "$LIB/libcuda.so.1" | awk '{print $3}')
[ "$(echo "$syms" | grep -vc '^cu')" = 0 ] || fail "exports other than cu*"
[ "$(echo "$syms" | grep -c '^cu')" = 91 ] || fail "not 91 cu* exports"
[ "$(readelf -d "$LIB/libcuda.so.1" | grep -c 'Library soname: \[libcuda.so.1\]')" = 1 ] ||
    fail "soname"

# The no-op launch the shim's overhead is measured against stays cheap (a
# bound far above its cost: it fails on a syscall or a lock per launch).
ns=$($P/cuda_workload -b 200000 | python3 -c 'import json,sys; print(json.load(sys.stdin)["ns_per_noop_launch"])')
echo "no-op cuLaunchKernel: $ns ns"
python3 -c "import sys; sys.exit(0 if $ns < 500 else 1)" || fail "no-op launch $ns ns"

[ "$fails" = 0 ] && echo "fakecuda: all passed"
[ "$fails" = 0 ]
