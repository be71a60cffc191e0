/*
 * fc_launch.c — modules, functions and the kernel launch paths.
 *
 * The launch path is what the shim's overhead is measured against, so a
 * kernel of duration 0 costs a handful of loads and two counter stores: it
 * is counted and leaves no trace in any schedule (on the legacy stream it
 * still orders later work, as any legacy-stream work does).
 */
#include <stdlib.h>
#include <string.h>

#include "fakecuda.h"

struct fc_module {
	uint32_t magic;
	pthread_mutex_t lock;
	struct fc_func *funcs;
};

/* The duration at the start of an extra[] argument buffer. */
int64_t
fc_kernel_extra_ns(void **extra)
{
	size_t i;

	for (i = 0; extra[i] != CU_LAUNCH_PARAM_END; i += 2)
		if (extra[i] == CU_LAUNCH_PARAM_BUFFER_POINTER && extra[i + 1] != NULL)
			return (int64_t)*(const uint32_t *)extra[i + 1] * 1000;
	return 0;
}

CUresult
cuModuleLoadData(CUmodule *module, const void *image)
{
	struct fc_module *m;
	struct fc_ctx *c;
	CUresult rc;

	FC_ENTER(cuModuleLoadData, t);
	if (module == NULL || image == NULL)
		return CUDA_ERROR_INVALID_VALUE;
	if ((rc = fc_current(t, &c)) != CUDA_SUCCESS)
		return rc;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return CUDA_ERROR_OUT_OF_MEMORY;
	m->magic = FC_MAGIC_MODULE;
	pthread_mutex_init(&m->lock, NULL);
	*module = (CUmodule)m;
	return CUDA_SUCCESS;
}

/* Its functions stay usable: launches do not look at the module. */
CUresult
cuModuleUnload(CUmodule hmod)
{
	struct fc_module *m = (struct fc_module *)hmod;

	FC_ENTER(cuModuleUnload, t);
	if (m == NULL || m->magic != FC_MAGIC_MODULE)
		return CUDA_ERROR_INVALID_HANDLE;
	m->magic = 0;
	return CUDA_SUCCESS;
}

CUresult
cuModuleGetFunction(CUfunction *hfunc, CUmodule hmod, const char *name)
{
	struct fc_module *m = (struct fc_module *)hmod;
	struct fc_func *f;

	FC_ENTER(cuModuleGetFunction, t);
	if (hfunc == NULL || name == NULL)
		return CUDA_ERROR_INVALID_VALUE;
	if (m == NULL || m->magic != FC_MAGIC_MODULE)
		return CUDA_ERROR_INVALID_HANDLE;
	pthread_mutex_lock(&m->lock);
	for (f = m->funcs; f != NULL && strcmp(f->name, name) != 0; f = f->next)
		;
	if (f == NULL && (f = malloc(sizeof(*f) + strlen(name) + 1)) != NULL) {
		f->magic = FC_MAGIC_FUNC;
		strcpy(f->name, name);
		f->next = m->funcs;
		m->funcs = f;
	}
	pthread_mutex_unlock(&m->lock);
	if (f == NULL)
		return CUDA_ERROR_OUT_OF_MEMORY;
	*hfunc = (CUfunction)f;
	return CUDA_SUCCESS;
}

/* CUDA's limits: grid x < 2^31, y and z < 2^16; a block of at most 1024
 * threads, z at most 64. */
static inline int
dims_ok(unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
    unsigned bz)
{
	return gx - 1 < 0x7fffffffu && gy - 1 < 0xffffu && gz - 1 < 0xffffu &&
	    bz <= 64 && bx != 0 && by != 0 && bz != 0 &&
	    (uint64_t)bx * by * bz <= 1024;
}

/* Records the kernel into s's capture; 0 when s no longer captures. */
static int
launch_captured(struct fc_thread *t, struct fc_stream *s, int64_t dur,
    CUresult *rc)
{
	struct fc_capture *cap;

	pthread_mutex_lock(&s->lock);
	if ((cap = atomic_load(&s->cap)) == NULL) {
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	if (atomic_load(&cap->invalidated))
		*rc = CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
	else
		*rc = fc_graph_add_kernel(cap->graph, dur, NULL);
	pthread_mutex_unlock(&s->lock);
	if (*rc == CUDA_SUCCESS)
		FC_COUNT(t->captured);
	return 1;
}

static inline __attribute__((always_inline)) CUresult
launch(struct fc_thread *t, enum fc_path path, CUfunction f, unsigned gx,
    unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
    CUstream hs, int ptsz, void **params, void **extra)
{
	struct fc_stream *s;
	int64_t dur;
	CUresult rc;

	if (FC_UNLIKELY(f == NULL || ((struct fc_func *)f)->magic != FC_MAGIC_FUNC))
		return CUDA_ERROR_INVALID_HANDLE;
	if (FC_UNLIKELY(!dims_ok(gx, gy, gz, bx, by, bz) ||
	    (params != NULL && extra != NULL)))
		return CUDA_ERROR_INVALID_VALUE;
	if (FC_UNLIKELY((rc = fc_stream_get(t, hs, ptsz, &s)) != CUDA_SUCCESS))
		return rc;
	dur = fc_kernel_ns(params, extra);
	if (FC_UNLIKELY(atomic_load_explicit(&s->cap, memory_order_relaxed) != NULL) &&
	    launch_captured(t, s, dur, &rc)) {
		if (rc == CUDA_SUCCESS)
			FC_COUNT(t->launches[path]);
		return rc;
	}
	if (s->kind == FC_STREAM_LEGACY) {
		if (FC_UNLIKELY((rc = fc_capture_legacy_check(s)) != CUDA_SUCCESS))
			return rc;
		if (dur == 0)
			fc_stream_legacy_barrier(s);
	}
	if (dur > 0)
		fc_stream_run(s, dur);
	FC_COUNT(t->launches[path]);
	return CUDA_SUCCESS;
}

CUresult
cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
    unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY,
    unsigned int blockDimZ, unsigned int sharedMemBytes, CUstream hStream,
    void **kernelParams, void **extra)
{
	FC_ENTER(cuLaunchKernel, t);
	return launch(t, FC_LAUNCH_KERNEL, f, gridDimX, gridDimY, gridDimZ,
	    blockDimX, blockDimY, blockDimZ, hStream, 0, kernelParams, extra);
}

CUresult
cuLaunchKernel_ptsz(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
    unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY,
    unsigned int blockDimZ, unsigned int sharedMemBytes, CUstream hStream,
    void **kernelParams, void **extra)
{
	FC_ENTER(cuLaunchKernel_ptsz, t);
	return launch(t, FC_LAUNCH_KERNEL_PTSZ, f, gridDimX, gridDimY, gridDimZ,
	    blockDimX, blockDimY, blockDimZ, hStream, 1, kernelParams, extra);
}

static CUresult
launch_ex(struct fc_thread *t, enum fc_path path, const CUlaunchConfig *c,
    CUfunction f, void **kernelParams, void **extra, int ptsz)
{
	if (c == NULL || (c->numAttrs > 0 && c->attrs == NULL))
		return CUDA_ERROR_INVALID_VALUE;
	return launch(t, path, f, c->gridDimX, c->gridDimY, c->gridDimZ,
	    c->blockDimX, c->blockDimY, c->blockDimZ, c->hStream, ptsz,
	    kernelParams, extra);
}

CUresult
cuLaunchKernelEx(const CUlaunchConfig *config, CUfunction f,
    void **kernelParams, void **extra)
{
	FC_ENTER(cuLaunchKernelEx, t);
	return launch_ex(t, FC_LAUNCH_EX, config, f, kernelParams, extra, 0);
}

CUresult
cuLaunchKernelEx_ptsz(const CUlaunchConfig *config, CUfunction f,
    void **kernelParams, void **extra)
{
	FC_ENTER(cuLaunchKernelEx_ptsz, t);
	return launch_ex(t, FC_LAUNCH_EX_PTSZ, config, f, kernelParams, extra, 1);
}

CUresult
cuLaunchCooperativeKernel(CUfunction f, unsigned int gridDimX,
    unsigned int gridDimY, unsigned int gridDimZ, unsigned int blockDimX,
    unsigned int blockDimY, unsigned int blockDimZ, unsigned int sharedMemBytes,
    CUstream hStream, void **kernelParams)
{
	FC_ENTER(cuLaunchCooperativeKernel, t);
	return launch(t, FC_LAUNCH_COOP, f, gridDimX, gridDimY, gridDimZ,
	    blockDimX, blockDimY, blockDimZ, hStream, 0, kernelParams, NULL);
}

CUresult
cuLaunchCooperativeKernel_ptsz(CUfunction f, unsigned int gridDimX,
    unsigned int gridDimY, unsigned int gridDimZ, unsigned int blockDimX,
    unsigned int blockDimY, unsigned int blockDimZ, unsigned int sharedMemBytes,
    CUstream hStream, void **kernelParams)
{
	FC_ENTER(cuLaunchCooperativeKernel_ptsz, t);
	return launch(t, FC_LAUNCH_COOP_PTSZ, f, gridDimX, gridDimY, gridDimZ,
	    blockDimX, blockDimY, blockDimZ, hStream, 1, kernelParams, NULL);
}
