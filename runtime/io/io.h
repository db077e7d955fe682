/* SPDX-License-Identifier: MIT */
/*
 * runtime/io/io.h — reading byte ranges of a model's weights, for the weight store.
 *
 * This is the consumer's view; engines (io_uring, pread, mmap, a userspace NVMe driver)
 * implement runtime/io/io_engine.h and are never seen from here.
 *
 * A struct sl_io_req asks for an arbitrary byte range [offset, offset+len) of a source.
 * Engines that need alignment (O_DIRECT, NVMe blocks) read the range rounded outward to
 * sl_io_alignment(); the caller sizes its buffer with sl_io_span() and finds its bytes at
 * req->data (= buf + skip) on completion.  The layer splits a range into engine commands of
 * at most max_request bytes, merges commands of adjacent requests whose buffers are adjacent
 * too, keeps at most queue_depth commands in flight, and retries a queue that says it is
 * full.  A request completes with result == len, or a negative errno and a message (naming
 * the source, offset and length) — a short read, an EIO, or a source that ends before the
 * range does is an error, never zero-filled data:
 *    -EIO      the device failed, or returned fewer bytes than asked before the end
 *    -ENODATA  the source ends before offset+len
 *    -EBUSY    the engine's queue stays full with nothing in flight
 *
 * Memory: asynchronous reads land only in registered memory (sl_io_mem_register), because
 * a device that DMAs on its own (VFIO NVMe) can only write where an IO virtual address was
 * mapped for it, and io_uring reads fixed buffers cheaper than pinning pages per request.
 * sl_io_submit fails with -EINVAL when a buffer is not inside one region.  sl_io_read takes
 * any buffer (it goes through a registered bounce buffer when it must).
 *
 * Threading contract:
 *  - One consumer thread at a time calls every function here (open, submit, reap, read,
 *    register, close, stats).  The weight store serialises its callers.
 *  - With sl_io_config.thread, the layer runs one I/O thread of its own: it waits for
 *    engine completions, finishes requests onto the done list and refills the engine queue
 *    from what was submitted, so the drive stays busy while the consumer computes.
 *    sl_io_reap then only takes finished requests (waiting when there are fewer than min).
 *    Shared state is under one mutex; the thread blocks on the engine without it.
 *    The trace hook may then be called on the I/O thread.
 *  - A request's fields are the layer's from sl_io_submit until sl_io_reap returns it;
 *    the caller must not touch the request or its buffer in between.
 *  - sl_io_close waits for commands in flight (their buffers belong to the caller) and
 *    stops the thread; requests not yet reaped are dropped.
 */
#ifndef SLUICE_IO_H
#define SLUICE_IO_H

#include "internal.h"

struct sl_io;
struct sl_io_mem; /* a registered memory region (io_engine.h has its fields) */

/* ---- where the bytes come from ---- */

enum sl_io_source_kind {
	SL_IO_SOURCE_FILE = 0, /* a regular file or a block device, by path */
	/* Later: SL_IO_SOURCE_NVME — a namespace by PCI address and namespace id, with the
	 * LBA block map of the model file on it (extents from FIEMAP), for a VFIO engine. */
};

struct sl_io_source {
	enum sl_io_source_kind kind;
	const char *path; /* FILE: the path; also the name used in messages */
};

/* ---- requests ---- */

struct sl_io_req {
	/* in */
	uint64_t offset;   /* source byte offset of the wanted range (any alignment) */
	uint64_t len;      /* bytes wanted, > 0 */
	void *buf;         /* >= span bytes (sl_io_span), aligned to sl_io_mem_alignment(),
			    * all inside one registered region */
	void *user;        /* caller's cookie, untouched */
	/* out, valid once reaped */
	int64_t result;    /* len, or -errno */
	void *data;        /* buf + skip: where byte `offset` landed */
	/* Private to io.c: embedded so that submitting allocates nothing.  Do not touch. */
	struct sl_io_req_priv {
		uint64_t a_off, a_end;   /* aligned span in the source */
		uint64_t issued;         /* bytes of the span handed to commands so far */
		uint32_t pending;        /* commands in flight for this request */
		struct sl_io_mem *mem;   /* the region buf lies in */
		uint64_t mem_off;        /* buf - region base */
		struct sl_io_req *next;  /* queue link */
	} priv;
};

struct sl_io_config {
	uint32_t queue_depth;  /* engine commands in flight; 0 → 32 */
	uint64_t max_request;  /* bytes per engine command; 0 → 1 MiB (rounded to alignment) */
	bool buffered;         /* uring: no O_DIRECT (page cache), for comparison runs */
	/* Fault injection (see fault.c): the chosen engine is wrapped in a decorator that lies
	 * about results.  NULL or "" → none.  The library reads no environment variables; the
	 * CLI passes $SLUICE_IO_FAULT here. */
	const char *fault;
	bool thread;           /* reap completions on a dedicated I/O thread (see above) */
};

/* Latency histogram: log2 buckets of nanoseconds with 8 linear sub-buckets (~12% wide). */
#define SL_IO_HIST_BUCKETS (64 * 8)

struct sl_io_stats {
	uint64_t bytes;      /* bytes the engine delivered */
	uint64_t commands;   /* engine commands completed */
	uint64_t requests;   /* consumer requests completed */
	uint64_t errors;     /* consumer requests that failed */
	uint64_t busy_retries; /* submissions the engine refused as full */
	uint64_t busy_ns;    /* time with at least one command in flight */
	uint64_t lat_count;
	uint64_t lat_hist[SL_IO_HIST_BUCKETS];
};

/*
 * engine: "auto" (uring, else pread with a notice), "uring", "pread", "mmap".
 * cfg may be NULL.
 */
int sl_io_open(const char *engine, const struct sl_io_source *src, const struct sl_io_config *cfg,
	       struct sl_io **out, struct sl_err *err);
void sl_io_close(struct sl_io *io);

const char *sl_io_engine_name(const struct sl_io *io); /* "uring", "pread", "mmap", "fault(uring)" */
const char *sl_io_path(const struct sl_io *io);        /* the source's name in messages */
uint64_t sl_io_file_size(const struct sl_io *io);      /* bytes in the source */
uint32_t sl_io_alignment(const struct sl_io *io);      /* offset and length granularity */
uint32_t sl_io_mem_alignment(const struct sl_io *io);  /* buffer address granularity */
uint32_t sl_io_queue_depth(const struct sl_io *io);
uint64_t sl_io_max_request(const struct sl_io *io);
/* Why "auto" did not get the engine it wanted ("" when it did): one line, for the CLI. */
const char *sl_io_notice(const struct sl_io *io);

/* The aligned span a read of [off, off+len) touches: allocate aligned_len bytes; the data
 * starts at buf + skip.  Fails only on overflow (-EOVERFLOW). */
int sl_io_span(const struct sl_io *io, uint64_t off, uint64_t len, uint64_t *aligned_off,
	       uint64_t *aligned_len, uint64_t *skip);

/* ---- memory ---- */

/*
 * Make [base, base+len) a target for reads.  Regions must not overlap.  The engine may give
 * it a faster path (io_uring: a fixed-buffer slot while one of 64 is free and the region is
 * at most 1 GiB; beyond that it is read with plain reads) or map it for its device.
 * 0, or -EINVAL (empty, overlapping), -ENOMEM, or the engine's error.
 */
int sl_io_mem_register(struct sl_io *io, void *base, size_t len, struct sl_io_mem **out,
		       struct sl_err *err);
/* Forget a region (NULL: nothing).  No request into it may be outstanding. */
void sl_io_mem_unregister(struct sl_io *io, struct sl_io_mem *m);

/* ---- asynchronous reads ---- */

/* Queue n requests.  They are issued as capacity allows; 0 or -errno (bad request, e.g. a
 * buffer outside registered memory: nothing of that request or after it is queued). */
int sl_io_submit(struct sl_io *io, struct sl_io_req **reqs, unsigned n, struct sl_err *err);
/* Wait until at least min requests are complete (fewer if fewer are outstanding), return up
 * to max of them in done[].  Returns the count, or -errno when the engine itself failed.
 * A failed request has result < 0; err then holds the message of the last one. */
int sl_io_reap(struct sl_io *io, unsigned min, struct sl_io_req **done, unsigned max,
	       struct sl_err *err);
/* Requests submitted and not yet reaped. */
unsigned sl_io_outstanding(const struct sl_io *io);

/* Synchronous: read [off, off+len) into buf (any address, exactly len bytes written).  Reads
 * straight into buf when the range and buf are aligned and buf is registered, else through
 * a registered bounce buffer the io keeps.  Not while asynchronous requests are outstanding. */
int sl_io_read(struct sl_io *io, uint64_t off, uint64_t len, void *buf, struct sl_err *err);

/* Does the engine hand out pointers into a mapping of the source (the page cache)?  A consumer
 * then uses the mapping as its host tier instead of reading into buffers of its own. */
bool sl_io_maps(const struct sl_io *io);
/* mmap engine only: a pointer into the mapping (no copy).  -ENOTSUP for other engines. */
int sl_io_map(struct sl_io *io, uint64_t off, uint64_t len, const void **ptr, struct sl_err *err);

/* ---- observing ---- */

/* Called for every engine command as it is issued (benchmarks write a fio iolog from it so
 * fio can replay exactly the same request stream).  fn NULL turns it off.  With the I/O
 * thread it may run on that thread, under the layer's lock: keep it short. */
typedef void (*sl_io_trace_fn)(void *ctx, uint64_t offset, uint64_t len);
void sl_io_set_trace(struct sl_io *io, sl_io_trace_fn fn, void *ctx);

void sl_io_get_stats(struct sl_io *io, struct sl_io_stats *out);
void sl_io_reset_stats(struct sl_io *io);
/* Latency quantile q in [0,1] of the histogram, in nanoseconds (bucket midpoint). */
uint64_t sl_io_stats_quantile(const struct sl_io_stats *s, double q);
void sl_io_stats_record_latency(struct sl_io_stats *s, uint64_t ns);

#endif
