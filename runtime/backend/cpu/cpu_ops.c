/* SPDX-License-Identifier: MIT */
/*
 * runtime/backend/cpu/cpu_ops.c — the CPU kernels, their argument checks and
 * supports_op.  Shared by "cpu" (run at once) and the deferred test modes.
 *
 * Large ops are split across the persistent thread pool; small ones run on the
 * calling thread, because on a tiny model a dispatch costs more than the work.
 * The matmul row loop is runtime/quant/matmul.c's (sl_quantize_activations +
 * sl_matmul_rows): the one the quant tests and the matmul bench check too.
 */
#include "backend/cpu/cpu.h"
#include "backend/cpu/threadpool.h"
#include "firmware/rope_pairs.h"
#include "quant/quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Below this many multiply-adds an op runs single-threaded. */
#define PAR_MIN_WORK (1 << 15)

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

/* ---- what runs ---- */

/* A type can be a matmul weight when it has a dot product and its activation type can be made
 * from floats (f32 activations are used as they are). */
static bool matmul_type_ok(uint32_t wtype)
{
	const struct sl_type_traits *t = sl_type_traits(wtype);
	if (!t || !t->vec_dot)
		return false;
	const struct sl_type_traits *a = sl_type_traits(t->vec_dot_type);
	return t->vec_dot_type == SL_TYPE_F32 || (a && a->from_float);
}

bool sl_cpu_supports_op(struct sl_backend *b, enum sl_be_op op, uint32_t wtype)
{
	const struct sl_type_traits *t;
	switch (op) {
	case SL_OP_MATMUL:
		return matmul_type_ok(wtype);
	case SL_OP_GET_ROWS:
		t = sl_type_traits(wtype);
		return t && t->to_float;
	case SL_OP_RMSNORM: /* f32 weights (and no weight) only: wtype is not looked at */
	case SL_OP_ROPE:
	case SL_OP_ATTENTION:
	case SL_OP_SILU_MUL:
	case SL_OP_ADD:
		return true;
	default:
		return false;
	}
}

static int bad(struct sl_backend *b, const char *op, const char *why)
{
	return sl_errf(&b->err, EINVAL, "%s backend: %s: %s", b->ops->name, op, why);
}

int sl_cpu_job_check(struct sl_backend *b, const struct cpu_job *j)
{
	switch (j->kind) {
	case CPU_JOB_UPLOAD:
	case CPU_JOB_DOWNLOAD:
		if (j->copy.size && (!j->copy.dst || !j->copy.src))
			return bad(b, j->kind == CPU_JOB_UPLOAD ? "upload" : "download", "NULL buffer");
		return 0;
	case CPU_JOB_WAIT:
		return 0;
	case CPU_JOB_MATMUL:
		if (!sl_cpu_supports_op(b, SL_OP_MATMUL, j->matmul.wtype))
			return sl_errf(&b->err, ENOTSUP, "%s backend: matmul: no kernel for weights of type %s (%u)",
				       b->ops->name, sl_type_name(j->matmul.wtype), j->matmul.wtype);
		if (j->matmul.rows < 0 || j->matmul.cols <= 0 || j->matmul.n < 0)
			return bad(b, "matmul", "negative or zero size");
		if (!sl_row_size(j->matmul.wtype, j->matmul.cols))
			return bad(b, "matmul", "columns not a multiple of the weight type's block");
		return 0;
	case CPU_JOB_GET_ROWS:
		if (!sl_cpu_supports_op(b, SL_OP_GET_ROWS, j->get_rows.wtype))
			return sl_errf(&b->err, ENOTSUP, "%s backend: get_rows: cannot convert type %s (%u) to floats",
				       b->ops->name, sl_type_name(j->get_rows.wtype), j->get_rows.wtype);
		if (j->get_rows.cols <= 0 || j->get_rows.n < 0 || !sl_row_size(j->get_rows.wtype, j->get_rows.cols))
			return bad(b, "get_rows", "bad size");
		for (int i = 0; i < j->get_rows.n; i++)
			if (j->get_rows.ids[i] < 0)
				return sl_errf(&b->err, EINVAL, "%s backend: get_rows: negative row id %d",
					       b->ops->name, j->get_rows.ids[i]);
		return 0;
	case CPU_JOB_RMSNORM:
		return j->rmsnorm.dim <= 0 || j->rmsnorm.n < 0 ? bad(b, "rmsnorm", "bad size") : 0;
	case CPU_JOB_ROPE:
		if (j->rope.n_head < 0 || j->rope.n < 0 || j->rope.n_rot < 0 || j->rope.n_rot % 2 ||
		    j->rope.n_rot > j->rope.head_dim)
			return bad(b, "rope", "bad size (n_rot must be even and at most head_dim)");
		return 0;
	case CPU_JOB_ATTENTION:
		if (j->attn.n_head_kv <= 0 || j->attn.n_head % j->attn.n_head_kv || j->attn.head_dim <= 0 ||
		    j->attn.pos0 < 0 || j->attn.n < 0)
			return bad(b, "attention", "bad size (n_head must be a multiple of n_head_kv)");
		return 0;
	case CPU_JOB_SILU_MUL:
		return j->silu_mul.n < 0 ? bad(b, "silu_mul", "negative size") : 0;
	case CPU_JOB_ADD:
		if (j->add.n < 0 || j->add.n_x <= 0 || j->add.n % j->add.n_x)
			return bad(b, "add", "n must be a multiple of n_x > 0");
		return 0;
	case CPU_JOB_MLA_KV:
		if (j->mla_kv.kv_lora <= 0 || j->mla_kv.d_rope < 0 || j->mla_kv.d_rope % 2 || j->mla_kv.n < 0 ||
		    j->mla_kv.pos0 < 0)
			return bad(b, "mla_kv", "bad size (d_rope must be even)");
		return 0;
	case CPU_JOB_MLA_ATTN: {
		const struct sl_mla_shape *m = &j->mla.s;
		const int64_t kcols = m->legacy ? m->kv_lora : m->d_nope;
		if (m->n_head <= 0 || m->d_nope <= 0 || m->d_rope < 0 || m->d_rope % 2 || m->d_v <= 0 || m->kv_lora <= 0 ||
		    j->mla.pos0 < 0 || j->mla.n < 0)
			return bad(b, "mla_attention", "bad size");
		if (!sl_cpu_supports_op(b, SL_OP_GET_ROWS, j->mla.wk_type) ||
		    !sl_cpu_supports_op(b, SL_OP_GET_ROWS, j->mla.wv_type) || !sl_row_size(j->mla.wk_type, kcols) ||
		    !sl_row_size(j->mla.wv_type, m->kv_lora))
			return sl_errf(&b->err, ENOTSUP, "%s backend: mla_attention: weights of type %s / %s cannot be read",
				       b->ops->name, sl_type_name(j->mla.wk_type), sl_type_name(j->mla.wv_type));
		return 0;
	}
	case CPU_JOB_ADD_ROWS:
		if (j->add_rows.cols <= 0 || j->add_rows.n < 0)
			return bad(b, "add_rows", "bad size");
		for (int i = 0; i < j->add_rows.n; i++)
			if (j->add_rows.ids[i] < 0)
				return bad(b, "add_rows", "negative row id");
		return 0;
	}
	return bad(b, "job", "unknown op");
}

void sl_cpu_job_output(const struct cpu_job *j, uint8_t **p, size_t *size)
{
	const size_t f = sizeof(float);
	switch (j->kind) {
	case CPU_JOB_UPLOAD:
	case CPU_JOB_DOWNLOAD:
		*p = j->copy.dst, *size = j->copy.size;
		return;
	case CPU_JOB_MATMUL:
		*p = (uint8_t *)j->matmul.y, *size = (size_t)j->matmul.rows * (size_t)j->matmul.n * f;
		return;
	case CPU_JOB_GET_ROWS:
		*p = (uint8_t *)j->get_rows.y, *size = (size_t)j->get_rows.cols * (size_t)j->get_rows.n * f;
		return;
	case CPU_JOB_RMSNORM:
		*p = (uint8_t *)j->rmsnorm.y, *size = (size_t)j->rmsnorm.dim * (size_t)j->rmsnorm.n * f;
		return;
	case CPU_JOB_ROPE:
		*p = (uint8_t *)j->rope.x, *size = (size_t)j->rope.n * j->rope.n_head * j->rope.head_dim * f;
		return;
	case CPU_JOB_ATTENTION:
		*p = (uint8_t *)j->attn.out, *size = (size_t)j->attn.n * j->attn.n_head * j->attn.head_dim * f;
		return;
	case CPU_JOB_SILU_MUL:
		*p = (uint8_t *)j->silu_mul.gate, *size = (size_t)j->silu_mul.n * f;
		return;
	case CPU_JOB_ADD:
		*p = (uint8_t *)j->add.y, *size = (size_t)j->add.n * f;
		return;
	case CPU_JOB_MLA_KV:
		*p = (uint8_t *)j->mla_kv.rows,
		*size = (size_t)j->mla_kv.n * (size_t)(j->mla_kv.kv_lora + j->mla_kv.d_rope) * f;
		return;
	case CPU_JOB_MLA_ATTN:
		*p = (uint8_t *)j->mla.out, *size = (size_t)j->mla.n * (size_t)j->mla.s.n_head * (size_t)j->mla.s.d_v * f;
		return;
	case CPU_JOB_ADD_ROWS: /* scattered rows: no one range */
	case CPU_JOB_WAIT:
		break;
	}
	*p = NULL, *size = 0;
}

/* ---- matmul: matmul.c's row loop, row ranges split across the pool ---- */

struct mm_task {
	uint32_t wtype;
	const void *w;
	int64_t rows, cols;
	const void *xq;
	int n;
	float *y;
};

static void mm_run(void *arg, int chunk, int n_chunks, int thread)
{
	const struct mm_task *t = arg;
	long lo, hi;
	sl_split_range((long)t->rows, chunk, n_chunks, &lo, &hi);
	sl_matmul_rows(t->wtype, t->w, t->cols, lo, hi, t->xq, t->n, t->y, t->rows);
}

static int cpu_matmul(struct cpu *c, float *y, const void *w, uint32_t wtype, int64_t rows, int64_t cols,
		      const float *x, int n, struct sl_err *err)
{
	if (!rows || !n)
		return 0;
	const void *xq = x; /* f32 weights dot f32 activations as they are */
	if (sl_type_traits(wtype)->vec_dot_type != SL_TYPE_F32) {
		size_t need = sl_matmul_scratch_size(wtype, cols, n);
		void *q = scratch(&c->xq, &c->xq_cap, need);
		if (!q)
			return sl_errf(err, ENOMEM, "cpu backend: matmul: no memory for %zu bytes of activation scratch",
				       need);
		sl_quantize_activations(wtype, x, cols, n, q);
		xq = q;
	}
	struct mm_task t = { wtype, w, rows, cols, xq, n, y };
	if (rows * cols * n < PAR_MIN_WORK)
		mm_run(&t, 0, 1, 0);
	else
		sl_threadpool_run(c->pool, mm_run, &t, n_chunks(c, (long)rows));
	return 0;
}

/* ---- the rest ---- */

static void cpu_get_rows(float *y, const void *w, uint32_t wtype, int64_t cols, const int32_t *ids, int n)
{
	const struct sl_type_traits *tt = sl_type_traits(wtype);
	size_t row = sl_row_size(wtype, cols);
	for (int i = 0; i < n; i++)
		tt->to_float((const uint8_t *)w + (size_t)ids[i] * row, y + (size_t)i * cols, cols);
}

static void cpu_rmsnorm(float *y, const float *x, const float *w, int64_t dim, int n, float eps)
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

static void cpu_rope(float *x, int n_head, int head_dim, int n_rot, int pos0, int n, float freq_base, bool neox,
		     const float *ff)
{
	for (int i = 0; i < n; i++) {
		const float pos = (float)(pos0 + i);
		for (int d = 0; d < n_rot / 2; d++) {
			float theta = pos * powf(freq_base, -2.0f * (float)d / (float)n_rot);
			if (ff)
				theta /= ff[d];
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

static int cpu_attention(struct cpu *c, float *out, const float *q, const float *kc, const float *vc, int n_head,
			 int n_head_kv, int head_dim, int pos0, int n, float scale, struct sl_err *err)
{
	if (!n || !n_head)
		return 0;
	const int nth = sl_threadpool_size(c->pool);
	size_t stride = SL_ALIGN_UP((size_t)(pos0 + n), 16);
	size_t need = stride * (size_t)nth * sizeof(float);
	float *sc = scratch((void **)&c->scores, &c->scores_cap, need);
	if (!sc)
		return sl_errf(err, ENOMEM, "cpu backend: attention: no memory for %zu bytes of score scratch", need);
	struct attn_task t = { out, q, kc, vc, n_head, n_head_kv, head_dim, pos0, n, scale, sc, stride };
	if ((int64_t)n * n_head * (pos0 + n) * head_dim < PAR_MIN_WORK)
		attn_run(&t, 0, 1, 0);
	else
		sl_threadpool_run(c->pool, attn_run, &t, n_chunks(c, (long)n * n_head));
	return 0;
}

static void cpu_silu_mul(float *g, const float *u, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

/* y += x, x repeated over y every n_x elements (a bias row over a batch). */
static void cpu_add(float *y, const float *x, int64_t n, int64_t n_x)
{
	for (int64_t r = 0; r < n; r += n_x)
		for (int64_t i = 0; i < n_x; i++)
			y[r + i] += x[i];
}

/* ---- MLA (deepseek2) ---- */

static void cpu_mla_kv(float *rows, const float *w, int kv_lora, int d_rope, int pos0, int n, float eps,
		       float freq_base, const float *ff)
{
	const size_t stride = (size_t)kv_lora + (size_t)d_rope;
	for (int i = 0; i < n; i++) {
		float *r = rows + (size_t)i * stride;
		cpu_rmsnorm(r, r, w, kv_lora, 1, eps);
		sl_rope_pairs(r + kv_lora, d_rope, (float)(pos0 + i), freq_base, ff, 0, 1);
	}
}

struct mla_task {
	const struct cpu_job *j;
	float *scratch;
	size_t stride; /* floats of scratch per thread */
};

/* Head h's rows [row0, row0 + nrows) of a weight with `cols` columns, as floats. */
static void deq_rows(const void *w, uint32_t type, int64_t cols, int64_t row0, int64_t nrows, float *out)
{
	const struct sl_type_traits *tt = sl_type_traits(type);
	const size_t rb = sl_row_size(type, cols);
	for (int64_t r = 0; r < nrows; r++)
		tt->to_float((const uint8_t *)w + (size_t)(row0 + r) * rb, out + r * cols, cols);
}

/* One head per job item: its K and V weights are converted once, then used for all n tokens. */
static void mla_run(void *arg, int chunk, int n_chunks, int thread)
{
	const struct mla_task *t = arg;
	const struct cpu_job *j = t->j;
	const struct sl_mla_shape *s = &j->mla.s;
	const int L = s->kv_lora, Dn = s->d_nope, Dr = s->d_rope, Dv = s->d_v, H = s->n_head, n = j->mla.n;
	const int len_max = j->mla.pos0 + n;
	const size_t crow = (size_t)L + (size_t)Dr, qrow = (size_t)H * (size_t)(Dn + Dr);
	float *wk = t->scratch + (size_t)thread * t->stride; /* [L][Dn] (split) or [Dn][L] (legacy) */
	float *wv = wk + (size_t)L * Dn;                      /* [Dv][L] */
	float *qlat = wv + (size_t)Dv * L;                    /* [L] */
	float *olat = qlat + L;                               /* [L] */
	float *att = olat + L;                                /* [len_max] */
	long lo, hi;
	sl_split_range((long)H, chunk, n_chunks, &lo, &hi);
	for (long h = lo; h < hi; h++) {
		if (s->legacy) {
			deq_rows(j->mla.wk, j->mla.wk_type, L, h * (Dn + Dv), Dn, wk);
			deq_rows(j->mla.wv, j->mla.wv_type, L, h * (Dn + Dv) + Dn, Dv, wv);
		} else {
			deq_rows(j->mla.wk, j->mla.wk_type, Dn, h * L, L, wk);
			deq_rows(j->mla.wv, j->mla.wv_type, L, h * Dv, Dv, wv);
		}
		for (int i = 0; i < n; i++) {
			const float *q = j->mla.q + (size_t)i * qrow + (size_t)h * (Dn + Dr);
			for (int c = 0; c < L; c++)
				qlat[c] = 0;
			if (s->legacy) {
				for (int d = 0; d < Dn; d++)
					for (int c = 0; c < L; c++)
						qlat[c] += wk[(size_t)d * L + c] * q[d];
			} else {
				for (int c = 0; c < L; c++) {
					float a = 0;
					for (int d = 0; d < Dn; d++)
						a += wk[(size_t)c * Dn + d] * q[d];
					qlat[c] = a;
				}
			}
			const int len = j->mla.pos0 + i + 1;
			float mx = -INFINITY;
			for (int p = 0; p < len; p++) {
				const float *cr = j->mla.cache + (size_t)p * crow;
				float sc = 0;
				for (int c = 0; c < L; c++)
					sc += qlat[c] * cr[c];
				for (int d = 0; d < Dr; d++)
					sc += q[Dn + d] * cr[L + d];
				sc *= s->scale;
				att[p] = sc;
				mx = sc > mx ? sc : mx;
			}
			float sum = 0;
			for (int p = 0; p < len; p++)
				sum += att[p] = expf(att[p] - mx);
			for (int c = 0; c < L; c++)
				olat[c] = 0;
			for (int p = 0; p < len; p++) {
				const float *cr = j->mla.cache + (size_t)p * crow;
				const float a = att[p] / sum;
				for (int c = 0; c < L; c++)
					olat[c] += a * cr[c];
			}
			float *o = j->mla.out + (size_t)i * H * Dv + (size_t)h * Dv;
			for (int v = 0; v < Dv; v++) {
				float a = 0;
				for (int c = 0; c < L; c++)
					a += wv[(size_t)v * L + c] * olat[c];
				o[v] = a;
			}
		}
	}
	(void)len_max;
}

static int cpu_mla_attention(struct cpu *c, const struct cpu_job *j, struct sl_err *err)
{
	const struct sl_mla_shape *s = &j->mla.s;
	const int n = j->mla.n;
	if (!n)
		return 0;
	/* q's rope part first (all heads of all tokens): the heads then run in parallel */
	const size_t qrow = (size_t)s->n_head * (size_t)(s->d_nope + s->d_rope);
	for (int i = 0; i < n; i++)
		for (int h = 0; h < s->n_head; h++)
			sl_rope_pairs(j->mla.q + (size_t)i * qrow + (size_t)h * (s->d_nope + s->d_rope) + s->d_nope,
				      s->d_rope, (float)(j->mla.pos0 + i), s->freq_base, s->ff, 0, 1);
	const int nth = sl_threadpool_size(c->pool);
	size_t stride = (size_t)s->kv_lora * (size_t)(s->d_nope + s->d_v + 2) + (size_t)(j->mla.pos0 + n);
	stride = SL_ALIGN_UP(stride, 16);
	size_t need = stride * (size_t)nth * sizeof(float);
	float *sc = scratch((void **)&c->mla, &c->mla_cap, need);
	if (!sc)
		return sl_errf(err, ENOMEM, "cpu backend: mla_attention: no memory for %zu bytes of scratch", need);
	struct mla_task t = { j, sc, stride };
	const int64_t work = (int64_t)s->n_head * s->kv_lora * (s->d_nope + s->d_v + 2LL * (j->mla.pos0 + n)) * n;
	if (work < PAR_MIN_WORK || s->n_head == 1)
		mla_run(&t, 0, 1, 0);
	else
		sl_threadpool_run(c->pool, mla_run, &t, SL_MIN(s->n_head, nth * 4));
	return 0;
}

static void cpu_add_rows(float *y, const float *x, const int32_t *ids, const float *scale, int64_t cols, int n)
{
	for (int i = 0; i < n; i++) {
		float *yr = y + (size_t)ids[i] * (size_t)cols;
		const float *xr = x + (size_t)i * (size_t)cols;
		for (int64_t k = 0; k < cols; k++)
			yr[k] += scale[i] * xr[k];
	}
}

int sl_cpu_job_run(struct cpu *c, const struct cpu_job *j, struct sl_err *err)
{
	switch (j->kind) {
	case CPU_JOB_UPLOAD:
	case CPU_JOB_DOWNLOAD:
		if (j->copy.size)
			memcpy(j->copy.dst, j->copy.src, j->copy.size);
		return 0;
	case CPU_JOB_WAIT:
		return 0; /* the deferred queue resolves waits itself */
	case CPU_JOB_MATMUL:
		return cpu_matmul(c, j->matmul.y, j->matmul.w, j->matmul.wtype, j->matmul.rows, j->matmul.cols,
				  j->matmul.x, j->matmul.n, err);
	case CPU_JOB_GET_ROWS:
		cpu_get_rows(j->get_rows.y, j->get_rows.w, j->get_rows.wtype, j->get_rows.cols, j->get_rows.ids,
			     j->get_rows.n);
		return 0;
	case CPU_JOB_RMSNORM:
		cpu_rmsnorm(j->rmsnorm.y, j->rmsnorm.x, j->rmsnorm.w, j->rmsnorm.dim, j->rmsnorm.n, j->rmsnorm.eps);
		return 0;
	case CPU_JOB_ROPE:
		cpu_rope(j->rope.x, j->rope.n_head, j->rope.head_dim, j->rope.n_rot, j->rope.pos0, j->rope.n,
			 j->rope.freq_base, j->rope.neox, j->rope.ff);
		return 0;
	case CPU_JOB_ATTENTION:
		return cpu_attention(c, j->attn.out, j->attn.q, j->attn.kc, j->attn.vc, j->attn.n_head,
				     j->attn.n_head_kv, j->attn.head_dim, j->attn.pos0, j->attn.n, j->attn.scale, err);
	case CPU_JOB_SILU_MUL:
		cpu_silu_mul(j->silu_mul.gate, j->silu_mul.up, j->silu_mul.n);
		return 0;
	case CPU_JOB_ADD:
		cpu_add(j->add.y, j->add.x, j->add.n, j->add.n_x);
		return 0;
	case CPU_JOB_MLA_KV:
		cpu_mla_kv(j->mla_kv.rows, j->mla_kv.w, j->mla_kv.kv_lora, j->mla_kv.d_rope, j->mla_kv.pos0, j->mla_kv.n,
			   j->mla_kv.eps, j->mla_kv.freq_base, j->mla_kv.ff);
		return 0;
	case CPU_JOB_MLA_ATTN:
		return cpu_mla_attention(c, j, err);
	case CPU_JOB_ADD_ROWS:
		cpu_add_rows(j->add_rows.y, j->add_rows.x, j->add_rows.ids, j->add_rows.scale, j->add_rows.cols,
			     j->add_rows.n);
		return 0;
	}
	return sl_errf(err, EINVAL, "cpu backend: unknown job %d", (int)j->kind);
}
