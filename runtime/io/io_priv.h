/* SPDX-License-Identifier: MIT */
/*
 * runtime/io/io_priv.h — the generic layer's own state, shared by its files only:
 * io.c (open, queueing, submit, reap), io_mem.c (regions), io_thread.c (the completion
 * thread), io_read.c (synchronous reads), io_stats.c.  Engines never include this.
 *
 * Locking: mu guards everything below it that the I/O thread can reach (the queues, the
 * commands, the counters, stats, last_err, trace).  Fields above it are set at open and
 * read-only afterwards, or belong to the consumer thread alone (regions, bounce buffer,
 * outstanding).
 */
#ifndef SLUICE_IO_PRIV_H
#define SLUICE_IO_PRIV_H

#include "io/io_engine.h"

#include <pthread.h>

struct sl_io {
	struct sl_io_engine *eng;
	char notice[256];
	uint32_t align, mem_align, qd;
	uint64_t max_request;
	bool threaded;

	/* the consumer's */
	unsigned outstanding;          /* requests submitted, not yet reaped */
	struct sl_io_mem **mems;       /* regions sorted by base, not overlapping */
	unsigned nmems, capmems;
	void *bounce;                  /* sl_io_read's registered bounce buffer (lazy) */
	uint64_t bounce_len;
	struct sl_io_mem *bounce_mem;

	pthread_mutex_t mu;
	pthread_cond_t done_cv;        /* the thread finished requests (consumer waits) */
	pthread_cond_t work_cv;        /* there is work, or stop (the thread waits) */
	pthread_t thread;
	bool thread_started, stop;
	int fatal;                     /* the engine failed as a whole (-errno), thread mode */
	char fatal_msg[SL_ERR_LEN];

	uint64_t size;                 /* the source's size (lowered when found shorter) */
	struct sl_io_cmd *cmds, *free_cmds;
	struct sl_io_cmd *ready_head, *ready_tail; /* carved, not yet taken by the engine */
	unsigned nready, ndone;
	unsigned inflight;             /* commands held by the engine */
	bool issuing;                  /* the thread is inside a sync engine's submit, unlocked */
	struct sl_io_req *q_head, *q_tail;       /* submitted, not fully issued */
	struct sl_io_req *done_head, *done_tail; /* complete, not yet reaped */
	uint64_t busy_since;
	struct sl_io_stats stats;
	char last_err[SL_ERR_LEN];
	sl_io_trace_fn trace;
	void *trace_ctx;
};

/* io.c, called with mu held. */
/* Hand queued work to the engine until it is full or nothing is left; true when the engine
 * refused (queue full).  A sync engine's submit runs unlocked when the thread calls this. */
bool sl_io_pump(struct sl_io *io);
/* Reap engine completions (waiting for min) and finish their requests; count or -errno. */
int sl_io_engine_reap(struct sl_io *io, unsigned min, struct sl_err *err);
/* The engine keeps refusing with nothing in flight: fail everything queued with -EBUSY. */
void sl_io_fail_stuck(struct sl_io *io);
/* An engine that refuses while nothing is in flight gets this many retries (with a short
 * sleep each) before the requests fail with -EBUSY. */
#define SL_IO_BUSY_TRIES 200
#define SL_IO_BUSY_SLEEP_US 100

/* io_thread.c */
int sl_io_thread_start(struct sl_io *io, struct sl_err *err);
void sl_io_thread_stop(struct sl_io *io);
int sl_io_thread_reap(struct sl_io *io, unsigned min, struct sl_io_req **done, unsigned max,
		      struct sl_err *err);

/* io_mem.c */
/* The region holding [p, p+len), or NULL. */
struct sl_io_mem *sl_io_mem_find(const struct sl_io *io, const void *p, uint64_t len);
void sl_io_mem_free_all(struct sl_io *io);

/* io.c: move finished requests to done[] (with mu held). */
unsigned sl_io_take_done(struct sl_io *io, struct sl_io_req **done, unsigned max, bool *failed);

#endif
