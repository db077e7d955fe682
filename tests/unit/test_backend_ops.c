/* SPDX-License-Identifier: MIT */
/*
 * test_backend_ops — every op of runtime/backend/backend.h on one backend against the "cpu"
 * backend, on random inputs.
 *
 *   test_backend_ops [--quick] [BACKEND...]
 *
 * --quick: one matmul/get_rows shape (61 x 1024) and n = 1, 3 only (device-check.sh --fake, where
 * the stand-in driver runs the kernels on CPU fibers, only checks its own flow with it).
 * With no argument it checks every backend of this build but "cpu" ("cpu-async", "cpu-async-zc",
 * and "cuda" when it can be created: the CUDA one is checked through the stand-in driver by
 * tests/gpu/test_backend_ops_fake.sh and on a real GPU by tests/gpu/device-check.sh).  Named
 * backends must be created, or the test fails.
 *
 * Every buffer an op reads or writes is device memory of the backend under test: alloc, upload
 * (copy queue), a copy fence the compute queue waits for, the op, download (compute queue), a
 * compute fence, fence_sync — the protocol backend.h describes.  Output buffers are filled with
 * NaN first (an uploaded NaN pattern), so an element a kernel forgets to write fails the check.
 *
 * Error bounds, per op and weight type, are stated where they are checked (bound_*), derived from
 * what may legitimately differ between two correct implementations: the rounding of activations
 * to the weight's vec_dot type (the CPU quantizes activations; a GPU may or may not), the order of
 * float sums, and expf/sinf/powf ulps.  Each op prints a line
 *   "op <name> cases <n> max_err <e> bound <b> ok|FAIL"
 * (device-check.sh reads them) and the program ends with "backend <name>: pass|FAIL".
 */
#include "helpers/testutil.h"
#include "backend/backend.h"
#include "quant/quant.h"

#include <math.h>

/* xorshift64*: deterministic inputs, the same on every run */
static uint64_t rng = 0x2545F4914F6CDD1Dull;
static float urand(void) /* [0, 1) */
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (float)((rng * 2685821657736338717ull) >> 40) / (float)(1 << 24);
}
static float nrand(void)
{
	float u = urand() + 1e-7f, v = urand();
	return sqrtf(-2.0f * logf(u)) * cosf(6.2831853f * v);
}
static float *randv(size_t n, float scale)
{
	float *v = malloc(n * sizeof(float));
	for (size_t i = 0; i < n; i++)
		v[i] = nrand() * scale;
	return v;
}

/* ---- device buffers of one op run ---- */

#define MAX_BUFS 8
struct run {
	struct sl_backend *b;
	void *dev[MAX_BUFS];
	size_t size[MAX_BUFS];
	int n;
	bool failed;
};

static float *nan_fill; /* host source of every NaN upload: lives for the whole program */
static size_t nan_fill_n;

static struct sl_backend *mk(const char *name, struct sl_err *err)
{
	struct sl_backend_config cfg = { .n_threads = 2 };
	struct sl_backend *b = NULL;
	return sl_backend_new(name, &cfg, &b, err) ? NULL : b;
}

static void *r_alloc(struct run *r, size_t size)
{
	void *d = NULL;
	if (r->failed || r->n == MAX_BUFS)
		return NULL;
	int rc = r->b->ops->alloc(r->b, size, &d);
	CHECK_MSG(rc == 0 && d, "%s: alloc(%zu): %s", r->b->ops->name, size, r->b->err.msg);
	if (rc || !d) {
		r->failed = true;
		return NULL;
	}
	r->dev[r->n] = d;
	r->size[r->n++] = size;
	return d;
}

/* A device copy of host (which stays valid until the run's final fence: the caller's buffers do). */
static void *r_in(struct run *r, const void *host, size_t size)
{
	void *d = r_alloc(r, size);
	if (d && r->b->ops->upload(r->b, d, host, size)) {
		CHECK_MSG(0, "%s: upload(%zu): %s", r->b->ops->name, size, r->b->err.msg);
		r->failed = true;
	}
	return d;
}

/* A device output of n floats, filled with NaN. */
static float *r_out(struct run *r, size_t n)
{
	if (n > nan_fill_n) {
		CHECK_MSG(0, "test bug: output of %zu floats > NaN fill", n);
		r->failed = true;
		return NULL;
	}
	return r_in(r, nan_fill, n * sizeof(float));
}

/* The uploads are queued: make the compute queue wait for them. */
static bool r_go(struct run *r)
{
	sl_fence f = 0;
	if (r->failed)
		return false;
	if (r->b->ops->fence(r->b, SL_Q_COPY, &f) || r->b->ops->wait(r->b, SL_Q_COMPUTE, f)) {
		CHECK_MSG(0, "%s: fence/wait: %s", r->b->ops->name, r->b->err.msg);
		r->failed = true;
	}
	return !r->failed;
}

static void r_op_failed(struct run *r, const char *op, int rc)
{
	CHECK_MSG(0, "%s: %s returned %d: %s", r->b->ops->name, op, rc, r->b->err.msg);
	r->failed = true;
}

/* Download dev into host (n floats), wait for it, free every buffer.  False when anything failed. */
static bool r_get(struct run *r, float *host, const void *dev, size_t n)
{
	struct sl_backend *b = r->b;
	if (!r->failed) {
		sl_fence f = 0;
		int rc = b->ops->download(b, host, dev, n * sizeof(float));
		if (!rc)
			rc = b->ops->fence(b, SL_Q_COMPUTE, &f);
		if (!rc)
			rc = b->ops->fence_sync(b, f);
		if (!rc)
			CHECK_MSG(b->ops->fence_done(b, f), "%s: fence_sync returned before its fence was done", b->ops->name);
		CHECK_MSG(rc == 0, "%s: download/fence: %d: %s", b->ops->name, rc, b->err.msg);
		r->failed = rc != 0;
	}
	/* Everything this run queued is done (the compute fence covers the copies it waited for); sync()
	 * also returns any deferred error before the buffers go. */
	int rc = b->ops->sync(b);
	CHECK_MSG(rc == 0, "%s: sync: %d: %s", b->ops->name, rc, b->err.msg);
	for (int i = 0; i < r->n; i++)
		b->ops->free(b, r->dev[i], r->size[i]);
	r->n = 0;
	return !r->failed && rc == 0;
}

/* ---- results per op ---- */

struct stat {
	char name[32];
	int cases;
	double max_err, bound; /* max_err / bound: normalized per op as documented at its check */
	bool fail;
	char where[64]; /* the case being checked, for the first failure's message */
};
static struct stat stats[64];
static int n_stats;

static struct stat *stat_of(const char *name, double bound)
{
	for (int i = 0; i < n_stats; i++)
		if (!strcmp(stats[i].name, name))
			return &stats[i];
	stats[n_stats] = (struct stat){ .bound = bound };
	snprintf(stats[n_stats].name, sizeof stats[n_stats].name, "%s", name);
	return &stats[n_stats++];
}

/* err of one element: NaN (never written, or a NaN result) counts as infinitely wrong. */
static void note(struct stat *s, double err, const char *what, long idx)
{
	if (isnan(err))
		err = INFINITY;
	if (err > s->max_err)
		s->max_err = err;
	if (!(err <= s->bound) && !s->fail) {
		s->fail = true;
		fprintf(stderr, "%s: %s (%s): first error at element %ld: %g > bound %g\n", s->name, what, s->where, idx, err,
			s->bound);
	}
}

/* ---- the backends under test ---- */

static struct sl_backend *ref; /* "cpu" */
static bool quick;

/* ---- matmul and get_rows, per weight type ---- */

static const uint32_t wtypes[] = {
	SL_TYPE_F32, SL_TYPE_F16, SL_TYPE_BF16, SL_TYPE_Q8_0, SL_TYPE_Q4_0, SL_TYPE_Q4_1, SL_TYPE_Q5_0,
	SL_TYPE_Q5_1, SL_TYPE_Q2_K, SL_TYPE_Q3_K, SL_TYPE_Q4_K, SL_TYPE_Q5_K, SL_TYPE_Q6_K,
};

/*
 * matmul bound, on |y_be - y_cpu| / (sum_k |w_rk| * max_k |x_k|):
 *   - activation rounding: the CPU rounds x to the vec_dot type; another backend may round the same
 *     way, differently, or not at all.  Each side's error per term is at most |w_k| times half a
 *     step, so the two differ by at most one step: 1/127 of the block's max |x| for q8_0/q8_1/q8_K
 *     activations (quantized weights), 2^-10 relative for f16 (unit roundoff 2^-11 each side),
 *     2^-7 for bf16 (2^-8 each side), 0 for f32;
 *   - float summation order over cols terms: 2 * cols * 2^-24 of sum |w x| <= the normalizer.
 */
static double bound_matmul(uint32_t t, int64_t cols)
{
	double q = t == SL_TYPE_F32 ? 0 : t == SL_TYPE_F16 ? 0x1p-10 : t == SL_TYPE_BF16 ? 0x1p-7 : 1.0 / 127;
	return q + 2.0 * (double)cols * 0x1p-24;
}

/* get_rows bound: |y_be - y_cpu| <= 2^-20 * max |row| — dequantization is d*q (- m) per element; a
 * fused multiply-add may round it differently by an ulp or two of the terms. */
#define BOUND_GET_ROWS 0x1p-20

/* Weights of type t, rows x cols, from random floats through the type's own quantizer. */
static void *make_weights(uint32_t t, int64_t rows, int64_t cols, float **deq)
{
	const struct sl_type_traits *tt = sl_type_traits(t);
	size_t rs = sl_row_size(t, cols);
	float *wf = randv((size_t)(rows * cols), 1.0f);
	uint8_t *w = malloc(rs * (size_t)rows);
	for (int64_t r = 0; r < rows; r++) {
		if (tt->from_float)
			tt->from_float(wf + r * cols, w + (size_t)r * rs, cols);
		else /* f32 is its own format */
			memcpy(w + (size_t)r * rs, wf + r * cols, rs);
	}
	for (int64_t r = 0; r < rows; r++)
		tt->to_float(w + (size_t)r * rs, wf + r * cols, cols);
	*deq = wf;
	return w;
}

static bool run_matmul(struct sl_backend *b, float *y, const void *w, size_t wsize, uint32_t t, int64_t rows,
		       int64_t cols, const float *x, int n)
{
	struct run r = { .b = b };
	void *dw = r_in(&r, w, wsize);
	float *dx = r_in(&r, x, sizeof(float) * (size_t)(n * cols));
	float *dy = r_out(&r, (size_t)(n * rows));
	if (r_go(&r)) {
		int rc = b->ops->matmul(b, dy, dw, t, rows, cols, dx, n);
		if (rc)
			r_op_failed(&r, "matmul", rc);
	}
	return r_get(&r, y, dy, (size_t)(n * rows));
}

static bool run_get_rows(struct sl_backend *b, float *y, const void *w, size_t wsize, uint32_t t, int64_t cols,
			 const int32_t *ids, int n)
{
	struct run r = { .b = b };
	void *dw = r_in(&r, w, wsize);
	float *dy = r_out(&r, (size_t)(n * cols));
	if (r_go(&r)) {
		int rc = b->ops->get_rows(b, dy, dw, t, cols, ids, n);
		if (rc)
			r_op_failed(&r, "get_rows", rc);
	}
	return r_get(&r, y, dy, (size_t)(n * cols));
}

static void test_weights(struct sl_backend *be)
{
	/* rows that are no multiple of any block of rows (997 prime, 4096+7); cols a multiple of 256 for
	 * the K-quants, two of them so the row loop has one and several super-blocks */
	static const struct { int64_t rows, cols; } shapes[] = { { 997, 512 }, { 4103, 256 }, { 61, 1024 } };
	static const int ns[] = { 1, 3, 8 };
	for (size_t ti = 0; ti < SL_ARRAY_SIZE(wtypes); ti++) {
		uint32_t t = wtypes[ti];
		char mname[32], gname[32];
		snprintf(mname, sizeof mname, "matmul/%s", sl_type_name(t));
		snprintf(gname, sizeof gname, "get_rows/%s", sl_type_name(t));
		bool mm_ok = be->ops->supports_op(be, SL_OP_MATMUL, t), gr_ok = be->ops->supports_op(be, SL_OP_GET_ROWS, t);
		CHECK_MSG(mm_ok == ref->ops->supports_op(ref, SL_OP_MATMUL, t), "%s: supports_op(matmul, %s) differs from cpu",
			  be->ops->name, sl_type_name(t));
		CHECK_MSG(gr_ok == ref->ops->supports_op(ref, SL_OP_GET_ROWS, t),
			  "%s: supports_op(get_rows, %s) differs from cpu", be->ops->name, sl_type_name(t));
		for (size_t si = quick ? SL_ARRAY_SIZE(shapes) - 1 : 0; si < SL_ARRAY_SIZE(shapes); si++) {
			int64_t rows = shapes[si].rows, cols = shapes[si].cols;
			struct stat *ms = stat_of(mname, bound_matmul(t, cols)), *gs = stat_of(gname, BOUND_GET_ROWS);
			ms->bound = fmax(ms->bound, bound_matmul(t, cols));
			float *deq;
			void *w = make_weights(t, rows, cols, &deq);
			size_t wsize = sl_row_size(t, cols) * (size_t)rows;
			float *y0 = malloc(sizeof(float) * 8 * (size_t)(rows > cols ? rows : cols));
			float *y1 = malloc(sizeof(float) * 8 * (size_t)(rows > cols ? rows : cols));
			double *wabs = malloc(sizeof(double) * (size_t)rows);
			for (int64_t r = 0; r < rows; r++) {
				wabs[r] = 0;
				for (int64_t k = 0; k < cols; k++)
					wabs[r] += fabs(deq[r * cols + k]);
			}
			for (size_t ni = 0; ni < SL_ARRAY_SIZE(ns) - quick && mm_ok; ni++) {
				int n = ns[ni];
				float *x = randv((size_t)(n * cols), 1.0f);
				ms->cases++;
				snprintf(ms->where, sizeof ms->where, "rows %lld cols %lld n %d", (long long)rows, (long long)cols, n);
				bool ok = run_matmul(ref, y0, w, wsize, t, rows, cols, x, n) &&
					  run_matmul(be, y1, w, wsize, t, rows, cols, x, n);
				if (!ok)
					ms->fail = true;
				for (int i = 0; ok && i < n; i++) {
					double xmax = 0;
					for (int64_t k = 0; k < cols; k++)
						xmax = fmax(xmax, fabs(x[i * cols + k]));
					for (int64_t r = 0; r < rows; r++) {
						double d = fabs((double)y1[i * rows + r] - y0[i * rows + r]);
						note(ms, d / (wabs[r] * xmax + 1e-30), "matmul", (long)(i * rows + r));
					}
				}
				free(x);
			}
			for (size_t ni = 0; ni < SL_ARRAY_SIZE(ns) - quick && gr_ok; ni++) {
				int n = ns[ni];
				int32_t ids[8];
				for (int i = 0; i < n; i++) /* the first and last rows, then random (repeats allowed) */
					ids[i] = i == 0 ? (int32_t)rows - 1 : i == 1 ? 0 : (int32_t)(urand() * (float)rows);
				gs->cases++;
				bool ok = run_get_rows(ref, y0, w, wsize, t, cols, ids, n) &&
					  run_get_rows(be, y1, w, wsize, t, cols, ids, n);
				if (!ok)
					gs->fail = true;
				for (int i = 0; ok && i < n; i++) {
					double amax = 0;
					for (int64_t k = 0; k < cols; k++)
						amax = fmax(amax, fabs(y0[i * cols + k]));
					for (int64_t k = 0; k < cols; k++) {
						double d = fabs((double)y1[i * cols + k] - y0[i * cols + k]);
						note(gs, d / (amax + 1e-30), "get_rows", (long)(i * cols + k));
					}
				}
			}
			free(wabs);
			free(y0);
			free(y1);
			free(w);
			free(deq);
		}
	}
}

/* ---- the float ops ---- */

/* rmsnorm: |y_be - y_cpu| <= 1e-5 * max |y| of the row (sum order of dim squares, rsqrt ulps). */
#define BOUND_RMSNORM 1e-5
static void test_rmsnorm(struct sl_backend *be)
{
	static const int64_t dims[] = { 997, 4103, 64 };
	static const int ns[] = { 1, 3 };
	struct stat *s = stat_of("rmsnorm", BOUND_RMSNORM);
	for (size_t di = 0; di < SL_ARRAY_SIZE(dims); di++)
		for (size_t ni = 0; ni < SL_ARRAY_SIZE(ns); ni++)
			for (int inplace = 0; inplace < 2; inplace++) {
				int64_t dim = dims[di];
				int n = ns[ni];
				size_t nel = (size_t)(dim * n);
				float *x = randv(nel, 3.0f), *w = randv((size_t)dim, 1.0f), *y[2];
				struct sl_backend *bs[2] = { ref, be };
				bool ok = true;
				for (int k = 0; k < 2; k++) {
					y[k] = malloc(nel * sizeof(float));
					struct run r = { .b = bs[k] };
					float *dx = r_in(&r, x, nel * sizeof(float)), *dw = r_in(&r, w, (size_t)dim * sizeof(float));
					float *dy = inplace ? dx : r_out(&r, nel);
					if (r_go(&r)) {
						int rc = bs[k]->ops->rmsnorm(bs[k], dy, dx, dw, dim, n, 1e-5f);
						if (rc)
							r_op_failed(&r, "rmsnorm", rc);
					}
					ok = r_get(&r, y[k], dy, nel) && ok;
				}
				s->cases++;
				if (!ok)
					s->fail = true;
				snprintf(s->where, sizeof s->where, "dim %lld n %d%s", (long long)dim, n, inplace ? " in place" : "");
				for (int i = 0; ok && i < n; i++) {
					double amax = 0;
					for (int64_t j = 0; j < dim; j++)
						amax = fmax(amax, fabs(y[0][i * dim + j]));
					for (int64_t j = 0; j < dim; j++)
						note(s, fabs((double)y[1][i * dim + j] - y[0][i * dim + j]) / (amax + 1e-30),
						     "rmsnorm", (long)(i * dim + j));
				}
				free(x), free(w), free(y[0]), free(y[1]);
			}
}

/* rope: |x_be - x_cpu| <= 1e-4 * max |x| — theta = pos * base^(-2d/n_rot) in float: one ulp of a
 * theta near 300 is 3e-5 rad, and powf/sinf/cosf may each differ by an ulp or two. */
#define BOUND_ROPE 1e-4
static void test_rope(struct sl_backend *be)
{
	static const struct { int n_head, head_dim, n_rot; } shapes[] = { { 8, 64, 64 }, { 3, 128, 64 }, { 5, 16, 16 } };
	static const int pos0s[] = { 0, 1, 37, 300 };
	static const int ns[] = { 1, 5 };
	for (int neox = 0; neox < 2; neox++) {
		struct stat *s = stat_of(neox ? "rope/neox" : "rope/norm", BOUND_ROPE);
		for (size_t si = 0; si < SL_ARRAY_SIZE(shapes); si++)
			for (size_t pi = 0; pi < SL_ARRAY_SIZE(pos0s); pi++)
				for (size_t ni = 0; ni < SL_ARRAY_SIZE(ns); ni++) {
					int nh = shapes[si].n_head, hd = shapes[si].head_dim, n = ns[ni];
					size_t nel = (size_t)(nh * hd * n);
					float *x = randv(nel, 2.0f), *y[2];
					struct sl_backend *bs[2] = { ref, be };
					bool ok = true;
					for (int k = 0; k < 2; k++) {
						y[k] = malloc(nel * sizeof(float));
						struct run r = { .b = bs[k] };
						float *dx = r_in(&r, x, nel * sizeof(float));
						if (r_go(&r)) {
							int rc = bs[k]->ops->rope(bs[k], dx, nh, hd, shapes[si].n_rot, pos0s[pi], n,
										  10000.0f, neox);
							if (rc)
								r_op_failed(&r, "rope", rc);
						}
						ok = r_get(&r, y[k], dx, nel) && ok;
					}
					s->cases++;
					if (!ok)
						s->fail = true;
					double amax = 0;
					for (size_t j = 0; j < nel; j++)
						amax = fmax(amax, fabs(x[j]));
					for (size_t j = 0; ok && j < nel; j++)
						note(s, fabs((double)y[1][j] - y[0][j]) / amax, "rope", (long)j);
					free(x), free(y[0]), free(y[1]);
				}
	}
}

/* attention: out is a convex combination of rows of v, so |out_be - out_cpu| <= 1e-4 * max |v|
 * (softmax exp ulps and sum order over up to 305 positions). */
#define BOUND_ATTENTION 1e-4
static void test_attention(struct sl_backend *be)
{
	static const struct { int n_head, n_head_kv, head_dim; } shapes[] = { { 8, 2, 64 }, { 4, 4, 128 }, { 6, 1, 32 } };
	static const int pos0s[] = { 0, 1, 63, 300 };
	static const int ns[] = { 1, 5 };
	struct stat *s = stat_of("attention", BOUND_ATTENTION);
	for (size_t si = 0; si < SL_ARRAY_SIZE(shapes); si++)
		for (size_t pi = 0; pi < SL_ARRAY_SIZE(pos0s); pi++)
			for (size_t ni = 0; ni < SL_ARRAY_SIZE(ns); ni++) {
				int nh = shapes[si].n_head, nkv = shapes[si].n_head_kv, hd = shapes[si].head_dim;
				int pos0 = pos0s[pi], n = ns[ni], n_ctx = pos0 + n;
				size_t nq = (size_t)(n * nh * hd), nc = (size_t)(n_ctx * nkv * hd);
				float *q = randv(nq, 1.0f), *kc = randv(nc, 1.0f), *vc = randv(nc, 1.0f), *y[2];
				struct sl_backend *bs[2] = { ref, be };
				bool ok = true;
				for (int k = 0; k < 2; k++) {
					y[k] = malloc(nq * sizeof(float));
					struct run r = { .b = bs[k] };
					float *dq = r_in(&r, q, nq * sizeof(float)), *dk = r_in(&r, kc, nc * sizeof(float));
					float *dv = r_in(&r, vc, nc * sizeof(float)), *dout = r_out(&r, nq);
					if (r_go(&r)) {
						int rc = bs[k]->ops->attention(bs[k], dout, dq, dk, dv, nh, nkv, hd, pos0, n,
									       1.0f / sqrtf((float)hd));
						if (rc)
							r_op_failed(&r, "attention", rc);
					}
					ok = r_get(&r, y[k], dout, nq) && ok;
				}
				s->cases++;
				if (!ok)
					s->fail = true;
				double vmax = 0;
				for (size_t j = 0; j < nc; j++)
					vmax = fmax(vmax, fabs(vc[j]));
				for (size_t j = 0; ok && j < nq; j++)
					note(s, fabs((double)y[1][j] - y[0][j]) / vmax, "attention", (long)j);
				free(q), free(kc), free(vc), free(y[0]), free(y[1]);
			}
}

/* silu_mul: |g_be - g_cpu| <= 1e-5 * (|g| * |u| + 1e-30) per element (expf ulps, one division). */
#define BOUND_SILU 1e-5
static void test_silu_mul(struct sl_backend *be)
{
	static const int64_t ns[] = { 1, 997, 3 * 4103 };
	struct stat *s = stat_of("silu_mul", BOUND_SILU);
	for (size_t ni = 0; ni < SL_ARRAY_SIZE(ns); ni++) {
		int64_t n = ns[ni];
		float *g = randv((size_t)n, 4.0f), *u = randv((size_t)n, 1.0f), *y[2];
		struct sl_backend *bs[2] = { ref, be };
		bool ok = true;
		for (int k = 0; k < 2; k++) {
			y[k] = malloc((size_t)n * sizeof(float));
			struct run r = { .b = bs[k] };
			float *dg = r_in(&r, g, (size_t)n * sizeof(float)), *du = r_in(&r, u, (size_t)n * sizeof(float));
			if (r_go(&r)) {
				int rc = bs[k]->ops->silu_mul(bs[k], dg, du, n);
				if (rc)
					r_op_failed(&r, "silu_mul", rc);
			}
			ok = r_get(&r, y[k], dg, (size_t)n) && ok;
		}
		s->cases++;
		if (!ok)
			s->fail = true;
		for (int64_t j = 0; ok && j < n; j++)
			note(s, fabs((double)y[1][j] - y[0][j]) / (fabs(g[j]) * fabs(u[j]) + 1e-30), "silu_mul", (long)j);
		free(g), free(u), free(y[0]), free(y[1]);
	}
}

/* add: exact (one float addition per element, no room for rounding differences). */
static void test_add(struct sl_backend *be)
{
	static const struct { int64_t n, n_x; } shapes[] = { { 997, 997 }, { 3 * 997, 997 }, { 8 * 4103, 4103 }, { 5, 1 } };
	struct stat *s = stat_of("add", 0);
	for (size_t si = 0; si < SL_ARRAY_SIZE(shapes); si++) {
		int64_t n = shapes[si].n, nx = shapes[si].n_x;
		float *yv = randv((size_t)n, 1.0f), *x = randv((size_t)nx, 1.0f), *y[2];
		struct sl_backend *bs[2] = { ref, be };
		bool ok = true;
		for (int k = 0; k < 2; k++) {
			y[k] = malloc((size_t)n * sizeof(float));
			struct run r = { .b = bs[k] };
			float *dy = r_in(&r, yv, (size_t)n * sizeof(float)), *dx = r_in(&r, x, (size_t)nx * sizeof(float));
			if (r_go(&r)) {
				int rc = bs[k]->ops->add(bs[k], dy, dx, n, nx);
				if (rc)
					r_op_failed(&r, "add", rc);
			}
			ok = r_get(&r, y[k], dy, (size_t)n) && ok;
		}
		s->cases++;
		if (!ok)
			s->fail = true;
		for (int64_t j = 0; ok && j < n; j++) {
			CHECK(y[0][j] == yv[j] + x[j % nx]); /* the reference itself: the broadcast as documented */
			note(s, fabs((double)y[1][j] - y[0][j]), "add", (long)j);
		}
		free(yv), free(x), free(y[0]), free(y[1]);
	}
}

static bool check_backend(const char *name)
{
	struct sl_err err = { { 0 } };
	struct sl_backend *be = mk(name, &err);
	if (!be) {
		CHECK_MSG(0, "backend %s: %s", name, err.msg);
		printf("backend %s: FAIL (cannot create: %s)\n", name, err.msg);
		return false;
	}
	n_stats = 0;
	test_weights(be);
	test_rmsnorm(be);
	test_rope(be);
	test_attention(be);
	test_silu_mul(be);
	test_add(be);
	/* Every buffer of the test is freed; what stays charged is the backend's own (scratch it keeps,
	 * e.g. for quantized activations).  Hundreds of buffers of up to 4 MiB went through: a leak
	 * per op would be far above 16 MiB. */
	CHECK_MSG(be->mem_used <= (16u << 20), "%s: %llu bytes of device memory still charged after every buffer was freed",
		  name, (unsigned long long)be->mem_used);
	if (be->mem_used)
		printf("backend %s keeps %llu bytes of its own device memory\n", name, (unsigned long long)be->mem_used);
	bool pass = true;
	for (int i = 0; i < n_stats; i++) {
		struct stat *s = &stats[i];
		printf("op %-16s cases %3d max_err %9.3g bound %9.3g %s\n", s->name, s->cases, s->max_err, s->bound,
		       s->fail ? "FAIL" : "ok");
		if (s->fail) {
			pass = false;
			t_failures++;
		}
	}
	printf("backend %s: %s\n", name, pass ? "pass" : "FAIL");
	fflush(stdout);
	sl_backend_free(be);
	return pass;
}

int main(int argc, char **argv)
{
	struct sl_err err = { { 0 } };
	nan_fill_n = 8 * 4103 + 4096;
	nan_fill = malloc(nan_fill_n * sizeof(float));
	for (size_t i = 0; i < nan_fill_n; i++)
		nan_fill[i] = NAN;
	ref = mk("cpu", &err);
	CHECK_MSG(ref, "cpu: %s", err.msg);
	if (!ref)
		return t_done();
	int first = 1;
	if (argc > 1 && !strcmp(argv[1], "--quick"))
		quick = true, first = 2;
	if (argc > first) {
		for (int i = first; i < argc; i++)
			check_backend(argv[i]);
	} else {
		/* every backend but the reference; cuda only where it can be created (a driver and a device) */
		const char *all[] = { "cpu-async", "cpu-async-zc", "cuda" };
		for (size_t i = 0; i < SL_ARRAY_SIZE(all); i++) {
			struct sl_backend *b = !strcmp(all[i], "cuda") ? mk(all[i], &err) : NULL;
			if (!strcmp(all[i], "cuda") && !b) {
				printf("backend cuda: not checked (%s)\n", err.msg);
				continue;
			}
			sl_backend_free(b);
			check_backend(all[i]);
		}
	}
	sl_backend_free(ref);
	free(nan_fill);
	return t_done();
}
