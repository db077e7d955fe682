/* SPDX-License-Identifier: MIT */
/* sluice-timeout: 900 (ThreadSanitizer follows every SIMT fiber switch and access: minutes there) */
/*
 * test_fw_mla — the firmware's deepseek2 kernels (sl_mla_kv, sl_mla_attention, sl_add_rows) and the
 * split-K decode attention (sl_attention_split + sl_attention_combine), compiled for the CPU against
 * the SIMT shim and launched with the device's parameter layout and firmware/kernels.h's shapes,
 * against the cpu backend's ops on random inputs; outputs poisoned with NaN first.
 *
 * Bounds:
 *   mla_kv                        |y - y_cpu| <= 1e-6 * (1 + |y_cpu|)
 *   add_rows (rows in the CPU's order, repeated ids)   bit-exact
 *   mla_attention, q's rope part  |q - q_cpu| <= 1e-6 * (1 + |q_cpu|)
 *   mla_attention, out            |o - o_cpu| <= 2e-5 * (1 + max|o_cpu|): the same dequantized
 *        weights, float sums in another order (q_lat, scores, o_lat, out are each a float dot);
 *        the same for decode split over the context (sl_mla_q, sl_mla_split, sl_mla_combine),
 *        chunks of 1 to past the context, ctx 1 to 1003
 *   split attention               |o - o_cpu| <= 5e-6 * (1 + max|v|), sl_attention's bound
 * Shapes: both MLA weight layouts, weight types f32 f16 bf16 q8_0 q4_0 q5_1 q4_K q5_K q6_K, 1 to 9 heads
 * (blocks of SL_FW_MLA_HEADS, the last one partial), kv_lora 40 to 512, n = 1 and n > 1 (causal), with and without rope factors; split attention at context 1, 7,
 * 300, 1003 and 4096 with GQA groups of 1, 2, 4 and 12 (over SL_FW_SPLIT_HEADS) and head_dim 64 to
 * 256, chunk sizes 16 to past the context.
 */
#include "test_quant_util.h"
#include "backend/backend.h"
#include "firmware/kernels.h"
#include "firmware/simt/simt.h"
#include "helpers/fw_testutil.h"

#include <string.h>

static struct sl_backend *be;

static float *randn(size_t n, float s)
{
	float *p = malloc(n * sizeof(float) + 4);
	for (size_t i = 0; i < n; i++)
		p[i] = tq_normal() * s;
	return p;
}

/* ---- mla_kv ---- */

static void test_mla_kv(void)
{
	static const struct { int L, Dr, pos0, n, ff; } cs[] = {
		{ 512, 64, 17, 3, 0 }, { 512, 64, 4000, 1, 1 }, { 40, 6, 0, 1, 1 }, { 300, 2, 9, 5, 0 },
	};
	for (size_t c = 0; c < sizeof cs / sizeof cs[0]; c++) {
		const int L = cs[c].L, Dr = cs[c].Dr, n = cs[c].n;
		const size_t len = (size_t)n * (L + Dr);
		float *x = randn(len, 2), *ref = malloc(len * 4), *w = randn(L, 0.1f), *ff = NULL;
		for (int i = 0; i < L; i++)
			w[i] += 1;
		if (cs[c].ff) {
			ff = malloc(Dr / 2 * 4);
			for (int d = 0; d < Dr / 2; d++)
				ff[d] = 1 + (float)d * 0.7f;
		}
		memcpy(ref, x, len * 4);
		CHECK(be->ops->mla_kv(be, ref, w, L, Dr, cs[c].pos0, n, 1e-6f, 10000.0f, ff) == 0);
		struct pk p = { .o = 0 };
		pk_ptr(&p, x);
		pk_ptr(&p, w);
		pk_ptr(&p, ff);
		pk_int(&p, L);
		pk_int(&p, Dr);
		pk_int(&p, cs[c].pos0);
		pk_int(&p, n);
		pk_f(&p, 1e-6f);
		pk_f(&p, 10000.0f);
		fw_launch("sl_mla_kv", n, 1, SL_FW_BLOCK, 1, &p);
		for (size_t i = 0; i < len; i++)
			CHECK_MSG(fabsf(x[i] - ref[i]) <= 1e-6f * (1 + fabsf(ref[i])), "mla_kv case %zu [%zu] %g vs %g", c, i,
				  x[i], ref[i]);
		free(x);
		free(ref);
		free(w);
		free(ff);
	}
}

/* ---- add_rows ---- */

static void test_add_rows(void)
{
	const long long cols_l[] = { 1, 997, 7168 };
	for (int c = 0; c < 3; c++) {
		const long long cols = cols_l[c];
		const int rows = 5, n = 6;
		const int ids[] = { 3, 0, 3, 4, 1, 3 }; /* 3 repeated: the terms add in order */
		const float sc[] = { 0.5f, -1.25f, 0.3f, 1e-3f, 2.0f, 0.7f };
		float *y = randn(rows * cols, 1), *ref = malloc(rows * cols * 4), *x = randn(n * cols, 1);
		memcpy(ref, y, rows * cols * 4);
		CHECK(be->ops->add_rows(be, ref, x, ids, sc, cols, n) == 0);
		struct pk p = { .o = 0 };
		pk_ptr(&p, y);
		pk_ptr(&p, x);
		pk_ptr(&p, ids);
		pk_ptr(&p, sc);
		pk_ll(&p, cols);
		pk_int(&p, n);
		unsigned g = (unsigned)((cols + SL_FW_BLOCK - 1) / SL_FW_BLOCK);
		fw_launch("sl_add_rows", g > 2 ? 2 : g, 1, SL_FW_BLOCK, 1, &p); /* 2 blocks at most: the grid-stride loop */
		CHECK_MSG(!memcmp(y, ref, rows * cols * 4), "add_rows cols %lld: not the CPU's bits", cols);
		free(y);
		free(ref);
		free(x);
	}
}

/* ---- mla_attention ---- */

static float *g_q0; /* the case's q before any rope */

struct mla_case {
	int H, Dn, Dr, Dv, L, legacy, pos0, n, ff;
	uint32_t tk, tv;
};

/* Decode through sl_mla_q, sl_mla_split (chunk positions per block) and sl_mla_combine, from the
 * unroped q the case began with (q0: the roped q of the CPU is compared too), against the CPU's out. */
static void mla_decode_split(const struct mla_case *k, const void *wk, const void *wv, uint32_t tv, const float *ff,
			     const float *cache, const float *ref, const float *qref, float omax, int chunk)
{
	const int H = k->H, Dn = k->Dn, Dr = k->Dr, Dv = k->Dv, L = k->L, len = k->pos0 + 1;
	const int nc = (len + chunk - 1) / chunk, nb = (H + SL_FW_MLA_HEADS - 1) / SL_FW_MLA_HEADS;
	const size_t qn = (size_t)H * (Dn + Dr);
	float *q = malloc(qn * 4), *qs = poisoned((size_t)H * (L + Dr) * 4), *part = poisoned((size_t)H * nc * (L + 2) * 4);
	float *o = poisoned((size_t)H * Dv * 4);
	memcpy(q, g_q0, qn * 4);
	const float scale = 1.0f / sqrtf((float)(Dn + Dr));
	struct pk p = { .o = 0 };
	pk_ptr(&p, qs);
	pk_ptr(&p, q);
	pk_ptr(&p, wk);
	pk_ptr(&p, ff);
	pk_int(&p, (int)k->tk);
	pk_int(&p, H);
	pk_int(&p, Dn);
	pk_int(&p, Dr);
	pk_int(&p, Dv);
	pk_int(&p, L);
	pk_int(&p, k->legacy);
	pk_int(&p, k->pos0);
	pk_f(&p, 10000.0f);
	fw_launch("sl_mla_q", nb, 1, SL_FW_MLA_BLOCK, 1, &p);
	p.o = 0;
	pk_ptr(&p, part);
	pk_ptr(&p, qs);
	pk_ptr(&p, cache);
	pk_int(&p, H);
	pk_int(&p, Dr);
	pk_int(&p, L);
	pk_int(&p, len);
	pk_int(&p, chunk);
	pk_f(&p, scale);
	fw_launch("sl_mla_split", nb, nc, SL_FW_MLA_BLOCK, 1, &p);
	p.o = 0;
	pk_ptr(&p, o);
	pk_ptr(&p, part);
	pk_ptr(&p, wv);
	pk_int(&p, (int)tv);
	pk_int(&p, H);
	pk_int(&p, Dn);
	pk_int(&p, Dv);
	pk_int(&p, L);
	pk_int(&p, k->legacy);
	pk_int(&p, nc);
	fw_launch("sl_mla_combine", nb, 1, SL_FW_MLA_BLOCK, 1, &p);
	for (size_t i = 0; i < qn; i++)
		CHECK_MSG(fabsf(q[i] - qref[i]) <= 1e-6f * (1 + fabsf(qref[i])), "mla split-K q[%zu] %g vs %g", i, q[i], qref[i]);
	double worst = 0;
	for (int i = 0; i < H * Dv; i++) {
		const double e = fabs((double)o[i] - ref[i]);
		CHECK_MSG(e <= 2e-5 * (1 + omax), "mla split-K (%s, heads %d, L %d, ctx %d, chunk %d) out[%d] %g vs %g",
			  k->legacy ? "legacy" : "split", H, L, len, chunk, i, o[i], ref[i]);
		if (!(e <= worst))
			worst = e;
	}
	printf("  decode split-K, chunk %4d (%3d chunks): max |o - cpu| = %.2g\n", chunk, nc, worst);
	free(q);
	free(qs);
	free(part);
	free(o);
}

static void test_mla_attention(void)
{
	static const struct mla_case cs[] = {
		{ 3, 32, 8, 24, 64, 0, 0, 1, 0, SL_TYPE_F32, SL_TYPE_F32 },
		{ 2, 64, 16, 32, 512, 0, 37, 1, 1, SL_TYPE_Q8_0, SL_TYPE_Q4_K },
		{ 1, 16, 2, 8, 40, 0, 300, 3, 0, SL_TYPE_F16, SL_TYPE_BF16 },
		{ 4, 32, 8, 32, 256, 1, 5, 7, 0, SL_TYPE_Q4_K, SL_TYPE_Q4_K },
		{ 2, 32, 64, 32, 512, 1, 0, 13, 1, SL_TYPE_Q6_K, SL_TYPE_Q6_K },
		{ 5, 24, 4, 16, 96, 1, 60, 1, 0, SL_TYPE_Q4_0, SL_TYPE_Q4_0 },
		{ 3, 64, 32, 48, 128, 0, 2, 4, 0, SL_TYPE_Q5_1, SL_TYPE_F16 },
		{ 2, 128, 64, 128, 512, 0, 130, 2, 1, SL_TYPE_BF16, SL_TYPE_Q8_0 },
		{ 9, 32, 64, 16, 512, 0, 40, 1, 1, SL_TYPE_Q8_0, SL_TYPE_Q6_K },
		{ 6, 32, 16, 24, 256, 1, 3, 5, 0, SL_TYPE_Q5_K, SL_TYPE_Q5_K },
		{ 5, 128, 64, 128, 512, 0, 1002, 1, 1, SL_TYPE_Q8_0, SL_TYPE_Q8_0 },
		{ 3, 32, 8, 32, 256, 1, 299, 1, 0, SL_TYPE_Q4_K, SL_TYPE_Q4_K },
	};
	for (size_t c = 0; c < sizeof cs / sizeof cs[0]; c++) {
		const int H = cs[c].H, Dn = cs[c].Dn, Dr = cs[c].Dr, Dv = cs[c].Dv, L = cs[c].L, n = cs[c].n;
		const int ctx = cs[c].pos0 + n;
		/* the weights: split wk = H x (L rows of Dn), wv = H x (Dv rows of L); legacy one kv_b of
		 * H x (Dn + Dv) rows of L */
		const long long k_rows = cs[c].legacy ? (long long)H * (Dn + Dv) : (long long)H * L;
		const long long k_cols = cs[c].legacy ? L : Dn, v_rows = (long long)H * Dv;
		float *wkf = randn(k_rows * k_cols, 0.2f), *wvf = randn(v_rows * L, 0.2f);
		void *wk = malloc(sl_row_size(cs[c].tk, k_cols) * k_rows), *wv = wk;
		sl_quantize_rows(cs[c].tk, wkf, wk, k_rows, k_cols);
		if (!cs[c].legacy) {
			wv = malloc(sl_row_size(cs[c].tv, L) * v_rows);
			sl_quantize_rows(cs[c].tv, wvf, wv, v_rows, L);
		}
		const uint32_t tv = cs[c].legacy ? cs[c].tk : cs[c].tv;
		const size_t qn = (size_t)n * H * (Dn + Dr), cn = (size_t)ctx * (L + Dr), on = (size_t)n * H * Dv;
		float *q = randn(qn, 1), *qref = malloc(qn * 4), *cache = randn(cn, 1), *ref = malloc(on * 4);
		float *o = poisoned(on * 4), *ff = NULL;
		memcpy(qref, q, qn * 4);
		g_q0 = realloc(g_q0, qn * 4);
		memcpy(g_q0, q, qn * 4);
		if (cs[c].ff) {
			ff = malloc(Dr / 2 * 4);
			for (int d = 0; d < Dr / 2; d++)
				ff[d] = 1 + (float)d * 0.3f;
		}
		const float scale = 1.0f / sqrtf((float)(Dn + Dr));
		const struct sl_mla_shape s = { H, Dn, Dr, Dv, L, cs[c].legacy, 10000.0f, scale, ff };
		CHECK(be->ops->mla_attention(be, ref, qref, cache, wk, cs[c].tk, wv, tv, &s, cs[c].pos0, n) == 0);
		struct pk p = { .o = 0 };
		pk_ptr(&p, o);
		pk_ptr(&p, q);
		pk_ptr(&p, cache);
		pk_ptr(&p, wk);
		pk_ptr(&p, wv);
		pk_ptr(&p, ff);
		pk_int(&p, (int)cs[c].tk);
		pk_int(&p, (int)tv);
		pk_int(&p, H);
		pk_int(&p, Dn);
		pk_int(&p, Dr);
		pk_int(&p, Dv);
		pk_int(&p, L);
		pk_int(&p, cs[c].legacy);
		pk_int(&p, cs[c].pos0);
		pk_int(&p, n);
		pk_f(&p, 10000.0f);
		pk_f(&p, scale);
		fw_launch("sl_mla_attention", (H + SL_FW_MLA_HEADS - 1) / SL_FW_MLA_HEADS, n, SL_FW_MLA_BLOCK, 1, &p);
		for (size_t i = 0; i < qn; i++)
			CHECK_MSG(fabsf(q[i] - qref[i]) <= 1e-6f * (1 + fabsf(qref[i])), "mla case %zu q[%zu] %g vs %g", c, i,
				  q[i], qref[i]);
		float omax = 0;
		for (size_t i = 0; i < on; i++)
			omax = fmaxf(omax, fabsf(ref[i]));
		double worst = 0;
		for (size_t i = 0; i < on; i++) {
			const double e = fabs((double)o[i] - ref[i]);
			CHECK_MSG(e <= 2e-5 * (1 + omax), "mla case %zu (%s, %s/%s, L %d, ctx %d, n %d) out[%zu] %g vs %g", c,
				  cs[c].legacy ? "legacy" : "split", sl_type_name(cs[c].tk), sl_type_name(tv), L, ctx, n, i,
				  o[i], ref[i]);
			if (!(e <= worst))
				worst = e;
		}
		printf("mla_attention %-6s %-4s/%-4s heads %d L %3d ctx %3d n %2d: max |o - cpu| = %.2g (bound %.2g)\n",
		       cs[c].legacy ? "legacy" : "split", sl_type_name(cs[c].tk), sl_type_name(tv), H, L, ctx, n, worst,
		       2e-5 * (1 + omax));
		if (n == 1)
			for (int ci = 0; ci < 4; ci++) {
				const int chunks[] = { 1, 7, 64, ctx + 5 }; /* one position a block .. past the context */
				mla_decode_split(&cs[c], wk, wv, tv, ff, cache, ref, qref, omax, chunks[ci]);
			}
		free(wkf);
		free(wvf);
		if (wv != wk)
			free(wv);
		free(wk);
		free(q);
		free(qref);
		free(cache);
		free(ref);
		free(o);
		free(ff);
	}
}

/* ---- split-K decode attention ---- */

static void test_attention_split(void)
{
	static const struct { int nh, nkv, hd, ctx, chunk; } cs[] = {
		{ 32, 8, 128, 4096, 256 }, { 32, 8, 128, 1003, 64 }, { 8, 2, 64, 300, 256 }, { 8, 2, 64, 300, 16 },
		{ 12, 1, 64, 1003, 128 },  { 4, 4, 256, 7, 4 },      { 6, 3, 96, 1, 256 },   { 6, 3, 96, 7, 256 },
		{ 2, 1, 64, 300, 1000 },   { 12, 1, 80, 7, 3 },
	};
	for (size_t c = 0; c < sizeof cs / sizeof cs[0]; c++) {
		const int nh = cs[c].nh, nkv = cs[c].nkv, hd = cs[c].hd, ctx = cs[c].ctx, chunk = cs[c].chunk;
		const int n_chunks = (ctx + chunk - 1) / chunk;
		const int B = (nh / nkv + SL_FW_SPLIT_HEADS - 1) / SL_FW_SPLIT_HEADS;
		const size_t qn = (size_t)nh * hd, kn = (size_t)ctx * nkv * hd;
		float *q = randn(qn, 1), *k = randn(kn, 1), *v = randn(kn, 1), *ref = malloc(qn * 4), *o = poisoned(qn * 4);
		float *part = poisoned((size_t)nh * n_chunks * (hd + 2) * 4);
		float vmax = 0;
		for (size_t i = 0; i < kn; i++)
			vmax = fmaxf(vmax, fabsf(v[i]));
		const float scale = 1.0f / sqrtf((float)hd);
		CHECK(be->ops->attention(be, ref, q, k, v, nh, nkv, hd, ctx - 1, 1, scale) == 0);
		struct pk p = { .o = 0 };
		pk_ptr(&p, part);
		pk_ptr(&p, q);
		pk_ptr(&p, k);
		pk_ptr(&p, v);
		pk_int(&p, nh);
		pk_int(&p, nkv);
		pk_int(&p, hd);
		pk_int(&p, ctx);
		pk_int(&p, chunk);
		pk_f(&p, scale);
		fw_launch("sl_attention_split", nkv * B, n_chunks, SL_FW_ATTN_BLOCK, 1, &p);
		p.o = 0;
		pk_ptr(&p, o);
		pk_ptr(&p, part);
		pk_int(&p, nh);
		pk_int(&p, hd);
		pk_int(&p, n_chunks);
		fw_launch("sl_attention_combine", nh, 1, SL_FW_ATTN_BLOCK, 1, &p);
		double worst = 0;
		for (size_t i = 0; i < qn; i++) {
			const double e = fabs((double)o[i] - ref[i]);
			CHECK_MSG(e <= 5e-6 * (1 + vmax), "split case %zu (heads %d/%d hd %d ctx %d chunk %d) [%zu] %g vs %g", c, nh,
				  nkv, hd, ctx, chunk, i, o[i], ref[i]);
			if (!(e <= worst))
				worst = e;
		}
		printf("attention split heads %2d/%d hd %3d ctx %4d chunk %4d (%3d chunks): max |o - cpu| = %.2g (bound %.2g)\n",
		       nh, nkv, hd, ctx, chunk, n_chunks, worst, 5e-6 * (1 + vmax));
		free(q);
		free(k);
		free(v);
		free(ref);
		free(o);
		free(part);
	}
}

int main(void)
{
	be = fw_cpu_backend();
	if (!be)
		return 1;
	test_mla_kv();
	test_add_rows();
	test_mla_attention();
	test_attention_split();
	free(g_q0);
	sl_backend_free(be);
	return t_done();
}
