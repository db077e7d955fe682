/* SPDX-License-Identifier: MIT */
/*
 * runtime/trace.h — timestamped spans, instant events and counters, written as a Chrome JSON
 * trace (ui.perfetto.dev, chrome://tracing) by sluice_trace_stop.
 *
 * Off (the default): every SL_TRACE_* is one predictable branch on a global flag.
 On: sluice_trace_start allocates a pool of SL_TRACE_CHUNKS chunks of SL_TRACE_CHUNK events;
 * each thread claims one of SL_TRACE_THREADS buffers and takes chunks from the pool as it fills
 * them (an atomic increment); recording is a store into the thread's chunk and one release store
 * of its count — no lock, no allocation.  When the pool is used up (or a thread comes past the
 * last buffer) events are dropped and counted; a span whose begin was dropped loses its end too, so spans always
 * pair and nest on a thread.
 *
 *   SL_TRACE_B(cat, name, keys, a, b, c, d)   begin a span on the calling thread's track
 *   SL_TRACE_E()                              end the innermost span of the calling thread
 *   SL_TRACE_I(cat, name, keys, a, b, c, d)   an instant event
 *   SL_TRACE_AB / SL_TRACE_AE(cat, name, id)  an asynchronous span (begin and end may be on
 *                                             different threads: an I/O request), keyed by id
 *   SL_TRACE_C(name, value)                   a counter's new value
 *   SL_TRACE_CADD(counter, delta)             add to one of enum sl_trace_counter and record it
 *   SL_TRACE_THREAD(name)                     names the calling thread's track ("model", "io")
 *
 * cat, name and keys are string literals (kept by pointer).  keys names the arguments a..d,
 * comma-separated ("bytes,offset"); a key starting with '$' marks a `const char *` argument of
 * static lifetime (a type name) instead of an integer.
 */
#ifndef SLUICE_TRACE_H
#define SLUICE_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#define SL_TRACE_THREADS 64
#define SL_TRACE_CHUNK 4096u  /* events */
#define SL_TRACE_CHUNKS 256u  /* 1 Mi events in all, 80 MiB of address space, touched as used */

extern int sl_trace_on;

enum sl_trace_counter { SL_TC_IO_BYTES_IN_FLIGHT, SL_TC_N };

void sl_trace_rec(char ph, const char *cat, const char *name, uint64_t id, const char *keys, int64_t a, int64_t b,
		  int64_t c, int64_t d);
void sl_trace_counter_add(enum sl_trace_counter k, int64_t delta);
void sl_trace_thread(const char *name);

/*
 * A track of its own for a device queue (a GPU stream), with spans whose times the caller measured
 * (device events): one writer at a time per track.  Clock values are sl_trace_now()'s.
 *   sl_trace_track_open   claims the track's buffer for this session (false when tracing is off
 *                         or the buffers are used up); spans call it themselves
 *   sl_trace_track_span   one span [t_begin, t_end] with two integer arguments
 */
struct tbuf;
struct sl_trace_track {
	const char *name; /* the track's name (static lifetime), set by its owner */
	struct tbuf *buf;
	unsigned gen;
	uint64_t last_end;
};
bool sl_trace_track_open(struct sl_trace_track *tr);
void sl_trace_track_span(struct sl_trace_track *tr, uint64_t t_begin, uint64_t t_end, const char *cat,
			 const char *name, const char *keys, int64_t a, int64_t b);
/* The trace clock now, and the clock value ns nanoseconds after t (by the session's rate so far). */
uint64_t sl_trace_clock(void);
#define sl_trace_now() sl_trace_clock()
uint64_t sl_trace_clock_after(uint64_t t, uint64_t ns);

#define SL_TRACE_ACTIVE __builtin_expect(__atomic_load_n(&sl_trace_on, __ATOMIC_RELAXED), 0)
#define SL_TRACE_V(x) ((int64_t)(intptr_t)(x))
#define SL_TRACE_B(cat, name, keys, a, b, c, d)                                                                    \
	do {                                                                                                       \
		if (SL_TRACE_ACTIVE)                                                                               \
			sl_trace_rec('B', cat, name, 0, keys, SL_TRACE_V(a), SL_TRACE_V(b), SL_TRACE_V(c),        \
				     SL_TRACE_V(d));                                                               \
	} while (0)
#define SL_TRACE_E()                                                                                               \
	do {                                                                                                       \
		if (SL_TRACE_ACTIVE)                                                                               \
			sl_trace_rec('E', "", "", 0, "", 0, 0, 0, 0);                                              \
	} while (0)
#define SL_TRACE_I(cat, name, keys, a, b, c, d)                                                                    \
	do {                                                                                                       \
		if (SL_TRACE_ACTIVE)                                                                               \
			sl_trace_rec('i', cat, name, 0, keys, SL_TRACE_V(a), SL_TRACE_V(b), SL_TRACE_V(c),        \
				     SL_TRACE_V(d));                                                               \
	} while (0)
#define SL_TRACE_AB(cat, name, id, keys, a, b, c, d)                                                               \
	do {                                                                                                       \
		if (SL_TRACE_ACTIVE)                                                                               \
			sl_trace_rec('b', cat, name, (uint64_t)(uintptr_t)(id), keys, SL_TRACE_V(a),              \
				     SL_TRACE_V(b), SL_TRACE_V(c), SL_TRACE_V(d));                                 \
	} while (0)
#define SL_TRACE_AE(cat, name, id)                                                                                 \
	do {                                                                                                       \
		if (SL_TRACE_ACTIVE)                                                                               \
			sl_trace_rec('e', cat, name, (uint64_t)(uintptr_t)(id), "", 0, 0, 0, 0);                  \
	} while (0)
#define SL_TRACE_C(name, value)                                                                                    \
	do {                                                                                                       \
		if (SL_TRACE_ACTIVE)                                                                               \
			sl_trace_rec('C', "counter", name, 0, "", SL_TRACE_V(value), 0, 0, 0);                    \
	} while (0)
#define SL_TRACE_CADD(k, delta)                                                                                    \
	do {                                                                                                       \
		if (SL_TRACE_ACTIVE)                                                                               \
			sl_trace_counter_add(k, (int64_t)(delta));                                                 \
	} while (0)
#define SL_TRACE_THREAD(name) sl_trace_thread(name)

#endif
