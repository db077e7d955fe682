/* SPDX-License-Identifier: MIT */
/*
 * runtime/io/io.h — reading byte ranges of a model file, through a pluggable engine.
 *
 * Two levels:
 *
 *  1. The consumer level (what the weight cache uses).  A struct sl_io_req asks for an
 *     arbitrary byte range [offset, offset+len) of the file.  Engines that need alignment
 *     (O_DIRECT) read the range rounded outward to sl_io_alignment(); the caller sizes its
 *     buffer with sl_io_span() and finds its bytes at req->data (= buf + skip) on completion.
 *     The layer splits a range into engine commands of at most max_request bytes, merges
 *     commands of adjacent requests whose buffers are adjacent too, keeps at most
 *     queue_depth commands in flight, and retries a queue that says it is full.
 *     A request completes with result == len, or a negative errno and a message (naming
 *     the file, offset and length) — a short read, an EIO, or a file that ends before the
 *     range does is an error, never zero-filled data:
 *        -EIO      the device failed, or returned fewer bytes than asked before EOF
 *        -ENODATA  the file ends before offset+len
 *        -EBUSY    the engine's queue stays full with nothing in flight
 *
 *  2. The engine level (struct sl_io_ops): aligned commands of at most max_request bytes,
 *     submitted asynchronously and reaped.  uring.c (io_uring, O_DIRECT, fixed buffers and
 *     files), pread.c (synchronous pread, any alignment), mmap.c (page cache, the llama.cpp
 *     baseline), fault.c (a failure-injecting wrapper around any of them).  A userspace
 *     NVMe engine plugs in the same way.
 *
 * Not thread-safe: one struct sl_io is driven by one thread at a time.
 */
#ifndef SLUICE_IO_H
#define SLUICE_IO_H

#include "internal.h"

#include <sys/uio.h>

struct sl_io;
struct sl_io_cmd;

/* ---- consumer level ---- */

struct sl_io_req {
	/* in */
	uint64_t offset;   /* file byte offset of the wanted range (any alignment) */
	uint64_t len;      /* bytes wanted, > 0 */
	void *buf;         /* >= span bytes (sl_io_span), aligned to sl_io_mem_alignment() */
	void *user;        /* caller's cookie, untouched */
	/* out, valid once reaped */
	int64_t result;    /* len, or -errno */
	void *data;        /* buf + skip: where byte `offset` landed */
	/* private to io.c */
	uint64_t a_off, a_end;  /* aligned span in the file */
	uint64_t issued;        /* bytes of the span handed to commands so far */
	uint32_t pending;       /* commands in flight for this request */
	struct sl_io_req *next; /* queue link */
};

struct sl_io_config {
	uint32_t queue_depth;  /* engine commands in flight; 0 → 32 */
	uint64_t max_request;  /* bytes per engine command; 0 → 1 MiB (rounded to alignment) */
	bool buffered;         /* uring: no O_DIRECT (page cache), for comparison runs */
	const char *fault;     /* fault spec (see fault.c); NULL → $SLUICE_IO_FAULT */
	bool no_env;           /* ignore $SLUICE_IO_FAULT (unit tests that set their own) */
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
 * cfg may be NULL.  A fault spec (cfg->fault or $SLUICE_IO_FAULT) wraps the engine in fault.c.
 */
int sl_io_open(const char *engine, const char *path, const struct sl_io_config *cfg,
	       struct sl_io **out, struct sl_err *err);
void sl_io_close(struct sl_io *io);

const char *sl_io_engine_name(const struct sl_io *io); /* "uring", "pread", "mmap", "fault(uring)" */
const char *sl_io_path(const struct sl_io *io);
uint64_t sl_io_file_size(const struct sl_io *io);
uint32_t sl_io_alignment(const struct sl_io *io);     /* file offset and length granularity */
uint32_t sl_io_mem_alignment(const struct sl_io *io); /* buffer address granularity */
uint32_t sl_io_queue_depth(const struct sl_io *io);
uint64_t sl_io_max_request(const struct sl_io *io);
/* Why "auto" did not get the engine it wanted ("" when it did): one line, for the CLI. */
const char *sl_io_notice(const struct sl_io *io);

/* The aligned span a read of [off, off+len) touches: allocate aligned_len bytes; the data
 * starts at buf + skip.  Fails only on overflow (-EOVERFLOW). */
int sl_io_span(const struct sl_io *io, uint64_t off, uint64_t len, uint64_t *aligned_off,
	       uint64_t *aligned_len, uint64_t *skip);

/* Queue n requests.  They are issued as capacity allows; 0 or -errno (bad request: nothing
 * of that request or after it is queued). */
int sl_io_submit(struct sl_io *io, struct sl_io_req **reqs, unsigned n, struct sl_err *err);
/* Wait until at least min requests are complete (fewer if fewer are outstanding), return up
 * to max of them in done[].  Returns the count, or -errno when the engine itself failed.
 * A failed request has result < 0; err then holds the message of the last one. */
int sl_io_reap(struct sl_io *io, unsigned min, struct sl_io_req **done, unsigned max,
	       struct sl_err *err);
/* Requests submitted and not yet reaped. */
unsigned sl_io_outstanding(const struct sl_io *io);

/* Synchronous: read [off, off+len) into buf (any address, exactly len bytes written).
 * Reads straight into buf when the range and buf are aligned, else through a bounce buffer. */
int sl_io_read(struct sl_io *io, uint64_t off, uint64_t len, void *buf, struct sl_err *err);

/* Fixed buffers: slot < SL_IO_MAX_FIXED; len 0 clears the slot.  Engines without fixed
 * buffers accept and ignore (returns 0); reads into a registered region use it. */
#define SL_IO_MAX_FIXED 64
int sl_io_register_buffer(struct sl_io *io, unsigned slot, void *base, size_t len,
			  struct sl_err *err);

/* mmap engine only: a pointer into the mapping (no copy).  -ENOTSUP for other engines. */
int sl_io_map(struct sl_io *io, uint64_t off, uint64_t len, const void **ptr, struct sl_err *err);

/* Called for every engine command as it is issued (benchmarks write a fio iolog from it so
 * fio can replay exactly the same request stream).  fn NULL turns it off. */
typedef void (*sl_io_trace_fn)(void *ctx, uint64_t offset, uint64_t len);
void sl_io_set_trace(struct sl_io *io, sl_io_trace_fn fn, void *ctx);

void sl_io_get_stats(const struct sl_io *io, struct sl_io_stats *out);
void sl_io_reset_stats(struct sl_io *io);
/* Latency quantile q in [0,1] of the histogram, in nanoseconds (bucket midpoint). */
uint64_t sl_io_stats_quantile(const struct sl_io_stats *s, double q);
void sl_io_stats_record_latency(struct sl_io_stats *s, uint64_t ns);

/* ---- engine level ---- */

/* One aligned command: offset, len multiples of io->align (len may pass EOF). */
struct sl_io_cmd {
	uint64_t offset;
	uint64_t len;
	void *buf;
	int64_t result;        /* bytes read, or -errno (set by the engine) */
	uint64_t submit_ns;
	struct sl_io_cmd *next; /* free list / engine-private lists */
	/* the consumer requests this command serves (several when merged) */
#define SL_IO_CMD_MAX_REQS 8
	unsigned nreq;
	struct sl_io_req *req[SL_IO_CMD_MAX_REQS];
};

struct sl_io_ops {
	const char *name;
	/* Open path; set io->fd, file_size, align, mem_align (or leave them to defaults). */
	int (*open)(struct sl_io *io, const char *path, struct sl_err *err);
	/* Accept up to n commands; return how many were taken (>= 0; 0 means the queue is
	 * full: -EBUSY/-EAGAIN may be returned for that too) or -errno. */
	int (*submit)(struct sl_io *io, struct sl_io_cmd **cmds, unsigned n);
	/* Wait for at least min completions, return up to max, or -errno. */
	int (*reap)(struct sl_io *io, unsigned min, struct sl_io_cmd **done, unsigned max,
		    struct sl_err *err);
	int (*register_buffer)(struct sl_io *io, unsigned slot, void *base, size_t len,
			       struct sl_err *err); /* may be NULL */
	int (*map)(struct sl_io *io, uint64_t off, uint64_t len, const void **ptr); /* may be NULL */
	void (*close)(struct sl_io *io);
};

extern const struct sl_io_ops sl_io_uring_ops;
extern const struct sl_io_ops sl_io_pread_ops;
extern const struct sl_io_ops sl_io_mmap_ops;
extern const struct sl_io_ops sl_io_fault_ops;

/* Open-time switches the fault spec can flip (they simulate tmpfs and seccomp). */
struct sl_io_open_faults {
	bool no_direct; /* O_DIRECT open fails with EINVAL */
	bool no_uring;  /* io_uring_queue_init fails with ENOSYS */
};

struct sl_io {
	const struct sl_io_ops *ops;
	void *priv;            /* the engine's state */
	char *path;
	int fd;
	uint64_t file_size;
	uint32_t align, mem_align;
	uint32_t qd;
	uint64_t max_request;
	bool buffered;
	struct sl_io_open_faults open_faults;
	char name[32];
	char notice[256];

	/* io.c's queueing state */
	struct sl_io_cmd *cmds, *free_cmds;
	struct sl_io_cmd *ready_head, *ready_tail; /* carved, not yet taken by the engine */
	unsigned nready, ndone;
	unsigned inflight;      /* commands held by the engine */
	unsigned outstanding;   /* consumer requests not yet reaped */
	struct sl_io_req *q_head, *q_tail;     /* submitted, not fully issued */
	struct sl_io_req *done_head, *done_tail; /* complete, not yet reaped */
	uint64_t busy_since;
	struct sl_io_stats stats;
	char last_err[SL_ERR_LEN];
	sl_io_trace_fn trace;
	void *trace_ctx;
};

/* Helpers shared by engines. */
/* A FIFO of commands completed at submit time (pread, mmap, injected faults), handed out by reap. */
struct sl_io_cmdq {
	struct sl_io_cmd *head, *tail;
};
void sl_io_cmdq_push(struct sl_io_cmdq *q, struct sl_io_cmd *c);
/* Move up to max commands into done[]; returns how many. */
unsigned sl_io_cmdq_pop(struct sl_io_cmdq *q, struct sl_io_cmd **done, unsigned max);

/* Open path read-only (O_DIRECT if direct), fill fd and file_size (block devices too). */
int sl_io_open_file(struct sl_io *io, const char *path, bool direct, struct sl_err *err);
/* Query the O_DIRECT alignment of io->fd: BLKSSZGET, statx DIOALIGN, else probing. */
void sl_io_probe_alignment(struct sl_io *io);
/* Allocate io->priv-style engine state of one of the built-in engines on its own (fault.c). */
int sl_io_engine_open(const struct sl_io_ops *ops, const char *path, const struct sl_io *like,
		      struct sl_io **out, struct sl_err *err);
void sl_io_engine_close(struct sl_io *io);

/* fault.c: open-time switches of a spec, and wrapping an open engine (io.c calls both). */
int sl_io_fault_open_flags(const char *spec, struct sl_io_open_faults *of, struct sl_err *err);
/* True when spec has run-time faults (anything beyond the open-time switches). */
bool sl_io_fault_has_runtime(const char *spec);
int sl_io_fault_attach(struct sl_io *io, const char *spec, struct sl_err *err);

#endif
