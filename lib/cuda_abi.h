/*
 * cuda_abi.h — the CUDA driver API as far as tollgate uses it, declared by
 * us: nothing here needs the CUDA toolkit. The shim hooks these functions,
 * tools/fakecuda implements them, the test programs call them.
 *
 * Types and constants carry cuda.h's own names and layouts, so the code
 * reads like any driver-API code; tests/unit/test_cuda_abi.c proves they
 * match cuda.h where /usr/local/cuda/include/cuda.h exists (sizes, offsets,
 * values, and every prototype below assigned to cuda.h's function).
 * Because the names are the same, this header and cuda.h must never meet
 * in one translation unit — except in that test, which defines
 * TG_CUDA_ABI_CHECK: then only the function list and the pointer typedefs
 * are declared, in cuda.h's types.
 *
 * Unlike cuda.h, nothing maps an unversioned name to a versioned one
 * (cuda.h's "#define cuMemAlloc cuMemAlloc_v2"): every name here is the
 * symbol libcuda.so.1 exports, so cuMemAlloc_v2 is called by that name and
 * cuGetProcAddress is the 4-argument v1.
 *
 * Matched against cuda.h of CUDA 13.0 (CUDA_VERSION 13000).
 */
#ifndef TG_CUDA_ABI_H
#define TG_CUDA_ABI_H

#include <stddef.h>
#include <stdint.h>

#define TG_CUDA_ABI_VERSION 13000

#if defined(__cuda_cuda_h__) && !defined(TG_CUDA_ABI_CHECK)
#error "cuda_abi.h declares the driver API itself: do not include cuda.h too"
#endif

#ifndef __cuda_cuda_h__

typedef uint32_t cuuint32_t;
typedef uint64_t cuuint64_t;

typedef unsigned long long CUdeviceptr_v2;
typedef CUdeviceptr_v2 CUdeviceptr;
typedef int CUdevice_v1;
typedef CUdevice_v1 CUdevice;
typedef unsigned long long CUmemGenericAllocationHandle_v1;
typedef CUmemGenericAllocationHandle_v1 CUmemGenericAllocationHandle;

/* Opaque handles. */
typedef struct CUctx_st *CUcontext;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUkern_st *CUkernel;
typedef struct CUevent_st *CUevent;
typedef struct CUstream_st *CUstream;
typedef struct CUgraph_st *CUgraph;
typedef struct CUgraphNode_st *CUgraphNode;
typedef struct CUgraphExec_st *CUgraphExec;
typedef struct CUmemPoolHandle_st *CUmemoryPool;

typedef struct CUuuid_st {
	char bytes[16];
} CUuuid;

/* Special stream handles: any API takes them for the legacy default
 * stream and for the calling thread's per-thread default stream; NULL is
 * one or the other by the function's variant (_ptsz: per-thread). */
#define CU_STREAM_LEGACY     ((CUstream)0x1)
#define CU_STREAM_PER_THREAD ((CUstream)0x2)

/* cuLaunchKernel's extra[]: an argument buffer instead of kernelParams. */
#define CU_LAUNCH_PARAM_END            ((void *)0x00)
#define CU_LAUNCH_PARAM_BUFFER_POINTER ((void *)0x01)
#define CU_LAUNCH_PARAM_BUFFER_SIZE    ((void *)0x02)

/* The result codes tollgate and the fake driver use (cuda.h has more). */
typedef enum cudaError_enum {
	CUDA_SUCCESS = 0,
	CUDA_ERROR_INVALID_VALUE = 1,
	CUDA_ERROR_OUT_OF_MEMORY = 2,
	CUDA_ERROR_NOT_INITIALIZED = 3,
	CUDA_ERROR_DEINITIALIZED = 4,
	CUDA_ERROR_STUB_LIBRARY = 34,
	CUDA_ERROR_NO_DEVICE = 100,
	CUDA_ERROR_INVALID_DEVICE = 101,
	CUDA_ERROR_INVALID_IMAGE = 200,
	CUDA_ERROR_INVALID_CONTEXT = 201,
	CUDA_ERROR_INVALID_HANDLE = 400,
	CUDA_ERROR_ILLEGAL_STATE = 401,
	CUDA_ERROR_NOT_FOUND = 500,
	CUDA_ERROR_NOT_READY = 600,
	CUDA_ERROR_ILLEGAL_ADDRESS = 700,
	CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES = 701,
	CUDA_ERROR_PRIMARY_CONTEXT_ACTIVE = 708,
	CUDA_ERROR_CONTEXT_IS_DESTROYED = 709,
	CUDA_ERROR_LAUNCH_FAILED = 719,
	CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE = 720,
	CUDA_ERROR_NOT_PERMITTED = 800,
	CUDA_ERROR_NOT_SUPPORTED = 801,
	CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED = 900,
	CUDA_ERROR_STREAM_CAPTURE_INVALIDATED = 901,
	CUDA_ERROR_STREAM_CAPTURE_MERGE = 902,
	CUDA_ERROR_STREAM_CAPTURE_UNMATCHED = 903,
	CUDA_ERROR_STREAM_CAPTURE_UNJOINED = 904,
	CUDA_ERROR_STREAM_CAPTURE_ISOLATION = 905,
	CUDA_ERROR_STREAM_CAPTURE_IMPLICIT = 906,
	CUDA_ERROR_CAPTURED_EVENT = 907,
	CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD = 908,
	CUDA_ERROR_TIMEOUT = 909,
	CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE = 910,
	CUDA_ERROR_UNKNOWN = 999
} CUresult;

typedef enum CUstream_flags_enum {
	CU_STREAM_DEFAULT = 0x0,
	CU_STREAM_NON_BLOCKING = 0x1
} CUstream_flags;

typedef enum CUevent_flags_enum {
	CU_EVENT_DEFAULT = 0x0,
	CU_EVENT_BLOCKING_SYNC = 0x1,
	CU_EVENT_DISABLE_TIMING = 0x2,
	CU_EVENT_INTERPROCESS = 0x4
} CUevent_flags;

typedef enum CUmemAttach_flags_enum {
	CU_MEM_ATTACH_GLOBAL = 0x1,
	CU_MEM_ATTACH_HOST = 0x2,
	CU_MEM_ATTACH_SINGLE = 0x4
} CUmemAttach_flags;

typedef enum CUstreamCaptureStatus_enum {
	CU_STREAM_CAPTURE_STATUS_NONE = 0,
	CU_STREAM_CAPTURE_STATUS_ACTIVE = 1,
	CU_STREAM_CAPTURE_STATUS_INVALIDATED = 2
} CUstreamCaptureStatus;

typedef enum CUstreamCaptureMode_enum {
	CU_STREAM_CAPTURE_MODE_GLOBAL = 0,
	CU_STREAM_CAPTURE_MODE_THREAD_LOCAL = 1,
	CU_STREAM_CAPTURE_MODE_RELAXED = 2
} CUstreamCaptureMode;

typedef enum CUgraphNodeType_enum {
	CU_GRAPH_NODE_TYPE_KERNEL = 0,
	CU_GRAPH_NODE_TYPE_MEMCPY = 1,
	CU_GRAPH_NODE_TYPE_MEMSET = 2,
	CU_GRAPH_NODE_TYPE_HOST = 3,
	CU_GRAPH_NODE_TYPE_GRAPH = 4,
	CU_GRAPH_NODE_TYPE_EMPTY = 5,
	CU_GRAPH_NODE_TYPE_WAIT_EVENT = 6,
	CU_GRAPH_NODE_TYPE_EVENT_RECORD = 7,
	CU_GRAPH_NODE_TYPE_EXT_SEMAS_SIGNAL = 8,
	CU_GRAPH_NODE_TYPE_EXT_SEMAS_WAIT = 9,
	CU_GRAPH_NODE_TYPE_MEM_ALLOC = 10,
	CU_GRAPH_NODE_TYPE_MEM_FREE = 11,
	CU_GRAPH_NODE_TYPE_BATCH_MEM_OP = 12,
	CU_GRAPH_NODE_TYPE_CONDITIONAL = 13
} CUgraphNodeType;

typedef enum CUgraphInstantiateResult_enum {
	CUDA_GRAPH_INSTANTIATE_SUCCESS = 0,
	CUDA_GRAPH_INSTANTIATE_ERROR = 1,
	CUDA_GRAPH_INSTANTIATE_INVALID_STRUCTURE = 2,
	CUDA_GRAPH_INSTANTIATE_NODE_OPERATION_NOT_SUPPORTED = 3,
	CUDA_GRAPH_INSTANTIATE_MULTIPLE_CTXS_NOT_SUPPORTED = 4,
	CUDA_GRAPH_INSTANTIATE_CONDITIONAL_HANDLE_UNUSED = 5
} CUgraphInstantiateResult;

typedef enum CUgraphInstantiate_flags_enum {
	CUDA_GRAPH_INSTANTIATE_FLAG_AUTO_FREE_ON_LAUNCH = 1,
	CUDA_GRAPH_INSTANTIATE_FLAG_UPLOAD = 2,
	CUDA_GRAPH_INSTANTIATE_FLAG_DEVICE_LAUNCH = 4,
	CUDA_GRAPH_INSTANTIATE_FLAG_USE_NODE_PRIORITY = 8
} CUgraphInstantiate_flags;

typedef enum CUgraphExecUpdateResult_enum {
	CU_GRAPH_EXEC_UPDATE_SUCCESS = 0x0,
	CU_GRAPH_EXEC_UPDATE_ERROR = 0x1,
	CU_GRAPH_EXEC_UPDATE_ERROR_TOPOLOGY_CHANGED = 0x2,
	CU_GRAPH_EXEC_UPDATE_ERROR_NODE_TYPE_CHANGED = 0x3,
	CU_GRAPH_EXEC_UPDATE_ERROR_FUNCTION_CHANGED = 0x4,
	CU_GRAPH_EXEC_UPDATE_ERROR_PARAMETERS_CHANGED = 0x5,
	CU_GRAPH_EXEC_UPDATE_ERROR_NOT_SUPPORTED = 0x6,
	CU_GRAPH_EXEC_UPDATE_ERROR_UNSUPPORTED_FUNCTION_CHANGE = 0x7,
	CU_GRAPH_EXEC_UPDATE_ERROR_ATTRIBUTES_CHANGED = 0x8
} CUgraphExecUpdateResult;

typedef enum CUdriverProcAddress_flags_enum {
	CU_GET_PROC_ADDRESS_DEFAULT = 0,
	CU_GET_PROC_ADDRESS_LEGACY_STREAM = 1 << 0,
	CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM = 1 << 1
} CUdriverProcAddress_flags;

typedef enum CUdriverProcAddressQueryResult_enum {
	CU_GET_PROC_ADDRESS_SUCCESS = 0,
	CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND = 1,
	CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT = 2
} CUdriverProcAddressQueryResult;

typedef enum CUmemLocationType_enum {
	CU_MEM_LOCATION_TYPE_INVALID = 0x0,
	CU_MEM_LOCATION_TYPE_NONE = 0x0,
	CU_MEM_LOCATION_TYPE_DEVICE = 0x1,
	CU_MEM_LOCATION_TYPE_HOST = 0x2,
	CU_MEM_LOCATION_TYPE_HOST_NUMA = 0x3,
	CU_MEM_LOCATION_TYPE_HOST_NUMA_CURRENT = 0x4,
	CU_MEM_LOCATION_TYPE_MAX = 0x7FFFFFFF
} CUmemLocationType;

typedef enum CUmemAllocationType_enum {
	CU_MEM_ALLOCATION_TYPE_INVALID = 0x0,
	CU_MEM_ALLOCATION_TYPE_PINNED = 0x1,
	CU_MEM_ALLOCATION_TYPE_MANAGED = 0x2,
	CU_MEM_ALLOCATION_TYPE_MAX = 0x7FFFFFFF
} CUmemAllocationType;

typedef enum CUmemAllocationHandleType_enum {
	CU_MEM_HANDLE_TYPE_NONE = 0x0,
	CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR = 0x1,
	CU_MEM_HANDLE_TYPE_WIN32 = 0x2,
	CU_MEM_HANDLE_TYPE_WIN32_KMT = 0x4,
	CU_MEM_HANDLE_TYPE_FABRIC = 0x8,
	CU_MEM_HANDLE_TYPE_MAX = 0x7FFFFFFF
} CUmemAllocationHandleType;

typedef struct CUmemLocation_st {
	CUmemLocationType type;
	int id; /* device ordinal, or host NUMA node */
} CUmemLocation_v1;
typedef CUmemLocation_v1 CUmemLocation;

typedef struct CUmemAllocationProp_st {
	CUmemAllocationType type;
	CUmemAllocationHandleType requestedHandleTypes;
	CUmemLocation location;
	void *win32HandleMetaData;
	struct {
		unsigned char compressionType;
		unsigned char gpuDirectRDMACapable;
		unsigned short usage;
		unsigned char reserved[4];
	} allocFlags;
} CUmemAllocationProp_v1;
typedef CUmemAllocationProp_v1 CUmemAllocationProp;

/* Launch attributes (cuLaunchKernelEx): the value is a 64-byte union;
 * only the members tollgate reads are named. */
typedef enum CUlaunchAttributeID_enum {
	CU_LAUNCH_ATTRIBUTE_IGNORE = 0,
	CU_LAUNCH_ATTRIBUTE_ACCESS_POLICY_WINDOW = 1,
	CU_LAUNCH_ATTRIBUTE_COOPERATIVE = 2,
	CU_LAUNCH_ATTRIBUTE_SYNCHRONIZATION_POLICY = 3,
	CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION = 4,
	CU_LAUNCH_ATTRIBUTE_PRIORITY = 8
} CUlaunchAttributeID;

typedef enum CUaccessProperty_enum {
	CU_ACCESS_PROPERTY_NORMAL = 0,
	CU_ACCESS_PROPERTY_STREAMING = 1,
	CU_ACCESS_PROPERTY_PERSISTING = 2
} CUaccessProperty;

typedef struct CUaccessPolicyWindow_st {
	void *base_ptr;
	size_t num_bytes;
	float hitRatio;
	CUaccessProperty hitProp;
	CUaccessProperty missProp;
} CUaccessPolicyWindow_v1;
typedef CUaccessPolicyWindow_v1 CUaccessPolicyWindow;

typedef union CUlaunchAttributeValue_union {
	char pad[64];
	CUaccessPolicyWindow accessPolicyWindow; /* makes it 8-aligned */
	int cooperative;
	struct {
		unsigned int x;
		unsigned int y;
		unsigned int z;
	} clusterDim;
	int priority;
} CUlaunchAttributeValue;

typedef struct CUlaunchAttribute_st {
	CUlaunchAttributeID id;
	char pad[8 - sizeof(CUlaunchAttributeID)];
	CUlaunchAttributeValue value;
} CUlaunchAttribute;

typedef struct CUlaunchConfig_st {
	unsigned int gridDimX;
	unsigned int gridDimY;
	unsigned int gridDimZ;
	unsigned int blockDimX;
	unsigned int blockDimY;
	unsigned int blockDimZ;
	unsigned int sharedMemBytes;
	CUstream hStream;
	CUlaunchAttribute *attrs;
	unsigned int numAttrs;
} CUlaunchConfig;

/* Graph kernel nodes: v1 for cuGraphAddKernelNode, v2 (the one cuda.h
 * calls CUDA_KERNEL_NODE_PARAMS) for cuGraphAddKernelNode_v2. */
typedef struct CUDA_KERNEL_NODE_PARAMS_st {
	CUfunction func;
	unsigned int gridDimX;
	unsigned int gridDimY;
	unsigned int gridDimZ;
	unsigned int blockDimX;
	unsigned int blockDimY;
	unsigned int blockDimZ;
	unsigned int sharedMemBytes;
	void **kernelParams;
	void **extra;
} CUDA_KERNEL_NODE_PARAMS_v1;

typedef struct CUDA_KERNEL_NODE_PARAMS_v2_st {
	CUfunction func;
	unsigned int gridDimX;
	unsigned int gridDimY;
	unsigned int gridDimZ;
	unsigned int blockDimX;
	unsigned int blockDimY;
	unsigned int blockDimZ;
	unsigned int sharedMemBytes;
	void **kernelParams;
	void **extra;
	CUkernel kern;
	CUcontext ctx;
} CUDA_KERNEL_NODE_PARAMS_v2;
typedef CUDA_KERNEL_NODE_PARAMS_v2 CUDA_KERNEL_NODE_PARAMS;

typedef struct CUDA_GRAPH_INSTANTIATE_PARAMS_st {
	cuuint64_t flags;
	CUstream hUploadStream;
	CUgraphNode hErrNode_out;
	CUgraphInstantiateResult result_out;
} CUDA_GRAPH_INSTANTIATE_PARAMS;

typedef struct CUgraphExecUpdateResultInfo_st {
	CUgraphExecUpdateResult result;
	CUgraphNode errorNode;
	CUgraphNode errorFromNode;
} CUgraphExecUpdateResultInfo_v1;
typedef CUgraphExecUpdateResultInfo_v1 CUgraphExecUpdateResultInfo;

/* Context creation parameters (cuCtxCreate_v3 and _v4). */
typedef enum CUexecAffinityType_enum {
	CU_EXEC_AFFINITY_TYPE_SM_COUNT = 0,
	CU_EXEC_AFFINITY_TYPE_MAX
} CUexecAffinityType;

typedef struct CUexecAffinitySmCount_st {
	unsigned int val;
} CUexecAffinitySmCount_v1;
typedef CUexecAffinitySmCount_v1 CUexecAffinitySmCount;

typedef struct CUexecAffinityParam_st {
	CUexecAffinityType type;
	union {
		CUexecAffinitySmCount smCount;
	} param;
} CUexecAffinityParam_v1;
typedef CUexecAffinityParam_v1 CUexecAffinityParam;

typedef enum CUcigDataType_enum {
	CIG_DATA_TYPE_D3D12_COMMAND_QUEUE = 0x1,
	CIG_DATA_TYPE_NV_BLOB = 0x2
} CUcigDataType;

typedef struct CUctxCigParam_st {
	CUcigDataType sharedDataType;
	void *sharedData;
} CUctxCigParam;

typedef struct CUctxCreateParams_st {
	CUexecAffinityParam *execAffinityParams;
	int numExecAffinityParams;
	CUctxCigParam *cigParams;
} CUctxCreateParams;

#endif /* !__cuda_cuda_h__ */

/*
 * Every function, one row each: X(symbol, base, version, per_thread,
 * (parameters)). All return CUresult.
 *   symbol      the name libcuda.so.1 exports;
 *   base        the name cuGetProcAddress is asked for;
 *   version     the CUDA version (1000*major + 10*minor) that introduced
 *               this ABI of base: cuGetProcAddress(base, v) returns the row
 *               with the highest version <= v (cudaTypedefs.h's PFN_*_vNNNN);
 *   per_thread  1 for the per-thread-default-stream variant (_ptsz), which
 *               cuGetProcAddress returns with
 *               CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM.
 */
#define TG_CU_FUNCS(X) \
	X(cuGetErrorString, cuGetErrorString, 6000, 0, \
	    (CUresult error, const char **pStr)) \
	X(cuGetErrorName, cuGetErrorName, 6000, 0, \
	    (CUresult error, const char **pStr)) \
	X(cuInit, cuInit, 2000, 0, (unsigned int Flags)) \
	X(cuDriverGetVersion, cuDriverGetVersion, 2020, 0, (int *driverVersion)) \
	X(cuDeviceGet, cuDeviceGet, 2000, 0, (CUdevice *device, int ordinal)) \
	X(cuDeviceGetCount, cuDeviceGetCount, 2000, 0, (int *count)) \
	X(cuDeviceGetName, cuDeviceGetName, 2000, 0, \
	    (char *name, int len, CUdevice dev)) \
	X(cuDeviceGetUuid, cuDeviceGetUuid, 9020, 0, (CUuuid *uuid, CUdevice dev)) \
	X(cuDeviceGetUuid_v2, cuDeviceGetUuid, 11040, 0, \
	    (CUuuid *uuid, CUdevice dev)) \
	X(cuDeviceTotalMem_v2, cuDeviceTotalMem, 3020, 0, \
	    (size_t *bytes, CUdevice dev)) \
	X(cuDeviceGetDefaultMemPool, cuDeviceGetDefaultMemPool, 11020, 0, \
	    (CUmemoryPool *pool_out, CUdevice dev)) \
	X(cuCtxCreate, cuCtxCreate, 2000, 0, \
	    (CUcontext *pctx, unsigned int flags, CUdevice dev)) \
	X(cuCtxCreate_v2, cuCtxCreate, 3020, 0, \
	    (CUcontext *pctx, unsigned int flags, CUdevice dev)) \
	X(cuCtxCreate_v3, cuCtxCreate, 11040, 0, \
	    (CUcontext *pctx, CUexecAffinityParam *paramsArray, int numParams, \
	    unsigned int flags, CUdevice dev)) \
	X(cuCtxCreate_v4, cuCtxCreate, 12050, 0, \
	    (CUcontext *pctx, CUctxCreateParams *ctxCreateParams, \
	    unsigned int flags, CUdevice dev)) \
	X(cuCtxDestroy, cuCtxDestroy, 2000, 0, (CUcontext ctx)) \
	X(cuCtxDestroy_v2, cuCtxDestroy, 4000, 0, (CUcontext ctx)) \
	X(cuCtxSetCurrent, cuCtxSetCurrent, 4000, 0, (CUcontext ctx)) \
	X(cuCtxGetCurrent, cuCtxGetCurrent, 4000, 0, (CUcontext *pctx)) \
	X(cuCtxSynchronize, cuCtxSynchronize, 2000, 0, (void)) \
	X(cuCtxSynchronize_v2, cuCtxSynchronize, 13000, 0, (CUcontext ctx)) \
	X(cuDevicePrimaryCtxRetain, cuDevicePrimaryCtxRetain, 7000, 0, \
	    (CUcontext *pctx, CUdevice dev)) \
	X(cuDevicePrimaryCtxRelease, cuDevicePrimaryCtxRelease, 7000, 0, \
	    (CUdevice dev)) \
	X(cuDevicePrimaryCtxRelease_v2, cuDevicePrimaryCtxRelease, 11000, 0, \
	    (CUdevice dev)) \
	X(cuModuleLoadData, cuModuleLoadData, 2000, 0, \
	    (CUmodule *module, const void *image)) \
	X(cuModuleUnload, cuModuleUnload, 2000, 0, (CUmodule hmod)) \
	X(cuModuleGetFunction, cuModuleGetFunction, 2000, 0, \
	    (CUfunction *hfunc, CUmodule hmod, const char *name)) \
	X(cuLaunchKernel, cuLaunchKernel, 4000, 0, TG_CU_LAUNCH_PARAMS) \
	X(cuLaunchKernel_ptsz, cuLaunchKernel, 7000, 1, TG_CU_LAUNCH_PARAMS) \
	X(cuLaunchKernelEx, cuLaunchKernelEx, 11060, 0, TG_CU_LAUNCH_EX_PARAMS) \
	X(cuLaunchKernelEx_ptsz, cuLaunchKernelEx, 11060, 1, \
	    TG_CU_LAUNCH_EX_PARAMS) \
	X(cuLaunchCooperativeKernel, cuLaunchCooperativeKernel, 9000, 0, \
	    TG_CU_LAUNCH_COOP_PARAMS) \
	X(cuLaunchCooperativeKernel_ptsz, cuLaunchCooperativeKernel, 9000, 1, \
	    TG_CU_LAUNCH_COOP_PARAMS) \
	X(cuStreamCreate, cuStreamCreate, 2000, 0, \
	    (CUstream *phStream, unsigned int Flags)) \
	X(cuStreamDestroy, cuStreamDestroy, 2000, 0, (CUstream hStream)) \
	X(cuStreamDestroy_v2, cuStreamDestroy, 4000, 0, (CUstream hStream)) \
	X(cuStreamSynchronize, cuStreamSynchronize, 2000, 0, (CUstream hStream)) \
	X(cuStreamSynchronize_ptsz, cuStreamSynchronize, 7000, 1, \
	    (CUstream hStream)) \
	X(cuStreamQuery, cuStreamQuery, 2000, 0, (CUstream hStream)) \
	X(cuStreamQuery_ptsz, cuStreamQuery, 7000, 1, (CUstream hStream)) \
	X(cuStreamBeginCapture, cuStreamBeginCapture, 10000, 0, \
	    (CUstream hStream)) \
	X(cuStreamBeginCapture_ptsz, cuStreamBeginCapture, 10000, 1, \
	    (CUstream hStream)) \
	X(cuStreamBeginCapture_v2, cuStreamBeginCapture, 10010, 0, \
	    (CUstream hStream, CUstreamCaptureMode mode)) \
	X(cuStreamBeginCapture_v2_ptsz, cuStreamBeginCapture, 10010, 1, \
	    (CUstream hStream, CUstreamCaptureMode mode)) \
	X(cuStreamEndCapture, cuStreamEndCapture, 10000, 0, \
	    (CUstream hStream, CUgraph *phGraph)) \
	X(cuStreamEndCapture_ptsz, cuStreamEndCapture, 10000, 1, \
	    (CUstream hStream, CUgraph *phGraph)) \
	X(cuStreamIsCapturing, cuStreamIsCapturing, 10000, 0, \
	    (CUstream hStream, CUstreamCaptureStatus *captureStatus)) \
	X(cuStreamIsCapturing_ptsz, cuStreamIsCapturing, 10000, 1, \
	    (CUstream hStream, CUstreamCaptureStatus *captureStatus)) \
	X(cuThreadExchangeStreamCaptureMode, cuThreadExchangeStreamCaptureMode, \
	    10010, 0, (CUstreamCaptureMode *mode)) \
	X(cuEventCreate, cuEventCreate, 2000, 0, \
	    (CUevent *phEvent, unsigned int Flags)) \
	X(cuEventDestroy, cuEventDestroy, 2000, 0, (CUevent hEvent)) \
	X(cuEventDestroy_v2, cuEventDestroy, 4000, 0, (CUevent hEvent)) \
	X(cuEventRecord, cuEventRecord, 2000, 0, \
	    (CUevent hEvent, CUstream hStream)) \
	X(cuEventRecord_ptsz, cuEventRecord, 7000, 1, \
	    (CUevent hEvent, CUstream hStream)) \
	X(cuEventQuery, cuEventQuery, 2000, 0, (CUevent hEvent)) \
	X(cuEventSynchronize, cuEventSynchronize, 2000, 0, (CUevent hEvent)) \
	X(cuEventElapsedTime, cuEventElapsedTime, 2000, 0, \
	    (float *pMilliseconds, CUevent hStart, CUevent hEnd)) \
	X(cuEventElapsedTime_v2, cuEventElapsedTime, 12080, 0, \
	    (float *pMilliseconds, CUevent hStart, CUevent hEnd)) \
	X(cuGraphCreate, cuGraphCreate, 10000, 0, \
	    (CUgraph *phGraph, unsigned int flags)) \
	X(cuGraphAddKernelNode, cuGraphAddKernelNode, 10000, 0, \
	    (CUgraphNode *phGraphNode, CUgraph hGraph, \
	    const CUgraphNode *dependencies, size_t numDependencies, \
	    const CUDA_KERNEL_NODE_PARAMS_v1 *nodeParams)) \
	X(cuGraphAddKernelNode_v2, cuGraphAddKernelNode, 12000, 0, \
	    (CUgraphNode *phGraphNode, CUgraph hGraph, \
	    const CUgraphNode *dependencies, size_t numDependencies, \
	    const CUDA_KERNEL_NODE_PARAMS *nodeParams)) \
	X(cuGraphAddChildGraphNode, cuGraphAddChildGraphNode, 10000, 0, \
	    (CUgraphNode *phGraphNode, CUgraph hGraph, \
	    const CUgraphNode *dependencies, size_t numDependencies, \
	    CUgraph childGraph)) \
	X(cuGraphInstantiate, cuGraphInstantiate, 10000, 0, \
	    TG_CU_GRAPH_INSTANTIATE_V1_PARAMS) \
	X(cuGraphInstantiate_v2, cuGraphInstantiate, 11000, 0, \
	    TG_CU_GRAPH_INSTANTIATE_V1_PARAMS) \
	X(cuGraphInstantiateWithFlags, cuGraphInstantiateWithFlags, 11040, 0, \
	    (CUgraphExec *phGraphExec, CUgraph hGraph, unsigned long long flags)) \
	X(cuGraphInstantiateWithParams, cuGraphInstantiateWithParams, 12000, 0, \
	    (CUgraphExec *phGraphExec, CUgraph hGraph, \
	    CUDA_GRAPH_INSTANTIATE_PARAMS *instantiateParams)) \
	X(cuGraphInstantiateWithParams_ptsz, cuGraphInstantiateWithParams, \
	    12000, 1, (CUgraphExec *phGraphExec, CUgraph hGraph, \
	    CUDA_GRAPH_INSTANTIATE_PARAMS *instantiateParams)) \
	X(cuGraphExecUpdate, cuGraphExecUpdate, 10020, 0, \
	    (CUgraphExec hGraphExec, CUgraph hGraph, CUgraphNode *hErrorNode_out, \
	    CUgraphExecUpdateResult *updateResult_out)) \
	X(cuGraphExecUpdate_v2, cuGraphExecUpdate, 12000, 0, \
	    (CUgraphExec hGraphExec, CUgraph hGraph, \
	    CUgraphExecUpdateResultInfo *resultInfo)) \
	X(cuGraphLaunch, cuGraphLaunch, 10000, 0, \
	    (CUgraphExec hGraphExec, CUstream hStream)) \
	X(cuGraphLaunch_ptsz, cuGraphLaunch, 10000, 1, \
	    (CUgraphExec hGraphExec, CUstream hStream)) \
	X(cuGraphGetNodes, cuGraphGetNodes, 10000, 0, \
	    (CUgraph hGraph, CUgraphNode *nodes, size_t *numNodes)) \
	X(cuGraphNodeGetType, cuGraphNodeGetType, 10000, 0, \
	    (CUgraphNode hNode, CUgraphNodeType *type)) \
	X(cuGraphChildGraphNodeGetGraph, cuGraphChildGraphNodeGetGraph, 10000, \
	    0, (CUgraphNode hNode, CUgraph *phGraph)) \
	X(cuGraphExecDestroy, cuGraphExecDestroy, 10000, 0, \
	    (CUgraphExec hGraphExec)) \
	X(cuGraphDestroy, cuGraphDestroy, 10000, 0, (CUgraph hGraph)) \
	X(cuMemGetInfo_v2, cuMemGetInfo, 3020, 0, (size_t *free, size_t *total)) \
	X(cuMemAlloc_v2, cuMemAlloc, 3020, 0, \
	    (CUdeviceptr *dptr, size_t bytesize)) \
	X(cuMemAllocPitch_v2, cuMemAllocPitch, 3020, 0, \
	    (CUdeviceptr *dptr, size_t *pPitch, size_t WidthInBytes, \
	    size_t Height, unsigned int ElementSizeBytes)) \
	X(cuMemAllocManaged, cuMemAllocManaged, 6000, 0, \
	    (CUdeviceptr *dptr, size_t bytesize, unsigned int flags)) \
	X(cuMemFree_v2, cuMemFree, 3020, 0, (CUdeviceptr dptr)) \
	X(cuMemAllocAsync, cuMemAllocAsync, 11020, 0, \
	    (CUdeviceptr *dptr, size_t bytesize, CUstream hStream)) \
	X(cuMemAllocAsync_ptsz, cuMemAllocAsync, 11020, 1, \
	    (CUdeviceptr *dptr, size_t bytesize, CUstream hStream)) \
	X(cuMemAllocFromPoolAsync, cuMemAllocFromPoolAsync, 11020, 0, \
	    (CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool, \
	    CUstream hStream)) \
	X(cuMemAllocFromPoolAsync_ptsz, cuMemAllocFromPoolAsync, 11020, 1, \
	    (CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool, \
	    CUstream hStream)) \
	X(cuMemFreeAsync, cuMemFreeAsync, 11020, 0, \
	    (CUdeviceptr dptr, CUstream hStream)) \
	X(cuMemFreeAsync_ptsz, cuMemFreeAsync, 11020, 1, \
	    (CUdeviceptr dptr, CUstream hStream)) \
	X(cuMemCreate, cuMemCreate, 10020, 0, \
	    (CUmemGenericAllocationHandle *handle, size_t size, \
	    const CUmemAllocationProp *prop, unsigned long long flags)) \
	X(cuMemRelease, cuMemRelease, 10020, 0, \
	    (CUmemGenericAllocationHandle handle)) \
	X(cuGetProcAddress, cuGetProcAddress, 11030, 0, \
	    (const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags)) \
	X(cuGetProcAddress_v2, cuGetProcAddress, 12000, 0, \
	    (const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags, \
	    CUdriverProcAddressQueryResult *symbolStatus))

#define TG_CU_LAUNCH_PARAMS \
	(CUfunction f, unsigned int gridDimX, unsigned int gridDimY, \
	unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY, \
	unsigned int blockDimZ, unsigned int sharedMemBytes, CUstream hStream, \
	void **kernelParams, void **extra)
#define TG_CU_LAUNCH_EX_PARAMS \
	(const CUlaunchConfig *config, CUfunction f, void **kernelParams, \
	void **extra)
#define TG_CU_LAUNCH_COOP_PARAMS \
	(CUfunction f, unsigned int gridDimX, unsigned int gridDimY, \
	unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY, \
	unsigned int blockDimZ, unsigned int sharedMemBytes, CUstream hStream, \
	void **kernelParams)
#define TG_CU_GRAPH_INSTANTIATE_V1_PARAMS \
	(CUgraphExec *phGraphExec, CUgraph hGraph, CUgraphNode *phErrorNode, \
	char *logBuffer, size_t bufferSize)

/*
 * cuGetProcAddress answers for a base name at a version with a symbol of
 * another base: cuda.h since 12.0 means cuGraphInstantiateWithFlags by
 * cuGraphInstantiate. X(base, version, per_thread, symbol).
 */
#define TG_CU_PROC_ALIASES(X) \
	X(cuGraphInstantiate, 12000, 0, cuGraphInstantiateWithFlags)

/* One pointer type per function: tg_pfn_cuLaunchKernel_ptsz… */
#define TG_CU_PFN(sym, base, ver, pt, params) \
	typedef CUresult (*tg_pfn_##sym) params;
TG_CU_FUNCS(TG_CU_PFN)
#undef TG_CU_PFN

/* An index per function, for tables: TG_FN_cuLaunchKernel_ptsz… */
enum tg_cu_fn {
#define TG_CU_ENUM(sym, base, ver, pt, params) TG_FN_##sym,
	TG_CU_FUNCS(TG_CU_ENUM)
#undef TG_CU_ENUM
	TG_FN_COUNT
};

#ifndef __cuda_cuda_h__
#define TG_CU_PROTO(sym, base, ver, pt, params) CUresult sym params;
TG_CU_FUNCS(TG_CU_PROTO)
#undef TG_CU_PROTO
#endif

#endif /* TG_CUDA_ABI_H */
