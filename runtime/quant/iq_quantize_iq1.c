/* SPDX-License-Identifier: MIT */
/*
 * runtime/quant/iq_quantize_iq1.c — quantizers of iq1_s and iq1_m (only with an importance
 * matrix, as llama.cpp), ports of ggml's quantize_row_iq1_s_impl and quantize_row_iq1_m_impl on
 * the 2048-entry ternary grid of iq_grid.c.  With only -1, 0, +1 (plus a +-1/8 delta) per element,
 * the weighted least-squares fit of a block is solved exactly by trying every split of its sorted
 * values into three runs; the groups of 8 are then put on the grid.
 */
#include "quant/iq_grid.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

#define GROUP_MAX_EPS_IQ1_S 1e-12f
#define GROUP_MAX_EPS_IQ1_M 1e-7f

/* ---- iq1_s ---- */

struct xi {
	float x;
	int i;
};

static int cmp_xi(const void *a, const void *b)
{
	const struct xi *p = a, *q = b;
	return p->x < q->x ? -1 : p->x > q->x ? 1 : p->i - q->i;
}

/* The grid entry (of the listed neighbours) nearest xval at this scale, the levels meaning the
 * values xx[0..2]; its levels go to L. */
static int iq1_neighbour(const struct grid_tables *t, const uint16_t *nb, const float *xval, const float *w,
			 float scale, const float *xx, int8_t *L)
{
	float best = FLT_MAX;
	int gi = nb[1];
	for (int j = 1; j <= nb[0]; j++) {
		float d2 = 0;
		for (int i = 0; i < 8; i++) {
			const float diff = scale * xx[(t->grid[nb[j]][i] - 1) / 2] - xval[i];
			d2 += w[i] * diff * diff;
		}
		if (d2 < best) {
			best = d2;
			gi = nb[j];
		}
	}
	for (int i = 0; i < 8; i++)
		L[i] = (int8_t)((t->grid[gi][i] - 1) / 2);
	return gi;
}

/*
 * One block of 32 (ggml's quantize_row_iq1_s_impl): the values are -1, 0, +1 plus a shared
 * delta of +-1/8, so the weighted least-squares fit is solved exactly by trying every split of
 * the sorted values into three runs (with prefix sums of w*x and w), for both signs of the delta;
 * then each group of 8 is put on the 2048-entry grid (nearest listed neighbour when off it) and
 * the scale refitted.  Returns the scale; grid indices to qs[0..3], their high bits to *qh.
 */
static float iq1s_block(const struct grid_tables *t, const float *xb, const float *qw, float sigma2, uint8_t *qs,
			uint16_t *qh, int *shift)
{
	enum { BS = 32 };
	static const float x_p[3] = { -1 + IQ1S_DELTA, IQ1S_DELTA, 1 + IQ1S_DELTA };
	static const float x_m[3] = { -1 - IQ1S_DELTA, -IQ1S_DELTA, 1 - IQ1S_DELTA };
	float weight[BS], sumx[BS + 1], sumw[BS + 1];
	struct xi sorted[BS];
	int8_t L[BS];
	uint16_t index[BS / 8];
	*shift = 1;
	float max = 0;
	sl_iq_weights(xb, qw, sigma2, 0, BS, weight, NULL);
	for (int i = 0; i < BS; i++)
		max = fabsf(xb[i]) > max ? fabsf(xb[i]) : max;
	if (max < GROUP_MAX_EPS_IQ1_S)
		return 0;
	for (int j = 0; j < BS; j++)
		sorted[j] = (struct xi){ xb[j], j };
	qsort(sorted, BS, sizeof(*sorted), cmp_xi);
	sumx[0] = sumw[0] = 0;
	for (int j = 0; j < BS; j++) {
		const int i = sorted[j].i;
		sumx[j + 1] = sumx[j] + weight[i] * xb[i];
		sumw[j + 1] = sumw[j] + weight[i];
	}
	float best = -FLT_MAX, scale = max;
	int besti1 = -1, besti2 = -1, best_shift = 0;
	for (int i1 = 0; i1 <= BS; i1++)
		for (int i2 = i1; i2 <= BS; i2++)
			for (int sgn = 1; sgn >= -1; sgn -= 2) {
				const float *xv = sgn > 0 ? x_p : x_m;
				const float sumqx = (sumx[i1] - sumx[0]) * xv[0] + (sumx[i2] - sumx[i1]) * xv[1] +
						    (sumx[BS] - sumx[i2]) * xv[2];
				const float sumq2 = (sumw[i1] - sumw[0]) * xv[0] * xv[0] +
						    (sumw[i2] - sumw[i1]) * xv[1] * xv[1] + (sumw[BS] - sumw[i2]) * xv[2] * xv[2];
				if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
					scale = sumqx / sumq2;
					best = scale * sumqx;
					besti1 = i1;
					besti2 = i2;
					best_shift = sgn;
				}
			}
	if (besti1 < 0 || besti2 < 0 || best_shift == 0)
		return 0;
	for (int j = 0; j < BS; j++)
		L[sorted[j].i] = (int8_t)(j < besti1 ? 0 : j < besti2 ? 1 : 2);
	if (scale < 0) {
		for (int j = 0; j < BS; j++)
			L[j] = (int8_t)(2 - L[j]);
		scale = -scale;
		best_shift = -best_shift;
	}
	const float *xx = best_shift == 1 ? x_p : x_m;
	bool all_on_grid = true;
	for (int k = 0; k < BS / 8; k++) {
		int key = 0;
		for (int j = 0; j < 8; j++)
			key |= L[8 * k + j] << 2 * j;
		int gi = t->map[key];
		if (gi < 0) {
			all_on_grid = false;
			gi = iq1_neighbour(t, t->nbr + (-gi - 1), xb + 8 * k, weight + 8 * k, scale, xx, L + 8 * k);
		}
		index[k] = (uint16_t)gi;
	}
	if (!all_on_grid) {
		float sumqx = 0, sumq2 = 0;
		for (int k = 0; k < BS / 8; k++)
			for (int j = 0; j < 8; j++) {
				const float w = weight[8 * k + j], q = xx[(t->grid[index[k]][j] - 1) / 2];
				sumqx += w * q * xb[8 * k + j];
				sumq2 += w * q * q;
			}
		if (sumqx > 0 && sumq2 > 0)
			scale = sumqx / sumq2;
	}
	uint16_t h = 0;
	for (int k = 0; k < BS / 8; k++) {
		qs[k] = (uint8_t)(index[k] & 255);
		h |= (uint16_t)((index[k] >> 8) << 3 * k);
	}
	*qh = h;
	*shift = best_shift;
	return scale;
}

static void iq1_s_from_float_w(const float *x, void *vy, int64_t n, const float *qw)
{
	struct block_iq1_s *y = vy;
	const struct grid_tables *t = sl_iq_grid_tables(SL_TYPE_IQ1_S);
	for (int64_t ibl = 0; ibl < n / QK_K; ibl++, x += QK_K, qw += QK_K) {
		float scales[QK_K / 32], max_scale = 0;
		int shifts[QK_K / 32];
		y[ibl].d = sl_fp32_to_fp16(0.f);
		memset(y[ibl].qs, 0, sizeof y[ibl].qs);
		memset(y[ibl].qh, 0, sizeof y[ibl].qh);
		if (!t) /* out of memory building the tables */
			continue;
		const float sigma2 = sl_iq_sigma2(x, QK_K, 2);
		for (int ib = 0; ib < QK_K / 32; ib++) {
			scales[ib] = iq1s_block(t, x + 32 * ib, qw + 32 * ib, sigma2, y[ibl].qs + 4 * ib, &y[ibl].qh[ib],
						&shifts[ib]);
			max_scale = scales[ib] > max_scale ? scales[ib] : max_scale;
		}
		if (!max_scale)
			continue;
		const float d = max_scale / 15, id = 1 / d;
		y[ibl].d = sl_fp32_to_fp16(d * 1.125f); /* ggml's fudge factor: the stored scales round down on average */
		for (int ib = 0; ib < QK_K / 32; ib++) {
			int l = sl_nearest_int(0.5f * (id * scales[ib] - 1));
			l = l < 0 ? 0 : l > 7 ? 7 : l;
			if (shifts[ib] == -1)
				l |= 8;
			y[ibl].qh[ib] |= (uint16_t)(l << 12);
		}
	}
}

/* ---- iq1_m ---- */

/* The delta values of iq1_m's group g (0, 1) under sign combination k: 0 (+,+), 1 (+,-), 2 (-,+), 3 (-,-). */
static const float *iq1m_values(int k, int g)
{
	static const float x_p[3] = { -1 + IQ1M_DELTA, IQ1M_DELTA, 1 + IQ1M_DELTA };
	static const float x_m[3] = { -1 - IQ1M_DELTA, -IQ1M_DELTA, 1 - IQ1M_DELTA };
	return (g == 0 ? k < 2 : k % 2 == 0) ? x_p : x_m;
}

/*
 * One block of 16 (ggml's quantize_row_iq1_m_impl): as iq1_s, the exact three-run split of the
 * sorted values, but each group of 8 has its own delta sign, so the four sign combinations are
 * scored for every split (from per-half prefix sums, as ggml now computes them).  Returns the scale; grid indices to qs[0..1], their high bits to *qh,
 * the combination to *shift.
 */
static float iq1m_block(const struct grid_tables *t, const float *xb, const float *weight, uint8_t *qs, uint8_t *qh,
			int *shift)
{
	enum { BS = 16 };
	struct xi sorted[BS];
	int8_t L[BS];
	uint16_t index[BS / 8];
	*shift = 0;
	float max = 0;
	for (int i = 0; i < BS; i++)
		max = fabsf(xb[i]) > max ? fabsf(xb[i]) : max;
	if (max < GROUP_MAX_EPS_IQ1_M)
		return 0;
	for (int j = 0; j < BS; j++)
		sorted[j] = (struct xi){ xb[j], j };
	qsort(sorted, BS, sizeof(*sorted), cmp_xi);
	/* Prefix sums of w*x and w per half of the block (each half has its own delta sign): since
	 * v[0]-v[1] = v[1]-v[2] = -1 for both value sets, a split's sums collapse to T*v[2] - px[i1] -
	 * px[i2] — ggml's current formulation, kept operation for operation so the rounding (and so the
	 * chosen split) is the same as llama.cpp's. */
	const float *x_p = iq1m_values(0, 0), *x_m = iq1m_values(3, 0);
	float px[2][BS + 1], pw[2][BS + 1];
	px[0][0] = px[1][0] = pw[0][0] = pw[1][0] = 0;
	for (int j = 0; j < BS; j++) {
		const int i = sorted[j].i, h = i < BS / 2 ? 0 : 1;
		px[h][j + 1] = px[h][j] + weight[i] * xb[i];
		px[1 - h][j + 1] = px[1 - h][j];
		pw[h][j + 1] = pw[h][j] + weight[i];
		pw[1 - h][j + 1] = pw[1 - h][j];
	}
	const float txs[2] = { px[0][BS], px[1][BS] }, tws[2] = { pw[0][BS], pw[1][BS] };
	const float p2 = x_p[2], m2 = x_m[2];
	const float cp1 = x_p[0] * x_p[0] - x_p[1] * x_p[1], cp2 = x_p[1] * x_p[1] - x_p[2] * x_p[2];
	const float cm1 = x_m[0] * x_m[0] - x_m[1] * x_m[1], cm2 = x_m[1] * x_m[1] - x_m[2] * x_m[2];
	float best = -FLT_MAX, scale = max;
	int besti1 = -1, besti2 = -1, best_k = -1;
	for (int i1 = 0; i1 <= BS; i1++)
		for (int i2 = i1; i2 <= BS; i2++) {
			float qx_p[2], qx_m[2], q2_p[2], q2_m[2], sumqx[4], sumq2[4];
			for (int h = 0; h < 2; h++) {
				const float sx = px[h][i1] + px[h][i2];
				qx_p[h] = txs[h] * p2 - sx;
				qx_m[h] = txs[h] * m2 - sx;
				q2_p[h] = tws[h] * p2 * p2 + pw[h][i1] * cp1 + pw[h][i2] * cp2;
				q2_m[h] = tws[h] * m2 * m2 + pw[h][i1] * cm1 + pw[h][i2] * cm2;
			}
			sumqx[0] = qx_p[0] + qx_p[1];
			sumqx[1] = qx_p[0] + qx_m[1];
			sumqx[2] = qx_m[0] + qx_p[1];
			sumqx[3] = qx_m[0] + qx_m[1];
			sumq2[0] = q2_p[0] + q2_p[1];
			sumq2[1] = q2_p[0] + q2_m[1];
			sumq2[2] = q2_m[0] + q2_p[1];
			sumq2[3] = q2_m[0] + q2_m[1];
			for (int k = 0; k < 4; k++)
				if (sumq2[k] > 0 && sumqx[k] * sumqx[k] > best * sumq2[k]) {
					scale = sumqx[k] / sumq2[k];
					best = scale * sumqx[k];
					besti1 = i1;
					besti2 = i2;
					best_k = k;
				}
		}
	if (besti1 < 0 || besti2 < 0 || best_k < 0)
		return 0;
	for (int j = 0; j < BS; j++)
		L[sorted[j].i] = (int8_t)(j < besti1 ? 0 : j < besti2 ? 1 : 2);
	if (scale < 0) {
		for (int j = 0; j < BS; j++)
			L[j] = (int8_t)(2 - L[j]);
		scale = -scale;
		best_k = 3 - best_k; /* both signs flip: 0 <-> 3, 1 <-> 2 */
	}
	bool all_on_grid = true;
	for (int k = 0; k < BS / 8; k++) {
		int key = 0;
		for (int j = 0; j < 8; j++)
			key |= L[8 * k + j] << 2 * j;
		int gi = t->map[key];
		if (gi < 0) {
			all_on_grid = false;
			gi = iq1_neighbour(t, t->nbr + (-gi - 1), xb + 8 * k, weight + 8 * k, scale, iq1m_values(best_k, k),
					   L + 8 * k);
		}
		index[k] = (uint16_t)gi;
	}
	if (!all_on_grid) {
		float sumqx = 0, sumq2 = 0;
		for (int k = 0; k < BS / 8; k++) {
			const float *xx = iq1m_values(best_k, k);
			for (int j = 0; j < 8; j++) {
				const float w = weight[8 * k + j], q = xx[(t->grid[index[k]][j] - 1) / 2];
				sumqx += w * q * xb[8 * k + j];
				sumq2 += w * q * q;
			}
		}
		if (sumqx > 0 && sumq2 > 0)
			scale = sumqx / sumq2;
	}
	qs[0] = (uint8_t)(index[0] & 255);
	qs[1] = (uint8_t)(index[1] & 255);
	*qh = (uint8_t)((index[0] >> 8) | ((index[1] >> 8) << 4));
	*shift = best_k;
	return scale;
}

static void iq1_m_from_float_w(const float *x, void *vy, int64_t n, const float *qw)
{
	static const uint8_t masks[4] = { 0x00, 0x80, 0x08, 0x88 }; /* delta sign bits of the two groups */
	struct block_iq1_m *y = vy;
	const struct grid_tables *t = sl_iq_grid_tables(SL_TYPE_IQ1_S);
	for (int64_t ibl = 0; ibl < n / QK_K; ibl++, x += QK_K, qw += QK_K) {
		float scales[QK_K / 16], weight[QK_K], max_scale = 0;
		int shifts[QK_K / 16];
		uint16_t sc[4] = { 0 };
		memset(y[ibl].qs, 0, sizeof y[ibl].qs);
		memset(y[ibl].qh, 0, sizeof y[ibl].qh);
		memset(y[ibl].scales, 0, sizeof y[ibl].scales);
		if (!t) /* out of memory building the tables */
			continue;
		sl_iq_weights(x, qw, sl_iq_sigma2(x, QK_K, 2), 0, QK_K, weight, NULL);
		for (int ib = 0; ib < QK_K / 16; ib++) {
			scales[ib] = iq1m_block(t, x + 16 * ib, weight + 16 * ib, y[ibl].qs + 2 * ib, &y[ibl].qh[ib],
						&shifts[ib]);
			max_scale = scales[ib] > max_scale ? scales[ib] : max_scale;
		}
		if (!max_scale)
			continue;
		/* 3-bit sub-block scales against d = max/15, then d refitted to the levels as stored */
		float d = max_scale / 15, sumqx = 0, sumq2 = 0;
		const float id = 1 / d;
		for (int ib = 0; ib < QK_K / 16; ib++) {
			int l = sl_nearest_int(0.5f * (id * scales[ib] - 1));
			l = l < 0 ? 0 : l > 7 ? 7 : l;
			sc[ib / 4] |= (uint16_t)(l << 3 * (ib % 4));
			y[ibl].qh[ib] |= masks[shifts[ib]];
			for (int k = 0; k < 2; k++) {
				const float *xx = iq1m_values(shifts[ib], k);
				const int gi = y[ibl].qs[2 * ib + k] | ((y[ibl].qh[ib] << (8 - 4 * k)) & 0x700);
				for (int j = 0; j < 8; j++) {
					const float w = weight[16 * ib + 8 * k + j], q = xx[(t->grid[gi][j] - 1) / 2] * (2 * l + 1);
					sumqx += w * q * x[16 * ib + 8 * k + j];
					sumq2 += w * q * q;
				}
			}
		}
		if (sumq2 > 0)
			d = sumqx / sumq2;
		const uint16_t h = sl_fp32_to_fp16(d * 1.1125f); /* ggml's fudge factor */
		sc[0] |= (uint16_t)((h & 0x000f) << 12);
		sc[1] |= (uint16_t)((h & 0x00f0) << 8);
		sc[2] |= (uint16_t)((h & 0x0f00) << 4);
		sc[3] |= (uint16_t)(h & 0xf000);
		memcpy(y[ibl].scales, sc, sizeof sc);
	}
}

sl_from_float_w_fn sl_iq1_from_float_w(uint32_t type)
{
	switch (type) {
	case SL_TYPE_IQ1_S: return iq1_s_from_float_w;
	case SL_TYPE_IQ1_M: return iq1_m_from_float_w;
	default: return NULL;
	}
}
