/* SPDX-License-Identifier: MIT */
/*
 * runtime/backend/cpu/cpu.h — what the CPU backend's files share.
 *
 * Every op is first described as a job (struct cpu_job: the op and its
 * arguments, by value), checked on the caller's thread (sl_cpu_job_check: bad
 * arguments and unsupported types fail at once, with a message), and then
 * either run at once ("cpu", sl_cpu_job_run) or queued for the deferred worker
 * ("cpu-async", "cpu-async-zc": cpu_async.c).  One description, one checker,
 * one set of kernels for all three backends: the asynchronous test mode
 * differs from the reference only in *when* a kernel runs.
 */
#ifndef SLUICE_BACKEND_CPU_H
#define SLUICE_BACKEND_CPU_H

#include "backend/backend.h"

struct sl_threadpool;
struct cpu_async;

struct cpu {
	struct sl_threadpool *pool; /* used by one thread only: the caller ("cpu") or the worker (async) */
	void *xq;                   /* activations converted to the weight's vec_dot type */
	size_t xq_cap;
	float *scores;              /* attention scratch: one row of n_ctx per thread */
	size_t scores_cap;          /* bytes */
	float *mla;                 /* MLA attention scratch, per thread */
	size_t mla_cap;             /* bytes */
	struct cpu_async *async;    /* the deferred mode; NULL for "cpu" */
};

enum cpu_job_kind {
	CPU_JOB_UPLOAD, /* copy queue */
	CPU_JOB_DOWNLOAD,
	CPU_JOB_WAIT,   /* this queue waits for a fence of the other one (async only) */
	CPU_JOB_MATMUL,
	CPU_JOB_GET_ROWS,
	CPU_JOB_RMSNORM,
	CPU_JOB_ROPE,
	CPU_JOB_ATTENTION,
	CPU_JOB_SILU_MUL,
	CPU_JOB_ADD,
	CPU_JOB_MLA_KV,
	CPU_JOB_MLA_ATTN,
	CPU_JOB_ADD_ROWS,
};

struct cpu_job {
	enum cpu_job_kind kind;
	union {
		struct { void *dst; const void *src; size_t size; } copy;
		struct { sl_fence f; } wait;
		struct { float *y; const void *w; uint32_t wtype; int64_t rows, cols; const float *x; int n; } matmul;
		struct { float *y; const void *w; uint32_t wtype; int64_t cols; const int32_t *ids; int n; } get_rows;
		struct { float *y; const float *x, *w; int64_t dim; int n; float eps; } rmsnorm;
		struct { float *x; int n_head, head_dim, n_rot, pos0, n; float freq_base; bool neox; const float *ff; } rope;
		struct { float *out; const float *q, *kc, *vc; int n_head, n_head_kv, head_dim, pos0, n; float scale; } attn;
		struct { float *gate; const float *up; int64_t n; } silu_mul;
		struct { float *y; const float *x; int64_t n, n_x; } add;
		struct { float *rows; const float *w; int kv_lora, d_rope, pos0, n; float eps, freq_base; const float *ff; } mla_kv;
		struct { float *out; float *q; const float *cache; const void *wk, *wv; uint32_t wk_type, wv_type;
			 struct sl_mla_shape s; int pos0, n; } mla;
		struct { float *y; const float *x; const int32_t *ids; const float *scale; int64_t cols; int n; } add_rows;
	};
	/* Deferred mode only. */
	struct cpu_job *next;
	uint8_t *poison_lo, *poison_hi; /* re-poison [lo, hi) of the output after running: see discard */
	int32_t ids_copy[];             /* get_rows, add_rows: the caller's ids (and scales), copied at queue time */
};

/* cpu_ops.c: the kernels. */
bool sl_cpu_supports_op(struct sl_backend *b, enum sl_be_op op, uint32_t wtype);
/* Arguments and types an op can run with; -EINVAL / -ENOTSUP with a message in b->err. */
int sl_cpu_job_check(struct sl_backend *b, const struct cpu_job *j);
/* Run a checked job now; the only failure is -ENOMEM for scratch, described in err. */
int sl_cpu_job_run(struct cpu *c, const struct cpu_job *j, struct sl_err *err);
/* The bytes a job writes (its output), for the poisoning of discarded memory. */
void sl_cpu_job_output(const struct cpu_job *j, uint8_t **p, size_t *size);

/* cpu_async.c: the deferred mode. */
int sl_cpu_async_start(struct sl_backend *b, struct sl_err *err);
void sl_cpu_async_stop(struct sl_backend *b); /* runs everything still queued first */
int sl_cpu_async_queue(struct sl_backend *b, const struct cpu_job *j);
int sl_cpu_async_fence(struct sl_backend *b, enum sl_be_queue q, sl_fence *out);
int sl_cpu_async_wait(struct sl_backend *b, enum sl_be_queue q, sl_fence f);
bool sl_cpu_async_fence_done(struct sl_backend *b, sl_fence f);
int sl_cpu_async_fence_sync(struct sl_backend *b, sl_fence f);
int sl_cpu_async_sync(struct sl_backend *b);
/* Poison [p, p+size) now, and after any queued job that still writes there. */
void sl_cpu_async_poison(struct sl_backend *b, void *p, size_t size);
/* Poison, then free once every job queued so far has run. */
void sl_cpu_async_free(struct sl_backend *b, void *p, size_t size);

#endif
