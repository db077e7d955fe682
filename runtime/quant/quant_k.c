/* SPDX-License-Identifier: MIT */
/*
 * runtime/quant/quant_k.c — the K-quants (256-element super-blocks): ggml's
 * reference quantizers (quantize_row_q{2..6}_K_ref, which llama-quantize uses
 * without an importance matrix) and bit-exact dequantizers.
 *
 * The search helpers (make_qx_quants, make_q3_quants, make_qkx2_quants) pick,
 * per sub-block, the scale (and min) minimising a weighted squared or absolute
 * error over a small grid of candidate scales.  Same arithmetic in the same
 * order as ggml, so files come out identical.
 */
#include "quant/blocks.h"
#include "quant/iq_grid.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define GROUP_MAX_EPS 1e-15f

/* Round to nearest, ties to even, for |f| < 2^22: adding 1.5*2^23 leaves the integer in the low mantissa bits. */
static inline int nearest_int(float f)
{
	float v = f + 12582912.f;
	int i;
	memcpy(&i, &v, sizeof(int));
	return (i & 0x007fffff) - 0x00400000;
}

/* Symmetric levels in [-nmax, nmax-1]; rmse_type 1 weights errors by qw (x^2 when qw is NULL) and tries
 * 18 nearby scales. */
static float make_qx_quants(int n, int nmax, const float *x, int8_t *L, int rmse_type, const float *qw)
{
	float max = 0, amax = 0;
	for (int i = 0; i < n; i++) {
		float ax = fabsf(x[i]);
		if (ax > amax) {
			amax = ax;
			max = x[i];
		}
	}
	if (amax < GROUP_MAX_EPS) {
		memset(L, 0, (size_t)n);
		return 0.f;
	}
	float iscale = -nmax / max;
	if (rmse_type == 0) {
		for (int i = 0; i < n; i++) {
			int l = nearest_int(iscale * x[i]);
			L[i] = (int8_t)(nmax + MAX(-nmax, MIN(nmax - 1, l)));
		}
		return 1 / iscale;
	}
	float sumlx = 0, suml2 = 0;
	for (int i = 0; i < n; i++) {
		int l = nearest_int(iscale * x[i]);
		l = MAX(-nmax, MIN(nmax - 1, l));
		L[i] = (int8_t)(l + nmax);
		float w = qw ? qw[i] : x[i] * x[i];
		sumlx += w * x[i] * l;
		suml2 += w * l * l;
	}
	float scale = suml2 ? sumlx / suml2 : 0.0f;
	float best = scale * sumlx;
	for (int is = -9; is <= 9; is++) {
		if (is == 0)
			continue;
		iscale = -(nmax + 0.1f * is) / max;
		sumlx = suml2 = 0;
		for (int i = 0; i < n; i++) {
			int l = nearest_int(iscale * x[i]);
			l = MAX(-nmax, MIN(nmax - 1, l));
			float w = qw ? qw[i] : x[i] * x[i];
			sumlx += w * x[i] * l;
			suml2 += w * l * l;
		}
		if (suml2 > 0 && sumlx * sumlx > best * suml2) {
			for (int i = 0; i < n; i++) {
				int l = nearest_int(iscale * x[i]);
				L[i] = (int8_t)(nmax + MAX(-nmax, MIN(nmax - 1, l)));
			}
			scale = sumlx / suml2;
			best = scale * sumlx;
		}
	}
	return scale;
}

/* q3_K's sub-block search: start from the max, then move single levels while the weighted fit improves. */
static float make_q3_quants(int n, int nmax, const float *x, int8_t *L)
{
	float max = 0, amax = 0;
	for (int i = 0; i < n; i++) {
		float ax = fabsf(x[i]);
		if (ax > amax) {
			amax = ax;
			max = x[i];
		}
	}
	if (amax < GROUP_MAX_EPS) {
		memset(L, 0, (size_t)n);
		return 0.f;
	}
	float iscale = -nmax / max;
	float sumlx = 0, suml2 = 0;
	for (int i = 0; i < n; i++) {
		int l = nearest_int(iscale * x[i]);
		l = MAX(-nmax, MIN(nmax - 1, l));
		L[i] = (int8_t)l;
		float w = x[i] * x[i];
		sumlx += w * x[i] * l;
		suml2 += w * l * l;
	}
	for (int itry = 0; itry < 5; itry++) {
		int n_changed = 0;
		for (int i = 0; i < n; i++) {
			float w = x[i] * x[i];
			float slx = sumlx - w * x[i] * L[i];
			if (slx > 0) {
				float sl2 = suml2 - w * L[i] * L[i];
				int new_l = nearest_int(x[i] * sl2 / slx);
				new_l = MAX(-nmax, MIN(nmax - 1, new_l));
				if (new_l != L[i]) {
					slx += w * x[i] * new_l;
					sl2 += w * new_l * new_l;
					if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
						L[i] = (int8_t)new_l;
						sumlx = slx;
						suml2 = sl2;
						n_changed++;
					}
				}
			}
		}
		if (!n_changed)
			break;
	}
	for (int i = 0; i < n; i++)
		L[i] = (int8_t)(L[i] + nmax);
	return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* Asymmetric levels in [0, nmax] with a min <= 0: least-squares (scale, min) over nstep+1 candidate scales. */
static float make_qkx2_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L, float *the_min,
			      uint8_t *Laux, float rmin, float rdelta, int nstep, bool use_mad)
{
	float min = x[0], max = x[0];
	float sum_w = weights[0];
	float sum_x = sum_w * x[0];
	for (int i = 1; i < n; i++) {
		if (x[i] < min)
			min = x[i];
		if (x[i] > max)
			max = x[i];
		float w = weights[i];
		sum_w += w;
		sum_x += w * x[i];
	}
	if (min > 0)
		min = 0;
	if (max == min) {
		memset(L, 0, (size_t)n);
		*the_min = -min;
		return 0.f;
	}
	float iscale = nmax / (max - min);
	float scale = 1 / iscale;
	float best_error = 0;
	for (int i = 0; i < n; i++) {
		int l = nearest_int(iscale * (x[i] - min));
		L[i] = (uint8_t)MAX(0, MIN(nmax, l));
		float diff = scale * L[i] + min - x[i];
		diff = use_mad ? fabsf(diff) : diff * diff;
		best_error += weights[i] * diff;
	}
	for (int is = 0; is <= nstep; is++) {
		iscale = (rmin + rdelta * is + nmax) / (max - min);
		float sum_l = 0, sum_l2 = 0, sum_xl = 0;
		for (int i = 0; i < n; i++) {
			int l = nearest_int(iscale * (x[i] - min));
			l = MAX(0, MIN(nmax, l));
			Laux[i] = (uint8_t)l;
			float w = weights[i];
			sum_l += w * l;
			sum_l2 += w * l * l;
			sum_xl += w * l * x[i];
		}
		float D = sum_w * sum_l2 - sum_l * sum_l;
		if (D > 0) {
			float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
			float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
			if (this_min > 0) {
				this_min = 0;
				this_scale = sum_xl / sum_l2;
			}
			float cur_error = 0;
			for (int i = 0; i < n; i++) {
				float diff = this_scale * Laux[i] + this_min - x[i];
				diff = use_mad ? fabsf(diff) : diff * diff;
				cur_error += weights[i] * diff;
			}
			if (cur_error < best_error) {
				memcpy(L, Laux, (size_t)n);
				best_error = cur_error;
				scale = this_scale;
				min = this_min;
			}
		}
	}
	*the_min = -min;
	return scale;
}

/*
 * With an importance matrix (ggml's quantize_row_q*_K_impl): like make_qkx2_quants, with the levels
 * of each candidate clamped before rounding (the min found so far may sit near the max, so the
 * scaled value can be out of range).
 */
static float make_qkx3_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L, float *the_min,
			      uint8_t *Laux, float rmin, float rdelta, int nstep)
{
	float min = x[0], max = x[0];
	float sum_w = weights[0], sum_x = sum_w * x[0];
	for (int i = 1; i < n; i++) {
		if (x[i] < min)
			min = x[i];
		if (x[i] > max)
			max = x[i];
		sum_w += weights[i];
		sum_x += weights[i] * x[i];
	}
	if (min > 0)
		min = 0;
	if (max <= min) {
		memset(L, 0, (size_t)n);
		*the_min = -min;
		return 0.f;
	}
	float iscale = nmax / (max - min), scale = 1 / iscale, best = 0;
	for (int i = 0; i < n; i++) {
		int l = nearest_int(iscale * (x[i] - min));
		L[i] = (uint8_t)MAX(0, MIN(nmax, l));
		float diff = scale * L[i] + min - x[i];
		best += weights[i] * diff * diff;
	}
	for (int is = 0; is <= nstep; is++) {
		iscale = (rmin + rdelta * is + nmax) / (max - min);
		float sum_l = 0, sum_l2 = 0, sum_xl = 0;
		for (int i = 0; i < n; i++) {
			const float v = iscale * (x[i] - min);
			const int l = v > 0 ? nearest_int(MIN(v, (float)nmax)) : 0;
			Laux[i] = (uint8_t)l;
			float w = weights[i];
			sum_l += w * l;
			sum_l2 += w * l * l;
			sum_xl += w * l * x[i];
		}
		float D = sum_w * sum_l2 - sum_l * sum_l;
		if (D > 0) {
			float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
			float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
			if (this_min > 0) {
				this_min = 0;
				this_scale = sum_xl / sum_l2;
			}
			float err = 0;
			for (int i = 0; i < n; i++) {
				float diff = this_scale * Laux[i] + this_min - x[i];
				err += weights[i] * diff * diff;
			}
			if (err < best) {
				memcpy(L, Laux, (size_t)n);
				best = err;
				scale = this_scale;
				min = this_min;
			}
		}
	}
	*the_min = -min;
	return scale;
}

float sl_make_qx_quants(int n, int nmax, const float *x, int8_t *L, int rmse_type, const float *qw)
{
	return make_qx_quants(n, nmax, x, L, rmse_type, qw);
}

float sl_make_qkx3_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L, float *the_min,
			  uint8_t *Laux, float rmin, float rdelta, int nstep)
{
	return make_qkx3_quants(n, nmax, x, weights, L, the_min, Laux, rmin, rdelta, nstep);
}

/* Non-negative levels in [0, nmax] for the sub-block scales (or mins) x, weighted by qw: 8 trial scales
 * around max/nmax, then single levels moved while the weighted fit improves. */
float sl_make_qp_quants(int n, int nmax, const float *x, uint8_t *L, const float *qw)
{
	float max = 0;
	for (int i = 0; i < n; i++)
		max = MAX(max, x[i]);
	if (max < GROUP_MAX_EPS) {
		memset(L, 0, (size_t)n);
		return 0.f;
	}
	float iscale = nmax / max, scale = 1 / iscale, best = 0;
	for (int i = 0; i < n; i++) {
		L[i] = (uint8_t)nearest_int(iscale * x[i]);
		float diff = x[i] - scale * L[i];
		best += qw[i] * diff * diff;
	}
	for (int is = -4; is <= 4; is++) {
		if (is == 0)
			continue;
		float iscale_is = (0.1f * is + nmax) / max, scale_is = 1 / iscale_is, mse = 0;
		for (int i = 0; i < n; i++) {
			int l = MIN(nmax, nearest_int(iscale_is * x[i]));
			float diff = x[i] - scale_is * l;
			mse += qw[i] * diff * diff;
		}
		if (mse < best) {
			best = mse;
			iscale = iscale_is;
		}
	}
	float sumlx = 0, suml2 = 0;
	for (int i = 0; i < n; i++) {
		int l = MIN(nmax, nearest_int(iscale * x[i]));
		L[i] = (uint8_t)l;
		sumlx += qw[i] * x[i] * l;
		suml2 += qw[i] * l * l;
	}
	for (int itry = 0; itry < 5; itry++) {
		int n_changed = 0;
		for (int i = 0; i < n; i++) {
			float w = qw[i], slx = sumlx - w * x[i] * L[i], sl2 = suml2 - w * L[i] * L[i];
			if (slx > 0 && sl2 > 0) {
				int new_l = MIN(nmax, nearest_int(x[i] * sl2 / slx));
				if (new_l != L[i]) {
					slx += w * x[i] * new_l;
					sl2 += w * new_l * new_l;
					if (slx * slx * suml2 > sumlx * sumlx * sl2) {
						L[i] = (uint8_t)new_l;
						sumlx = slx;
						suml2 = sl2;
						n_changed++;
					}
				}
			}
		}
		if (!n_changed)
			break;
	}
	return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* The importance weights of one sub-block, qw * sqrt(sigma2 + x^2), and their sum: the preamble
 * shared with the i-quants (iq_grid.c). */
static float imatrix_weights(int n, const float *x, const float *qw, float sigma2, float *w)
{
	return sl_iq_weights(x, qw, sigma2, 0, n, w, NULL);
}

/* Pack levels L[0..255] (2 bits each) the way q2_K/q3_K store them: 4 groups of 32 per 128. */
static void pack_2bit(const uint8_t *L, uint8_t *qs)
{
	for (int j = 0; j < QK_K; j += 128)
		for (int l = 0; l < 32; l++)
			qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
}

/* ---- q2_K ---- */

/* Requantize against the rounded scales actually stored, then pack. */
static void q2_K_finish(const float *x, struct block_q2_K *y, uint8_t *L)
{
	for (int j = 0; j < QK_K / 16; j++) {
		const float d = FP16(y->d) * (y->scales[j] & 0xF);
		if (!d)
			continue;
		const float dm = FP16(y->dmin) * (y->scales[j] >> 4);
		for (int ii = 0; ii < 16; ii++) {
			int l = nearest_int((x[16 * j + ii] + dm) / d);
			L[16 * j + ii] = (uint8_t)MAX(0, MIN(3, l));
		}
	}
	pack_2bit(L, y->qs);
}

static void q2_K_from_float(const float *x, void *vy, int64_t n)
{
	struct block_q2_K *y = vy;
	uint8_t L[QK_K], Laux[16];
	float weights[16], mins[QK_K / 16], scales[QK_K / 16];
	const float q4scale = 15.f;
	for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
		float max_scale = 0, max_min = 0;
		for (int j = 0; j < QK_K / 16; j++) {
			for (int l = 0; l < 16; l++)
				weights[l] = fabsf(x[16 * j + l]);
			scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15,
						     true);
			if (scales[j] > max_scale)
				max_scale = scales[j];
			if (mins[j] > max_min)
				max_min = mins[j];
		}
		if (max_scale > 0) {
			float iscale = q4scale / max_scale;
			for (int j = 0; j < QK_K / 16; j++)
				y[i].scales[j] = (uint8_t)nearest_int(iscale * scales[j]);
			y[i].d = sl_fp32_to_fp16(max_scale / q4scale);
		} else {
			memset(y[i].scales, 0, sizeof y[i].scales);
			y[i].d = sl_fp32_to_fp16(0.f);
		}
		if (max_min > 0) {
			float iscale = q4scale / max_min;
			for (int j = 0; j < QK_K / 16; j++)
				y[i].scales[j] |= (uint8_t)(nearest_int(iscale * mins[j]) << 4);
			y[i].dmin = sl_fp32_to_fp16(max_min / q4scale);
		} else {
			y[i].dmin = sl_fp32_to_fp16(0.f);
		}
		q2_K_finish(x, &y[i], L);
	}
}

/* With an importance matrix: sub-block fits weighted by qw * sqrt(sigma2 + x^2), and the 4-bit scales
 * and mins fitted to them weighted by each sub-block's total weight. */
static void q2_K_from_float_w(const float *x, void *vy, int64_t n, const float *qw)
{
	struct block_q2_K *y = vy;
	uint8_t L[QK_K], Laux[16], Ls[QK_K / 16], Lm[QK_K / 16];
	float mins[QK_K / 16], scales[QK_K / 16], sw[QK_K / 16], weight[16];
	for (int64_t i = 0; i < n / QK_K; i++, x += QK_K, qw += QK_K) {
		const float sigma2 = sl_iq_sigma2(x, QK_K, 1);
		for (int j = 0; j < QK_K / 16; j++) {
			sw[j] = imatrix_weights(16, x + 16 * j, qw + 16 * j, sigma2, weight);
			scales[j] = make_qkx3_quants(16, 3, x + 16 * j, weight, L + 16 * j, &mins[j], Laux, -0.9f, 0.05f, 36);
		}
		const float dm = sl_make_qp_quants(QK_K / 16, 15, scales, Ls, sw);
		const float mm = sl_make_qp_quants(QK_K / 16, 15, mins, Lm, sw);
		y[i].d = sl_fp32_to_fp16(dm);
		y[i].dmin = sl_fp32_to_fp16(mm);
		for (int j = 0; j < QK_K / 16; j++)
			y[i].scales[j] = (uint8_t)(Ls[j] | (Lm[j] << 4));
		q2_K_finish(x, &y[i], L);
	}
}

static void q2_K_to_float(const void *vx, float *y, int64_t n)
{
	const struct block_q2_K *x = vx;
	for (int64_t i = 0; i < n / QK_K; i++) {
		const float d = FP16(x[i].d), min = FP16(x[i].dmin);
		const uint8_t *q = x[i].qs;
		int is = 0;
		for (int nn = 0; nn < QK_K; nn += 128, q += 32)
			for (int shift = 0; shift < 8; shift += 2)
				for (int half = 0; half < 2; half++) {
					uint8_t sc = x[i].scales[is++];
					float dl = d * (sc & 0xF), ml = min * (sc >> 4);
					for (int l = 0; l < 16; l++)
						*y++ = dl * ((q[l + 16 * half] >> shift) & 3) - ml;
				}
	}
}

/* ---- q3_K ---- */

/* Requantize against the stored scales; the high bit of quant j goes to bit j/32 of hmask[j%32]. */
static void q3_K_finish(const float *x, struct block_q3_K *y, int8_t *L)
{
	int8_t sc[16];
	sl_q3k_scales(y->scales, sc);
	for (int j = 0; j < QK_K / 16; j++) {
		float d = FP16(y->d) * sc[j];
		if (!d)
			continue;
		for (int ii = 0; ii < 16; ii++) {
			int l = nearest_int(x[16 * j + ii] / d);
			L[16 * j + ii] = (int8_t)(MAX(-4, MIN(3, l)) + 4);
		}
	}
	memset(y->hmask, 0, QK_K / 8);
	for (int j = 0; j < QK_K; j++)
		if (L[j] > 3) {
			y->hmask[j % 32] |= (uint8_t)(1 << (j / 32));
			L[j] -= 4;
		}
	pack_2bit((const uint8_t *)L, y->qs);
}

static void q3_K_from_float(const float *x, void *vy, int64_t n)
{
	struct block_q3_K *y = vy;
	int8_t L[QK_K];
	float scales[QK_K / 16];
	for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
		float max_scale = 0, amax = 0;
		for (int j = 0; j < QK_K / 16; j++) {
			scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
			float scale = fabsf(scales[j]);
			if (scale > amax) {
				amax = scale;
				max_scale = scales[j];
			}
		}
		memset(y[i].scales, 0, 12);
		if (max_scale) {
			float iscale = -32.f / max_scale;
			for (int j = 0; j < QK_K / 16; j++) {
				int8_t l = (int8_t)nearest_int(iscale * scales[j]);
				l = (int8_t)(MAX(-32, MIN(31, l)) + 32);
				if (j < 8)
					y[i].scales[j] = l & 0xF;
				else
					y[i].scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
				l >>= 4;
				y[i].scales[j % 4 + 8] |= (uint8_t)(l << (2 * (j / 4)));
			}
			y[i].d = sl_fp32_to_fp16(1 / iscale);
		} else {
			y[i].d = sl_fp32_to_fp16(0.f);
		}
		q3_K_finish(x, &y[i], L);
	}
}

/* With an importance matrix: each sub-block's scale by make_qx_quants weighted by
 * qw * sqrt(sigma2 + x^2), then the 6-bit scales fitted to them weighted by sub-block totals. */
static void q3_K_from_float_w(const float *x, void *vy, int64_t n, const float *qw)
{
	struct block_q3_K *y = vy;
	int8_t L[QK_K], Ls[QK_K / 16];
	float scales[QK_K / 16], weight[16], sw[QK_K / 16];
	for (int64_t i = 0; i < n / QK_K; i++, x += QK_K, qw += QK_K) {
		const float sigma2 = sl_iq_sigma2(x, QK_K, 2);
		for (int j = 0; j < QK_K / 16; j++) {
			sw[j] = imatrix_weights(16, x + 16 * j, qw + 16 * j, sigma2, weight);
			scales[j] = make_qx_quants(16, 4, x + 16 * j, L + 16 * j, 1, weight);
		}
		memset(y[i].scales, 0, 12);
		const float d_block = make_qx_quants(QK_K / 16, 32, scales, Ls, 1, sw);
		for (int j = 0; j < QK_K / 16; j++) {
			int l = Ls[j];
			if (j < 8)
				y[i].scales[j] = (uint8_t)(l & 0xF);
			else
				y[i].scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
			l >>= 4;
			y[i].scales[j % 4 + 8] |= (uint8_t)(l << (2 * (j / 4)));
		}
		y[i].d = sl_fp32_to_fp16(d_block);
		q3_K_finish(x, &y[i], L);
	}
}

static void q3_K_to_float(const void *vx, float *y, int64_t n)
{
	const struct block_q3_K *x = vx;
	for (int64_t i = 0; i < n / QK_K; i++) {
		const float d_all = FP16(x[i].d);
		int8_t sc[16];
		sl_q3k_scales(x[i].scales, sc);
		const uint8_t *q = x[i].qs, *hm = x[i].hmask;
		uint8_t m = 1;
		int is = 0;
		for (int nn = 0; nn < QK_K; nn += 128, q += 32)
			for (int shift = 0; shift < 8; shift += 2, m <<= 1)
				for (int half = 0; half < 2; half++) {
					float dl = d_all * sc[is++];
					for (int l = 0; l < 16; l++) {
						int k = l + 16 * half;
						*y++ = dl * (((q[k] >> shift) & 3) - ((hm[k] & m) ? 0 : 4));
					}
				}
	}
}

/* ---- q4_K / q5_K: shared scale search; 6-bit scales and mins ---- */

static void k4_scales(const float *x, int nmax, float rmin, int nstep, uint8_t *L, float *scales, float *mins,
		      float *max_scale, float *max_min)
{
	uint8_t Laux[32];
	float weights[32];
	*max_scale = 0;
	*max_min = 0;
	for (int j = 0; j < QK_K / 32; j++) {
		float sum_x2 = 0;
		for (int l = 0; l < 32; l++)
			sum_x2 += x[32 * j + l] * x[32 * j + l];
		float av_x = sqrtf(sum_x2 / 32);
		for (int l = 0; l < 32; l++)
			weights[l] = av_x + fabsf(x[32 * j + l]);
		scales[j] = make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep,
					     false);
		if (scales[j] > *max_scale)
			*max_scale = scales[j];
		if (mins[j] > *max_min)
			*max_min = mins[j];
	}
}

/* Store 8 (scale, min) 6-bit pairs and d/dmin; then requantize x against them into L. */
/* Pack 8 (scale, min) 6-bit pairs with their d/dmin; then requantize x against them into L. */
static void k4_pack(const float *x, int nmax, const uint8_t *Ls, const uint8_t *Lm, float dval, float mval, uint16_t *d,
		    uint16_t *dmin, uint8_t *packed, uint8_t *L)
{
	for (int j = 0; j < QK_K / 32; j++) {
		const uint8_t ls = MIN(63, Ls[j]), lm = MIN(63, Lm[j]);
		if (j < 4) {
			packed[j] = ls;
			packed[j + 4] = lm;
		} else {
			packed[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
			packed[j - 4] |= (uint8_t)((ls >> 4) << 6);
			packed[j] |= (uint8_t)((lm >> 4) << 6);
		}
	}
	*d = sl_fp32_to_fp16(dval);
	*dmin = sl_fp32_to_fp16(mval);
	for (int j = 0; j < QK_K / 32; j++) {
		uint8_t sc, m;
		sl_get_scale_min_k4(j, packed, &sc, &m);
		const float dd = FP16(*d) * sc;
		if (!dd)
			continue;
		const float dm = FP16(*dmin) * m;
		for (int ii = 0; ii < 32; ii++) {
			int l = nearest_int((x[32 * j + ii] + dm) / dd);
			L[32 * j + ii] = (uint8_t)MAX(0, MIN(nmax, l));
		}
	}
}

static void k4_store(const float *x, int nmax, const float *scales, const float *mins, float max_scale, float max_min,
		     uint16_t *d, uint16_t *dmin, uint8_t *packed, uint8_t *L)
{
	const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f, inv_min = max_min > 0 ? 63.f / max_min : 0.f;
	uint8_t Ls[QK_K / 32], Lm[QK_K / 32];
	for (int j = 0; j < QK_K / 32; j++) {
		Ls[j] = (uint8_t)nearest_int(inv_scale * scales[j]);
		Lm[j] = (uint8_t)nearest_int(inv_min * mins[j]);
	}
	k4_pack(x, nmax, Ls, Lm, max_scale / 63.f, max_min / 63.f, d, dmin, packed, L);
}

/* With an importance matrix (q4_K, q5_K): sub-block fits weighted by qw * sqrt(sigma2 + x^2), then the
 * 6-bit scales and mins fitted to them weighted by sub-block totals. */
static void k4_weighted(const float *x, const float *qw, int nmax, uint8_t *L, uint16_t *d, uint16_t *dmin,
			uint8_t *packed)
{
	uint8_t Laux[32], Ls[QK_K / 32], Lm[QK_K / 32];
	float weights[32], sw[QK_K / 32], mins[QK_K / 32], scales[QK_K / 32];
	const float sigma2 = sl_iq_sigma2(x, QK_K, 2);
	for (int j = 0; j < QK_K / 32; j++) {
		sw[j] = imatrix_weights(32, x + 32 * j, qw + 32 * j, sigma2, weights);
		scales[j] = make_qkx3_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, -0.9f, 0.05f, 36);
	}
	const float d_block = sl_make_qp_quants(QK_K / 32, 63, scales, Ls, sw);
	const float m_block = sl_make_qp_quants(QK_K / 32, 63, mins, Lm, sw);
	k4_pack(x, nmax, Ls, Lm, d_block, m_block, d, dmin, packed, L);
}

static void q4_K_pack(const uint8_t *L, uint8_t *q)
{
	for (int j = 0; j < QK_K; j += 64, q += 32)
		for (int l = 0; l < 32; l++)
			q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
}

static void q4_K_from_float(const float *x, void *vy, int64_t n)
{
	struct block_q4_K *y = vy;
	uint8_t L[QK_K];
	float mins[QK_K / 32], scales[QK_K / 32], max_scale, max_min;
	for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
		k4_scales(x, 15, -1.f, 20, L, scales, mins, &max_scale, &max_min);
		k4_store(x, 15, scales, mins, max_scale, max_min, &y[i].d, &y[i].dmin, y[i].scales, L);
		q4_K_pack(L, y[i].qs);
	}
}

static void q4_K_from_float_w(const float *x, void *vy, int64_t n, const float *qw)
{
	struct block_q4_K *y = vy;
	uint8_t L[QK_K];
	for (int64_t i = 0; i < n / QK_K; i++, x += QK_K, qw += QK_K) {
		k4_weighted(x, qw, 15, L, &y[i].d, &y[i].dmin, y[i].scales);
		q4_K_pack(L, y[i].qs);
	}
}

static void q4_K_to_float(const void *vx, float *y, int64_t n)
{
	const struct block_q4_K *x = vx;
	for (int64_t i = 0; i < n / QK_K; i++) {
		const uint8_t *q = x[i].qs;
		const float d = FP16(x[i].d), min = FP16(x[i].dmin);
		for (int j = 0, is = 0; j < QK_K; j += 64, q += 32, is += 2) {
			uint8_t sc, m;
			sl_get_scale_min_k4(is, x[i].scales, &sc, &m);
			const float d1 = d * sc, m1 = min * m;
			sl_get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
			const float d2 = d * sc, m2 = min * m;
			for (int l = 0; l < 32; l++)
				*y++ = d1 * (q[l] & 0xF) - m1;
			for (int l = 0; l < 32; l++)
				*y++ = d2 * (q[l] >> 4) - m2;
		}
	}
}

static void q5_K_pack(const uint8_t *L, uint8_t *ql, uint8_t *qh)
{
	memset(qh, 0, QK_K / 8);
	uint8_t m1 = 1, m2 = 2;
	for (int nn = 0; nn < QK_K; nn += 64, ql += 32, m1 <<= 2, m2 <<= 2)
		for (int j = 0; j < 32; j++) {
			int l1 = L[nn + j], l2 = L[nn + j + 32];
			if (l1 > 15) {
				l1 -= 16;
				qh[j] |= m1;
			}
			if (l2 > 15) {
				l2 -= 16;
				qh[j] |= m2;
			}
			ql[j] = (uint8_t)(l1 | (l2 << 4));
		}
}

static void q5_K_from_float(const float *x, void *vy, int64_t n)
{
	struct block_q5_K *y = vy;
	uint8_t L[QK_K];
	float mins[QK_K / 32], scales[QK_K / 32], max_scale, max_min;
	for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
		k4_scales(x, 31, -0.5f, 15, L, scales, mins, &max_scale, &max_min);
		k4_store(x, 31, scales, mins, max_scale, max_min, &y[i].d, &y[i].dmin, y[i].scales, L);
		q5_K_pack(L, y[i].qs, y[i].qh);
	}
}

static void q5_K_from_float_w(const float *x, void *vy, int64_t n, const float *qw)
{
	struct block_q5_K *y = vy;
	uint8_t L[QK_K];
	for (int64_t i = 0; i < n / QK_K; i++, x += QK_K, qw += QK_K) {
		k4_weighted(x, qw, 31, L, &y[i].d, &y[i].dmin, y[i].scales);
		q5_K_pack(L, y[i].qs, y[i].qh);
	}
}

static void q5_K_to_float(const void *vx, float *y, int64_t n)
{
	const struct block_q5_K *x = vx;
	for (int64_t i = 0; i < n / QK_K; i++) {
		const uint8_t *ql = x[i].qs, *qh = x[i].qh;
		const float d = FP16(x[i].d), min = FP16(x[i].dmin);
		uint8_t u1 = 1, u2 = 2;
		for (int j = 0, is = 0; j < QK_K; j += 64, ql += 32, is += 2, u1 <<= 2, u2 <<= 2) {
			uint8_t sc, m;
			sl_get_scale_min_k4(is, x[i].scales, &sc, &m);
			const float d1 = d * sc, m1 = min * m;
			sl_get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
			const float d2 = d * sc, m2 = min * m;
			for (int l = 0; l < 32; l++)
				*y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
			for (int l = 0; l < 32; l++)
				*y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
		}
	}
}

/* ---- q6_K ---- */

/* qw NULL: the reference; else each sub-block's scale weighted by the importance matrix itself (as ggml). */
static void q6_K_impl(const float *x, void *vy, int64_t n, const float *qw)
{
	struct block_q6_K *y = vy;
	int8_t L[QK_K];
	float scales[QK_K / 16];
	for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
		float max_scale = 0, max_abs_scale = 0;
		for (int ib = 0; ib < QK_K / 16; ib++) {
			const float scale = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib, 1, qw ? qw + QK_K * i + 16 * ib : NULL);
			scales[ib] = scale;
			if (fabsf(scale) > max_abs_scale) {
				max_abs_scale = fabsf(scale);
				max_scale = scale;
			}
		}
		if (max_abs_scale < GROUP_MAX_EPS) {
			memset(&y[i], 0, sizeof y[i]);
			continue;
		}
		float iscale = -128.f / max_scale;
		y[i].d = sl_fp32_to_fp16(1 / iscale);
		for (int ib = 0; ib < QK_K / 16; ib++)
			y[i].scales[ib] = (int8_t)MIN(127, nearest_int(iscale * scales[ib]));
		for (int j = 0; j < QK_K / 16; j++) {
			float d = FP16(y[i].d) * y[i].scales[j];
			if (!d)
				continue;
			for (int ii = 0; ii < 16; ii++) {
				int l = nearest_int(x[16 * j + ii] / d);
				L[16 * j + ii] = (int8_t)(MAX(-32, MIN(31, l)) + 32);
			}
		}
		uint8_t *ql = y[i].ql, *qh = y[i].qh;
		for (int j = 0; j < QK_K; j += 128, ql += 64, qh += 32)
			for (int l = 0; l < 32; l++) {
				const uint8_t q1 = L[j + l] & 0xF, q2 = L[j + l + 32] & 0xF;
				const uint8_t q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
				ql[l] = (uint8_t)(q1 | (q3 << 4));
				ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
				qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
						  ((L[j + l + 96] >> 4) << 6));
			}
	}
}

static void q6_K_from_float(const float *x, void *vy, int64_t n)
{
	q6_K_impl(x, vy, n, NULL);
}

static void q6_K_from_float_w(const float *x, void *vy, int64_t n, const float *qw)
{
	q6_K_impl(x, vy, n, qw);
}

static void q6_K_to_float(const void *vx, float *y, int64_t n)
{
	const struct block_q6_K *x = vx;
	for (int64_t i = 0; i < n / QK_K; i++) {
		const float d = FP16(x[i].d);
		const uint8_t *ql = x[i].ql, *qh = x[i].qh;
		const int8_t *sc = x[i].scales;
		for (int nn = 0; nn < QK_K; nn += 128, y += 128, ql += 64, qh += 32, sc += 8)
			for (int l = 0; l < 32; l++) {
				int is = l / 16;
				const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
				const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
				const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
				const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
				y[l] = d * sc[is] * q1;
				y[l + 32] = d * sc[is + 2] * q2;
				y[l + 64] = d * sc[is + 4] * q3;
				y[l + 96] = d * sc[is + 6] * q4;
			}
	}
}

/* ---- q8_K (activations) ---- */

static void q8_K_from_float(const float *x, void *vy, int64_t n)
{
	struct block_q8_K *y = vy;
	for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
		float max = 0, amax = 0;
		for (int j = 0; j < QK_K; j++)
			if (fabsf(x[j]) > amax) {
				amax = fabsf(x[j]);
				max = x[j];
			}
		if (!amax) {
			memset(&y[i], 0, sizeof y[i]);
			continue;
		}
		/* -127 (not -128) keeps every quant in [-127, 127], so |q| fits maddubs' unsigned operand. */
		const float iscale = -127.f / max;
		for (int j = 0; j < QK_K; j++)
			y[i].qs[j] = (int8_t)MIN(127, nearest_int(iscale * x[j]));
		for (int j = 0; j < QK_K / 16; j++) {
			int sum = 0;
			for (int ii = 0; ii < 16; ii++)
				sum += y[i].qs[j * 16 + ii];
			y[i].bsums[j] = (int16_t)sum;
		}
		y[i].d = 1 / iscale;
	}
}

static void q8_K_to_float(const void *vx, float *y, int64_t n)
{
	const struct block_q8_K *x = vx;
	for (int64_t i = 0; i < n / QK_K; i++)
		for (int j = 0; j < QK_K; j++)
			*y++ = x[i].d * x[i].qs[j];
}

void sl_quant_k_kernels(uint32_t type, struct sl_kernels *k)
{
	switch (type) {
	case SL_TYPE_Q2_K: k->to_float = q2_K_to_float; k->from_float = q2_K_from_float; break;
	case SL_TYPE_Q3_K: k->to_float = q3_K_to_float; k->from_float = q3_K_from_float; break;
	case SL_TYPE_Q4_K: k->to_float = q4_K_to_float; k->from_float = q4_K_from_float; break;
	case SL_TYPE_Q5_K: k->to_float = q5_K_to_float; k->from_float = q5_K_from_float; break;
	case SL_TYPE_Q6_K: k->to_float = q6_K_to_float; k->from_float = q6_K_from_float; break;
	case SL_TYPE_Q8_K: k->to_float = q8_K_to_float; k->from_float = q8_K_from_float; break;
	default: break;
	}
}

sl_from_float_w_fn sl_quant_k_weighted(uint32_t type)
{
	switch (type) {
	case SL_TYPE_Q2_K: return q2_K_from_float_w;
	case SL_TYPE_Q3_K: return q3_K_from_float_w;
	case SL_TYPE_Q4_K: return q4_K_from_float_w;
	case SL_TYPE_Q5_K: return q5_K_from_float_w;
	case SL_TYPE_Q6_K: return q6_K_from_float_w;
	default: return NULL;
	}
}
