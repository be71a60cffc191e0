/*
 * fc_event.c — events: a record marks the point in its stream's schedule
 * where the work queued before it ends; the event completes when the clock
 * passes that point, and cuEventElapsedTime is the distance between two
 * such points, exactly (the real driver's resolution is about 0.5 µs).
 * An event recorded on a capturing stream is part of the capture: asking
 * for its state or timing answers CUDA_ERROR_CAPTURED_EVENT.
 */
#include <stdlib.h>

#include "fakecuda.h"

enum { EV_NEVER = -1, EV_CAPTURED = -2 };

struct fc_event {
	uint32_t magic;
	unsigned int flags;
	struct fc_ctx *ctx;
	_Atomic int64_t at; /* a schedule point, or EV_NEVER, EV_CAPTURED */
};

static struct fc_event *
event_of(CUevent h)
{
	struct fc_event *e = (struct fc_event *)h;

	return e != NULL && e->magic == FC_MAGIC_EVENT ? e : NULL;
}

CUresult
cuEventCreate(CUevent *phEvent, unsigned int Flags)
{
	struct fc_event *e;
	struct fc_ctx *c;
	CUresult rc;

	FC_ENTER(cuEventCreate, t);
	if (phEvent == NULL || (Flags & ~0x7u))
		return CUDA_ERROR_INVALID_VALUE;
	if ((rc = fc_current(t, &c)) != CUDA_SUCCESS)
		return rc;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return CUDA_ERROR_OUT_OF_MEMORY;
	e->magic = FC_MAGIC_EVENT;
	e->flags = Flags;
	e->ctx = c;
	atomic_store(&e->at, EV_NEVER);
	*phEvent = (CUevent)e;
	return CUDA_SUCCESS;
}

static CUresult
event_destroy(CUevent h)
{
	struct fc_event *e = event_of(h);

	if (e == NULL)
		return CUDA_ERROR_INVALID_HANDLE;
	e->magic = 0;
	free(e);
	return CUDA_SUCCESS;
}

CUresult
cuEventDestroy(CUevent hEvent)
{
	FC_ENTER(cuEventDestroy, t);
	return event_destroy(hEvent);
}

CUresult
cuEventDestroy_v2(CUevent hEvent)
{
	FC_ENTER(cuEventDestroy_v2, t);
	return event_destroy(hEvent);
}

static CUresult
record(struct fc_thread *t, CUevent h, CUstream hs, int ptsz)
{
	struct fc_event *e = event_of(h);
	struct fc_stream *s;
	CUresult rc;

	if (e == NULL)
		return CUDA_ERROR_INVALID_HANDLE;
	if ((rc = fc_stream_get(t, hs, ptsz, &s)) != CUDA_SUCCESS)
		return rc;
	if (s->ctx != e->ctx)
		return CUDA_ERROR_INVALID_HANDLE;
	if (atomic_load(&s->cap) != NULL) {
		atomic_store(&e->at, EV_CAPTURED);
		FC_COUNT(t->event_records_in_capture);
		return CUDA_SUCCESS;
	}
	if (s->kind == FC_STREAM_LEGACY &&
	    (rc = fc_capture_legacy_check(s)) != CUDA_SUCCESS)
		return rc;
	atomic_store(&e->at, fc_stream_mark(s));
	return CUDA_SUCCESS;
}

CUresult
cuEventRecord(CUevent hEvent, CUstream hStream)
{
	FC_ENTER(cuEventRecord, t);
	return record(t, hEvent, hStream, 0);
}

CUresult
cuEventRecord_ptsz(CUevent hEvent, CUstream hStream)
{
	FC_ENTER(cuEventRecord_ptsz, t);
	return record(t, hEvent, hStream, 1);
}

/* The point a query or synchronize waits for; EV_NEVER is complete. */
static CUresult
event_point(struct fc_thread *t, CUevent h, int64_t *at)
{
	struct fc_event *e = event_of(h);
	CUresult rc;

	if (e == NULL)
		return CUDA_ERROR_INVALID_HANDLE;
	if ((rc = fc_capture_guard(t)) != CUDA_SUCCESS)
		return rc;
	if ((*at = atomic_load(&e->at)) == EV_CAPTURED)
		return CUDA_ERROR_CAPTURED_EVENT;
	return CUDA_SUCCESS;
}

CUresult
cuEventQuery(CUevent hEvent)
{
	int64_t at;
	CUresult rc;

	FC_ENTER(cuEventQuery, t);
	if ((rc = event_point(t, hEvent, &at)) != CUDA_SUCCESS)
		return rc;
	return fc_now() >= at ? CUDA_SUCCESS : CUDA_ERROR_NOT_READY;
}

CUresult
cuEventSynchronize(CUevent hEvent)
{
	int64_t at;
	CUresult rc;

	FC_ENTER(cuEventSynchronize, t);
	if ((rc = event_point(t, hEvent, &at)) == CUDA_SUCCESS)
		fc_sleep_until(at);
	return rc;
}

static CUresult
elapsed(float *ms, CUevent hStart, CUevent hEnd)
{
	struct fc_event *a = event_of(hStart), *b = event_of(hEnd);
	int64_t ta, tb;

	if (ms == NULL)
		return CUDA_ERROR_INVALID_VALUE;
	if (a == NULL || b == NULL ||
	    ((a->flags | b->flags) & CU_EVENT_DISABLE_TIMING))
		return CUDA_ERROR_INVALID_HANDLE;
	ta = atomic_load(&a->at);
	tb = atomic_load(&b->at);
	if (ta == EV_NEVER || tb == EV_NEVER)
		return CUDA_ERROR_INVALID_HANDLE;
	if (ta == EV_CAPTURED || tb == EV_CAPTURED)
		return CUDA_ERROR_CAPTURED_EVENT;
	if (fc_now() < fc_max64(ta, tb))
		return CUDA_ERROR_NOT_READY;
	*ms = (float)((double)(tb - ta) / 1e6);
	return CUDA_SUCCESS;
}

CUresult
cuEventElapsedTime(float *pMilliseconds, CUevent hStart, CUevent hEnd)
{
	FC_ENTER(cuEventElapsedTime, t);
	return elapsed(pMilliseconds, hStart, hEnd);
}

CUresult
cuEventElapsedTime_v2(float *pMilliseconds, CUevent hStart, CUevent hEnd)
{
	FC_ENTER(cuEventElapsedTime_v2, t);
	return elapsed(pMilliseconds, hStart, hEnd);
}
