#!/bin/bash
# tests/gpu/run.sh — tollgate's CUDA metering on a real GPU (issue 5, "On a
# real GPU"). Run from the repo root on a GPU machine where nothing can be
# installed (it has the NVIDIA driver, CUDA with nvcc, PyTorch); build/ is
# built elsewhere and carried:
#
#   on the build machine:  make && tests/gpu/run.sh --pack
#                          (copies the shared libraries the three binaries
#                          need, glibc's aside, into build/gpulibs)
#   carry:                 build/libtollgate.so build/tollgated build/tollctl
#                          build/gpulibs
#   on the GPU machine:    tests/gpu/run.sh        (under 5 minutes)
#
# Step 1 checks within seconds that the binaries load — ldd finds every
# library (a missing one is taken from build/gpulibs, only that one) and
# the shim preloads into /bin/true — else one line and exit 2. Then, with
# a private tollgated, under LD_PRELOAD of the shim:
#   - a cudart program built here with nvcc: a loop of kernels that spin a
#     known time, a cuBLAS SGEMM loop, a CUDA graph (stream capture)
#     replayed; each phase timed by its own CUDA events;
#   - a PyTorch bf16 matmul loop, eager and replayed as a torch.cuda graph.
# Each program reads the shim's counters page (lib/page.h, layout 2: its
# memfd "tollgate-counters" in /proc/self/maps) after each phase, once the
# GPU is idle and the shim has published (400 ms), so every phase has its
# own metered launches and busy time. The table compares them with the
# program's own count (exact for our kernels and graphs; per call for
# cuBLAS and matmul, whose kernels per call are the library's choice: the
# metered figure per call must be a whole number), busy time with the
# CUDA-event totals, and the memory high-water mark with what the program
# allocated (cudart) or torch.cuda.max_memory_reserved(); then each
# process's ledger records against its page. The fake driver is not used.
# Exit 0 when everything ran (the table is for a person to read), 1 when a
# program failed, 2 when the binaries do not load.
set -u
cd "$(dirname "$0")/../.." || exit 2
B=$(cd "${B:-build}" 2>/dev/null && pwd) || { echo "run.sh: no build/ here: carry it from the build machine"; exit 2; }

pack() {
	mkdir -p "$B/gpulibs"
	ldd "$B/libtollgate.so" "$B/tollgated" "$B/tollctl" |
		awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u |
		grep -v -E '/(libc|libm|libdl|librt|libpthread|ld-linux[^/]*)\.so' |
		while read -r lib; do cp -L "$lib" "$B/gpulibs/"; done
	echo "$B/gpulibs: $(ls "$B/gpulibs" | tr "\n" " ")"
}
[ "${1:-}" = --pack ] && { pack; exit 0; }

T=$(mktemp -d)
DPID=
cleanup() {
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

# ---- step 1: the binaries load (seconds) --------------------------------------
BINS="$B/libtollgate.so $B/tollgated $B/tollctl"
not_found() { ldd $BINS 2>&1 | awk '/not found/ { print $1 }' | sort -u; }
for f in $BINS; do
	[ -e "$f" ] || { echo "run.sh: $f is missing: build it and carry build/ here"; exit 2; }
done
mkdir "$T/libs"
for lib in $(not_found); do
	[ -e "$B/gpulibs/$lib" ] && ln -s "$B/gpulibs/$lib" "$T/libs/$lib"
done
export LD_LIBRARY_PATH=$T/libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
missing=$(not_found | tr '\n' ' ')
[ -z "$missing" ] || { echo "run.sh: cannot load build/: ${missing}not found (run tests/gpu/run.sh --pack where it was built, carry build/gpulibs)"; exit 2; }
err=$(LD_PRELOAD=$B/libtollgate.so timeout 5 /bin/true 2>&1) ||
	{ echo "run.sh: the shim does not load: $(echo "$err" | head -n 1)"; exit 2; }
echo "step 1: build/ loads (libraries taken from build/gpulibs: $(ls "$T/libs" | wc -l))"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null |
	sed 's/^/GPU: /'

# ---- a private daemon ---------------------------------------------------------
export TOLLGATE_SOCKET=$T/sock TOLLGATE_SPOOL_DIR=$T/spool
unset TOLLGATE_MODE TOLLGATE_TAGS TOLLGATE_RUN
"$B/tollgated" --socket "$T/sock" --state-dir "$T/state" --http off \
	--prices policies/prices.json 2>"$T/daemon.log" &
DPID=$!
for _ in $(seq 100); do [ -S "$T/sock" ] && break; sleep 0.05; done
[ -S "$T/sock" ] || { echo "run.sh: tollgated did not start:"; cat "$T/daemon.log"; exit 1; }
shimmed() { LD_PRELOAD=$B/libtollgate.so timeout 120 "$@"; }
status=0

# ---- the cudart program -------------------------------------------------------
cat >"$T/tg_gpu_prog.cu" <<'CU'
// Phases timed by CUDA events; after each, what the shim's counters page
// says (lib/page.h layout 2, 8-byte words: 0 version, 1 gpu_launches,
// 2 gpu_busy_ns, 5 gpu_mem_peak_bytes). One JSON line per phase.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#define CK(x) do { cudaError_t e_ = (x); if (e_ != cudaSuccess) { \
	fprintf(stderr, "FAIL %s: %s\n", #x, cudaGetErrorString(e_)); exit(1); } } while (0)
#define CB(x) do { if ((x) != CUBLAS_STATUS_SUCCESS) { \
	fprintf(stderr, "FAIL %s\n", #x); exit(1); } } while (0)

static const volatile uint64_t *page;

static void find_page() {
	char line[512];
	unsigned long lo;
	FILE *f = fopen("/proc/self/maps", "r");
	while (f && !page && fgets(line, sizeof(line), f))
		if (strstr(line, "memfd:tollgate-counters") && sscanf(line, "%lx-", &lo) == 1)
			page = (const volatile uint64_t *)lo;
	if (f) fclose(f);
	if (page && (uint32_t)page[0] != 2) page = NULL;  // another layout
}

struct snap { long long launches, busy; };
static snap settle() {  // the GPU idle, the harvest done, the page published
	CK(cudaDeviceSynchronize());
	usleep(400000);
	if (!page) find_page();
	return page ? snap{(long long)page[1], (long long)page[2]} : snap{-1, -1};
}

__global__ void spin(unsigned ns) {  // runs ns nanoseconds by the GPU's clock
	unsigned long long t0, t;
	asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t0));
	do asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t)); while (t - t0 < ns);
}

static void report(const char *phase, long own, const char *unit, snap a, snap b, float ms) {
	printf("{\"phase\":\"%s\",\"own\":%ld,\"unit\":\"%s\",\"metered\":%lld,"
	    "\"event_ns\":%lld,\"busy_ns\":%lld}\n", phase, own, unit,
	    a.launches < 0 ? -1 : b.launches - a.launches, (long long)(ms * 1e6),
	    a.busy < 0 ? -1 : b.busy - a.busy);
	fflush(stdout);
}

int main() {
	const int N = 2000, G = 300, K = 20, R = 50, D = 2048;
	cudaStream_t s;
	cudaEvent_t e0, e1;
	float ms;
	long long own_bytes = 0;

	CK(cudaSetDevice(0));
	CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
	CK(cudaEventCreate(&e0));
	CK(cudaEventCreate(&e1));
	spin<<<1, 32, 0, s>>>(1000);  // module loaded, context warm
	snap a = settle();

	// 1. a kernel loop: N kernels of 50 µs
	CK(cudaEventRecord(e0, s));
	for (int i = 0; i < N; i++) spin<<<1, 32, 0, s>>>(50000);
	CK(cudaEventRecord(e1, s));
	snap b = settle();
	CK(cudaEventElapsedTime(&ms, e0, e1));
	report("cudart kernel loop", N, "kernels", a, b, ms);

	// 2. cuBLAS SGEMM, D x D, G calls (kernels per call: cuBLAS's choice)
	float *A, *Bm, *C, one = 1.0f, zero = 0.0f;
	size_t bytes = sizeof(float) * D * D;
	CK(cudaMalloc(&A, bytes)); CK(cudaMalloc(&Bm, bytes)); CK(cudaMalloc(&C, bytes));
	own_bytes += 3 * (long long)bytes;
	CK(cudaMemset(A, 0, bytes)); CK(cudaMemset(Bm, 0, bytes));
	cublasHandle_t h;
	CB(cublasCreate(&h));
	CB(cublasSetStream(h, s));
	CB(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, D, D, D, &one, A, D, Bm, D, &zero, C, D));
	a = settle();
	CK(cudaEventRecord(e0, s));
	for (int i = 0; i < G; i++)
		CB(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, D, D, D, &one, A, D, Bm, D, &zero, C, D));
	CK(cudaEventRecord(e1, s));
	b = settle();
	CK(cudaEventElapsedTime(&ms, e0, e1));
	report("cuBLAS SGEMM loop", G, "calls", a, b, ms);

	// 3. a CUDA graph: K kernels of 20 µs captured, replayed R times
	cudaGraph_t g;
	cudaGraphExec_t x;
	CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
	for (int i = 0; i < K; i++) spin<<<1, 32, 0, s>>>(20000);
	CK(cudaStreamEndCapture(s, &g));
	CK(cudaGraphInstantiate(&x, g, 0));
	a = settle();
	CK(cudaEventRecord(e0, s));
	for (int i = 0; i < R; i++) CK(cudaGraphLaunch(x, s));
	CK(cudaEventRecord(e1, s));
	b = settle();
	CK(cudaEventElapsedTime(&ms, e0, e1));
	report("cudart graph replays", (long)K * R, "kernels", a, b, ms);

	b = settle();
	printf("{\"phase\":\"end\",\"pid\":%d,\"launches\":%lld,\"busy_ns\":%lld,"
	    "\"mem_peak\":%lld,\"own_bytes\":%lld,\"own_what\":\"its cudaMallocs\"}\n",
	    (int)getpid(), b.launches, b.busy, page ? (long long)page[5] : -1LL, own_bytes);
	CK(cudaGraphExecDestroy(x)); CK(cudaGraphDestroy(g));
	CB(cublasDestroy(h));
	CK(cudaFree(A)); CK(cudaFree(Bm)); CK(cudaFree(C));
	return 0;
}
CU
if command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ]; then
	NVCC=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
	# the toolkit's own lib64 as rpath: cuBLAS is found without ld.so.conf
	link=(-lcublas -Xlinker "-rpath=$(dirname "$(dirname "$NVCC")")/lib64")
	if "$NVCC" -O2 -arch=native -o "$T/tg_gpu_prog" "$T/tg_gpu_prog.cu" "${link[@]}" 2>"$T/nvcc.err" ||
	    "$NVCC" -O2 -arch=sm_90 -o "$T/tg_gpu_prog" "$T/tg_gpu_prog.cu" "${link[@]}" 2>"$T/nvcc.err"; then
		shimmed "$T/tg_gpu_prog" >"$T/cudart.json" 2>"$T/cudart.err" ||
			{ echo "cudart program: exit $?: $(tail -n 3 "$T/cudart.err")"; status=1; }
	else
		echo "nvcc failed:"; tail -n 5 "$T/nvcc.err"; status=1
	fi
else
	echo "no nvcc: the cudart program is skipped"
fi

# ---- PyTorch --------------------------------------------------------------------
cat >"$T/tg_torch.py" <<'PY'
# A bf16 matmul loop, eager then replayed as a CUDA graph; after each
# phase, what the shim's counters page says (see tg_gpu_prog.cu).
import ctypes, json, os, time
import torch

def find_page():
    for line in open("/proc/self/maps"):
        if "memfd:tollgate-counters" in line:
            w = (ctypes.c_uint64 * 6).from_address(int(line.split("-")[0], 16))
            return w if w[0] & 0xFFFFFFFF == 2 else None
    return None

page = None
def settle():
    global page
    torch.cuda.synchronize()
    time.sleep(0.4)
    page = page or find_page()
    return (page[1], page[2]) if page else (-1, -1)

def report(phase, own, unit, a, b, ms):
    print(json.dumps({"phase": phase, "own": own, "unit": unit,
                      "metered": -1 if a[0] < 0 else b[0] - a[0],
                      "event_ns": int(ms * 1e6),
                      "busy_ns": -1 if a[1] < 0 else b[1] - a[1]}), flush=True)

N, K, R, D = 300, 10, 30, 4096
x = torch.randn(D, D, device="cuda", dtype=torch.bfloat16)
y = torch.randn(D, D, device="cuda", dtype=torch.bfloat16)
z = torch.empty(D, D, device="cuda", dtype=torch.bfloat16)
e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
for _ in range(10):                       # cuBLAS warmed up, workspace made
    torch.mm(x, y, out=z)
a = settle()
e0.record()
for _ in range(N):
    torch.mm(x, y, out=z)
e1.record()
b = settle()
report("torch eager matmul", N, "calls", a, b, e0.elapsed_time(e1))

s = torch.cuda.Stream()                   # warm-up on a side stream, as the docs ask
s.wait_stream(torch.cuda.current_stream())
with torch.cuda.stream(s):
    for _ in range(3):
        torch.mm(x, y, out=z)
torch.cuda.current_stream().wait_stream(s)
g = torch.cuda.CUDAGraph()
with torch.cuda.graph(g):
    for _ in range(K):
        torch.mm(x, y, out=z)
a = settle()
e0.record()
for _ in range(R):
    g.replay()
e1.record()
b = settle()
report("torch CUDA graph replays", K * R, "calls", a, b, e0.elapsed_time(e1))

b = settle()
print(json.dumps({"phase": "end", "pid": os.getpid(), "launches": b[0], "busy_ns": b[1],
                  "mem_peak": page[5] if page else -1,
                  "own_bytes": torch.cuda.max_memory_reserved(),
                  "own_what": "torch.cuda.max_memory_reserved()"}), flush=True)
PY
PYTHON=$(command -v python3 || command -v python)
if [ -n "$PYTHON" ] && "$PYTHON" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
	shimmed "$PYTHON" "$T/tg_torch.py" >"$T/torch.json" 2>"$T/torch.err" ||
		{ echo "torch program: exit $?: $(tail -n 3 "$T/torch.err")"; status=1; }
else
	echo "no PyTorch with CUDA: the torch loop is skipped"
fi

# ---- the table --------------------------------------------------------------------
sleep 0.5 # the daemon records a process when its registration ends
"${PYTHON:-python3}" - "$T" <<'PY'
import glob, json, os, sqlite3, sys, time
t = sys.argv[1]
def pct(m, o):
    return f"{100.0 * (m - o) / o:+.1f}%" if o > 0 and m >= 0 else "-"
def mib(v):
    return f"{v / 2**20:.1f} MiB" if v >= 0 else "-"
rows, ends = [], []
for f in ("cudart.json", "torch.json"):
    p = os.path.join(t, f)
    if os.path.exists(p):
        for line in open(p):
            d = json.loads(line)
            (ends if d["phase"] == "end" else rows).append(d)
print()
print(f"{'phase':26} {'own count':>14} {'metered':>9} {'per unit':>9} | "
      f"{'busy (events)':>13} {'busy metered':>12} {'diff':>7}")
for r in rows:
    per = f"{r['metered'] / r['own']:.3f}" if r["metered"] >= 0 else "-"
    print(f"{r['phase']:26} {str(r['own']) + ' ' + r['unit']:>14} {r['metered']:>9} {per:>9} | "
          f"{r['event_ns'] / 1e6:>10.2f} ms {r['busy_ns'] / 1e6:>9.2f} ms {pct(r['busy_ns'], r['event_ns']):>7}")
print()
db = os.path.join(t, "state", "ledger.db")
for e in ends:
    print(f"memory high-water, pid {e['pid']}: metered {mib(e['mem_peak'])} vs {e['own_what']} "
          f"{mib(e['own_bytes'])} ({pct(e['mem_peak'], e['own_bytes'])})")
    for _ in range(50):  # its final record: when the daemon saw it exit
        got = sqlite3.connect(db).execute(
            "select count(*), coalesce(sum(gpu_launches), 0), coalesce(sum(gpu_busy_ns), 0), "
            "coalesce(max(gpu_mem_peak_bytes), 0), coalesce(sum(cost_nano_usd), 0), "
            "group_concat(distinct model) from records where kind = 'gpu' and pid = ?",
            (e["pid"],)).fetchone()
        if got[0]:
            break
        time.sleep(0.1)
    print(f"  ledger: {got[0]} record(s), {got[1]} launches (page at the end: {e['launches']}), "
          f"busy {got[2] / 1e6:.1f} ms, peak {mib(got[3])}, model {got[5]}, "
          f"cost {got[4]} nano-USD")
if not rows:
    print("nothing ran")
PY
exit $status
