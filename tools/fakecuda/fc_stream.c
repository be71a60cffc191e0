/*
 * fc_stream.c — streams and their schedules.
 *
 * Three kinds: each context's legacy default stream (NULL for the plain
 * functions, CU_STREAM_LEGACY for any), a per-thread default stream per
 * thread and context (NULL for the _ptsz functions, CU_STREAM_PER_THREAD
 * for any), and user streams. As in CUDA, the legacy stream waits for the
 * work queued before on every blocking stream of its context, and blocking
 * streams (user streams without CU_STREAM_NON_BLOCKING, per-thread ones)
 * wait for the legacy stream's; non-blocking streams wait for nobody.
 */
#include <stdlib.h>

#include "fakecuda.h"

void
fc_stream_init(struct fc_stream *s, struct fc_ctx *c, enum fc_stream_kind kind,
    unsigned int flags)
{
	s->magic = FC_MAGIC_STREAM;
	s->kind = kind;
	s->flags = flags;
	s->blocking = !(flags & CU_STREAM_NON_BLOCKING);
	s->ctx = c;
	pthread_mutex_init(&s->lock, NULL);
}

/* The calling thread's per-thread default stream in context c. */
static CUresult
per_thread(struct fc_thread *t, struct fc_ctx *c, struct fc_stream **out)
{
	struct fc_stream *s;

	if (FC_LIKELY(t->ptds_ctx == c && t->ptds->magic == FC_MAGIC_STREAM)) {
		*out = t->ptds;
		return CUDA_SUCCESS;
	}
	pthread_mutex_lock(&c->lock);
	for (s = c->streams; s != NULL; s = s->next)
		if (s->kind == FC_STREAM_PTDS && s->owner_serial == t->serial &&
		    s->magic == FC_MAGIC_STREAM)
			break;
	if (s == NULL && (s = calloc(1, sizeof(*s))) != NULL) {
		fc_stream_init(s, c, FC_STREAM_PTDS, 0);
		s->owner_serial = t->serial;
		s->next = c->streams;
		c->streams = s;
	}
	pthread_mutex_unlock(&c->lock);
	if (s == NULL)
		return CUDA_ERROR_OUT_OF_MEMORY;
	t->ptds_ctx = c;
	t->ptds = s;
	*out = s;
	return CUDA_SUCCESS;
}

/* fc_stream_get's other cases: the special handles, and errors. */
CUresult
fc_stream_get_slow(struct fc_thread *t, CUstream h, int ptsz,
    struct fc_stream **out)
{
	struct fc_ctx *c;
	CUresult rc;

	if ((uintptr_t)h > (uintptr_t)CU_STREAM_PER_THREAD)
		return CUDA_ERROR_INVALID_HANDLE;
	if ((rc = fc_current(t, &c)) != CUDA_SUCCESS)
		return rc;
	if (h == CU_STREAM_PER_THREAD || (h == NULL && ptsz))
		return per_thread(t, c, out);
	*out = &c->legacy;
	return CUDA_SUCCESS;
}

/* When new work on s may start, the clock aside. */
int64_t
fc_stream_free_at(struct fc_stream *s)
{
	int64_t at = atomic_load(&s->tail);

	if (s->kind == FC_STREAM_LEGACY)
		return fc_max64(at, atomic_load(&s->ctx->blocking_tail));
	if (s->blocking)
		return fc_max64(at, atomic_load(&s->ctx->legacy.tail));
	return at;
}

/* Queues dur ns of kernel work on s; returns when it ends. */
int64_t
fc_stream_run(struct fc_stream *s, int64_t dur)
{
	int64_t now = fc_now(), start, end;

	pthread_mutex_lock(&s->lock);
	start = fc_max64(now, fc_stream_free_at(s));
	end = start + dur;
	fc_atomic_max(&s->tail, end);
	if (s->blocking && s->kind != FC_STREAM_LEGACY)
		fc_atomic_max(&s->ctx->blocking_tail, end);
	fc_spans_add(&s->spans, start, end);
	pthread_mutex_unlock(&s->lock);
	return end;
}

/* The point an event recorded on s now marks. */
int64_t
fc_stream_mark(struct fc_stream *s)
{
	if (s->kind == FC_STREAM_LEGACY)
		fc_stream_legacy_barrier(s);
	return fc_max64(fc_now(), fc_stream_free_at(s));
}

void
fc_ctx_wait(struct fc_ctx *c)
{
	struct fc_stream *s;
	int64_t until = fc_stream_free_at(&c->legacy);

	pthread_mutex_lock(&c->lock);
	for (s = c->streams; s != NULL; s = s->next)
		until = fc_max64(until, atomic_load(&s->tail));
	pthread_mutex_unlock(&c->lock);
	fc_sleep_until(until);
}

CUresult
cuStreamCreate(CUstream *phStream, unsigned int Flags)
{
	struct fc_stream *s;
	struct fc_ctx *c;
	CUresult rc;

	FC_ENTER(cuStreamCreate, t);
	if (phStream == NULL || (Flags & ~CU_STREAM_NON_BLOCKING))
		return CUDA_ERROR_INVALID_VALUE;
	if ((rc = fc_current(t, &c)) != CUDA_SUCCESS)
		return rc;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return CUDA_ERROR_OUT_OF_MEMORY;
	fc_stream_init(s, c, FC_STREAM_USER, Flags);
	pthread_mutex_lock(&c->lock);
	s->next = c->streams;
	c->streams = s;
	pthread_mutex_unlock(&c->lock);
	*phStream = (CUstream)s;
	return CUDA_SUCCESS;
}

/* Queued work still runs (it is already in the schedule); the handle dies,
 * and a capture in progress ends with it. */
static CUresult
stream_destroy(CUstream h)
{
	struct fc_stream *s = (struct fc_stream *)h;

	if ((uintptr_t)h <= (uintptr_t)CU_STREAM_PER_THREAD ||
	    s->magic != FC_MAGIC_STREAM || s->kind != FC_STREAM_USER)
		return CUDA_ERROR_INVALID_HANDLE;
	if (atomic_load(&s->cap) != NULL)
		fc_capture_abandon(s);
	s->magic = 0;
	return CUDA_SUCCESS;
}

CUresult
cuStreamDestroy(CUstream hStream)
{
	FC_ENTER(cuStreamDestroy, t);
	return stream_destroy(hStream);
}

CUresult
cuStreamDestroy_v2(CUstream hStream)
{
	FC_ENTER(cuStreamDestroy_v2, t);
	return stream_destroy(hStream);
}

/* What a query or a synchronize on s waits for, after the capture rules
 * for such calls. */
static CUresult
stream_waitable(struct fc_thread *t, CUstream h, int ptsz, int64_t *until)
{
	struct fc_stream *s;
	struct fc_capture *cap;
	CUresult rc;

	if ((rc = fc_stream_get(t, h, ptsz, &s)) != CUDA_SUCCESS)
		return rc;
	if ((cap = atomic_load(&s->cap)) != NULL) {
		fc_capture_invalidate(cap);
		return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
	}
	if (s->kind == FC_STREAM_LEGACY &&
	    (rc = fc_capture_legacy_check(s)) != CUDA_SUCCESS)
		return rc;
	if ((rc = fc_capture_guard(t)) != CUDA_SUCCESS)
		return rc;
	*until = s->kind == FC_STREAM_LEGACY ? fc_stream_free_at(s) :
	    atomic_load(&s->tail);
	return CUDA_SUCCESS;
}

static CUresult
stream_sync(struct fc_thread *t, CUstream h, int ptsz)
{
	int64_t until;
	CUresult rc;

	if ((rc = stream_waitable(t, h, ptsz, &until)) == CUDA_SUCCESS)
		fc_sleep_until(until);
	return rc;
}

static CUresult
stream_query(struct fc_thread *t, CUstream h, int ptsz)
{
	int64_t until;
	CUresult rc;

	if ((rc = stream_waitable(t, h, ptsz, &until)) != CUDA_SUCCESS)
		return rc;
	return fc_now() >= until ? CUDA_SUCCESS : CUDA_ERROR_NOT_READY;
}

CUresult
cuStreamSynchronize(CUstream hStream)
{
	FC_ENTER(cuStreamSynchronize, t);
	return stream_sync(t, hStream, 0);
}

CUresult
cuStreamSynchronize_ptsz(CUstream hStream)
{
	FC_ENTER(cuStreamSynchronize_ptsz, t);
	return stream_sync(t, hStream, 1);
}

CUresult
cuStreamQuery(CUstream hStream)
{
	FC_ENTER(cuStreamQuery, t);
	return stream_query(t, hStream, 0);
}

CUresult
cuStreamQuery_ptsz(CUstream hStream)
{
	FC_ENTER(cuStreamQuery_ptsz, t);
	return stream_query(t, hStream, 1);
}
