/* SPDX-License-Identifier: MIT */
/*
 * firmware/fw_convert.cu — activations into the weight type's vec_dot_type before a matrix product,
 * with the CPU's reference rounding (runtime/quant/quant_legacy.c, quant_k.c, fp16.c) so the integer
 * dots that follow see the same bytes.  grid (ceil(cols / 256), n), block 256.
 *
 * q8_0 / q8_1: one warp per 32-element block.  q8_K: one CUDA block per 256-element block.
 * nvcc is run with --fmad=false, so x * id + c is two roundings, as on the CPU.
 */
#include "firmware/fw_common.h"

FW_FN void fw_quant_q8_32(const float *x, void *y, long long cols, int with_sum, int bbytes)
{
	const long long row = blockIdx.y;
	const long long e = (long long)blockIdx.x * 256 + threadIdx.x;
	const int lane = threadIdx.x & 31;
	/* cols is a multiple of 32, so a warp is wholly inside or wholly outside the row */
	if (e >= cols)
		return;
	const float v = x[row * cols + e];
	const float amax = fw_warp_max(fabsf(v));
	const float d = amax / 127;
	const float id = d != 0.0f ? 1.0f / d : 0.0f;
	const int q = (int)roundf(v * id);
	fw_u8 *b = (fw_u8 *)y + row * (cols / 32) * bbytes + (e / 32) * bbytes;
	b[(with_sum ? 4 : 2) + lane] = (fw_u8)(fw_i8)q;
	if (with_sum) {
		const int s = fw_warp_sum_i((int)(fw_i8)q);
		if (lane == 0) {
			fw_st16(b, fw_f2h(d));
			fw_st16(b + 2, fw_f2h(s * d));
		}
	} else if (lane == 0) {
		fw_st16(b, fw_f2h(d));
	}
}

FW_KERNEL sl_quantize_q8_0(const float *x, void *y, long long cols, int n)
{
	fw_quant_q8_32(x, y, cols, 0, 34);
}

FW_KERNEL sl_quantize_q8_1(const float *x, void *y, long long cols, int n)
{
	fw_quant_q8_32(x, y, cols, 1, 36);
}

/* q8_K: d (float), qs[256], bsums[16] (int16) = 292 bytes.  The scale comes from the element of
 * largest magnitude, the first one on ties (the CPU's strict > scan), with its sign. */
FW_KERNEL sl_quantize_q8_K(const float *x, void *y, long long cols, int n)
{
	__shared__ float s_v[8];
	__shared__ int s_i[8];
	__shared__ int s_sum[16];
	const long long row = blockIdx.y;
	const int t = threadIdx.x, lane = t & 31, warp = t >> 5;
	const long long e = (long long)blockIdx.x * 256 + t;
	const float v = x[row * cols + e]; /* cols is a multiple of 256: every thread is in range */
	float bv = v;
	int bi = t;
	FW_UNROLL
	for (int m = 16; m > 0; m >>= 1) {
		const float ov = __shfl_xor_sync(0xffffffffu, bv, m);
		const int oi = __shfl_xor_sync(0xffffffffu, bi, m);
		if (fabsf(ov) > fabsf(bv) || (fabsf(ov) == fabsf(bv) && oi < bi)) {
			bv = ov;
			bi = oi;
		}
	}
	if (lane == 0) {
		s_v[warp] = bv;
		s_i[warp] = bi;
	}
	__syncthreads();
	float max = s_v[0];
	int mi = s_i[0];
	for (int w = 1; w < 8; w++)
		if (fabsf(s_v[w]) > fabsf(max) || (fabsf(s_v[w]) == fabsf(max) && s_i[w] < mi)) {
			max = s_v[w];
			mi = s_i[w];
		}
	fw_u8 *b = (fw_u8 *)y + row * (cols / 256) * 292 + (long long)blockIdx.x * 292;
	if (max == 0.0f) {
		b[4 + t] = 0;
		if (t < 16)
			fw_st16(b + 260 + 2 * t, 0);
		if (t == 0)
			*(float *)b = 0.0f;
		return;
	}
	const float iscale = -127.f / max;
	/* nearest_int: round half to even (|iscale * v| <= 127) */
	int q = (int)rintf(iscale * v);
	if (q > 127)
		q = 127;
	b[4 + t] = (fw_u8)(fw_i8)q;
	/* per-16 sums: lanes 0-15 and 16-31 of each warp */
	int s = q;
	FW_UNROLL
	for (int m = 8; m > 0; m >>= 1)
		s += __shfl_xor_sync(0xffffffffu, s, m);
	if ((lane & 15) == 0)
		s_sum[t >> 4] = s;
	__syncthreads();
	if (t < 16)
		fw_st16(b + 260 + 2 * t, (fw_u16)(short)s_sum[t]);
	if (t == 0) {
		const float d = 1 / iscale;
		fw_u8 *db = b;
		unsigned du = fw_f2u(d);
		fw_st16(db, (fw_u16)(du & 0xffffu));
		fw_st16(db + 2, (fw_u16)(du >> 16));
	}
}

FW_KERNEL sl_convert_f16(const float *x, void *y, long long cols, int n)
{
	const long long row = blockIdx.y, e = (long long)blockIdx.x * 256 + threadIdx.x;
	if (e < cols)
		((fw_u16 *)y)[row * cols + e] = fw_f2h(x[row * cols + e]);
}

FW_KERNEL sl_convert_bf16(const float *x, void *y, long long cols, int n)
{
	const long long row = blockIdx.y, e = (long long)blockIdx.x * 256 + threadIdx.x;
	if (e < cols)
		((fw_u16 *)y)[row * cols + e] = fw_f2bf(x[row * cols + e]);
}
