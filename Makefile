# tollgate — see README.md. Everything builds into build/.
# Each folder's .c files are picked up by wildcard: add a file, it builds.

CC      ?= cc
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -D_GNU_SOURCE \
           -fno-strict-aliasing -Ilib -Ipreload -Ictl/daemon -Ictl/cli -Ibpf
PKGS    := jansson sqlite3 libmicrohttpd zlib libbrotlidec libzstd libnghttp2 \
           libbpf libelf
# Content-Encoding decoders of the LLM parser (lib/llm_decode.c) and its
# HPACK inflater (lib/llm_h2.c), which the shim links too; the brotli
# encoder only compresses unit-test data.
DECODE_LIBS := $(shell pkg-config --libs zlib libbrotlidec libzstd libnghttp2 2>/dev/null)
BROTLIENC_LIBS := $(shell pkg-config --libs libbrotlienc 2>/dev/null)
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) cmocka 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)
PREFIX  ?= /usr/local
B       := build

LIB_SRC    := $(wildcard lib/*.c)
SHIM_SRC   := $(wildcard preload/*.c)
# bpf/x.c: the daemon's loaders of the eBPF programs bpf/x.bpf.c
BPF_PROG_SRC := $(wildcard bpf/*.bpf.c)
BPF_LOADER_SRC := $(filter-out $(BPF_PROG_SRC),$(wildcard bpf/*.c))
DAEMON_SRC := $(wildcard ctl/daemon/*.c) $(BPF_LOADER_SRC)
CLI_SRC    := $(wildcard ctl/cli/*.c)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
PROG_SRC   := $(wildcard tests/progs/*.c)
TOOL_SRC   := $(wildcard tools/*.c)

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))

LIB_OBJ    := $(call obj,$(LIB_SRC))
SHIM_OBJ   := $(call obj,$(SHIM_SRC))
DAEMON_OBJ := $(call obj,$(DAEMON_SRC))
CLI_OBJ    := $(call obj,$(CLI_SRC))
UNIT_BIN   := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC))
PROG_BIN   := $(patsubst tests/progs/%.c,$(B)/tests/progs/%,$(PROG_SRC))
TOOL_BIN   := $(patsubst tools/%.c,$(B)/tools/%,$(TOOL_SRC))

.PHONY: all test run bench install deps clean fuzz
all: $(B)/libtollgate.so $(B)/tollgated $(B)/tollctl $(PROG_BIN) $(TOOL_BIN)

# Everything is PIC: lib/ and preload/ objects go into the shared object.
$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -fPIC -MMD -MP -c $< -o $@

$(B)/libtg.a: $(LIB_OBJ)
	@rm -f $@; ar rcs $@ $^
# The libc hooks (preload/hook_*.c) stay out of the archive the unit tests
# link: a test calling write() must get libc's.
HOOK_OBJ   := $(call obj,$(wildcard preload/hook_*.c))
$(B)/libtgshim.a: $(filter-out $(HOOK_OBJ),$(SHIM_OBJ))
	@rm -f $@; ar rcs $@ $^
$(B)/libtgd.a: $(filter-out %/main.o,$(DAEMON_OBJ))
	@rm -f $@; ar rcs $@ $^
$(B)/libtgcli.a: $(filter-out %/main.o,$(CLI_OBJ))
	@rm -f $@; ar rcs $@ $^

# The shim: libc, plus what the LLM usage parser needs (jansson for the
# JSON, the Content-Encoding decoders); no sqlite in other people's
# processes. The version script exports the hooks and nothing else; -z defs:
# a symbol nothing here defines (a libm call) fails the build, not the host.
SHIM_LIBS := $(shell pkg-config --libs jansson 2>/dev/null) $(DECODE_LIBS)
$(B)/libtollgate.so: $(SHIM_OBJ) $(B)/libtg.a preload/exports.map
	$(CC) -shared -o $@ $(SHIM_OBJ) $(B)/libtg.a -Wl,--version-script=preload/exports.map \
	    -Wl,-z,defs -Wl,-z,now -Wl,-z,relro -Wl,-z,nodelete $(SHIM_LIBS) -ldl -lpthread

# Every daemon object, the probes' loaders too (libtgd.a is for the unit
# tests, which take only what they call).
$(B)/tollgated: $(DAEMON_OBJ) $(B)/libtg.a
	$(CC) -o $@ $^ $(PKG_LIBS) -lpthread -lm

$(B)/tollctl: $(B)/obj/ctl/cli/main.o $(B)/libtgcli.a $(B)/libtg.a
	$(CC) -o $@ $^ $(PKG_LIBS) -lpthread -lm

TEST_LIBS := $(B)/libtgd.a $(B)/libtgcli.a $(B)/libtgshim.a $(B)/libtg.a
$(B)/tests/%: tests/unit/%.c $(TEST_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -MF $@.d -o $@ $< $(TEST_LIBS) $(PKG_LIBS) $(BROTLIENC_LIBS) $(CMOCKA_LIBS) -ldl -lpthread -lm

$(B)/tests/progs/%: tests/progs/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -MF $@.d -o $@ $< -ldl -lpthread

$(B)/tools/%: tools/%.c $(B)/libtg.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -o $@ $< $(B)/libtg.a $(PKG_LIBS) -ldl -lpthread -lm

# --- eBPF programs (issue 6) ---
# CO-RE: vmlinux.h from the running kernel's BTF, each bpf/x.bpf.c compiled
# for the BPF target (debug info stripped, BTF kept), its skeleton
# build/bpf/x.skel.h generated for the loader bpf/x.c, which the daemon
# links with libbpf.
BPF_OBJ  := $(patsubst bpf/%.bpf.c,$(B)/bpf/%.bpf.o,$(BPF_PROG_SRC))
BPF_SKEL := $(BPF_OBJ:.bpf.o=.skel.h)
$(B)/bpf/vmlinux.h:
	@mkdir -p $(dir $@)
	bpftool btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@
$(B)/bpf/%.bpf.o: bpf/%.bpf.c bpf/%.h $(B)/bpf/vmlinux.h
	clang -g -O2 -target bpf -D__TARGET_ARCH_x86 -I$(B)/bpf -Ibpf -c $< -o $@
	llvm-strip -g $@
$(B)/bpf/%.skel.h: $(B)/bpf/%.bpf.o
	bpftool gen skeleton $< name $*_bpf > $@.tmp && mv $@.tmp $@
$(call obj,$(BPF_LOADER_SRC)): CFLAGS += -Ibpf -I$(B)/bpf
$(call obj,$(BPF_LOADER_SRC)): $(BPF_SKEL)
# The cudaprobe loader alone, the daemon's calls stubbed: tests/e2e/
# bpf_cuda.sh and the bench (tools/bench_uprobe.sh) drive it.
CUDAPROBE_SRC := $(filter bpf/cudaprobe%,$(BPF_LOADER_SRC))
CUDA_HARNESS  := $(B)/tests/bpf_cuda_harness
$(CUDA_HARNESS): tests/e2e/bpf_cuda_harness.c $(CUDAPROBE_SRC) $(BPF_SKEL) $(B)/libtg.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -I$(B)/bpf $(PKG_CFLAGS) -o $@ $< $(CUDAPROBE_SRC) \
	    $(B)/libtg.a $(PKG_LIBS) -lpthread -lm
all: $(CUDA_HARNESS)
# --- end eBPF ---

# --- fakecuda (issue 5) ---
# A fake libcuda.so.1 for CPU-only tests (tools/fakecuda/README.md), the
# programs that link it (tests/progs/cuda/), and the check that
# lib/cuda_abi.h matches cuda.h where a CUDA toolkit is installed.
FAKECUDA_OBJ := $(call obj,$(wildcard tools/fakecuda/*.c))
FAKECUDA     := $(B)/fakecuda/libcuda.so.1
# nocuda_*.c: a process that never touches CUDA (no libcuda); *_preload.c:
# preload libraries (.so). The others link the fake.
CUDA_NOCUDA_SRC  := $(wildcard tests/progs/cuda/nocuda_*.c)
CUDA_PRELOAD_SRC := $(wildcard tests/progs/cuda/*_preload.c)
CUDA_PROG_BIN := $(patsubst tests/progs/cuda/%.c,$(B)/tests/progs/cuda/%,$(filter-out $(CUDA_NOCUDA_SRC) $(CUDA_PRELOAD_SRC),$(wildcard tests/progs/cuda/*.c)))
CUDA_NOCUDA_BIN  := $(patsubst tests/progs/cuda/%.c,$(B)/tests/progs/cuda/%,$(CUDA_NOCUDA_SRC))
CUDA_PRELOAD_SO  := $(patsubst tests/progs/cuda/%.c,$(B)/tests/progs/cuda/%.so,$(CUDA_PRELOAD_SRC))
all: $(FAKECUDA) $(CUDA_PROG_BIN) $(CUDA_NOCUDA_BIN) $(CUDA_PRELOAD_SO)

$(CUDA_NOCUDA_BIN): $(B)/tests/progs/cuda/%: tests/progs/cuda/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< -ldl
$(CUDA_PRELOAD_SO): $(B)/tests/progs/cuda/%.so: tests/progs/cuda/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -shared -fPIC -o $@ $< -ldl

$(FAKECUDA_OBJ): CFLAGS += -fvisibility=hidden
$(B)/fakecuda/exports.map:
	@mkdir -p $(dir $@)
	printf '{ global: cu*; local: *; };\n' > $@
$(FAKECUDA): $(FAKECUDA_OBJ) $(B)/fakecuda/exports.map
	$(CC) -shared -o $@ $(FAKECUDA_OBJ) -Wl,-soname,libcuda.so.1 \
	    -Wl,--version-script=$(B)/fakecuda/exports.map -Wl,-z,now -lpthread

# No rpath: on a machine with a GPU the same binaries run the real driver.
$(B)/tests/progs/cuda/%: tests/progs/cuda/%.c tests/progs/cuda/cuda_prog.h lib/cuda_abi.h $(FAKECUDA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< -L$(B)/fakecuda -l:libcuda.so.1 -ldl -lpthread

# test_cuda_abi links a second object: the same source compiled against
# cuda.h, where every function of lib/cuda_abi.h is assigned to our pointer
# type (a mismatch does not compile) and cuda.h's sizes and values are
# recorded for the test to compare with ours.
CUDA_H := $(wildcard /usr/local/cuda/include/cuda.h)
ifneq ($(CUDA_H),)
CUDA_ABI_OBJ := $(B)/obj/cudacheck/test_cuda_abi.o
$(CUDA_ABI_OBJ): tests/unit/test_cuda_abi.c lib/cuda_abi.h $(CUDA_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DTG_CUDA_ABI_CHECK -D__CUDA_API_VERSION_INTERNAL \
	    -I$(dir $(CUDA_H)) -Werror=incompatible-pointer-types -c $< -o $@
endif
$(B)/tests/test_cuda_abi: tests/unit/test_cuda_abi.c lib/cuda_abi.h $(CUDA_ABI_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -o $@ $< $(CUDA_ABI_OBJ) $(CMOCKA_LIBS)
# --- end fakecuda ---

deps:
	@tools/install-deps

# make test: install what is missing, build, run every test; the last line
# is "N passed, N failed".
test: deps
	@$(MAKE) --no-print-directory all $(UNIT_BIN)
	@tools/run-tests

run: deps
	@$(MAKE) --no-print-directory all
	@tools/run-example

bench: all
	@tools/bench

# make fuzz (not part of make test): the LLM HTTP parser under libFuzzer
# and ASan/UBSan, for FUZZ_SECONDS; findings land in build/fuzz/.
FUZZ_SECONDS ?= 60
FUZZ_SRC := $(filter lib/llm%.c,$(LIB_SRC))
$(B)/fuzz/fuzz_llm_http: tests/fuzz/fuzz_llm_http.c $(FUZZ_SRC) $(wildcard lib/llm*.h) $(B)/libtg.a
	@mkdir -p $(dir $@)
	clang -g -O1 -std=gnu11 -D_GNU_SOURCE -Ilib $(PKG_CFLAGS) \
	    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	    -o $@ tests/fuzz/fuzz_llm_http.c $(FUZZ_SRC) $(B)/libtg.a $(PKG_LIBS) -lm

fuzz: $(B)/fuzz/fuzz_llm_http
	@mkdir -p $(B)/fuzz/corpus
	cd $(B)/fuzz && ./fuzz_llm_http -max_total_time=$(FUZZ_SECONDS) \
	    -max_len=65536 -dict=$(CURDIR)/tests/fuzz/llm_http.dict \
	    corpus $(CURDIR)/tests/fuzz/seeds

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/share/tollgate
	install -m 755 $(B)/tollgated $(B)/tollctl $(DESTDIR)$(PREFIX)/bin/
	install -m 755 $(B)/libtollgate.so $(DESTDIR)$(PREFIX)/lib/
	install -m 644 policies/prices.json $(DESTDIR)$(PREFIX)/share/tollgate/

clean:
	rm -rf $(B)

-include $(shell find $(B)/obj $(B)/tests -name '*.d' 2>/dev/null)
