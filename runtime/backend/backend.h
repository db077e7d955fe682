/* SPDX-License-Identifier: MIT */
/*
 * runtime/backend/backend.h — the compute backend seam.
 *
 * A backend owns "device memory" (for the CPU backend, host memory counted
 * against the same kind of budget a GPU has, so the scheduler above behaves
 * identically on a machine without a GPU) and the handful of kernels a
 * transformer decode needs.  Activations, the KV cache and resident weights
 * all live in device memory; weights arrive there through upload() from the
 * host staging tier.  Every compute op is synchronous from the caller's view
 * (a GPU backend may queue on a stream and synchronise in sync()).
 *
 * Layout conventions: matrices are ggml's — a weight of shape ne = [cols, rows]
 * stores `rows` rows of `cols` contiguous elements; y = W x means
 * y[r] = dot(row r, x).  A batch of n activations is n rows of dim floats.
 */
#ifndef SLUICE_BACKEND_H
#define SLUICE_BACKEND_H

#include "internal.h"

struct sl_backend;

struct sl_backend_config {
	uint64_t mem_budget; /* bytes of device memory; 0 = unlimited */
	int n_threads;       /* CPU threads (cpu backend); 0 = all CPUs */
};

struct sl_backend_ops {
	const char *name;
	int (*init)(struct sl_backend *b, const struct sl_backend_config *cfg, struct sl_err *err);
	void (*destroy)(struct sl_backend *b);

	/* Device memory, counted against mem_budget: -ENOMEM beyond it. */
	int (*alloc)(struct sl_backend *b, size_t size, void **dev);
	void (*free)(struct sl_backend *b, void *dev, size_t size);
	int (*upload)(struct sl_backend *b, void *dev, const void *host, size_t size);
	int (*download)(struct sl_backend *b, void *host, const void *dev, size_t size);
	int (*sync)(struct sl_backend *b);

	/* y[n][rows] = x[n][cols] · W^T, W of type wtype (enum sl_type). */
	void (*matmul)(struct sl_backend *b, float *y, const void *w, uint32_t wtype, int64_t rows, int64_t cols,
		       const float *x, int n);
	/* y[i][:] = row ids[i] of W (any type) as floats, W has cols columns. */
	void (*get_rows)(struct sl_backend *b, float *y, const void *w, uint32_t wtype, int64_t cols,
			 const int32_t *ids, int n);
	/* y[i] = x[i] / rms(x[i]) * w, rows of dim. y may equal x. */
	void (*rmsnorm)(struct sl_backend *b, float *y, const float *x, const float *w, int64_t dim, int n, float eps);
	/* Rotate the first n_rot dims of each head of x[n][n_head*head_dim] by position pos0+i.
	 * neox = false: adjacent pairs (x0,x1) (llama); true: halves (x_i, x_{i+n_rot/2}) (qwen2, neox). */
	void (*rope)(struct sl_backend *b, float *x, int n_head, int head_dim, int n_rot, int pos0, int n,
		     float freq_base, bool neox);
	/* Causal attention of n query tokens at positions pos0.. over the KV cache rows [0, pos0+n).
	 * q[n][n_head*hd], k/v cache [n_ctx][n_head_kv*hd], out[n][n_head*hd]. */
	void (*attention)(struct sl_backend *b, float *out, const float *q, const float *kc, const float *vc,
			  int n_head, int n_head_kv, int head_dim, int pos0, int n, float scale);
	/* gate[i] = silu(gate[i]) * up[i] */
	void (*silu_mul)(struct sl_backend *b, float *gate, const float *up, int64_t n);
	/* y[i] += x[i] */
	void (*add)(struct sl_backend *b, float *y, const float *x, int64_t n);
	/* y[i] += s * x[i] (MoE expert mixing) */
	void (*add_scaled)(struct sl_backend *b, float *y, const float *x, float s, int64_t n);
};

struct sl_backend {
	const struct sl_backend_ops *ops;
	struct sl_backend_config cfg;
	uint64_t mem_used;
	uint64_t mem_peak;
	void *priv;
};

/* Create a backend by name ("cpu"). */
int sl_backend_new(const char *name, const struct sl_backend_config *cfg, struct sl_backend **out,
		   struct sl_err *err);
void sl_backend_free(struct sl_backend *b);

/* Budget accounting shared by every backend's alloc/free. */
int sl_backend_charge(struct sl_backend *b, size_t size);
void sl_backend_uncharge(struct sl_backend *b, size_t size);

extern const struct sl_backend_ops sl_backend_cpu_ops;

#endif
