/*
 * test_cuda_abi.c — lib/cuda_abi.h declares the driver API as cuda.h does.
 *
 * This file is compiled twice. With TG_CUDA_ABI_CHECK (a Makefile rule,
 * where /usr/local/cuda/include/cuda.h exists) it includes cuda.h — with
 * __CUDA_API_VERSION_INTERNAL, so that the _ptsz and older versioned names
 * are declared too — and cuda_abi.h's function list only: every function
 * is assigned to our pointer type under -Werror=incompatible-pointer-types,
 * so a prototype that differs does not compile, and cuda.h's sizes,
 * alignments, offsets and constant values are recorded in a table. The
 * plain build is the test: it computes the same table from our own
 * declarations and compares; without cuda.h it says so and skips that
 * comparison, and checks what needs no cuda.h.
 */
#ifdef TG_CUDA_ABI_CHECK
#include <cuda.h>
#endif
#include <stddef.h>
#include <stdint.h>

#include "cuda_abi.h"

struct tg_abi_fact {
	const char *what;
	long long value;
};

/* Types: size and alignment. */
#define ABI_TYPES(X) \
	X(CUresult) X(CUdevice) X(CUdeviceptr) X(CUmemGenericAllocationHandle) \
	X(cuuint32_t) X(cuuint64_t) X(CUcontext) X(CUmodule) X(CUfunction) \
	X(CUkernel) X(CUevent) X(CUstream) X(CUgraph) X(CUgraphNode) \
	X(CUgraphExec) X(CUmemoryPool) X(CUuuid) X(CUstream_flags) \
	X(CUevent_flags) X(CUmemAttach_flags) X(CUstreamCaptureStatus) \
	X(CUstreamCaptureMode) X(CUgraphNodeType) X(CUgraphInstantiateResult) \
	X(CUgraphInstantiate_flags) X(CUgraphExecUpdateResult) \
	X(CUdriverProcAddress_flags) X(CUdriverProcAddressQueryResult) \
	X(CUmemLocationType) X(CUmemAllocationType) \
	X(CUmemAllocationHandleType) X(CUmemLocation) X(CUmemAllocationProp) \
	X(CUlaunchAttributeID) X(CUaccessProperty) X(CUaccessPolicyWindow) \
	X(CUlaunchAttributeValue) X(CUlaunchAttribute) X(CUlaunchConfig) \
	X(CUDA_KERNEL_NODE_PARAMS_v1) X(CUDA_KERNEL_NODE_PARAMS_v2) \
	X(CUDA_KERNEL_NODE_PARAMS) X(CUDA_GRAPH_INSTANTIATE_PARAMS) \
	X(CUgraphExecUpdateResultInfo) X(CUexecAffinityType) \
	X(CUexecAffinitySmCount) X(CUexecAffinityParam) X(CUcigDataType) \
	X(CUctxCigParam) X(CUctxCreateParams)

/* Integer types and enums: signedness. */
#define ABI_SIGNS(X) \
	X(CUresult) X(CUdevice) X(CUdeviceptr) X(CUmemGenericAllocationHandle) \
	X(CUstreamCaptureMode) X(CUstreamCaptureStatus) X(CUgraphNodeType) \
	X(CUmemLocationType) X(CUlaunchAttributeID) X(CUdriverProcAddressQueryResult)

/* Struct members: offset and size. */
#define ABI_MEMBERS(X) \
	X(CUuuid, bytes) \
	X(CUmemLocation, type) X(CUmemLocation, id) \
	X(CUmemAllocationProp, type) X(CUmemAllocationProp, requestedHandleTypes) \
	X(CUmemAllocationProp, location) \
	X(CUmemAllocationProp, win32HandleMetaData) \
	X(CUmemAllocationProp, allocFlags) \
	X(CUmemAllocationProp, allocFlags.compressionType) \
	X(CUmemAllocationProp, allocFlags.gpuDirectRDMACapable) \
	X(CUmemAllocationProp, allocFlags.usage) \
	X(CUmemAllocationProp, allocFlags.reserved) \
	X(CUaccessPolicyWindow, base_ptr) X(CUaccessPolicyWindow, num_bytes) \
	X(CUaccessPolicyWindow, hitRatio) X(CUaccessPolicyWindow, hitProp) \
	X(CUaccessPolicyWindow, missProp) \
	X(CUlaunchAttributeValue, pad) \
	X(CUlaunchAttributeValue, accessPolicyWindow) \
	X(CUlaunchAttributeValue, cooperative) \
	X(CUlaunchAttributeValue, clusterDim) \
	X(CUlaunchAttributeValue, clusterDim.x) \
	X(CUlaunchAttributeValue, clusterDim.y) \
	X(CUlaunchAttributeValue, clusterDim.z) \
	X(CUlaunchAttributeValue, priority) \
	X(CUlaunchAttribute, id) X(CUlaunchAttribute, pad) \
	X(CUlaunchAttribute, value) \
	X(CUlaunchConfig, gridDimX) X(CUlaunchConfig, gridDimY) \
	X(CUlaunchConfig, gridDimZ) X(CUlaunchConfig, blockDimX) \
	X(CUlaunchConfig, blockDimY) X(CUlaunchConfig, blockDimZ) \
	X(CUlaunchConfig, sharedMemBytes) X(CUlaunchConfig, hStream) \
	X(CUlaunchConfig, attrs) X(CUlaunchConfig, numAttrs) \
	ABI_KERNEL_NODE(X, CUDA_KERNEL_NODE_PARAMS_v1) \
	ABI_KERNEL_NODE(X, CUDA_KERNEL_NODE_PARAMS_v2) \
	X(CUDA_KERNEL_NODE_PARAMS_v2, kern) X(CUDA_KERNEL_NODE_PARAMS_v2, ctx) \
	X(CUDA_GRAPH_INSTANTIATE_PARAMS, flags) \
	X(CUDA_GRAPH_INSTANTIATE_PARAMS, hUploadStream) \
	X(CUDA_GRAPH_INSTANTIATE_PARAMS, hErrNode_out) \
	X(CUDA_GRAPH_INSTANTIATE_PARAMS, result_out) \
	X(CUgraphExecUpdateResultInfo, result) \
	X(CUgraphExecUpdateResultInfo, errorNode) \
	X(CUgraphExecUpdateResultInfo, errorFromNode) \
	X(CUexecAffinitySmCount, val) \
	X(CUexecAffinityParam, type) X(CUexecAffinityParam, param) \
	X(CUexecAffinityParam, param.smCount) \
	X(CUctxCigParam, sharedDataType) X(CUctxCigParam, sharedData) \
	X(CUctxCreateParams, execAffinityParams) \
	X(CUctxCreateParams, numExecAffinityParams) \
	X(CUctxCreateParams, cigParams)
#define ABI_KERNEL_NODE(X, T) \
	X(T, func) X(T, gridDimX) X(T, gridDimY) X(T, gridDimZ) X(T, blockDimX) \
	X(T, blockDimY) X(T, blockDimZ) X(T, sharedMemBytes) \
	X(T, kernelParams) X(T, extra)

/* Constants: every one cuda_abi.h declares. */
#define ABI_CONSTS(X) \
	X(CU_STREAM_LEGACY) X(CU_STREAM_PER_THREAD) X(CU_LAUNCH_PARAM_END) \
	X(CU_LAUNCH_PARAM_BUFFER_POINTER) X(CU_LAUNCH_PARAM_BUFFER_SIZE) \
	X(CUDA_SUCCESS) X(CUDA_ERROR_INVALID_VALUE) X(CUDA_ERROR_OUT_OF_MEMORY) \
	X(CUDA_ERROR_NOT_INITIALIZED) X(CUDA_ERROR_DEINITIALIZED) \
	X(CUDA_ERROR_STUB_LIBRARY) X(CUDA_ERROR_NO_DEVICE) \
	X(CUDA_ERROR_INVALID_DEVICE) X(CUDA_ERROR_INVALID_IMAGE) \
	X(CUDA_ERROR_INVALID_CONTEXT) X(CUDA_ERROR_INVALID_HANDLE) \
	X(CUDA_ERROR_ILLEGAL_STATE) X(CUDA_ERROR_NOT_FOUND) \
	X(CUDA_ERROR_NOT_READY) X(CUDA_ERROR_ILLEGAL_ADDRESS) \
	X(CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES) \
	X(CUDA_ERROR_PRIMARY_CONTEXT_ACTIVE) X(CUDA_ERROR_CONTEXT_IS_DESTROYED) \
	X(CUDA_ERROR_LAUNCH_FAILED) X(CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE) \
	X(CUDA_ERROR_NOT_PERMITTED) X(CUDA_ERROR_NOT_SUPPORTED) \
	X(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED) \
	X(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED) \
	X(CUDA_ERROR_STREAM_CAPTURE_MERGE) X(CUDA_ERROR_STREAM_CAPTURE_UNMATCHED) \
	X(CUDA_ERROR_STREAM_CAPTURE_UNJOINED) \
	X(CUDA_ERROR_STREAM_CAPTURE_ISOLATION) \
	X(CUDA_ERROR_STREAM_CAPTURE_IMPLICIT) X(CUDA_ERROR_CAPTURED_EVENT) \
	X(CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD) X(CUDA_ERROR_TIMEOUT) \
	X(CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE) X(CUDA_ERROR_UNKNOWN) \
	X(CU_STREAM_DEFAULT) X(CU_STREAM_NON_BLOCKING) \
	X(CU_EVENT_DEFAULT) X(CU_EVENT_BLOCKING_SYNC) X(CU_EVENT_DISABLE_TIMING) \
	X(CU_EVENT_INTERPROCESS) \
	X(CU_MEM_ATTACH_GLOBAL) X(CU_MEM_ATTACH_HOST) X(CU_MEM_ATTACH_SINGLE) \
	X(CU_STREAM_CAPTURE_STATUS_NONE) X(CU_STREAM_CAPTURE_STATUS_ACTIVE) \
	X(CU_STREAM_CAPTURE_STATUS_INVALIDATED) \
	X(CU_STREAM_CAPTURE_MODE_GLOBAL) X(CU_STREAM_CAPTURE_MODE_THREAD_LOCAL) \
	X(CU_STREAM_CAPTURE_MODE_RELAXED) \
	X(CU_GRAPH_NODE_TYPE_KERNEL) X(CU_GRAPH_NODE_TYPE_MEMCPY) \
	X(CU_GRAPH_NODE_TYPE_MEMSET) X(CU_GRAPH_NODE_TYPE_HOST) \
	X(CU_GRAPH_NODE_TYPE_GRAPH) X(CU_GRAPH_NODE_TYPE_EMPTY) \
	X(CU_GRAPH_NODE_TYPE_WAIT_EVENT) X(CU_GRAPH_NODE_TYPE_EVENT_RECORD) \
	X(CU_GRAPH_NODE_TYPE_EXT_SEMAS_SIGNAL) X(CU_GRAPH_NODE_TYPE_EXT_SEMAS_WAIT) \
	X(CU_GRAPH_NODE_TYPE_MEM_ALLOC) X(CU_GRAPH_NODE_TYPE_MEM_FREE) \
	X(CU_GRAPH_NODE_TYPE_BATCH_MEM_OP) X(CU_GRAPH_NODE_TYPE_CONDITIONAL) \
	X(CUDA_GRAPH_INSTANTIATE_SUCCESS) X(CUDA_GRAPH_INSTANTIATE_ERROR) \
	X(CUDA_GRAPH_INSTANTIATE_INVALID_STRUCTURE) \
	X(CUDA_GRAPH_INSTANTIATE_NODE_OPERATION_NOT_SUPPORTED) \
	X(CUDA_GRAPH_INSTANTIATE_MULTIPLE_CTXS_NOT_SUPPORTED) \
	X(CUDA_GRAPH_INSTANTIATE_CONDITIONAL_HANDLE_UNUSED) \
	X(CUDA_GRAPH_INSTANTIATE_FLAG_AUTO_FREE_ON_LAUNCH) \
	X(CUDA_GRAPH_INSTANTIATE_FLAG_UPLOAD) \
	X(CUDA_GRAPH_INSTANTIATE_FLAG_DEVICE_LAUNCH) \
	X(CUDA_GRAPH_INSTANTIATE_FLAG_USE_NODE_PRIORITY) \
	X(CU_GRAPH_EXEC_UPDATE_SUCCESS) X(CU_GRAPH_EXEC_UPDATE_ERROR) \
	X(CU_GRAPH_EXEC_UPDATE_ERROR_TOPOLOGY_CHANGED) \
	X(CU_GRAPH_EXEC_UPDATE_ERROR_NODE_TYPE_CHANGED) \
	X(CU_GRAPH_EXEC_UPDATE_ERROR_FUNCTION_CHANGED) \
	X(CU_GRAPH_EXEC_UPDATE_ERROR_PARAMETERS_CHANGED) \
	X(CU_GRAPH_EXEC_UPDATE_ERROR_NOT_SUPPORTED) \
	X(CU_GRAPH_EXEC_UPDATE_ERROR_UNSUPPORTED_FUNCTION_CHANGE) \
	X(CU_GRAPH_EXEC_UPDATE_ERROR_ATTRIBUTES_CHANGED) \
	X(CU_GET_PROC_ADDRESS_DEFAULT) X(CU_GET_PROC_ADDRESS_LEGACY_STREAM) \
	X(CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) \
	X(CU_GET_PROC_ADDRESS_SUCCESS) X(CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND) \
	X(CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT) \
	X(CU_MEM_LOCATION_TYPE_INVALID) X(CU_MEM_LOCATION_TYPE_NONE) \
	X(CU_MEM_LOCATION_TYPE_DEVICE) X(CU_MEM_LOCATION_TYPE_HOST) \
	X(CU_MEM_LOCATION_TYPE_HOST_NUMA) \
	X(CU_MEM_LOCATION_TYPE_HOST_NUMA_CURRENT) X(CU_MEM_LOCATION_TYPE_MAX) \
	X(CU_MEM_ALLOCATION_TYPE_INVALID) X(CU_MEM_ALLOCATION_TYPE_PINNED) \
	X(CU_MEM_ALLOCATION_TYPE_MANAGED) X(CU_MEM_ALLOCATION_TYPE_MAX) \
	X(CU_MEM_HANDLE_TYPE_NONE) X(CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR) \
	X(CU_MEM_HANDLE_TYPE_WIN32) X(CU_MEM_HANDLE_TYPE_WIN32_KMT) \
	X(CU_MEM_HANDLE_TYPE_FABRIC) X(CU_MEM_HANDLE_TYPE_MAX) \
	X(CU_LAUNCH_ATTRIBUTE_IGNORE) X(CU_LAUNCH_ATTRIBUTE_ACCESS_POLICY_WINDOW) \
	X(CU_LAUNCH_ATTRIBUTE_COOPERATIVE) \
	X(CU_LAUNCH_ATTRIBUTE_SYNCHRONIZATION_POLICY) \
	X(CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION) X(CU_LAUNCH_ATTRIBUTE_PRIORITY) \
	X(CU_ACCESS_PROPERTY_NORMAL) X(CU_ACCESS_PROPERTY_STREAMING) \
	X(CU_ACCESS_PROPERTY_PERSISTING) \
	X(CU_EXEC_AFFINITY_TYPE_SM_COUNT) X(CU_EXEC_AFFINITY_TYPE_MAX) \
	X(CIG_DATA_TYPE_D3D12_COMMAND_QUEUE) X(CIG_DATA_TYPE_NV_BLOB)

#define FACT_TYPE(T) { "sizeof(" #T ")", sizeof(T) }, \
	{ "alignof(" #T ")", _Alignof(T) },
#define FACT_SIGN(T) { "signed(" #T ")", !((T)-1 > (T)0) },
#define FACT_MEMBER(T, m) { "offsetof(" #T ", " #m ")", offsetof(T, m) }, \
	{ "sizeof(" #T "." #m ")", sizeof(((T *)0)->m) },
#define FACT_CONST(c) { #c, (long long)(uintptr_t)(c) },
#define ABI_FACTS { ABI_TYPES(FACT_TYPE) ABI_SIGNS(FACT_SIGN) \
	ABI_MEMBERS(FACT_MEMBER) ABI_CONSTS(FACT_CONST) }

#ifdef TG_CUDA_ABI_CHECK

const struct tg_abi_fact tg_abi_facts_cudah[] = ABI_FACTS;
const size_t tg_abi_nfacts_cudah =
    sizeof(tg_abi_facts_cudah) / sizeof(tg_abi_facts_cudah[0]);
const int tg_abi_cuda_version = CUDA_VERSION;

/* Never called: compiling it is the check. */
void
tg_abi_check_prototypes(void)
{
#define ASSIGN(sym, base, ver, pt, params) { tg_pfn_##sym p = sym; (void)p; }
	TG_CU_FUNCS(ASSIGN)
#undef ASSIGN
}

#else /* the test */

#include <stdarg.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

/* From the cuda.h build of this file, when there was a cuda.h. */
extern const struct tg_abi_fact tg_abi_facts_cudah[] __attribute__((weak));
extern const size_t tg_abi_nfacts_cudah __attribute__((weak));
extern const int tg_abi_cuda_version __attribute__((weak));

static const struct tg_abi_fact ours[] = ABI_FACTS;
#define NOURS (sizeof(ours) / sizeof(ours[0]))

static void
test_matches_cuda_h(void **state)
{
	size_t i, bad = 0;

	if (tg_abi_facts_cudah == NULL) {
		printf("skip: no /usr/local/cuda/include/cuda.h at build time: "
		    "cuda_abi.h not compared with it\n");
		skip();
	}
	assert_int_equal(tg_abi_nfacts_cudah, NOURS);
	for (i = 0; i < NOURS; i++) {
		assert_string_equal(tg_abi_facts_cudah[i].what, ours[i].what);
		if (tg_abi_facts_cudah[i].value != ours[i].value) {
			printf("%s: cuda.h %lld, cuda_abi.h %lld\n", ours[i].what,
			    tg_abi_facts_cudah[i].value, ours[i].value);
			bad++;
		}
	}
	printf("cuda.h %d: %zu facts compared, %zu differ; %d prototypes "
	    "compiled against it\n", tg_abi_cuda_version, NOURS, bad,
	    TG_FN_COUNT);
	assert_int_equal(bad, 0);
}

static long long
fact(const char *what)
{
	size_t i;

	for (i = 0; i < NOURS; i++)
		if (strcmp(ours[i].what, what) == 0)
			return ours[i].value;
	fail_msg("no fact %s", what);
	return -1;
}

/* The x86-64 layouts the shim relies on, cuda.h or not. */
static void
test_layouts(void **state)
{
	assert_int_equal(fact("sizeof(CUlaunchConfig)"), 56);
	assert_int_equal(fact("offsetof(CUlaunchConfig, hStream)"), 32);
	assert_int_equal(fact("offsetof(CUlaunchConfig, numAttrs)"), 48);
	assert_int_equal(fact("sizeof(CUlaunchAttributeValue)"), 64);
	assert_int_equal(fact("alignof(CUlaunchAttributeValue)"), 8);
	assert_int_equal(fact("sizeof(CUlaunchAttribute)"), 72);
	assert_int_equal(fact("offsetof(CUlaunchAttribute, value)"), 8);
	assert_int_equal(fact("sizeof(CUmemLocation)"), 8);
	assert_int_equal(fact("sizeof(CUmemAllocationProp)"), 32);
	assert_int_equal(fact("offsetof(CUmemAllocationProp, location)"), 8);
	assert_int_equal(fact("offsetof(CUmemAllocationProp, allocFlags)"), 24);
	assert_int_equal(fact("sizeof(CUDA_KERNEL_NODE_PARAMS_v1)"), 56);
	assert_int_equal(fact("sizeof(CUDA_KERNEL_NODE_PARAMS_v2)"), 72);
	assert_int_equal(fact("offsetof(CUDA_KERNEL_NODE_PARAMS_v2, kernelParams)"),
	    40);
	assert_int_equal(fact("sizeof(CUDA_GRAPH_INSTANTIATE_PARAMS)"), 32);
	assert_int_equal(fact("sizeof(CUgraphExecUpdateResultInfo)"), 24);
	assert_int_equal(fact("sizeof(CUctxCreateParams)"), 24);
	assert_int_equal(fact("sizeof(CUuuid)"), 16);
	assert_int_equal(fact("sizeof(CUresult)"), 4);
	assert_int_equal(fact("sizeof(CUdeviceptr)"), 8);
	assert_int_equal(fact("signed(CUdevice)"), 1);
	assert_int_equal(fact("signed(CUdeviceptr)"), 0);
}

static const struct {
	const char *sym, *base;
	int version, per_thread;
} rows[] = {
#define ROW(sym, base, ver, pt, params) { #sym, #base, ver, pt },
	TG_CU_FUNCS(ROW)
#undef ROW
};

/* Each row names a distinct symbol; _ptsz rows and only they are
 * per-thread; a symbol is its base or the base with a version suffix. */
static void
test_function_rows(void **state)
{
	size_t i, j, n = sizeof(rows) / sizeof(rows[0]), len;

	assert_int_equal(n, TG_FN_COUNT);
	assert_int_equal(TG_FN_COUNT, 91);
	for (i = 0; i < n; i++) {
		len = strlen(rows[i].sym);
		assert_int_equal(rows[i].per_thread,
		    len > 5 && strcmp(rows[i].sym + len - 5, "_ptsz") == 0);
		assert_int_equal(strncmp(rows[i].sym, rows[i].base,
		    strlen(rows[i].base)), 0);
		assert_in_range(rows[i].version, 2000, TG_CUDA_ABI_VERSION);
		for (j = i + 1; j < n; j++)
			assert_string_not_equal(rows[i].sym, rows[j].sym);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matches_cuda_h),
		cmocka_unit_test(test_layouts),
		cmocka_unit_test(test_function_rows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif /* TG_CUDA_ABI_CHECK */
