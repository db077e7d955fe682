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

/* One 32-element block of q8_0 (bbytes 34: d, qs[32]) or q8_1 (36: d, s, qs[32]) at b, by a full
 * warp: lane holds element lane, v.  Shared by the conversion kernels and the mmv kernels that
 * convert their own activations (fw_mmv.cu), so both write the same bytes. */
FW_FN void fw_q8_32_block(float v, fw_u8 *b, int lane, int with_sum)
{
	const float amax = fw_warp_max(fabsf(v));
	const float d = amax / 127;
	const float id = d != 0.0f ? 1.0f / d : 0.0f;
	const int q = (int)roundf(v * id);
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

FW_FN void fw_quant_q8_32(const float *x, void *y, long long cols, int with_sum, int bbytes)
{
	const long long row = blockIdx.y;
	const long long e = (long long)blockIdx.x * 256 + threadIdx.x;
	/* cols is a multiple of 32, so a warp is wholly inside or wholly outside the row */
	if (e >= cols)
		return;
	fw_u8 *b = (fw_u8 *)y + row * (cols / 32) * bbytes + (e / 32) * bbytes;
	fw_q8_32_block(x[row * cols + e], b, threadIdx.x & 31, with_sum);
}

FW_KERNEL sl_quantize_q8_0(const float *x, void *y, long long cols, int n)
{
	fw_quant_q8_32(x, y, cols, 0, 34);
}

FW_KERNEL sl_quantize_q8_1(const float *x, void *y, long long cols, int n)
{
	fw_quant_q8_32(x, y, cols, 1, 36);
}

/* Warp argmax of |v|, the lowest index on ties (as the reference quantizer's first maximum): every
 * lane ends with the winning value in *bv and its index in *bi. */
FW_FN void fw_warp_absmax(float *bv, int *bi)
{
	FW_UNROLL
	for (int m = 16; m > 0; m >>= 1) {
		const float ov = __shfl_xor_sync(0xffffffffu, *bv, m);
		const int oi = __shfl_xor_sync(0xffffffffu, *bi, m);
		if (fabsf(ov) > fabsf(*bv) || (fabsf(ov) == fabsf(*bv) && oi < *bi)) {
			*bv = ov;
			*bi = oi;
		}
	}
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
	fw_warp_absmax(&bv, &bi);
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

/*
 * The same conversions by one warp at a time, for the mmv kernels that convert their own activations
 * (fw_mmv.cu's sl_mmv_conv_T): x is n * cols floats (rows packed), y gets the packed converted rows;
 * the block's warps (warp w of nw, lane) share the work, and the caller syncs after.  The bytes are
 * those of the kernels above (the same rounding, the same tie rules).
 */
FW_FN void fw_conv_q8_32_warps(const float *x, fw_u8 *y, long long elems, int with_sum, int w, int nw, int lane)
{
	const int bbytes = with_sum ? 36 : 34;
	for (long long k = w; k < elems / 32; k += nw)
		fw_q8_32_block(x[k * 32 + lane], y + k * bbytes, lane, with_sum);
}

/* q8_K by a warp per 256-element block: lane takes elements 8 lane .. 8 lane + 7, so the per-16 sums
 * are lane pairs.  The scale is the element of largest magnitude, the first on ties, as
 * sl_quantize_q8_K (and the CPU's strict > scan). */
FW_FN void fw_conv_q8_K_warps(const float *x, fw_u8 *y, long long elems, int w, int nw, int lane)
{
	for (long long k = w; k < elems / 256; k += nw) {
		const float *xk = x + k * 256 + 8 * lane;
		fw_u8 *b = y + k * 292;
		float v[8];
		FW_UNROLL
		for (int j = 0; j < 8; j++)
			v[j] = xk[j];
		float bv = v[0];
		int bi = 8 * lane;
		FW_UNROLL
		for (int j = 1; j < 8; j++)
			if (fabsf(v[j]) > fabsf(bv)) {
				bv = v[j];
				bi = 8 * lane + j;
			}
		fw_warp_absmax(&bv, &bi);
		int s = 0;
		float d = 0.0f;
		if (bv != 0.0f) {
			const float iscale = -127.f / bv;
			FW_UNROLL
			for (int j = 0; j < 8; j++) {
				int q = (int)rintf(iscale * v[j]); /* nearest_int: round half to even */
				if (q > 127)
					q = 127;
				b[4 + 8 * lane + j] = (fw_u8)(fw_i8)q;
				s += q;
			}
			d = 1 / iscale;
		} else {
			FW_UNROLL
			for (int j = 0; j < 8; j++)
				b[4 + 8 * lane + j] = 0;
		}
		s += __shfl_xor_sync(0xffffffffu, s, 1);
		if (!(lane & 1))
			fw_st16(b + 260 + lane, (fw_u16)(short)s);
		if (lane == 0) {
			const unsigned du = fw_f2u(d);
			fw_st16(b, (fw_u16)(du & 0xffffu));
			fw_st16(b + 2, (fw_u16)(du >> 16));
		}
	}
}

/* f16 / bf16: element by element over the block's threads (t of nt). */
FW_FN void fw_conv_f16_threads(const float *x, fw_u8 *y, long long elems, int t, int nt)
{
	for (long long i = t; i < elems; i += nt)
		((fw_u16 *)y)[i] = fw_f2h(x[i]);
}

FW_FN void fw_conv_bf16_threads(const float *x, fw_u8 *y, long long elems, int t, int nt)
{
	for (long long i = t; i < elems; i += nt)
		((fw_u16 *)y)[i] = fw_f2bf(x[i]);
}
