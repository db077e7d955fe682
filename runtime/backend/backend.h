/* SPDX-License-Identifier: MIT */
/*
 * runtime/backend/backend.h — the compute backend seam.
 *
 * A backend owns "device memory" (for the CPU backend, host memory counted
 * against the same kind of budget a GPU has, so the scheduler above behaves
 * identically on a machine without a GPU) and the handful of kernels a
 * transformer decode needs.
 *
 * Asynchrony.  A backend has two queues, SL_Q_COMPUTE and SL_Q_COPY.  Every op
 * is *queued* on one of them and may run later (a GPU backend queues on
 * streams; the CPU backend runs ops at once, except in its asynchronous test
 * mode, "cpu-async", where they run deferred on a worker).  Ordering:
 *   - ops on one queue run in the order they were queued;
 *   - upload() runs on the copy queue; every compute op and download() on the
 *     compute queue;
 *   - fence(q) returns a marker that completes when everything queued on q so
 *     far has run; wait(q, f) makes later ops of queue q wait for f (no host
 *     block); fence_sync(f) blocks the host until f completes.
 * So the weight store uploads a unit, takes a "ready" fence on the copy queue
 * and makes the compute queue wait for it before the first kernel that reads
 * the unit; after the last kernel that reads it, it takes a "last use" fence on
 * the compute queue, and it reuses (or frees, or discards) the buffer only once
 * that fence is done.  Host memory handed to an op (upload source, download
 * destination, get_rows ids) must stay valid until the op's fence completes;
 * ops copy small parameters (ids, scalars) so callers may reuse those at once.
 *
 * Errors: every op returns 0 or a negative errno; a backend records detail in
 * b->err.  A queued op may also fail later: the error then comes back from the
 * next fence_sync() or sync().
 *
 * Capabilities are flags (caps), never names: SL_BE_HOST_VISIBLE says compute
 * ops may read weights straight from host memory the caller registered (the
 * CPU), so streamed weights need no device copy at all.
 *
 * Layout conventions: matrices are ggml's — a weight of shape ne = [cols, rows]
 * stores `rows` rows of `cols` contiguous elements; y = W x means
 * y[r] = dot(row r, x).  A batch of n activations is n rows of dim floats.
 */
#ifndef SLUICE_BACKEND_H
#define SLUICE_BACKEND_H

#include "internal.h"

struct sl_backend;

/* Multi-head latent attention (deepseek2): the shapes mla_attention works with.  The cache holds per
 * token [kv_lora normalized latent, d_rope roped key]; q is [n][n_head*(d_nope+d_rope)]. */
struct sl_mla_shape {
	int n_head, d_nope, d_rope, d_v, kv_lora;
	/* false: wk = attn_k_b (head h: kv_lora rows of d_nope cols), wv = attn_v_b (head h: d_v rows of
	 * kv_lora cols).  true: wk = wv = attn_kv_b, head h's rows [h*(d_nope+d_v), +d_nope) are its K
	 * (kv_lora cols each) and the next d_v its V. */
	bool legacy;
	float freq_base, scale;
	const float *ff; /* device memory, d_rope/2 per-pair rope factors (YaRN); NULL = none */
};

enum sl_be_queue { SL_Q_COMPUTE = 0, SL_Q_COPY = 1, SL_Q_COUNT };

/* A completion marker; 0 means "nothing to wait for" (always complete). */
typedef uint64_t sl_fence;

enum sl_be_caps {
	SL_BE_HOST_VISIBLE = 1u << 0, /* compute reads weights from (registered) host memory directly */
	SL_BE_ASYNC = 1u << 1,        /* ops run after they are queued: fences matter */
};

/* Compute ops, for supports_op(). */
enum sl_be_op {
	SL_OP_MATMUL, SL_OP_GET_ROWS, SL_OP_RMSNORM, SL_OP_ROPE, SL_OP_ATTENTION, SL_OP_SILU_MUL, SL_OP_ADD,
	SL_OP_COUNT
};

/* There is no device memory budget here: --vram is the weight store's (it plans placement within
 * it), and the device's own capacity is the backend's to know (a GPU asks its driver). */
struct sl_backend_config {
	int n_threads;       /* CPU threads (cpu backend); 0 = all CPUs */
	int device;          /* device ordinal (cuda backend): one backend drives one device */
};

struct sl_backend_ops {
	const char *name;
	unsigned caps; /* enum sl_be_caps */
	int (*init)(struct sl_backend *b, const struct sl_backend_config *cfg, struct sl_err *err);
	void (*destroy)(struct sl_backend *b);
	/* Can this backend run op on weights of type wtype (enum sl_type; ignored where no weight)? */
	bool (*supports_op)(struct sl_backend *b, enum sl_be_op op, uint32_t wtype);

	/* Device memory (-ENOMEM when the device has no more).  free() of memory an op
	 * still reads is the caller's bug (wait for the last-use fence first). */
	int (*alloc)(struct sl_backend *b, size_t size, void **dev);
	void (*free)(struct sl_backend *b, void *dev, size_t size);
	/* Host memory that uploads read from or that compute reads directly (HOST_VISIBLE):
	 * pinned for DMA by a GPU backend.  Both may be no-ops. */
	int (*register_host)(struct sl_backend *b, void *host, size_t size);
	void (*unregister_host)(struct sl_backend *b, void *host, size_t size);
	/* The caller no longer needs these bytes (device or registered host memory).  The
	 * asynchronous test mode overwrites them with a poison pattern at once, so a reader
	 * still queued sees garbage: the way a scheduling hazard becomes a wrong token. */
	void (*discard)(struct sl_backend *b, void *p, size_t size);
	/* The device's free and total memory now (a GPU's driver knows them).  NULL for a backend
	 * whose "device memory" is host memory (the CPU): it has no limit of its own beyond --vram. */
	int (*mem_info)(struct sl_backend *b, uint64_t *free_bytes, uint64_t *total_bytes);

	/* Queued copies: upload on the copy queue, download on the compute queue. */
	int (*upload)(struct sl_backend *b, void *dev, const void *host, size_t size);
	int (*download)(struct sl_backend *b, void *host, const void *dev, size_t size);

	/* Markers and waits (see above). */
	int (*fence)(struct sl_backend *b, enum sl_be_queue q, sl_fence *out);
	int (*wait)(struct sl_backend *b, enum sl_be_queue q, sl_fence f);
	bool (*fence_done)(struct sl_backend *b, sl_fence f);
	int (*fence_sync)(struct sl_backend *b, sl_fence f);
	/* Everything queued on every queue has run; returns the first deferred error. */
	int (*sync)(struct sl_backend *b);

	/* y[n][rows] = x[n][cols] · W^T, W of type wtype (enum sl_type). */
	int (*matmul)(struct sl_backend *b, float *y, const void *w, uint32_t wtype, int64_t rows, int64_t cols,
		      const float *x, int n);
	/* y[i][:] = row ids[i] of W (any type) as floats, W has cols columns.  ids is host memory,
	 * copied by the op. */
	int (*get_rows)(struct sl_backend *b, float *y, const void *w, uint32_t wtype, int64_t cols,
			const int32_t *ids, int n);
	/* y[i] = x[i] / rms(x[i]) * w, rows of dim. y may equal x. */
	int (*rmsnorm)(struct sl_backend *b, float *y, const float *x, const float *w, int64_t dim, int n,
		       float eps);
	/* Rotate the first n_rot dims of each head of x[n][n_head*head_dim] by position pos0+i.
	 * neox = false: adjacent pairs (x0,x1) (llama); true: halves (x_i, x_{i+n_rot/2}) (qwen2, neox). */
	int (*rope)(struct sl_backend *b, float *x, int n_head, int head_dim, int n_rot, int pos0, int n,
		    float freq_base, bool neox);
	/* rope with llama.cpp's per-pair frequency factors (ggml_rope_ext's freq_factors, Llama-3.1's
	 * rope_freqs tensor): pair d's angle pos * freq_base^(-2d/n_rot) is divided by ff[d].  ff is
	 * device memory of n_rot/2 floats (a weight).  Optional: NULL where a backend lacks it, and
	 * models that need it are then refused at load. */
	int (*rope_ff)(struct sl_backend *b, float *x, int n_head, int head_dim, int n_rot, int pos0, int n,
		       float freq_base, bool neox, const float *ff);
	/* Causal attention of n query tokens at positions pos0.. over the KV cache rows [0, pos0+n).
	 * q[n][n_head*hd], k/v cache [n_ctx][n_head_kv*hd], out[n][n_head*hd]. */
	int (*attention)(struct sl_backend *b, float *out, const float *q, const float *kc, const float *vc,
			 int n_head, int n_head_kv, int head_dim, int pos0, int n, float scale);
	/* gate[i] = silu(gate[i]) * up[i] */
	int (*silu_mul)(struct sl_backend *b, float *gate, const float *up, int64_t n);
	/* y[i] += x[i]; x has n_x elements and is broadcast over y (n a multiple of n_x; n_x = n for a
	 * plain add, n_x = cols to add one bias row to every row of a batch). */
	int (*add)(struct sl_backend *b, float *y, const float *x, int64_t n, int64_t n_x);

	/* Optional ops of mixture-of-experts / MLA models (deepseek2); NULL where a backend lacks them,
	 * and such models are then refused at load, naming the op. */
	/* Latent cache rows [n][kv_lora + d_rope] of positions pos0..: the first kv_lora of each row are
	 * RMS-normalized with w (kv_lora floats, device), the last d_rope roped (adjacent pairs, angle
	 * divided by ff[d] when ff). */
	int (*mla_kv)(struct sl_backend *b, float *rows, const float *w, int kv_lora, int d_rope, int pos0, int n,
		      float eps, float freq_base, const float *ff);
	/* Absorbed MLA over the latent cache rows [0, pos0+n): q (rows of n_head*(d_nope+d_rope)) gets its
	 * rope part roped in place at positions pos0..; per head, q_lat = Wk_h q_nope, scores
	 * (q_lat.c + q_pe.k_pe) * scale, causal softmax, o_lat = softmax . c, out_h = Wv_h o_lat.
	 * out [n][n_head*d_v].  wk/wv of any type with to_float. */
	int (*mla_attention)(struct sl_backend *b, float *out, float *q, const float *cache, const void *wk,
			     uint32_t wk_type, const void *wv, uint32_t wv_type, const struct sl_mla_shape *s, int pos0,
			     int n);
	/* y[ids[i]][:] += scale[i] * x[i][:] for i < n, rows of cols (the weighted sum of routed experts'
	 * outputs).  ids and scale are host memory, copied by the op. */
	int (*add_rows)(struct sl_backend *b, float *y, const float *x, const int32_t *ids, const float *scale,
			int64_t cols, int n);
};

struct sl_backend {
	const struct sl_backend_ops *ops;
	struct sl_backend_config cfg;
	uint64_t mem_used;
	uint64_t mem_peak;
	void *priv;
	struct sl_err err; /* detail of the last failed op */
};

/* Create a backend by name: "cpu", "cpu-async" (the CPU kernels deferred on a worker, device memory
 * not host-visible: behaves like a GPU for the scheduler), "cpu-async-zc" (deferred, host-visible),
 * "cuda" (device cfg->device through the CUDA driver, loaded at run time: -ENODEV with "no CUDA
 * driver ..." / "no CUDA device ..." where there is none), or "auto": cuda when it initialises,
 * else cpu (why cuda was passed over is an info-level log message). */
int sl_backend_new(const char *name, const struct sl_backend_config *cfg, struct sl_backend **out,
		   struct sl_err *err);
void sl_backend_free(struct sl_backend *b);
/* Comma-separated names of the backends this build has, for messages. */
const char *sl_backend_names(void);

static inline bool sl_backend_has(const struct sl_backend *b, unsigned cap)
{
	return (b->ops->caps & cap) == cap;
}

/* Accounting (mem_used, mem_peak) shared by every backend's alloc/free. */
void sl_backend_charge(struct sl_backend *b, size_t size);
void sl_backend_uncharge(struct sl_backend *b, size_t size);

extern const struct sl_backend_ops sl_backend_cpu_ops;
extern const struct sl_backend_ops sl_backend_cpu_async_ops;
extern const struct sl_backend_ops sl_backend_cpu_async_zc_ops;
extern const struct sl_backend_ops sl_backend_cuda_ops;

#endif
