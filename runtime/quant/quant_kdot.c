/* SPDX-License-Identifier: MIT */
/*
 * runtime/quant/quant_kdot.c — scalar dots of the K-quants against q8_K.
 *
 * Each weight block is first unpacked into its integer levels (what the
 * dequantizer multiplies by d*scale), so the dot is exact integer arithmetic
 * per sub-block followed by one float multiply-add per super-block:
 *   sum = dy * (d * sum_j sc_j * <q_j, y_j>  -  dmin * sum_j m_j * bsum_j)
 * The min term uses q8_K's precomputed per-16 sums (bsums).  Simple rather
 * than fast: this is the reference the SIMD kernels are tested against.
 */
#include "quant/blocks.h"

/* Integer dot of n levels with n activations. */
static inline int idot(const int8_t *a, const int8_t *b, int n)
{
	int s = 0;
	for (int i = 0; i < n; i++)
		s += a[i] * b[i];
	return s;
}

static void q2_K_vec_dot(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_q2_K *x = vx;
	const struct block_q8_K *y = vy;
	float sum = 0;
	for (int64_t i = 0; i < n / QK_K; i++) {
		int8_t q[QK_K];
		for (int e = 0; e < QK_K; e++)
			q[e] = (int8_t)((x[i].qs[(e / 128) * 32 + e % 32] >> (((e % 128) / 32) * 2)) & 3);
		int isum = 0, msum = 0;
		for (int j = 0; j < 16; j++) {
			isum += (x[i].scales[j] & 0xF) * idot(q + 16 * j, y[i].qs + 16 * j, 16);
			msum += (x[i].scales[j] >> 4) * y[i].bsums[j];
		}
		sum += y[i].d * FP16(x[i].d) * isum - y[i].d * FP16(x[i].dmin) * msum;
	}
	*s = sum;
}

static void q3_K_vec_dot(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_q3_K *x = vx;
	const struct block_q8_K *y = vy;
	float sum = 0;
	for (int64_t i = 0; i < n / QK_K; i++) {
		int8_t q[QK_K], sc[16];
		for (int e = 0; e < QK_K; e++) {
			int lo = (x[i].qs[(e / 128) * 32 + e % 32] >> (((e % 128) / 32) * 2)) & 3;
			int hi = (x[i].hmask[e % 32] >> (e / 32)) & 1;
			q[e] = (int8_t)(lo - (hi ? 0 : 4));
		}
		sl_q3k_scales(x[i].scales, sc);
		int isum = 0;
		for (int j = 0; j < 16; j++)
			isum += sc[j] * idot(q + 16 * j, y[i].qs + 16 * j, 16);
		sum += y[i].d * FP16(x[i].d) * isum;
	}
	*s = sum;
}

/* q4_K and q5_K share the 8 x 32 layout; hbits adds the fifth bit for q5_K. */
static float k4_block_dot(const uint8_t *scales, uint16_t d, uint16_t dmin, const int8_t *q, const struct block_q8_K *y)
{
	int isum = 0, msum = 0;
	for (int j = 0; j < 8; j++) {
		uint8_t sc, m;
		sl_get_scale_min_k4(j, scales, &sc, &m);
		isum += sc * idot(q + 32 * j, y->qs + 32 * j, 32);
		msum += m * (y->bsums[2 * j] + y->bsums[2 * j + 1]);
	}
	return y->d * FP16(d) * isum - y->d * FP16(dmin) * msum;
}

static void q4_K_vec_dot(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_q4_K *x = vx;
	const struct block_q8_K *y = vy;
	float sum = 0;
	for (int64_t i = 0; i < n / QK_K; i++) {
		int8_t q[QK_K];
		for (int e = 0; e < QK_K; e++)
			q[e] = (int8_t)((x[i].qs[(e / 64) * 32 + e % 32] >> (((e % 64) / 32) * 4)) & 0xF);
		sum += k4_block_dot(x[i].scales, x[i].d, x[i].dmin, q, &y[i]);
	}
	*s = sum;
}

static void q5_K_vec_dot(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_q5_K *x = vx;
	const struct block_q8_K *y = vy;
	float sum = 0;
	for (int64_t i = 0; i < n / QK_K; i++) {
		int8_t q[QK_K];
		for (int e = 0; e < QK_K; e++) {
			int lo = (x[i].qs[(e / 64) * 32 + e % 32] >> (((e % 64) / 32) * 4)) & 0xF;
			int hi = (x[i].qh[e % 32] >> (e / 32)) & 1;
			q[e] = (int8_t)(lo | (hi << 4));
		}
		sum += k4_block_dot(x[i].scales, x[i].d, x[i].dmin, q, &y[i]);
	}
	*s = sum;
}

static void q6_K_vec_dot(int64_t n, float *s, const void *vx, const void *vy)
{
	const struct block_q6_K *x = vx;
	const struct block_q8_K *y = vy;
	float sum = 0;
	for (int64_t i = 0; i < n / QK_K; i++) {
		int8_t q[QK_K];
		for (int e = 0; e < QK_K; e++) {
			int c = e / 128, r = e % 128, l = r % 32, g = r / 32; /* g: which of the 4 groups of 32 */
			int lo = (x[i].ql[c * 64 + l + (g & 1) * 32] >> ((g >> 1) * 4)) & 0xF;
			int hi = (x[i].qh[c * 32 + l] >> (2 * g)) & 3;
			q[e] = (int8_t)((lo | (hi << 4)) - 32);
		}
		int isum = 0;
		for (int j = 0; j < 16; j++)
			isum += x[i].scales[j] * idot(q + 16 * j, y[i].qs + 16 * j, 16);
		sum += y[i].d * FP16(x[i].d) * isum;
	}
	*s = sum;
}

void sl_quant_kdot_kernels(uint32_t type, struct sl_kernels *k)
{
	switch (type) {
	case SL_TYPE_Q2_K: k->vec_dot = q2_K_vec_dot; break;
	case SL_TYPE_Q3_K: k->vec_dot = q3_K_vec_dot; break;
	case SL_TYPE_Q4_K: k->vec_dot = q4_K_vec_dot; break;
	case SL_TYPE_Q5_K: k->vec_dot = q5_K_vec_dot; break;
	case SL_TYPE_Q6_K: k->vec_dot = q6_K_vec_dot; break;
	default: break;
	}
}
