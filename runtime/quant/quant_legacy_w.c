/* SPDX-License-Identifier: MIT */
/*
 * runtime/quant/quant_legacy_w.c — q4_0, q4_1, q5_0 and q5_1 with an importance matrix, ports of
 * ggml's quantize_row_q{4,5}_{0,1}_impl.  ggml uses quant_weights for these four (not for q8_0):
 * each block of 32 weighs its elements by qw * sqrt(sigma2 + x^2), sigma2 the mean square of the
 * whole row, and fits a symmetric scale (make_qx_quants, _0 types) or a scale and a min
 * (make_qkx3_quants, _1 types).  llama.cpp reaches them as the row-length fallbacks of the k-quant
 * mixes (q4_K -> q5_0, q5_K -> q5_1) and in the q4_0..q5_1 mixes, so without them those tensors
 * came out otherwise than llama-quantize --imatrix makes them.
 */
#include "quant/blocks.h"
#include "quant/iq_grid.h"

/* Levels of a block of 32 into the 4 low bits of qs and the 5th bit of qh (the 5-bit types). */
static void pack(const uint8_t *L, uint8_t *qs, uint8_t *qh, bool five)
{
	uint32_t h = 0;
	for (int j = 0; j < 16; j++) {
		qs[j] = (uint8_t)((L[j] & 0x0F) | (L[j + 16] & 0x0F) << 4);
		h |= (uint32_t)((L[j] & 0x10u) >> 4) << j;
		h |= (uint32_t)((L[j + 16] & 0x10u) >> 4) << (j + 16);
	}
	if (five)
		memcpy(qh, &h, sizeof h);
}

/* The _0 types: symmetric levels in [-nmax, nmax) stored + nmax. */
static void quantize_0(const float *x, int64_t n, const float *qw, int nmax, uint16_t *d, uint8_t *qs,
		       uint8_t *qh, size_t stride)
{
	float weight[32];
	int8_t L[32];
	const float sigma2 = sl_iq_sigma2(x, (int)n, 1);
	for (int64_t ib = 0; ib < n / 32; ib++) {
		sl_iq_weights(x + 32 * ib, qw + 32 * ib, sigma2, 0, 32, weight, NULL);
		const float s = sl_make_qx_quants(32, nmax, x + 32 * ib, L, 1, weight);
		uint16_t h = sl_fp32_to_fp16(s);
		memcpy((char *)d + ib * stride, &h, sizeof h);
		pack((const uint8_t *)L, qs + ib * stride, qh ? qh + ib * stride : NULL, qh != NULL);
	}
}

/* The _1 types: levels in [0, nmax] with a min. */
static void quantize_1(const float *x, int64_t n, const float *qw, int nmax, uint16_t *d, uint16_t *m, uint8_t *qs,
		       uint8_t *qh, size_t stride)
{
	float weight[32], min;
	uint8_t L[32], Laux[32];
	const float sigma2 = sl_iq_sigma2(x, (int)n, 1);
	for (int64_t ib = 0; ib < n / 32; ib++) {
		sl_iq_weights(x + 32 * ib, qw + 32 * ib, sigma2, 0, 32, weight, NULL);
		const float s = sl_make_qkx3_quants(32, nmax, x + 32 * ib, weight, L, &min, Laux, -0.9f, 0.05f, 36);
		const uint16_t hd = sl_fp32_to_fp16(s), hm = sl_fp32_to_fp16(-min);
		memcpy((char *)d + ib * stride, &hd, sizeof hd);
		memcpy((char *)m + ib * stride, &hm, sizeof hm);
		pack(L, qs + ib * stride, qh ? qh + ib * stride : NULL, qh != NULL);
	}
}

static void q4_0_w(const float *x, void *vy, int64_t n, const float *qw)
{
	struct block_q4_0 *y = vy;
	quantize_0(x, n, qw, 8, &y->d, y->qs, NULL, sizeof *y);
}

static void q4_1_w(const float *x, void *vy, int64_t n, const float *qw)
{
	struct block_q4_1 *y = vy;
	quantize_1(x, n, qw, 15, &y->d, &y->m, y->qs, NULL, sizeof *y);
}

static void q5_0_w(const float *x, void *vy, int64_t n, const float *qw)
{
	struct block_q5_0 *y = vy;
	quantize_0(x, n, qw, 16, &y->d, y->qs, y->qh, sizeof *y);
}

static void q5_1_w(const float *x, void *vy, int64_t n, const float *qw)
{
	struct block_q5_1 *y = vy;
	quantize_1(x, n, qw, 31, &y->d, &y->m, y->qs, y->qh, sizeof *y);
}

sl_from_float_w_fn sl_quant_legacy_weighted(uint32_t type)
{
	switch (type) {
	case SL_TYPE_Q4_0: return q4_0_w;
	case SL_TYPE_Q4_1: return q4_1_w;
	case SL_TYPE_Q5_0: return q5_0_w;
	case SL_TYPE_Q5_1: return q5_1_w;
	default: return NULL;
	}
}
