/* SPDX-License-Identifier: MIT */
/*
 * runtime/quant/iq_dot.c — scalar reference dots of the i-quants and ternary
 * types against q8_K activations (q8_0 for iq4_nl), as ggml's generic
 * ggml_vec_dot_*_q8_K: each block's sum is an exact integer (grid value x
 * sign x q8, times the integer sub-block scale) and floats enter once per
 * block, so the result differs from "dequantize, then dot in floats" only by
 * the q8 rounding of the activations and float rounding of the block terms
 * (tests/unit/test_quant_iq.c states and checks the bound).
 *
 * The iq2/iq3 scales are stored as ls with value (2 ls + 1) / 8 (iq2) or / 4
 * (iq3_xxs): the integer 2 ls + 1 goes into the block sum and the constant
 * factor is applied once at the end, as ggml does.
 */
#include "quant/iq_blocks.h"

static inline int sgn(uint8_t signs, int j)
{
	return signs & sl_kmask_iq2xs[j] ? -1 : 1;
}

/* sum_j grid[j] * sign_j * q8[j] over 8 elements. */
static inline int32_t dot8_signed(const uint8_t *grid, uint8_t signs, const int8_t *q8)
{
	int32_t s = 0;
	for (int j = 0; j < 8; ++j)
		s += grid[j] * q8[j] * sgn(signs, j);
	return s;
}

static void iq2_xxs_dot(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_iq2_xxs *x = vx;
	const struct block_q8_K *y = vy;
	float sumf = 0.f;
	for (int64_t i = 0; i < n / QK_K; ++i) {
		const float d = FP16(x[i].d) * y[i].d;
		const int8_t *q8 = y[i].qs;
		int32_t bsum = 0;
		for (int ib32 = 0; ib32 < QK_K / 32; ++ib32) {
			uint32_t aux32[2];
			memcpy(aux32, x[i].qs + 4 * ib32, sizeof aux32);
			const uint8_t *aux8 = (const uint8_t *)aux32;
			const int32_t ls = 2 * (int32_t)(aux32[1] >> 28) + 1;
			int32_t sumi = 0;
			for (int l = 0; l < 4; ++l, q8 += 8)
				sumi += dot8_signed((const uint8_t *)(sl_iq2xxs_grid + aux8[l]),
						    sl_ksigns_iq2xs[(aux32[1] >> 7 * l) & 127], q8);
			bsum += sumi * ls;
		}
		sumf += d * bsum;
	}
	*s = 0.125f * sumf;
}

static void iq2_xs_dot(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_iq2_xs *x = vx;
	const struct block_q8_K *y = vy;
	float sumf = 0.f;
	for (int64_t i = 0; i < n / QK_K; ++i) {
		const float d = FP16(x[i].d) * y[i].d;
		const int8_t *q8 = y[i].qs;
		int32_t bsum = 0;
		for (int ib32 = 0; ib32 < QK_K / 32; ++ib32) {
			const int32_t ls[2] = { 2 * (x[i].scales[ib32] & 0xf) + 1, 2 * (x[i].scales[ib32] >> 4) + 1 };
			for (int l = 0; l < 4; ++l, q8 += 8) {
				const uint16_t q = x[i].qs[4 * ib32 + l];
				bsum += ls[l / 2] * dot8_signed((const uint8_t *)(sl_iq2xs_grid + (q & 511)), sl_ksigns_iq2xs[q >> 9], q8);
			}
		}
		sumf += d * bsum;
	}
	*s = 0.125f * sumf;
}

static void iq2_s_dot(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_iq2_s *x = vx;
	const struct block_q8_K *y = vy;
	float sumf = 0.f;
	for (int64_t i = 0; i < n / QK_K; ++i) {
		const float d = FP16(x[i].d) * y[i].d;
		const uint8_t *qs = x[i].qs, *qh = x[i].qh, *signs = qs + QK_K / 8;
		const int8_t *q8 = y[i].qs;
		int32_t bsum = 0;
		for (int ib32 = 0; ib32 < QK_K / 32; ++ib32, qs += 4, signs += 4) {
			const int32_t ls[2] = { 2 * (x[i].scales[ib32] & 0xf) + 1, 2 * (x[i].scales[ib32] >> 4) + 1 };
			for (int l = 0; l < 4; ++l, q8 += 8) {
				const uint8_t *grid = (const uint8_t *)(sl_iq2s_grid + (qs[l] | ((qh[ib32] << (8 - 2 * l)) & 0x300)));
				bsum += ls[l / 2] * dot8_signed(grid, signs[l], q8);
			}
		}
		sumf += d * bsum;
	}
	*s = 0.125f * sumf;
}

static void iq3_xxs_dot(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_iq3_xxs *x = vx;
	const struct block_q8_K *y = vy;
	float sumf = 0.f;
	for (int64_t i = 0; i < n / QK_K; ++i) {
		const float d = FP16(x[i].d) * y[i].d;
		const uint8_t *qs = x[i].qs, *gas = x[i].qs + QK_K / 4;
		const int8_t *q8 = y[i].qs;
		int32_t bsum = 0;
		for (int ib32 = 0; ib32 < QK_K / 32; ++ib32, qs += 8) {
			uint32_t aux32;
			memcpy(&aux32, gas + 4 * ib32, sizeof aux32);
			const int32_t ls = 2 * (int32_t)(aux32 >> 28) + 1;
			int32_t sumi = 0;
			for (int l = 0; l < 4; ++l, q8 += 8) {
				uint8_t grid[8];
				memcpy(grid, sl_iq3xxs_grid + qs[2 * l + 0], 4);
				memcpy(grid + 4, sl_iq3xxs_grid + qs[2 * l + 1], 4);
				sumi += dot8_signed(grid, sl_ksigns_iq2xs[(aux32 >> 7 * l) & 127], q8);
			}
			bsum += sumi * ls;
		}
		sumf += d * bsum;
	}
	*s = 0.25f * sumf;
}

static void iq3_s_dot(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_iq3_s *x = vx;
	const struct block_q8_K *y = vy;
	float sumf = 0.f;
	for (int64_t i = 0; i < n / QK_K; ++i) {
		const float d = FP16(x[i].d) * y[i].d;
		const uint8_t *qs = x[i].qs, *qh = x[i].qh, *signs = x[i].signs;
		const int8_t *q8 = y[i].qs;
		int32_t bsum = 0;
		for (int ib32 = 0; ib32 < QK_K / 32; ++ib32, qs += 8, signs += 4) {
			const uint8_t sc = x[i].scales[ib32 / 2];
			const int32_t ls = 2 * (ib32 % 2 ? sc >> 4 : sc & 0xf) + 1;
			int32_t sumi = 0;
			for (int l = 0; l < 4; ++l, q8 += 8) {
				uint8_t grid[8];
				memcpy(grid, sl_iq3s_grid + (qs[2 * l + 0] | ((qh[ib32] << (8 - 2 * l)) & 256)), 4);
				memcpy(grid + 4, sl_iq3s_grid + (qs[2 * l + 1] | ((qh[ib32] << (7 - 2 * l)) & 256)), 4);
				sumi += dot8_signed(grid, signs[l], q8);
			}
			bsum += sumi * ls;
		}
		sumf += d * bsum;
	}
	*s = sumf;
}

/* iq1: value = dl * (grid + delta), delta = +-1/8: sum(grid * q8) plus delta * sum(q8). */
static void iq1_s_dot(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_iq1_s *x = vx;
	const struct block_q8_K *y = vy;
	float sumf = 0.f;
	for (int64_t i = 0; i < n / QK_K; ++i) {
		const int8_t *q8 = y[i].qs;
		const uint8_t *qs = x[i].qs;
		const uint16_t *qh = x[i].qh;
		int32_t sumi = 0, sumi1 = 0;
		for (int ib = 0; ib < QK_K / 32; ++ib, qs += 4) {
			const int32_t ls = 2 * ((qh[ib] >> 12) & 7) + 1;
			const int32_t delta = qh[ib] & 0x8000 ? -1 : 1;
			int32_t lsum = 0;
			for (int l = 0; l < 4; ++l, q8 += 8) {
				const int8_t *grid = (const int8_t *)(sl_iq1s_grid + (qs[l] | (((qh[ib] >> 3 * l) & 7) << 8)));
				for (int j = 0; j < 8; ++j)
					lsum += q8[j] * grid[j];
			}
			sumi += ls * lsum;
			sumi1 += ls * delta * (y[i].bsums[2 * ib + 0] + y[i].bsums[2 * ib + 1]);
		}
		sumf += FP16(x[i].d) * y[i].d * (sumi + IQ1S_DELTA * sumi1);
	}
	*s = sumf;
}

static void iq1_m_dot(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_iq1_m *x = vx;
	const struct block_q8_K *y = vy;
	float sumf = 0.f;
	for (int64_t i = 0; i < n / QK_K; ++i) {
		uint16_t sc[4];
		memcpy(sc, x[i].scales, sizeof sc);
		const int8_t *q8 = y[i].qs;
		const uint8_t *qs = x[i].qs, *qh = x[i].qh;
		int32_t sumi1 = 0, sumi2 = 0;
		for (int ib = 0; ib < QK_K / 32; ++ib, qs += 4, qh += 2) {
			const int32_t ls[2] = { 2 * ((sc[ib / 2] >> (6 * (ib % 2) + 0)) & 0x7) + 1,
						2 * ((sc[ib / 2] >> (6 * (ib % 2) + 3)) & 0x7) + 1 };
			for (int l = 0; l < 4; ++l, q8 += 8) {
				const uint8_t h = qh[l / 2] >> (4 * (l % 2));
				const int8_t *grid = (const int8_t *)(sl_iq1s_grid + (qs[l] | ((h & 7) << 8)));
				const int32_t delta = h & 0x08 ? -1 : 1;
				int32_t lsum1 = 0, lsum2 = 0;
				for (int j = 0; j < 8; ++j) {
					lsum1 += q8[j] * grid[j];
					lsum2 += q8[j];
				}
				sumi1 += ls[l / 2] * lsum1;
				sumi2 += ls[l / 2] * delta * lsum2;
			}
		}
		sumf += FP16(sl_iq1m_d(&x[i])) * y[i].d * (sumi1 + IQ1M_DELTA * sumi2);
	}
	*s = sumf;
}

static void iq4_nl_dot(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_iq4_nl *x = vx;
	const struct block_q8_0 *y = vy;
	float sumf = 0.f;
	for (int64_t ib = 0; ib < n / QK4_NL; ++ib) {
		const float d = FP16(y[ib].d) * FP16(x[ib].d);
		int32_t sumi1 = 0, sumi2 = 0;
		for (int j = 0; j < QK4_NL / 2; ++j) {
			sumi1 += y[ib].qs[j + 0] * sl_kvalues_iq4nl[x[ib].qs[j] & 0xf];
			sumi2 += y[ib].qs[j + QK4_NL / 2] * sl_kvalues_iq4nl[x[ib].qs[j] >> 4];
		}
		sumf += d * (sumi1 + sumi2);
	}
	*s = sumf;
}

static void iq4_xs_dot(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_iq4_xs *x = vx;
	const struct block_q8_K *y = vy;
	float sumf = 0.f;
	for (int64_t i = 0; i < n / QK_K; ++i) {
		const uint8_t *qs = x[i].qs;
		const int8_t *q8 = y[i].qs;
		int32_t bsum = 0;
		for (int ib = 0; ib < QK_K / 32; ++ib, qs += 16, q8 += 32) {
			int32_t sumi = 0;
			for (int j = 0; j < 16; ++j)
				sumi += q8[j] * sl_kvalues_iq4nl[qs[j] & 0xf] + q8[j + 16] * sl_kvalues_iq4nl[qs[j] >> 4];
			bsum += (sl_iq4xs_ls(&x[i], ib) - 32) * sumi;
		}
		sumf += FP16(x[i].d) * y[i].d * bsum;
	}
	*s = sumf;
}

/* tq1_0: the n-th base-3 digit of a trit byte, -1..1 (see tq1_0_to_float). */
static inline int trit(uint8_t q, int pow3)
{
	return (int)((((uint16_t)(uint8_t)(q * pow3)) * 3) >> 8) - 1;
}

static void tq1_0_dot(int64_t n, float *s, const void *vx, const void *vy)
{
	static const uint8_t pow3[5] = { 1, 3, 9, 27, 81 };
	const struct block_tq1_0 *x = vx;
	const struct block_q8_K *y = vy;
	const size_t nqs = sizeof x->qs, n32 = nqs - nqs % 32;
	float sumf = 0.f;
	for (int64_t i = 0; i < n / QK_K; ++i) {
		const int8_t *q8 = y[i].qs;
		int32_t sum = 0;
		for (size_t j = 0; j < n32; j += 32)
			for (int p = 0; p < 5; ++p)
				for (int m = 0; m < 32; ++m)
					sum += trit(x[i].qs[j + m], pow3[p]) * *q8++;
		for (size_t j = n32; j < nqs; j += 16)
			for (int p = 0; p < 5; ++p)
				for (int m = 0; m < 16; ++m)
					sum += trit(x[i].qs[j + m], pow3[p]) * *q8++;
		for (int p = 0; p < 4; ++p)
			for (size_t j = 0; j < sizeof x->qh; ++j)
				sum += trit(x[i].qh[j], pow3[p]) * *q8++;
		sumf += (float)sum * (FP16(x[i].d) * y[i].d);
	}
	*s = sumf;
}

static void tq2_0_dot(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_tq2_0 *x = vx;
	const struct block_q8_K *y = vy;
	float sumf = 0.f;
	for (int64_t i = 0; i < n / QK_K; ++i) {
		const int8_t *q8 = y[i].qs;
		int32_t sum = 0;
		for (size_t j = 0; j < sizeof x->qs; j += 32)
			for (int l = 0; l < 4; ++l)
				for (int m = 0; m < 32; ++m)
					sum += (((x[i].qs[j + m] >> (l * 2)) & 3) - 1) * *q8++;
		sumf += (float)sum * (FP16(x[i].d) * y[i].d);
	}
	*s = sumf;
}

sl_vec_dot_fn sl_iq_vec_dot(uint32_t type)
{
	switch (type) {
	case SL_TYPE_IQ2_XXS: return iq2_xxs_dot;
	case SL_TYPE_IQ2_XS: return iq2_xs_dot;
	case SL_TYPE_IQ2_S: return iq2_s_dot;
	case SL_TYPE_IQ3_XXS: return iq3_xxs_dot;
	case SL_TYPE_IQ3_S: return iq3_s_dot;
	case SL_TYPE_IQ1_S: return iq1_s_dot;
	case SL_TYPE_IQ1_M: return iq1_m_dot;
	case SL_TYPE_IQ4_NL: return iq4_nl_dot;
	case SL_TYPE_IQ4_XS: return iq4_xs_dot;
	case SL_TYPE_TQ1_0: return tq1_0_dot;
	case SL_TYPE_TQ2_0: return tq2_0_dot;
	default: return NULL;
	}
}
