/* SPDX-License-Identifier: MIT */
/*
 * runtime/quant/iq_quantize.c — reference quantizers of iq4_nl and iq4_xs, a
 * port of ggml's quantize_row_iq4_nl_impl as quantize_row_iq4_{nl,xs}_ref call
 * it (no importance matrix: each element weighted by x^2, 7 trial scales each
 * side of the first guess).  The lower-bit i-quants need an importance matrix
 * and a grid search (ggml's iq2xs_init_impl); they are not quantized here, so
 * their from_float is NULL and `sluice quantize` refuses them.
 *
 * Also the ternary types' reference quantizers (quantize_row_tq{1,2}_0_ref):
 * values rounded to -1/0/+1 of the block's absolute maximum.
 */
#include "quant/iq_blocks.h"

#include <math.h>

#define GROUP_MAX_EPS 1e-15f

static inline int nearest_int(float f) /* as quant_k.c: ties to even, |f| < 2^22 */
{
	float v = f + 12582912.f;
	int i;
	memcpy(&i, &v, sizeof(int));
	return (i & 0x007fffff) - 0x00400000;
}

/* Index of the level nearest x among n sorted levels (ties go up, as ggml). */
static inline int best_index_int8(int n, const int8_t *val, float x)
{
	if (x <= val[0])
		return 0;
	if (x >= val[n - 1])
		return n - 1;
	int ml = 0, mu = n - 1;
	while (mu - ml > 1) {
		int mav = (ml + mu) / 2;
		if (x < val[mav])
			mu = mav;
		else
			ml = mav;
	}
	return x - val[mu - 1] < val[mu] - x ? mu - 1 : mu;
}

/*
 * One super-block of sbs elements in sub-blocks of 32: the best scale of each
 * sub-block by weighted least squares over 2*ntry+1 candidates, then (for
 * more than one sub-block) the scales quantized to 6 bits against one fp16 d
 * and the levels re-chosen for the rounded scales.
 */
static void iq4_impl(int sbs, const float *x, uint16_t *dh, uint8_t *q4, uint16_t *scales_h, uint8_t *scales_l,
		     const float *qw)
{
	enum { BS = 32, NTRY = 7 };
	const int8_t *values = sl_kvalues_iq4nl;
	uint8_t L[QK_K];
	float weight[BS], scales[QK_K / BS] = { 0 }; /* every used entry is set below; gcc -O1 cannot tell */
	memset(L, 0, sizeof L);
	memset(q4, 0, (size_t)sbs / 2);
	*dh = sl_fp32_to_fp16(0.f);

	/* With an importance matrix qw (one weight per element of this super-block), element j weighs
	 * qw[j] * sqrt(sigma2 + x[j]^2), sigma2 twice the mean square of the super-block. */
	float sigma2 = 0;
	for (int j = 0; qw && j < sbs; ++j)
		sigma2 += x[j] * x[j];
	sigma2 *= 2.f / sbs;
	float max_scale = 0, amax_scale = 0;
	for (int ib = 0; ib < sbs / BS; ++ib) {
		const float *xb = x + ib * BS;
		uint8_t *Lb = L + ib * BS;
		for (int j = 0; j < BS; ++j)
			weight[j] = qw ? qw[ib * BS + j] * sqrtf(sigma2 + xb[j] * xb[j]) : xb[j] * xb[j];
		float amax = 0, max = 0;
		for (int j = 0; j < BS; ++j) {
			float ax = fabsf(xb[j]);
			if (ax > amax) {
				amax = ax;
				max = xb[j];
			}
		}
		if (amax < GROUP_MAX_EPS) {
			scales[ib] = 0;
			continue;
		}
		float d = -max / values[0];
		float id = 1 / d;
		float sumqx = 0, sumq2 = 0;
		for (int j = 0; j < BS; ++j) {
			int l = best_index_int8(16, values, id * xb[j]);
			Lb[j] = (uint8_t)l;
			float q = values[l], w = weight[j];
			sumqx += w * q * xb[j];
			sumq2 += w * q * q;
		}
		d = sumq2 > 0 ? sumqx / sumq2 : 0.f; /* 0 only when every importance weight is 0 */
		float best = d * sumqx;
		for (int itry = -NTRY; itry <= NTRY; ++itry) {
			id = (itry + values[0]) / max;
			sumqx = sumq2 = 0;
			for (int j = 0; j < BS; ++j) {
				int l = best_index_int8(16, values, id * xb[j]);
				float q = values[l], w = weight[j];
				sumqx += w * q * xb[j];
				sumq2 += w * q * q;
			}
			if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
				d = sumqx / sumq2;
				best = d * sumqx;
			}
		}
		scales[ib] = d;
		float abs_d = fabsf(d);
		if (abs_d > amax_scale) {
			amax_scale = abs_d;
			max_scale = d;
		}
	}

	if (sbs / BS > 1) {
		*scales_h = 0;
		float d = -max_scale / 32;
		*dh = sl_fp32_to_fp16(d);
		float id = d ? 1 / d : 0.f;
		for (int ib = 0; ib < sbs / BS; ++ib) {
			int l = nearest_int(id * scales[ib]);
			l = l < -32 ? -32 : l > 31 ? 31 : l;
			float dl = d * l;
			float idl = dl ? 1 / dl : 0.f;
			uint8_t *Lb = L + ib * BS;
			const float *xb = x + ib * BS;
			for (int j = 0; j < BS; ++j)
				Lb[j] = (uint8_t)best_index_int8(16, values, idl * xb[j]);
			l += 32;
			const uint8_t l_l = l & 0xf, l_h = (uint8_t)(l >> 4);
			if (ib % 2 == 0)
				scales_l[ib / 2] = l_l;
			else
				scales_l[ib / 2] |= (uint8_t)(l_l << 4);
			*scales_h |= (uint16_t)(l_h << 2 * (ib % 8));
		}
	} else {
		*dh = sl_fp32_to_fp16(scales[0]);
		float id = scales[0] ? 1 / scales[0] : 0;
		for (int j = 0; j < sbs; ++j)
			L[j] = (uint8_t)best_index_int8(16, values, id * x[j]);
	}

	for (int i = 0; i < sbs / 32; ++i)
		for (int j = 0; j < 16; ++j)
			q4[16 * i + j] = (uint8_t)(L[32 * i + j] | (L[32 * i + 16 + j] << 4));
}

static void iq4_nl_from_float(const float *x, void *vy, int64_t n)
{
	struct block_iq4_nl *y = vy;
	for (int64_t i = 0; i < n / QK4_NL; i++)
		iq4_impl(QK4_NL, x + i * QK4_NL, &y[i].d, y[i].qs, NULL, NULL, NULL);
}

static void iq4_nl_from_float_w(const float *x, void *vy, int64_t n, const float *qw)
{
	struct block_iq4_nl *y = vy;
	for (int64_t i = 0; i < n / QK4_NL; i++)
		iq4_impl(QK4_NL, x + i * QK4_NL, &y[i].d, y[i].qs, NULL, NULL, qw + i * QK4_NL);
}

static void iq4_xs_from_float(const float *x, void *vy, int64_t n)
{
	struct block_iq4_xs *y = vy;
	for (int64_t i = 0; i < n / QK_K; i++)
		iq4_impl(QK_K, x + i * QK_K, &y[i].d, y[i].qs, &y[i].scales_h, y[i].scales_l, NULL);
}

static void iq4_xs_from_float_w(const float *x, void *vy, int64_t n, const float *qw)
{
	struct block_iq4_xs *y = vy;
	for (int64_t i = 0; i < n / QK_K; i++)
		iq4_impl(QK_K, x + i * QK_K, &y[i].d, y[i].qs, &y[i].scales_h, y[i].scales_l, qw + i * QK_K);
}

static void tq1_0_from_float(const float *x, void *vy, int64_t n)
{
	struct block_tq1_0 *y = vy;
	const size_t nqs = sizeof y->qs, n32 = nqs - nqs % 32, nqh = sizeof y->qh;
	for (int64_t i = 0; i < n / QK_K; i++) {
		float amax = 0.0f;
		for (int j = 0; j < QK_K; j++)
			amax = fmaxf(amax, fabsf(x[j]));
		const float d = amax, id = d ? 1.0f / d : 0.0f;
		y[i].d = sl_fp32_to_fp16(d);
		/* 5 trits per byte, most significant first, then scaled up so (q * 3) >> 8 reads the first */
		for (size_t j = 0; j < n32; j += 32, x += 5 * 32)
			for (size_t m = 0; m < 32; ++m) {
				uint8_t q = 0;
				for (size_t k = 0; k < 5; ++k)
					q = (uint8_t)(q * 3 + (lroundf(x[m + k * 32] * id) + 1));
				y[i].qs[j + m] = (uint8_t)(((uint16_t)q * 256 + (243 - 1)) / 243);
			}
		for (size_t j = n32; j < nqs; j += 16, x += 5 * 16)
			for (size_t m = 0; m < 16; ++m) {
				uint8_t q = 0;
				for (size_t k = 0; k < 5; ++k)
					q = (uint8_t)(q * 3 + (lroundf(x[m + k * 16] * id) + 1));
				y[i].qs[j + m] = (uint8_t)(((uint16_t)q * 256 + (243 - 1)) / 243);
			}
		for (size_t j = 0; j < nqh; ++j) {
			uint8_t q = 0;
			for (size_t m = 0; m < 4; ++m)
				q = (uint8_t)(q * 3 + (lroundf(x[j + m * nqh] * id) + 1));
			q = (uint8_t)(q * 3); /* 4 trits: shift the first to the most significant place */
			y[i].qh[j] = (uint8_t)(((uint16_t)q * 256 + (243 - 1)) / 243);
		}
		x += 4 * nqh;
	}
}

static void tq2_0_from_float(const float *x, void *vy, int64_t n)
{
	struct block_tq2_0 *y = vy;
	for (int64_t i = 0; i < n / QK_K; i++) {
		float amax = 0.0f;
		for (int j = 0; j < QK_K; j++)
			amax = fmaxf(amax, fabsf(x[j]));
		const float d = amax, id = d ? 1.0f / d : 0.0f;
		y[i].d = sl_fp32_to_fp16(d);
		for (size_t j = 0; j < sizeof y->qs; j += 32, x += 4 * 32)
			for (size_t m = 0; m < 32; ++m) {
				uint8_t q = 0;
				for (size_t k = 0; k < 4; ++k)
					q = (uint8_t)(q + (((lroundf(x[m + k * 32] * id) + 1) & 3) << (2 * k)));
				y[i].qs[j + m] = q;
			}
	}
}

sl_from_float_fn sl_iq_from_float(uint32_t type)
{
	switch (type) {
	case SL_TYPE_IQ4_NL: return iq4_nl_from_float;
	case SL_TYPE_IQ4_XS: return iq4_xs_from_float;
	case SL_TYPE_TQ1_0: return tq1_0_from_float;
	case SL_TYPE_TQ2_0: return tq2_0_from_float;
	case SL_TYPE_IQ3_XXS: return sl_iq3_xxs_from_float;
	case SL_TYPE_IQ3_S: return sl_iq3_s_from_float;
	default: return NULL;
	}
}

sl_from_float_w_fn sl_iq_from_float_w(uint32_t type)
{
	switch (type) {
	case SL_TYPE_IQ4_NL: return iq4_nl_from_float_w;
	case SL_TYPE_IQ4_XS: return iq4_xs_from_float_w;
	default: return sl_iq_grid_from_float_w(type);
	}
}
