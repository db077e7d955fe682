/* SPDX-License-Identifier: MIT */
/*
 * runtime/trace_internal.h — the recorded events and the file writer's buffer, shared by the
 * recorder and the JSON writer (trace.c) and the Perfetto protobuf writer (trace_perfetto.c).
 */
#ifndef SLUICE_TRACE_INTERNAL_H
#define SLUICE_TRACE_INTERNAL_H

#include "internal.h"
#include "trace.h"

#include <stdatomic.h>

struct ev {
	uint64_t ts;
	const char *cat, *name, *keys;
	uint64_t id;
	int64_t v[4];
	char ph;
};

struct chunk {
	unsigned idx;        /* in the pool */
	atomic_uint n;       /* events written (the owner stores it with release) */
};

struct tbuf {
	struct chunk ch[SL_TRACE_CHUNKS];
	atomic_uint nch;     /* chunks taken (the owner stores it with release) */
	struct ev *cur;      /* the last chunk's events, and how many are written */
	unsigned cur_n;
	uint64_t drops;      /* only the owner writes it */
	unsigned depth;      /* spans recorded and not yet ended */
	unsigned skip;       /* spans whose begin was dropped: their ends are dropped too */
	long tid;
	const char *name;
};

extern struct tbuf sl_trace_bufs[SL_TRACE_THREADS];
extern struct ev *sl_trace_pool;
extern uint64_t sl_trace_t0; /* the session's start (clock ticks): timestamps are written relative to it */

/*
 * The events' clock.  A timestamp is most of an event's cost: clock_gettime through the vDSO takes
 * ~26 ns here, the TSC ~10 ns.  So where the TSC is invariant (constant rate, not stopped in idle:
 * CPUID 0x80000007 EDX bit 8) events carry TSC ticks, converted to nanoseconds when written by a
 * rate measured against CLOCK_MONOTONIC over the session itself; elsewhere they carry nanoseconds.
 */
/* Nanoseconds from the session's start to tick t (0 for ticks before it). */
uint64_t sl_trace_rel_ns(uint64_t t);
/* Nanoseconds between two ticks of this session (b after a). */
uint64_t sl_trace_span_ns(uint64_t a, uint64_t b);

/* every event of thread buffer b, in order: e (const struct ev *) */
#define FOR_EACH_EV(b, e)                                                                                          \
	for (unsigned c_ = 0, nc_ = atomic_load_explicit(&(b)->nch, memory_order_acquire); c_ < nc_; c_++)         \
		for (unsigned j_ = 0, n_ = atomic_load_explicit(&(b)->ch[c_].n, memory_order_acquire); j_ < n_; j_++) \
			for (const struct ev *e = &sl_trace_pool[(size_t)(b)->ch[c_].idx * SL_TRACE_CHUNK + j_]; e; e = NULL)

/* The asynchronous begins and ends ('b', 'e': I/O requests) of the first nb thread buffers, with the
 * id of the thread that recorded each, sorted by cmp (over struct sl_trace_aref).  *n: how many;
 * NULL when there are none or no memory for them (the writers then leave them out). */
struct sl_trace_aref {
	const struct ev *e;
	long tid;
};
struct sl_trace_aref *sl_trace_collect_async(unsigned nb, int (*cmp)(const void *, const void *), size_t *n);

/* A buffered writer to the trace file: the first write error is kept (positive errno). */
struct jw {
	int fd;
	int err; /* first write error, positive */
	size_t len;
	char buf[1 << 16];
};

void sl_trace_jw_flush(struct jw *w);
void sl_trace_jw_put(struct jw *w, const char *s, size_t n);

/* The Perfetto writer (trace_perfetto.c): nb thread buffers, spans still open end at t_end. */
void sl_trace_write_perfetto(struct jw *w, unsigned nb, uint64_t t_end, uint64_t dropped);
/* Does this path ask for the Perfetto format (.perfetto-trace, .pftrace)? */
bool sl_trace_path_is_perfetto(const char *path);

#endif
