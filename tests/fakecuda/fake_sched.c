/* SPDX-License-Identifier: MIT */
/*
 * tests/fakecuda/fake_sched.c — streams, events, copies, and the adversarial scheduler.
 *
 * Every stream operation (copy, memset, launch, event record, stream wait) is queued on its stream
 * and nothing runs until a call needs a result: cuStreamSynchronize / cuStreamQuery run that stream
 * up to its tail, cuEventSynchronize / cuEventQuery run the event's stream up to the record, a DtoH
 * copy into pageable memory runs its stream up to itself, and cuCtxSynchronize, cuMemFree,
 * cuModuleUnload, cuStreamDestroy and host unregistration run everything.  Running a stream honours
 * only its FIFO order and its cuStreamWaitEvent waits (a wait first runs the waited-for stream up to
 * that record, and no further).  So work on another stream that nobody waited for has NOT happened
 * yet: a kernel that reads a buffer whose copy it did not wait for sees the old contents, and a
 * pinned staging buffer that the host overwrites before its copy ran is copied with the new bytes.
 * When everything must run, the stream whose head was submitted last runs first (the oldest work
 * runs last), which is as far from submission order as the rules allow.
 *
 * The NULL stream keeps its legacy meaning inside its context: work on it waits for all earlier
 * work of the blocking streams, and later work on those waits for it (an internal record + wait).
 *
 * FAKECUDA_LOG gets one line per operation as it runs:
 *   seq=N dev=D stream=S op=htod|dtoh|dtod|memset|launch|record|wait bytes=B [host=pinned|pageable]
 *   [kernel=NAME grid=X,Y,Z block=X,Y,Z] [event=E]
 * seq is the submission number, so a test can compare execution order with submission order.
 */
#include <stdlib.h>
#include <string.h>

#include "fakecuda.h"

/* ---- completions ---- */

static struct fk_done *done_new(struct fk_stream *s, uint64_t seq)
{
	struct fk_done *c = calloc(1, sizeof *c);
	if (c) {
		c->refs = 1;
		c->s = s;
		c->seq = seq;
	}
	return c;
}

void fk_done_put(struct fk_done *c)
{
	if (c && --c->refs == 0)
		free(c);
}

/* ---- ops and queues ---- */

struct fk_op *fk_op_new(enum fk_op_kind kind)
{
	struct fk_op *op = calloc(1, sizeof *op);
	if (op)
		op->kind = kind;
	return op;
}

static void op_free(struct fk_op *op)
{
	if (op->kind == FK_RECORD && op->c)
		op->c->done = true; /* dropped unrun (sticky error): nobody may wait on it forever */
	fk_done_put(op->c);
	free(op->owned);
	free(op);
}

static bool has_pending(const struct fk_stream *s) { return s->head != NULL; }

static void push(struct fk_stream *s, struct fk_op *op)
{
	op->seq = ++fk.seq;
	op->next = NULL;
	if (s->tail)
		s->tail->next = op;
	else
		s->head = op;
	s->tail = op;
}

/* `later` must not start before everything now queued on `before` has run. */
static void order_after(struct fk_stream *later, struct fk_stream *before)
{
	struct fk_op *rec = fk_op_new(FK_RECORD), *wait = fk_op_new(FK_WAIT);
	if (!rec || !wait) {
		free(rec);
		free(wait);
		fk_run_until(before, UINT64_MAX); /* out of memory: order it the simple way */
		return;
	}
	rec->internal = wait->internal = true;
	push(before, rec);
	rec->c = done_new(before, rec->seq);
	if (!rec->c) {
		fk_run_until(before, UINT64_MAX);
		free(wait);
		return;
	}
	wait->c = rec->c;
	rec->c->refs++;
	push(later, wait);
}

void fk_enqueue(struct fk_stream *s, struct fk_op *op)
{
	struct fk_ctx *c = s->ctx;
	if (s == &c->null_stream) {
		for (struct fk_stream *b = c->streams; b; b = b->next)
			if (!(b->flags & CU_STREAM_NON_BLOCKING) && has_pending(b))
				order_after(s, b);
	} else if (!(s->flags & CU_STREAM_NON_BLOCKING) && has_pending(&c->null_stream)) {
		order_after(s, &c->null_stream);
	}
	push(s, op);
	if (op->kind == FK_RECORD && op->c)
		op->c->seq = op->seq;
}

/* ---- running ---- */

static const char *kind_name(enum fk_op_kind k)
{
	static const char *const n[] = { "htod", "dtoh", "dtod", "memset", "launch", "record", "wait" };
	return n[k];
}

static void log_op(const struct fk_stream *s, const struct fk_op *op)
{
	if (!fk.log || op->internal)
		return;
	fprintf(fk.log, "seq=%llu dev=%d stream=%u op=%s bytes=%zu", (unsigned long long)op->seq, s->ctx->dev, s->id,
		kind_name(op->kind), op->n);
	if (op->kind == FK_HTOD || op->kind == FK_DTOH)
		fprintf(fk.log, " host=%s", op->pinned ? "pinned" : "pageable");
	if (op->kind == FK_LAUNCH)
		fprintf(fk.log, " kernel=%s grid=%u,%u,%u block=%u,%u,%u", op->k->name, op->grid[0], op->grid[1],
			op->grid[2], op->block[0], op->block[1], op->block[2]);
	if (op->kind == FK_RECORD || op->kind == FK_WAIT)
		fprintf(fk.log, " event=%u", op->event_id);
	fputc('\n', fk.log);
}

/* A failure while running poisons the context: its queued work is dropped and every later call
 * on it returns the error, as on hardware. */
static CUresult poison(struct fk_ctx *c, CUresult r)
{
	c->sticky = r;
	struct fk_stream *all = &c->null_stream;
	for (struct fk_stream *s = all; s; s = s == all ? c->streams : s->next) {
		while (s->head) {
			struct fk_op *op = s->head;
			s->head = op->next;
			op_free(op);
		}
		s->tail = NULL;
	}
	return r;
}

static CUresult execute(struct fk_stream *s, struct fk_op *op)
{
	log_op(s, op);
	if (op->fail) {
		if (op->kind == FK_LAUNCH) {
			fprintf(stderr, "fakecuda: launch of %s failed (injected, FAKECUDA_FAIL)\n", op->k->name);
			return CUDA_ERROR_LAUNCH_FAILED;
		}
		fprintf(stderr, "fakecuda: %s of %zu bytes faulted (injected, FAKECUDA_FAIL)\n", kind_name(op->kind),
			op->n);
		return CUDA_ERROR_ILLEGAL_ADDRESS;
	}
	switch (op->kind) {
	case FK_HTOD:
	case FK_DTOH:
	case FK_DTOD:
		memmove(op->dst, op->owned ? op->owned : op->src, op->n);
		break;
	case FK_MEMSET:
		for (size_t i = 0; i < op->n / 4; i++)
			memcpy((char *)op->dst + 4 * i, &op->val, 4);
		break;
	case FK_LAUNCH: {
		char err[512] = "";
		CUresult r = fk_run_launch(op, err, sizeof err);
		if (r) {
			fprintf(stderr, "fakecuda: launch of %s failed: %s\n", op->k->name, err);
			return r;
		}
		break;
	}
	case FK_RECORD:
		op->c->t_ns = fk_now_ns();
		op->c->done = true;
		break;
	case FK_WAIT:
		break;
	}
	return CUDA_SUCCESS;
}

CUresult fk_run_until(struct fk_stream *s, uint64_t seq)
{
	struct fk_ctx *c = s->ctx;
	while (s->head && s->head->seq <= seq) {
		if (c->sticky)
			return c->sticky;
		struct fk_op *op = s->head;
		if (op->kind == FK_WAIT && op->c && !op->c->done) {
			/* the record was submitted before this wait, so this recursion ends */
			CUresult r = fk_run_until(op->c->s, op->c->seq);
			if (r)
				return c->sticky ? c->sticky : poison(c, r);
			if (s->head != op)
				continue; /* (cannot happen: nothing else runs s) */
		}
		s->head = op->next;
		if (!s->head)
			s->tail = NULL;
		CUresult r = execute(s, op);
		op_free(op);
		if (r)
			return poison(c, r);
	}
	return c->sticky;
}

/* The pending stream of c whose head was submitted last, or NULL. */
static struct fk_stream *newest_head(struct fk_ctx *c)
{
	struct fk_stream *best = has_pending(&c->null_stream) ? &c->null_stream : NULL;
	for (struct fk_stream *s = c->streams; s; s = s->next)
		if (has_pending(s) && (!best || s->head->seq > best->head->seq))
			best = s;
	return best;
}

CUresult fk_run_ctx(struct fk_ctx *c)
{
	struct fk_stream *s;
	while (!c->sticky && (s = newest_head(c)))
		fk_run_until(s, UINT64_MAX);
	return c->sticky;
}

CUresult fk_run_everything(void)
{
	CUresult first = CUDA_SUCCESS;
	for (int i = 0; i < fk.n_dev; i++) {
		struct fk_ctx *c = &fk.dev[i].ctx;
		if (c->refs > 0 && !c->sticky) {
			CUresult r = fk_run_ctx(c);
			if (!first)
				first = r;
		}
	}
	return first;
}

/* ---- streams ---- */

struct fk_stream *fk_stream_of(CUstream h, CUresult *r)
{
	if (!h) {
		struct fk_ctx *c = fk_cur(r);
		return c ? &c->null_stream : NULL;
	}
	for (int i = 0; i < fk.n_dev; i++) {
		struct fk_ctx *c = &fk.dev[i].ctx;
		for (struct fk_stream *s = c->streams; s; s = s->next)
			if ((CUstream)s == h) {
				*r = fk_ctx_ok(c);
				return *r ? NULL : s;
			}
	}
	*r = fk.initialized ? CUDA_ERROR_INVALID_HANDLE : CUDA_ERROR_NOT_INITIALIZED;
	return NULL;
}

FK_API CUresult cuStreamCreate(CUstream *out, unsigned flags)
{
	if (!out || (flags & ~(unsigned)CU_STREAM_NON_BLOCKING))
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&fk.lock);
	CUresult r;
	struct fk_ctx *c = fk_cur(&r);
	if (c) {
		struct fk_stream *s = calloc(1, sizeof *s);
		if (!s) {
			r = CUDA_ERROR_OUT_OF_MEMORY;
		} else {
			s->ctx = c;
			s->id = ++fk.next_id;
			s->flags = flags;
			s->next = c->streams;
			c->streams = s;
			*out = (CUstream)s;
		}
	}
	pthread_mutex_unlock(&fk.lock);
	return r;
}

/* Destroying a stream with queued work lets the work finish first (as the driver does). */
static void stream_free(struct fk_ctx *c, struct fk_stream *s)
{
	fk_run_ctx(c); /* everything: another stream may wait on s's records */
	for (struct fk_stream **pp = &c->streams; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	while (s->head) { /* only after a sticky error */
		struct fk_op *op = s->head;
		s->head = op->next;
		op_free(op);
	}
	free(s);
}

FK_API CUresult cuStreamDestroy_v2(CUstream h)
{
	pthread_mutex_lock(&fk.lock);
	CUresult r;
	struct fk_stream *s = h ? fk_stream_of(h, &r) : NULL;
	if (!h)
		r = CUDA_ERROR_INVALID_HANDLE;
	if (s) {
		struct fk_ctx *c = s->ctx;
		stream_free(c, s);
		r = c->sticky;
	}
	pthread_mutex_unlock(&fk.lock);
	return r;
}
FK_ALIAS(cuStreamDestroy, cuStreamDestroy_v2);

static CUresult stream_sync(CUstream h)
{
	pthread_mutex_lock(&fk.lock);
	CUresult r;
	struct fk_stream *s = fk_stream_of(h, &r);
	if (s)
		r = fk_run_until(s, UINT64_MAX);
	pthread_mutex_unlock(&fk.lock);
	return r;
}

FK_API CUresult cuStreamSynchronize(CUstream h) { return stream_sync(h); }
/* Deterministic: a query runs the stream and says it is done. */
FK_API CUresult cuStreamQuery(CUstream h) { return stream_sync(h); }

/* ---- events ---- */

static struct fk_event *event_of(CUevent h, CUresult *r)
{
	for (int i = 0; i < fk.n_dev; i++) {
		struct fk_ctx *c = &fk.dev[i].ctx;
		for (struct fk_event *e = c->events; e; e = e->next)
			if ((CUevent)e == h) {
				*r = fk_ctx_ok(c);
				return *r ? NULL : e;
			}
	}
	*r = fk.initialized ? CUDA_ERROR_INVALID_HANDLE : CUDA_ERROR_NOT_INITIALIZED;
	return NULL;
}

FK_API CUresult cuEventCreate(CUevent *out, unsigned flags)
{
	if (!out || (flags & ~(unsigned)(CU_EVENT_BLOCKING_SYNC | CU_EVENT_DISABLE_TIMING)))
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&fk.lock);
	CUresult r;
	struct fk_ctx *c = fk_cur(&r);
	if (c) {
		struct fk_event *e = calloc(1, sizeof *e);
		if (!e) {
			r = CUDA_ERROR_OUT_OF_MEMORY;
		} else {
			e->ctx = c;
			e->id = ++fk.next_id;
			e->flags = flags;
			e->next = c->events;
			c->events = e;
			*out = (CUevent)e;
		}
	}
	pthread_mutex_unlock(&fk.lock);
	return r;
}

static void event_free(struct fk_ctx *c, struct fk_event *e)
{
	for (struct fk_event **pp = &c->events; *pp; pp = &(*pp)->next)
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	fk_done_put(e->latest); /* queued records and waits keep their own references */
	free(e);
}

FK_API CUresult cuEventDestroy_v2(CUevent h)
{
	pthread_mutex_lock(&fk.lock);
	CUresult r;
	struct fk_event *e = event_of(h, &r);
	if (e)
		event_free(e->ctx, e);
	pthread_mutex_unlock(&fk.lock);
	return r;
}
FK_ALIAS(cuEventDestroy, cuEventDestroy_v2);

FK_API CUresult cuEventRecord(CUevent h, CUstream sh)
{
	pthread_mutex_lock(&fk.lock);
	CUresult r;
	struct fk_event *e = event_of(h, &r);
	struct fk_stream *s = e ? fk_stream_of(sh, &r) : NULL;
	if (!s)
		goto out;
	if (s->ctx != e->ctx) { /* the driver wants both in one context (a wait may cross them) */
		r = CUDA_ERROR_INVALID_HANDLE;
		goto out;
	}
	struct fk_op *op = fk_op_new(FK_RECORD);
	struct fk_done *c = op ? done_new(s, 0) : NULL;
	if (!c) {
		free(op);
		r = CUDA_ERROR_OUT_OF_MEMORY;
		goto out;
	}
	op->c = c;
	op->event_id = e->id;
	fk_enqueue(s, op);
	fk_done_put(e->latest);
	e->latest = c;
	c->refs++;
out:
	pthread_mutex_unlock(&fk.lock);
	return r;
}

FK_API CUresult cuStreamWaitEvent(CUstream sh, CUevent h, unsigned flags)
{
	if (flags)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&fk.lock);
	CUresult r;
	struct fk_event *e = event_of(h, &r);
	struct fk_stream *s = e ? fk_stream_of(sh, &r) : NULL;
	if (!s || !e->latest)
		goto out; /* waiting on a never-recorded event is a no-op */
	struct fk_op *op = fk_op_new(FK_WAIT);
	if (!op) {
		r = CUDA_ERROR_OUT_OF_MEMORY;
		goto out;
	}
	op->c = e->latest;
	op->c->refs++;
	op->event_id = e->id;
	fk_enqueue(s, op);
out:
	pthread_mutex_unlock(&fk.lock);
	return r;
}

static CUresult event_sync(CUevent h)
{
	pthread_mutex_lock(&fk.lock);
	CUresult r;
	struct fk_event *e = event_of(h, &r);
	if (e && e->latest && !e->latest->done)
		r = fk_run_until(e->latest->s, e->latest->seq);
	pthread_mutex_unlock(&fk.lock);
	return r;
}

FK_API CUresult cuEventSynchronize(CUevent h) { return event_sync(h); }
/* Deterministic: a query runs the work up to the record and says it is done. */
FK_API CUresult cuEventQuery(CUevent h) { return event_sync(h); }

FK_API CUresult cuEventElapsedTime_v2(float *ms, CUevent a, CUevent b)
{
	if (!ms)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&fk.lock);
	CUresult r;
	struct fk_event *ea = event_of(a, &r), *eb = ea ? event_of(b, &r) : NULL;
	if (!eb)
		goto out;
	if (!ea->latest || !eb->latest || ((ea->flags | eb->flags) & CU_EVENT_DISABLE_TIMING))
		r = CUDA_ERROR_INVALID_HANDLE;
	else if (!ea->latest->done || !eb->latest->done)
		r = CUDA_ERROR_NOT_READY;
	else
		*ms = (float)((double)((int64_t)(eb->latest->t_ns - ea->latest->t_ns)) / 1e6);
out:
	pthread_mutex_unlock(&fk.lock);
	return r;
}
FK_ALIAS(cuEventElapsedTime, cuEventElapsedTime_v2);

/* ---- copies and memset ---- */

static CUresult copy(enum fk_op_kind kind, void *dst, const void *src, size_t n, CUstream sh)
{
	pthread_mutex_lock(&fk.lock);
	CUresult r;
	struct fk_stream *s = fk_stream_of(sh, &r);
	if (!s)
		goto out;
	bool ok = kind == FK_HTOD   ? fk_dev_range_ok((uintptr_t)dst, n)
		  : kind == FK_DTOH ? fk_dev_range_ok((uintptr_t)src, n)
				    : fk_dev_range_ok((uintptr_t)dst, n) && fk_dev_range_ok((uintptr_t)src, n);
	r = CUDA_ERROR_INVALID_VALUE;
	if (!ok || (kind != FK_DTOD && !(kind == FK_HTOD ? src : dst)))
		goto out;
	r = CUDA_SUCCESS;
	if (!n)
		goto out;
	struct fk_op *op = fk_op_new(kind);
	if (!op) {
		r = CUDA_ERROR_OUT_OF_MEMORY;
		goto out;
	}
	op->dst = dst;
	op->src = src;
	op->n = n;
	op->fail = ++fk.n_copy == fk.fail_copy;
	if (kind != FK_DTOD)
		op->pinned = fk_host_pinned(kind == FK_HTOD ? src : dst, n);
	if (kind == FK_HTOD && !op->pinned) {
		/* pageable source: the driver stages it before returning, so it is read now */
		op->owned = malloc(n);
		if (!op->owned) {
			free(op);
			r = CUDA_ERROR_OUT_OF_MEMORY;
			goto out;
		}
		memcpy(op->owned, src, n);
	}
	fk_enqueue(s, op);
	if (kind == FK_DTOH && !op->pinned) /* pageable destination: done when the call returns */
		r = fk_run_until(s, op->seq);
out:
	pthread_mutex_unlock(&fk.lock);
	return r;
}

FK_API CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src, size_t n, CUstream s)
{
	return copy(FK_HTOD, (void *)(uintptr_t)dst, src, n, s);
}
FK_ALIAS(cuMemcpyHtoDAsync, cuMemcpyHtoDAsync_v2);

FK_API CUresult cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t n, CUstream s)
{
	return copy(FK_DTOH, dst, (const void *)(uintptr_t)src, n, s);
}
FK_ALIAS(cuMemcpyDtoHAsync, cuMemcpyDtoHAsync_v2);

FK_API CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s)
{
	return copy(FK_DTOD, (void *)(uintptr_t)dst, (const void *)(uintptr_t)src, n, s);
}
FK_ALIAS(cuMemcpyDtoDAsync, cuMemcpyDtoDAsync_v2);

FK_API CUresult cuMemsetD32Async(CUdeviceptr dst, unsigned v, size_t n, CUstream sh)
{
	pthread_mutex_lock(&fk.lock);
	CUresult r;
	struct fk_stream *s = fk_stream_of(sh, &r);
	if (!s)
		goto out;
	r = CUDA_ERROR_INVALID_VALUE;
	if ((dst & 3) || n > SIZE_MAX / 4 || !fk_dev_range_ok(dst, n * 4))
		goto out;
	r = CUDA_SUCCESS;
	if (!n)
		goto out;
	struct fk_op *op = fk_op_new(FK_MEMSET);
	if (!op) {
		r = CUDA_ERROR_OUT_OF_MEMORY;
		goto out;
	}
	op->dst = (void *)(uintptr_t)dst;
	op->n = n * 4;
	op->val = v;
	fk_enqueue(s, op);
out:
	pthread_mutex_unlock(&fk.lock);
	return r;
}

/* ---- context teardown (last primary-context release) ---- */

void fk_ctx_teardown(struct fk_ctx *c)
{
	if (!c->sticky)
		fk_run_ctx(c);
	poison(c, c->sticky ? c->sticky : CUDA_SUCCESS); /* drops whatever is left */
	while (c->streams)
		stream_free(c, c->streams);
	while (c->events)
		event_free(c, c->events);
	while (c->modules) {
		struct fk_module *m = c->modules;
		c->modules = m->next;
		fk_module_free(m);
	}
	if (fk_current == c)
		fk_current = NULL;
}
