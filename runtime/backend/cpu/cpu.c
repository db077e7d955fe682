/* SPDX-License-Identifier: MIT */
/*
 * runtime/backend/cpu/cpu.c — the CPU backend: the reference every other
 * backend is checked against, and always built.
 *
 * "Device memory" is host memory, but allocations are charged against the
 * same budget a GPU's would be, so placement and streaming decisions made
 * above are exercised on a machine without a GPU.  Large ops are split across
 * a persistent thread pool; small ones run on the calling thread, because on
 * a tiny model a dispatch costs more than the work.
 */
#include "backend/backend.h"
#include "backend/cpu/threadpool.h"
#include "quant/quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Below this many multiply-adds an op runs single-threaded. */
#define PAR_MIN_WORK (1 << 15)

struct cpu {
	struct sl_threadpool *pool;
	void *xq;          /* activations converted to the weight's vec_dot type */
	size_t xq_cap;
	float *scores;     /* attention scratch: one row of n_ctx per thread */
	size_t scores_cap; /* floats per thread */
};

static int cpu_init(struct sl_backend *b, const struct sl_backend_config *cfg, struct sl_err *err)
{
	struct cpu *c = calloc(1, sizeof(*c));
	if (!c)
		return sl_errf(err, ENOMEM, "out of memory");
	int n = cfg->n_threads;
	if (n <= 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		n = cpus > 0 ? (int)cpus : 1;
	}
	int rc = sl_threadpool_new(n, &c->pool);
	if (rc) {
		free(c);
		return sl_errf(err, -rc, "cannot start %d compute threads", n);
	}
	b->cfg.n_threads = n;
	b->priv = c;
	return 0;
}

static void cpu_destroy(struct sl_backend *b)
{
	struct cpu *c = b->priv;
	sl_threadpool_free(c->pool);
	free(c->xq);
	free(c->scores);
	free(c);
}

static int cpu_alloc(struct sl_backend *b, size_t size, void **dev)
{
	int rc = sl_backend_charge(b, size);
	if (rc)
		return rc;
	/* Page-aligned, so the weight store can read into it with O_DIRECT. */
	*dev = sl_aligned_alloc(4096, size);
	if (!*dev) {
		sl_backend_uncharge(b, size);
		return -ENOMEM;
	}
	return 0;
}

static void cpu_free(struct sl_backend *b, void *dev, size_t size)
{
	if (!dev)
		return;
	free(dev);
	sl_backend_uncharge(b, size);
}

static int cpu_copy(struct sl_backend *b, void *dst, const void *src, size_t size)
{
	memcpy(dst, src, size);
	return 0;
}

static int cpu_sync(struct sl_backend *b)
{
	return 0;
}

static void *scratch(void **buf, size_t *cap, size_t need)
{
	if (need > *cap) {
		free(*buf);
		*buf = sl_aligned_alloc(64, need);
		*cap = *buf ? need : 0;
	}
	return *buf;
}

/* Chunks per parallel op: several per thread, so a thread that is descheduled leaves little
 * behind, but not so many that claiming them costs more than the work. */
static int n_chunks(const struct cpu *c, long items)
{
	long n = (long)sl_threadpool_size(c->pool) * 8;
	return (int)SL_MAX(1L, SL_MIN(n, items));
}

/* ---- matmul ---- */

struct mm_task {
	float *y;
	const uint8_t *w;
	sl_vec_dot_fn dot;
	size_t w_row;
	int64_t rows, cols;
	const uint8_t *xq;
	size_t xq_row;
	int n;
};

static void mm_run(void *arg, int chunk, int n_chunks, int thread)
{
	const struct mm_task *t = arg;
	long lo, hi;
	sl_split_range(t->rows, chunk, n_chunks, &lo, &hi);
	for (long r = lo; r < hi; r++) {
		const uint8_t *wr = t->w + (size_t)r * t->w_row;
		for (int b = 0; b < t->n; b++)
			t->dot(t->cols, &t->y[(size_t)b * t->rows + r], wr, t->xq + (size_t)b * t->xq_row);
	}
}

static void cpu_matmul(struct sl_backend *b, float *y, const void *w, uint32_t wtype, int64_t rows, int64_t cols,
		       const float *x, int n)
{
	struct cpu *c = b->priv;
	const struct sl_type_traits *tt = sl_type_traits(wtype);
	const struct sl_type_traits *vt = sl_type_traits(tt->vec_dot_type);
	size_t xq_row = sl_row_size(tt->vec_dot_type, cols);
	const uint8_t *xq;
	if (tt->vec_dot_type == SL_TYPE_F32) {
		xq = (const uint8_t *)x;
	} else {
		uint8_t *q = scratch(&c->xq, &c->xq_cap, xq_row * (size_t)n);
		if (!q)
			abort(); /* a few KB of scratch; treated like any allocation failure in a kernel */
		for (int i = 0; i < n; i++)
			vt->from_float(x + (size_t)i * cols, q + (size_t)i * xq_row, cols);
		xq = q;
	}
	struct mm_task t = { y, w, tt->vec_dot, sl_row_size(wtype, cols), rows, cols, xq, xq_row, n };
	if ((int64_t)rows * cols * n < PAR_MIN_WORK)
		mm_run(&t, 0, 1, 0);
	else
		sl_threadpool_run(c->pool, mm_run, &t, n_chunks(c, rows));
}

static void cpu_get_rows(struct sl_backend *b, float *y, const void *w, uint32_t wtype, int64_t cols,
			 const int32_t *ids, int n)
{
	const struct sl_type_traits *tt = sl_type_traits(wtype);
	size_t row = sl_row_size(wtype, cols);
	for (int i = 0; i < n; i++)
		tt->to_float((const uint8_t *)w + (size_t)ids[i] * row, y + (size_t)i * cols, cols);
}

static void cpu_rmsnorm(struct sl_backend *b, float *y, const float *x, const float *w, int64_t dim, int n, float eps)
{
	for (int i = 0; i < n; i++) {
		const float *xi = x + (size_t)i * dim;
		float *yi = y + (size_t)i * dim;
		double ss = 0;
		for (int64_t j = 0; j < dim; j++)
			ss += (double)xi[j] * xi[j];
		const float scale = 1.0f / sqrtf((float)(ss / dim) + eps);
		for (int64_t j = 0; j < dim; j++)
			yi[j] = xi[j] * scale * w[j];
	}
}

static void cpu_rope(struct sl_backend *b, float *x, int n_head, int head_dim, int n_rot, int pos0, int n,
		     float freq_base, bool neox)
{
	for (int i = 0; i < n; i++) {
		const float pos = (float)(pos0 + i);
		for (int d = 0; d < n_rot / 2; d++) {
			const float theta = pos * powf(freq_base, -2.0f * (float)d / (float)n_rot);
			const float cs = cosf(theta), sn = sinf(theta);
			for (int h = 0; h < n_head; h++) {
				float *v = x + ((size_t)i * n_head + h) * head_dim;
				int i0 = neox ? d : 2 * d;
				int i1 = neox ? d + n_rot / 2 : 2 * d + 1;
				const float a = v[i0], c = v[i1];
				v[i0] = a * cs - c * sn;
				v[i1] = a * sn + c * cs;
			}
		}
	}
}

struct attn_task {
	float *out;
	const float *q, *kc, *vc;
	int n_head, n_head_kv, hd, pos0, n;
	float scale;
	float *scores;
	size_t scores_stride;
};

static void attn_run(void *arg, int chunk, int n_chunks, int thread)
{
	const struct attn_task *t = arg;
	float *att = t->scores + (size_t)thread * t->scores_stride;
	const int group = t->n_head / t->n_head_kv;
	const size_t q_stride = (size_t)t->n_head * t->hd, kv_stride = (size_t)t->n_head_kv * t->hd;
	long lo, hi;
	sl_split_range((long)t->n * t->n_head, chunk, n_chunks, &lo, &hi);
	for (long job = lo; job < hi; job++) {
		const int i = (int)(job / t->n_head), h = (int)(job % t->n_head);
		const int kvh = h / group;
		const int len = t->pos0 + i + 1;
		const float *q = t->q + i * q_stride + (size_t)h * t->hd;
		float mx = -INFINITY;
		for (int p = 0; p < len; p++) {
			const float *k = t->kc + p * kv_stride + (size_t)kvh * t->hd;
			float s = 0;
			for (int d = 0; d < t->hd; d++)
				s += q[d] * k[d];
			s *= t->scale;
			att[p] = s;
			if (s > mx)
				mx = s;
		}
		float sum = 0;
		for (int p = 0; p < len; p++) {
			att[p] = expf(att[p] - mx);
			sum += att[p];
		}
		const float inv = 1.0f / sum;
		float *o = t->out + i * q_stride + (size_t)h * t->hd;
		memset(o, 0, (size_t)t->hd * sizeof(float));
		for (int p = 0; p < len; p++) {
			const float *v = t->vc + p * kv_stride + (size_t)kvh * t->hd;
			const float a = att[p] * inv;
			for (int d = 0; d < t->hd; d++)
				o[d] += a * v[d];
		}
	}
}

static void cpu_attention(struct sl_backend *b, float *out, const float *q, const float *kc, const float *vc,
			  int n_head, int n_head_kv, int head_dim, int pos0, int n, float scale)
{
	struct cpu *c = b->priv;
	const int nth = sl_threadpool_size(c->pool);
	size_t stride = SL_ALIGN_UP((size_t)(pos0 + n), 16);
	float *sc = scratch((void **)&c->scores, &c->scores_cap, stride * (size_t)nth * sizeof(float));
	if (!sc)
		abort();
	struct attn_task t = { out, q, kc, vc, n_head, n_head_kv, head_dim, pos0, n, scale, sc, stride };
	if ((int64_t)n * n_head * (pos0 + n) * head_dim < PAR_MIN_WORK)
		attn_run(&t, 0, 1, 0);
	else
		sl_threadpool_run(c->pool, attn_run, &t, n_chunks(c, (long)n * n_head));
}

static void cpu_silu_mul(struct sl_backend *b, float *g, const float *u, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

static void cpu_add(struct sl_backend *b, float *y, const float *x, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		y[i] += x[i];
}

static void cpu_add_scaled(struct sl_backend *b, float *y, const float *x, float s, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		y[i] += s * x[i];
}

const struct sl_backend_ops sl_backend_cpu_ops = {
	.name = "cpu",
	.init = cpu_init,
	.destroy = cpu_destroy,
	.alloc = cpu_alloc,
	.free = cpu_free,
	.upload = cpu_copy,
	.download = cpu_copy,
	.sync = cpu_sync,
	.matmul = cpu_matmul,
	.get_rows = cpu_get_rows,
	.rmsnorm = cpu_rmsnorm,
	.rope = cpu_rope,
	.attention = cpu_attention,
	.silu_mul = cpu_silu_mul,
	.add = cpu_add,
	.add_scaled = cpu_add_scaled,
};
