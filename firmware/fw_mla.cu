/* SPDX-License-Identifier: MIT */
/*
 * firmware/fw_mla.cu — deepseek2's ops: the latent cache rows (mla_kv), absorbed multi-head latent
 * attention (mla_attention) and the weighted sum of routed experts (add_rows), with the CPU
 * backend's arithmetic (runtime/backend/cpu/cpu_ops.c).
 *
 * Weights are read element by element with get_rows' dequantization (fw_deq_*, bit-exact with
 * to_float), as the CPU converts them to floats before its dots: the same numbers go into the
 * products, only the order of the float sums differs.  The type is a parameter (ggml's number),
 * not a kernel per type: the weight reads here are a small part of a deepseek2 layer (the experts'
 * matmuls are the bulk), and 13 x 13 kernels for every (wk, wv) pair would buy little.
 *
 * Included by firmware.cu after fw_get_rows.cu, whose fw_deq_* it uses.
 */
#include "firmware/fw_common.h"

#define FW_MLA_WARPS (SL_FW_MLA_BLOCK / 32)
#define FW_MLA_PL (SL_FW_MLA_MAX_LORA / 32) /* latent dims per lane */
#define FW_MLA_PR (SL_FW_MLA_MAX_ROPE / 32) /* rope dims per lane */
#define FW_MLA_CHUNK 4

/* A weight type's block: QK elements in BYTES bytes.  X(number, tag, QK, BYTES). */
#define FW_MLA_TYPES(X)                                                                      \
	X(0, f32, 1, 4) X(1, f16, 1, 2) X(2, q4_0, 32, 18) X(3, q4_1, 32, 20) X(6, q5_0, 32, 22) \
	X(7, q5_1, 32, 24) X(8, q8_0, 32, 34) X(10, q2_K, 256, 84) X(11, q3_K, 256, 110)       \
	X(12, q4_K, 256, 144) X(13, q5_K, 256, 176) X(14, q6_K, 256, 210) X(30, bf16, 1, 2)

/* Element e of a row of type `type` (e < the row's columns). */
FW_FN float fw_deq_elem(int type, const fw_u8 *row, int e)
{
	switch (type) {
#define FW_DEQ_CASE(num, T, QK, BYTES) \
	case num:                      \
		return fw_deq_##T(row + (e / (QK)) * (BYTES), e % (QK));
		FW_MLA_TYPES(FW_DEQ_CASE)
#undef FW_DEQ_CASE
	}
	return 0.0f; /* the backend refuses other types before launching */
}

FW_FN long long fw_row_bytes(int type, long long cols)
{
	switch (type) {
#define FW_RB_CASE(num, T, QK, BYTES) \
	case num:                     \
		return cols / (QK) * (BYTES);
		FW_MLA_TYPES(FW_RB_CASE)
#undef FW_RB_CASE
	}
	return 0;
}

/* Rotate adjacent pairs of v[0, d_rope) to position pos, angles divided by ff[d] when ff; thread t0
 * of step takes pairs t0, t0 + step, ... (cpu_ops.c's rope_pairs). */
FW_FN void fw_rope_pairs(float *v, int d_rope, float pos, float freq_base, const float *ff, int t0, int step)
{
	for (int d = t0; d < d_rope / 2; d += step) {
		float theta = pos * powf(freq_base, -2.0f * (float)d / (float)d_rope);
		if (ff)
			theta /= ff[d];
		const float cs = cosf(theta), sn = sinf(theta), a = v[2 * d], b = v[2 * d + 1];
		v[2 * d] = a * cs - b * sn;
		v[2 * d + 1] = a * sn + b * cs;
	}
}

/* grid (n), block 256: row i's latent part RMS-normalized (sum of squares in double, as the CPU),
 * its rope part rotated to position pos0 + i. */
FW_KERNEL sl_mla_kv(float *rows, const float *w, const float *ff, int kv_lora, int d_rope, int pos0, int n,
		    float eps, float freq_base)
{
	__shared__ double red[32];
	const int i = blockIdx.x, t = threadIdx.x, lane = t & 31, warp = t >> 5;
	float *r = rows + (long long)i * (kv_lora + d_rope);
	double ss = 0;
	for (int j = t; j < kv_lora; j += blockDim.x)
		ss += (double)r[j] * r[j];
	ss = fw_warp_sum_d(ss);
	if (lane == 0)
		red[warp] = ss;
	__syncthreads();
	ss = lane < (int)(blockDim.x >> 5) ? red[lane] : 0.0;
	ss = fw_warp_sum_d(ss);
	const float scale = 1.0f / sqrtf((float)(ss / kv_lora) + eps);
	for (int j = t; j < kv_lora; j += blockDim.x)
		r[j] = r[j] * scale * w[j];
	fw_rope_pairs(r + kv_lora, d_rope, (float)(pos0 + i), freq_base, ff, t, blockDim.x);
}

/*
 * grid (n_head, n), block 128: head h of query token i (position pos0 + i).
 *   1. rope q's d_rope part in place (this block's own slice of q);
 *   2. q_lat = Wk_h q_nope into shared memory (split: a warp per latent row; legacy: Wk_h is
 *      d_nope rows of kv_lora, a thread per latent column, the rows summed in the CPU's order);
 *   3. the context walk of sl_attention over cache rows [0, pos0 + i]: warp w takes positions
 *      4w.. 4 at a time, lanes split the latent (16 each at most) and rope dims, online softmax;
 *   4. the warps' partial o_lat merged in shared memory;
 *   5. out_h = Wv_h o_lat, a warp per output row.
 */
FW_KERNEL sl_mla_attention(float *out, float *q, const float *cache, const void *wk, const void *wv, const float *ff,
			   int wk_type, int wv_type, int n_head, int d_nope, int d_rope, int d_v, int kv_lora, int legacy,
			   int pos0, int n, float freq_base, float scale)
{
	__shared__ float s_lat[SL_FW_MLA_MAX_LORA]; /* q_lat, then o_lat */
	__shared__ float s_acc[FW_MLA_WARPS][SL_FW_MLA_MAX_LORA];
	__shared__ float s_m[FW_MLA_WARPS], s_l[FW_MLA_WARPS];
	const int h = blockIdx.x, i = blockIdx.y, t = threadIdx.x, lane = t & 31, warp = t >> 5;
	const int L = kv_lora, Dn = d_nope, Dr = d_rope, Dv = d_v;
	const int len = pos0 + i + 1;
	const long long crow = (long long)L + Dr;
	float *qh = q + ((long long)i * n_head + h) * (Dn + Dr);

	/* 1 */
	fw_rope_pairs(qh + Dn, Dr, (float)(pos0 + i), freq_base, ff, t, blockDim.x);
	__syncthreads(); /* the roped q_pe, written to global memory, is read by other threads below */

	/* 2 */
	if (!legacy) {
		const long long rb = fw_row_bytes(wk_type, Dn);
		for (int c = warp; c < L; c += FW_MLA_WARPS) {
			const fw_u8 *row = (const fw_u8 *)wk + ((long long)h * L + c) * rb;
			float a = 0.0f;
			for (int d = lane; d < Dn; d += 32)
				a += fw_deq_elem(wk_type, row, d) * qh[d];
			a = fw_warp_sum(a);
			if (lane == 0)
				s_lat[c] = a;
		}
	} else {
		const long long rb = fw_row_bytes(wk_type, L);
		const fw_u8 *base = (const fw_u8 *)wk + (long long)h * (Dn + Dv) * rb;
		for (int c = t; c < L; c += blockDim.x) {
			float a = 0.0f;
			for (int d = 0; d < Dn; d++)
				a += fw_deq_elem(wk_type, base + d * rb, c) * qh[d];
			s_lat[c] = a;
		}
	}
	__syncthreads();

	/* 3 */
	float qv[FW_MLA_PL], acc[FW_MLA_PL], qr[FW_MLA_PR];
	FW_UNROLL
	for (int k = 0; k < FW_MLA_PL; k++) {
		const int c = k * 32 + lane;
		qv[k] = c < L ? s_lat[c] : 0.0f;
		acc[k] = 0.0f;
	}
	FW_UNROLL
	for (int k = 0; k < FW_MLA_PR; k++) {
		const int d = k * 32 + lane;
		qr[k] = d < Dr ? qh[Dn + d] : 0.0f;
	}
	float m = -fw_u2f(0x7f800000u), l = 0.0f;
	for (int p0 = warp * FW_MLA_CHUNK; p0 < len; p0 += FW_MLA_CHUNK * FW_MLA_WARPS) {
		float s[FW_MLA_CHUNK];
		FW_UNROLL
		for (int j = 0; j < FW_MLA_CHUNK; j++) {
			s[j] = 0.0f;
			if (p0 + j < len) {
				const float *cr = cache + (p0 + j) * crow;
				FW_UNROLL
				for (int k = 0; k < FW_MLA_PL; k++) {
					const int c = k * 32 + lane;
					if (c < L)
						s[j] += qv[k] * cr[c];
				}
				FW_UNROLL
				for (int k = 0; k < FW_MLA_PR; k++) {
					const int d = k * 32 + lane;
					if (d < Dr)
						s[j] += qr[k] * cr[L + d];
				}
			}
		}
		float mn = m;
		FW_UNROLL
		for (int j = 0; j < FW_MLA_CHUNK; j++) {
			s[j] = fw_warp_sum(s[j]) * scale; /* warp-uniform */
			if (p0 + j < len)
				mn = fmaxf(mn, s[j]);
		}
		const float corr = expf(m - mn);
		l *= corr;
		FW_UNROLL
		for (int k = 0; k < FW_MLA_PL; k++)
			acc[k] *= corr;
		FW_UNROLL
		for (int j = 0; j < FW_MLA_CHUNK; j++) {
			if (p0 + j < len) {
				const float e = expf(s[j] - mn);
				const float *cr = cache + (p0 + j) * crow;
				l += e;
				FW_UNROLL
				for (int k = 0; k < FW_MLA_PL; k++) {
					const int c = k * 32 + lane;
					if (c < L)
						acc[k] += e * cr[c];
				}
			}
		}
		m = mn;
	}

	/* 4: a warp that saw no position has m = -inf and weight 0 */
	if (lane == 0) {
		s_m[warp] = m;
		s_l[warp] = l;
	}
	FW_UNROLL
	for (int k = 0; k < FW_MLA_PL; k++) {
		const int c = k * 32 + lane;
		if (c < L)
			s_acc[warp][c] = acc[k];
	}
	__syncthreads();
	float mx = s_m[0];
	for (int w = 1; w < FW_MLA_WARPS; w++)
		mx = fmaxf(mx, s_m[w]);
	float wsum = 0.0f, wt[FW_MLA_WARPS];
	FW_UNROLL
	for (int w = 0; w < FW_MLA_WARPS; w++) {
		wt[w] = s_l[w] > 0.0f ? expf(s_m[w] - mx) : 0.0f;
		wsum += s_l[w] * wt[w];
	}
	const float inv = 1.0f / wsum;
	for (int c = t; c < L; c += blockDim.x) {
		float v = 0.0f;
		FW_UNROLL
		for (int w = 0; w < FW_MLA_WARPS; w++)
			v += s_acc[w][c] * wt[w];
		s_lat[c] = v * inv;
	}
	__syncthreads();

	/* 5 */
	const long long rb = fw_row_bytes(wv_type, L);
	const long long row0 = legacy ? (long long)h * (Dn + Dv) + Dn : (long long)h * Dv;
	float *o = out + ((long long)i * n_head + h) * Dv;
	for (int v = warp; v < Dv; v += FW_MLA_WARPS) {
		const fw_u8 *row = (const fw_u8 *)wv + (row0 + v) * rb;
		float a = 0.0f;
		for (int c = lane; c < L; c += 32)
			a += fw_deq_elem(wv_type, row, c) * s_lat[c];
		a = fw_warp_sum(a);
		if (lane == 0)
			o[v] = a;
	}
}

/* Column-parallel, rows in order: each y element gets its terms in the CPU's order, so the sum is
 * the CPU's bits (no fused multiply-add: nvcc runs with --fmad=false). */
FW_KERNEL sl_add_rows(float *y, const float *x, const int *ids, const float *scale, long long cols, int n)
{
	const long long stride = (long long)gridDim.x * blockDim.x;
	for (long long k = (long long)blockIdx.x * blockDim.x + threadIdx.x; k < cols; k += stride)
		for (int i = 0; i < n; i++)
			y[(long long)ids[i] * cols + k] += scale[i] * x[(long long)i * cols + k];
}
