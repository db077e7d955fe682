/* SPDX-License-Identifier: MIT */
/*
 * firmware/fw_get_rows.cu — embedding rows as floats: y[i][:] = row ids[i] of W, each element
 * dequantized with the very float expression of ggml's dequantize_row_* (runtime/quant/), so the
 * result is bit-exact (nvcc runs with --fmad=false: d * q + m is not fused).
 * grid (n), block 256: a block per row, threads stride over its elements.
 */
#include "firmware/fw_common.h"

/* Element i (0 <= i < QK) of one block. */
FW_FN float fw_deq_q8_0(const fw_u8 *b, int i) { return (fw_i8)b[2 + i] * fw_ldh(b); }
FW_FN float fw_deq_q4_0(const fw_u8 *b, int i)
{
	const int q = i < 16 ? (b[2 + i] & 0x0F) : (b[2 + i - 16] >> 4);
	return (q - 8) * fw_ldh(b);
}
FW_FN float fw_deq_q4_1(const fw_u8 *b, int i)
{
	const int q = i < 16 ? (b[4 + i] & 0x0F) : (b[4 + i - 16] >> 4);
	return q * fw_ldh(b) + fw_ldh(b + 2);
}
FW_FN float fw_deq_q5_0(const fw_u8 *b, int i)
{
	const unsigned qh = (unsigned)fw_ld32_a2(b + 2);
	const int lo = i < 16 ? (b[6 + i] & 0x0F) : (b[6 + i - 16] >> 4);
	return ((lo | (int)(((qh >> i) & 1u) << 4)) - 16) * fw_ldh(b);
}
FW_FN float fw_deq_q5_1(const fw_u8 *b, int i)
{
	const unsigned qh = (unsigned)fw_ld32_a4(b + 4);
	const int lo = i < 16 ? (b[8 + i] & 0x0F) : (b[8 + i - 16] >> 4);
	return (lo | (int)(((qh >> i) & 1u) << 4)) * fw_ldh(b) + fw_ldh(b + 2);
}
FW_FN float fw_deq_q2_K(const fw_u8 *b, int e)
{
	const int sc = b[e / 16];
	const int q = (b[16 + (e / 128) * 32 + e % 32] >> (((e % 128) / 32) * 2)) & 3;
	const float dl = fw_ldh(b + 80) * (sc & 0xF), ml = fw_ldh(b + 82) * (sc >> 4);
	return dl * q - ml;
}
FW_FN float fw_deq_q3_K(const fw_u8 *b, int e)
{
	const int lo = (b[32 + (e / 128) * 32 + e % 32] >> (((e % 128) / 32) * 2)) & 3;
	const int hi = (b[e % 32] >> (e / 32)) & 1;
	const int j = e / 16;
	const int slo = j < 8 ? b[96 + j] & 0xF : b[96 + j - 8] >> 4;
	const int shi = (b[96 + 8 + (j & 3)] >> (2 * (j >> 2))) & 3;
	const float dl = fw_ldh(b + 108) * (float)((slo | (shi << 4)) - 32);
	return dl * (lo - (hi ? 0 : 4));
}
FW_FN void fw_deq_k4_scale(const fw_u8 *q, int j, int *d, int *m)
{
	if (j < 4) {
		*d = q[j] & 63;
		*m = q[j + 4] & 63;
	} else {
		*d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
		*m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
	}
}
FW_FN float fw_deq_q4_K(const fw_u8 *b, int e)
{
	int sc, m;
	fw_deq_k4_scale(b + 4, e / 32, &sc, &m);
	const int q = (b[16 + (e / 64) * 32 + e % 32] >> (((e % 64) / 32) * 4)) & 0xF;
	const float d1 = fw_ldh(b) * sc, m1 = fw_ldh(b + 2) * m;
	return d1 * q - m1;
}
FW_FN float fw_deq_q5_K(const fw_u8 *b, int e)
{
	int sc, m;
	fw_deq_k4_scale(b + 4, e / 32, &sc, &m);
	const int lo = (b[48 + (e / 64) * 32 + e % 32] >> (((e % 64) / 32) * 4)) & 0xF;
	const int hi = (b[16 + e % 32] >> (e / 32)) & 1;
	const float d1 = fw_ldh(b) * sc, m1 = fw_ldh(b + 2) * m;
	return d1 * (lo + (hi ? 16 : 0)) - m1;
}
FW_FN float fw_deq_q6_K(const fw_u8 *b, int e)
{
	const int c = e / 128, r = e % 128, l = r % 32, g = r / 32;
	const int lo = (b[c * 64 + l + (g & 1) * 32] >> ((g >> 1) * 4)) & 0xF;
	const int hi = (b[128 + c * 32 + l] >> (2 * g)) & 3;
	const int sc = (fw_i8)b[192 + e / 16];
	return fw_ldh(b + 208) * sc * ((lo | (hi << 4)) - 32);
}
FW_FN float fw_deq_f32(const fw_u8 *b, int i) { return fw_ldf(b); }
FW_FN float fw_deq_f16(const fw_u8 *b, int i) { return fw_ldh(b); }
FW_FN float fw_deq_bf16(const fw_u8 *b, int i) { return fw_bf2f(fw_ld16(b)); }

#define FW_GET_ROWS(T, QK, BYTES)                                                                           \
	FW_KERNEL sl_get_rows_##T(const void *w, const int *ids, float *y, long long cols, int n)           \
	{                                                                                                   \
		const long long i = blockIdx.x;                                                             \
		const fw_u8 *row = (const fw_u8 *)w + (long long)ids[i] * (cols / (QK)) * (BYTES);          \
		for (long long e = threadIdx.x; e < cols; e += blockDim.x)                                  \
			y[i * cols + e] = fw_deq_##T(row + (e / (QK)) * (BYTES), (int)(e % (QK)));          \
	}

FW_GET_ROWS(f32, 1, 4)
FW_GET_ROWS(f16, 1, 2)
FW_GET_ROWS(bf16, 1, 2)
FW_GET_ROWS(q8_0, 32, 34)
FW_GET_ROWS(q4_0, 32, 18)
FW_GET_ROWS(q4_1, 32, 20)
FW_GET_ROWS(q5_0, 32, 22)
FW_GET_ROWS(q5_1, 32, 24)
FW_GET_ROWS(q2_K, 256, 84)
FW_GET_ROWS(q3_K, 256, 110)
FW_GET_ROWS(q4_K, 256, 144)
FW_GET_ROWS(q5_K, 256, 176)
FW_GET_ROWS(q6_K, 256, 210)
