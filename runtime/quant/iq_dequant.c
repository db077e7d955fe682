/* SPDX-License-Identifier: MIT */
/*
 * runtime/quant/iq_dequant.c — to_float of the i-quants and ternary types,
 * bit-exact with ggml's dequantize_row_* (same float operations in the same
 * order: tests/quant/test_iq_ref.sh compares with the gguf package's numpy
 * dequantizers on random blocks).
 */
#include "quant/iq_blocks.h"

static inline float sgn(uint8_t signs, int j)
{
	return signs & sl_kmask_iq2xs[j] ? -1.f : 1.f;
}

static void iq2_xxs_to_float(const void *vx, float *y, int64_t n)
{
	const struct block_iq2_xxs *x = vx;
	uint32_t aux32[2];
	const uint8_t *aux8 = (const uint8_t *)aux32;
	for (int64_t i = 0; i < n / QK_K; i++) {
		const float d = FP16(x[i].d);
		for (int ib32 = 0; ib32 < QK_K / 32; ++ib32) {
			memcpy(aux32, x[i].qs + 4 * ib32, 2 * sizeof(uint32_t));
			const float db = d * (0.5f + (aux32[1] >> 28)) * 0.25f;
			for (int l = 0; l < 4; ++l) {
				const uint8_t *grid = (const uint8_t *)(sl_iq2xxs_grid + aux8[l]);
				const uint8_t signs = sl_ksigns_iq2xs[(aux32[1] >> 7 * l) & 127];
				for (int j = 0; j < 8; ++j)
					y[j] = db * grid[j] * sgn(signs, j);
				y += 8;
			}
		}
	}
}

static void iq2_xs_to_float(const void *vx, float *y, int64_t n)
{
	const struct block_iq2_xs *x = vx;
	for (int64_t i = 0; i < n / QK_K; i++) {
		const float d = FP16(x[i].d);
		for (int ib32 = 0; ib32 < QK_K / 32; ++ib32) {
			const float db[2] = { d * (0.5f + (x[i].scales[ib32] & 0xf)) * 0.25f,
					      d * (0.5f + (x[i].scales[ib32] >> 4)) * 0.25f };
			for (int l = 0; l < 4; ++l) {
				const uint16_t q = x[i].qs[4 * ib32 + l];
				const uint8_t *grid = (const uint8_t *)(sl_iq2xs_grid + (q & 511));
				const uint8_t signs = sl_ksigns_iq2xs[q >> 9];
				for (int j = 0; j < 8; ++j)
					y[j] = db[l / 2] * grid[j] * sgn(signs, j);
				y += 8;
			}
		}
	}
}

static void iq2_s_to_float(const void *vx, float *y, int64_t n)
{
	const struct block_iq2_s *x = vx;
	for (int64_t i = 0; i < n / QK_K; i++) {
		const float d = FP16(x[i].d);
		const uint8_t *qs = x[i].qs, *qh = x[i].qh, *signs = qs + QK_K / 8;
		for (int ib32 = 0; ib32 < QK_K / 32; ++ib32) {
			const float db[2] = { d * (0.5f + (x[i].scales[ib32] & 0xf)) * 0.25f,
					      d * (0.5f + (x[i].scales[ib32] >> 4)) * 0.25f };
			for (int l = 0; l < 4; ++l) {
				const float dl = db[l / 2];
				const uint8_t *grid = (const uint8_t *)(sl_iq2s_grid + (qs[l] | ((qh[ib32] << (8 - 2 * l)) & 0x300)));
				for (int j = 0; j < 8; ++j)
					y[j] = dl * grid[j] * sgn(signs[l], j);
				y += 8;
			}
			qs += 4;
			signs += 4;
		}
	}
}

static void iq3_xxs_to_float(const void *vx, float *y, int64_t n)
{
	const struct block_iq3_xxs *x = vx;
	for (int64_t i = 0; i < n / QK_K; i++) {
		const float d = FP16(x[i].d);
		const uint8_t *qs = x[i].qs;
		const uint8_t *scales_and_signs = qs + QK_K / 4;
		for (int ib32 = 0; ib32 < QK_K / 32; ++ib32) {
			uint32_t aux32;
			memcpy(&aux32, scales_and_signs + 4 * ib32, sizeof aux32);
			const float db = d * (0.5f + (aux32 >> 28)) * 0.5f;
			for (int l = 0; l < 4; ++l) {
				const uint8_t signs = sl_ksigns_iq2xs[(aux32 >> 7 * l) & 127];
				const uint8_t *grid1 = (const uint8_t *)(sl_iq3xxs_grid + qs[2 * l + 0]);
				const uint8_t *grid2 = (const uint8_t *)(sl_iq3xxs_grid + qs[2 * l + 1]);
				for (int j = 0; j < 4; ++j) {
					y[j + 0] = db * grid1[j] * sgn(signs, j + 0);
					y[j + 4] = db * grid2[j] * sgn(signs, j + 4);
				}
				y += 8;
			}
			qs += 8;
		}
	}
}

static void iq3_s_to_float(const void *vx, float *y, int64_t n)
{
	const struct block_iq3_s *x = vx;
	for (int64_t i = 0; i < n / QK_K; i++) {
		const float d = FP16(x[i].d);
		const uint8_t *qs = x[i].qs, *qh = x[i].qh, *signs = x[i].signs;
		for (int ib32 = 0; ib32 < QK_K / 32; ib32 += 2) {
			const float db[2] = { d * (1 + 2 * (x[i].scales[ib32 / 2] & 0xf)),
					      d * (1 + 2 * (x[i].scales[ib32 / 2] >> 4)) };
			for (int h = 0; h < 2; h++) { /* two sub-blocks of 32 per scale byte */
				for (int l = 0; l < 4; ++l) {
					const uint8_t *grid1 = (const uint8_t *)(sl_iq3s_grid + (qs[2 * l + 0] | ((qh[h] << (8 - 2 * l)) & 256)));
					const uint8_t *grid2 = (const uint8_t *)(sl_iq3s_grid + (qs[2 * l + 1] | ((qh[h] << (7 - 2 * l)) & 256)));
					for (int j = 0; j < 4; ++j) {
						y[j + 0] = db[h] * grid1[j] * sgn(signs[l], j + 0);
						y[j + 4] = db[h] * grid2[j] * sgn(signs[l], j + 4);
					}
					y += 8;
				}
				qs += 8;
				signs += 4;
			}
			qh += 2;
		}
	}
}

static void iq1_s_to_float(const void *vx, float *y, int64_t n)
{
	const struct block_iq1_s *x = vx;
	for (int64_t i = 0; i < n / QK_K; i++) {
		const float d = FP16(x[i].d);
		const uint8_t *qs = x[i].qs;
		const uint16_t *qh = x[i].qh;
		for (int ib = 0; ib < QK_K / 32; ++ib) {
			const float dl = d * (2 * ((qh[ib] >> 12) & 7) + 1);
			const float delta = qh[ib] & 0x8000 ? -IQ1S_DELTA : IQ1S_DELTA;
			for (int l = 0; l < 4; ++l) {
				const int8_t *grid = (const int8_t *)(sl_iq1s_grid + (qs[l] | (((qh[ib] >> 3 * l) & 7) << 8)));
				for (int j = 0; j < 8; ++j)
					y[j] = dl * (grid[j] + delta);
				y += 8;
			}
			qs += 4;
		}
	}
}

static void iq1_m_to_float(const void *vx, float *y, int64_t n)
{
	const struct block_iq1_m *x = vx;
	for (int64_t i = 0; i < n / QK_K; i++) {
		uint16_t sc[4];
		memcpy(sc, x[i].scales, sizeof sc);
		const float d = FP16(sl_iq1m_d(&x[i]));
		const uint8_t *qs = x[i].qs, *qh = x[i].qh;
		for (int ib = 0; ib < QK_K / 32; ++ib) {
			const float dl[2] = { d * (2 * ((sc[ib / 2] >> (6 * (ib % 2) + 0)) & 0x7) + 1),
					      d * (2 * ((sc[ib / 2] >> (6 * (ib % 2) + 3)) & 0x7) + 1) };
			const uint16_t idx[4] = {
				(uint16_t)(qs[0] | ((qh[0] << 8) & 0x700)), (uint16_t)(qs[1] | ((qh[0] << 4) & 0x700)),
				(uint16_t)(qs[2] | ((qh[1] << 8) & 0x700)), (uint16_t)(qs[3] | ((qh[1] << 4) & 0x700)),
			};
			const float delta[4] = {
				qh[0] & 0x08 ? -IQ1M_DELTA : IQ1M_DELTA, qh[0] & 0x80 ? -IQ1M_DELTA : IQ1M_DELTA,
				qh[1] & 0x08 ? -IQ1M_DELTA : IQ1M_DELTA, qh[1] & 0x80 ? -IQ1M_DELTA : IQ1M_DELTA,
			};
			for (int l = 0; l < 4; ++l) {
				const int8_t *grid = (const int8_t *)(sl_iq1s_grid + idx[l]);
				for (int j = 0; j < 8; ++j)
					y[j] = dl[l / 2] * (grid[j] + delta[l]);
				y += 8;
			}
			qs += 4;
			qh += 2;
		}
	}
}

static void iq4_nl_to_float(const void *vx, float *y, int64_t n)
{
	const struct block_iq4_nl *x = vx;
	for (int64_t i = 0; i < n / QK4_NL; i++) {
		const float d = FP16(x[i].d);
		for (int j = 0; j < QK4_NL / 2; ++j) {
			y[j + 0] = d * sl_kvalues_iq4nl[x[i].qs[j] & 0xf];
			y[j + QK4_NL / 2] = d * sl_kvalues_iq4nl[x[i].qs[j] >> 4];
		}
		y += QK4_NL;
	}
}

static void iq4_xs_to_float(const void *vx, float *y, int64_t n)
{
	const struct block_iq4_xs *x = vx;
	for (int64_t i = 0; i < n / QK_K; i++) {
		const uint8_t *qs = x[i].qs;
		const float d = FP16(x[i].d);
		for (int ib = 0; ib < QK_K / 32; ++ib) {
			const float dl = d * (sl_iq4xs_ls(&x[i], ib) - 32);
			for (int j = 0; j < 16; ++j) {
				y[j + 0] = dl * sl_kvalues_iq4nl[qs[j] & 0xf];
				y[j + 16] = dl * sl_kvalues_iq4nl[qs[j] >> 4];
			}
			y += 32;
			qs += 16;
		}
	}
}

/* One base-3 digit: byte q holds trits scaled so that (q * 3) >> 8 pulls out the leading one;
 * multiplying by 3^n (mod 256) shifts the n-th to the front. */
static inline float trit(uint8_t q, int pow3, float d)
{
	const uint8_t s = (uint8_t)(q * pow3);
	const int16_t xi = (int16_t)(((uint16_t)s * 3) >> 8);
	return (float)(xi - 1) * d;
}

static void tq1_0_to_float(const void *vx, float *y, int64_t n)
{
	static const uint8_t pow3[6] = { 1, 3, 9, 27, 81, 243 };
	const struct block_tq1_0 *x = vx;
	const size_t nqs = sizeof x->qs, n32 = nqs - nqs % 32;
	for (int64_t i = 0; i < n / QK_K; i++) {
		const float d = FP16(x[i].d);
		for (size_t j = 0; j < n32; j += 32)
			for (int p = 0; p < 5; ++p)
				for (int m = 0; m < 32; ++m)
					*y++ = trit(x[i].qs[j + m], pow3[p], d);
		for (size_t j = n32; j < nqs; j += 16)
			for (int p = 0; p < 5; ++p)
				for (int m = 0; m < 16; ++m)
					*y++ = trit(x[i].qs[j + m], pow3[p], d);
		for (int p = 0; p < 4; ++p)
			for (size_t j = 0; j < sizeof x->qh; ++j)
				*y++ = trit(x[i].qh[j], pow3[p], d);
	}
}

static void tq2_0_to_float(const void *vx, float *y, int64_t n)
{
	const struct block_tq2_0 *x = vx;
	for (int64_t i = 0; i < n / QK_K; i++) {
		const float d = FP16(x[i].d);
		for (size_t j = 0; j < sizeof x->qs; j += 32)
			for (int l = 0; l < 4; ++l)
				for (int m = 0; m < 32; ++m) {
					const int8_t q = (int8_t)((x[i].qs[j + m] >> (l * 2)) & 3);
					*y++ = (float)(q - 1) * d;
				}
	}
}

sl_to_float_fn sl_iq_to_float(uint32_t type)
{
	switch (type) {
	case SL_TYPE_IQ2_XXS: return iq2_xxs_to_float;
	case SL_TYPE_IQ2_XS: return iq2_xs_to_float;
	case SL_TYPE_IQ2_S: return iq2_s_to_float;
	case SL_TYPE_IQ3_XXS: return iq3_xxs_to_float;
	case SL_TYPE_IQ3_S: return iq3_s_to_float;
	case SL_TYPE_IQ1_S: return iq1_s_to_float;
	case SL_TYPE_IQ1_M: return iq1_m_to_float;
	case SL_TYPE_IQ4_NL: return iq4_nl_to_float;
	case SL_TYPE_IQ4_XS: return iq4_xs_to_float;
	case SL_TYPE_TQ1_0: return tq1_0_to_float;
	case SL_TYPE_TQ2_0: return tq2_0_to_float;
	default: return NULL;
	}
}

/* Fill the iq fields of k for this type; untouched for other types. */
void sl_quant_iq_kernels(uint32_t type, struct sl_kernels *k)
{
	sl_to_float_fn f = sl_iq_to_float(type);
	if (!f)
		return;
	k->to_float = f;
	k->vec_dot = sl_iq_vec_dot(type);
	k->from_float = sl_iq_from_float(type);
}
