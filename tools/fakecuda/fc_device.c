/*
 * fc_device.c — initialization, the devices, and the error strings.
 * cuDriverGetVersion, cuGetErrorString/Name and cuGetProcAddress work
 * before cuInit, as in the real driver; everything else answers
 * CUDA_ERROR_NOT_INITIALIZED until cuInit(0) (and for ever in the fork
 * child of a process that had called it).
 */
#include <stdio.h>
#include <string.h>

#include "fakecuda.h"

/* The wording is this fake's, close to the real driver's. */
static const struct {
	CUresult code;
	const char *name, *text;
} errors[] = {
#define E(code, text) { code, #code, text }
	E(CUDA_SUCCESS, "no error"),
	E(CUDA_ERROR_INVALID_VALUE, "invalid argument"),
	E(CUDA_ERROR_OUT_OF_MEMORY, "out of memory"),
	E(CUDA_ERROR_NOT_INITIALIZED, "initialization error"),
	E(CUDA_ERROR_DEINITIALIZED, "driver shutting down"),
	E(CUDA_ERROR_STUB_LIBRARY, "CUDA driver is a stub library"),
	E(CUDA_ERROR_NO_DEVICE, "no CUDA-capable device is detected"),
	E(CUDA_ERROR_INVALID_DEVICE, "invalid device ordinal"),
	E(CUDA_ERROR_INVALID_IMAGE, "device kernel image is invalid"),
	E(CUDA_ERROR_INVALID_CONTEXT, "invalid device context"),
	E(CUDA_ERROR_INVALID_HANDLE, "invalid resource handle"),
	E(CUDA_ERROR_ILLEGAL_STATE,
	    "the operation cannot be performed in the present state"),
	E(CUDA_ERROR_NOT_FOUND, "named symbol not found"),
	E(CUDA_ERROR_NOT_READY, "device not ready"),
	E(CUDA_ERROR_ILLEGAL_ADDRESS, "an illegal memory access was encountered"),
	E(CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES,
	    "too many resources requested for launch"),
	E(CUDA_ERROR_PRIMARY_CONTEXT_ACTIVE,
	    "primary context for the specified device has already been initialized"),
	E(CUDA_ERROR_CONTEXT_IS_DESTROYED, "context is destroyed"),
	E(CUDA_ERROR_LAUNCH_FAILED, "unspecified launch failure"),
	E(CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE,
	    "too many blocks in cooperative launch"),
	E(CUDA_ERROR_NOT_PERMITTED, "operation not permitted"),
	E(CUDA_ERROR_NOT_SUPPORTED, "operation not supported"),
	E(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED,
	    "operation not permitted when stream is capturing"),
	E(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED,
	    "operation failed due to a previous error during capture"),
	E(CUDA_ERROR_STREAM_CAPTURE_MERGE,
	    "operation would result in a merge of separate capture sequences"),
	E(CUDA_ERROR_STREAM_CAPTURE_UNMATCHED,
	    "capture was not ended in the same stream as it began"),
	E(CUDA_ERROR_STREAM_CAPTURE_UNJOINED, "capturing stream has unjoined work"),
	E(CUDA_ERROR_STREAM_CAPTURE_ISOLATION,
	    "dependency created on uncaptured work in another stream"),
	E(CUDA_ERROR_STREAM_CAPTURE_IMPLICIT,
	    "operation would make the legacy stream depend on a capturing blocking stream"),
	E(CUDA_ERROR_CAPTURED_EVENT,
	    "operation not permitted on an event last recorded in a capturing stream"),
	E(CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD,
	    "attempt to terminate a thread-local capture sequence from another thread"),
	E(CUDA_ERROR_TIMEOUT, "wait operation timed out"),
	E(CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE,
	    "the graph update was not performed because it included changes which violated constraints specific to instantiated graph update"),
	E(CUDA_ERROR_UNKNOWN, "unknown error"),
#undef E
};

static CUresult
error_lookup(CUresult code, const char **pStr, int want_name)
{
	size_t i;

	if (pStr == NULL)
		return CUDA_ERROR_INVALID_VALUE;
	for (i = 0; i < sizeof(errors) / sizeof(errors[0]); i++)
		if (errors[i].code == code) {
			*pStr = want_name ? errors[i].name : errors[i].text;
			return CUDA_SUCCESS;
		}
	*pStr = NULL;
	return CUDA_ERROR_INVALID_VALUE;
}

CUresult
cuGetErrorString(CUresult error, const char **pStr)
{
	fc_enter(TG_FN_cuGetErrorString);
	return error_lookup(error, pStr, 0);
}

CUresult
cuGetErrorName(CUresult error, const char **pStr)
{
	fc_enter(TG_FN_cuGetErrorName);
	return error_lookup(error, pStr, 1);
}

CUresult
cuInit(unsigned int Flags)
{
	int uninit = FC_UNINIT;

	fc_enter(TG_FN_cuInit);
	if (Flags != 0)
		return CUDA_ERROR_INVALID_VALUE;
	atomic_compare_exchange_strong(&fc_g.state, &uninit, FC_READY);
	return fc_ready();
}

CUresult
cuDriverGetVersion(int *driverVersion)
{
	fc_enter(TG_FN_cuDriverGetVersion);
	if (driverVersion == NULL)
		return CUDA_ERROR_INVALID_VALUE;
	*driverVersion = fc_g.driver_version;
	return CUDA_SUCCESS;
}

CUresult
cuDeviceGet(CUdevice *device, int ordinal)
{
	FC_ENTER(cuDeviceGet, t);
	if (device == NULL)
		return CUDA_ERROR_INVALID_VALUE;
	if (fc_device(ordinal) == NULL)
		return CUDA_ERROR_INVALID_DEVICE;
	*device = ordinal;
	return CUDA_SUCCESS;
}

CUresult
cuDeviceGetCount(int *count)
{
	FC_ENTER(cuDeviceGetCount, t);
	if (count == NULL)
		return CUDA_ERROR_INVALID_VALUE;
	*count = fc_g.ndev;
	return CUDA_SUCCESS;
}

CUresult
cuDeviceGetName(char *name, int len, CUdevice dev)
{
	FC_ENTER(cuDeviceGetName, t);
	if (name == NULL || len <= 0)
		return CUDA_ERROR_INVALID_VALUE;
	if (fc_device(dev) == NULL)
		return CUDA_ERROR_INVALID_DEVICE;
	snprintf(name, len, "%s", fc_g.name);
	return CUDA_SUCCESS;
}

/* "fakecuda", zeros, the ordinal: GPU-66616b65-6375-6461-0000-0000000000NN. */
static CUresult
uuid(CUuuid *u, CUdevice dev)
{
	if (u == NULL)
		return CUDA_ERROR_INVALID_VALUE;
	if (fc_device(dev) == NULL)
		return CUDA_ERROR_INVALID_DEVICE;
	memset(u->bytes, 0, sizeof(u->bytes));
	memcpy(u->bytes, "fakecuda", 8);
	u->bytes[15] = (char)dev;
	return CUDA_SUCCESS;
}

CUresult
cuDeviceGetUuid(CUuuid *uuid_out, CUdevice dev)
{
	FC_ENTER(cuDeviceGetUuid, t);
	return uuid(uuid_out, dev);
}

CUresult
cuDeviceGetUuid_v2(CUuuid *uuid_out, CUdevice dev)
{
	FC_ENTER(cuDeviceGetUuid_v2, t);
	return uuid(uuid_out, dev);
}

CUresult
cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev)
{
	struct fc_device *d;

	FC_ENTER(cuDeviceTotalMem_v2, t);
	if (bytes == NULL)
		return CUDA_ERROR_INVALID_VALUE;
	if ((d = fc_device(dev)) == NULL)
		return CUDA_ERROR_INVALID_DEVICE;
	*bytes = d->mem.total; /* constant after load */
	return CUDA_SUCCESS;
}
