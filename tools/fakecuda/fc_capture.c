/*
 * fc_capture.c — stream capture: between cuStreamBeginCapture and
 * cuStreamEndCapture, work launched on the stream is recorded into a graph
 * instead of run.
 *
 * The capture-mode rules are CUDA's: while a capture that is not RELAXED is
 * in progress, a "potentially unsafe" call (here: synchronizing or querying
 * streams, events or the context, and the synchronous allocations) made
 * from the capturing thread, or in GLOBAL mode from any thread whose own
 * mode (cuThreadExchangeStreamCaptureMode) is not RELAXED, fails with
 * CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED and invalidates that capture: its
 * cuStreamEndCapture then fails with CUDA_ERROR_STREAM_CAPTURE_INVALIDATED.
 * Work on the legacy stream while a blocking stream of its context captures
 * fails with CUDA_ERROR_STREAM_CAPTURE_IMPLICIT, invalidating the capture.
 */
#include <stdlib.h>

#include "fakecuda.h"

void
fc_capture_invalidate(struct fc_capture *c)
{
	atomic_store(&c->invalidated, 1);
}

CUresult
fc_capture_guard(struct fc_thread *t)
{
	struct fc_capture *c;
	int bad = 0;

	if (FC_LIKELY(atomic_load(&fc_g.active_captures) == 0) ||
	    t->capture_mode == CU_STREAM_CAPTURE_MODE_RELAXED)
		return CUDA_SUCCESS;
	pthread_mutex_lock(&fc_g.cap_lock);
	for (c = fc_g.captures; c != NULL; c = c->next) {
		if (c->mode == CU_STREAM_CAPTURE_MODE_RELAXED)
			continue;
		if (c->owner == t || (t->capture_mode == CU_STREAM_CAPTURE_MODE_GLOBAL &&
		    c->mode == CU_STREAM_CAPTURE_MODE_GLOBAL)) {
			fc_capture_invalidate(c);
			bad = 1;
		}
	}
	pthread_mutex_unlock(&fc_g.cap_lock);
	return bad ? CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED : CUDA_SUCCESS;
}

/* Legacy-stream work while a blocking stream of the context captures:
 * refused, and those captures are invalidated. */
CUresult
fc_capture_implicit(struct fc_stream *s)
{
	struct fc_capture *c;

	pthread_mutex_lock(&fc_g.cap_lock);
	for (c = fc_g.captures; c != NULL; c = c->next)
		if (c->stream->ctx == s->ctx && c->stream->blocking)
			fc_capture_invalidate(c);
	pthread_mutex_unlock(&fc_g.cap_lock);
	return CUDA_ERROR_STREAM_CAPTURE_IMPLICIT;
}

/* Detaches s's capture; s locked. */
static struct fc_capture *
capture_take(struct fc_stream *s)
{
	struct fc_capture *cap = atomic_load(&s->cap), **pp;

	if (cap == NULL)
		return NULL;
	atomic_store(&s->cap, NULL);
	pthread_mutex_lock(&fc_g.cap_lock);
	for (pp = &fc_g.captures; *pp != NULL; pp = &(*pp)->next)
		if (*pp == cap) {
			*pp = cap->next;
			break;
		}
	atomic_fetch_sub(&fc_g.active_captures, 1);
	pthread_mutex_unlock(&fc_g.cap_lock);
	if (s->blocking)
		atomic_fetch_sub(&s->ctx->capturing_blocking, 1);
	return cap;
}

void
fc_capture_abandon(struct fc_stream *s)
{
	struct fc_capture *cap;

	pthread_mutex_lock(&s->lock);
	cap = capture_take(s);
	pthread_mutex_unlock(&s->lock);
	if (cap != NULL) {
		fc_graph_free(cap->graph);
		free(cap);
	}
}

static CUresult
begin(struct fc_thread *t, CUstream h, int ptsz, CUstreamCaptureMode mode)
{
	struct fc_capture *cap;
	struct fc_stream *s;
	CUresult rc;

	if ((unsigned)mode > CU_STREAM_CAPTURE_MODE_RELAXED)
		return CUDA_ERROR_INVALID_VALUE;
	if ((rc = fc_stream_get(t, h, ptsz, &s)) != CUDA_SUCCESS)
		return rc;
	if (s->kind == FC_STREAM_LEGACY)
		return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
	if ((cap = calloc(1, sizeof(*cap))) == NULL ||
	    (cap->graph = fc_graph_new()) == NULL) {
		free(cap);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	cap->stream = s;
	cap->mode = mode;
	cap->owner = t;
	pthread_mutex_lock(&s->lock);
	if (atomic_load(&s->cap) != NULL) {
		pthread_mutex_unlock(&s->lock);
		fc_graph_free(cap->graph);
		free(cap);
		return CUDA_ERROR_ILLEGAL_STATE;
	}
	pthread_mutex_lock(&fc_g.cap_lock);
	cap->next = fc_g.captures;
	fc_g.captures = cap;
	atomic_fetch_add(&fc_g.active_captures, 1);
	pthread_mutex_unlock(&fc_g.cap_lock);
	if (s->blocking)
		atomic_fetch_add(&s->ctx->capturing_blocking, 1);
	atomic_store(&s->cap, cap);
	pthread_mutex_unlock(&s->lock);
	return CUDA_SUCCESS;
}

CUresult
cuStreamBeginCapture(CUstream hStream)
{
	FC_ENTER(cuStreamBeginCapture, t);
	return begin(t, hStream, 0, CU_STREAM_CAPTURE_MODE_GLOBAL);
}

CUresult
cuStreamBeginCapture_ptsz(CUstream hStream)
{
	FC_ENTER(cuStreamBeginCapture_ptsz, t);
	return begin(t, hStream, 1, CU_STREAM_CAPTURE_MODE_GLOBAL);
}

CUresult
cuStreamBeginCapture_v2(CUstream hStream, CUstreamCaptureMode mode)
{
	FC_ENTER(cuStreamBeginCapture_v2, t);
	return begin(t, hStream, 0, mode);
}

CUresult
cuStreamBeginCapture_v2_ptsz(CUstream hStream, CUstreamCaptureMode mode)
{
	FC_ENTER(cuStreamBeginCapture_v2_ptsz, t);
	return begin(t, hStream, 1, mode);
}

static CUresult
end(struct fc_thread *t, CUstream h, int ptsz, CUgraph *phGraph)
{
	struct fc_capture *cap;
	struct fc_stream *s;
	int invalidated;
	CUresult rc;

	if (phGraph == NULL)
		return CUDA_ERROR_INVALID_VALUE;
	if ((rc = fc_stream_get(t, h, ptsz, &s)) != CUDA_SUCCESS)
		return rc;
	pthread_mutex_lock(&s->lock);
	cap = atomic_load(&s->cap);
	if (cap == NULL)
		rc = CUDA_ERROR_ILLEGAL_STATE;
	else if (cap->mode != CU_STREAM_CAPTURE_MODE_RELAXED && cap->owner != t)
		rc = CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD;
	else
		capture_take(s);
	pthread_mutex_unlock(&s->lock);
	if (rc != CUDA_SUCCESS)
		return rc;
	invalidated = atomic_load(&cap->invalidated);
	*phGraph = invalidated ? NULL : (CUgraph)cap->graph;
	if (invalidated)
		fc_graph_free(cap->graph);
	free(cap);
	return invalidated ? CUDA_ERROR_STREAM_CAPTURE_INVALIDATED : CUDA_SUCCESS;
}

CUresult
cuStreamEndCapture(CUstream hStream, CUgraph *phGraph)
{
	FC_ENTER(cuStreamEndCapture, t);
	return end(t, hStream, 0, phGraph);
}

CUresult
cuStreamEndCapture_ptsz(CUstream hStream, CUgraph *phGraph)
{
	FC_ENTER(cuStreamEndCapture_ptsz, t);
	return end(t, hStream, 1, phGraph);
}

static CUresult
is_capturing(struct fc_thread *t, CUstream h, int ptsz,
    CUstreamCaptureStatus *status)
{
	struct fc_capture *cap;
	struct fc_stream *s;
	CUresult rc;

	if (status == NULL)
		return CUDA_ERROR_INVALID_VALUE;
	if ((rc = fc_stream_get(t, h, ptsz, &s)) != CUDA_SUCCESS)
		return rc;
	if (s->kind == FC_STREAM_LEGACY &&
	    atomic_load(&s->ctx->capturing_blocking) > 0)
		return CUDA_ERROR_STREAM_CAPTURE_IMPLICIT;
	pthread_mutex_lock(&s->lock);
	cap = atomic_load(&s->cap);
	*status = cap == NULL ? CU_STREAM_CAPTURE_STATUS_NONE :
	    atomic_load(&cap->invalidated) ? CU_STREAM_CAPTURE_STATUS_INVALIDATED :
	    CU_STREAM_CAPTURE_STATUS_ACTIVE;
	pthread_mutex_unlock(&s->lock);
	return CUDA_SUCCESS;
}

CUresult
cuStreamIsCapturing(CUstream hStream, CUstreamCaptureStatus *captureStatus)
{
	FC_ENTER(cuStreamIsCapturing, t);
	return is_capturing(t, hStream, 0, captureStatus);
}

CUresult
cuStreamIsCapturing_ptsz(CUstream hStream,
    CUstreamCaptureStatus *captureStatus)
{
	FC_ENTER(cuStreamIsCapturing_ptsz, t);
	return is_capturing(t, hStream, 1, captureStatus);
}

CUresult
cuThreadExchangeStreamCaptureMode(CUstreamCaptureMode *mode)
{
	CUstreamCaptureMode old;

	FC_ENTER(cuThreadExchangeStreamCaptureMode, t);
	if (mode == NULL || (unsigned)*mode > CU_STREAM_CAPTURE_MODE_RELAXED)
		return CUDA_ERROR_INVALID_VALUE;
	old = t->capture_mode;
	t->capture_mode = *mode;
	*mode = old;
	return CUDA_SUCCESS;
}
