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
 * grid (ceil(n_head / SL_FW_MLA_HEADS), n), block 128: heads h0 .. h0 + 3 of query token i (position
 * pos0 + i).  Every head reads the same latent cache rows (MLA is MQA over the latent): taking 4
 * heads per block loads each row once for all four.
 *   1. rope the heads' d_rope parts of q in place (this block's own slice of q), copy them to
 *      shared memory;
 *   2. q_lat = Wk_h q_nope for each head into shared memory (split: a warp per latent row; legacy:
 *      Wk_h is d_nope rows of kv_lora, a thread per latent column, the rows summed in the CPU's order);
 *   3. the context walk of sl_attention over cache rows [0, pos0 + i]: warp w takes positions 4w..,
 *      4 at a time; lanes split the latent (16 dims each at most) and rope dims of a row and take its
 *      dot with the 4 heads' q (from shared memory), online softmax per head, o_lat in registers;
 *   4. the warps' partial o_lat merged in shared memory (over q_lat, no longer needed);
 *   5. out_h = Wv_h o_lat, a warp per output row.
 */
FW_FN void fw_rope_pair(float *v, int d, int d_rope, float pos, float freq_base, const float *ff)
{
	float theta = pos * powf(freq_base, -2.0f * (float)d / (float)d_rope);
	if (ff)
		theta /= ff[d];
	const float cs = cosf(theta), sn = sinf(theta), a = v[2 * d], b = v[2 * d + 1];
	v[2 * d] = a * cs - b * sn;
	v[2 * d + 1] = a * sn + b * cs;
}

#define FW_MLA_H SL_FW_MLA_HEADS

FW_KERNEL sl_mla_attention(float *out, float *q, const float *cache, const void *wk, const void *wv, const float *ff,
			   int wk_type, int wv_type, int n_head, int d_nope, int d_rope, int d_v, int kv_lora, int legacy,
			   int pos0, int n, float freq_base, float scale)
{
	__shared__ float s_q[FW_MLA_H][SL_FW_MLA_MAX_LORA]; /* q_lat, then o_lat */
	__shared__ float s_r[FW_MLA_H][SL_FW_MLA_MAX_ROPE]; /* roped q_pe */
	__shared__ float s_acc[FW_MLA_WARPS][FW_MLA_H][SL_FW_MLA_MAX_LORA];
	__shared__ float s_m[FW_MLA_WARPS][FW_MLA_H], s_l[FW_MLA_WARPS][FW_MLA_H];
	const int i = blockIdx.y, t = threadIdx.x, lane = t & 31, warp = t >> 5;
	const int h0 = blockIdx.x * FW_MLA_H, nh = n_head - h0 < FW_MLA_H ? n_head - h0 : FW_MLA_H;
	const int L = kv_lora, Dn = d_nope, Dr = d_rope, Dv = d_v, half = d_rope / 2;
	const int len = pos0 + i + 1;
	const long long crow = (long long)L + Dr, qrow = (long long)n_head * (Dn + Dr);
	float *qb = q + i * qrow + (long long)h0 * (Dn + Dr); /* head h0 + hh at qb + hh * (Dn + Dr) */

	/* 1 */
	for (int e = t; e < nh * half; e += blockDim.x)
		fw_rope_pair(qb + (e / half) * (Dn + Dr) + Dn, e % half, Dr, (float)(pos0 + i), freq_base, ff);
	for (int e = t; e < FW_MLA_H * L; e += blockDim.x)
		s_q[e / L][e % L] = 0.0f; /* heads past n_head stay 0 */
	__syncthreads(); /* the roped q_pe, written to global memory, is read by other threads below */
	for (int e = t; e < FW_MLA_H * Dr; e += blockDim.x)
		s_r[e / Dr][e % Dr] = e / Dr < nh ? qb[(e / Dr) * (Dn + Dr) + Dn + e % Dr] : 0.0f;

	/* 2 */
	if (!legacy) {
		const long long rb = fw_row_bytes(wk_type, Dn);
		for (int rc = warp; rc < nh * L; rc += FW_MLA_WARPS) {
			const int hh = rc / L, c = rc % L;
			const fw_u8 *row = (const fw_u8 *)wk + ((long long)(h0 + hh) * L + c) * rb;
			const float *qh = qb + hh * (Dn + Dr);
			float a = 0.0f;
			for (int d = lane; d < Dn; d += 32)
				a += fw_deq_elem(wk_type, row, d) * qh[d];
			a = fw_warp_sum(a);
			if (lane == 0)
				s_q[hh][c] = a;
		}
	} else {
		const long long rb = fw_row_bytes(wk_type, L);
		for (int e = t; e < nh * L; e += blockDim.x) {
			const int hh = e / L, c = e % L;
			const fw_u8 *base = (const fw_u8 *)wk + (long long)(h0 + hh) * (Dn + Dv) * rb;
			const float *qh = qb + hh * (Dn + Dr);
			float a = 0.0f;
			for (int d = 0; d < Dn; d++)
				a += fw_deq_elem(wk_type, base + d * rb, c) * qh[d];
			s_q[hh][c] = a;
		}
	}
	__syncthreads();

	/* 3 */
	float acc[FW_MLA_H][FW_MLA_PL], m[FW_MLA_H], l[FW_MLA_H];
	FW_UNROLL
	for (int hh = 0; hh < FW_MLA_H; hh++) {
		m[hh] = -fw_u2f(0x7f800000u);
		l[hh] = 0.0f;
		FW_UNROLL
		for (int k = 0; k < FW_MLA_PL; k++)
			acc[hh][k] = 0.0f;
	}
	for (int p0 = warp * FW_MLA_CHUNK; p0 < len; p0 += FW_MLA_CHUNK * FW_MLA_WARPS) {
		float s[FW_MLA_CHUNK][FW_MLA_H];
		FW_UNROLL
		for (int j = 0; j < FW_MLA_CHUNK; j++) {
			FW_UNROLL
			for (int hh = 0; hh < FW_MLA_H; hh++)
				s[j][hh] = 0.0f;
			if (p0 + j < len) {
				const float *cr = cache + (p0 + j) * crow;
				FW_UNROLL
				for (int k = 0; k < FW_MLA_PL; k++) {
					const int c = k * 32 + lane;
					if (c < L) {
						const float cv = cr[c];
						FW_UNROLL
						for (int hh = 0; hh < FW_MLA_H; hh++)
							s[j][hh] += s_q[hh][c] * cv;
					}
				}
				FW_UNROLL
				for (int k = 0; k < FW_MLA_PR; k++) {
					const int d = k * 32 + lane;
					if (d < Dr) {
						const float kv = cr[L + d];
						FW_UNROLL
						for (int hh = 0; hh < FW_MLA_H; hh++)
							s[j][hh] += s_r[hh][d] * kv;
					}
				}
			}
		}
		FW_UNROLL
		for (int hh = 0; hh < FW_MLA_H; hh++) {
			float mn = m[hh];
			FW_UNROLL
			for (int j = 0; j < FW_MLA_CHUNK; j++) {
				s[j][hh] = fw_warp_sum(s[j][hh]) * scale; /* warp-uniform */
				if (p0 + j < len)
					mn = fmaxf(mn, s[j][hh]);
			}
			const float corr = expf(m[hh] - mn);
			l[hh] *= corr;
			FW_UNROLL
			for (int k = 0; k < FW_MLA_PL; k++)
				acc[hh][k] *= corr;
			FW_UNROLL
			for (int j = 0; j < FW_MLA_CHUNK; j++) {
				s[j][hh] = p0 + j < len ? expf(s[j][hh] - mn) : 0.0f; /* the weight */
				l[hh] += s[j][hh];
			}
			m[hh] = mn;
		}
		FW_UNROLL
		for (int j = 0; j < FW_MLA_CHUNK; j++) {
			if (p0 + j < len) {
				const float *cr = cache + (p0 + j) * crow;
				FW_UNROLL
				for (int k = 0; k < FW_MLA_PL; k++) {
					const int c = k * 32 + lane;
					if (c < L) {
						const float cv = cr[c];
						FW_UNROLL
						for (int hh = 0; hh < FW_MLA_H; hh++)
							acc[hh][k] += s[j][hh] * cv;
					}
				}
			}
		}
	}

	/* 4: a warp that saw no position has l = 0 and weight 0 */
	FW_UNROLL
	for (int hh = 0; hh < FW_MLA_H; hh++) {
		if (lane == 0) {
			s_m[warp][hh] = m[hh];
			s_l[warp][hh] = l[hh];
		}
		FW_UNROLL
		for (int k = 0; k < FW_MLA_PL; k++) {
			const int c = k * 32 + lane;
			if (c < L)
				s_acc[warp][hh][c] = acc[hh][k];
		}
	}
	__syncthreads();
	for (int e = t; e < nh * L; e += blockDim.x) {
		const int hh = e / L, c = e % L;
		float mx = s_m[0][hh];
		for (int w = 1; w < FW_MLA_WARPS; w++)
			mx = fmaxf(mx, s_m[w][hh]);
		float v = 0.0f, wsum = 0.0f;
		for (int w = 0; w < FW_MLA_WARPS; w++) {
			const float wt = s_l[w][hh] > 0.0f ? expf(s_m[w][hh] - mx) : 0.0f;
			wsum += s_l[w][hh] * wt;
			v += s_acc[w][hh][c] * wt;
		}
		s_q[hh][c] = v / wsum;
	}
	__syncthreads();

	/* 5 */
	const long long rb = fw_row_bytes(wv_type, L);
	for (int rv = warp; rv < nh * Dv; rv += FW_MLA_WARPS) {
		const int hh = rv / Dv, v = rv % Dv;
		const long long row = legacy ? (long long)(h0 + hh) * (Dn + Dv) + Dn + v : (long long)(h0 + hh) * Dv + v;
		const fw_u8 *wr = (const fw_u8 *)wv + row * rb;
		float a = 0.0f;
		for (int c = lane; c < L; c += 32)
			a += fw_deq_elem(wv_type, wr, c) * s_q[hh][c];
		a = fw_warp_sum(a);
		if (lane == 0)
			out[((long long)i * n_head + h0 + hh) * Dv + v] = a;
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
