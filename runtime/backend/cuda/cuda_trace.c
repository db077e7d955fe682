/* SPDX-License-Identifier: MIT */
/*
 * runtime/backend/cuda/cuda_trace.c — the device's own spans in the trace.
 *
 * The host only knows when it queued a kernel or a copy; when the device ran it is what a profile
 * needs.  So while tracing is on, every launch and copy is bracketed by two timing events on its
 * stream, and at each sync (once a token, where the host waits anyway) the finished pairs become
 * spans on a track per stream ("gpu N compute stream", "gpu N copy stream").  Device time is
 * placed in the trace's clock by a reference event: recorded and waited for when the session's
 * first span begins, and stamped with the trace clock then (an offset of one synchronisation's
 * latency, microseconds).  Tracing off costs one predictable branch per launch.
 */
#include "backend/cuda/cuda.h"
#include "trace.h"

#include <stdlib.h>

#define CUDA_TRACE_SPANS 4096 /* spans pending between syncs; more are not recorded (counted) */

struct cuda_span {
	CUevent a, b;
	const char *name;
	int q;
	int64_t arg;
};

struct cuda_trace {
	unsigned gen;                 /* the trace session the reference belongs to */
	CUevent ref;
	uint64_t ref_t;               /* trace clock when ref completed */
	struct cuda_span span[CUDA_TRACE_SPANS];
	unsigned n, n_events;         /* pending spans; events created (2 per slot, reused) */
	uint64_t dropped;
	struct sl_trace_track track[SL_Q_COUNT];
	char names[SL_Q_COUNT][48];
};

void sl_cuda_trace_free(struct sl_backend *b)
{
	struct cuda *c = b->priv;
	struct cuda_trace *t = c->trace;
	if (!t)
		return;
	for (unsigned i = 0; i < t->n_events / 2; i++) {
		c->cu->cuEventDestroy(t->span[i].a);
		c->cu->cuEventDestroy(t->span[i].b);
	}
	if (t->ref)
		c->cu->cuEventDestroy(t->ref);
	free(t);
	c->trace = NULL;
}

/* The session's reference point (taken at its first span); false when tracing cannot go on. */
static bool reference(struct cuda *c, struct cuda_trace *t)
{
	if (!sl_trace_track_open(&t->track[SL_Q_COMPUTE]))
		return false;
	if (t->ref_t && t->gen == t->track[SL_Q_COMPUTE].gen)
		return true;
	if (!t->ref && c->cu->cuEventCreate(&t->ref, CU_EVENT_DEFAULT)) {
		t->ref = NULL;
		return false;
	}
	if (c->cu->cuEventRecord(t->ref, c->s[SL_Q_COMPUTE]) || c->cu->cuEventSynchronize(t->ref))
		return false;
	t->ref_t = sl_trace_now();
	t->gen = t->track[SL_Q_COMPUTE].gen;
	t->n = 0; /* a previous session's spans: never written */
	return true;
}

int sl_cuda_trace_begin(struct sl_backend *b, int q)
{
	struct cuda *c = b->priv;
	struct cuda_trace *t = c->trace;
	if (!t) {
		if (!(t = c->trace = calloc(1, sizeof(*t))))
			return -1;
		for (int i = 0; i < SL_Q_COUNT; i++) {
			snprintf(t->names[i], sizeof(t->names[i]), "gpu %d %s stream", c->ordinal,
				 i == SL_Q_COPY ? "copy" : "compute");
			t->track[i].name = t->names[i];
		}
	}
	if (!reference(c, t))
		return -1;
	if (t->n == CUDA_TRACE_SPANS) {
		t->dropped++;
		return -1;
	}
	struct cuda_span *s = &t->span[t->n];
	if (t->n * 2 >= t->n_events) {
		if (c->cu->cuEventCreate(&s->a, CU_EVENT_DEFAULT))
			return -1;
		if (c->cu->cuEventCreate(&s->b, CU_EVENT_DEFAULT)) {
			c->cu->cuEventDestroy(s->a);
			return -1;
		}
		t->n_events += 2;
	}
	if (c->cu->cuEventRecord(s->a, c->s[q]))
		return -1;
	s->q = q;
	return (int)t->n;
}

void sl_cuda_trace_end(struct sl_backend *b, int slot, const char *name, int64_t arg)
{
	struct cuda *c = b->priv;
	struct cuda_trace *t = c->trace;
	if (slot < 0 || !t || (unsigned)slot != t->n)
		return;
	struct cuda_span *s = &t->span[slot];
	if (c->cu->cuEventRecord(s->b, c->s[s->q]))
		return;
	s->name = name;
	s->arg = arg;
	t->n++;
}

/* Device milliseconds from the reference to e, in the trace clock. */
static bool when(struct cuda *c, struct cuda_trace *t, CUevent e, uint64_t *out)
{
	float ms;
	if (c->cu->cuEventElapsedTime(&ms, t->ref, e) || !(ms >= 0))
		return false;
	*out = sl_trace_clock_after(t->ref_t, (uint64_t)((double)ms * 1e6));
	return true;
}

void sl_cuda_trace_flush(struct sl_backend *b)
{
	struct cuda *c = b->priv;
	struct cuda_trace *t = c->trace;
	if (!t || !t->n)
		return;
	if (t->gen == t->track[SL_Q_COMPUTE].gen && SL_TRACE_ACTIVE)
		for (unsigned i = 0; i < t->n; i++) {
			struct cuda_span *s = &t->span[i];
			uint64_t ta, tb;
			if (when(c, t, s->a, &ta) && when(c, t, s->b, &tb))
				sl_trace_track_span(&t->track[s->q], ta, tb, "device", s->name,
						    s->q == SL_Q_COPY ? "bytes" : "blocks", s->arg, 0);
		}
	t->n = 0;
}
